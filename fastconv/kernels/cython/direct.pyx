"""Direct convolution, Cython/OpenMP backend (same contract as the Numba one).

x (N, C, D, H, W), w (Co, C/groups, KD, KH, KW), out (N, Co, OD, OH, OW),
C-contiguous; ``const`` memoryviews so read-only inputs work; the loops run
``nogil`` under an OpenMP ``prange`` over blocks of output rows.  Index
arithmetic is 64-bit (``Py_ssize_t``).
"""

from cython.parallel cimport prange

from .fused cimport real


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline (Py_ssize_t, Py_ssize_t, Py_ssize_t) _tap_range(
    Py_ssize_t kw, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t W, Py_ssize_t sw,
    Py_ssize_t dw, Py_ssize_t pw,
) noexcept nogil:
    """Output columns [lo, hi) of [c0, c1) whose tap kw lies inside the input,
    and the input offset: column ow reads input column ow * sw + off."""
    cdef Py_ssize_t off = kw * dw - pw
    cdef Py_ssize_t lo = 0 if off >= 0 else (-off + sw - 1) // sw
    cdef Py_ssize_t lim = W - 1 - off
    cdef Py_ssize_t hi = lim // sw + 1 if lim >= 0 else 0
    lo = _imax(lo, c0)
    hi = _imax(_imin(hi, c1), lo)
    return lo, hi, off


cdef inline void _axpy(real* orow, const real* xrow, real wv, Py_ssize_t lo, Py_ssize_t hi,
                       Py_ssize_t off, Py_ssize_t sw) noexcept nogil:
    cdef Py_ssize_t ow
    if sw == 1:
        for ow in range(lo, hi):
            orow[ow] += wv * xrow[ow + off]
    else:
        for ow in range(lo, hi):
            orow[ow] += wv * xrow[ow * sw + off]


cdef inline void _taps3(real* orow, const real* xrow, const real* wk, Py_ssize_t kw,
                        Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t W, Py_ssize_t sw,
                        Py_ssize_t dw, Py_ssize_t pw) noexcept nogil:
    """Taps kw, kw+1, kw+2 of one input row: one pass over the columns where all
    three are inside the input (a third of the loads/stores of three passes),
    single-tap passes at the edges.  Every column still adds its taps in kw
    order with the same operations, so the grouping never changes a bit."""
    cdef Py_ssize_t lo0, hi0, o0, lo1, hi1, o1, lo2, hi2, o2, glo, ghi, ow
    cdef real w0 = wk[0], w1 = wk[1], w2 = wk[2]
    cdef real acc
    lo0, hi0, o0 = _tap_range(kw, c0, c1, W, sw, dw, pw)
    lo1, hi1, o1 = _tap_range(kw + 1, c0, c1, W, sw, dw, pw)
    lo2, hi2, o2 = _tap_range(kw + 2, c0, c1, W, sw, dw, pw)
    glo = _imax(lo0, _imax(lo1, lo2))
    ghi = _imin(hi0, _imin(hi1, hi2))
    if ghi < glo:
        ghi = glo
    _axpy(orow, xrow, w0, lo0, _imin(hi0, glo), o0, sw)
    _axpy(orow, xrow, w1, lo1, _imin(hi1, glo), o1, sw)
    _axpy(orow, xrow, w2, lo2, _imin(hi2, glo), o2, sw)
    if sw == 1:
        for ow in range(glo, ghi):
            acc = orow[ow]
            acc = acc + w0 * xrow[ow + o0]
            acc = acc + w1 * xrow[ow + o1]
            acc = acc + w2 * xrow[ow + o2]
            orow[ow] = acc
    else:
        for ow in range(glo, ghi):
            acc = orow[ow]
            acc = acc + w0 * xrow[ow * sw + o0]
            acc = acc + w1 * xrow[ow * sw + o1]
            acc = acc + w2 * xrow[ow * sw + o2]
            orow[ow] = acc
    _axpy(orow, xrow, w0, _imax(lo0, ghi), hi0, o0, sw)
    _axpy(orow, xrow, w1, _imax(lo1, ghi), hi1, o1, sw)
    _axpy(orow, xrow, w2, _imax(lo2, ghi), hi2, o2, sw)


cdef void _conv_block(
    const real* x, const real* w, const real* b, bint has_bias, real* out,
    Py_ssize_t job, Py_ssize_t nblk, Py_ssize_t cb,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
) noexcept nogil:
    cdef Py_ssize_t blk = job % nblk
    cdef Py_ssize_t r = job // nblk
    cdef Py_ssize_t oh = r % OH
    r = r // OH
    cdef Py_ssize_t od = r % OD
    r = r // OD
    cdef Py_ssize_t co = r % Co
    cdef Py_ssize_t n = r // Co
    cdef Py_ssize_t g = co // (Co // groups)
    cdef Py_ssize_t c0 = blk * cb
    cdef Py_ssize_t c1 = _imin(OW, c0 + cb)
    cdef real* orow = out + (((n * Co + co) * OD + od) * OH + oh) * OW
    cdef const real* xrow
    cdef const real* wk
    cdef real init = b[co] if has_bias else 0
    cdef Py_ssize_t ow, ci, c, kd, kh, kw, idd, ih, off, lo, hi
    for ow in range(c0, c1):
        orow[ow] = init
    for ci in range(cig):
        c = g * cig + ci
        for kd in range(KD):
            idd = od * sd + kd * dd - pd
            if idd < 0 or idd >= D:
                continue
            for kh in range(KH):
                ih = oh * sh + kh * dh - ph
                if ih < 0 or ih >= H:
                    continue
                xrow = x + (((n * C + c) * D + idd) * H + ih) * W
                wk = w + (((co * cig + ci) * KD + kd) * KH + kh) * KW
                kw = 0
                while kw < KW:
                    if kw + 3 <= KW:
                        _taps3(orow, xrow, wk + kw, kw, c0, c1, W, sw, dw, pw)
                        kw = kw + 3
                    else:
                        lo, hi, off = _tap_range(kw, c0, c1, W, sw, dw, pw)
                        _axpy(orow, xrow, wk[kw], lo, hi, off, sw)
                        kw = kw + 1


def conv_direct(
    const real[:, :, :, :, ::1] x, const real[:, :, :, :, ::1] w, const real[::1] b,
    bint has_bias, real[:, :, :, :, ::1] out, stride, dilation, pad,
    Py_ssize_t groups, Py_ssize_t colblock, int nthreads,
):
    """Direct convolution into ``out``; returns ``out``'s base array."""
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = w.shape[0], cig = w.shape[1], KD = w.shape[2], KH = w.shape[3]
    cdef Py_ssize_t KW = w.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t cb = colblock
    cdef Py_ssize_t nblk = (OW + cb - 1) // cb
    cdef Py_ssize_t njobs = out.shape[0] * Co * OD * OH * nblk
    cdef Py_ssize_t job
    if njobs == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0]
    cdef const real* bp = &b[0]
    cdef real* op = &out[0, 0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _conv_block(xp, wp, bp, has_bias, op, job, nblk, cb, N, C, D, H, W, Co,
                            cig, KD, KH, KW, OD, OH, OW, sd, sh, sw, dd, dh, dw,
                            pd, ph, pw, groups)
        else:
            for job in range(njobs):
                _conv_block(xp, wp, bp, has_bias, op, job, nblk, cb, N, C, D, H, W, Co,
                            cig, KD, KH, KW, OD, OH, OW, sd, sh, sw, dd, dh, dw,
                            pd, ph, pw, groups)
