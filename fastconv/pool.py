"""Pooling: max, average, sum, Lp, Gaussian-weighted, adaptive, unpool, channel max.

Each public function is a thin wrapper: normalise once (``_spec.pool_spec``),
convert the input once to C-contiguous ``(N * C, D, H, W)`` planes of the
compute dtype, run one compiled kernel of the chosen backend (found through
``kernels.get(backend, "pool", name)``), reshape the result.

Every operator exists in 1-D, 2-D and 3-D (``max_pool1d``, ``max_pool2d``, ...)
and has an explicit backward (``max_pool2d_backward(grad_output, x, ...)``)
taking the forward's arguments after ``grad_output, x`` and returning the
gradient with respect to ``x``.  ``backend="auto"`` (keyword-only, every
function) runs the Cython/OpenMP kernels when built, else Numba.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from . import kernels
from ._spec import (
    PoolSpec,
    adaptive_out_size,
    adaptive_windows,
    as_array,
    check_choice,
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

_cython_ok: bool | None = None


# ---------------------------------------------------------------------------
# plumbing shared by every operator
# ---------------------------------------------------------------------------
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


def _nthreads(work: int) -> int:
    return 1 if work < PARALLEL_MIN_ELEMENTS else get_num_threads()


def _p3(t, fill) -> tuple:
    """Left-pad a per-axis tuple to the kernels' 3 axes."""
    return (fill,) * (3 - len(t)) + tuple(t)


def _planes(a: np.ndarray, dtype, nplanes: int, size) -> np.ndarray:
    """C-contiguous ``(P, D, H, W)`` compute-dtype view/copy of an (N, C, *sp) array."""
    return to_compute(a, dtype).reshape((nplanes,) + _p3(size, 1))


def _geom(spec: PoolSpec):
    """(kernel, stride, dilation, pad_before) as 3-tuples for the kernels."""
    return (_p3(spec.kernel, 1), _p3(spec.stride, 1), _p3(spec.dilation, 1),
            _p3(spec.pad_before, 0))


def _work(spec: PoolSpec) -> int:
    return spec.planes * (math.prod(spec.in_size) + math.prod(spec.out_size) * spec.taps)


def _finish(out: np.ndarray, spec: PoolSpec) -> np.ndarray:
    return out.reshape(spec.out_shape).astype(spec.result_dtype, copy=False)


def _check_grad(grad_output, spec: PoolSpec, x_dtype, name="grad_output"):
    """grad_output as an array of the forward's output shape; (compute, result) dtypes."""
    g = as_array(grad_output, name)
    if g.shape != spec.out_shape:
        raise ValueError(
            f"{name} must have the forward output's shape {spec.out_shape}, got {g.shape}"
        )
    dts = [g.dtype] + ([np.dtype(x_dtype)] if np.dtype(x_dtype).kind == "f" else [])
    if g.dtype.kind == "c":
        raise TypeError(f"{name} must be a real array, got dtype {g.dtype}")
    gdt = np.result_type(*[d.newbyteorder("=") for d in dts])
    return g, pool_dtypes(gdt, "float")


def _grad_result(gx: np.ndarray, spec: PoolSpec, rdt) -> np.ndarray:
    shape = spec.x_shape if spec.batched else spec.x_shape[1:]
    return gx.reshape(shape).astype(rdt, copy=False)


def _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode, result, op):
    x = as_array(x, "x")
    spec = pool_spec(nd, x.shape, kernel_size, stride, padding, dilation, ceil_mode,
                     x.dtype, result, op)
    return x, spec


# ---------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------
def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "keep", "max_pool")
    be = _backend(backend)
    xs = _planes(x, spec.dtype, spec.planes, spec.in_size)
    out = np.empty((spec.planes,) + _p3(spec.out_size, 1), spec.dtype)
    nt = _nthreads(_work(spec))
    if return_indices:
        idx = np.empty(out.shape, np.int64)
        _kernel(be, "max_pool_indices")(xs, out, idx, *_geom(spec), nt)
        return _finish(out, spec), idx.reshape(spec.out_shape)
    _kernel(be, "max_pool")(xs, out, *_geom(spec), nt)
    return _finish(out, spec)


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


def _scatter(be, src, idx, dst, accumulate, nt, name="indices"):
    """Run the scatter kernel; indices outside the plane raise ``ValueError``."""
    bad = _kernel(be, "scatter")(src, idx, dst, accumulate, nt)
    if bad:
        S = dst.shape[1]
        raise ValueError(
            f"{name} out of range: values must lie in [0, {S}) (the flattened spatial "
            f"plane), got min {int(idx.min())} and max {int(idx.max())} "
            f"({bad} out of range)"
        )
    return dst


