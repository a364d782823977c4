"""Unshared (locally connected) and tiled convolution, Cython/OpenMP backend: the
gather/scatter loops around the per-tile-class GEMMs of ``fastconv.local``.

Same contract as ``fastconv/kernels/numba/local.py``: x, gx (N, C, H, W);
cols (TH * TW, nb, PH, PW, C, KH, KW) for samples ``n0 .. n0 + nb``; class
``(th, tw)``'s positions are ``(i * TH + th, j * TW + tw)`` (those past the
output are zero rows).  ``const`` memoryviews, ``nogil``, OpenMP ``prange``;
col2im owns one (sample, channel) plane per job and sums in a fixed order.
"""

from cython.parallel cimport prange

from .fused cimport real


cdef void _im2col_row(
    const real* x, real* cols, Py_ssize_t job, Py_ssize_t n0,
    Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t nb, Py_ssize_t PH, Py_ssize_t PW,
    Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t OH, Py_ssize_t OW,
) noexcept nogil:
    cdef Py_ssize_t i = job % PH
    cdef Py_ssize_t r = job // PH
    cdef Py_ssize_t b = r % nb
    cdef Py_ssize_t cl = r // nb
    cdef Py_ssize_t th = cl // TW
    cdef Py_ssize_t tw = cl % TW
    cdef Py_ssize_t n = n0 + b
    cdef Py_ssize_t oh = i * TH + th
    cdef Py_ssize_t CK = C * KH * KW
    cdef Py_ssize_t j, ow, c, kh, kw, ih, iw, ih0, iw0, q
    cdef real* dst
    cdef const real* xr
    for j in range(PW):
        ow = j * TW + tw
        dst = cols + (((cl * nb + b) * PH + i) * PW + j) * CK
        if oh >= OH or ow >= OW:
            for q in range(CK):
                dst[q] = 0
            continue
        ih0 = oh * sh - ph
        iw0 = ow * sw - pw
        for c in range(C):
            for kh in range(KH):
                ih = ih0 + kh
                if ih < 0 or ih >= H:
                    for kw in range(KW):
                        dst[(c * KH + kh) * KW + kw] = 0
                    continue
                xr = x + ((n * C + c) * H + ih) * W
                for kw in range(KW):
                    iw = iw0 + kw
                    if iw >= 0 and iw < W:
                        dst[(c * KH + kh) * KW + kw] = xr[iw]
                    else:
                        dst[(c * KH + kh) * KW + kw] = 0


cdef void _col2im_plane(
    const real* cols, real* gx, Py_ssize_t job, Py_ssize_t n0, Py_ssize_t NCL,
    Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t nb, Py_ssize_t PH, Py_ssize_t PW,
    Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
    Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t OH, Py_ssize_t OW,
) noexcept nogil:
    cdef Py_ssize_t c = job % C
    cdef Py_ssize_t b = job // C
    cdef Py_ssize_t n = n0 + b
    cdef Py_ssize_t CK = C * KH * KW
    cdef real* plane = gx + (n * C + c) * H * W
    cdef const real* src
    cdef Py_ssize_t cl, th, tw, i, j, oh, ow, kh, kw, ih, iw, ih0, iw0
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
                src = cols + (((cl * nb + b) * PH + i) * PW + j) * CK + c * KH * KW
                for kh in range(KH):
                    ih = ih0 + kh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        if iw >= 0 and iw < W:
                            plane[ih * W + iw] += src[kh * KW + kw]


def tiled_im2col(const real[:, :, :, ::1] x, real[:, :, :, :, :, :, ::1] cols, Py_ssize_t n0,
                 stride, pad, tile, out_size, int nthreads):
    """Gather the patches of samples ``n0 .. n0 + nb`` into ``cols`` (every element written)."""
    cdef Py_ssize_t sh = stride[0], sw = stride[1], ph = pad[0], pw = pad[1]
    cdef Py_ssize_t TH = tile[0], TW = tile[1], OH = out_size[0], OW = out_size[1]
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t NCL = cols.shape[0], nb = cols.shape[1], PH = cols.shape[2]
    cdef Py_ssize_t PW = cols.shape[3], KH = cols.shape[5], KW = cols.shape[6]
    cdef Py_ssize_t njobs = NCL * nb * PH, job
    if njobs == 0 or PW * C * KH * KW == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef real* cp = &cols[0, 0, 0, 0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _im2col_row(xp, cp, job, n0, C, H, W, nb, PH, PW, KH, KW, sh, sw, ph, pw,
                            TH, TW, OH, OW)
        else:
            for job in range(njobs):
                _im2col_row(xp, cp, job, n0, C, H, W, nb, PH, PW, KH, KW, sh, sw, ph, pw,
                            TH, TW, OH, OW)


def tiled_col2im(const real[:, :, :, :, :, :, ::1] cols, real[:, :, :, ::1] gx, Py_ssize_t n0,
                 stride, pad, tile, out_size, int nthreads):
    """Add the patch gradients ``cols`` of samples ``n0 .. n0 + nb`` into ``gx``."""
    cdef Py_ssize_t sh = stride[0], sw = stride[1], ph = pad[0], pw = pad[1]
    cdef Py_ssize_t TH = tile[0], TW = tile[1], OH = out_size[0], OW = out_size[1]
    cdef Py_ssize_t C = gx.shape[1], H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t NCL = cols.shape[0], nb = cols.shape[1], PH = cols.shape[2]
    cdef Py_ssize_t PW = cols.shape[3], KH = cols.shape[5], KW = cols.shape[6]
    cdef Py_ssize_t njobs = nb * C, job
    if njobs == 0 or H * W == 0 or NCL * PH * PW * KH * KW == 0:
        return
    cdef const real* cp = &cols[0, 0, 0, 0, 0, 0, 0]
    cdef real* gp = &gx[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _col2im_plane(cp, gp, job, n0, NCL, C, H, W, nb, PH, PW, KH, KW, sh, sw, ph,
                              pw, TH, TW, OH, OW)
        else:
            for job in range(njobs):
                _col2im_plane(cp, gp, job, n0, NCL, C, H, W, nb, PH, PW, KH, KW, sh, sw, ph,
                              pw, TH, TW, OH, OW)
