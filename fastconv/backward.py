"""Backward passes and transposed convolution (explicit functions, no autograd).

* ``conv{1,2,3}d_backward(grad_output, x, weight, ...)`` -> ``ConvGrads(input, weight, bias)``
* ``conv_transpose{1,2,3}d(x, weight, ...)`` (PyTorch semantics) and its backward.

How a pass runs (``plan_backward`` chooses, ``algorithm="auto"`` follows it):

input gradient (``pass_="input_grad"``; also the transposed convolution's forward)
    ``direct``  gather kernel: each input-gradient row sums its own contributions
                (stride 1: or the forward direct kernels, see below, when cheaper).
    ``im2col``  GEMM to columns + col2im in gather form (small planes), or
                output-gradient taps gathered into column panels x GEMM.
    ``winograd``/``fft`` (any forward algorithm that serves the case), unit stride
    only: the input gradient *is* a forward convolution of the zero-padded output
    gradient with the flipped, channel-swapped kernel, run by that algorithm.
weight gradient (``pass_="weight_grad"``; a correlation of x with grad_output)
    ``direct``  one dot-product chain per weight element.
    ``im2col``  im2col panels of x times grad_output (BLAS), per-chunk partial
    sums reduced in a fixed order (bit-identical for any thread count).
    ``winograd`` 3-wide kernels, stride 1, dilation 1 (1-D/2-D): the adjoint of
    F(m, 3), ``G^T [sum_tiles (A go A^T) * (B^T x B)] G`` -- one GEMM over
    tiles per frequency (``kernels/<backend>/wgrad``), F(4x4,3x3) 4x fewer
    multiplies than im2col, F(2x2,3x3) 2.25x and more accurate.

Every plan states its error bound; a ``tolerance=`` the bound exceeds rules the
algorithm (or the Winograd tile) out.

Padding modes other than zeros: the gradient w.r.t. the padded input is folded
back onto the input by :func:`pad_adjoint` (the exact adjoint of ``np.pad``).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from . import _config, algorithms, kernels
from ._spec import (
    ALGORITHMS,
    NP_PAD_MODE,
    ConvSpec,
    as_array,
    check_choice,
    conv_spec,
    int_tuple,
    pad3,
    to_3d,
    to_compute,
)
from .plan import (
    DEFAULT_TOLERANCE,
    Plan,
    _error_bound,
    _record,
    _resolve_backend,
    make_plan,
)
from .plan import _estimate as _plan_estimate
from .threads import blas_threads, cpu_count, get_num_threads

__all__ = [
    "ConvGrads", "conv1d_backward", "conv2d_backward", "conv3d_backward",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
    "plan_backward", "pad_adjoint", "last_backward_plans",
]

NEEDS = ("input", "weight", "bias")
#: Sustained rates of the cost model (flop/s per thread).
_DIRECT_RATE = 8e9
_GEMM_RATE = {4: 85e9, 8: 42e9}
_PACK_BYTES_PER_S = 15e9
#: GEMM blocking: target positions per block, max column panel (bytes per thread).
_PB_TARGET = 512
_PANEL_MAX = 4 << 20
#: Fixed number of partial-sum chunks of the GEMM weight gradient (never the
#: thread count: it fixes each element's summation order).
_WG_CHUNKS = 16


class ConvGrads(NamedTuple):
    """Gradients of a convolution w.r.t. its input, weight and bias (None if not asked)."""

    input: np.ndarray | None
    weight: np.ndarray | None
    bias: np.ndarray | None


_last = threading.local()


def last_backward_plans() -> dict:
    """``{pass_: Plan}`` of the passes run by this Python thread's last backward call."""
    return dict(getattr(_last, "plans", {}))


# --------------------------------------------------------------------------
# pad adjoint
# --------------------------------------------------------------------------
def pad_adjoint(g: np.ndarray, pad, mode: str = "zeros") -> np.ndarray:
    """Adjoint of ``np.pad`` on the spatial axes (2, 3, ...) of ``g``.

    ``g`` has the padded shape ``(N, C, *padded)``; the result, of the unpadded
    shape, satisfies ``<np.pad(x, pad, mode), g> == <x, pad_adjoint(g, pad, mode)>``:
    every padded position's value is added onto the input position ``np.pad``
    copied it from (in a fixed order).

    Parameters
    ----------
    g : ndarray, shape (N, C, *padded)
    pad : sequence of (before, after) pairs, one per spatial axis
    mode : {"zeros", "reflect", "replicate", "circular", "symmetric"}

    Returns
    -------
    ndarray, shape (N, C, *unpadded)

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.backward import pad_adjoint
    >>> pad_adjoint(np.ones((1, 1, 6)), [(2, 1)], "replicate")
    array([[[3., 1., 2.]]])
    """
    out = g
    for ax, (a, b) in enumerate(pad):
        if a == 0 and b == 0:
            continue
        axis = 2 + ax
        Lp = out.shape[axis]
        L = Lp - a - b
        sl = [slice(None)] * out.ndim
        sl[axis] = slice(a, a + L)
        res = out[tuple(sl)].copy()
        if mode != "zeros":
            src = np.pad(np.arange(L), (a, b), mode=NP_PAD_MODE[mode])
            for j in list(range(a)) + list(range(a + L, Lp)):
                d = [slice(None)] * out.ndim
                s = [slice(None)] * out.ndim
                d[axis] = slice(src[j], src[j] + 1)
                s[axis] = slice(j, j + 1)
                res[tuple(d)] += out[tuple(s)]
        out = res
    return out


# --------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------
def _run_spec(spec: ConvSpec) -> ConvSpec:
    """The spec the kernels see: non-zero padding modes are materialised first."""
    return spec if spec.zero_padded() else spec.after_explicit_padding()


def _equivalent_forward(spec: ConvSpec):
    """Stride-1 input gradient as a forward convolution, or (None, reason).

    ``gx = conv(go, w_t, padding=((d(k-1) - a, L - O + a), ...), dilation=d,
    groups=G)`` with ``w_t`` the flipped kernel with in/out channels swapped
    per group, shape ``(C_in, C_out // G, *k)``.
    """
    if not spec.unit_stride():
        return None, "the input gradient is a forward convolution only for stride 1"
    pads = []
    for L, O, k, d, (a, _b) in zip(spec.in_size, spec.out_size, spec.kernel,
                                   spec.dilation, spec.pad, strict=True):
        left, right = d * (k - 1) - a, L - O + a
        if left < 0 or right < 0:
            return None, "padding larger than the dilated kernel (the equivalent forward " \
                         "convolution would need negative padding)"
        pads.append((left, right))
    eq = conv_spec(
        spec.nd, (spec.batch, spec.out_channels) + spec.out_size,
        (spec.in_channels, spec.out_per_group) + spec.kernel, None, 1, tuple(pads),
        spec.dilation, spec.groups, "zeros", spec.dtype, spec.dtype,
    )
    return replace(eq, out_size=spec.in_size), None


