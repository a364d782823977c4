"""Plain NumPy float64 references of every pooling operator and its backward.

Obviously right and slow: each window is gathered explicitly (an index array
per axis, ``(N, C, *out, taps)``), padded taps are masked out, and gradients
are scattered with ``np.add.at``.  Argument parsing is the library's
(``_spec.pool_spec``), whose arithmetic is tested on its own.  Values are float64
(max pooling of integers too); indices int64.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .._spec import (
    adaptive_out_size,
    adaptive_windows,
    int_tuple,
    parse_padding,
    pool_batched,
    pool_spec,
    unpool_out_size,
)

__all__ = [
    "max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward", "sum_pool",
    "sum_pool_backward", "lp_pool", "lp_pool_backward", "gaussian_pool",
    "gaussian_pool_backward", "adaptive_avg_pool", "adaptive_avg_pool_backward",
    "adaptive_max_pool", "adaptive_max_pool_backward", "max_unpool", "max_unpool_backward",
    "channel_max_pool", "channel_max_pool_backward",
]


def _windows(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """(spec, values (N, C, *out, T), inside (*out, T), in_padded (*out, T), flat (*out, T),
    offsets (*out, T, nd)): every window's taps in row-major order."""
    x = np.asarray(x)
    spec = pool_spec(nd, x.shape, kernel_size, stride, padding, dilation, ceil_mode,
                     x.dtype, "keep")
    x64 = x.astype(np.float64).reshape(spec.x_shape)
    idx, inside, inpad, offs = [], [], [], []
    for a in range(nd):
        L, O, k = spec.in_size[a], spec.out_size[a], spec.kernel[a]
        s, d, (pb, pa) = spec.stride[a], spec.dilation[a], spec.pad[a]
        i = np.arange(O)[:, None] * s + np.arange(k)[None, :] * d - pb
        shape = [1] * (2 * nd)
        shape[a], shape[nd + a] = O, k
        idx.append(np.clip(i, 0, L - 1).reshape(shape))
        inside.append(((i >= 0) & (i < L)).reshape(shape))
        inpad.append(((i >= -pb) & (i < L + pa)).reshape(shape))
        offs.append((np.arange(k)[None, :] - (k - 1) / 2.0).repeat(O, 0).reshape(shape) * d)
    vals = x64[(slice(None), slice(None)) + tuple(idx)]
    full = spec.out_size + spec.kernel
    T = math.prod(spec.kernel)
    tshape = spec.out_size + (T,)
    ins = np.broadcast_to(functools.reduce(np.logical_and, inside), full).reshape(tshape)
    inp = np.broadcast_to(functools.reduce(np.logical_and, inpad), full).reshape(tshape)
    flat = np.zeros(full, np.int64)
    for a in range(nd):
        flat = flat + idx[a] * math.prod(spec.in_size[a + 1:])
    flat = flat.reshape(spec.out_size + (T,))
    off = np.stack([np.broadcast_to(o, full).reshape(spec.out_size + (T,)) for o in offs], -1)
    vals = vals.reshape(spec.x_shape[:2] + spec.out_size + (T,))
    return spec, vals, ins, inp, flat, off


def _unbatch(a, spec):
    return a if spec.batched else a[0]


def _first_max(vals, valid):
    """Index along the last axis of the winning valid tap: the *last* NaN if there is
    one (PyTorch's ``val > max || isnan(val)`` update), else the first maximum."""
    v = np.where(valid, vals, -np.inf)
    isnan = np.isnan(v) & valid
    arg = np.argmax(np.where(isnan, -np.inf, v), axis=-1)
    # all valid taps -inf: argmax may point at an invalid tap; take the first valid one
    first_valid = np.argmax(np.broadcast_to(valid, v.shape), axis=-1)
    vmax = np.take_along_axis(np.where(isnan, -np.inf, v), arg[..., None], -1)[..., 0]
    arg = np.where(vmax == -np.inf, first_valid, arg)
    last_nan = isnan.shape[-1] - 1 - np.argmax(isnan[..., ::-1], axis=-1)
    return np.where(isnan.any(-1), last_nan, arg)


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             return_indices=False, nd=None):
    """Max pooling (float64 values; int64 flat in-plane indices)."""
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, flat, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                           ceil_mode)
    arg = _first_max(vals, ins)
    out = np.take_along_axis(vals, arg[..., None], -1)[..., 0]
    idx = np.take_along_axis(np.broadcast_to(flat, vals.shape), arg[..., None], -1)[..., 0]
    if return_indices:
        return _unbatch(out, spec), _unbatch(idx, spec)
    return _unbatch(out, spec)


def _scatter(spec, coef, flat):
    """gx (N, C, *in): sum of ``coef (N, C, *out, T)`` at the taps' ``flat`` positions."""
    N, C = spec.x_shape[:2]
    plane = math.prod(spec.in_size)
    gx = np.zeros((N * C, plane))
    cf = coef.reshape(N * C, -1)
    fl = np.broadcast_to(flat, coef.shape).reshape(N * C, -1)
    rows = np.repeat(np.arange(N * C), cf.shape[1]).reshape(cf.shape)
    np.add.at(gx, (rows, fl), cf)
    return _unbatch(gx.reshape(spec.x_shape), spec)


