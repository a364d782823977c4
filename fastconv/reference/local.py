"""Reference unshared (locally connected) and tiled convolution, float64.

Forward: a sliding-window view of the zero-padded input contracted with the
per-position weight (``einsum``).  Backward: the adjoint written out -- the
input gradient scatters every window back with ``+=`` on slices, the weight
gradient is the windows contracted with the output gradient.  Tiled weights
are expanded to one kernel per output position (``w[i % th, j % tw]``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._spec import int_tuple, out_size_1, parse_padding

__all__ = ["local_conv", "local_conv_backward", "tiled_conv2d", "tiled_conv2d_backward",
           "tiled_to_local"]


def _geometry(x, kernel, stride, padding):
    nd = len(kernel)
    stride = int_tuple(stride, nd, "stride")
    pad = parse_padding(padding, nd, x.shape[2:], kernel, stride, (1,) * nd)
    out = tuple(out_size_1(L, p, k, s, 1)
                for L, p, k, s in zip(x.shape[2:], pad, kernel, stride, strict=True))
    return stride, pad, out


def _windows(x, kernel, stride, pad, out):
    nd = len(kernel)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    v = sliding_window_view(xp, kernel, axis=tuple(range(2, 2 + nd)))
    sl = (slice(None), slice(None)) + tuple(
        slice(0, o * s, s) for o, s in zip(out, stride, strict=True))
    return v[sl]  # (N, C, *out, *kernel)


def local_conv(x, w, b=None, stride=1, padding=0):
    """Unshared convolution, ``w`` (C_out, *out, C_in, *kernel); x batched (N, C, *sp)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    kernel = w.shape[2 + nd:]
    stride, pad, out = _geometry(x, kernel, stride, padding)
    win = _windows(x, kernel, stride, pad, out)
    sp, kk = "ijk"[:nd], "uvw"[:nd]
    y = np.einsum(f"nc{sp}{kk},o{sp}c{kk}->no{sp}", win, w)
    if b is not None:
        b = np.asarray(b, np.float64)
        y = y + (b.reshape((1, -1) + (1,) * nd) if b.ndim == 1 else b[None])
    return y


def local_conv_backward(g, x, w, stride=1, padding=0):
    """(input grad, weight grad, per-position bias grad) of :func:`local_conv`."""
    g = np.asarray(g, np.float64)
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    kernel = w.shape[2 + nd:]
    stride, pad, out = _geometry(x, kernel, stride, padding)
    win = _windows(x, kernel, stride, pad, out)
    sp, kk = "ijk"[:nd], "uvw"[:nd]
    gw = np.einsum(f"no{sp},nc{sp}{kk}->o{sp}c{kk}", g, win)
    # input gradient: scatter each tap's contribution over the padded input
    contrib = np.einsum(f"no{sp},o{sp}c{kk}->nc{sp}{kk}", g, w)
    xp_shape = x.shape[:2] + tuple(L + a + c for L, (a, c) in zip(x.shape[2:], pad, strict=True))
    gxp = np.zeros(xp_shape)
    for tap in np.ndindex(*kernel):
        sl = (slice(None), slice(None)) + tuple(
            slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, out, stride, strict=True))
        gxp[sl] += contrib[(Ellipsis,) + tap]
    crop = (slice(None), slice(None)) + tuple(
        slice(a, a + L) for (a, _), L in zip(pad, x.shape[2:], strict=True))
    return gxp[crop], gw, g.sum(axis=0)


def tiled_to_local(w, out):
    """Expand a tiled weight (th, tw, Co, C, kh, kw) to the unshared layout
    (Co, OH, OW, C, kh, kw) for output size ``out``."""
    w = np.asarray(w)
    i = np.arange(out[0]) % w.shape[0]
    j = np.arange(out[1]) % w.shape[1]
    full = w[i[:, None], j[None, :]]  # (OH, OW, Co, C, kh, kw)
    return np.moveaxis(full, 2, 0)


def tiled_conv2d(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    stride_t, pad, out = _geometry(x, w.shape[4:], stride, padding)
    return local_conv(x, tiled_to_local(w, out), b, stride, padding)


def tiled_conv2d_backward(g, x, w, stride=1, padding=0):
    """(input grad, weight grad, bias grad (C_out,)) of :func:`tiled_conv2d`."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    _, _, out = _geometry(x, w.shape[4:], stride, padding)
    gx, gwl, gbl = local_conv_backward(g, x, tiled_to_local(w, out), stride, padding)
    th, tw = w.shape[:2]
    gw = np.zeros(w.shape)
    for i in range(out[0]):
        for j in range(out[1]):
            gw[i % th, j % tw] += gwl[:, i, j]
    return gx, gw, gbl.sum(axis=(1, 2))