def _max_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, indices, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "keep", "max_pool")
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    be = _backend(backend)
    P = spec.planes
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
    nt = _nthreads(_work(spec))
    if indices is not None:
        idx = _check_indices(indices, spec.out_shape)
        _scatter(be, gs.reshape(P, -1), idx.reshape(P, -1), gx.reshape(P, -1), True, nt)
    else:
        xs = _planes(x, spec.dtype, P, spec.in_size)
        _kernel(be, "max_pool_backward")(gs, xs, gx, *_geom(spec), nt)
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


def _sum_args(spec: PoolSpec, weights, scales):
    """Per-axis weights / scales padded to 3 axes, in the compute dtype."""
    dt = spec.dtype
    ws = [np.ascontiguousarray(w, dt) for w in weights]
    ss = [np.ascontiguousarray(s, dt) for s in scales]
    ws = [np.ones(1, dt)] * (3 - spec.nd) + ws
    ss = [np.ones(1, dt)] * (3 - spec.nd) + ss
    return ws + ss


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


def _sum_pool_core(spec, x, weights, scales, p, backend):
    be = _backend(backend)
    xs = _planes(x, spec.dtype, spec.planes, spec.in_size)
    out = np.empty((spec.planes,) + _p3(spec.out_size, 1), spec.dtype)
    _kernel(be, "sum_pool")(xs, out, *_geom(spec), *_sum_args(spec, weights, scales),
                            float(p), _nthreads(_work(spec)))
    return out


def _sum_pool_backward_core(spec, g, gdt, weights, scales, backend):
    be = _backend(backend)
    P = spec.planes
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
    sspec = spec if gdt == spec.dtype else _with_dtype(spec, gdt)
    _kernel(be, "sum_pool_backward")(gs, gx, *_geom(spec),
                                     *_sum_args(sspec, weights, scales),
                                     _nthreads(_work(spec)))
    return gx


def _with_dtype(spec: PoolSpec, dt) -> PoolSpec:
    from dataclasses import replace

    return replace(spec, dtype=np.dtype(dt))


def _ones(spec):
    return [np.ones(k) for k in spec.kernel]


def _avg_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
              divisor_override, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "avg_pool")
    scales = _avg_scales(spec, count_include_pad, divisor_override)
    return _finish(_sum_pool_core(spec, x, _ones(spec), scales, 0.0, backend), spec)


def _avg_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, count_include_pad, divisor_override, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "avg_pool")
    scales = _avg_scales(spec, count_include_pad, divisor_override)
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    gx = _sum_pool_backward_core(spec, g, gdt, _ones(spec), scales, backend)
    return _grad_result(gx, spec, grdt)


def _sum_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "sum_pool")
    ones = [np.ones(o) for o in spec.out_size]
    return _finish(_sum_pool_core(spec, x, _ones(spec), ones, 0.0, backend), spec)


def _sum_pool_backward(nd, grad_output, x, kernel_size, stride, padding, dilation,
                       ceil_mode, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "sum_pool")
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    ones = [np.ones(o) for o in spec.out_size]
    gx = _sum_pool_backward_core(spec, g, gdt, _ones(spec), ones, backend)
    return _grad_result(gx, spec, grdt)


def _gaussian_pool(nd, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "gaussian_pool")
    weights, scales = _gauss_weights(spec, sigma)
    return _finish(_sum_pool_core(spec, x, weights, scales, 0.0, backend), spec)


def _gaussian_pool_backward(nd, grad_output, x, kernel_size, sigma, stride, padding,
                            dilation, ceil_mode, backend):
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "gaussian_pool")
    weights, scales = _gauss_weights(spec, sigma)
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    gx = _sum_pool_backward_core(spec, g, gdt, weights, scales, backend)
    return _grad_result(gx, spec, grdt)


def _norm_type(norm_type) -> float:
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool):
        raise TypeError(f"norm_type must be a positive number, got {norm_type!r}")
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"norm_type must be > 0 (or inf), got {norm_type!r}")
    return p