def _g64(grad_output, spec):
    g = np.asarray(grad_output, dtype=np.float64)
    return g.reshape(spec.res_shape)


def max_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False, nd=None):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, flat, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                           ceil_mode)
    arg = _first_max(vals, ins)
    onehot = np.arange(vals.shape[-1]) == arg[..., None]
    coef = onehot * _g64(grad_output, spec)[..., None]
    return _scatter(spec, coef, flat)


def _avg_div(spec, ins, inp, count_include_pad, divisor_override):
    if divisor_override is not None:
        return float(divisor_override)
    return (inp if count_include_pad else ins).sum(-1)


def avg_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             count_include_pad=True, divisor_override=None, nd=None):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, inp, _, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                          ceil_mode)
    s = np.where(ins, vals, 0.0).sum(-1)
    return _unbatch(s / _avg_div(spec, ins, inp, count_include_pad, divisor_override), spec)


def avg_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False, count_include_pad=True, divisor_override=None,
                      nd=None):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, inp, flat, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                             ceil_mode)
    div = _avg_div(spec, ins, inp, count_include_pad, divisor_override)
    coef = ins * (_g64(grad_output, spec) / div)[..., None]
    return _scatter(spec, coef, flat)


def sum_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, nd=None):
    return avg_pool(x, kernel_size, stride, padding, dilation, ceil_mode,
                    divisor_override=1, nd=nd)


def sum_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False, nd=None):
    return avg_pool_backward(grad_output, x, kernel_size, stride, padding, dilation,
                             ceil_mode, divisor_override=1, nd=nd)


def lp_pool(x, norm_type, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
            nd=None):
    """``(sum over taps inside the input of |x|^p)^(1/p)``; ``p = inf``: max |x|."""
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, _, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                        ceil_mode)
    p = float(norm_type)
    a = np.abs(vals)
    if np.isinf(p):
        return _unbatch(np.where(ins, a, -np.inf).max(-1), spec)
    return _unbatch((np.where(ins, a ** p, 0.0).sum(-1)) ** (1.0 / p), spec)


def lp_pool_backward(grad_output, x, norm_type, kernel_size, stride=None, padding=0,
                     dilation=1, ceil_mode=False, nd=None):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, flat, _ = _windows(x, nd, kernel_size, stride, padding, dilation,
                                           ceil_mode)
    p = float(norm_type)
    g = _g64(grad_output, spec)
    a = np.abs(vals)
    if np.isinf(p):
        arg = _first_max(a, ins)
        onehot = np.arange(vals.shape[-1]) == arg[..., None]
        return _scatter(spec, onehot * g[..., None] * np.sign(vals), flat)
    y = (np.where(ins, a ** p, 0.0).sum(-1)) ** (1.0 / p)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(y > 0, g * y ** (1.0 - p), 0.0)
        f = np.where(vals == 0, 0.0, np.sign(vals) * a ** (p - 1.0))
    return _scatter(spec, ins * c[..., None] * f, flat)


def _gauss(nd, off, sigma):
    sig = tuple(sigma) if isinstance(sigma, (tuple, list)) else (sigma,) * nd
    return np.exp(-0.5 * sum((off[..., a] / sig[a]) ** 2 for a in range(nd)))


def gaussian_pool(x, kernel_size, sigma, stride=None, padding=0, dilation=1,
                  ceil_mode=False, nd=None):
    """Weighted average of the taps inside the input, weights ``exp(-r^2 / 2 sigma^2)``
    by distance ``r`` (in input elements) from the window centre."""
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, _, off = _windows(x, nd, kernel_size, stride, padding, dilation,
                                          ceil_mode)
    w = _gauss(nd, off, sigma) * ins
    return _unbatch((np.where(ins, vals, 0.0) * w).sum(-1) / w.sum(-1), spec)


def gaussian_pool_backward(grad_output, x, kernel_size, sigma, stride=None, padding=0,
                           dilation=1, ceil_mode=False, nd=None):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    spec, vals, ins, _, flat, off = _windows(x, nd, kernel_size, stride, padding, dilation,
                                             ceil_mode)
    w = _gauss(nd, off, sigma) * ins
    coef = _g64(grad_output, spec)[..., None] * w / w.sum(-1)[..., None]
    return _scatter(spec, coef, flat)


def _adaptive(x, output_size, nd):
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    batched, xs = pool_batched(nd, x.shape)
    out_size = adaptive_out_size(nd, xs[2:], output_size)
    wins = [adaptive_windows(L, o) for L, o in zip(xs[2:], out_size, strict=True)]
    return x.astype(np.float64).reshape(xs), batched, xs, out_size, wins


def _adaptive_cells(out_size, wins):
    for o in itertools.product(*[range(n) for n in out_size]):
        yield o, tuple(slice(int(w[0][i]), int(w[1][i])) for i, w in zip(o, wins, strict=True))


