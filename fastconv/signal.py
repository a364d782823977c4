"""True (flipped) convolution for signals, images and volumes, SciPy-compatible.

``convolve`` / ``correlate`` compute what ``scipy.signal.convolve`` /
``scipy.signal.correlate`` compute (same shapes, same "same" centring, same
swap rule and errors in "valid" mode), for N-d real and complex arrays, with
``axes=`` like ``scipy.signal.fftconvolve``.  ``filter_nd`` is the
``scipy.ndimage.correlate`` / ``convolve`` equivalent (boundary modes
``reflect``, ``nearest``, ``wrap``, ``mirror``, ``constant``).

The flow of a call::

    convolve / correlate / filter_nd      (this module: normalise once -> _SignalSpec)
      -> plan_signal(...)                 pure cost model: direct | fft | oa | separable
      -> _direct    the layer kernels (fastconv.conv1d/2d/3d, algorithm="direct",
                    compiled Numba/Cython loops) on the flipped kernel; complex
                    data as real/imaginary parts, more than 3 axes by a loop
                    over the leading kernel taps
         _fft       fastconv._fft.conv_window / oa_conv_window (scipy.fft,
                    minimal transform length, overlap-add, fastconv's threads)
         _separable rank-1 kernel (SVD test) -> one 1-D direct pass per axis
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
from dataclasses import dataclass, field

import numpy as np

from . import _fft
from ._spec import _memoised, as_array, check_choice
from .threads import get_num_threads

__all__ = [
    "convolve", "correlate", "filter_nd", "plan_signal", "choose_method", "SignalPlan",
    "separable_factors", "last_plan",
]

MODES = ("full", "valid", "same")
METHODS = ("auto", "direct", "fft", "separable")
ND_MODES = ("reflect", "nearest", "wrap", "mirror", "constant",
            "grid-mirror", "grid-constant", "grid-wrap")
#: scipy.ndimage boundary mode -> np.pad mode.
_ND_PAD = {
    "reflect": "symmetric", "grid-mirror": "symmetric", "nearest": "edge",
    "mirror": "reflect", "wrap": "wrap", "grid-wrap": "wrap",
    "constant": "constant", "grid-constant": "constant",
}

# ---- cost model constants (seconds), measured on the development machine ----
#: direct loop: float64 multiply-adds per second per thread (row axpy of the layer
#: kernel, rows in L1; measured 16-20e9 on 512-wide images, AVX-512); float32 x2
_DIRECT_MAC_RATE = 16e9
#: ... halved when the input rows one output row reads exceed this (L1/L2 spill)
_DIRECT_ROWS_BYTES = 64 * 1024
#: memory traffic of the direct method (read input, write output), bytes per second
_MEM_RATE = 5e9
#: per-call overhead of a direct kernel call / an FFT call
_CALL_OVERHEAD = 15e-6


# ---------------------------------------------------------------------------
# the plan (pure function of shapes)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalPlan:
    """How one ``convolve``/``correlate`` call runs.

    Attributes
    ----------
    method : str
        ``"direct"``, ``"fft"`` or ``"separable"``.
    blocks : tuple of int
        Overlap-add block length per convolution axis (0: the axis is
        transformed whole); all zeros unless ``method == "fft"`` chose overlap-add.
    reason : str
        One sentence: why this method.
    estimates : dict
        The cost model's seconds per eligible method (``"oa"`` is the
        overlap-add variant of ``"fft"``).
    """

    method: str
    blocks: tuple
    reason: str
    estimates: dict = field(default_factory=dict)


def _macs_direct(la, lb, starts, sizes, nbatch):
    """Multiply-adds of the direct method (taps falling outside skipped)."""
    total = nbatch
    for x, y, st, sz in zip(la, lb, starts, sizes, strict=True):
        # number of (output f, tap k) pairs with lo <= f < hi and 0 <= f - k < x,
        # summed over the shorter of the two ranges
        lo, hi = st, st + sz
        if y <= sz:
            k = np.arange(y)
            cnt = np.minimum(hi, k + x) - np.maximum(lo, k)
        else:
            f = np.arange(lo, hi)
            cnt = np.minimum(f, y - 1) - np.maximum(f - x + 1, 0) + 1
        total *= int(np.clip(cnt, 0, None).sum())
    return total


def plan_signal(shape1, shape2, mode="full", *, dtype=np.float64, axes=None,
                method="auto", separable=None, finite=True) -> SignalPlan:
    """Plan ``fastconv.convolve(in1, in2, mode, method, axes)`` from shapes alone.

    The rule ("auto"): estimate the seconds of every eligible method and take
    the cheapest --

    * direct: multiply-adds of the definition (taps outside the input skipped)
      at ``16e9`` per second per thread in float64 (``32e9`` in float32), halved
      when the input rows that one output row reads spill out of L1 (64 KiB),
      plus the memory traffic of reading the input and writing the output;
    * fft: three transforms of the minimal length for the output window
      (``fastconv._fft.window_fft_len``: "valid" and "same" need less than
      ``la + lb - 1``), or overlap-add (many small transforms) when one input is
      much longer than the other (1-D convolutions only: many small transforms
      of a few thousand points, batched over ``workers`` threads);
    * separable: one 1-D direct pass per axis, when the smaller input is rank 1
      (``separable=True``; ``None`` = unknown, not considered).

    FFT is excluded when the data contain NaN or Inf (``finite=False``): it
    would spread them over the whole result, while direct keeps them local.

    Parameters
    ----------
    shape1, shape2 : tuple of int
        Shapes of ``in1`` and ``in2`` (same number of dimensions).
    mode : {"full", "valid", "same"}
    dtype : dtype-like
        Result dtype (complex dtypes cost 4x in direct, 2x in FFT).
    axes : int or sequence of int, optional
    method : {"auto", "direct", "fft", "separable"}
    separable : bool or None
        Whether the kernel is rank 1 (see :func:`separable_factors`).
    finite : bool
        Whether the inputs are free of NaN and Inf.

    Returns
    -------
    SignalPlan

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.plan_signal((512, 512), (3, 3), "same").method
    'direct'
    >>> fc.plan_signal((512, 512), (31, 31), "same").method
    'fft'
    """
    shape1 = tuple(int(s) for s in shape1)
    shape2 = tuple(int(s) for s in shape2)
    check_choice(mode, "mode", MODES)
    check_choice(method, "method", METHODS)
    spec = _spec_from_shapes(shape1, shape2, mode, axes, dtype)
    return _plan(spec, method, separable, finite)


def _fft_shape(spec):
    return tuple(_fft.window_fft_len(x, y, st, sz)
                 for x, y, st, sz in zip(spec.la, spec.lb, spec.starts, spec.sizes, strict=True))


def _plan(spec, method, separable, finite) -> SignalPlan:
    """The plan of ``spec`` at the current thread setting (memoised: a filter
    applied in a loop plans once; small calls would spend more on the cost
    model than on the convolution)."""
    return _plan_memo(spec, method, separable, finite, get_num_threads())


@functools.lru_cache(maxsize=1024)
def _plan_memo(spec, method, separable, finite, threads) -> SignalPlan:
    K = len(spec.conv_axes)
    la, lb = spec.la, spec.lb
    nbatch = math.prod(spec.out_lead)
    cplx = np.dtype(spec.dtype).kind == "c"
    est = {}
    # direct
    macs = _macs_direct(la, lb, spec.starts, spec.sizes, nbatch) if K else nbatch
    cfac = 1.0
    if cplx:
        cfac = 4.0 if (spec.a_complex and spec.b_complex) else 2.0
    nout = max(nbatch * math.prod(spec.sizes), 1)
    rowlen = spec.sizes[-1] if K else 1
    rows = max(nout // max(rowlen, 1), 1)
    par = min(threads, max(rows, rowlen // 256, 1))
    eff = min(1.0, rowlen / 64.0) * 0.8 + 0.2  # short rows vectorise poorly
    item = np.dtype(spec.dtype).itemsize // (2 if cplx else 1)
    rate = _DIRECT_MAC_RATE * (8 / item) * eff
    touched = (lb[-2] if K >= 2 else 1) * (la[-1] if K else 1) * item
    if touched > _DIRECT_ROWS_BYTES:
        rate *= 0.5
    loops = math.prod(lb[:-3]) if K > 3 else 1
    nin = math.prod(spec.a_lead) * math.prod(la)
    est["direct"] = (cfac * macs / (rate * par) + _CALL_OVERHEAD * cfac * loops
                     + cfac * (nin + nout) * item / _MEM_RATE)
    # fft (only when there is something to transform)
    blocks = (0,) * K
    if K and finite:
        real = not cplx
        cf = 1.0  # (fft_seconds already halves real transforms)
        n = tuple(_fft.window_fft_len(x, y, st, sz, real)
                  for x, y, st, sz in zip(la, lb, spec.starts, spec.sizes, strict=True))
        na, nb_ = math.prod(spec.a_lead), math.prod(spec.b_lead)
        tpar = max(1.0, min(threads, max(na, math.prod(n[:-1]) if K > 1 else na)) * 0.8)
        t = cf * (_fft.fft_seconds(n, na, real) * 2 + _fft.fft_seconds(n, nb_, real))
        est["fft"] = t / tpar + 3e-9 * nbatch * math.prod(n) + _CALL_OVERHEAD
        # overlap-add: along axes where in1 is much longer than in2; one
        # candidate transform length per power of two (same index on every axis)
        # (1-D only: measured, 2-D overlap-add with strided block axes loses to
        # one transform of the minimal window length at every size we tried)
        oa_axes = [i for i in range(K) if K == 1 and la[i] > 4 * lb[i]]
        best_oa = None
        for step in range(12):
            ob, n_oa, nblk = [0] * K, list(n), 1
            ok = False
            for i in oa_axes:
                m = 1 << (max(1, (2 * lb[i] - 1).bit_length()) + step)
                nf = _fft.fast_len(m, real)
                blk = nf - lb[i] + 1
                if blk < la[i]:
                    ob[i], n_oa[i] = blk, nf
                    nblk *= -(-la[i] // blk)
                    ok = True
            if not ok:
                break
            t = cf * (_fft.fft_seconds(n_oa, na * nblk, real) * 2
                      + _fft.fft_seconds(n_oa, nb_, real))
            e = (t / max(1.0, min(threads, na * nblk) * 0.8)
                 + 4e-9 * nbatch * nblk * math.prod(n_oa) + 2 * _CALL_OVERHEAD)
            if best_oa is None or e < best_oa[0]:
                best_oa = (e, tuple(ob))
        if best_oa is not None:
            est["oa"] = best_oa[0]
            if best_oa[0] < est["fft"]:
                blocks = best_oa[1]
    # separable
    if separable and K > 1:
        m = nbatch * cfac
        cur = list(la)
        sep = 0.0
        for i in range(K):
            cur[i] = spec.sizes[i]
            sep += (m * math.prod(cur) * lb[i] / (rate * par) + _CALL_OVERHEAD
                    + m * math.prod(cur) * 2 * item / _MEM_RATE)
        est["separable"] = sep
    if method != "auto":
        return SignalPlan(method, blocks if method == "fft" else (0,) * K,
                          f"method={method!r} was requested explicitly.", est)
    cands = {k: v for k, v in est.items() if k != "oa"}
    if "oa" in est and blocks != (0,) * K:
        cands["fft"] = est["oa"]
    best = min(cands, key=cands.get)
    if best == "direct":
        why = ("direct: the kernel is small enough that the loop of the definition "
               f"({macs:.3g} multiply-adds) beats transforms")
        if not finite and K:
            why += " (FFT excluded: the data contain NaN or Inf)"
    elif best == "fft":
        if blocks != (0,) * K:
            why = (f"fft, overlap-add with blocks {blocks}: one input is much longer "
                   "than the other, so many small transforms beat one large one")
        else:
            why = ("fft: the kernel is large, transforms of shape "
                   f"{_fft_shape(spec)} "
                   "cost less than the direct loop")
    else:
        why = "separable: the kernel is rank 1, so one 1-D pass per axis is cheapest"
    return SignalPlan(best, blocks if best == "fft" else (0,) * K, why + ".", est)


# ---------------------------------------------------------------------------
# the one normalisation step
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _SignalSpec:
    """A normalised convolve call; shapes after the "valid" swap.

    ``conv_axes`` are the axes (of the original arrays) convolved; every other
    axis broadcasts (NumPy rules).  ``la``/``lb`` are the lengths of ``in1``/
    ``in2`` on the convolution axes, ``starts``/``sizes`` the window of the full
    convolution that the mode keeps, ``out_shape`` the result's shape.
    """

    ndim: int
    shape1: tuple
    shape2: tuple
    swap: bool
    conv_axes: tuple
    lead_axes: tuple
    la: tuple
    lb: tuple
    a_lead: tuple
    b_lead: tuple
    out_lead: tuple
    starts: tuple
    sizes: tuple
    out_shape: tuple
    b_lead_index: tuple  # "same" mode: which in2 index a length-1 in1 lead axis keeps
    dtype: np.dtype
    a_complex: bool = False
    b_complex: bool = False


def _swap_needed(mode, s1, s2, axes):
    if mode != "valid" or not s1:
        return False
    ok1 = all(s1[i] >= s2[i] for i in axes)
    ok2 = all(s2[i] >= s1[i] for i in axes)
    if not (ok1 or ok2):
        raise ValueError(
            "For 'valid' mode, one must be at least as large as the other in every "
            f"dimension: in1 has shape {s1}, in2 has shape {s2}"
            + (f" (convolution axes {tuple(axes)})" if len(axes) != len(s1) else "")
        )
    return not ok1


def _norm_axes(axes, ndim):
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = [axes]
    try:
        axes = [int(a) for a in axes]
    except TypeError:
        raise TypeError(f"axes must be an int or a sequence of ints, got {axes!r}") from None
    if not axes:
        raise ValueError("when provided, axes cannot be empty")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axes={tuple(axes)} out of range for arrays with {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"all axes must be unique, got axes={tuple(axes)}")
    return out


@_memoised
def _spec_from_shapes(s1, s2, mode, axes, dtype, a_complex=None, b_complex=None):
    nd = len(s1)
    if len(s2) != nd:
        raise ValueError(
            f"in1 and in2 should have the same dimensionality, got in1.ndim={nd} "
            f"(shape {s1}) and in2.ndim={len(s2)} (shape {s2})"
        )
    if axes is None:
        cand = list(range(nd))
        swap = _swap_needed(mode, s1, s2, cand)
        if swap:
            s1, s2 = s2, s1
    else:
        cand = _norm_axes(axes, nd)
        cand = [a for a in cand if s1[a] != 1 and s2[a] != 1]
        for a in range(nd):
            if a not in cand and not (s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1):
                raise ValueError(
                    f"incompatible shapes for in1 and in2: {s1} and {s2} (axis {a} is "
                    "not convolved, so its lengths must match or one must be 1)"
                )
        swap = _swap_needed(mode, s1, s2, cand)
        if swap:
            s1, s2 = s2, s1
    # length-1 axes convolve as a broadcast product: treat them as lead axes
    conv = tuple(a for a in cand if s1[a] != 1 and s2[a] != 1)
    lead = tuple(a for a in range(nd) if a not in conv)
    la = tuple(s1[a] for a in conv)
    lb = tuple(s2[a] for a in conv)
    a_lead = tuple(s1[a] for a in lead)
    b_lead = list(s2[a] for a in lead)
    b_idx = [None] * len(lead)
    if mode == "same":
        for j, a in enumerate(lead):
            if s1[a] == 1 and s2[a] > 1:
                b_idx[j] = (s2[a] - 1) // 2
                b_lead[j] = 1
    b_lead = tuple(b_lead)
    out_lead = tuple(max(x, y) for x, y in zip(a_lead, b_lead, strict=True))
    if mode == "full":
        starts = (0,) * len(conv)
        sizes = tuple(x + y - 1 for x, y in zip(la, lb, strict=True))
    elif mode == "same":
        starts = tuple((y - 1) // 2 for y in lb)
        sizes = la
    else:
        starts = tuple(y - 1 for y in lb)
        sizes = tuple(x - y + 1 for x, y in zip(la, lb, strict=True))
    out_shape = [0] * nd
    for a, n in zip(lead, out_lead, strict=True):
        out_shape[a] = n
    for a, n in zip(conv, sizes, strict=True):
        out_shape[a] = n
    dt = np.dtype(dtype)
    if a_complex is None:
        a_complex = b_complex = dt.kind == "c"
    return _SignalSpec(
        ndim=nd, shape1=tuple(s1), shape2=tuple(s2), swap=swap, conv_axes=conv,
        lead_axes=lead, la=la, lb=lb, a_lead=a_lead, b_lead=b_lead, out_lead=out_lead,
        starts=starts, sizes=sizes, out_shape=tuple(out_shape), b_lead_index=tuple(b_idx),
        dtype=dt, a_complex=bool(a_complex), b_complex=bool(b_complex),
    )


def _compute_dtype(rtype):
    """(compute dtype, result dtype) for SciPy's result type ``rtype``."""
    rtype = np.dtype(rtype)
    if rtype.kind == "c":
        return (np.dtype(np.complex64) if rtype == np.complex64 else np.dtype(np.complex128)), rtype
    if rtype == np.float32:
        return np.dtype(np.float32), rtype
    if rtype == np.float16:
        return np.dtype(np.float32), rtype
    return np.dtype(np.float64), rtype


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------
def convolve(in1, in2, mode: str = "full", method: str = "auto", axes=None) -> np.ndarray:
    """N-dimensional convolution, equal to ``scipy.signal.convolve``.

    Parameters
    ----------
    in1, in2 : array_like
        Inputs with the same number of dimensions; real or complex.
    mode : {"full", "valid", "same"}
        "full": the whole linear convolution (``l1 + l2 - 1`` per axis);
        "same": the shape of ``in1``, centred like SciPy; "valid": positions
        where the inputs overlap completely -- one input must be at least as
        large as the other on every axis (they are swapped if ``in2`` is the
        larger, as SciPy does).
    method : {"auto", "direct", "fft", "separable"}
        "auto" runs :func:`plan_signal`'s choice. "direct": the compiled
        loops (exact NaN/Inf propagation); "fft": FFT (overlap-add when one
        input is much longer); "separable": the smaller input must be rank 1.
    axes : int or sequence of int, optional
        Axes to convolve over (default all), as in ``scipy.signal.fftconvolve``:
        the other axes broadcast (equal lengths, or one of them 1).

    Returns
    -------
    ndarray
        dtype ``np.result_type(in1, in2)``, as SciPy (integer results are
        rounded).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.convolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> fc.convolve(np.ones((4, 4)), np.ones((2, 2)), mode="valid").shape
    (3, 3)
    """
    return _signal(in1, in2, mode, method, axes, False)