def _lp_pool(nd, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend):
    p = _norm_type(norm_type)
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "lp_pool")
    if math.isinf(p):  # max |x|
        be = _backend(backend)
        xa = np.abs(_planes(x, spec.dtype, spec.planes, spec.in_size))
        out = np.empty((spec.planes,) + _p3(spec.out_size, 1), spec.dtype)
        _kernel(be, "max_pool")(xa, out, *_geom(spec), _nthreads(_work(spec)))
        return _finish(out, spec)
    ones = [np.ones(o) for o in spec.out_size]
    return _finish(_sum_pool_core(spec, x, _ones(spec), ones, p, backend), spec)


def _lp_pool_backward(nd, grad_output, x, norm_type, kernel_size, stride, padding, dilation,
                      ceil_mode, backend):
    p = _norm_type(norm_type)
    x, spec = _spec_from(nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                         "float", "lp_pool")
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    be = _backend(backend)
    P = spec.planes
    xs = _planes(x, gdt, P, spec.in_size)
    gs = _planes(g, gdt, P, spec.out_size)
    nt = _nthreads(_work(spec))
    if math.isinf(p):
        xa = np.abs(xs)
        out = np.empty((P,) + _p3(spec.out_size, 1), gdt)
        idx = np.empty(out.shape, np.int64)
        _kernel(be, "max_pool_indices")(xa, out, idx, *_geom(spec), nt)
        gx = np.empty_like(xs)
        _scatter(be, gs.reshape(P, -1), idx.reshape(P, -1), gx.reshape(P, -1), True, nt)
        gx *= np.sign(xs)
        return _grad_result(gx, spec, grdt)
    # y = (sum |x|^p)^(1/p);  dy/dx_i = sign(x_i) |x_i|^(p-1) y^(1-p)
    sspec = _with_dtype(spec, gdt)
    ones_o = [np.ones(o) for o in spec.out_size]
    y = np.empty((P,) + _p3(spec.out_size, 1), gdt)
    _kernel(be, "sum_pool")(xs, y, *_geom(spec), *_sum_args(sspec, _ones(spec), ones_o),
                            p, nt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c = np.where(y > 0, gs * y ** (1.0 - p), 0).astype(gdt)
        gx = np.empty_like(xs)
        _kernel(be, "sum_pool_backward")(c, gx, *_geom(spec),
                                         *_sum_args(sspec, _ones(spec), ones_o), nt)
        if p == 1.0:
            gx *= np.sign(xs)
        elif p == 2.0:
            gx *= xs
        else:
            f = np.where(xs == 0, 0, np.sign(xs) * np.abs(xs) ** (p - 1.0)).astype(gdt)
            gx *= f
    return _grad_result(gx, spec, grdt)


# ---------------------------------------------------------------------------
# adaptive pooling
# ---------------------------------------------------------------------------
def _adaptive_setup(nd, x, output_size, result, op):
    x = as_array(x, "x")
    batched, xs_shape = pool_batched(nd, x.shape, op=op)
    in_size = xs_shape[2:]
    out_size = adaptive_out_size(nd, in_size, output_size)
    cdt, rdt = pool_dtypes(x.dtype, result)
    spec = PoolSpec(
        nd=nd, batch=xs_shape[0], channels=xs_shape[1], in_size=in_size,
        kernel=tuple(-(-L // o) + 1 for L, o in zip(in_size, out_size, strict=True)),
        stride=(1,) * nd, dilation=(1,) * nd, pad=((0, 0),) * nd, ceil_mode=False,
        out_size=out_size, dtype=cdt, result_dtype=rdt, batched=batched,
    )
    wins = [adaptive_windows(L, o) for L, o in zip(in_size, out_size, strict=True)]
    wins = [(np.zeros(1, np.int64), np.ones(1, np.int64))] * (3 - nd) + wins
    bounds = [np.ascontiguousarray(b, np.int64) for w in wins for b in w]
    return x, spec, bounds


def _adaptive_avg_pool(nd, x, output_size, backend):
    x, spec, bounds = _adaptive_setup(nd, x, output_size, "float", "adaptive_avg_pool")
    be = _backend(backend)
    xs = _planes(x, spec.dtype, spec.planes, spec.in_size)
    out = np.empty((spec.planes,) + _p3(spec.out_size, 1), spec.dtype)
    _kernel(be, "adaptive_avg")(xs, out, *bounds, _nthreads(_work(spec)))
    return _finish(out, spec)


def _adaptive_avg_pool_backward(nd, grad_output, x, output_size, backend):
    x, spec, bounds = _adaptive_setup(nd, x, output_size, "float", "adaptive_avg_pool")
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    be = _backend(backend)
    P = spec.planes
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P,) + _p3(spec.in_size, 1), gdt)
    _kernel(be, "adaptive_avg_backward")(gs, gx, *bounds, _nthreads(_work(spec)))
    return _grad_result(gx, spec, grdt)


def _adaptive_max_pool(nd, x, output_size, return_indices, backend):
    x, spec, bounds = _adaptive_setup(nd, x, output_size, "keep", "adaptive_max_pool")
    be = _backend(backend)
    xs = _planes(x, spec.dtype, spec.planes, spec.in_size)
    out = np.empty((spec.planes,) + _p3(spec.out_size, 1), spec.dtype)
    idx = np.empty(out.shape, np.int64)
    _kernel(be, "adaptive_max")(xs, out, idx, *bounds, _nthreads(_work(spec)))
    if return_indices:
        return _finish(out, spec), idx.reshape(spec.out_shape)
    return _finish(out, spec)


def _adaptive_max_pool_backward(nd, grad_output, x, output_size, indices, backend):
    x, spec, bounds = _adaptive_setup(nd, x, output_size, "keep", "adaptive_max_pool")
    g, (gdt, grdt) = _check_grad(grad_output, spec, x.dtype)
    be = _backend(backend)
    P = spec.planes
    nt = _nthreads(_work(spec))
    plane = math.prod(spec.in_size)
    if indices is not None:
        idx = _check_indices(indices, spec.out_shape)
    else:
        xs = _planes(x, spec.dtype, P, spec.in_size)
        out = np.empty((P,) + _p3(spec.out_size, 1), spec.dtype)
        idx = np.empty(out.shape, np.int64)
        _kernel(be, "adaptive_max")(xs, out, idx, *bounds, nt)
    gs = _planes(g, gdt, P, spec.out_size)
    gx = np.empty((P, plane), gdt)
    _scatter(be, gs.reshape(P, -1), idx.reshape(P, -1), gx, True, nt)
    return _grad_result(gx, spec, grdt)


# ---------------------------------------------------------------------------
# max_unpool
# ---------------------------------------------------------------------------
def _unpool_setup(nd, x, indices, kernel_size, stride, padding, output_size, op):
    x = as_array(x, "x")
    batched, xs_shape = pool_batched(nd, x.shape, op=op)
    kernel = int_tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else int_tuple(stride, nd, "stride")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a tuple or (before, after) pairs for "
                         f"max_unpool{nd}d, got {padding!r}")
    pad = parse_padding(padding, nd, xs_shape[2:], kernel, stride, (1,) * nd)
    out_size = unpool_out_size(nd, xs_shape[2:], kernel, stride, pad, output_size)
    plane = math.prod(out_size)
    idx = _check_indices(indices, x.shape)
    cdt, rdt = pool_dtypes(x.dtype, "keep")
    N, C = xs_shape[:2]
    res_shape = (N, C) + out_size
    return x, idx, (N * C, plane), res_shape if batched else res_shape[1:], cdt, rdt