def _gemm_eff(m, n, k):
    """Fraction of peak a single-thread BLAS GEMM of this shape reaches (rough)."""
    small = min(m, n)
    return max(0.05, min(1.0, small / 64) ** 0.6 * min(1.0, k / 128) ** 0.5)


def _blocking(row_len: int, col_rows: int, nrows: int, item: int, split: int,
              min_jobs: int = 8):
    """(rows per block, channel block) of a GEMM pass: blocks of whole rows with
    about ``_PB_TARGET`` positions, a column panel of at most ``_PANEL_MAX`` bytes,
    and enough jobs for the threads.  Never a function of the thread count."""
    rb = max(1, -(-_PB_TARGET // max(row_len, 1)))
    rb = min(rb, max(1, _PANEL_MAX // max(col_rows * row_len * item, 1)), max(nrows, 1))
    cb = split if split <= 96 else 64
    ncb = -(-split // cb)
    while ncb * -(-nrows // rb) < min_jobs and rb > 1:
        rb = -(-rb // 2)
    return int(rb), int(cb)


def _is_pointwise(rs: ConvSpec) -> bool:
    return rs.groups == 1 and rs.pointwise


def _col2im_option(spec: ConvSpec, rs: ConvSpec, threads: int):
    """(seconds, workspace, options) of the GEMM + col2im input gradient, or None
    when one sample's columns would not fit the panel budget."""
    item = spec.dtype.itemsize
    K, cog, cig, G = spec.taps, spec.out_per_group, spec.in_per_group, spec.groups
    P = math.prod(spec.out_size)
    cb = cig if cig <= 96 else 64
    per_sample = cb * K * P * item
    if per_sample > 4 * _PANEL_MAX:
        return None
    nb = max(1, min(spec.batch, _PANEL_MAX // max(per_sample, 1)))
    ncb = -(-cig // cb)
    while G * ncb * -(-spec.batch // nb) < 8 and nb > 1:
        nb = -(-nb // 2)
    eff = _gemm_eff(nb * P, cb * K, cog)
    traffic = (G * ncb * cog * spec.batch * P + 2 * spec.batch * cig * G * K * P) * item
    secs = (spec.flops / (_GEMM_RATE[item] * eff * threads)
            + traffic / _PACK_BYTES_PER_S / threads + 20e-6)
    ws = threads * (cb * K + cog) * nb * P * item
    return secs, ws, {"variant": "col2im", "samples_per_block": int(nb), "ci_block": int(cb)}


def _candidate(spec: ConvSpec, pass_: str, name: str, threads: int, backend: str,
               tol: float = 1.0):
    """(seconds, workspace, options) or a reason string when ``name`` cannot serve
    (or its error bound exceeds ``tol``)."""
    rs = _run_spec(spec)
    item = spec.dtype.itemsize
    flops = spec.flops
    K = spec.taps
    if name == "direct":
        OW = spec.in_size[-1] if pass_ == "input_grad" else spec.out_size[-1]
        eff = min(1.0, OW / 64.0) * 0.8 + 0.2
        if pass_ == "input_grad" and spec.stride[-1] > 1:
            eff *= 0.5  # strided stores
        secs = flops / (_DIRECT_RATE * eff * threads) + 5e-6 * (threads > 1)
        if pass_ == "input_grad" and not _is_pointwise(rs):
            # stride 1: the forward direct kernels (register-tiled depthwise) may be faster.
            # Not for 1x1: there the forward's pointwise layout only ties the
            # multithreaded BLAS GEMM of the "pointwise" im2col variant (input gradient
            # of 256->64 on 56^2, N=8, 2 threads: 4.4 vs 3.8-4.6 ms), and with both
            # passes on BLAS the backward does not switch thread pools between them
            fwd = _forward_delegate(rs, "direct", threads, backend, factor=1.0)
            if not isinstance(fwd, str) and fwd[0] < secs:
                return fwd[0], fwd[1], dict(fwd[2], variant="forward")
        return secs, 0, {"variant": "gather"}
    if name == "im2col" and _is_pointwise(rs):
        # 1x1, stride 1, no padding: both passes are plain batched GEMMs on the
        # arrays themselves (no packing), multithreaded BLAS alone
        eff = _gemm_eff(math.prod(spec.out_size), min(spec.in_channels, spec.out_channels),
                        spec.out_channels if pass_ == "input_grad" else 512)
        return flops / (_GEMM_RATE[item] * eff * threads) + 20e-6, 0, {"variant": "pointwise"}
    if name == "im2col":
        cog, cig, G = spec.out_per_group, spec.in_per_group, spec.groups
        if pass_ == "input_grad":
            W = rs.in_size[-1]
            rows = spec.batch * math.prod(rs.in_size[:-1])
            rb, cb = _blocking(W, cog * K, rows, item, cig)
            waste = math.prod(spec.stride)  # gathered columns hold zeros between strides
            eff = _gemm_eff(rb * W, min(cb, cig), cog * K)
            ncb = -(-cig // cb)
            pack = G * ncb * cog * K * spec.batch * math.prod(rs.in_size) * item
            ws = threads * (cog * K + cb) * rb * W * item
            opts = {"variant": "gather", "rows_per_block": rb, "ci_block": cb}
            c2i = _col2im_option(spec, rs, threads)
            secs = (flops * waste / (_GEMM_RATE[item] * eff * threads)
                    + pack / _PACK_BYTES_PER_S / threads + 20e-6)
            if c2i is not None and c2i[0] < secs:
                return c2i
            return secs, ws, opts
        else:
            OW = spec.out_size[-1]
            rows = spec.batch * math.prod(spec.out_size[:-1])
            rb, _ = _blocking(OW, cig * K, rows, item, cog, min_jobs=0)
            # whole output-channel groups (one im2col panel serves them all) and two row
            # chunks: enough jobs for two threads, one reduction (measured best here)
            cb = min(cog, 512)
            waste = 1
            eff = _gemm_eff(cig * K, min(cb, cog), rb * OW)
            ncb = -(-cog // cb)
            pack = G * ncb * (cig * K + cb) * spec.batch * math.prod(spec.out_size) * item
            nblk = -(-rows // rb)
            wsize = spec.out_channels * cig * K * item
            nchunks = max(1, min(-(-2 // (G * ncb)), nblk,
                                 _config.WORKSPACE_LIMIT // max(wsize, 1)))
            co_major = wsize > _PANEL_MAX and G == 1 and cog >= 128
            if co_major:
                # large weights: no partial sums to reduce and no transpose; two
                # output-channel blocks instead of two row chunks
                cb, ncb, nchunks = -(-cog // 2), 2, 1
            ws = threads * (cig * K + cb) * rb * OW * item + nchunks * wsize
            opts = {"rows_per_block": rb, "co_block": cb, "chunks": int(nchunks),
                    "co_major": co_major}
        secs = (flops * waste / (_GEMM_RATE[item] * eff * threads)
                + pack / _PACK_BYTES_PER_S / threads + 20e-6)
        return secs, ws, opts
    if pass_ == "weight_grad":
        if name == "winograd":
            return _winograd_wg_option(rs, threads, backend, tol)
        return (f"the weight gradient has no {name} path (direct, im2col and winograd "
                f"serve it)")
    # other algorithms: the input gradient as a forward convolution
    if name not in algorithms.NAMES:
        return f"algorithm {name!r} is not implemented"
    if name == "separable":
        return "separable depends on the kernel's values; not used for backward passes"
    return _forward_delegate(rs, name, threads, backend, tol=tol)


def _forward_delegate(rs: ConvSpec, name: str, threads: int, backend: str,
                      factor: float | None = None, tol: float = 1.0):
    """The stride-1 input gradient run by the forward algorithm ``name``:
    (seconds, workspace, options) or the reason it cannot serve."""
    eq, why = _equivalent_forward(rs)
    if eq is None:
        return why
    mod = algorithms.get(name)
    why = mod.supports(eq)
    if why is not None:
        return why
    bound = _error_bound(mod, eq)
    if bound > tol:
        return f"its error bound {bound:.1e} exceeds the tolerance {tol:.1e}"
    secs, ws = _plan_estimate(mod, eq, threads, backend)
    if factor is None:
        # Calibration on this machine class: the forward estimates of the transform
        # algorithms are optimistic for this use (the flipped weight is transformed on
        # every call; small planes waste more of each tile), more so for small planes.
        # Winograd refitted once the flipped weight was built by a compiled kernel
        # (ResNet 7x7 512ch: 8.8 ms measured vs 7.5 ms estimated for the forward).
        small = max(1.0, 256 / max(math.prod(eq.out_size), 1))
        factor = 1.2 * small ** 0.1 if name == "winograd" else 1.5 * small ** 0.25
    return secs * factor, ws, {"forward_plan": make_plan(eq, name, backend),
                               "forward_spec": eq}


# --------------------------------------------------------------------------
# Winograd weight gradient: blocking, cost model, error bound
# --------------------------------------------------------------------------
#: Documented float32 error bound of the Winograd weight gradient, relative to
#: max|exact dW|, per tile: ~3x the largest error measured on the bench's ResNet
#: 3x3 layers (N=8, 64ch 56x56 ... 512ch 7x7, unit-normal data) against the
#: float64 reference: F(2x2,3x3) <= 9.1e-7, F(4x4,3x3) <= 3.4e-6 fused and
#: 1.25e-5 phased (im2col: <= 5.2e-7).  Float64: scaled by 2^-29.
WINOGRAD_WG_MAX_REL_ERROR = {2: 3e-6, 4: 4e-5}
#: Single-thread cost model of the Winograd weight gradient (CPU times fitted
#: on this machine class, 64-512 channels): seconds per (tile, input channel) of
#: the input transform and per (tile, output channel) of the output-gradient
#: transform by (nd, m), both growing as ``1 + C / _WG_T_GROW[m]`` (the wider
#: the block, the further its rows spread in cache) ...
_WG_T_IN = {(2, 4): 17e-9, (2, 2): 7.5e-9, (1, 4): 1.4e-9, (1, 2): 0.8e-9}
_WG_T_GO = {(2, 4): 8.5e-9, (2, 2): 4.3e-9, (1, 4): 0.9e-9, (1, 2): 0.6e-9}
_WG_T_GROW = {4: 200, 2: 256}
#: ... the per-frequency GEMM rate (flop/s) for wide channels (``c / (c + 24)``
#: of it for ``c = min(C_in, C_out) / groups``), the final ``G^T M G`` per
#: frequency-domain sum it reads (fused partials are hot in cache, the phased
#: sums are not), and a per-call overhead.
_WG_GEMM_RATE = 145e9
_WG_T_FIN = (0.3e-9, 1.0e-9)
_WG_L2 = 2 << 20
_WG_PARTIAL_BW = 80e9
_WG_T_CALL = 60e-6
#: Scale of this planner's GEMM estimates: im2col's model reads 1.5-1.9x the
#: time measured here, so the Winograd estimate is put on the same scale and
#: the ranking compares like with like (the input-gradient delegates do the same).
_WG_SCALE = 1.5
#: Budget of a fused block's V + Gt (bytes per thread: they stay in L2).
_WG_BLOCK_BYTES = 1 << 20


def _winograd_wg_blocking(rs: ConvSpec, m: int) -> dict:
    """Fused and phased blockings of the Winograd weight gradient (functions of
    the case and the machine's core count only, never of the thread setting)."""
    F = (m + 2) ** rs.nd
    item = rs.dtype.itemsize
    G, cig, cog = rs.groups, rs.in_per_group, rs.out_per_group
    ntiles = rs.batch * math.prod(-(-o // m) for o in rs.out_size)
    tb = _WG_BLOCK_BYTES // max(F * (cig + cog) * item, 1)
    tb = int(max(16, min(128, tb, ntiles)))
    nblk = -(-ntiles // tb)
    part = G * F * cog * cig * item
    # a few chunks per core (balance under load), within half the workspace limit
    chunks = int(max(1, min(2 * cpu_count(), nblk, _config.WORKSPACE_LIMIT // 2 // part)))
    shared = G * F * (cig + cog) * ntiles * item
    # phased: one block of output channels per core, at least 64 rows (each GEMM
    # packs its V[f] again: 16-row blocks ran 1.9x slower than whole ones, measured)
    cob = -(-cog // cpu_count())
    cob = int(min(cog, max(64, -(-cob // 16) * 16)))
    limit = _config.WORKSPACE_LIMIT  # scratch bounded like every algorithm's
    return {"tb": tb, "chunks": chunks, "ntiles": int(ntiles), "F": F, "co_block": cob,
            "fused_ok": part <= limit,
            "phased_ok": shared + cpu_count() * F * cob * cig * item <= limit,
            "shared": shared, "part": part}


def _wg_mode_times(rs: ConvSpec, m: int, threads: int, b: dict) -> dict:
    """Estimated seconds of the fused and phased modes (tile m, blocking b)."""
    F, NT, tb, item = b["F"], b["ntiles"], b["tb"], rs.dtype.itemsize
    G, cig, cog = rs.groups, rs.in_per_group, rs.out_per_group
    wide = 1.6 if item == 8 else 1.0
    grow = _WG_T_GROW[m]
    t_tr = NT * G * (cig * _WG_T_IN[(rs.nd, m)] * (1 + cig / grow)
                     + cog * _WG_T_GO[(rs.nd, m)] * (1 + cog / grow)) * wide
    flops = 2.0 * F * NT * cig * cog * G
    c = min(cig, cog)
    rate = _WG_GEMM_RATE * c / (c + 24) / (2 if item == 8 else 1)
    sums = G * F * cog * cig

    def share(jobs):  # jobs run in rounds of ``threads``; ~5% lost to synchronisation
        jobs = max(jobs, 1)  # (an empty batch has no tiles)
        return (-(-jobs // threads)) / jobs / (0.95 if threads > 1 else 1.0)

    def fin(nbytes):  # the final G^T M G per frequency-domain sum it reads
        return _WG_T_FIN[0] if nbytes <= _WG_L2 else _WG_T_FIN[1]

    nblk = -(-NT // tb)
    out = {}
    if b["fused_ok"]:
        # fused: each GEMM reduces over one block of tiles into its chunk's partials
        # (which stream from memory per block when they outgrow L2)
        stream = nblk * 2 * b["part"] / _WG_PARTIAL_BW if b["part"] > 2 * _WG_L2 else 0.0
        out["fused"] = ((t_tr + flops / (rate * tb / (tb + 6)) + stream)
                        * share(b["chunks"] * G)
                        + sums * b["chunks"] * fin(b["chunks"] * b["part"]) * share(G * cog))
    if b["phased_ok"]:
        # phased: the F GEMMs over every tile per block of output channels, then
        # G^T . G on their sums; the transforms write into long strided rows
        # (slower the longer they are)
        cob = b["co_block"]
        out["phased"] = (t_tr * (1 + NT / 1000) * share(nblk * G)
                         + (flops / (rate * cob / (cob + 16))
                            + sums * fin(F * cob * cig * item)) * share(G * -(-cog // cob)))
    return out


def _winograd_wg_estimate(rs: ConvSpec, m: int, threads: int):
    """(seconds, workspace, options) of the better mode (fused / phased) for tile m,
    or the reason neither fits the workspace limit."""
    b = _winograd_wg_blocking(rs, m)
    F, NT, tb, item = b["F"], b["ntiles"], b["tb"], rs.dtype.itemsize
    cig, cog = rs.in_per_group, rs.out_per_group
    times = _wg_mode_times(rs, m, threads, b)
    if not times:
        return (f"F({m}): its frequency-domain sums ({b['part'] / 2**20:.0f} MiB) exceed the "
                f"workspace limit ({_config.WORKSPACE_LIMIT / 2**20:.0f} MiB)")
    # phased only when clearly ahead: its transforms' cost varies more (measured)
    mode = "phased" if times.get("phased", math.inf) < 0.85 * times.get("fused", math.inf) \
        else "fused"
    if mode == "fused":
        ws = b["chunks"] * b["part"] + threads * (2 * F + F * (cig + cog)) * (tb + 32) * item
        opts = {"mode": "fused", "tb": tb, "chunks": b["chunks"]}
    else:
        ws = b["shared"] + threads * (2 * F * (tb + 32) + F * b["co_block"] * cig) * item
        opts = {"mode": "phased", "tb": min(64, NT), "co_block": b["co_block"]}
    return times[mode] * _WG_SCALE + _WG_T_CALL, int(ws), dict(opts, tile=m)


def winograd_wg_error_bound(rs: ConvSpec, m: int) -> float:
    """Documented relative error bound (vs max|exact dW|) of the Winograd weight
    gradient with tile ``m``: :data:`WINOGRAD_WG_MAX_REL_ERROR` (float32; grows
    with sqrt(tiles) past the bench's 100k tile-channels), scaled by 2^-29 in float64."""
    ntiles = rs.batch * math.prod(-(-o // m) for o in rs.out_size)
    bound = WINOGRAD_WG_MAX_REL_ERROR[m] * max(1.0, (ntiles * rs.groups / 6272) ** 0.5)
    if rs.dtype.itemsize == 8:
        bound *= 2.0 ** -29
    return bound


def _winograd_wg_supports(rs: ConvSpec) -> str | None:
    """None when the Winograd weight gradient can serve ``rs``, else why not."""
    if rs.nd == 3:
        return "winograd serves 1-D and 2-D convolutions only (3-D is not implemented)"
    if any(k != 3 for k in rs.kernel):
        return f"winograd needs a kernel of size 3 along every axis, got kernel {rs.kernel}"
    if not rs.unit_stride():
        return f"winograd needs stride 1, got stride {rs.stride}"
    if not rs.unit_dilation():
        return (f"the Winograd weight gradient needs dilation 1, got dilation "
                f"{rs.dilation}")
    return None


def _winograd_wg_option(rs: ConvSpec, threads: int, backend: str, tol: float):
    """(seconds, workspace, options) of the Winograd weight gradient, or why not."""
    why = kernels.refusal(backend, "winograd") or _winograd_wg_supports(rs)
    if why is not None:
        return why
    forced = algorithms.get("winograd")._forced_tile()
    tiles = (forced,) if forced is not None else (2, 4)
    best, bounds, sizes = None, [], []
    for m in tiles:
        bound = winograd_wg_error_bound(rs, m)
        if bound > tol:
            bounds.append(f"F({m}) {bound:.1e}")
            continue
        res = _winograd_wg_estimate(rs, m, threads)
        if isinstance(res, str):
            sizes.append(res)
        elif best is None or res[0] < best[0]:
            best = res
    if best is None:
        why = [f"its error bound ({', '.join(bounds)}) exceeds the tolerance {tol:.1e}"
               ] if bounds else []
        return "; ".join(why + sizes)
    secs, ws, opts = best
    return secs, ws, dict(opts, error_bound=winograd_wg_error_bound(rs, opts["tile"]))


def plan_backward(spec: ConvSpec, pass_: str, algorithm: str = "auto",
                  backend: str = "auto", tolerance: float | None = None) -> Plan:
    """Plan one backward pass of the convolution ``spec``.

    Parameters
    ----------
    spec : ConvSpec
        The forward convolution (from ``_spec.conv_spec``).
    pass_ : {"input_grad", "weight_grad"}
    algorithm : {"auto", "direct", "im2col", "winograd", "fft", "separable"}
        ``"auto"`` picks the cheapest estimate; a forced algorithm that cannot
        serve the pass raises ``ValueError`` with the reason.
    backend : {"auto", "numba", "cython", "cuda"}
    tolerance : float, optional
        Largest acceptable relative error of the pass (vs its result's scale):
        algorithms (or Winograd tiles) whose documented bound exceeds it are not
        used.  Default 1e-3 for float32, 1e-9 for float64 (as ``plan_conv``).

    Returns
    -------
    Plan
        ``plan.algorithm`` is what ``conv*d_backward(..., algorithm="auto")`` runs.

    Examples
    --------
    >>> import fastconv as fc
    >>> p = fc.plan_conv((8, 64, 56, 56), (64, 64, 3, 3), padding=1, pass_="weight_grad")
    >>> p.algorithm, p.options["tile"], p.options["mode"]
    ('winograd', 4, 'fused')
    """
    check_choice(pass_, "pass_", ("input_grad", "weight_grad"))
    check_choice(algorithm, "algorithm", ALGORITHMS)
    tol = (DEFAULT_TOLERANCE.get(spec.dtype.itemsize, 1e-9) if tolerance is None
           else float(tolerance))
    return _plan_cached(spec, pass_, algorithm, backend, get_num_threads(), tol,
                        algorithms.plan_state())


@functools.lru_cache(maxsize=256)
def _plan_cached(spec: ConvSpec, pass_: str, algorithm: str, backend: str,
                 nthreads: int, tol: float, state: tuple) -> Plan:
    """``plan_backward`` proper: a pure function of its arguments (``state``: the
    algorithms' planning state, e.g. a forced Winograd tile), so memoised (a
    training loop plans each layer once)."""
    backend = _resolve_backend(spec, backend)
    small = spec.flops < _config.PARALLEL_MIN_FLOPS
    threads = 1 if small else nthreads
    # rank at the machine's core count: the choice (hence the result) never depends
    # on the thread setting
    rank_threads = 1 if small else cpu_count()
    names = ("direct", "im2col") + tuple(
        n for n in ALGORITHMS if n not in ("auto", "direct", "im2col"))
    candidates = names if algorithm == "auto" else (algorithm,)
    best, refusals = None, []
    for name in candidates:
        res = _candidate(spec, pass_, name, rank_threads, backend, tol)
        if isinstance(res, str):
            refusals.append(f"{name}: {res}")
            continue
        secs, ws, opts = res
        if best is None or secs < best[1]:
            best = (name, secs, ws, opts)
    if best is None:
        raise ValueError(
            f"algorithm={algorithm!r} cannot serve the {pass_} pass: {'; '.join(refusals)}")
    name, secs, ws, opts = best
    what = "input gradient" if pass_ == "input_grad" else "weight gradient"
    if algorithm != "auto":
        reason = f"{name} was requested explicitly for the {what}."
    else:
        reason = f"{name} has the lowest estimated time for the {what} of this " \
                 f"{'x'.join(map(str, spec.kernel))} convolution."
    if "error_bound" in opts:
        m = opts["tile"]
        reason = (f"{reason[:-1]} (F({'x'.join([str(m)] * spec.nd)},"
                  f"{'x'.join(['3'] * spec.nd)}), {opts['mode']}, error bound "
                  f"{opts['error_bound']:.0e}).")
    return Plan(
        algorithm=name, backend=backend, threads=threads, workspace_bytes=int(ws),
        flops=spec.flops, reason=reason, estimated_seconds=float(secs), spec=spec,
        options=dict(opts, pass_=pass_),
    )


def _remember(plan: Plan) -> None:
    _record(plan)
    plans = getattr(_last, "plans", None)
    if plans is None:
        plans = _last.plans = {}
    plans[plan.options["pass_"]] = plan


# --------------------------------------------------------------------------
# the two passes on validated, compute-dtype arrays
# --------------------------------------------------------------------------
def _input_grad(spec: ConvSpec, plan: Plan, go: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. x (N, C, *in) of the convolution ``spec``; ``go`` is
    (N, Co, *out) C-contiguous, ``w`` the weight, both in the compute dtype."""
    rs = _run_spec(spec)
    nd = spec.nd
    gxp = np.empty((spec.batch, spec.in_channels) + rs.in_size, spec.dtype)
    if spec.batch and gxp.size:
        name = plan.algorithm
        if "forward_plan" in plan.options:
            _forward_input_grad(rs, plan, go, w, gxp)
        elif plan.options.get("variant") == "pointwise":
            # gx[n] = w^T @ go[n]: one single-threaded GEMM per sample, samples split
            # over the threads (each sample's GEMM is the same whatever the split)
            P = math.prod(rs.in_size)
            wT = w.reshape(rs.out_channels, rs.in_channels).T
            gof = go.reshape(rs.batch, rs.out_channels, P)
            gxf = gxp.reshape(rs.batch, rs.in_channels, P)

            def part(c, nparts):
                lo, hi = c * rs.batch // nparts, (c + 1) * rs.batch // nparts
                np.matmul(wT, gof[lo:hi], out=gxf[lo:hi])

            _run_parts(part, plan.threads, plan.threads)
        elif name == "direct":
            kern = kernels.get(plan.backend, "grad", "input_grad_direct")
            kern(to_3d(go, nd), to_3d(w, nd), to_3d(gxp, nd), pad3(rs.stride, nd, 1),
                 pad3(rs.dilation, nd, 1), pad3(rs.pad_before, nd, 0), rs.groups,
                 plan.threads)
        elif name == "im2col" and plan.options["variant"] == "col2im":
            G, cog, cig = rs.groups, rs.out_per_group, rs.in_per_group
            wt2 = np.ascontiguousarray(w.reshape(G, cog, -1).transpose(0, 2, 1))
            kern = kernels.get(plan.backend, "grad", "input_grad_col2im")
            with blas_threads(1):
                kern(to_3d(go, nd), wt2, to_3d(gxp, nd), pad3(rs.kernel, nd, 1),
                     pad3(rs.stride, nd, 1), pad3(rs.dilation, nd, 1),
                     pad3(rs.pad_before, nd, 0), rs.groups,
                     plan.options["samples_per_block"], plan.options["ci_block"],
                     plan.threads)
        elif name == "im2col":
            G, cog, cig = rs.groups, rs.out_per_group, rs.in_per_group
            wt = np.ascontiguousarray(
                w.reshape(G, cog, cig, -1).transpose(0, 2, 1, 3).reshape(G, cig, -1))
            kern = kernels.get(plan.backend, "grad", "input_grad_gemm")
            with blas_threads(1):
                kern(to_3d(go, nd), wt, to_3d(gxp, nd), pad3(rs.kernel, nd, 1),
                     pad3(rs.stride, nd, 1), pad3(rs.dilation, nd, 1),
                     pad3(rs.pad_before, nd, 0), rs.groups, plan.options["rows_per_block"],
                     plan.options["ci_block"], plan.threads)
        else:  # pragma: no cover - every other algorithm runs through the forward path
            raise ValueError(f"no input-gradient path for {name!r}")
    if rs is spec:
        return gxp
    return pad_adjoint(gxp, spec.pad, spec.padding_mode)


def _forward_input_grad(rs: ConvSpec, plan: Plan, go, w, gxp) -> None:
    """Stride-1 input gradient as the forward convolution of the zero-padded
    ``go`` with the flipped kernel, in/out channels swapped per group."""
    eq, fplan = plan.options["forward_spec"], plan.options["forward_plan"]
    fplan = replace(fplan, threads=plan.threads)
    G, cog, cig = rs.groups, rs.out_per_group, rs.in_per_group
    # compiled (NumPy's strided copy of the flipped, transposed view took 5.6 ms on
    # 512x512x3x3, half the 7x7 layer's input gradient)
    wt = np.empty((G * cig, cog, rs.taps), rs.dtype)
    kernels.get(plan.backend, "grad", "flip_swap_weight")(
        np.ascontiguousarray(w).reshape(rs.out_channels, cig, rs.taps), wt, G, plan.threads)
    wt = wt.reshape((G * cig, cog) + rs.kernel)
    algorithms.get(fplan.algorithm).forward(eq, fplan, go, wt, np.zeros(1, rs.dtype), gxp)


#: Fixed number of sample chunks of the pointwise (1x1) weight gradient.
_POINTWISE_CHUNKS = 2


def _run_parts(fn, nparts: int, threads: int) -> None:
    """Run ``fn(c, nparts)`` for c in range(nparts) on up to ``threads`` Python threads,
    BLAS single-threaded (NumPy's matmul releases the GIL).  Which thread runs a
    part never changes what the part computes."""
    with blas_threads(1):
        if threads <= 1 or nparts <= 1:
            for c in range(nparts):
                fn(c, nparts)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, nparts)) as ex:
            for f in [ex.submit(fn, c, nparts) for c in range(nparts)]:
                f.result()


def _weight_grad(spec: ConvSpec, plan: Plan, go: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the weight; ``x`` (N, C, *in) compute dtype, C-contiguous."""
    rs = _run_spec(spec)
    nd = spec.nd
    if rs is not spec:
        x = np.pad(x, ((0, 0), (0, 0)) + spec.pad, mode=NP_PAD_MODE[spec.padding_mode])
    gw = np.empty(spec.w_shape, spec.dtype)
    if plan.algorithm == "direct" or spec.batch == 0:
        kern = kernels.get(plan.backend, "grad", "weight_grad_direct")
        kern(to_3d(go, nd), to_3d(x, nd), to_3d(gw, nd), pad3(rs.stride, nd, 1),
             pad3(rs.dilation, nd, 1), pad3(rs.pad_before, nd, 0), rs.groups, plan.threads)
        return gw
    if plan.options.get("variant") == "pointwise":
        # gw = sum_n go[n] @ x[n]^T: a fixed number of sample chunks, each summing its
        # single-threaded per-sample GEMMs in order; chunks reduced in order
        P = math.prod(rs.in_size)
        gof = go.reshape(rs.batch, rs.out_channels, P)
        xf = x.reshape(rs.batch, rs.in_channels, P)
        nchunks = min(_POINTWISE_CHUNKS, rs.batch)
        parts = np.zeros((nchunks, rs.out_channels, rs.in_channels), spec.dtype)

        def part(c, nparts):
            tmp = np.empty(parts.shape[1:], spec.dtype)
            for n in range(c * rs.batch // nparts, (c + 1) * rs.batch // nparts):
                np.matmul(gof[n], xf[n].T, out=tmp)
                parts[c] += tmp

        _run_parts(part, nchunks, plan.threads)
        for i in range(1, nchunks):
            parts[0] += parts[i]
        return parts[0].reshape(spec.w_shape)
    if plan.algorithm == "winograd":
        return _winograd_weight_grad(rs, plan, go, x).reshape(spec.w_shape)
    if plan.algorithm != "im2col":  # pragma: no cover - plan_backward refuses
        raise ValueError(f"the weight gradient has no {plan.algorithm} path")
    co_major = plan.options.get("co_major", False)
    cigk = spec.in_per_group * spec.taps
    parts = np.zeros((plan.options["chunks"],) + ((spec.out_channels, cigk) if co_major
                                                   else (cigk, spec.out_channels)), spec.dtype)
    kern = kernels.get(plan.backend, "grad", "weight_grad_gemm")
    with blas_threads(1):
        kern(to_3d(go, nd), to_3d(x, nd), parts, pad3(rs.kernel, nd, 1),
             pad3(rs.stride, nd, 1), pad3(rs.dilation, nd, 1), pad3(rs.pad_before, nd, 0),
             rs.groups, plan.options["rows_per_block"], plan.options["co_block"], plan.threads,
             co_major)
    if co_major:  # one chunk, final layout already
        return parts[0].reshape(spec.w_shape)
    acc = parts[0]
    for i in range(1, parts.shape[0]):  # fixed reduction order
        acc += parts[i]
    return np.ascontiguousarray(acc.T).reshape(spec.w_shape)


def _winograd_weight_grad(rs: ConvSpec, plan: Plan, go: np.ndarray,
                          x: np.ndarray) -> np.ndarray:
    """Winograd weight gradient (zero padding implicit in ``rs``): per-frequency
    sums over tiles (fused chunks or phased), then ``G^T M G`` per weight."""
    o = plan.options
    m, nd, dt = o["tile"], rs.nd, rs.dtype
    G, cig, cog = rs.groups, rs.in_per_group, rs.out_per_group
    F = (m + 2) ** nd
    if nd == 1:  # (N, C, L) -> (N, C, 1, L)
        x = x.reshape(x.shape[:2] + (1,) + x.shape[2:])
        go = go.reshape(go.shape[:2] + (1,) + go.shape[2:])
    pad = rs.pad_before
    ph, pw = (pad[0], pad[1]) if nd == 2 else (0, pad[0])
    gw = np.empty((rs.out_channels, cig, 3 ** nd), dt)
    get = functools.partial(kernels.get, plan.backend, "wgrad")
    with blas_threads(1):
        if o["mode"] == "fused":
            parts = np.empty((o["chunks"], G, F, cog, cig), dt)
            get("winograd_weight_grad_fused")(x, go, parts, ph, pw, m, nd, G, o["tb"],
                                               plan.threads)
            get("weight_from_partials")(parts, gw, m, nd, plan.threads)
        else:
            ntiles = rs.batch * math.prod(-(-n // m) for n in rs.out_size)
            shared = np.empty(get("shared_items")(m, nd, G, cig, cog, ntiles), dt)
            get("winograd_weight_grad_phased")(x, go, gw, shared, ph, pw, m, nd, G, o["tb"],
                                                o["co_block"], plan.threads)
    return gw


# --------------------------------------------------------------------------
# public: convolution backward
# --------------------------------------------------------------------------
def _check_needs(needs) -> frozenset:
    if isinstance(needs, str):
        needs = (needs,)
    try:
        s = frozenset(needs)
    except TypeError:
        raise TypeError(
            f"needs must be a sequence of names from {NEEDS}, got {needs!r}") from None
    bad = [n for n in s if n not in NEEDS]
    if bad:
        raise ValueError(f"needs must contain only {NEEDS}, got {tuple(needs)!r}")
    return s


def _check_go(go: np.ndarray, shape, name="grad_output") -> None:
    if tuple(go.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the forward output's shape {tuple(shape)}, got {go.shape}")


def _conv_backward(nd, grad_output, x, weight, stride, padding, dilation, groups,
                   padding_mode, needs, algorithm, backend, tolerance=None) -> ConvGrads:
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    go = as_array(grad_output, "grad_output")
    needs = _check_needs(needs)
    spec = conv_spec(nd, x.shape, weight.shape, None, stride, padding, dilation, groups,
                     padding_mode, x.dtype, weight.dtype, go.dtype)
    _check_go(go, spec.out_shape)
    plans = {}
    if "input" in needs:
        plans["input"] = plan_backward(spec, "input_grad", algorithm, backend, tolerance)
    if "weight" in needs:
        plans["weight"] = plan_backward(spec, "weight_grad", algorithm, backend, tolerance)
    _last.plans = {}
    gos = to_compute(go, spec.dtype).reshape((spec.batch, spec.out_channels) + spec.out_size)
    gx = gw = gb = None
    if "input" in needs:
        gx = _input_grad(spec, plans["input"], gos, to_compute(weight, spec.dtype))
        _remember(plans["input"])
        gx = gx.reshape(x.shape).astype(spec.result_dtype, copy=False)
    if "weight" in needs:
        xs = to_compute(x, spec.dtype).reshape(spec.x_shape)
        gw = _weight_grad(spec, plans["weight"], gos, xs)
        _remember(plans["weight"])
        gw = gw.astype(spec.result_dtype, copy=False)
    if "bias" in needs:
        gb = gos.sum(axis=(0,) + tuple(range(2, 2 + nd))).astype(spec.result_dtype,
                                                                  copy=False)
    return ConvGrads(gx, gw, gb)


_BWD_DOC = """Gradients of :func:`fastconv.conv{nd}d` (explicit backward pass, no autograd).

Parameters
----------
grad_output : array_like, shape (N, C_out, {osp}) or (C_out, {osp})
    Gradient of the loss w.r.t. the forward output.
x : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
    The forward input.
weight : array_like, shape (C_out, C_in // groups, {ks})
stride, padding, dilation, groups, padding_mode
    Exactly as given to the forward call (every padding form and mode).
needs : sequence of {{"input", "weight", "bias"}}
    Which gradients to compute; the others are returned as None.
algorithm : {{"auto", "direct", "im2col", "winograd", "fft", "separable"}}
    ``"auto"`` runs what ``plan_conv(..., pass_="input_grad"|"weight_grad")`` returns.
backend : {{"auto", "numba", "cython", "cuda"}}
tolerance : float, optional
    Largest acceptable relative error of each gradient (vs its scale); algorithms
    or Winograd tiles whose documented bound exceeds it are not used (see
    ``fastconv.backward.plan_backward``).  Default 1e-3 for float32, 1e-9 for float64.

Returns
-------
ConvGrads
    Named tuple ``(input, weight, bias)`` in the result dtype of the forward call
    (float16 inputs are computed in float32 and returned as float16).

Examples
--------
>>> import numpy as np, fastconv as fc
>>> x = np.ones({ex_x}, np.float32); w = np.ones({ex_w}, np.float32)
>>> y = fc.conv{nd}d(x, w, padding=1)
>>> g = fc.conv{nd}d_backward(np.ones_like(y), x, w, padding=1)
>>> g.input.shape == x.shape, g.weight.shape == w.shape, g.bias.shape
(True, True, (4,))
"""


def conv1d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    padding_mode="zeros", needs=NEEDS, algorithm="auto",
                    backend="auto", tolerance=None) -> ConvGrads:
    return _conv_backward(1, grad_output, x, weight, stride, padding, dilation, groups,
                          padding_mode, needs, algorithm, backend, tolerance)


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    padding_mode="zeros", needs=NEEDS, algorithm="auto",
                    backend="auto", tolerance=None) -> ConvGrads:
    return _conv_backward(2, grad_output, x, weight, stride, padding, dilation, groups,
                          padding_mode, needs, algorithm, backend, tolerance)


def conv3d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    padding_mode="zeros", needs=NEEDS, algorithm="auto",
                    backend="auto", tolerance=None) -> ConvGrads:
    return _conv_backward(3, grad_output, x, weight, stride, padding, dilation, groups,
                          padding_mode, needs, algorithm, backend, tolerance)


# --------------------------------------------------------------------------
# public: transposed convolution
# --------------------------------------------------------------------------
def _transpose_spec(nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
                    extra_dtype=None) -> tuple[ConvSpec, ConvSpec]:
    """(spec, full_spec): the convolution whose input gradient the transposed
    convolution is.  ``spec.out_size`` is x's spatial size; ``full_spec`` is the
    same convolution as ``conv_spec`` derives it (its output can be longer than
    x when ``output_padding >= stride``)."""
    if weight.ndim != nd + 2:
        raise ValueError(
            f"weight must have {nd + 2} dimensions (C_in, C_out // groups, *kernel[{nd}]) "
            f"for conv_transpose{nd}d, got shape {weight.shape}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"x must have {nd + 2} (batched: N, C_in, *spatial) or {nd + 1} (unbatched) "
            f"dimensions for conv_transpose{nd}d, got shape {x.shape}")
    batched = x.ndim == nd + 2
    xs = x.shape if batched else (1,) + x.shape
    if xs[1] != weight.shape[0]:
        raise ValueError(
            f"weight shape {weight.shape} expects C_in={weight.shape[0]} input channels "
            f"(weight.shape[0]), but x has {xs[1]} channels (x shape {x.shape})")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    if groups < 1 or xs[1] % groups:
        raise ValueError(f"groups={groups} must be >= 1 and divide the input channels "
                         f"C_in={xs[1]}")
    stride = int_tuple(stride, nd, "stride")
    dilation = int_tuple(dilation, nd, "dilation")
    if isinstance(padding, str):
        raise ValueError(f"padding of conv_transpose{nd}d must be an int or a tuple of "
                         f"{nd} ints, got {padding!r}")
    padding = int_tuple(padding, nd, "padding", minimum=0)
    output_padding = int_tuple(output_padding, nd, "output_padding", minimum=0)
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if not (op < s or op < d):
            raise ValueError(
                f"output_padding={output_padding} must be smaller than either stride="
                f"{stride} or dilation={dilation} on every axis")
    kernel = weight.shape[2:]
    L = xs[2:]
    out = tuple((l - 1) * s - 2 * p + d * (k - 1) + op + 1
                for l, s, p, d, k, op in zip(L, stride, padding, dilation, kernel,
                                              output_padding, strict=True))
    if any(o <= 0 for o in out):
        raise ValueError(
            f"conv_transpose{nd}d output size {out} would be <= 0 (input spatial {L}, "
            f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}, "
            f"output_padding {output_padding})")
    c_out = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (C_out), got {bias.shape}")
    full = conv_spec(
        nd, (xs[0], c_out) + out, weight.shape, None, stride, padding, dilation, groups,
        "zeros", x.dtype, weight.dtype, bias.dtype if bias is not None else extra_dtype,
    )
    spec = replace(full, out_size=L, batched=batched, has_bias=False)
    return spec, full


def _conv_transpose(nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
                    algorithm, backend):
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    spec, _ = _transpose_spec(nd, x, weight, bias, stride, padding, output_padding, groups,
                              dilation)
    plan = plan_backward(spec, "input_grad", algorithm, backend)
    xs = to_compute(x, spec.dtype).reshape((spec.batch, spec.out_channels) + spec.out_size)
    y = _input_grad(spec, plan, xs, to_compute(weight, spec.dtype))
    _last.plans = {}
    _remember(plan)
    if bias is not None:
        y += to_compute(bias, spec.dtype).reshape((1, -1) + (1,) * nd)
    if not spec.batched:
        y = y[0]
    return y.astype(spec.result_dtype, copy=False)


def _conv_transpose_backward(nd, grad_output, x, weight, stride, padding, output_padding,
                             groups, dilation, needs, algorithm, backend) -> ConvGrads:
    from .conv import _run

    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    go = as_array(grad_output, "grad_output")
    needs = _check_needs(needs)
    spec, full = _transpose_spec(nd, x, weight, None, stride, padding, output_padding,
                                 groups, dilation, go.dtype)
    out_shape = ((spec.batch,) if spec.batched else ()) + (spec.in_channels,) + spec.in_size
    _check_go(go, out_shape)
    gos = to_compute(go, spec.dtype).reshape(spec.x_shape)
    plans = {}
    if "input" in needs:
        plans["input"] = make_plan(full, algorithm, backend)
    if "weight" in needs:
        plans["weight"] = plan_backward(spec, "weight_grad", algorithm, backend)
    _last.plans = {}
    gx = gw = gb = None
    if "input" in needs:
        gx = _run(full, plans["input"], gos, weight, None)
        gx = gx[(slice(None), slice(None)) + tuple(slice(0, o) for o in spec.out_size)]
        _last.plans["forward"] = plans["input"]
        gx = gx.reshape(x.shape).astype(spec.result_dtype, copy=False)
    if "weight" in needs:
        xs = to_compute(x, spec.dtype).reshape((spec.batch, spec.out_channels) + spec.out_size)
        gw = _weight_grad(spec, plans["weight"], xs, gos)
        _remember(plans["weight"])
        gw = gw.astype(spec.result_dtype, copy=False)
    if "bias" in needs:
        gb = gos.sum(axis=(0,) + tuple(range(2, 2 + nd))).astype(spec.result_dtype,
                                                                  copy=False)
    return ConvGrads(gx, gw, gb)


_TR_DOC = """{nd}-D transposed convolution (as ``torch.nn.functional.conv_transpose{nd}d``).

The adjoint of :func:`fastconv.conv{nd}d`: ``<conv(y), x> == <y, conv_transpose(x)>``.
Output size per axis: ``(L - 1) * stride - 2 * padding + dilation * (k - 1)
+ output_padding + 1``.

Parameters
----------
x : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
weight : array_like, shape (C_in, C_out // groups, {ks})
bias : array_like, shape (C_out,), optional
stride, dilation : int or tuple of {nd} ints
padding : int or tuple of {nd} ints
    Removes that many positions from each side of the full output.
output_padding : int or tuple of {nd} ints
    Extra positions at the end of each axis; must be smaller than the stride or
    the dilation of that axis.
groups : int
algorithm : {{"auto", "direct", "im2col", "winograd", "fft", "separable"}}
    ``"auto"`` runs what ``plan_conv(..., pass_="input_grad")`` returns for the
    convolution this transposes.
backend : {{"auto", "numba", "cython", "cuda"}}

Returns
-------
ndarray, shape (N, C_out, {osp}) (unbatched if ``x`` was)

Examples
--------
>>> import numpy as np, fastconv as fc
>>> x = np.ones({ex_x}, np.float32)
>>> fc.conv_transpose{nd}d(x, np.ones({ex_w}, np.float32), stride=2).shape
{ex_out}
"""

_TRB_DOC = """Gradients of :func:`fastconv.conv_transpose{nd}d` (explicit backward pass).

The input gradient is the forward convolution of ``grad_output`` with ``weight``;
the weight gradient is a correlation of ``grad_output`` with ``x``.

Parameters
----------
grad_output : array_like, shape (N, C_out, {osp}) or (C_out, {osp})
x : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
weight : array_like, shape (C_in, C_out // groups, {ks})
stride, padding, output_padding, groups, dilation
    As given to the forward call.
needs : sequence of {{"input", "weight", "bias"}}
algorithm, backend : str
    As in :func:`fastconv.conv{nd}d_backward`.

Returns
-------
ConvGrads
    Named tuple ``(input, weight, bias)``; None for entries not in ``needs``.

Examples
--------
>>> import numpy as np, fastconv as fc
>>> x = np.ones({ex_x}, np.float32); w = np.ones({ex_w}, np.float32)
>>> y = fc.conv_transpose{nd}d(x, w, stride=2)
>>> g = fc.conv_transpose{nd}d_backward(np.ones_like(y), x, w, stride=2)
>>> g.input.shape == x.shape, g.weight.shape == w.shape
(True, True)
"""


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algorithm="auto", backend="auto") -> np.ndarray:
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm, backend)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algorithm="auto", backend="auto") -> np.ndarray:
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm, backend)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algorithm="auto", backend="auto") -> np.ndarray:
    return _conv_transpose(3, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm, backend)


def conv_transpose1d_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs=NEEDS, algorithm="auto",
                              backend="auto") -> ConvGrads:
    return _conv_transpose_backward(1, grad_output, x, weight, stride, padding,
                                    output_padding, groups, dilation, needs, algorithm,
                                    backend)


def conv_transpose2d_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs=NEEDS, algorithm="auto",
                              backend="auto") -> ConvGrads:
    return _conv_transpose_backward(2, grad_output, x, weight, stride, padding,
                                    output_padding, groups, dilation, needs, algorithm,
                                    backend)


def conv_transpose3d_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, *, needs=NEEDS, algorithm="auto",
                              backend="auto") -> ConvGrads:
    return _conv_transpose_backward(3, grad_output, x, weight, stride, padding,
                                    output_padding, groups, dilation, needs, algorithm,
                                    backend)


_EX = {
    1: ("L", "k", "L_out", "(1, 2, 8)", "(2, 4, 3)", "(1, 4, 8)", "(1, 4, 17)"),
    2: ("H, W", "kh, kw", "H_out, W_out", "(1, 2, 8, 8)", "(2, 4, 3, 3)", "(1, 4, 8, 8)",
        "(1, 4, 17, 17)"),
    3: ("D, H, W", "kd, kh, kw", "D_out, H_out, W_out", "(1, 2, 4, 4, 4)",
        "(2, 4, 3, 3, 3)", "(1, 4, 4, 4, 4)", "(1, 4, 9, 9, 9)"),
}
for _nd, (_sp, _ks, _osp, _x, _w, _o, _to) in _EX.items():
    _bw = _w.replace("(2, 4,", "(4, 2,")  # conv weight: (C_out, C_in, ...)
    globals()[f"conv{_nd}d_backward"].__doc__ = _BWD_DOC.format(
        nd=_nd, sp=_sp, ks=_ks, osp=_osp, ex_x=_x, ex_w=_bw)
    globals()[f"conv_transpose{_nd}d"].__doc__ = _TR_DOC.format(
        nd=_nd, sp=_sp, ks=_ks, osp=_osp, ex_x=_x, ex_w=_w, ex_out=_to)
    globals()[f"conv_transpose{_nd}d_backward"].__doc__ = _TRB_DOC.format(
        nd=_nd, sp=_sp, ks=_ks, osp=_osp, ex_x=_x, ex_w=_w)
