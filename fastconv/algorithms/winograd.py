"""Winograd minimal filtering: F(2x2,3x3) / F(4x4,3x3) in 2-D, F(2,3) / F(4,3) in 1-D.

Serves stride-1 convolutions whose kernel is 3 wide along every spatial axis
(1-D and 2-D; 3-D is not implemented), any groups, bias and zero padding (other
padding modes arrive pre-padded with a zero-padding spec).  A dilated case runs
as one undilated case over the polyphase components of its input (see
:func:`_phase_spec`).

How a call runs (one thread pool, data kept in L2):

1. the weight is transformed once per call (``G g G^T``, in float64, rounded
   to the compute dtype) into ``U (groups, F, C_out/g, C_in/g)`` with
   ``F = (m + 2)^nd`` frequencies -- or not at all when the caller passes the
   result of :func:`pack_weight` (``fastconv.prepare_weight``);
2. the output tiles (``m x m``, numbered over batch, tile row, tile column) are
   cut into blocks of ``tb`` tiles; one job = one block x one group x one
   block of ``cob`` output channels.  A job transforms its input patches
   (``B^T d B``) into a small buffer ``V[f, ci, t]``, runs the ``F``
   per-frequency GEMMs ``M[f] = U[f] @ V[f]`` with single-threaded BLAS and
   transforms ``M`` back (``A^T M A``) straight into the output, bias added.
   Jobs run on the kernel's thread pool (OpenMP / Numba ``prange``) with BLAS
   limited to one thread.

Blocking depends on the case (and the machine's core count), never on the
thread setting, and every output element is produced by one job in a fixed
order, so results are bit-identical for any thread count.

Tile size: ``m = 4`` (F(4x4,3x3): 36 products per 16 outputs, 4x fewer
multiplies than direct) is the fast choice; ``m = 2`` (F(2x2,3x3): 16 per 4,
2.25x fewer) is 10-20x more accurate in float32.  :func:`tile` forces one
of them, :data:`MAX_REL_ERROR` states the measured accuracy of each.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import threading

import numpy as np

from .. import _config, kernels
from .._alloc import thread_rows
from ..threads import blas_threads, cpu_count

__all__ = ["supports", "options", "estimate", "forward", "pack_weight", "tile", "for_prepared",
           "MAX_REL_ERROR", "Packed"]

TILES = (2, 4)

#: options/estimate take the plan's backend (the fused-weight mode is Cython's)
BACKEND_MODES = True

#: Documented float32 error bound, relative to max|exact result|, per tile:
#: ~2.5x the largest error measured on the ResNet 3x3 layers (N=8; 64ch 56x56
#: ... 512ch 7x7, unit-normal input, weights scaled 1/sqrt(9 C_in)) against a
#: float64 reference: F(2x2,3x3) <= 8.1e-7, F(4x4,3x3) <= 1.15e-5 (direct
#: summation: <= 2.8e-6).  The dispatcher compares it with its tolerance.
MAX_REL_ERROR = {2: 2e-6, 4: 3e-5}

# ---------------------------------------------------------------------------
# cost model, fitted on this machine class (AVX-512, 2 cores, OpenBLAS
# SkylakeX sgemm ~150 GFLOP/s per core) from single-thread CPU times of each
# stage (README, "Winograd"): seconds per item on one thread.
# ---------------------------------------------------------------------------
#: input transform, per (tile, input channel), by (nd, m); grows ~(1 + Cin/800)
_T_IN = {(2, 4): 32e-9, (2, 2): 12e-9, (1, 4): 5.3e-9, (1, 2): 4e-9}
#: float32 2-D input transform (AVX-512, 16 tiles per step: ``wg_input_f``), flat
#: in Cin (64-512 ch, 14x14-112x112, one thread); the phased mode writes its V
#: to a shared buffer out of L2, ~2.5x slower (512ch 7x7 F(2x2): 9.8 ns)
_T_IN_F32 = {4: 10e-9, 2: 3.7e-9}
_PHASED_IN = 2.5
#: output transform, per (tile, output channel)
_T_OUT = {(2, 4): 10e-9, (2, 2): 3.5e-9, (1, 4): 5e-9, (1, 2): 2.7e-9}
#: per-frequency GEMM rate (flop/s, one thread) for long tile blocks
_GEMM_RATE = 145e9
#: weight transform per (C_out x C_in/g pair, frequency), by dtype: float32 runs
#: 16 pairs per AVX-512 step, bound by the 36 (F4) or 16 (F2) output streams
#: (256ch F(4x4) 0.52 ms and 512ch F(2x2) 0.95 ms at 2 threads, against 1.1 and
#: 1.7-2.0 ms for the double loop, which float64 still runs)
_T_W = {4: 0.4e-9, 8: 1.3e-9}
#: per-call overhead (buffers, and ~80 us for threadpoolctl's BLAS limit)
_T_CALL = 100e-6
#: output write bandwidth of one core (bytes/s)
_WRITE_BW = 3e9

#: per-thread scratch budget of a block's V buffer (bytes): V + M stay in L2
_V_BYTES = 1 << 20

#: fused-weight F(4x4,3x3) mode (Cython, float32, AVX-512: ``wg_fused_job``):
#: output channels per job, input channels per weight-transform block, and its
#: one-thread costs measured on 512ch 7x7 N=8: weight transform per (C_out x
#: C_in) pair (all 36 frequencies, into L2), product rate of the register-
#: blocked kernel (flops counted over tiles rounded up to 16)
_FUSED_COB = 64
_FUSED_CIB = 64
_FUSED_T_W = 4.9e-9
_FUSED_RATE = 150e9
#: at most this many tiles (a job's 36 x 64 x tiles products stay in L2)
_FUSED_MAX_TILES = 512

_local = threading.local()


@contextlib.contextmanager
def tile(m: int):
    """Force the Winograd tile size ``m`` (2 or 4) for plans made in this block.

    ``F(4x4,3x3)`` (``m=4``) is faster; ``F(2x2,3x3)`` (``m=2``) is about ten
    times more accurate in float32 (see :data:`MAX_REL_ERROR`).  Without this,
    the plan picks the tile by estimated time.  The setting is per Python
    thread; the environment variable ``FASTCONV_WINOGRAD_TILE`` sets a
    process-wide default.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> from fastconv.algorithms import winograd
    >>> x = np.ones((1, 2, 8, 8), np.float32); w = np.ones((3, 2, 3, 3), np.float32)
    >>> with winograd.tile(2):
    ...     y = fc.conv2d(x, w, padding=1, algorithm="winograd")
    >>> float(y[0, 0, 3, 3])
    18.0
    """
    if m not in TILES:
        raise ValueError(f"winograd tile must be one of {TILES}, got {m!r}")
    prev = getattr(_local, "m", None)
    _local.m = m
    try:
        yield m
    finally:
        _local.m = prev


@contextlib.contextmanager
def for_prepared():
    """Plans made in this block serve a weight transformed once
    (``fastconv.prepare_weight``): the per-call weight transform is left out of
    the estimates, so the tile (and, through the estimate, the algorithm) is the
    fastest for the calls that follow.  512ch 7x7 N=8: F(2x2) per call (its ``U``
    is 2.25x smaller to write each time), F(4x4) prepared (2 threads: 4.4 ms
    against 5.6 ms for a prepared F(2x2))."""
    prev = getattr(_local, "prepared", False)
    _local.prepared = True
    try:
        yield
    finally:
        _local.prepared = prev


def _prepared() -> bool:
    return getattr(_local, "prepared", False)


def plan_state():
    """Planning state outside the spec (the forced tile, planning for a prepared
    weight): part of the planner's memo key, so ``with tile(2):`` is never served
    a plan cached for F(4)."""
    return (_forced_tile(), _prepared())


def _forced_tile() -> int | None:
    m = getattr(_local, "m", None)
    if m is None:
        env = os.environ.get("FASTCONV_WINOGRAD_TILE")
        if env:
            m = int(env)
            if m not in TILES:
                raise ValueError(
                    f"FASTCONV_WINOGRAD_TILE must be one of {TILES}, got {env!r}"
                )
    return m


def supports(spec) -> str | None:
    """None when Winograd can serve ``spec``, else the reason it cannot.

    Examples
    --------
    >>> from fastconv._spec import conv_spec
    >>> from fastconv.algorithms import winograd
    >>> winograd.supports(conv_spec(2, (1, 4, 8, 8), (4, 4, 3, 3), stride=2))
    'winograd needs stride 1, got stride (2, 2)'
    """
    if spec.nd == 3:
        return "winograd serves 1-D and 2-D convolutions only (3-D is not implemented)"
    if any(k != 3 for k in spec.kernel):
        return f"winograd needs a kernel of size 3 along every axis, got kernel {spec.kernel}"
    if not spec.unit_stride():
        return f"winograd needs stride 1, got stride {spec.stride}"
    return None


# ---------------------------------------------------------------------------
# dilation: one undilated problem over the polyphase components
# ---------------------------------------------------------------------------
#: Bytes/s per thread of the phase split and merge copies (strided gathers).
_PHASE_BW = 6e9


def _phase_spec(spec):
    """A stride-1 convolution with dilation ``d`` is ``prod(d)`` undilated ones,
    one per phase of the output grid: output ``d*i + a`` reads only the padded
    input's rows ``d*. + a``.  The phases of the zero-padded input are stacked
    phase-major along the batch (``kernels/*/phase``: ``split``), convolved as one
    valid, undilated case, and interleaved back (``merge``).  Returns that case's
    spec, or ``spec`` itself when it is undilated."""
    if spec.unit_dilation():
        return spec
    from dataclasses import replace

    d = spec.dilation
    grid = tuple(-(-L // di) for L, di in zip(spec.padded_size, d, strict=True))
    return replace(spec, batch=spec.batch * math.prod(d), in_size=grid,
                   dilation=(1,) * spec.nd, pad=((0, 0),) * spec.nd,
                   out_size=tuple(g - 2 for g in grid), padding_mode="zeros")


def _phase_seconds(spec, sub, threads: int) -> float:
    item = spec.dtype.itemsize
    nbytes = item * (2 * sub.batch * sub.in_channels * math.prod(sub.in_size)
                     + sub.batch * sub.out_channels * math.prod(sub.out_size)
                     + spec.batch * spec.out_channels * math.prod(spec.out_size))
    return nbytes / (_PHASE_BW * max(1, threads))


def _forward_dilated(spec, plan, x, w, b, out, packed) -> None:
    from dataclasses import replace

    nd = spec.nd
    sub = _phase_spec(spec)
    dh, dw = (spec.dilation[0], spec.dilation[1]) if nd == 2 else (1, spec.dilation[0])
    pad = spec.pad_before
    ph, pw = (pad[0], pad[1]) if nd == 2 else (0, pad[0])
    P = dh * dw
    hg, wg = (sub.in_size[0], sub.in_size[1]) if nd == 2 else (1, sub.in_size[0])
    xs = np.empty((P, spec.batch, spec.in_channels, hg, wg), spec.dtype)
    kernels.get(plan.backend, "phase", "split")(_as4(x, nd), xs, dh, dw, ph, pw, plan.threads)
    res = np.empty((sub.batch, sub.out_channels) + sub.out_size, spec.dtype)
    forward(sub, replace(plan, spec=sub), xs.reshape((sub.batch, sub.in_channels)
                                                      + sub.in_size), w, b, res, packed)
    res5 = _as4(res, nd).reshape((P, spec.batch, spec.out_channels, hg - 2 if nd == 2 else 1,
                                  wg - 2))
    kernels.get(plan.backend, "phase", "merge")(res5, _as4(out, nd), dh, dw, plan.threads)


# ---------------------------------------------------------------------------
# blocking and the cost model
# ---------------------------------------------------------------------------
def _geometry(spec, m: int):
    nd = spec.nd
    F = (m + 2) ** nd
    ntiles = spec.batch * math.prod(-(-o // m) for o in spec.out_size)
    return F, ntiles


def _phased(spec, m: int) -> bool:
    """Few tiles, wide channels, F(2x2): run the phased mode (transforms of every
    tile, then one GEMM per (group, frequency) over all tiles -- longer GEMMs,
    each weight panel packed once) when its shared V + M fit the workspace limit.

    Measured at 2 threads (wall clock, float32): F2 phased wins or ties (512ch 7x7
    N=4 3.0 vs 3.1 ms prepared, 256ch 14x14 N=4 3.0 vs 3.3 ms, 512ch 7x7 N=8 7.1
    vs 7.2); F4 phased loses (256ch 14x14 N=8 4.7 vs 4.4-4.5 ms, prepared 4.0 vs
    3.5; 128ch 28x28 N=2 1.4 vs 1.1): with 36 frequencies the blocks already
    balance and writing the shared V costs more than the longer GEMMs save."""
    F, NT = _geometry(spec, m)
    cig, cog = spec.in_per_group, spec.out_per_group
    shared = spec.groups * F * (cig + cog) * NT * spec.dtype.itemsize
    return (m == 2 and cig >= 128 and cog >= 128 and 64 <= NT <= 256
            and shared <= _config.WORKSPACE_LIMIT)


def _blocking(spec, m: int) -> tuple[int, int]:
    """(tiles per block, output channels per block): a function of the case
    (and the machine's core count), never of the thread setting, so results
    do not depend on threads."""
    F, NT = _geometry(spec, m)
    cig, cog = spec.in_per_group, spec.out_per_group
    item = spec.dtype.itemsize
    if _phased(spec, m):  # blocks only split the transforms over the cores
        return int(max(16, -(-NT // (2 * cpu_count())))), int(cog)
    # V of a block ~ _V_BYTES, but at least 64 tiles: the weight panel each
    # per-frequency GEMM packs must be amortised (wide layers: 64 tiles run
    # 15-20% faster than 32, measured)
    tb = _V_BYTES // (F * max(cig, 1) * item)
    tb = int(min(max(tb, 64), 128, max(NT, 1)))
    # bounded scratch: V + M of every core's block within the workspace limit
    cap = _config.WORKSPACE_LIMIT // (cpu_count() * F * (cig + cog) * item)
    tb = int(max(1, min(tb, max(cap, 8))))
    nblk = max(1, -(-NT // tb))
    # a multiple of the machine's cores (not of the thread setting: results
    # must not depend on it), so the last round of jobs keeps every core busy
    ncpu = cpu_count()
    if NT >= 16 * ncpu and (nblk > 1 or cog < 128):
        nblk = -(-nblk // ncpu) * ncpu
    tb = max(1, -(-NT // nblk))  # even blocks
    cob = cog
    jobs = nblk * spec.groups
    if jobs < 2 and cog >= 128:  # one tile block: split the output channels in two
        ncob = 2
        cob = -(-cog // ncob)
        cob = -(-cob // 16) * 16
    return int(tb), int(min(cob, cog))


def _stage_times(spec, m: int, threads: int, packed: bool = False) -> dict:
    """Estimated seconds per stage (input transform, GEMM, output transform,
    weight transform, call overhead) at ``threads`` threads."""
    F, NT = _geometry(spec, m)
    tb, cob = _blocking(spec, m)
    G, cig, cog = spec.groups, spec.in_per_group, spec.out_per_group
    ncob = -(-cog // cob)
    nblk = max(1, -(-NT // tb))
    jobs = nblk * G * ncob
    phased = _phased(spec, m)

    def rounds(n):  # jobs run in rounds of ``threads``; ~5% lost to synchronisation
        return (-(-n // threads) / n) / (0.95 if threads > 1 else 1.0)

    share = rounds(jobs)
    share_gemm = rounds(G * F) if phased else share
    gt = NT if phased else tb  # tiles per GEMM
    # thin GEMMs (few tiles per block) and split output channels pack more
    # than they multiply
    # (wide layers: the weight panels stream from L3)
    rate = (_GEMM_RATE * gt / (gt + 8) * (0.75 if ncob > 1 else 1.0)
            * (1 - 0.15 * min(1.0, cig / 256))
            * (min(1.0, cig / 32) * min(1.0, cob / 32)) ** 0.5)  # narrow GEMMs
    if spec.dtype.itemsize == 8:  # float64: half the SIMD lanes (measured ~2x)
        rate /= 2
    wide = 1.6 if spec.dtype.itemsize == 8 else 1.0
    if spec.nd == 2 and spec.dtype.itemsize == 4:
        t_in = NT * cig * G * ncob * _T_IN_F32[m] * (_PHASED_IN if phased else 1.0)
    else:
        t_in = NT * cig * G * ncob * _T_IN[(spec.nd, m)] * (1 + cig / 800) * wide
    t_gemm = 2.0 * F * NT * cig * cog * G / rate
    t_out = NT * cog * G * _T_OUT[(spec.nd, m)] * wide
    # large outputs: bound by the memory write bandwidth of one core
    t_out = max(t_out, spec.batch * spec.out_channels * math.prod(spec.out_size)
                * spec.dtype.itemsize / _WRITE_BW)
    t_pair = _T_W.get(spec.dtype.itemsize, _T_W[8])
    t_w = 0.0 if packed else spec.out_channels * cig * F * t_pair / min(threads,
                                                                        spec.out_channels)
    return {"input": t_in * share, "gemm": t_gemm * share_gemm, "output": t_out * share,
            "weight": t_w, "call": _T_CALL}


@functools.cache
def _fused_kernel():
    """The Cython module when this build has the fused-weight mode, else None."""
    if kernels.available("cython") and kernels.get("cython", "winograd", "fused_available")():
        return importlib.import_module("fastconv.kernels.cython.winograd")
    return None


def _fused_applies(spec, backend) -> bool:
    """The fused-weight mode can run ``spec`` (undilated): 2-D, one group, >= 32
    channels in and out, float32, the Cython backend with AVX-512, few enough
    tiles, 32-bit gather and scatter offsets, and its scratch (the shared V, each
    core's weight panel and products) within the workspace limit."""
    if backend not in (None, "auto", "cython") or _forced_tile() == 2:
        return False
    if (spec.nd != 2 or spec.groups != 1 or spec.dtype != np.float32
            or min(spec.in_channels, spec.out_channels) < 32):
        return False
    _, NT = _geometry(spec, 4)
    if not 0 < NT <= _FUSED_MAX_TILES or _fused_kernel() is None:
        return False
    # 32-bit gather/scatter offsets: the input as the kernel gets it (other padding
    # modes arrive padded), the output, one weight gather (16 output channels)
    big = max(spec.batch * spec.in_channels * math.prod(spec.padded_size),
              spec.batch * spec.out_channels * math.prod(spec.out_size),
              16 * 9 * spec.in_channels)
    # scratch: the shared V, and per core one job's weight panel and products
    vi, wi = _fused_kernel().fused_items(spec.in_channels, NT, _FUSED_COB, _FUSED_CIB)
    return big < 2**31 - 2**20 and 4 * (vi + cpu_count() * wi) <= _config.WORKSPACE_LIMIT


def _fused_times(spec, threads: int) -> dict:
    """Estimated seconds per stage of the fused-weight mode at ``threads``."""
    _, NT = _geometry(spec, 4)
    C, Co = spec.in_channels, spec.out_channels
    t16 = -(-NT // 16) * 16
    jobs = -(-Co // _FUSED_COB)
    lanes = jobs * (-(-min(Co, _FUSED_COB) // 16) * 16)  # output channels incl. padding
    share = (-(-jobs // threads) / jobs) / (0.95 if threads > 1 else 1.0)
    chunks = -(-C // 64)
    return {"input": NT * C * _T_IN_F32[4] * (-(-chunks // threads) / chunks),
            "weight": Co * C * _FUSED_T_W * share,
            "gemm": 2.0 * 36 * t16 * C * lanes / _FUSED_RATE * share,
            "output": NT * Co * _T_OUT[(2, 4)] * share, "call": _T_CALL}


def _mode(spec, threads: int, backend=None) -> tuple[int, bool]:
    """(tile, fused) for the undilated ``spec``: the regular mode's best tile, or
    the fused-weight mode when it applies and is estimated faster at the
    machine's core count (a prepared weight makes the regular mode's weight
    transform free; the fused mode transforms into L2 on every call either way)."""
    m = _pick_tile(spec, threads)
    if m == 4 or _forced_tile() is None:
        if _fused_applies(spec, backend):
            # compared at the machine's core count, never the thread setting: the
            # two modes round differently, and results must not depend on threads
            n = cpu_count()
            regular = min(sum(_stage_times(spec, t, n, _prepared()).values())
                          for t in ((m,) if _forced_tile() else TILES))
            if sum(_fused_times(spec, n).values()) < regular:
                return 4, True
    return m, False


def _pick_tile(spec, threads: int) -> int:
    forced = _forced_tile()
    if forced is not None:
        return forced
    packed = _prepared()
    return min(TILES, key=lambda m: sum(_stage_times(spec, m, threads, packed).values()))


def options(spec, threads: int, backend=None) -> dict:
    """The plan's parameters: ``tile`` (2 or 4), ``tb`` (tiles per block),
    ``cob`` (output channels per block), ``phased`` and ``fused`` (the modes);
    blocking never depends on ``threads``.  ``backend``: the plan's (the fused
    mode is Cython's).

    Examples
    --------
    >>> from fastconv._spec import conv_spec
    >>> from fastconv.algorithms import winograd
    >>> spec = conv_spec(2, (8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    >>> with winograd.tile(4):
    ...     winograd.options(spec, 2)["tile"]
    4
    """
    spec = _phase_spec(spec)
    m, fused = _mode(spec, threads, backend)
    tb, cob = _blocking(spec, m)
    return {"tile": m, "tb": tb, "cob": cob, "phased": _phased(spec, m) and not fused,
            "fused": fused}


def _work_items(spec, m: int, tb: int, cob: int) -> int:
    F = (m + 2) ** spec.nd
    ld = lambda n: 16 * (-(-n // 16) + 1 - (-(-n // 16)) % 2)  # noqa: E731 (kernel's _ld)
    L = ld(tb)
    return 2 * F * L + F * ld(spec.in_per_group * L) + F * ld(cob * L)


def estimate(spec, threads: int, backend=None) -> tuple[float, int]:
    """(estimated seconds, scratch bytes) at ``threads`` threads, from the
    per-stage costs measured on this machine class (README, "Winograd").

    Examples
    --------
    >>> from fastconv._spec import conv_spec
    >>> from fastconv.algorithms import winograd
    >>> secs, ws = winograd.estimate(conv_spec(2, (8, 64, 56, 56), (64, 64, 3, 3), padding=1), 2)
    >>> 1e-3 < secs < 1e-1 and ws > 0
    True
    """
    sub = _phase_spec(spec)
    if sub is not spec:
        secs, ws = estimate(sub, threads, backend)
        item = spec.dtype.itemsize
        ws += item * (sub.batch * sub.in_channels * math.prod(sub.in_size)
                      + sub.batch * sub.out_channels * math.prod(sub.out_size))
        return secs + _phase_seconds(spec, sub, threads), ws
    m, fused = _mode(spec, threads, backend)
    if fused:
        C, NT = spec.in_channels, _geometry(spec, 4)[1]
        vi, wi = _fused_kernel().fused_items(C, NT, _FUSED_COB, _FUSED_CIB)
        return (float(sum(_fused_times(spec, threads).values())),
                int(4 * (vi + threads * wi)))
    tb, cob = _blocking(spec, m)
    F = (m + 2) ** spec.nd
    item = spec.dtype.itemsize
    ws = threads * (_work_items(spec, m, tb, cob) * item + 12 * tb * 8)
    ws += F * spec.out_channels * spec.in_per_group * item  # U
    if _phased(spec, m):
        ws += spec.groups * F * (spec.in_per_group + spec.out_per_group) * _geometry(
            spec, m)[1] * item
    return float(sum(_stage_times(spec, m, threads, _prepared()).values())), int(ws)


# ---------------------------------------------------------------------------
# weight transform (packing) and the forward pass
# ---------------------------------------------------------------------------
class Packed:
    """A weight transformed to the Winograd domain for one tile size."""

    __slots__ = ("U", "tile", "shape", "dtype")

    def __init__(self, U, tile, shape, dtype):
        self.U, self.tile, self.shape, self.dtype = U, tile, shape, dtype

    def __repr__(self) -> str:
        return f"winograd.Packed(tile={self.tile}, shape={self.shape}, dtype={self.dtype})"


def _as4(a: np.ndarray, nd: int) -> np.ndarray:
    """(A, B, *spatial[nd]) -> (A, B, H, W) with H = 1 in 1-D."""
    return a if nd == 2 else a.reshape(a.shape[:2] + (1,) + a.shape[2:])


#: Largest scratch buffer (transformed weight; phased V + M) kept between
#: calls, per Python thread and buffer.
_KEEP_BYTES = 64 << 20


def _scratch(name: str, shape, dtype) -> np.ndarray:
    """Per-thread reusable buffer ``name`` (the per-call weight transform, the
    phased mode's shared V + M): a fresh 37 MB array (512x512 F(4x4) weights)
    costs ~5 ms of page faults on every call."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > _KEEP_BYTES:
        return np.empty(shape, dtype)
    buf = getattr(_local, name, None)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(nbytes, np.uint8)
        setattr(_local, name, buf)
    return buf[:nbytes].view(dtype).reshape(shape)


def _transform_weight(spec, plan, w, keep: bool = False) -> np.ndarray:
    m = plan.options["tile"]
    F = (m + 2) ** spec.nd
    shape = (spec.groups, F, spec.out_per_group, spec.in_per_group)
    U = np.empty(shape, spec.dtype) if keep else _scratch("ubuf", shape, spec.dtype)
    kern = kernels.get(plan.backend, "winograd", "transform_weight")
    kern(_as4(w, spec.nd), U, m, spec.nd, spec.groups, plan.threads)
    return U


def pack_weight(spec, plan, w) -> Packed:
    """Transform ``w`` once (``G g G^T`` per channel pair) for :func:`forward`
    (what ``fastconv.prepare_weight`` stores for a Winograd plan).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> from fastconv.algorithms import winograd
    >>> w = np.ones((8, 4, 3, 3), np.float32)
    >>> plan = fc.plan_conv((1, 4, 16, 16), w.shape, padding=1, algorithm="winograd")
    >>> winograd.pack_weight(plan.spec, plan, w).U.shape[:2]
    (1, 36)
    """
    if _runs_fused(plan):
        return None  # the fused mode transforms into L2 on every call: nothing to keep
    w = np.ascontiguousarray(w, dtype=spec.dtype)
    return Packed(_transform_weight(spec, plan, w, keep=True), plan.options["tile"], w.shape,
                  spec.dtype)


def forward(spec, plan, x, w, b, out, packed=None, *, _stages: int = 7) -> None:
    """Write the convolution of C-contiguous compute-dtype ``x`` into ``out``
    (the algorithm interface; ``fastconv.conv*d`` calls it).  ``packed``: the
    result of :func:`pack_weight` for ``w`` (used when its tile matches).
    ``_stages`` (bits: 1 input transform, 2 GEMMs, 4 output transform) is for
    timing the stages separately and leaves ``out`` incomplete unless 7.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> from fastconv.algorithms import winograd
    >>> x = np.ones((1, 2, 6, 6), np.float32); w = np.ones((3, 2, 3, 3), np.float32)
    >>> plan = fc.plan_conv(x.shape, w.shape, padding=1, algorithm="winograd")
    >>> out = np.empty((1, 3, 6, 6), np.float32)
    >>> winograd.forward(plan.spec, plan, x, w, np.zeros(1, np.float32), out)
    >>> float(out[0, 0, 2, 2]), float(out[0, 0, 0, 0])
    (18.0, 8.0)
    """
    if not spec.unit_dilation():
        _forward_dilated(spec, plan, x, w, b, out, packed)
        return
    nd = spec.nd
    m, tb, cob = plan.options["tile"], plan.options["tb"], plan.options["cob"]
    if _runs_fused(plan):
        _forward_fused(spec, plan, x, w, b, out)
        return
    if (
        isinstance(packed, Packed) and packed.tile == m and packed.dtype == spec.dtype
        and packed.shape == tuple(spec.w_shape)
    ):
        U = packed.U
    else:
        U = _transform_weight(spec, plan, w)
    pad = spec.pad_before
    ph, pw = (pad[0], pad[1]) if nd == 2 else (0, pad[0])
    n = plan.threads
    work = thread_rows(n, _work_items(spec, m, tb, cob), spec.dtype)
    iwork = thread_rows(n, 12 * tb, np.int64)
    shared = None
    if plan.options.get("phased"):
        NT = _geometry(spec, m)[1]
        items = kernels.get(plan.backend, "winograd", "shared_items")(
            m, nd, spec.groups, spec.in_per_group, spec.out_per_group, NT)
        shared = _scratch("sbuf", (items,), spec.dtype)
    kern = kernels.get(plan.backend, "winograd", "winograd_forward")
    with blas_threads(1):
        kern(_as4(x, nd), U, b, spec.has_bias, _as4(out, nd), ph, pw, m, nd,
             spec.groups, tb, cob, work, iwork, n, _stages, shared)


def _runs_fused(plan) -> bool:
    """The plan runs the fused-weight mode (a Numba plan never does)."""
    return bool(plan.options.get("fused")) and plan.backend == "cython"


def _forward_fused(spec, plan, x, w, b, out) -> None:
    """The fused-weight F(4x4,3x3) mode (``options["fused"]``, Cython)."""
    kern = _fused_kernel()
    n = plan.threads
    _, NT = _geometry(spec, 4)
    vi, wi = kern.fused_items(spec.in_channels, NT, _FUSED_COB, _FUSED_CIB)
    vbuf = _scratch("vbuf", (vi,), np.float32)
    work = thread_rows(n, wi, np.float32)
    pad = spec.pad_before
    kern.winograd_fused(x, np.ascontiguousarray(w, dtype=np.float32), b, spec.has_bias, out,
                        pad[0], pad[1], _FUSED_COB, _FUSED_CIB, vbuf, work, n)


def error_bound(spec) -> float:
    """Documented relative error bound (vs max|exact result|) of the plan's tile.

    Float32: :data:`MAX_REL_ERROR` of the tile ``options`` picks, F(4x4) whenever
    the fused-weight mode would run (measured
    flat over 64-512 input channels; a factor ``sqrt(C_in/g / 512)`` covers
    wider layers).
    Float64: the same bound scaled by the unit roundoff ratio (2^-29).

    Examples
    --------
    >>> from fastconv._spec import conv_spec
    >>> from fastconv.algorithms import winograd
    >>> spec = conv_spec(2, (1, 64, 20, 20), (64, 64, 3, 3), padding=1)
    >>> with winograd.tile(2):
    ...     winograd.error_bound(spec)
    2e-06
    """
    from ..threads import get_num_threads

    spec = _phase_spec(spec)
    # the tile that runs: F(4x4) whenever the fused mode would (for any backend, so
    # a Numba plan gets an upper bound)
    m, _ = _mode(spec, get_num_threads())
    bound = MAX_REL_ERROR[m] * max(1.0, (spec.in_per_group / 512) ** 0.5)
    if spec.dtype.itemsize == 8:
        bound *= 2.0 ** -29
    return bound