def _max_unpool(nd, x, indices, kernel_size, stride, padding, output_size, backend):
    x, idx, (P, plane), shape, cdt, rdt = _unpool_setup(
        nd, x, indices, kernel_size, stride, padding, output_size, "max_unpool")
    be = _backend(backend)
    xs = to_compute(x, cdt).reshape(P, -1)
    out = np.empty((P, plane), cdt)
    _scatter(be, xs, idx.reshape(P, -1), out, False, _nthreads(out.size + xs.size))
    return out.reshape(shape).astype(rdt, copy=False)


def _max_unpool_backward(nd, grad_output, x, indices, kernel_size, stride, padding,
                         output_size, backend):
    x, idx, (P, plane), shape, cdt, rdt = _unpool_setup(
        nd, x, indices, kernel_size, stride, padding, output_size, "max_unpool")
    g = as_array(grad_output, "grad_output")
    if g.shape != shape:
        raise ValueError(
            f"grad_output must have the forward output's shape {shape}, got {g.shape}"
        )
    dts = [g.dtype] + ([x.dtype] if x.dtype.kind == "f" else [])
    gdt, grdt = pool_dtypes(np.result_type(*[d.newbyteorder("=") for d in dts]), "float")
    gs = to_compute(g, gdt).reshape(P, plane)
    ix = idx.reshape(P, -1)
    if ix.size and (int(ix.min()) < 0 or int(ix.max()) >= plane):
        raise ValueError(
            f"indices out of range: values must lie in [0, {plane}) (the flattened spatial "
            f"plane), got min {int(ix.min())} and max {int(ix.max())}"
        )
    gx = np.take_along_axis(gs, ix, axis=1)
    return gx.reshape(x.shape).astype(grdt, copy=False)


