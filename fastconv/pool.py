"""Pooling: max, average, sum, Lp, Gaussian-weighted, adaptive, unpool, channel max.

Each public function is a thin wrapper: normalise once (``_spec.pool_spec``),
plan (:func:`plan_pool`: which compiled kernels of which backend, how many
threads, whether the output is streamed past the cache), convert the input
once to C-contiguous ``(N * C, D, H, W)`` planes of the compute dtype, run the
planned kernels (found through ``kernels.get(backend, "pool", name)``),
deliver the result (into ``out=`` when given).

Every operator exists in 1-D, 2-D and 3-D (``max_pool1d``, ``max_pool2d``, ...)
and has an explicit backward (``max_pool2d_backward(grad_output, x, ...)``)
taking the forward's arguments after ``grad_output, x`` and returning the
gradient with respect to ``x``.  ``backend="auto"`` (keyword-only, every
function) runs the Cython/OpenMP kernels when built, else Numba.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import _config, kernels
from ._alloc import empty_result
from ._spec import (
    PoolSpec,
    adaptive_out_size,
    adaptive_windows,
    as_array,
    call_memoised,
    check_choice,
    check_out,
    freeze,
    int_tuple,
    parse_padding,
    pool_batched,
    pool_dtypes,
    pool_spec,
    pool_window_taps,
    to_compute,
    unpool_out_size,
)
from .threads import get_num_threads

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    Size = int | tuple[int, ...]
    Padding = int | str | tuple[int, ...] | tuple[tuple[int, int], ...]

POOL_BACKENDS = ("auto", "numba", "cython")
#: Below this many elements touched (input + output x taps) a call runs on one thread.
PARALLEL_MIN_ELEMENTS = 1 << 16
#: Results of at least this many bytes (``_config.STREAM_MIN_BYTES``) are written
#: with non-temporal (streaming) stores by the kernels that gain from it (the max
#: pooling backward, Cython): no read-for-ownership of the result, but it ends up
#: in memory instead of the cache.  Measured here (2 threads, 25.7 MB gradient,
#: (8, 64, 112, 112)): max_pool2d_backward 2x2 1.10 -> 0.87 ms, 3x3/2 1.83 -> 1.62
#: ms.  The forward kernels and the index scatter were measured slower when
#: streamed, so they never do.
STREAM_MIN_BYTES = _config.STREAM_MIN_BYTES
#: Memory bandwidth one thread sustains on pooling (bytes/s, measured on the
#: development machine: ~28 GB/s per core from L3); the plans' time estimate.
BANDWIDTH_PER_THREAD = 27e9
#: Fixed cost of a call (validation, planning, one parallel region), seconds.
CALL_OVERHEAD = 10e-6

_cython_ok: bool | None = None


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolPlan:
    """How one pooling call runs: what :func:`plan_pool` returns and what the
    pooling function with the same arguments executes.

    Attributes
    ----------
    op : str
        The public function, e.g. ``"max_pool2d_backward"``.
    kernels : tuple of str
        The compiled kernels run, in order (names in ``fastconv.kernels.<backend>.pool``;
        ``"take_along_axis"`` for ``max_unpool*d_backward``, which is NumPy's).
    backend : str
        ``"cython"`` or ``"numba"`` (``"numpy"`` for ``max_unpool*d_backward``).
    threads : int
        Threads the kernels use (1 below :data:`PARALLEL_MIN_ELEMENTS`).
    bytes_moved : int
        Bytes the kernels read and write (input, gradient, indices, result) in the
        compute dtype -- pooling is memory-bound, this is its cost.
    streaming : bool
        The result is written with non-temporal stores (it is at least
        :data:`STREAM_MIN_BYTES` and the kernel supports it).
    reason : str
        One sentence: what runs and why.
    estimated_seconds : float
        ``bytes_moved`` at :data:`BANDWIDTH_PER_THREAD` per thread, plus a call overhead.
    """

    op: str
    kernels: tuple[str, ...]
    backend: str
    threads: int
    bytes_moved: int
    streaming: bool
    reason: str
    estimated_seconds: float
    spec: PoolSpec | None = field(default=None, repr=False, compare=False)
    args: tuple = field(default=(), repr=False, compare=False)


_last = threading.local()


def last_plan() -> PoolPlan | None:
    """The plan of the last pooling call executed by this Python thread."""
    return getattr(_last, "plan", None)


def _record(plan: PoolPlan) -> PoolPlan:
    _last.plan = plan
    return plan


_planners: list = []


def _memoised(fn):
    """Memoise a planner: its arguments are shapes, dtypes and small Python values
    and a layer calls it with the same ones every step (the plan, its geometry and
    its weight/scale arrays are built once).  Lists are memoised as tuples, other
    unhashable arguments skip the memo; errors are never cached.
    :func:`_clear_plans` empties every memo."""
    cached = functools.lru_cache(maxsize=4096)(fn)
    _planners.append(cached)

    @functools.wraps(fn)
    def wrapper(*args):
        return call_memoised(cached, fn, args)

    return wrapper


def _clear_plans() -> None:
    """Forget every memoised plan (after changing a module setting such as
    :data:`STREAM_MIN_BYTES`)."""
    for c in _planners:
        c.cache_clear()


def _backend(backend) -> str:
    """``backend`` argument -> "cython" or "numba" (auto: Cython when built, no JIT)."""
    global _cython_ok
    check_choice(backend, "backend", POOL_BACKENDS)
    if backend in ("auto", "cython"):
        if _cython_ok is None:
            try:
                kernels.get("cython", "pool", "max_pool")
                _cython_ok = True
            except ImportError:
                _cython_ok = False
        if backend == "cython" and not _cython_ok:
            raise ValueError(
                "backend='cython' is not available: the compiled extension "
                "fastconv.kernels.cython.pool is missing (reinstall with `pip install .`)"
            )
        return "cython" if _cython_ok else "numba"
    return backend


def _kernel(backend: str, name: str):
    return kernels.get(backend, "pool", name)


def _nthreads(work: int, threads: int) -> int:
    return 1 if work < PARALLEL_MIN_ELEMENTS else threads


def _mb(n: int) -> str:
    return f"{n / 1e6:.3g} MB"


def _make_plan(op, kern, be, threads, nbytes, out_bytes, stream_ok, what, spec=None,
               args=()) -> PoolPlan:
    """A plan; ``threads``: (threads used, threads requested); ``stream_ok``: the
    kernel can stream its ``out_bytes`` result."""
    threads, requested = threads
    small = threads < requested
    streaming = bool(stream_ok and be == "cython" and out_bytes >= STREAM_MIN_BYTES)
    how = (f"{threads} threads" if threads > 1 else
           "1 thread (too small to split)" if small else "1 thread")
    store = ("result streamed past the cache (non-temporal stores)" if streaming
             else "result written through the cache")
    reason = (f"{what}: memory-bound, {_mb(nbytes)} moved by {'+'.join(kern)} ({be}) on "
              f"{how}, {store}.")
    est = CALL_OVERHEAD + nbytes / (BANDWIDTH_PER_THREAD * threads)
    return PoolPlan(op=op, kernels=tuple(kern), backend=be, threads=threads,
                    bytes_moved=int(nbytes), streaming=streaming, reason=reason,
                    estimated_seconds=est, spec=spec, args=tuple(args))


def plan_pool(op: str, x_shape, *args, dtype="float32", grad_dtype=None,
              backend: str = "auto", **kwargs) -> PoolPlan:
    """Plan a pooling call from shapes alone: which compiled kernels of which
    backend run, on how many threads, how many bytes they move, and why.

    The pooling functions run exactly the plan this returns for the same
    arguments (:func:`fastconv.pool.last_plan` shows the plan of the last call).

    Parameters
    ----------
    op : str
        The pooling function's name: ``"max_pool2d"``, ``"avg_pool3d_backward"``,
        ``"adaptive_avg_pool2d"``, ``"max_unpool1d"``, ``"channel_max_pool"``, ... (any
        name in ``fastconv.pool.__all__``).
    x_shape : tuple of int
        Shape of the function's ``x``.
    *args, **kwargs
        The function's other arguments, in its order and with its names, without its
        arrays (``grad_output``, ``x``, ``max_unpool``'s ``indices``) and ``out``.  For
        ``max_pool*d_backward`` and ``adaptive_max_pool*d_backward``, ``indices=True``
        (or the indices array) plans the variant that is given the forward's indices.
    dtype : dtype-like
        dtype of ``x``.
    grad_dtype : dtype-like, optional
        dtype of ``grad_output`` (backward functions; default ``dtype``).
    backend : {"auto", "numba", "cython"}

    Returns
    -------
    PoolPlan

    Examples
    --------
    >>> import fastconv as fc
    >>> p = fc.plan_pool("max_pool2d", (8, 64, 112, 112), 3, 2, 1)
    >>> p.kernels, p.bytes_moved
    (('max_pool',), 32112640)
    >>> fc.plan_pool("adaptive_avg_pool2d", (8, 64, 7, 7), 1).kernels
    ('global_avg',)
    """
    import re

    names = set(__all__)
    if not isinstance(op, str) or op not in names:
        raise ValueError(
            f"op must be the name of a pooling function (one of fastconv.pool.__all__, "
            f"e.g. 'max_pool2d' or 'avg_pool2d_backward'), got {op!r}"
        )
    backward = op.endswith("_backward")
    func = globals()[op]
    sig = inspect.signature(func)
    skip = {"grad_output", "x", "indices", "out", "backend"}
    sig = sig.replace(parameters=[q for q in sig.parameters.values() if q.name not in skip])
    indices = kwargs.pop("indices", None) if backward else None
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    x_shape = tuple(int(n) for n in x_shape)
    dt = np.dtype(dtype)
    gdt = (np.dtype(dtype if grad_dtype is None else grad_dtype)) if backward else None
    with_indices = indices is not None and indices is not False
    threads = get_num_threads()
    if op.startswith("channel_max_pool"):
        return _plan_channel_max(x_shape, dt, gdt, a["k"], a["axis"], backend, threads)
    base, nd = re.fullmatch(r"(\w+?)([123])d(?:_backward)?", op).groups()
    nd = int(nd)
    geo = [a.get(n) for n in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")]
    if base == "max_pool":
        if backward:
            return _plan_max_pool_backward(nd, x_shape, dt, gdt, *geo, with_indices, backend,
                                           threads)
        return _plan_max_pool(nd, x_shape, dt, *geo, a["return_indices"], backend, threads)
    if base in _SUM_OPS:
        opts = {"avg_pool": lambda: (a["count_include_pad"], a["divisor_override"]),
                "sum_pool": lambda: (), "gaussian_pool": lambda: (freeze(a["sigma"]),),
                "lp_pool": lambda: (a["norm_type"],)}[base]()
        return _plan_sum_pool(base, nd, x_shape, dt, gdt, *geo, opts, backend, threads)
    if base == "adaptive_avg_pool":
        return _plan_adaptive_avg(nd, x_shape, dt, gdt, a["output_size"], backend, threads)
    if base == "adaptive_max_pool":
        return _plan_adaptive_max(nd, x_shape, dt, gdt, a["output_size"], with_indices,
                                  backend, threads)
    return _plan_max_unpool(nd, x_shape, dt, gdt, a["kernel_size"], a["stride"],
                            a["padding"], a["output_size"], backend, threads)


# ---------------------------------------------------------------------------
# plumbing shared by every operator
# ---------------------------------------------------------------------------
def _p3(t, fill) -> tuple:
    """Left-pad a per-axis tuple to the kernels' 3 axes."""
    return (fill,) * (3 - len(t)) + tuple(t)


def _empty(shape, dtype) -> np.ndarray:
    """``_alloc.empty_result`` at this module's streaming threshold."""
    return empty_result(shape, dtype, STREAM_MIN_BYTES)


def _planes(a: np.ndarray, dtype, nplanes: int, size) -> np.ndarray:
    """C-contiguous ``(P, D, H, W)`` compute-dtype view/copy of an (N, C, *sp) array."""
    return to_compute(a, dtype).reshape((nplanes,) + _p3(size, 1))


def _geom(spec: PoolSpec):
    """(kernel, stride, dilation, pad_before) as 3-tuples for the kernels."""
    return (_p3(spec.kernel, 1), _p3(spec.stride, 1), _p3(spec.dilation, 1),
            _p3(spec.pad_before, 0))


def _work(spec: PoolSpec) -> int:
    return spec.planes * (math.prod(spec.in_size) + math.prod(spec.out_size) * spec.taps)


def _sizes(spec: PoolSpec) -> tuple[int, int]:
    """(input elements, output elements)."""
    return spec.planes * math.prod(spec.in_size), spec.planes * math.prod(spec.out_size)


def _describe(spec: PoolSpec, name: str) -> str:
    k = "x".join(map(str, spec.kernel))
    s = "x".join(map(str, spec.stride))
    size = "x".join(map(str, spec.in_size))
    return f"{name} ({k} window, stride {s}) on {spec.planes} planes of {size}"


def _out_target(out, spec_out_shape, result_dtype, compute_dtype, kshape, *inputs):
    """Validate ``out``; return the compute-dtype, kernel-shaped array the kernel
    should write (``out`` itself when it can, else None: compute, then copy)."""
    if out is None:
        return None
    check_out(out, spec_out_shape, result_dtype)
    if (out.dtype == compute_dtype and out.flags.c_contiguous
            and not any(np.may_share_memory(out, a) for a in inputs if a is not None)):
        return out.reshape(kshape)
    return None


def _forward_buffers(spec: PoolSpec, x, out, in_dtype=None):
    """(input planes, result buffer, direct) of a forward call: ``x`` as C-contiguous
    planes of ``in_dtype`` (default: the compute dtype), and the compute-dtype,
    kernel-shaped array the kernel writes -- ``out`` itself when it can
    (``direct``, see :func:`_out_target`), else a new one."""
    kshape = (spec.planes,) + _p3(spec.out_size, 1)
    direct = _out_target(out, spec.out_shape, spec.result_dtype, spec.dtype, kshape, x)
    xs = _planes(x, spec.dtype if in_dtype is None else in_dtype, spec.planes, spec.in_size)
    res = direct if direct is not None else np.empty(kshape, spec.dtype)
    return xs, res, direct


def _deliver(res, out, direct, shape, rdt):
    """The public result: ``out`` (filled), or ``res`` reshaped and cast."""
    if out is None:
        return res.reshape(shape).astype(rdt, copy=False)
    if direct is None:
        out[...] = res.reshape(shape)
    return out


def _grad_dtypes(g_dtype, x_dtype):
    """(compute, result) dtypes of a backward pass."""
    g_dtype, x_dtype = np.dtype(g_dtype), np.dtype(x_dtype)
    if g_dtype.kind == "c":
        raise TypeError(f"grad_output must be a real array, got dtype {g_dtype}")
    dts = [g_dtype] + ([x_dtype] if x_dtype.kind == "f" else [])
    return pool_dtypes(np.result_type(*[d.newbyteorder("=") for d in dts]), "float")


def _check_grad(grad_output, shape, name="grad_output"):
    """grad_output as an array of the forward output's ``shape``."""
    g = as_array(grad_output, name)
    if g.shape != tuple(shape):
        raise ValueError(
            f"{name} must have the forward output's shape {tuple(shape)}, got {g.shape}"
        )
    if g.dtype.kind == "c":
        raise TypeError(f"{name} must be a real array, got dtype {g.dtype}")
    return g


def _grad_result(gx: np.ndarray, spec: PoolSpec, rdt) -> np.ndarray:
    shape = spec.x_shape if spec.batched else spec.x_shape[1:]
    return gx.reshape(shape).astype(rdt, copy=False)


def _with_dtype(spec: PoolSpec, dt) -> PoolSpec:
    from dataclasses import replace

    return replace(spec, dtype=np.dtype(dt))


def _bool(v, name) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {v!r}")
    return bool(v)


# ---------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------
@_memoised
def _plan_max_pool(nd, x_shape, x_dtype, kernel_size, stride, padding, dilation, ceil_mode,
                   return_indices, backend, threads):
    spec = pool_spec(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode,
                     x_dtype, "keep", "max_pool")
    be = _backend(backend)
    ri = _bool(return_indices, "return_indices")
    nin, nout = _sizes(spec)
    isz = spec.dtype.itemsize
    nt = _nthreads(_work(spec), threads)
    if ri:
        return _make_plan(f"max_pool{nd}d", ("max_pool_indices",), be, (nt, threads),
                          (nin + nout) * isz + nout * 8, nout * isz, False,
                          _describe(spec, "max pooling with indices"), spec, _geom(spec))
    return _make_plan(f"max_pool{nd}d", ("max_pool",), be, (nt, threads), (nin + nout) * isz,
                      nout * isz, False, _describe(spec, "max pooling"), spec, _geom(spec))


def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              backend, out=None):
    x = as_array(x, "x")
    plan = _plan_max_pool(nd, x.shape, x.dtype, kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices, backend, get_num_threads())
    spec = plan.spec
    xs, res, direct = _forward_buffers(spec, x, out)
    if plan.kernels[0] == "max_pool_indices":
        idx = np.empty(res.shape, np.int64)
        _kernel(plan.backend, "max_pool_indices")(xs, res, idx, *plan.args, plan.threads)
        _record(plan)
        return _deliver(res, out, direct, spec.out_shape, spec.result_dtype), idx.reshape(
            spec.out_shape)
    _kernel(plan.backend, "max_pool")(xs, res, *plan.args, plan.threads)
    _record(plan)
    return _deliver(res, out, direct, spec.out_shape, spec.result_dtype)


def _check_indices(indices, shape, name="indices"):
    """Integer array of ``shape`` -> C-contiguous int64 (the range is checked by the
    scatter kernel, see :func:`_scatter`)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {idx.dtype}")
    if idx.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {idx.shape}")
    if idx.dtype == np.uint64 and idx.size and int(idx.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} out of range: got max {int(idx.max())}")
    return np.ascontiguousarray(idx, dtype=np.int64)


def _scatter(be, src, idx, dst, accumulate, nt, name="indices", band=None):
    """Run the scatter kernel; indices outside the plane raise ``ValueError``.
    ``band``: see :func:`_scatter_band`."""
    bad = _kernel(be, "scatter")(src, idx, dst, accumulate, nt, band)
    if bad:
        S = dst.shape[1]
        raise ValueError(
            f"{name} out of range: values must lie in [0, {S}) (the flattened spatial "
            f"plane), got min {int(idx.min())} and max {int(idx.max())} "
            f"({bad} out of range)"
        )
    return dst


def _scatter_band(spec: PoolSpec) -> np.ndarray | None:
    """For the scatter of max pooling's backward: per output row (the indices of one
    ``(od, oh)``), the end of the flattened input plane that row's windows reach.
    The kernel zeroes the gradient only that far before scattering the row, so the
    zeroing stays just ahead of the scatter, in L1 (see the kernels'
    ``_scatter_plane``).  Non-decreasing, at most the plane's size; None when the
    indices are one row (1-D: the whole plane is zeroed first anyway)."""
    D, H, W = _p3(spec.in_size, 1)
    OD, OH, _ = _p3(spec.out_size, 1)
    if OD * OH == 1:
        return None
    (kd, kh, _), (sd, sh, _), (dd, dh, _), (pd, ph, _) = _geom(spec)
    last_d = np.clip(np.arange(OD) * sd - pd + (kd - 1) * dd, 0, D - 1)
    last_h = np.clip(np.arange(OH) * sh - ph + (kh - 1) * dh, 0, H - 1)
    band = np.maximum.accumulate(((last_d[:, None] * H + last_h[None, :]) * W + W).ravel())
    band = band.astype(np.int64)
    band.flags.writeable = False  # lives in a memoised plan
    return band


@_memoised
def _plan_max_pool_backward(nd, x_shape, x_dtype, g_dtype, kernel_size, stride, padding,
                            dilation, ceil_mode, with_indices, backend, threads):
    spec = pool_spec(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode,
                     x_dtype, "keep", "max_pool")
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    be = _backend(backend)
    nin, nout = _sizes(spec)
    gsz = gdt.itemsize
    nt = _nthreads(_work(spec), threads)
    op = f"max_pool{nd}d_backward"
    if with_indices:
        return _make_plan(op, ("scatter",), be, (nt, threads), nout * (gsz + 8) + nin * gsz,
                          nin * gsz, False,
                          _describe(spec, "max pooling backward from the indices"),
                          spec, (gdt, grdt, _scatter_band(spec)))
    return _make_plan(op, ("max_pool_backward",), be, (nt, threads),
                      nin * spec.dtype.itemsize + (nout + nin) * gsz, nin * gsz, True,
                      _describe(spec, "max pooling backward, argmax recomputed"), spec,
                      (gdt, grdt) + _geom(spec))


def _max_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, indices, backend):
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_max_pool_backward(nd, x.shape, x.dtype, g.dtype, kernel_size, stride,
                                   padding, dilation, ceil_mode, indices is not None,
                                   backend, get_num_threads())
    spec = plan.spec
    gdt, grdt = plan.args[:2]
    g = _check_grad(g, spec.out_shape)
    P = spec.planes
    if indices is not None:
        idx = _check_indices(indices, spec.out_shape)
        gs = _planes(g, gdt, P, spec.out_size)
        gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
        _scatter(plan.backend, gs.reshape(P, -1), idx.reshape(P, -1), gx.reshape(P, -1),
                 True, plan.threads, band=plan.args[2])
    else:
        gs = _planes(g, gdt, P, spec.out_size)
        xs = _planes(x, spec.dtype, P, spec.in_size)
        gx = _empty((P,) + _p3(spec.in_size, 1), gdt)
        _kernel(plan.backend, "max_pool_backward")(gs, xs, gx, *plan.args[2:], plan.threads,
                                                   plan.streaming)
    _record(plan)
    return _grad_result(gx, spec, grdt)


# ---------------------------------------------------------------------------
# weighted-sum pooling: avg, sum, lp, gaussian
# ---------------------------------------------------------------------------
def _axis_counts(spec: PoolSpec, ax: int, include_pad: bool) -> np.ndarray:
    """Per output position of axis ``ax``: taps inside the input (or input + padding)."""
    L, O, k, s, d = (spec.in_size[ax], spec.out_size[ax], spec.kernel[ax],
                     spec.stride[ax], spec.dilation[ax])
    pb, pa = spec.pad[ax]
    if not include_pad:
        _, lo, hi = pool_window_taps(L, O, k, s, d, pb)
        return (hi - lo).astype(np.float64)
    # taps inside [-pb, L + pa): the window seen on the explicitly padded input
    _, lo, hi = pool_window_taps(L + pb + pa, O, k, s, d, 0)
    return (hi - lo).astype(np.float64)


def _sum_args(spec: PoolSpec, dt, weights, scales):
    """Per-axis weights / scales padded to 3 axes, in the compute dtype ``dt``."""
    ws = [np.ascontiguousarray(w, dt) for w in weights]
    ss = [np.ascontiguousarray(s, dt) for s in scales]
    ws = [np.ones(1, dt)] * (3 - spec.nd) + ws
    ss = [np.ones(1, dt)] * (3 - spec.nd) + ss
    return tuple(ws + ss)


def _avg_scales(spec: PoolSpec, count_include_pad, divisor_override):
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Real) or isinstance(
            divisor_override, bool
        ):
            raise TypeError(f"divisor_override must be a number, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError("divisor_override must be non-zero, got 0")
        scales = [np.ones(o) for o in spec.out_size]
        scales[0] = scales[0] / float(divisor_override)
        return scales
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"count_include_pad must be a bool, got {count_include_pad!r}")
    return [1.0 / _axis_counts(spec, ax, bool(count_include_pad)) for ax in range(spec.nd)]


def _gauss_weights(spec: PoolSpec, sigma):
    """Per-axis Gaussian tap weights and the per-output scales (1 / sum of the
    weights of the taps inside the input)."""
    if isinstance(sigma, (tuple, list)):
        if len(sigma) != spec.nd:
            raise ValueError(
                f"sigma must be a number or a tuple of {spec.nd} numbers, got {sigma!r}"
            )
        sig = tuple(sigma)
    else:
        sig = (sigma,) * spec.nd
    if not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in sig):
        raise TypeError(f"sigma must be a positive number or a tuple of them, got {sigma!r}")
    if not all(s > 0 for s in sig):
        raise ValueError(f"sigma must be > 0 on every axis, got {sigma!r}")
    weights, scales = [], []
    for ax in range(spec.nd):
        k, d = spec.kernel[ax], spec.dilation[ax]
        off = (np.arange(k) - (k - 1) / 2.0) * d
        w = np.exp(-0.5 * (off / float(sig[ax])) ** 2)
        L, O, s = spec.in_size[ax], spec.out_size[ax], spec.stride[ax]
        _, lo, hi = pool_window_taps(L, O, k, s, d, spec.pad[ax][0])
        cw = np.concatenate([[0.0], np.cumsum(w)])
        weights.append(w)
        scales.append(1.0 / (cw[hi] - cw[lo]))
    return weights, scales


def _norm_type(norm_type) -> float:
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool):
        raise TypeError(f"norm_type must be a positive number, got {norm_type!r}")
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"norm_type must be > 0 (or inf), got {norm_type!r}")
    return p


#: weighted-sum operators: name -> what the plan calls it
_SUM_OPS = {"avg_pool": "average pooling", "sum_pool": "sum pooling",
            "gaussian_pool": "Gaussian-weighted pooling", "lp_pool": "Lp pooling"}


def _sum_weights(op, spec, opts):
    """(tap weights, output scales, p) of a weighted-sum operator."""
    if op == "avg_pool":
        cip, div = opts
        return [np.ones(k) for k in spec.kernel], _avg_scales(spec, cip, div), 0.0
    if op == "gaussian_pool":
        w, s = _gauss_weights(spec, opts[0])
        return w, s, 0.0
    ones = [np.ones(k) for k in spec.kernel], [np.ones(o) for o in spec.out_size]
    return ones[0], ones[1], (opts[0] if op == "lp_pool" else 0.0)


@_memoised
def _plan_sum_pool(op, nd, x_shape, x_dtype, g_dtype, kernel_size, stride, padding,
                   dilation, ceil_mode, opts, backend, threads):
    """Plan of a weighted-sum operator (``g_dtype`` None: the forward)."""
    if op == "lp_pool":
        opts = (_norm_type(opts[0]),)
    spec = pool_spec(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode,
                     x_dtype, "float", op)
    be = _backend(backend)
    nin, nout = _sizes(spec)
    nt = _nthreads(_work(spec), threads)
    weights, scales, p = _sum_weights(op, spec, opts)
    name = _SUM_OPS[op] + (f" (p={p:g})" if op == "lp_pool" else "")
    if g_dtype is None and _exact_in_float32(op, spec, x_dtype):
        # small integers read as they are: no float64 copy of the input (8x its size)
        return _make_plan(f"{op}{nd}d", ("sum_pool_int",), be, (nt, threads),
                          nin * np.dtype(x_dtype).itemsize + nout * 8, nout * 8, False,
                          _describe(spec, name + f" of {np.dtype(x_dtype).name}, read as "
                                    "such and summed exactly"), spec,
                          _geom(spec) + _sum_args(spec, np.float64, weights, scales)[3:])
    if g_dtype is None:
        isz = spec.dtype.itemsize
        if op == "lp_pool" and math.isinf(p):
            return _make_plan(f"{op}{nd}d", ("max_pool",), be, (nt, threads),
                              (3 * nin + nout) * isz, nout * isz, False,
                              _describe(spec, "Lp pooling (p=inf: max of a NumPy |x|)"),
                              spec, _geom(spec))
        return _make_plan(f"{op}{nd}d", ("sum_pool",), be, (nt, threads), (nin + nout) * isz,
                          nout * isz, False, _describe(spec, name), spec,
                          _geom(spec) + _sum_args(spec, spec.dtype, weights, scales) + (p,))
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    gsz = gdt.itemsize
    op_b = f"{op}{nd}d_backward"
    if op != "lp_pool":
        return _make_plan(op_b, ("sum_pool_backward",), be, (nt, threads),
                          (nin + nout) * gsz, nin * gsz, False,
                          _describe(spec, name + " backward"), spec,
                          (gdt, grdt) + _geom(spec) + _sum_args(spec, gdt, weights, scales))
    if math.isinf(p):
        return _make_plan(op_b, ("max_pool_indices", "scatter"), be, (nt, threads),
                          (4 * nin + 2 * nout) * gsz + 2 * nout * 8, nin * gsz, False,
                          _describe(spec, "Lp pooling backward (p=inf: at the max |x|)"),
                          spec, (gdt, grdt, p) + _geom(spec))
    return _make_plan(op_b, ("sum_pool", "sum_pool_backward"), be, (nt, threads),
                      (5 * nin + 3 * nout) * gsz, nin * gsz, False,
                      _describe(spec, name + " backward"), spec,
                      (gdt, grdt, p) + _geom(spec) + _sum_args(spec, gdt, weights, scales))


#: largest |value| of the integer dtypes whose window sums float32 holds exactly
_SMALL_INT_MAX = {"b1": 1, "u1": 255, "i1": 128, "u2": 65535, "i2": 32768}


def _exact_in_float32(op, spec, x_dtype) -> bool:
    """Average / sum pooling of small integers (bool, 8- and 16-bit) whose window
    sums stay within float32's exact integers (|sum| <= 2^24): ``sum_pool_int``
    reads them as they are and sums in float32, exactly, instead of the float64
    kernel on a float64 copy of the input (8x a uint8 input's bytes)."""
    dt = np.dtype(x_dtype)
    top = _SMALL_INT_MAX.get(f"{dt.kind}{dt.itemsize}")
    return (op in ("avg_pool", "sum_pool") and top is not None
            and spec.dtype == np.float64 and math.prod(spec.kernel) * top <= 2 ** 24)


def _sum_family(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, opts, backend,
                out):
    x = as_array(x, "x")
    plan = _plan_sum_pool(op, nd, x.shape, x.dtype, None, kernel_size, stride, padding,
                          dilation, ceil_mode, opts, backend, get_num_threads())
    spec = plan.spec
    (kern,) = plan.kernels
    if kern == "sum_pool_int":  # small integers read as they are, see _exact_in_float32
        x = x.view(np.uint8) if x.dtype == np.bool_ else x
    xs, res, direct = _forward_buffers(spec, x, out,
                                       x.dtype if kern == "sum_pool_int" else None)
    if kern == "max_pool":  # lp_pool with p = inf: max |x|
        xs = np.abs(xs)
    _kernel(plan.backend, kern)(xs, res, *plan.args, plan.threads)
    _record(plan)
    return _deliver(res, out, direct, spec.out_shape, spec.result_dtype)


def _sum_family_backward(op, nd, grad_output, x, kernel_size, stride, padding, dilation,
                         ceil_mode, opts, backend):
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_sum_pool(op, nd, x.shape, x.dtype, g.dtype, kernel_size, stride, padding,
                          dilation, ceil_mode, opts, backend, get_num_threads())
    spec = plan.spec
    g = _check_grad(g, spec.out_shape)
    gdt, grdt = plan.args[:2]
    be, nt, P = plan.backend, plan.threads, spec.planes
    gs = _planes(g, gdt, P, spec.out_size)
    if op != "lp_pool":
        gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
        _kernel(be, "sum_pool_backward")(gs, gx, *plan.args[2:], nt)
        _record(plan)
        return _grad_result(gx, spec, grdt)
    p = plan.args[2]
    geo = plan.args[3:7]
    xs = _planes(x, gdt, P, spec.in_size)
    if math.isinf(p):
        xa = np.abs(xs)
        y = np.empty((P,) + _p3(spec.out_size, 1), gdt)
        idx = np.empty(y.shape, np.int64)
        _kernel(be, "max_pool_indices")(xa, y, idx, *geo, nt)
        gx = np.empty_like(xs)
        _scatter(be, gs.reshape(P, -1), idx.reshape(P, -1), gx.reshape(P, -1), True, nt)
        gx *= np.sign(xs)
        _record(plan)
        return _grad_result(gx, spec, grdt)
    # y = (sum |x|^p)^(1/p);  dy/dx_i = sign(x_i) |x_i|^(p-1) y^(1-p)
    sargs = plan.args[7:]
    y = np.empty((P,) + _p3(spec.out_size, 1), gdt)
    _kernel(be, "sum_pool")(xs, y, *geo, *sargs, p, nt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c = np.where(y > 0, gs * y ** (1.0 - p), 0).astype(gdt)
        gx = np.empty_like(xs)
        _kernel(be, "sum_pool_backward")(c, gx, *geo, *sargs, nt)
        if p == 1.0:
            gx *= np.sign(xs)
        elif p == 2.0:
            gx *= xs
        else:
            f = np.where(xs == 0, 0, np.sign(xs) * np.abs(xs) ** (p - 1.0)).astype(gdt)
            gx *= f
    _record(plan)
    return _grad_result(gx, spec, grdt)


def _avg_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
              divisor_override, backend, out=None):
    return _sum_family("avg_pool", nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                       (count_include_pad, divisor_override), backend, out)


def _avg_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, count_include_pad, divisor_override, backend):
    return _sum_family_backward("avg_pool", nd, grad_output, x, kernel_size, stride, padding,
                                dilation, ceil_mode, (count_include_pad, divisor_override),
                                backend)


