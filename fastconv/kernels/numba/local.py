"""Locally connected (unshared) and tiled convolution, Numba backend.

One set of kernels serves both layers.  Arrays arrive C-contiguous in the
compute dtype: x (N, C, H, W), w (Co, TH, TW, C, KH, KW), out / grad_output
(N, Co, OH, OW).  Output position (oh, ow) uses kernel ``w[:, oh % TH, ow % TW]``:
the locally connected layer is ``TH, TW = OH, OW``, a tiled convolution has
small tiles, ``(1, 1)`` is an ordinary convolution.  Zero padding is implicit
(taps outside the input are skipped).  1-D layers use ``H = KH = TH = 1``.

Every pass is split over output elements it owns (forward: output rows;
input gradient: input planes; weight gradient: (co, th, c) weight slabs) and
sums each element in one fixed order, so results do not depend on the
number of threads.
"""

from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _fwd_row(x, w, out, job, sh, sw, ph, pw):
    N, C, H, W = x.shape
    Co, TH, TW, _, KH, KW = w.shape
    OH, OW = out.shape[2], out.shape[3]
    oh = job % OH
    r = job // OH
    co = r % Co
    n = r // Co
    th = oh % TH
    for ow in range(OW):
        tw = ow % TW
        acc = 0.0  # float64 accumulator (float32 data: more accurate, same order)
        iw0 = ow * sw - pw
        for c in range(C):
            for kh in range(KH):
                ih = oh * sh + kh - ph
                if ih < 0 or ih >= H:
                    continue
                for kw in range(KW):
                    iw = iw0 + kw
                    if iw >= 0 and iw < W:
                        acc += w[co, th, tw, c, kh, kw] * x[n, c, ih, iw]
        out[n, co, oh, ow] = acc


@njit(cache=True, fastmath=FASTMATH)
def _fwd_serial(x, w, out, sh, sw, ph, pw):
    for job in range(out.shape[0] * out.shape[1] * out.shape[2]):
        _fwd_row(x, w, out, job, sh, sw, ph, pw)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _fwd_parallel(x, w, out, sh, sw, ph, pw):
    for job in prange(out.shape[0] * out.shape[1] * out.shape[2]):
        _fwd_row(x, w, out, job, sh, sw, ph, pw)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bin_plane(g, w, gx, job, sh, sw, ph, pw):
    N, C, H, W = gx.shape
    Co, TH, TW, _, KH, KW = w.shape
    OH, OW = g.shape[2], g.shape[3]
    c = job % C
    n = job // C
    for ih in range(H):
        for iw in range(W):
            gx[n, c, ih, iw] = 0
    for co in range(Co):
        for oh in range(OH):
            th = oh % TH
            for ow in range(OW):
                tw = ow % TW
                gv = g[n, co, oh, ow]
                iw0 = ow * sw - pw
                for kh in range(KH):
                    ih = oh * sh + kh - ph
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            gx[n, c, ih, iw] += gv * w[co, th, tw, c, kh, kw]


@njit(cache=True, fastmath=FASTMATH)
def _bin_serial(g, w, gx, sh, sw, ph, pw):
    for job in range(gx.shape[0] * gx.shape[1]):
        _bin_plane(g, w, gx, job, sh, sw, ph, pw)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _bin_parallel(g, w, gx, sh, sw, ph, pw):
    for job in prange(gx.shape[0] * gx.shape[1]):
        _bin_plane(g, w, gx, job, sh, sw, ph, pw)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _bw_slab(g, x, gw, job, sh, sw, ph, pw):
    N, C, H, W = x.shape
    Co, TH, TW, _, KH, KW = gw.shape
    OH, OW = g.shape[2], g.shape[3]
    c = job % C
    r = job // C
    th = r % TH
    co = r // TH
    for tw in range(TW):
        for kh in range(KH):
            for kw in range(KW):
                gw[co, th, tw, c, kh, kw] = 0
    for oh in range(th, OH, TH):
        for ow in range(OW):
            tw = ow % TW
            iw0 = ow * sw - pw
            for n in range(N):
                gv = g[n, co, oh, ow]
                for kh in range(KH):
                    ih = oh * sh + kh - ph
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            gw[co, th, tw, c, kh, kw] += gv * x[n, c, ih, iw]


@njit(cache=True, fastmath=FASTMATH)
def _bw_serial(g, x, gw, sh, sw, ph, pw):
    for job in range(gw.shape[0] * gw.shape[1] * gw.shape[3]):
        _bw_slab(g, x, gw, job, sh, sw, ph, pw)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _bw_parallel(g, x, gw, sh, sw, ph, pw):
    for job in prange(gw.shape[0] * gw.shape[1] * gw.shape[3]):
        _bw_slab(g, x, gw, job, sh, sw, ph, pw)


def local_forward(x, w, out, stride, pad, nthreads):
    """out[n, co, oh, ow] = sum_{c, kh, kw} w[co, oh % TH, ow % TW, c, kh, kw] * x[...]."""
    args = (x, w, out, int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]))
    if nthreads > 1:
        numba_threads(nthreads)
        _fwd_parallel(*args)
    else:
        _fwd_serial(*args)
    return out


def local_backward_input(g, w, gx, stride, pad, nthreads):
    """Input gradient into ``gx`` (N, C, H, W) (overwritten)."""
    args = (g, w, gx, int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]))
    if nthreads > 1:
        numba_threads(nthreads)
        _bin_parallel(*args)
    else:
        _bin_serial(*args)
    return gx


def local_backward_weight(g, x, gw, stride, pad, nthreads):
    """Weight gradient into ``gw`` (Co, TH, TW, C, KH, KW) (overwritten)."""
    args = (g, x, gw, int(stride[0]), int(stride[1]), int(pad[0]), int(pad[1]))
    if nthreads > 1:
        numba_threads(nthreads)
        _bw_parallel(*args)
    else:
        _bw_serial(*args)
    return gw