# ---------------------------------------------------------------------------
# cross-channel max ("maxout")
# ---------------------------------------------------------------------------
def _channel_setup(x, k, axis):
    x = as_array(x, "x")
    if not (isinstance(k, numbers.Integral) and not isinstance(k, bool)):
        raise TypeError(f"k must be an int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x with {x.ndim} dimensions")
    axis = axis % x.ndim
    C = x.shape[axis]
    if C % k:
        raise ValueError(
            f"k={k} must divide the size {C} of x along axis {axis} (shape {x.shape})"
        )
    n = math.prod(x.shape[:axis])
    s = math.prod(x.shape[axis + 1:])
    out_shape = x.shape[:axis] + (C // k,) + x.shape[axis + 1:]
    return x, int(k), (n, C, s), out_shape


def channel_max_pool(x, k: int, axis: int = 1, *, backend: str = "auto") -> np.ndarray:
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
    x, k, (n, C, s), out_shape = _channel_setup(x, k, axis)
    cdt, rdt = pool_dtypes(x.dtype, "keep")
    be = _backend(backend)
    xs = to_compute(x, cdt).reshape(n, C, s)
    out = np.empty((n, C // k, s), cdt)
    _kernel(be, "channel_max")(xs, out, k, _nthreads(xs.size))
    return out.reshape(out_shape).astype(rdt, copy=False)


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
    x, k, (n, C, s), out_shape = _channel_setup(x, k, axis)
    g = as_array(grad_output, "grad_output")
    if g.shape != out_shape:
        raise ValueError(
            f"grad_output must have the forward output's shape {out_shape}, got {g.shape}"
        )
    cdt, _ = pool_dtypes(x.dtype, "keep")
    dts = [g.dtype] + ([x.dtype] if x.dtype.kind == "f" else [])
    gdt, grdt = pool_dtypes(np.result_type(*[d.newbyteorder("=") for d in dts]), "float")
    be = _backend(backend)
    xs = to_compute(x, cdt).reshape(n, C, s)
    gs = to_compute(g, gdt).reshape(n, C // k, s)
    gx = np.empty((n, C, s), gdt)
    _kernel(be, "channel_max_backward")(gs, xs, gx, k, _nthreads(xs.size))
    return gx.reshape(x.shape).astype(grdt, copy=False)


# ---------------------------------------------------------------------------
# the public functions (generated from one template per operator; see the _* cores)
# ---------------------------------------------------------------------------


def max_pool1d(
    x: ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Padding = 0,
    dilation: Size = 1, ceil_mode: bool = False, return_indices: bool = False, *,
    backend: str = "auto",
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
        1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend,
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
        2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend,
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
        3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, backend,
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
        divisor_override, backend,
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
        divisor_override, backend,
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
        divisor_override, backend,
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
        1, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
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
        2, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
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
        3, x, kernel_size, stride, padding, dilation, ceil_mode, backend,
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

    Returns
    -------
    ndarray, shape (N, C, L_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.lp_pool1d(np.full((1, 2, 8), 3.0), 2, 2).max()) == 3.0 * 2 ** (1 / 2)
    True
    """
    return _lp_pool(
        1, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend,
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
        2, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend,
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

    Returns
    -------
    ndarray, shape (N, C, D_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.lp_pool3d(np.full((1, 2, 4, 4, 4), 3.0), 2, 2).max()) == 3.0 * 2 ** (3 / 2)
    True
    """
    return _lp_pool(
        3, x, norm_type, kernel_size, stride, padding, dilation, ceil_mode, backend,
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
        1, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend,
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
        2, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend,
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
        3, x, kernel_size, sigma, stride, padding, dilation, ceil_mode, backend,
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
        1, x, output_size, backend,
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
        2, x, output_size, backend,
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
        3, x, output_size, backend,
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
        1, x, output_size, return_indices, backend,
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
        2, x, output_size, return_indices, backend,
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
        3, x, output_size, return_indices, backend,
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
        1, x, indices, kernel_size, stride, padding, output_size, backend,
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
        2, x, indices, kernel_size, stride, padding, output_size, backend,
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
        3, x, indices, kernel_size, stride, padding, output_size, backend,
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