def _sum_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, backend, out=None):
    return _sum_family("sum_pool", nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                       (), backend, out)


def _sum_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, backend):
    return _sum_family_backward("sum_pool", nd, grad_output, x, kernel_size, stride, padding,
                                dilation, ceil_mode, (), backend)


def _gaussian_pool(nd, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend,
                   out=None):
    return _sum_family("gaussian_pool", nd, x, kernel_size, stride, padding, dilation,
                       ceil_mode, (freeze(sigma),), backend, out)


def _gaussian_pool_backward(nd, grad_output, x, kernel_size, sigma, stride, padding,
                            dilation, ceil_mode, backend):
    return _sum_family_backward("gaussian_pool", nd, grad_output, x, kernel_size, stride,
                                padding, dilation, ceil_mode, (freeze(sigma),), backend)


def _lp_pool(nd, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend,
             out=None):
    return _sum_family("lp_pool", nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                       (norm_type,), backend, out)


def _lp_pool_backward(nd, grad_output, x, norm_type, kernel_size, stride, padding, dilation,
                      ceil_mode, backend):
    return _sum_family_backward("lp_pool", nd, grad_output, x, kernel_size, stride, padding,
                                dilation, ceil_mode, (norm_type,), backend)


# ---------------------------------------------------------------------------
# adaptive pooling
# ---------------------------------------------------------------------------
@_memoised
def _adaptive_spec(nd, x_shape, x_dtype, output_size, result, op):
    batched, xs_shape = pool_batched(nd, x_shape, op=op)
    in_size = xs_shape[2:]
    out_size = adaptive_out_size(nd, in_size, output_size)
    cdt, rdt = pool_dtypes(x_dtype, result)
    spec = PoolSpec(
        nd=nd, batch=xs_shape[0], channels=xs_shape[1], in_size=in_size,
        kernel=tuple(-(-L // o) + 1 for L, o in zip(in_size, out_size, strict=True)),
        stride=(1,) * nd, dilation=(1,) * nd, pad=((0, 0),) * nd, ceil_mode=False,
        out_size=out_size, dtype=cdt, result_dtype=rdt, batched=batched,
    )
    wins = [adaptive_windows(L, o) for L, o in zip(in_size, out_size, strict=True)]
    wins = [(np.zeros(1, np.int64), np.ones(1, np.int64))] * (3 - nd) + wins
    bounds = tuple(np.ascontiguousarray(b, np.int64) for w in wins for b in w)
    return spec, bounds


def _global(spec: PoolSpec) -> bool:
    return all(o == 1 for o in spec.out_size)


@_memoised
def _plan_adaptive_avg(nd, x_shape, x_dtype, g_dtype, output_size, backend, threads):
    spec, bounds = _adaptive_spec(nd, x_shape, x_dtype, freeze(output_size), "float",
                                  "adaptive_avg_pool")
    be = _backend(backend)
    nin, nout = _sizes(spec)
    nt = _nthreads(_work(spec), threads)
    glob = _global(spec)
    what = "global average pooling" if glob else "adaptive average pooling"
    what = f"{what} on {spec.planes} planes of {'x'.join(map(str, spec.in_size))}"
    if g_dtype is None:
        isz = spec.dtype.itemsize
        return _make_plan(f"adaptive_avg_pool{nd}d",
                          ("global_avg",) if glob else ("adaptive_avg",), be, (nt, threads),
                          (nin + nout) * isz, nout * isz, False,
                          what + (" (float64 sums)" if glob else ""), spec, bounds)
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    return _make_plan(f"adaptive_avg_pool{nd}d_backward",
                      ("global_avg_backward",) if glob else ("adaptive_avg_backward",), be,
                      (nt, threads), (nin + nout) * gdt.itemsize, nin * gdt.itemsize, False,
                      what + (" backward (a broadcast fill)" if glob else " backward"), spec,
                      (gdt, grdt) + bounds)


def _adaptive_avg_pool(nd, x, output_size, backend, out=None):
    x = as_array(x, "x")
    plan = _plan_adaptive_avg(nd, x.shape, x.dtype, None, output_size, backend,
                              get_num_threads())
    spec = plan.spec
    xs, res, direct = _forward_buffers(spec, x, out)
    if plan.kernels == ("global_avg",):
        _kernel(plan.backend, "global_avg")(xs.reshape(spec.planes, -1),
                                            res.reshape(spec.planes), plan.threads)
    else:
        _kernel(plan.backend, "adaptive_avg")(xs, res, *plan.args, plan.threads)
    _record(plan)
    return _deliver(res, out, direct, spec.out_shape, spec.result_dtype)


def _adaptive_avg_pool_backward(nd, grad_output, x, output_size, backend):
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_adaptive_avg(nd, x.shape, x.dtype, g.dtype, output_size, backend,
                              get_num_threads())
    spec = plan.spec
    g = _check_grad(g, spec.out_shape)
    gdt, grdt = plan.args[:2]
    P = spec.planes
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
    if plan.kernels == ("global_avg_backward",):
        _kernel(plan.backend, "global_avg_backward")(gs.reshape(P), gx.reshape(P, -1),
                                                     plan.threads)
    else:
        _kernel(plan.backend, "adaptive_avg_backward")(gs, gx, *plan.args[2:], plan.threads)
    _record(plan)
    return _grad_result(gx, spec, grdt)


@_memoised
def _plan_adaptive_max(nd, x_shape, x_dtype, g_dtype, output_size, with_indices, backend,
                       threads):
    spec, bounds = _adaptive_spec(nd, x_shape, x_dtype, freeze(output_size), "keep",
                                  "adaptive_max_pool")
    be = _backend(backend)
    nin, nout = _sizes(spec)
    nt = _nthreads(_work(spec), threads)
    what = (f"adaptive max pooling on {spec.planes} planes of "
            f"{'x'.join(map(str, spec.in_size))}")
    isz = spec.dtype.itemsize
    if g_dtype is None:
        return _make_plan(f"adaptive_max_pool{nd}d", ("adaptive_max",), be, (nt, threads),
                          (nin + nout) * isz + nout * 8, nout * isz, False, what, spec,
                          bounds)
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    gsz = gdt.itemsize
    op = f"adaptive_max_pool{nd}d_backward"
    if with_indices:
        return _make_plan(op, ("scatter",), be, (nt, threads), nout * (gsz + 8) + nin * gsz,
                          nin * gsz, False, what + " backward from the indices", spec,
                          (gdt, grdt) + bounds)
    return _make_plan(op, ("adaptive_max", "scatter"), be, (nt, threads),
                      nin * (isz + gsz) + nout * (isz + 16 + gsz), nin * gsz, False,
                      what + " backward, argmax recomputed", spec, (gdt, grdt) + bounds)


def _adaptive_max_pool(nd, x, output_size, return_indices, backend, out=None):
    x = as_array(x, "x")
    plan = _plan_adaptive_max(nd, x.shape, x.dtype, None, output_size, False, backend,
                              get_num_threads())
    spec = plan.spec
    xs, res, direct = _forward_buffers(spec, x, out)
    idx = np.empty(res.shape, np.int64)
    _kernel(plan.backend, "adaptive_max")(xs, res, idx, *plan.args, plan.threads)
    _record(plan)
    y = _deliver(res, out, direct, spec.out_shape, spec.result_dtype)
    if return_indices:
        return y, idx.reshape(spec.out_shape)
    return y


def _adaptive_max_pool_backward(nd, grad_output, x, output_size, indices, backend):
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_adaptive_max(nd, x.shape, x.dtype, g.dtype, output_size,
                              indices is not None, backend, get_num_threads())
    spec = plan.spec
    g = _check_grad(g, spec.out_shape)
    gdt, grdt = plan.args[:2]
    bounds = plan.args[2:]
    P = spec.planes
    plane = math.prod(spec.in_size)
    if indices is not None:
        idx = _check_indices(indices, spec.out_shape)
    else:
        xs = _planes(x, spec.dtype, P, spec.in_size)
        y = np.empty((P,) + _p3(spec.out_size, 1), spec.dtype)
        idx = np.empty(y.shape, np.int64)
        _kernel(plan.backend, "adaptive_max")(xs, y, idx, *bounds, plan.threads)
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P, plane), gdt)
    _scatter(plan.backend, gs.reshape(P, -1), idx.reshape(P, -1), gx, True, plan.threads)
    _record(plan)
    return _grad_result(gx, spec, grdt)