def correlate(in1, in2, mode: str = "full", method: str = "auto", axes=None) -> np.ndarray:
    """N-dimensional cross-correlation, equal to ``scipy.signal.correlate``.

    ``correlate(in1, in2) == convolve(in1, conj(in2) reversed on the axes)``;
    the arguments are those of :func:`convolve`.

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    return _signal(in1, in2, mode, method, axes, True)


def _signal(in1, in2, mode, method, axes, corr):
    check_choice(mode, "mode", MODES)
    check_choice(method, "method", METHODS)
    a = as_array(in1, "in1")
    b = as_array(in2, "in2")
    if a.ndim == 0 and b.ndim == 0:
        return a * (np.conj(b) if corr else b)
    if a.ndim != b.ndim:
        raise ValueError(
            f"in1 and in2 should have the same dimensionality, got in1.ndim={a.ndim} "
            f"(shape {a.shape}) and in2.ndim={b.ndim} (shape {b.shape})"
        )
    rtype = np.result_type(a, b)
    if a.size == 0 or b.size == 0:
        return np.zeros(0, rtype)
    if corr:
        rax = range(a.ndim) if axes is None else _norm_axes(axes, a.ndim)
        b = b[tuple(slice(None, None, -1) if i in rax else slice(None) for i in range(b.ndim))]
        if b.dtype.kind == "c":
            b = np.conj(b)
    cdt, rdt = _compute_dtype(rtype)
    spec = _spec_from_shapes(a.shape, b.shape, mode, axes, cdt,
                             a.dtype.kind == "c", b.dtype.kind == "c")
    if spec.swap:
        a, b = b, a
    out = _run(spec, a, b, method)
    if rdt.kind in "iub":
        if rdt.kind != "b":
            out = np.rint(out)
        return out.astype(rdt)
    return out.astype(rdt, copy=False)


def _canon(spec, a, b):
    """Move the convolution axes last; ``b``'s "same"-mode lead selection."""
    if any(i is not None for i in spec.b_lead_index):
        sl = [slice(None)] * spec.ndim
        for ax, i in zip(spec.lead_axes, spec.b_lead_index, strict=True):
            if i is not None:
                sl[ax] = slice(i, i + 1)
        b = b[tuple(sl)]
    order = spec.lead_axes + spec.conv_axes
    return a.transpose(order), b.transpose(order)


