"""Unshared (locally connected) and tiled convolution, Numba backend: the
gather/scatter loops around the per-tile-class GEMMs of ``fastconv.local``.

Output position ``(oh, ow)`` uses kernel class ``(oh % TH, ow % TW)``; the
positions of class ``(th, tw)`` are ``(i * TH + th, j * TW + tw)`` for
``i < PH = ceil(OH / TH)``, ``j < PW = ceil(OW / TW)`` (those past the output
are padding rows: zeros in, ignored out).  Arrays are C-contiguous in the
compute dtype:

* x, gx: (N, C, H, W)
* cols: (TH * TW, nb, PH, PW, C, KH, KW), samples ``n0 .. n0 + nb`` of x.

``tiled_im2col`` writes every element of ``cols`` (parallel over rows of one
class and sample); ``tiled_col2im`` adds ``cols`` back into ``gx`` (parallel over
(sample, channel) planes, each summed in one fixed order whatever the thread
count).  Zero padding is implicit.
"""

from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _im2col_row(x, cols, job, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    N, C, H, W = x.shape
    NCL, nb, PH, PW, _, KH, KW = cols.shape
    i = job % PH
    r = job // PH
    b = r % nb
    cl = r // nb
    th = cl // TW
    tw = cl % TW
    n = n0 + b
    oh = i * TH + th
    for j in range(PW):
        ow = j * TW + tw
        if oh >= OH or ow >= OW:
            for c in range(C):
                for kh in range(KH):
                    for kw in range(KW):
                        cols[cl, b, i, j, c, kh, kw] = 0
            continue
        ih0 = oh * sh - ph
        iw0 = ow * sw - pw
        for c in range(C):
            for kh in range(KH):
                ih = ih0 + kh
                if ih < 0 or ih >= H:
                    for kw in range(KW):
                        cols[cl, b, i, j, c, kh, kw] = 0
                    continue
                for kw in range(KW):
                    iw = iw0 + kw
                    if iw >= 0 and iw < W:
                        cols[cl, b, i, j, c, kh, kw] = x[n, c, ih, iw]
                    else:
                        cols[cl, b, i, j, c, kh, kw] = 0


@njit(cache=True, fastmath=FASTMATH)
def _im2col_serial(x, cols, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    for job in range(cols.shape[0] * cols.shape[1] * cols.shape[2]):
        _im2col_row(x, cols, job, n0, sh, sw, ph, pw, TH, TW, OH, OW)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _im2col_parallel(x, cols, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    for job in prange(cols.shape[0] * cols.shape[1] * cols.shape[2]):
        _im2col_row(x, cols, job, n0, sh, sw, ph, pw, TH, TW, OH, OW)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _col2im_plane(cols, gx, job, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    N, C, H, W = gx.shape
    NCL, nb, PH, PW, _, KH, KW = cols.shape
    c = job % C
    b = job // C
    n = n0 + b
    for cl in range(NCL):
        th = cl // TW
        tw = cl % TW
        for i in range(PH):
            oh = i * TH + th
            if oh >= OH:
                continue
            for j in range(PW):
                ow = j * TW + tw
                if ow >= OW:
                    continue
                ih0 = oh * sh - ph
                iw0 = ow * sw - pw
                for kh in range(KH):
                    ih = ih0 + kh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            gx[n, c, ih, iw] += cols[cl, b, i, j, c, kh, kw]


@njit(cache=True, fastmath=FASTMATH)
def _col2im_serial(cols, gx, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    for job in range(cols.shape[1] * gx.shape[1]):
        _col2im_plane(cols, gx, job, n0, sh, sw, ph, pw, TH, TW, OH, OW)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _col2im_parallel(cols, gx, n0, sh, sw, ph, pw, TH, TW, OH, OW):
    for job in prange(cols.shape[1] * gx.shape[1]):
        _col2im_plane(cols, gx, job, n0, sh, sw, ph, pw, TH, TW, OH, OW)


def tiled_im2col(x, cols, n0, stride, pad, tile, out_size, nthreads):
    """Gather the patches of samples ``n0 .. n0 + nb`` into ``cols`` (every element written)."""
    args = (x, cols, int(n0), int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]),
            int(tile[0]), int(tile[1]), int(out_size[0]), int(out_size[1]))
    if nthreads > 1:
        numba_threads(nthreads)
        _im2col_parallel(*args)
    else:
        _im2col_serial(*args)
    return cols


def tiled_col2im(cols, gx, n0, stride, pad, tile, out_size, nthreads):
    """Add the patch gradients ``cols`` of samples ``n0 .. n0 + nb`` into ``gx``."""
    args = (cols, gx, int(n0), int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]),
            int(tile[0]), int(tile[1]), int(out_size[0]), int(out_size[1]))
    if nthreads > 1:
        numba_threads(nthreads)
        _col2im_parallel(*args)
    else:
        _col2im_serial(*args)
    return gx