# ---------------------------------------------------------------------------
# max_unpool
# ---------------------------------------------------------------------------
@_memoised
def _plan_max_unpool(nd, x_shape, x_dtype, g_dtype, kernel_size, stride, padding,
                     output_size, backend, threads):
    op = "max_unpool"
    batched, xs_shape = pool_batched(nd, x_shape, op=op)
    kernel = int_tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else int_tuple(stride, nd, "stride")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a tuple or (before, after) pairs for "
                         f"max_unpool{nd}d, got {padding!r}")
    pad = parse_padding(padding, nd, xs_shape[2:], kernel, stride, (1,) * nd)
    out_size = unpool_out_size(nd, xs_shape[2:], kernel, stride, pad,
                               freeze(output_size))
    plane = math.prod(out_size)
    cdt, rdt = pool_dtypes(x_dtype, "keep")
    N, C = xs_shape[:2]
    P = N * C
    M = math.prod(xs_shape[2:])
    res_shape = (N, C) + out_size
    shape = res_shape if batched else res_shape[1:]
    what = (f"max unpooling of {P} planes of {'x'.join(map(str, xs_shape[2:]))} into "
            f"{'x'.join(map(str, out_size))}")
    geo = ((P, plane), shape, cdt, rdt)
    if g_dtype is None:
        nt = _nthreads(P * (plane + M), threads)
        return _make_plan(f"max_unpool{nd}d", ("scatter",), _backend(backend), (nt, threads),
                          P * (M * (cdt.itemsize + 8) + plane * cdt.itemsize),
                          P * plane * cdt.itemsize, False, what, None, geo)
    _backend(backend)  # validated; the gather is NumPy's
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    return _make_plan(f"max_unpool{nd}d_backward", ("take_along_axis",), "numpy", (1, 1),
                      P * M * (8 + 2 * gdt.itemsize), P * M * gdt.itemsize, False,
                      what + " backward (a gather)", None, geo + (gdt, grdt))