def _uncanon(spec, y):
    """Inverse of :func:`_canon` for the result."""
    order = spec.lead_axes + spec.conv_axes
    inv = np.argsort(order)
    return y.transpose(inv)


def _run(spec, a, b, method, plan=None):
    a = np.asarray(a)
    b = np.asarray(b)
    cdt = spec.dtype
    K = len(spec.conv_axes)
    ac, bc = _canon(spec, a, b)
    if K == 0:  # everything broadcasts: a plain product
        y = ac.astype(cdt, copy=False) * bc.astype(cdt, copy=False)
        return np.ascontiguousarray(_uncanon(spec, y))
    factors = None
    sep_known = None
    if method == "auto" and K > 1 and _plan(spec, "auto", True, True).method == "direct":
        sep_known = False  # direct wins even over a rank-1 kernel: no need to look
    elif method in ("separable", "auto") and K > 1:
        factors, which = _find_separable(spec, ac, bc)
        sep_known = factors is not None
        if method == "separable" and factors is None:
            raise ValueError(
                "method='separable' cannot serve this case: neither in1 (shape "
                f"{spec.shape1}) nor in2 (shape {spec.shape2}) is separable (rank 1 "
                "over the convolution axes, without extent on the other axes)"
            )
    elif method == "separable":
        raise ValueError(
            "method='separable' needs at least 2 convolution axes longer than 1, "
            f"got shapes {spec.shape1} and {spec.shape2}"
        )
    finite = True
    if method == "auto":
        pre = _plan(spec, "auto", sep_known, True)
        if pre.method == "fft":
            finite = bool(np.isfinite(ac).all() and np.isfinite(bc).all())
            plan = pre if finite else _plan(spec, "auto", sep_known, False)
        else:
            plan = pre
    elif plan is None:
        plan = _plan(spec, method, sep_known, True)
    _last.plan = plan
    if plan.method == "direct":
        y = _direct(ac, bc, spec.starts, spec.sizes, cdt)
    elif plan.method == "fft":
        if any(plan.blocks):
            y = _fft.oa_conv_window(ac, bc, spec.starts, spec.sizes, plan.blocks)
        else:
            y = _fft.conv_window(ac, bc, spec.starts, spec.sizes)
    else:
        y = _separable(ac if which == "b" else bc, factors, spec.starts, spec.sizes, cdt)
    y = y.reshape(spec.out_lead + tuple(spec.sizes))
    return np.ascontiguousarray(_uncanon(spec, y))


