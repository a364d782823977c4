"""Depthwise convolution (groups == C_in), Cython/OpenMP backend.

One job = a block of output rows of one (n, c_out) plane.  Interior columns
(every tap inside the input) are computed in register tiles of ``TILE``
outputs that accumulate all taps before a single store; edge columns take a
checked scalar path.  Every output element sums bias then taps in (kd, kh, kw)
order on either path, so results do not depend on blocking or threads.
"""

from cython.parallel cimport prange

from .fused cimport real

cdef enum:
    TILE = 32


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline real _point(
    const real* xp, const real* wp, real init, Py_ssize_t od, Py_ssize_t oh, Py_ssize_t ow,
    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dd, Py_ssize_t dh,
    Py_ssize_t dw, Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    cdef real s = init
    cdef Py_ssize_t kd, kh, kw, idd, ih, iw
    for kd in range(KD):
        idd = od * sd + kd * dd - pd
        if idd < 0 or idd >= D:
            continue
        for kh in range(KH):
            ih = oh * sh + kh * dh - ph
            if ih < 0 or ih >= H:
                continue
            for kw in range(KW):
                iw = ow * sw + kw * dw - pw
                if iw >= 0 and iw < W:
                    s = s + wp[(kd * KH + kh) * KW + kw] * xp[(idd * H + ih) * W + iw]
    return s


cdef void _dw_rows(
    const real* xp, const real* wp, real init, real* op, Py_ssize_t r0, Py_ssize_t r1,
    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dd, Py_ssize_t dh,
    Py_ssize_t dw, Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    cdef real acc[TILE]
    cdef Py_ssize_t r, od, oh, ow, kd, kh, kw, v, idd, ih
    cdef const real* xr
    cdef const real* xk
    cdef real wv
    cdef real* orow
    # interior columns: every kw tap inside [0, W)
    cdef Py_ssize_t ilo = (pw + sw - 1) // sw
    cdef Py_ssize_t lim = W - 1 + pw - (KW - 1) * dw
    cdef Py_ssize_t ihi = lim // sw + 1 if lim >= 0 else 0
    ilo = _imin(ilo, OW)
    ihi = _imax(_imin(ihi, OW), ilo)
    for r in range(r0, r1):
        od = r // OH
        oh = r % OH
        orow = op + r * OW
        for ow in range(ilo):
            orow[ow] = _point(xp, wp, init, od, oh, ow, D, H, W, KD, KH, KW,
                              sd, sh, sw, dd, dh, dw, pd, ph, pw)
        ow = ilo
        while ow < ihi:
            if ow + TILE > ihi:
                # tail of the interior: same sums, one element at a time
                for v in range(ow, ihi):
                    orow[v] = _point(xp, wp, init, od, oh, v, D, H, W, KD, KH, KW,
                                     sd, sh, sw, dd, dh, dw, pd, ph, pw)
                break
            for v in range(TILE):
                acc[v] = init
            for kd in range(KD):
                idd = od * sd + kd * dd - pd
                if idd < 0 or idd >= D:
                    continue
                for kh in range(KH):
                    ih = oh * sh + kh * dh - ph
                    if ih < 0 or ih >= H:
                        continue
                    xr = xp + (idd * H + ih) * W + ow * sw - pw
                    for kw in range(KW):
                        wv = wp[(kd * KH + kh) * KW + kw]
                        xk = xr + kw * dw
                        if sw == 1:
                            for v in range(TILE):
                                acc[v] = acc[v] + wv * xk[v]
                        else:
                            for v in range(TILE):
                                acc[v] = acc[v] + wv * xk[v * sw]
            for v in range(TILE):
                orow[ow + v] = acc[v]
            ow = ow + TILE
        for ow in range(ihi, OW):
            orow[ow] = _point(xp, wp, init, od, oh, ow, D, H, W, KD, KH, KW,
                              sd, sh, sw, dd, dh, dw, pd, ph, pw)


def conv_depthwise(
    const real[:, :, :, :, ::1] x, const real[:, :, :, :, ::1] w, const real[::1] b,
    bint has_bias, real[:, :, :, :, ::1] out, stride, dilation, pad,
    Py_ssize_t rowblock, int nthreads,
):
    """Depthwise convolution into ``out`` (C_out = multiplier x C_in, groups = C_in)."""
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = w.shape[0], KD = w.shape[2], KH = w.shape[3], KW = w.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t mult = Co // C
    cdef Py_ssize_t rows = OD * OH
    cdef Py_ssize_t rb = rowblock
    cdef Py_ssize_t nrb = (rows + rb - 1) // rb
    cdef Py_ssize_t njobs = N * Co * nrb
    cdef Py_ssize_t job, plane, n, co, r0
    if njobs == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0]
    cdef const real* bp = &b[0]
    cdef real* op = &out[0, 0, 0, 0, 0]
    cdef Py_ssize_t xplane = D * H * W, oplane = OD * OH * OW, ksz = KD * KH * KW
    with nogil:
        for job in prange(njobs, schedule="static", num_threads=nthreads):
            plane = job // nrb
            r0 = (job % nrb) * rb
            n = plane // Co
            co = plane % Co
            _dw_rows(xp + (n * C + co // mult) * xplane, wp + co * ksz,
                     bp[co] if has_bias else 0, op + plane * oplane, r0,
                     _imin(rows, r0 + rb), D, H, W, KD, KH, KW, OH, OW,
                     sd, sh, sw, dd, dh, dw, pd, ph, pw)