def _max_unpool(nd, x, indices, kernel_size, stride, padding, output_size, backend,
                out=None):
    x = as_array(x, "x")
    plan = _plan_max_unpool(nd, x.shape, x.dtype, None, kernel_size, stride, padding,
                            output_size, backend, get_num_threads())
    (P, plane), shape, cdt, rdt = plan.args
    idx = _check_indices(indices, x.shape)
    direct = _out_target(out, shape, rdt, cdt, (P, plane), x, indices)
    xs = to_compute(x, cdt).reshape(P, -1)
    res = direct if direct is not None else np.empty((P, plane), cdt)
    _scatter(plan.backend, xs, idx.reshape(P, -1), res, False, plan.threads)
    _record(plan)
    return _deliver(res, out, direct, shape, rdt)


def _max_unpool_backward(nd, grad_output, x, indices, kernel_size, stride, padding,
                         output_size, backend):
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_max_unpool(nd, x.shape, x.dtype, g.dtype, kernel_size, stride, padding,
                            output_size, backend, get_num_threads())
    (P, plane), shape, cdt, rdt, gdt, grdt = plan.args
    idx = _check_indices(indices, x.shape)
    g = _check_grad(g, shape)
    gs = to_compute(g, gdt).reshape(P, plane)
    ix = idx.reshape(P, -1)
    if ix.size and (int(ix.min()) < 0 or int(ix.max()) >= plane):
        raise ValueError(
            f"indices out of range: values must lie in [0, {plane}) (the flattened spatial "
            f"plane), got min {int(ix.min())} and max {int(ix.max())}"
        )
    gx = np.take_along_axis(gs, ix, axis=1)
    _record(plan)
    return gx.reshape(x.shape).astype(grdt, copy=False)