_last = threading.local()


def last_plan() -> SignalPlan | None:
    """The plan of the last ``convolve``/``correlate``/``filter_nd`` call made by
    this Python thread (for tests and tuning).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> from fastconv.signal import last_plan
    >>> _ = fc.convolve(np.ones(100), np.ones(3))
    >>> last_plan().method
    'direct'
    """
    return getattr(_last, "plan", None)


def choose_method(in1, in2, mode: str = "full", axes=None, measure: bool = False):
    """The method ``convolve(in1, in2, mode, method="auto", axes)`` runs.

    Like ``scipy.signal.choose_conv_method``: looks at the data only to know
    whether the kernel is rank 1 (separable) and whether NaN/Inf are present.
    With ``measure=True`` every eligible method is timed on the data instead
    (best of 3 runs after a warm-up) and ``(fastest method, {method: seconds})``
    is returned.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.choose_method(np.zeros((512, 512)), np.ones((41, 41)), "same")
    'separable'
    >>> best, times = fc.choose_method(np.zeros(64), np.ones(5), measure=True)
    >>> sorted(times)
    ['direct', 'fft']
    """
    if measure:
        import time

        a = as_array(in1, "in1")
        b = as_array(in2, "in2")
        times = {}
        for m in ("direct", "fft", "separable"):
            try:
                convolve(a, b, mode, m, axes)
            except ValueError:
                continue  # the method cannot serve this case
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                convolve(a, b, mode, m, axes)
                best = min(best, time.perf_counter() - t0)
            times[m] = best
        return min(times, key=times.get), times
    a = as_array(in1, "in1")
    b = as_array(in2, "in2")
    cdt, _ = _compute_dtype(np.result_type(a, b))
    spec = _spec_from_shapes(a.shape, b.shape, mode, axes, cdt,
                             a.dtype.kind == "c", b.dtype.kind == "c")
    if spec.swap:
        a, b = b, a
    ac, bc = _canon(spec, a, b)
    K = len(spec.conv_axes)
    sep = (_find_separable(spec, ac, bc)[0] is not None) if K > 1 else None
    p = _plan(spec, "auto", sep, True)
    if p.method == "fft" and not (np.isfinite(ac).all() and np.isfinite(bc).all()):
        p = _plan(spec, "auto", sep, False)
    return p.method