def adaptive_avg_pool(x, output_size, nd=None):
    x64, batched, xs, out_size, wins = _adaptive(x, output_size, nd)
    out = np.empty(xs[:2] + out_size)
    for o, sl in _adaptive_cells(out_size, wins):
        out[(slice(None), slice(None)) + o] = x64[(Ellipsis,) + sl].reshape(
            xs[:2] + (-1,)).mean(-1)
    return out if batched else out[0]


def adaptive_avg_pool_backward(grad_output, x, output_size, nd=None):
    x64, batched, xs, out_size, wins = _adaptive(x, output_size, nd)
    g = np.asarray(grad_output, np.float64).reshape(xs[:2] + out_size)
    gx = np.zeros(xs)
    for o, sl in _adaptive_cells(out_size, wins):
        cnt = math.prod(s.stop - s.start for s in sl)
        gx[(Ellipsis,) + sl] += (g[(slice(None), slice(None)) + o] / cnt).reshape(
            xs[:2] + (1,) * len(sl))
    return gx if batched else gx[0]


def adaptive_max_pool(x, output_size, return_indices=False, nd=None):
    x64, batched, xs, out_size, wins = _adaptive(x, output_size, nd)
    out = np.empty(xs[:2] + out_size)
    idx = np.empty(xs[:2] + out_size, np.int64)
    grid = np.arange(math.prod(xs[2:])).reshape(xs[2:])
    for o, sl in _adaptive_cells(out_size, wins):
        v = x64[(Ellipsis,) + sl].reshape(xs[:2] + (-1,))
        arg = _first_max(v, np.ones(v.shape[-1], bool))
        out[(slice(None), slice(None)) + o] = np.take_along_axis(v, arg[..., None], -1)[..., 0]
        idx[(slice(None), slice(None)) + o] = grid[sl].ravel()[arg]
    if not batched:
        out, idx = out[0], idx[0]
    return (out, idx) if return_indices else out


def adaptive_max_pool_backward(grad_output, x, output_size, nd=None):
    x64, batched, xs, out_size, wins = _adaptive(x, output_size, nd)
    _, idx = adaptive_max_pool(x64, output_size, True, nd=len(xs) - 2)
    g = np.asarray(grad_output, np.float64).reshape(idx.shape)
    P = xs[0] * xs[1]
    gx = np.zeros((P, math.prod(xs[2:])))
    rows = np.repeat(np.arange(P), g[0, 0].size)
    np.add.at(gx, (rows, idx.reshape(P, -1).ravel()), g.reshape(P, -1).ravel())
    gx = gx.reshape(xs)
    return gx if batched else gx[0]


def max_unpool(x, indices, kernel_size, stride=None, padding=0, output_size=None, nd=None):
    """Zeros except ``out[n, c].flat[indices[n, c, i]] = x[n, c, i]`` (last write wins)."""
    x = np.asarray(x)
    nd = nd or x.ndim - 2
    batched, xs = pool_batched(nd, x.shape)
    kernel = int_tuple(kernel_size, nd, "kernel_size")
    st = kernel if stride is None else int_tuple(stride, nd, "stride")
    pad = parse_padding(padding, nd, xs[2:], kernel, st, (1,) * nd)
    out_size = unpool_out_size(nd, xs[2:], kernel, st, pad, output_size)
    P = xs[0] * xs[1]
    v = x.astype(np.float64).reshape(P, -1)
    ix = np.asarray(indices).reshape(P, -1)
    out = np.zeros((P, math.prod(out_size)))
    for p in range(P):
        for i in range(v.shape[1]):
            out[p, ix[p, i]] = v[p, i]
    out = out.reshape(xs[:2] + out_size)
    return out if batched else out[0]


def max_unpool_backward(grad_output, x, indices, kernel_size, stride=None, padding=0,
                        output_size=None, nd=None):
    x = np.asarray(x)
    g = np.asarray(grad_output, np.float64)
    nd = nd or x.ndim - 2
    batched, xs = pool_batched(nd, x.shape)
    P = xs[0] * xs[1]
    gp = g.reshape(P, -1)
    ix = np.asarray(indices).reshape(P, -1)
    return np.stack([gp[p][ix[p]] for p in range(P)]).reshape(x.shape)


def channel_max_pool(x, k, axis=1):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    v = x.reshape(x.shape[:-1] + (x.shape[-1] // k, k))
    arg = _first_max(v, np.ones(k, bool))
    out = np.take_along_axis(v, arg[..., None], -1)[..., 0]
    return np.moveaxis(out, -1, axis)


def channel_max_pool_backward(grad_output, x, k, axis=1):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    g = np.moveaxis(np.asarray(grad_output, np.float64), axis, -1)
    v = x.reshape(x.shape[:-1] + (x.shape[-1] // k, k))
    arg = _first_max(v, np.ones(k, bool))
    gx = (np.arange(k) == arg[..., None]) * g[..., None]
    return np.moveaxis(gx.reshape(x.shape), -1, axis)
