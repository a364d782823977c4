"""Locally connected (unshared) and tiled convolution, Cython/OpenMP backend.

Same contract as ``fastconv/kernels/numba/local.py``: x (N, C, H, W),
w (Co, TH, TW, C, KH, KW), out / grad_output (N, Co, OH, OW), all C-contiguous;
output position (oh, ow) uses ``w[:, oh % TH, ow % TW]``.  ``const`` memoryviews
(read-only inputs work), loops ``nogil`` under OpenMP ``prange`` over the
elements each pass owns, fixed summation order per element.
"""

from cython.parallel cimport prange

from .fused cimport real


cdef void _fwd_row(
    const real* x, const real* w, real* out, Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    cdef Py_ssize_t oh = job % OH
    cdef Py_ssize_t r = job // OH
    cdef Py_ssize_t co = r % Co
    cdef Py_ssize_t n = r // Co
    cdef Py_ssize_t th = oh % TH
    cdef Py_ssize_t ow, tw, c, kh, kw, ih, iw, iw0
    cdef real acc
    cdef const real* wk
    cdef const real* xr
    for ow in range(OW):
        tw = ow % TW
        acc = 0
        iw0 = ow * sw - pw
        for c in range(C):
            for kh in range(KH):
                ih = oh * sh + kh - ph
                if ih < 0 or ih >= H:
                    continue
                wk = w + ((((co * TH + th) * TW + tw) * C + c) * KH + kh) * KW
                xr = x + ((n * C + c) * H + ih) * W
                for kw in range(KW):
                    iw = iw0 + kw
                    if iw >= 0 and iw < W:
                        acc = acc + wk[kw] * xr[iw]
        out[((n * Co + co) * OH + oh) * OW + ow] = acc


cdef void _bin_plane(
    const real* g, const real* w, real* gx, Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    cdef Py_ssize_t c = job % C
    cdef Py_ssize_t n = job // C
    cdef real* plane = gx + (n * C + c) * H * W
    cdef Py_ssize_t i, co, oh, ow, th, tw, kh, kw, ih, iw, iw0
    cdef real gv
    cdef const real* wk
    for i in range(H * W):
        plane[i] = 0
    for co in range(Co):
        for oh in range(OH):
            th = oh % TH
            for ow in range(OW):
                tw = ow % TW
                gv = g[((n * Co + co) * OH + oh) * OW + ow]
                iw0 = ow * sw - pw
                for kh in range(KH):
                    ih = oh * sh + kh - ph
                    if ih < 0 or ih >= H:
                        continue
                    wk = w + ((((co * TH + th) * TW + tw) * C + c) * KH + kh) * KW
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            plane[ih * W + iw] += gv * wk[kw]


cdef void _bw_slab(
    const real* g, const real* x, real* gw, Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    cdef Py_ssize_t c = job % C
    cdef Py_ssize_t r = job // C
    cdef Py_ssize_t th = r % TH
    cdef Py_ssize_t co = r // TH
    cdef Py_ssize_t tw, kh, kw, oh, ow, n, ih, iw, iw0
    cdef real gv
    cdef real* wk
    cdef const real* xr
    for tw in range(TW):
        wk = gw + (((co * TH + th) * TW + tw) * C + c) * KH * KW
        for kh in range(KH * KW):
            wk[kh] = 0
    oh = th
    while oh < OH:
        for ow in range(OW):
            tw = ow % TW
            iw0 = ow * sw - pw
            for n in range(N):
                gv = g[((n * Co + co) * OH + oh) * OW + ow]
                for kh in range(KH):
                    ih = oh * sh + kh - ph
                    if ih < 0 or ih >= H:
                        continue
                    wk = gw + ((((co * TH + th) * TW + tw) * C + c) * KH + kh) * KW
                    xr = x + ((n * C + c) * H + ih) * W
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            wk[kw] += gv * xr[iw]
        oh = oh + TH


def local_forward(const real[:, :, :, ::1] x, const real[:, :, :, :, :, ::1] w,
                  real[:, :, :, ::1] out, stride, pad, int nthreads):
    """out[n, co, oh, ow] = sum_{c, kh, kw} w[co, oh % TH, ow % TW, c, kh, kw] * x[...]."""
    cdef Py_ssize_t sh = stride[0], sw = stride[1], ph = pad[0], pw = pad[1]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = w.shape[0], TH = w.shape[1], TW = w.shape[2]
    cdef Py_ssize_t KH = w.shape[4], KW = w.shape[5]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t njobs = N * Co * OH, job
    if njobs == 0 or OW == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0, 0]
    cdef real* op = &out[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _fwd_row(xp, wp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                         sh, sw, ph, pw)
        else:
            for job in range(njobs):
                _fwd_row(xp, wp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                         sh, sw, ph, pw)


def local_backward_input(const real[:, :, :, ::1] g, const real[:, :, :, :, :, ::1] w,
                         real[:, :, :, ::1] gx, stride, pad, int nthreads):
    """Input gradient into ``gx`` (N, C, H, W) (overwritten)."""
    cdef Py_ssize_t sh = stride[0], sw = stride[1], ph = pad[0], pw = pad[1]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t Co = w.shape[0], TH = w.shape[1], TW = w.shape[2]
    cdef Py_ssize_t KH = w.shape[4], KW = w.shape[5]
    cdef Py_ssize_t OH = g.shape[2], OW = g.shape[3]
    cdef Py_ssize_t njobs = N * C, job
    if njobs == 0 or H * W == 0:
        return
    cdef const real* gp = &g[0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0, 0]
    cdef real* op = &gx[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _bin_plane(gp, wp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                           sh, sw, ph, pw)
        else:
            for job in range(njobs):
                _bin_plane(gp, wp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                           sh, sw, ph, pw)


def local_backward_weight(const real[:, :, :, ::1] g, const real[:, :, :, ::1] x,
                          real[:, :, :, :, :, ::1] gw, stride, pad, int nthreads):
    """Weight gradient into ``gw`` (Co, TH, TW, C, KH, KW) (overwritten)."""
    cdef Py_ssize_t sh = stride[0], sw = stride[1], ph = pad[0], pw = pad[1]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = gw.shape[0], TH = gw.shape[1], TW = gw.shape[2]
    cdef Py_ssize_t KH = gw.shape[4], KW = gw.shape[5]
    cdef Py_ssize_t OH = g.shape[2], OW = g.shape[3]
    cdef Py_ssize_t njobs = Co * TH * C, job
    if njobs == 0 or TW * KH * KW == 0:
        return
    cdef const real* gp = &g[0, 0, 0, 0] if g.shape[0] > 0 else NULL
    cdef const real* xp = &x[0, 0, 0, 0] if x.shape[0] > 0 else NULL
    cdef real* op = &gw[0, 0, 0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _bw_slab(gp, xp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                         sh, sw, ph, pw)
        else:
            for job in range(njobs):
                _bw_slab(gp, xp, op, job, N, C, H, W, Co, TH, TW, KH, KW, OH, OW,
                         sh, sw, ph, pw)