# ---------------------------------------------------------------------------
# direct: the compiled layer kernels
# ---------------------------------------------------------------------------
#: A 1-D direct convolution of two plain vectors with at most this many
#: multiply-adds (and this many samples each) runs through ``numpy.convolve``:
#: its C loop starts in ~2 us where the layer kernels' path costs ~30 us, and for
#: such sizes it finishes first (measured: 1000 x 64 in 17 us, 10000 x 5 in 20 us;
#: 10000 x 31 took 380 us there against 94 us through the layer kernels).
_NP_CONVOLVE_MACS = 1 << 16
_NP_CONVOLVE_LEN = 4096


def _direct(a, b, starts, sizes, cdt):
    """Window of the full convolution, conv axes last, leads broadcasting.

    Complex data are split into real and imaginary parts carried on an extra
    lead axis, so every product is a real convolution of the layer kernels.
    """
    cdt = np.dtype(cdt)
    if cdt.kind != "c":
        rdt = cdt
        if (a.ndim == 1 and b.ndim == 1 and a.size * b.size <= _NP_CONVOLVE_MACS
                and max(a.size, b.size) <= _NP_CONVOLVE_LEN):
            full = np.convolve(a.astype(rdt, copy=False), b.astype(rdt, copy=False))
            return full[starts[0]:starts[0] + sizes[0]]
        return _direct_real(a.astype(rdt, copy=False), b.astype(rdt, copy=False),
                            starts, sizes)
    rdt = np.dtype(np.float32 if cdt == np.complex64 else np.float64)
    ac, bc = a.dtype.kind == "c", b.dtype.kind == "c"
    if ac and bc:
        a2 = np.stack([a.real, a.imag]).astype(rdt, copy=False)[:, None]
        b2 = np.stack([b.real, b.imag]).astype(rdt, copy=False)[None, :]
        o = _direct_real(a2, b2, starts, sizes)
        return (o[0, 0] - o[1, 1]) + 1j * (o[0, 1] + o[1, 0])
    if ac:
        a2 = np.stack([a.real, a.imag]).astype(rdt, copy=False)
        o = _direct_real(a2, b.real.astype(rdt, copy=False)[None], starts, sizes)
    else:
        b2 = np.stack([b.real, b.imag]).astype(rdt, copy=False)
        o = _direct_real(a.astype(rdt, copy=False)[None], b2, starts, sizes)
    return o[0] + 1j * o[1]