# ---------------------------------------------------------------------------
# cross-channel max ("maxout")
# ---------------------------------------------------------------------------
@_memoised
def _channel_setup(x_shape, k, axis):
    if not (isinstance(k, numbers.Integral) and not isinstance(k, bool)):
        raise TypeError(f"k must be an int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {axis!r}")
    ndim = len(x_shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for x with {ndim} dimensions")
    axis = axis % ndim
    C = x_shape[axis]
    if C % k:
        raise ValueError(
            f"k={k} must divide the size {C} of x along axis {axis} (shape {x_shape})"
        )
    n = math.prod(x_shape[:axis])
    s = math.prod(x_shape[axis + 1:])
    out_shape = x_shape[:axis] + (C // k,) + x_shape[axis + 1:]
    return int(k), (n, C, s), out_shape


@_memoised
def _plan_channel_max(x_shape, x_dtype, g_dtype, k, axis, backend, threads):
    k, (n, C, s), out_shape = _channel_setup(tuple(x_shape), k, axis)
    cdt, rdt = pool_dtypes(x_dtype, "keep")
    be = _backend(backend)
    nin = n * C * s
    nt = _nthreads(nin, threads)
    what = f"max over {C // k} groups of {k} channels ({n} x {s} positions)"
    args = (k, (n, C, s), out_shape, cdt, rdt)
    if g_dtype is None:
        return _make_plan("channel_max_pool", ("channel_max",), be, (nt, threads),
                          (nin + nin // k) * cdt.itemsize, nin // k * cdt.itemsize, False,
                          what, None, args)
    gdt, grdt = _grad_dtypes(g_dtype, x_dtype)
    return _make_plan("channel_max_pool_backward", ("channel_max_backward",), be, (nt, threads),
                      nin * (cdt.itemsize + gdt.itemsize) + nin // k * gdt.itemsize,
                      nin * gdt.itemsize, False, what + " backward", None,
                      args + (gdt, grdt))


def channel_max_pool(x, k: int, axis: int = 1, *, backend: str = "auto",
                     out: np.ndarray | None = None) -> np.ndarray:
    """Cross-channel max pooling ("maxout"): max over groups of ``k`` adjacent channels.

    ``x (N, C, *spatial)`` gives ``(N, C // k, *spatial)`` with
    ``out[:, g] = max(x[:, g*k], ..., x[:, g*k + k - 1])``.  Any number of
    spatial axes; ``axis`` selects the channel axis (default 1).  dtypes as max
    pooling (integers kept, NaN propagates).

    Parameters
    ----------
    x : array_like
    k : int
        Group size; must divide ``x.shape[axis]``.
    axis : int
        The channel axis.
    backend : {"auto", "numba", "cython"}
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.arange(8.0).reshape(1, 4, 2)
    >>> fc.channel_max_pool(x, 2)
    array([[[2., 3.],
            [6., 7.]]])
    """
    x = as_array(x, "x")
    plan = _plan_channel_max(x.shape, x.dtype, None, k, axis, backend, get_num_threads())
    k, (n, C, s), out_shape, cdt, rdt = plan.args
    direct = _out_target(out, out_shape, rdt, cdt, (n, C // k, s), x)
    xs = to_compute(x, cdt).reshape(n, C, s)
    res = direct if direct is not None else np.empty((n, C // k, s), cdt)
    _kernel(plan.backend, "channel_max")(xs, res, k, plan.threads)
    _record(plan)
    return _deliver(res, out, direct, out_shape, rdt)


def channel_max_pool_backward(grad_output, x, k: int, axis: int = 1, *,
                              backend: str = "auto") -> np.ndarray:
    """Input gradient of :func:`channel_max_pool`: each output's gradient goes to the
    first maximum of its group of channels (the last NaN if any, as max pooling).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.array([[1.0, 3.0, 2.0, 0.0]])
    >>> fc.channel_max_pool_backward(np.ones((1, 2)), x, 2)
    array([[0., 1., 1., 0.]])
    """
    x = as_array(x, "x")
    g = as_array(grad_output, "grad_output")
    plan = _plan_channel_max(x.shape, x.dtype, g.dtype, k, axis, backend, get_num_threads())
    k, (n, C, s), out_shape, cdt, rdt, gdt, grdt = plan.args
    g = _check_grad(g, out_shape)
    xs = to_compute(x, cdt).reshape(n, C, s)
    gs = to_compute(g, gdt).reshape(n, C // k, s)
    gx = np.empty((n, C, s), gdt)
    _kernel(plan.backend, "channel_max_backward")(gs, xs, gx, k, plan.threads)
    _record(plan)
    return gx.reshape(x.shape).astype(grdt, copy=False)


# ---------------------------------------------------------------------------
# the public functions (generated from one template per operator; see the _* cores)
# ---------------------------------------------------------------------------


def max_pool1d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1-D max pooling (``torch.nn.functional.max_pool1d`` semantics).

    Padded positions never win; a window containing NaN yields NaN (its index is the
    window's last NaN, as PyTorch); ties go to the first maximum in row-major window
    order.  Integer and bool inputs keep their dtype.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    kernel_size : int or tuple of 1 ints
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 1 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    return_indices : bool
        Also return the int64 flat index of each maximum within its (n, c) input plane.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)
        And the int64 indices of the same shape if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.max_pool1d(np.ones((1, 2, 8), np.float32), 2).shape
    (1, 2, 4)
    """
    return _max_pool(
        1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend, out,
    )


def max_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    return_indices: bool = False, *, indices: ArrayLike | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_pool1d` (PyTorch autograd's: each output's gradient
    goes to its window's first maximum; overlapping windows accumulate).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's ``return_indices`` result; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8))
    >>> y, idx = fc.max_pool1d(x, 2, return_indices=True)
    >>> gx = fc.max_pool1d_backward(np.ones_like(y), x, 2, indices=idx)
    >>> float(gx.sum()) == y.size
    True
    """
    return _max_pool_backward(
        1, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
        backend,
    )


def max_pool2d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-D max pooling (``torch.nn.functional.max_pool2d`` semantics).

    Padded positions never win; a window containing NaN yields NaN (its index is the
    window's last NaN, as PyTorch); ties go to the first maximum in row-major window
    order.  Integer and bool inputs keep their dtype.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 2 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    return_indices : bool
        Also return the int64 flat index of each maximum within its (n, c) input plane.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) (unbatched if ``x`` was)
        And the int64 indices of the same shape if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.max_pool2d(np.ones((1, 2, 8, 8), np.float32), 2).shape
    (1, 2, 4, 4)
    """
    return _max_pool(
        2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend, out,
    )


def max_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    return_indices: bool = False, *, indices: ArrayLike | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_pool2d` (PyTorch autograd's: each output's gradient
    goes to its window's first maximum; overlapping windows accumulate).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's ``return_indices`` result; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    >>> y, idx = fc.max_pool2d(x, 2, return_indices=True)
    >>> gx = fc.max_pool2d_backward(np.ones_like(y), x, 2, indices=idx)
    >>> float(gx.sum()) == y.size
    True
    """
    return _max_pool_backward(
        2, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
        backend,
    )


def max_pool3d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3-D max pooling (``torch.nn.functional.max_pool3d`` semantics).

    Padded positions never win; a window containing NaN yields NaN (its index is the
    window's last NaN, as PyTorch); ties go to the first maximum in row-major window
    order.  Integer and bool inputs keep their dtype.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    kernel_size : int or tuple of 3 ints
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 3 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    return_indices : bool
        Also return the int64 flat index of each maximum within its (n, c) input plane.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)
        And the int64 indices of the same shape if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.max_pool3d(np.ones((1, 2, 4, 4, 4), np.float32), 2).shape
    (1, 2, 2, 2, 2)
    """
    return _max_pool(
        3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend, out,
    )


def max_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    return_indices: bool = False, *, indices: ArrayLike | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_pool3d` (PyTorch autograd's: each output's gradient
    goes to its window's first maximum; overlapping windows accumulate).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's ``return_indices`` result; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 4, 4, 4))
    >>> y, idx = fc.max_pool3d(x, 2, return_indices=True)
    >>> gx = fc.max_pool3d_backward(np.ones_like(y), x, 2, indices=idx)
    >>> float(gx.sum()) == y.size
    True
    """
    return _max_pool_backward(
        3, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
        backend,
    )


def avg_pool1d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: float | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D average pooling (``torch.nn.functional.avg_pool1d`` semantics, plus dilation).

    The divisor is ``divisor_override`` if given; else, with ``count_include_pad``, the
    number of taps inside the input plus its explicit padding (taps of a ``ceil_mode``
    window hanging past the padding are not counted); else the taps inside the input.
    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    kernel_size : int or tuple of 1 ints
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 1 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    count_include_pad : bool
    divisor_override : number, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.avg_pool1d(np.ones((1, 2, 8), np.float32), 2).shape
    (1, 2, 4)
    """
    return _avg_pool(
        1, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
        divisor_override, backend, out,
    )


def avg_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: float | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`avg_pool1d` (equal to PyTorch autograd's).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8))
    >>> gx = fc.avg_pool1d_backward(np.ones((1, 2, 4)), x, 2)
    >>> float(gx.max()) == 0.5 ** 1
    True
    """
    return _avg_pool_backward(
        1, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
        count_include_pad, divisor_override, backend,
    )


def avg_pool2d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: float | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D average pooling (``torch.nn.functional.avg_pool2d`` semantics, plus dilation).

    The divisor is ``divisor_override`` if given; else, with ``count_include_pad``, the
    number of taps inside the input plus its explicit padding (taps of a ``ceil_mode``
    window hanging past the padding are not counted); else the taps inside the input.
    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 2 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    count_include_pad : bool
    divisor_override : number, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.avg_pool2d(np.ones((1, 2, 8, 8), np.float32), 2).shape
    (1, 2, 4, 4)
    """
    return _avg_pool(
        2, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
        divisor_override, backend, out,
    )


def avg_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: float | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`avg_pool2d` (equal to PyTorch autograd's).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8, 8))
    >>> gx = fc.avg_pool2d_backward(np.ones((1, 2, 4, 4)), x, 2)
    >>> float(gx.max()) == 0.5 ** 2
    True
    """
    return _avg_pool_backward(
        2, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
        count_include_pad, divisor_override, backend,
    )


def avg_pool3d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: float | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D average pooling (``torch.nn.functional.avg_pool3d`` semantics, plus dilation).

    The divisor is ``divisor_override`` if given; else, with ``count_include_pad``, the
    number of taps inside the input plus its explicit padding (taps of a ``ceil_mode``
    window hanging past the padding are not counted); else the taps inside the input.
    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    kernel_size : int or tuple of 3 ints
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 3 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    count_include_pad : bool
    divisor_override : number, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.avg_pool3d(np.ones((1, 2, 4, 4, 4), np.float32), 2).shape
    (1, 2, 2, 2, 2)
    """
    return _avg_pool(
        3, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
        divisor_override, backend, out,
    )


def avg_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: float | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`avg_pool3d` (equal to PyTorch autograd's).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 4, 4, 4))
    >>> gx = fc.avg_pool3d_backward(np.ones((1, 2, 2, 2, 2)), x, 2)
    >>> float(gx.max()) == 0.5 ** 3
    True
    """
    return _avg_pool_backward(
        3, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
        count_include_pad, divisor_override, backend,
    )


def sum_pool1d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D sum pooling: the sum of each window (padded taps contribute nothing).

    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    kernel_size : int or tuple of 1 ints
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 1 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.sum_pool1d(np.ones((1, 2, 8)), 2).max()) == 2 ** 1
    True
    """
    return _sum_pool(
        1, x, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def sum_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`sum_pool1d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8))
    >>> float(fc.sum_pool1d_backward(np.ones((1, 2, 4)), x, 2).max())
    1.0
    """
    return _sum_pool_backward(
        1, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
    )


def sum_pool2d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D sum pooling: the sum of each window (padded taps contribute nothing).

    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 2 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.sum_pool2d(np.ones((1, 2, 8, 8)), 2).max()) == 2 ** 2
    True
    """
    return _sum_pool(
        2, x, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def sum_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`sum_pool2d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8, 8))
    >>> float(fc.sum_pool2d_backward(np.ones((1, 2, 4, 4)), x, 2).max())
    1.0
    """
    return _sum_pool_backward(
        2, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
    )


def sum_pool3d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D sum pooling: the sum of each window (padded taps contribute nothing).

    Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    kernel_size : int or tuple of 3 ints
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 3 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.sum_pool3d(np.ones((1, 2, 4, 4, 4)), 2).max()) == 2 ** 3
    True
    """
    return _sum_pool(
        3, x, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def sum_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`sum_pool3d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 4, 4, 4))
    >>> float(fc.sum_pool3d_backward(np.ones((1, 2, 2, 2, 2)), x, 2).max())
    1.0
    """
    return _sum_pool_backward(
        3, grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
    )


def lp_pool1d(
    x: ArrayLike, norm_type: float, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D Lp pooling: ``(sum over the window's taps inside the input of |x|^p)^(1/p)``.

    The ONNX ``LpPool`` definition: absolute values, padded taps contribute nothing,
    no rescaling (PyTorch's ``lp_pool1d`` has no abs and no padding; the two agree
    on non-negative inputs without padding).  ``norm_type=2`` is L2-norm pooling;
    ``norm_type=inf`` is the max of ``|x|``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    norm_type : float
        ``p > 0`` (``inf`` allowed).
    kernel_size : int or tuple of 1 ints
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 1 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> bool(np.isclose(fc.lp_pool1d(np.full((1, 2, 8), 3.0), 2, 2).max(), 3.0 * 2 ** (1 / 2)))
    True
    """
    return _lp_pool(
        1, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def lp_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, norm_type: float, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`lp_pool1d`: ``g * sign(x) |x|^(p-1) / y^(p-1)``
    (0 where the window's norm ``y`` is 0, or where ``x`` is 0 and ``p < 1``).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8))
    >>> fc.lp_pool1d_backward(np.ones((1, 2, 4)), x, 2, 2).shape == x.shape
    True
    """
    return _lp_pool_backward(
        1, grad_output, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode,
        backend,
    )


def lp_pool2d(
    x: ArrayLike, norm_type: float, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D Lp pooling: ``(sum over the window's taps inside the input of |x|^p)^(1/p)``.

    The ONNX ``LpPool`` definition: absolute values, padded taps contribute nothing,
    no rescaling (PyTorch's ``lp_pool2d`` has no abs and no padding; the two agree
    on non-negative inputs without padding).  ``norm_type=2`` is L2-norm pooling;
    ``norm_type=inf`` is the max of ``|x|``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    norm_type : float
        ``p > 0`` (``inf`` allowed).
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 2 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.lp_pool2d(np.full((1, 2, 8, 8), 3.0), 2, 2).max()) == 3.0 * 2 ** (2 / 2)
    True
    """
    return _lp_pool(
        2, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def lp_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, norm_type: float, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`lp_pool2d`: ``g * sign(x) |x|^(p-1) / y^(p-1)``
    (0 where the window's norm ``y`` is 0, or where ``x`` is 0 and ``p < 1``).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8, 8))
    >>> fc.lp_pool2d_backward(np.ones((1, 2, 4, 4)), x, 2, 2).shape == x.shape
    True
    """
    return _lp_pool_backward(
        2, grad_output, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode,
        backend,
    )


def lp_pool3d(
    x: ArrayLike, norm_type: float, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, dilation: Size = 1, ceil_mode: bool = False, *,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D Lp pooling: ``(sum over the window's taps inside the input of |x|^p)^(1/p)``.

    The ONNX ``LpPool`` definition: absolute values, padded taps contribute nothing,
    no rescaling (PyTorch's ``lp_pool3d`` has no abs and no padding; the two agree
    on non-negative inputs without padding).  ``norm_type=2`` is L2-norm pooling;
    ``norm_type=inf`` is the max of ``|x|``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    norm_type : float
        ``p > 0`` (``inf`` allowed).
    kernel_size : int or tuple of 3 ints
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 3 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> y = fc.lp_pool3d(np.full((1, 2, 4, 4, 4), 3.0), 2, 2)
    >>> bool(np.isclose(y.max(), 3.0 * 2 ** (3 / 2)))
    True
    """
    return _lp_pool(
        3, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend, out,
    )


def lp_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, norm_type: float, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`lp_pool3d`: ``g * sign(x) |x|^(p-1) / y^(p-1)``
    (0 where the window's norm ``y`` is 0, or where ``x`` is 0 and ``p < 1``).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 4, 4, 4))
    >>> fc.lp_pool3d_backward(np.ones((1, 2, 2, 2, 2)), x, 2, 2).shape == x.shape
    True
    """
    return _lp_pool_backward(
        3, grad_output, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode,
        backend,
    )


def gaussian_pool1d(
    x: ArrayLike, kernel_size: Size, sigma: float | tuple[float, ...],
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D Gaussian-weighted average pooling (weights by distance from the window centre).

    Tap ``j`` of an axis, at distance ``(j - (k - 1) / 2) * dilation`` input elements
    from the window centre, has weight ``exp(-distance^2 / (2 sigma^2))``; the weights
    are separable (the product over axes).  Each output is the weighted *average* of
    the window's taps inside the input: it divides by the sum of the weights of those
    taps, so a constant input stays constant, at the borders too.  ``sigma -> inf``
    gives ``avg_pool1d(..., count_include_pad=False)``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    kernel_size : int or tuple of 1 ints
    sigma : float or tuple of 1 floats
        Standard deviation of the weights, in input elements; > 0.
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 1 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> y = fc.gaussian_pool1d(np.full((1, 2, 8), 2.0), 3, 1.0, stride=2, padding=1)
    >>> bool(np.allclose(y, 2.0))
    True
    """
    return _gaussian_pool(
        1, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend, out,
    )


def gaussian_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size,
    sigma: float | tuple[float, ...], stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`gaussian_pool1d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8))
    >>> y = fc.gaussian_pool1d(x, 3, 1.0, padding=1)
    >>> fc.gaussian_pool1d_backward(np.ones_like(y), x, 3, 1.0, padding=1).shape == x.shape
    True
    """
    return _gaussian_pool_backward(
        1, grad_output, x, kernel_size, sigma, stride, padding, dilation, ceil_mode,
        backend,
    )


def gaussian_pool2d(
    x: ArrayLike, kernel_size: Size, sigma: float | tuple[float, ...],
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D Gaussian-weighted average pooling (weights by distance from the window centre).

    Tap ``j`` of an axis, at distance ``(j - (k - 1) / 2) * dilation`` input elements
    from the window centre, has weight ``exp(-distance^2 / (2 sigma^2))``; the weights
    are separable (the product over axes).  Each output is the weighted *average* of
    the window's taps inside the input: it divides by the sum of the weights of those
    taps, so a constant input stays constant, at the borders too.  ``sigma -> inf``
    gives ``avg_pool2d(..., count_include_pad=False)``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or tuple of 2 ints
    sigma : float or tuple of 2 floats
        Standard deviation of the weights, in input elements; > 0.
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 2 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> y = fc.gaussian_pool2d(np.full((1, 2, 8, 8), 2.0), 3, 1.0, stride=2, padding=1)
    >>> bool(np.allclose(y, 2.0))
    True
    """
    return _gaussian_pool(
        2, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend, out,
    )


def gaussian_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size,
    sigma: float | tuple[float, ...], stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`gaussian_pool2d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8, 8))
    >>> y = fc.gaussian_pool2d(x, 3, 1.0, padding=1)
    >>> fc.gaussian_pool2d_backward(np.ones_like(y), x, 3, 1.0, padding=1).shape == x.shape
    True
    """
    return _gaussian_pool_backward(
        2, grad_output, x, kernel_size, sigma, stride, padding, dilation, ceil_mode,
        backend,
    )


def gaussian_pool3d(
    x: ArrayLike, kernel_size: Size, sigma: float | tuple[float, ...],
    stride: Size | None = None, padding: Padding = 0, dilation: Size = 1,
    ceil_mode: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D Gaussian-weighted average pooling (weights by distance from the window centre).

    Tap ``j`` of an axis, at distance ``(j - (k - 1) / 2) * dilation`` input elements
    from the window centre, has weight ``exp(-distance^2 / (2 sigma^2))``; the weights
    are separable (the product over axes).  Each output is the weighted *average* of
    the window's taps inside the input: it divides by the sum of the weights of those
    taps, so a constant input stays constant, at the borders too.  ``sigma -> inf``
    gives ``avg_pool3d(..., count_include_pad=False)``.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    kernel_size : int or tuple of 3 ints
    sigma : float or tuple of 3 floats
        Standard deviation of the weights, in input elements; > 0.
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, tuple of (before, after) pairs, or str
        ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, extra padding at the end),
        ``"same_lower"``, ``"full"``.  May exceed ``kernel_size // 2`` (ONNX style) as long
        as every window overlaps the input, else ``ValueError``.
    dilation : int or tuple of 3 ints
    ceil_mode : bool
        Round the output size up; the last window must start inside the input or its
        leading padding (PyTorch's rule).
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> y = fc.gaussian_pool3d(np.full((1, 2, 4, 4, 4), 2.0), 3, 1.0, stride=2, padding=1)
    >>> bool(np.allclose(y, 2.0))
    True
    """
    return _gaussian_pool(
        3, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend, out,
    )


def gaussian_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, kernel_size: Size,
    sigma: float | tuple[float, ...], stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`gaussian_pool3d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 4, 4, 4))
    >>> y = fc.gaussian_pool3d(x, 3, 1.0, padding=1)
    >>> fc.gaussian_pool3d_backward(np.ones_like(y), x, 3, 1.0, padding=1).shape == x.shape
    True
    """
    return _gaussian_pool_backward(
        3, grad_output, x, kernel_size, sigma, stride, padding, dilation, ceil_mode,
        backend,
    )


def adaptive_avg_pool1d(
    x: ArrayLike, output_size: Size, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool1d``).

    Output ``o`` of an axis of length ``L`` averages ``[floor(o L / O), ceil((o + 1) L / O))``;
    ``output_size=1`` is global average pooling.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    output_size : int or tuple of 1 ints (None entries keep the input size)

    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_avg_pool1d(np.ones((1, 2, 8)), 1).shape
    (1, 2, 1)
    """
    return _adaptive_avg_pool(
        1, x, output_size, backend, out,
    )


def adaptive_avg_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_avg_pool1d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8))
    >>> gx = fc.adaptive_avg_pool1d_backward(np.ones((1, 2, 1)), x, 1)
    >>> bool(np.allclose(gx.sum(), 2.0))
    True
    """
    return _adaptive_avg_pool_backward(
        1, grad_output, x, output_size, backend,
    )


def adaptive_avg_pool2d(
    x: ArrayLike, output_size: Size, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``).

    Output ``o`` of an axis of length ``L`` averages ``[floor(o L / O), ceil((o + 1) L / O))``;
    ``output_size=1`` is global average pooling.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    output_size : int or tuple of 2 ints (None entries keep the input size)

    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_avg_pool2d(np.ones((1, 2, 8, 8)), 1).shape
    (1, 2, 1, 1)
    """
    return _adaptive_avg_pool(
        2, x, output_size, backend, out,
    )


def adaptive_avg_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_avg_pool2d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 8, 8))
    >>> gx = fc.adaptive_avg_pool2d_backward(np.ones((1, 2, 1, 1)), x, 1)
    >>> bool(np.allclose(gx.sum(), 2.0))
    True
    """
    return _adaptive_avg_pool_backward(
        2, grad_output, x, output_size, backend,
    )


def adaptive_avg_pool3d(
    x: ArrayLike, output_size: Size, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool3d``).

    Output ``o`` of an axis of length ``L`` averages ``[floor(o L / O), ceil((o + 1) L / O))``;
    ``output_size=1`` is global average pooling.  Integers give float64.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    output_size : int or tuple of 3 ints (None entries keep the input size)

    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_avg_pool3d(np.ones((1, 2, 4, 4, 4)), 1).shape
    (1, 2, 1, 1, 1)
    """
    return _adaptive_avg_pool(
        3, x, output_size, backend, out,
    )


def adaptive_avg_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, *, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_avg_pool3d`.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 4, 4, 4))
    >>> gx = fc.adaptive_avg_pool3d_backward(np.ones((1, 2, 1, 1, 1)), x, 1)
    >>> bool(np.allclose(gx.sum(), 2.0))
    True
    """
    return _adaptive_avg_pool_backward(
        3, grad_output, x, output_size, backend,
    )


def adaptive_max_pool1d(
    x: ArrayLike, output_size: Size, return_indices: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool1d``).

    Windows as :func:`adaptive_avg_pool1d`; max semantics as :func:`max_pool1d`.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    output_size : int or tuple of 1 ints (None entries keep the input size)
    return_indices : bool
        Also return the int64 flat in-plane index of each maximum.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)
        And the indices if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_max_pool1d(np.ones((1, 2, 8)), 1).shape
    (1, 2, 1)
    """
    return _adaptive_max_pool(
        1, x, output_size, return_indices, backend, out,
    )


def adaptive_max_pool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, return_indices: bool = False,
    *, indices: ArrayLike | None = None, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_max_pool1d` (first maximum of each window).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's indices; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8))
    >>> gx = fc.adaptive_max_pool1d_backward(np.ones((1, 2, 1)), x, 1)
    >>> float(gx.sum())
    2.0
    """
    return _adaptive_max_pool_backward(
        1, grad_output, x, output_size, indices, backend,
    )


def adaptive_max_pool2d(
    x: ArrayLike, output_size: Size, return_indices: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool2d``).

    Windows as :func:`adaptive_avg_pool2d`; max semantics as :func:`max_pool2d`.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    output_size : int or tuple of 2 ints (None entries keep the input size)
    return_indices : bool
        Also return the int64 flat in-plane index of each maximum.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)
        And the indices if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_max_pool2d(np.ones((1, 2, 8, 8)), 1).shape
    (1, 2, 1, 1)
    """
    return _adaptive_max_pool(
        2, x, output_size, return_indices, backend, out,
    )


def adaptive_max_pool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, return_indices: bool = False,
    *, indices: ArrayLike | None = None, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_max_pool2d` (first maximum of each window).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's indices; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    >>> gx = fc.adaptive_max_pool2d_backward(np.ones((1, 2, 1, 1)), x, 1)
    >>> float(gx.sum())
    2.0
    """
    return _adaptive_max_pool_backward(
        2, grad_output, x, output_size, indices, backend,
    )


def adaptive_max_pool3d(
    x: ArrayLike, output_size: Size, return_indices: bool = False, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """3-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool3d``).

    Windows as :func:`adaptive_avg_pool3d`; max semantics as :func:`max_pool3d`.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    output_size : int or tuple of 3 ints (None entries keep the input size)
    return_indices : bool
        Also return the int64 flat in-plane index of each maximum.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was)
        And the indices if ``return_indices``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.adaptive_max_pool3d(np.ones((1, 2, 4, 4, 4)), 1).shape
    (1, 2, 1, 1, 1)
    """
    return _adaptive_max_pool(
        3, x, output_size, return_indices, backend, out,
    )


def adaptive_max_pool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, output_size: Size, return_indices: bool = False,
    *, indices: ArrayLike | None = None, backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`adaptive_max_pool3d` (first maximum of each window).

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    indices : array_like of int, optional
        Keyword-only: the forward's indices; skips recomputing the argmax.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 4, 4, 4))
    >>> gx = fc.adaptive_max_pool3d_backward(np.ones((1, 2, 1, 1, 1)), x, 1)
    >>> float(gx.sum())
    2.0
    """
    return _adaptive_max_pool_backward(
        3, grad_output, x, output_size, indices, backend,
    )


def max_unpool1d(
    x: ArrayLike, indices: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, output_size: Size | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D max unpooling (``torch.nn.functional.max_unpool1d``): the inverse of
    :func:`max_pool1d` given its indices.

    The result is zero except ``out[n, c].flat[indices[n, c]] = x[n, c]`` (a repeated
    index keeps the last value in row-major order).  Its spatial size is
    ``(L - 1) * stride - pad_before - pad_after + kernel_size`` unless ``output_size``
    (spatial, or the full shape) is given, which must lie strictly within ``stride``
    of that default.  Indices outside the output plane raise ``ValueError``.

    Parameters
    ----------
    x : array_like, shape (N, C, L) or (C, L)
    indices : array_like of int, the shape of ``x``
    kernel_size : int or tuple of 1 ints
    stride : int or tuple of 1 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, or tuple of (before, after) pairs
    output_size : tuple of ints, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was), dtype of ``x``

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8))
    >>> y, idx = fc.max_pool1d(x, 2, return_indices=True)
    >>> fc.max_unpool1d(y, idx, 2).shape == x.shape
    True
    """
    return _max_unpool(
        1, x, indices, kernel_size, stride, padding, output_size, backend, out,
    )


def max_unpool1d_backward(
    grad_output: ArrayLike, x: ArrayLike, indices: ArrayLike, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, output_size: Size | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_unpool1d`: ``grad_output`` gathered at ``indices``.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8))
    >>> y, idx = fc.max_pool1d(x, 2, return_indices=True)
    >>> fc.max_unpool1d_backward(np.ones_like(x), y, idx, 2).shape == y.shape
    True
    """
    return _max_unpool_backward(
        1, grad_output, x, indices, kernel_size, stride, padding, output_size, backend,
    )


def max_unpool2d(
    x: ArrayLike, indices: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, output_size: Size | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """2-D max unpooling (``torch.nn.functional.max_unpool2d``): the inverse of
    :func:`max_pool2d` given its indices.

    The result is zero except ``out[n, c].flat[indices[n, c]] = x[n, c]`` (a repeated
    index keeps the last value in row-major order).  Its spatial size is
    ``(L - 1) * stride - pad_before - pad_after + kernel_size`` unless ``output_size``
    (spatial, or the full shape) is given, which must lie strictly within ``stride``
    of that default.  Indices outside the output plane raise ``ValueError``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
    indices : array_like of int, the shape of ``x``
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, or tuple of (before, after) pairs
    output_size : tuple of ints, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was), dtype of ``x``

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    >>> y, idx = fc.max_pool2d(x, 2, return_indices=True)
    >>> fc.max_unpool2d(y, idx, 2).shape == x.shape
    True
    """
    return _max_unpool(
        2, x, indices, kernel_size, stride, padding, output_size, backend, out,
    )


def max_unpool2d_backward(
    grad_output: ArrayLike, x: ArrayLike, indices: ArrayLike, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, output_size: Size | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_unpool2d`: ``grad_output`` gathered at ``indices``.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    >>> y, idx = fc.max_pool2d(x, 2, return_indices=True)
    >>> fc.max_unpool2d_backward(np.ones_like(x), y, idx, 2).shape == y.shape
    True
    """
    return _max_unpool_backward(
        2, grad_output, x, indices, kernel_size, stride, padding, output_size, backend,
    )


def max_unpool3d(
    x: ArrayLike, indices: ArrayLike, kernel_size: Size, stride: Size | None = None,
    padding: Padding = 0, output_size: Size | None = None, *, backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """3-D max unpooling (``torch.nn.functional.max_unpool3d``): the inverse of
    :func:`max_pool3d` given its indices.

    The result is zero except ``out[n, c].flat[indices[n, c]] = x[n, c]`` (a repeated
    index keeps the last value in row-major order).  Its spatial size is
    ``(L - 1) * stride - pad_before - pad_after + kernel_size`` unless ``output_size``
    (spatial, or the full shape) is given, which must lie strictly within ``stride``
    of that default.  Indices outside the output plane raise ``ValueError``.

    Parameters
    ----------
    x : array_like, shape (N, C, D, H, W) or (C, D, H, W)
    indices : array_like of int, the shape of ``x``
    kernel_size : int or tuple of 3 ints
    stride : int or tuple of 3 ints, optional
        Default: ``kernel_size``.
    padding : int, tuple, or tuple of (before, after) pairs
    output_size : tuple of ints, optional
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.
    out : ndarray, optional
        Keyword-only: preallocated result of the exact shape and dtype, written in place
        and returned (``ValueError`` otherwise).

    Returns
    -------
    ndarray, shape (N, C, *output_size) (unbatched if ``x`` was), dtype of ``x``

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 4, 4, 4))
    >>> y, idx = fc.max_pool3d(x, 2, return_indices=True)
    >>> fc.max_unpool3d(y, idx, 2).shape == x.shape
    True
    """
    return _max_unpool(
        3, x, indices, kernel_size, stride, padding, output_size, backend, out,
    )


def max_unpool3d_backward(
    grad_output: ArrayLike, x: ArrayLike, indices: ArrayLike, kernel_size: Size,
    stride: Size | None = None, padding: Padding = 0, output_size: Size | None = None, *,
    backend: str = "auto",
) -> np.ndarray:
    """Input gradient of :func:`max_unpool3d`: ``grad_output`` gathered at ``indices``.

    Takes the forward's arguments after ``grad_output, x``, with the same meaning.

    Parameters
    ----------
    grad_output : array_like, the forward result's shape
    x : array_like
        The forward's input.
    backend : {"auto", "numba", "cython"}
        Keyword-only. ``"auto"``: the compiled Cython/OpenMP kernels (no JIT), else Numba.

    Returns
    -------
    ndarray, the shape of ``x``
        float (integer inputs give float64 gradients).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 4, 4, 4))
    >>> y, idx = fc.max_pool3d(x, 2, return_indices=True)
    >>> fc.max_unpool3d_backward(np.ones_like(x), y, idx, 2).shape == y.shape
    True
    """
    return _max_unpool_backward(
        3, grad_output, x, indices, kernel_size, stride, padding, output_size, backend,
    )


__all__ = [
    'max_pool1d', 'max_pool1d_backward', 'max_pool2d', 'max_pool2d_backward', 'max_pool3d',
    'max_pool3d_backward', 'avg_pool1d', 'avg_pool1d_backward', 'avg_pool2d',
    'avg_pool2d_backward', 'avg_pool3d', 'avg_pool3d_backward', 'sum_pool1d',
    'sum_pool1d_backward', 'sum_pool2d', 'sum_pool2d_backward', 'sum_pool3d',
    'sum_pool3d_backward', 'lp_pool1d', 'lp_pool1d_backward', 'lp_pool2d',
    'lp_pool2d_backward', 'lp_pool3d', 'lp_pool3d_backward', 'gaussian_pool1d',
    'gaussian_pool1d_backward', 'gaussian_pool2d', 'gaussian_pool2d_backward',
    'gaussian_pool3d', 'gaussian_pool3d_backward', 'adaptive_avg_pool1d',
    'adaptive_avg_pool1d_backward', 'adaptive_avg_pool2d', 'adaptive_avg_pool2d_backward',
    'adaptive_avg_pool3d', 'adaptive_avg_pool3d_backward', 'adaptive_max_pool1d',
    'adaptive_max_pool1d_backward', 'adaptive_max_pool2d', 'adaptive_max_pool2d_backward',
    'adaptive_max_pool3d', 'adaptive_max_pool3d_backward', 'max_unpool1d',
    'max_unpool1d_backward', 'max_unpool2d', 'max_unpool2d_backward', 'max_unpool3d',
    'max_unpool3d_backward', 'channel_max_pool', 'channel_max_pool_backward',
]