def _direct_real(a, b, starts, sizes):
    """Real direct convolution window; K conv axes last; leads broadcast."""
    K = len(starts)
    if K > 3:
        return _direct_loop(a, b, starts, sizes)
    lead_a = a.shape[:a.ndim - K]
    lead_b = b.shape[:b.ndim - K]
    # (the spec checked that the leads broadcast; NumPy's helper costs ~3 us)
    lead_o = tuple(p if q == 1 else q for p, q in zip(lead_a, lead_b, strict=True))
    la, lb = a.shape[a.ndim - K:], b.shape[b.ndim - K:]
    # lead axes: x-only (b has 1), shared (equal), b-only (a has 1)
    L = len(lead_o)
    xa = [i for i in range(L) if lead_a[i] > 1 and lead_b[i] == 1]
    sh = [i for i in range(L) if lead_a[i] > 1 and lead_b[i] > 1]
    hb = [i for i in range(L) if lead_a[i] == 1 and lead_b[i] > 1]
    ones = [i for i in range(L) if lead_a[i] == 1 and lead_b[i] == 1]
    order = xa + sh + hb + ones
    N = math.prod(lead_o[i] for i in xa)
    G = math.prod(lead_o[i] for i in sh)
    Ho = math.prod(lead_o[i] for i in hb)
    perm = order + list(range(L, L + K))
    x = a.transpose(perm).reshape((N, G) + la)
    w = b.transpose(perm).reshape((G * Ho, 1) + lb)
    w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * K]  # flip: true convolution
    # correlation with the flipped kernel: output o reads x[o + st - (lb - 1) + j]
    pad, crop = [], []
    for x_, y, st, sz in zip(la, lb, starts, sizes, strict=True):
        before = y - 1 - st
        c0 = max(0, -before)  # negative padding: crop the input instead
        before = max(0, before)
        after = sz - (x_ - c0) - before + y - 1
        c1 = x_ + min(0, after)
        pad.append((before, max(0, after)))
        crop.append(slice(c0, c1))
    if any(c != slice(0, n) for c, n in zip(crop, la, strict=True)):
        x = x[(slice(None), slice(None)) + tuple(crop)]
    from . import conv as _conv

    f = (_conv.conv1d, _conv.conv2d, _conv.conv3d)[K - 1]
    y = f(x, w, padding=tuple(pad), groups=G, algorithm="direct")
    # y: (N, G * Ho, *sizes) -> lead axes in ``order``, then back
    y = y.reshape([lead_o[i] for i in xa + sh + hb] + [1] * len(ones) + list(sizes))
    inv = sorted(range(len(perm)), key=perm.__getitem__)
    return y.transpose(inv)


def _direct_loop(a, b, starts, sizes):
    """More than 3 convolution axes: loop over the taps of the first one and
    accumulate (K-1)-axis convolutions of the matching input slabs."""
    K = len(starts)
    la0, lb0 = a.shape[a.ndim - K], b.shape[b.ndim - K]
    st, n = starts[0], sizes[0]
    lead_o = np.broadcast_shapes(a.shape[:a.ndim - K], b.shape[:b.ndim - K])
    out = None
    for t in range(lb0):
        # output o reads a[o + st - t]
        o0, o1 = max(0, t - st), min(n, t - st + la0)
        if o0 >= o1:
            continue
        xa = np.moveaxis(a, a.ndim - K, a.ndim - K)  # conv axis 0 becomes a lead axis
        xs = xa[(Ellipsis, slice(o0 + st - t, o1 + st - t)) + (slice(None),) * (K - 1)]
        hb = b[(Ellipsis, slice(t, t + 1)) + (slice(None),) * (K - 1)]
        part = _direct_real(xs, hb, starts[1:], sizes[1:])
        if out is None:
            out = np.zeros(lead_o + (n,) + tuple(sizes[1:]), part.dtype)
        out[(Ellipsis, slice(o0, o1)) + (slice(None),) * (K - 1)] += part
    if out is None:
        out = np.zeros(lead_o + (n,) + tuple(sizes[1:]), np.result_type(a, b))
    return out


# ---------------------------------------------------------------------------
# separable
# ---------------------------------------------------------------------------
def separable_factors(kernel, rtol=None):
    """1-D factors of a rank-1 N-d kernel, or None.

    ``kernel ≈ outer(f[0], f[1], ...)`` within ``rtol * ||kernel||`` (Frobenius;
    default ``100 * eps`` of the kernel's precision).  A cheap O(size) screen
    (outer product of the fibres through the largest entry) rejects most
    kernels; the survivors are confirmed, and their factors computed, by an
    SVD of the kernel's unfolding along every axis.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> f = fc.separable_factors(np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]))
    >>> np.allclose(np.outer(*f), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    True
    >>> fc.separable_factors(np.eye(3)) is None
    True
    """
    k = np.asarray(kernel)
    if k.ndim < 1 or k.size == 0:
        return None
    single = k.dtype in (np.float32, np.complex64, np.float16)
    if rtol is None:
        rtol = 100 * np.finfo(np.float32 if single else np.float64).eps
    k = k.astype(np.complex128 if k.dtype.kind == "c" else np.float64)
    if not np.isfinite(k).all():
        return None
    norm = np.linalg.norm(k)
    if norm == 0:
        return [np.zeros(s, k.dtype) for s in k.shape]
    # Cheap screen, O(size): a rank-1 tensor equals the outer product of its
    # fibres through its largest entry (divided by that entry^(ndim-1)).
    piv = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    fib = [k[piv[:ax] + (slice(None),) + piv[ax + 1:]] for ax in range(k.ndim)]
    cand = fib[0]
    for v in fib[1:]:
        cand = np.multiply.outer(cand, v)
    cand = cand / k[piv] ** (k.ndim - 1)
    if np.linalg.norm(k - cand) > 10 * rtol * norm:
        return None
    # Rank 1: the best factors are the leading singular vectors of the
    # unfoldings (SVD), scaled by <kernel, outer(factors)>.
    vs = []
    for ax in range(k.ndim):
        m = np.moveaxis(k, ax, 0).reshape(k.shape[ax], -1)
        u, sv, _ = np.linalg.svd(m, full_matrices=False)
        if len(sv) > 1 and sv[1] > rtol * sv[0]:
            return None
        vs.append(u[:, 0])
    rank1 = vs[0]
    for v in vs[1:]:
        rank1 = np.multiply.outer(rank1, v)
    c = np.vdot(rank1, k)  # <rank1, k>, rank1 has unit norm
    if np.linalg.norm(k - c * rank1) > rtol * norm * 10:
        return None
    if k.dtype.kind != "c":
        c = c.real
        for i in range(1, len(vs)):  # make the later factors' largest entry positive
            if vs[i][np.argmax(np.abs(vs[i]))] < 0:
                vs[i] = -vs[i]
                c = -c
    vs[0] = vs[0] * c
    return vs


def _find_separable(spec, ac, bc):
    """(factors, which operand they came from) or (None, None).  Only an
    operand without extent on the lead axes qualifies."""
    K = len(spec.conv_axes)
    for which, arr, lead in (("b", bc, spec.b_lead), ("a", ac, spec.a_lead)):
        if math.prod(lead) != 1:
            continue
        core = arr.reshape(arr.shape[arr.ndim - K:])
        if which == "a" and core.size > bc.size:
            continue
        f = separable_factors(core)
        if f is not None:
            return f, which
    return None, None


def _separable(x, factors, starts, sizes, cdt):
    """One 1-D direct pass per convolution axis (each pass keeps its window)."""
    K = len(starts)
    lead = x.shape[:x.ndim - K]
    y = x
    for i in range(K):
        shp = y.shape
        pre = shp[:len(lead) + i]
        post = math.prod(shp[len(lead) + i + 1:])
        v = factors[i]
        if post > 1:
            yi = y.reshape(pre + (shp[len(lead) + i], post))
            vi = v.reshape((1,) * len(pre) + (v.size, 1))
            r = _direct(yi, vi, (starts[i], 0), (sizes[i], post), cdt)
        else:
            yi = y.reshape(pre + (shp[len(lead) + i],))
            vi = v.reshape((1,) * len(pre) + (v.size,))
            r = _direct(yi, vi, (starts[i],), (sizes[i],), cdt)
        y = r.reshape(pre + (sizes[i],) + shp[len(lead) + i + 1:])
    return y


# ---------------------------------------------------------------------------
# ndimage-style filtering with boundary modes
# ---------------------------------------------------------------------------
def filter_nd(input, weights, mode: str = "reflect", cval: float = 0.0, origin=0, *,
              convolve: bool = False, method: str = "auto") -> np.ndarray:
    """Correlate (or convolve) an N-d array with a kernel, with image boundary
    handling: ``scipy.ndimage.correlate`` / ``scipy.ndimage.convolve`` semantics.

    The result has ``input``'s shape; each output element is the kernel
    applied around the corresponding input element (kernel centre
    ``k // 2 + origin`` per axis), the input being extended beyond its edges
    according to ``mode``.

    Parameters
    ----------
    input : array_like
    weights : array_like
        Kernel with ``input.ndim`` dimensions.
    mode : {"reflect", "nearest", "wrap", "mirror", "constant"}
        Extension past the edges (``abcd`` is the input):
        ``reflect`` ``dcba|abcd|dcba`` (half-sample symmetric), ``mirror``
        ``dcb|abcd|cba`` (whole-sample), ``nearest`` ``aaaa|abcd|dddd``,
        ``wrap`` ``abcd|abcd|abcd``, ``constant`` ``kkkk|abcd|kkkk`` with
        ``k = cval``.  SciPy's aliases ``grid-mirror`` (= reflect),
        ``grid-constant`` and ``grid-wrap`` are accepted too.
    cval : float
        Fill value of ``mode="constant"``.
    origin : int or sequence of int
        Shift of the kernel centre per axis (SciPy's sign convention).
    convolve : bool
        True: flip the kernel (``scipy.ndimage.convolve``).
    method : {"auto", "direct", "fft", "separable"}
        As in :func:`convolve`.

    Returns
    -------
    ndarray
        Same shape and dtype as ``input``, like SciPy (integer inputs: the
        float result truncated toward zero, as SciPy's cast does; complex
        weights on a real input give a complex result).  Complex weights are
        conjugated by the correlation, not by the convolution, as in SciPy.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.filter_nd(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    array([ 4.,  6.,  9., 11.])
    """
    check_choice(mode, "mode", ND_MODES)
    check_choice(method, "method", METHODS)
    x = as_array(input, "input")
    w = as_array(weights, "weights")
    if w.ndim != x.ndim:
        raise ValueError(
            f"weights must have the same number of dimensions as input ({x.ndim}), "
            f"got weights.shape={w.shape} and input.shape={x.shape}"
        )
    if any(s < 1 for s in w.shape):
        raise ValueError(f"weights must not be empty, got shape {w.shape}")
    nd = x.ndim
    if isinstance(origin, numbers.Integral) and not isinstance(origin, bool):
        origins = [int(origin)] * nd
    else:
        origins = [int(o) for o in origin]
        if len(origins) != nd:
            raise ValueError(f"origin must be an int or have {nd} entries, got {origin!r}")
    if convolve:
        w = w[(slice(None, None, -1),) * nd]
        if w.dtype.kind == "c":  # correlate() conjugates; a convolution must not
            w = np.conj(w)
        origins = [-o - (1 - (k & 1)) for o, k in zip(origins, w.shape, strict=True)]
    pads = []
    for k, o, orig in zip(w.shape, origins, origins, strict=True):
        if not (0 <= k // 2 + o < k):
            raise ValueError(f"invalid origin {orig!r} for a kernel of length {k}")
        before = k // 2 + o
        pads.append((before, k - 1 - before))
    rtype = np.result_type(x, w)
    if x.size == 0:
        return np.zeros(x.shape, x.dtype)
    cdt, _ = _compute_dtype(rtype)
    xs = x
    if xs.dtype.kind in "iub":
        xs = xs.astype(np.float64)
    npmode = _ND_PAD[mode]
    if npmode == "constant":
        xp = np.pad(xs, pads, mode="constant", constant_values=cval)
    else:
        xp = np.pad(xs, pads, mode=npmode)
    out = correlate(xp, w, mode="valid", method=method)
    if x.dtype.kind in "iu":  # SciPy casts the float result: truncation toward 0
        out = np.trunc(out.real if out.dtype.kind == "c" else out)
        return out.astype(x.dtype)
    if x.dtype.kind == "b":
        return out.astype(x.dtype)
    if out.dtype.kind == "c" and x.dtype.kind != "c":  # complex weights: complex result
        return out.astype(np.result_type(x.dtype, np.complex64), copy=False)
    return out.astype(x.dtype, copy=False)
