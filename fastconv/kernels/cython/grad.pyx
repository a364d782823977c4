"""Backward-pass kernels, Cython/OpenMP backend (same contract as ``numba/grad.py``).

Arrays are 3-D-normalised and C-contiguous in the compute dtype:
go (N, Co, OD, OH, OW) is the output gradient, x (N, C, D, H, W) the (zero- or
already-) padded input, w (Co, C/groups, KD, KH, KW).  ``pad`` is the implicit
zero padding before each axis.

Input gradient (== transposed convolution), gather form: every input-gradient
element is written by exactly one work unit, which sums its own contributions
(no scatter, no atomics, no races).

* ``input_grad_direct``: one unit = one input-gradient row; strided axpys of
  output-gradient rows, summed in (co, kd, kh, kw) order.
* ``input_grad_gemm``: one unit = (n, group, block of input rows); the block's
  output-gradient taps are gathered into a column buffer (zero where a tap does
  not land on an output), then one BLAS GEMM with the rearranged weight
  ``wt (G, C/groups, Co/groups*K)`` writes the block.

Weight gradient (a correlation of x with go):

* ``weight_grad_direct``: one unit = one (co, ci, kd, kh) weight row; each
  weight element is one dot-product chain in a fixed order.
* ``weight_grad_gemm``: units (n, group, block of output rows) are split into a
  fixed number of chunks (a function of the shape only); each chunk sums its
  units' GEMMs into its own partial-sum buffer; the caller reduces the partials
  in chunk order.  Threads only decide who computes a chunk, so results are
  bit-identical for any thread count.  BLAS must be single-threaded here (the
  caller limits it).
"""

from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

from .fused cimport real


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline Py_ssize_t _pmod(Py_ssize_t a, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t r = a % m
    return r + m if r < 0 else r


cdef inline void _gemm(bint transa, int m, int n, int k, const real* a, int lda,
                       const real* b, int ldb, bint accumulate, real* c,
                       int ldc) noexcept nogil:
    """Column-major C = op(A) B (+ C when ``accumulate``), op = transpose if ``transa``."""
    cdef char ta = b'T' if transa else b'N'
    cdef char tb = b'N'
    cdef float salpha = 1, sbeta = 1 if accumulate else 0
    cdef double dalpha = 1, dbeta = 1 if accumulate else 0
    if real is float:
        sgemm(&ta, &tb, &m, &n, &k, &salpha, <float*>a, &lda, <float*>b, &ldb, &sbeta,
              c, &ldc)
    else:
        dgemm(&ta, &tb, &m, &n, &k, &dalpha, <double*>a, &lda, <double*>b, &ldb, &dbeta,
              c, &ldc)


# ---------------------------------------------------------------------------
# input gradient, direct gather form
# ---------------------------------------------------------------------------
cdef void _ig_row(
    const real* go, const real* w, real* gx, Py_ssize_t job,
    Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
) noexcept nogil:
    cdef Py_ssize_t r = job
    cdef Py_ssize_t ih = r % H
    r = r // H
    cdef Py_ssize_t idd = r % D
    r = r // D
    cdef Py_ssize_t c = r % C
    cdef Py_ssize_t n = r // C
    cdef Py_ssize_t g = c // cig
    cdef Py_ssize_t ci = c - g * cig
    cdef Py_ssize_t cog = Co // groups
    cdef real* xrow = gx + job * W
    cdef const real* grow
    cdef real wv
    cdef Py_ssize_t iw, col, co, kd, kh, kw, td, th, od, oh, off, iw0, ow0, cnt, j
    for iw in range(W):
        xrow[iw] = 0
    for col in range(cog):
        co = g * cog + col
        for kd in range(KD):
            td = idd + pd - kd * dd
            if td < 0 or td % sd != 0:
                continue
            od = td // sd
            if od >= OD:
                continue
            for kh in range(KH):
                th = ih + ph - kh * dh
                if th < 0 or th % sh != 0:
                    continue
                oh = th // sh
                if oh >= OH:
                    continue
                grow = go + (((n * Co + co) * OD + od) * OH + oh) * OW
                for kw in range(KW):
                    wv = w[(((co * cig + ci) * KD + kd) * KH + kh) * KW + kw]
                    off = pw - kw * dw  # ow * sw == iw + off
                    if sw == 1:
                        iw0 = _imax(0, -off)
                        cnt = _imin(W, OW - off) - iw0
                        for j in range(cnt):
                            xrow[iw0 + j] += wv * grow[iw0 + off + j]
                    else:
                        iw0 = _pmod(-off, sw)
                        ow0 = (iw0 + off) // sw
                        if ow0 < 0:
                            iw0 = iw0 + (-ow0) * sw
                            ow0 = 0
                        if iw0 >= W or ow0 >= OW:
                            continue
                        cnt = _imin((W - 1 - iw0) // sw + 1, OW - ow0)
                        for j in range(cnt):
                            xrow[iw0 + j * sw] += wv * grow[ow0 + j]


def input_grad_direct(
    const real[:, :, :, :, ::1] go, const real[:, :, :, :, ::1] w,
    real[:, :, :, :, ::1] gx, stride, dilation, pad, Py_ssize_t groups, int nthreads,
):
    """Input gradient (transposed convolution) into ``gx``, gather form."""
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], D = gx.shape[2], H = gx.shape[3]
    cdef Py_ssize_t W = gx.shape[4]
    cdef Py_ssize_t Co = w.shape[0], cig = w.shape[1], KD = w.shape[2], KH = w.shape[3]
    cdef Py_ssize_t KW = w.shape[4]
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t njobs = N * C * D * H
    cdef Py_ssize_t job
    if njobs == 0 or W == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0]
    cdef real* xp = &gx[0, 0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _ig_row(gp, wp, xp, job, C, D, H, W, Co, cig, KD, KH, KW, OD, OH, OW,
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, groups)
        else:
            for job in range(njobs):
                _ig_row(gp, wp, xp, job, C, D, H, W, Co, cig, KD, KH, KW, OD, OH, OW,
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, groups)


# ---------------------------------------------------------------------------
# weight gradient, direct
# ---------------------------------------------------------------------------
cdef void _wg_row(
    const real* go, const real* x, real* gw, Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
) noexcept nogil:
    """One (co, ci, kd, kh) weight row: lane-wise products accumulate in a
    (KW, OW) buffer (vectorisable, no reduction chain), then each lane row is
    summed in order."""
    cdef Py_ssize_t r = job
    cdef Py_ssize_t kh = r % KH
    r = r // KH
    cdef Py_ssize_t kd = r % KD
    r = r // KD
    cdef Py_ssize_t ci = r % cig
    cdef Py_ssize_t co = r // cig
    cdef Py_ssize_t g = co // (Co // groups)
    cdef Py_ssize_t c = g * cig + ci
    cdef real* grow_w = gw + job * KW
    cdef real* acc = <real*>malloc(KW * OW * sizeof(real))
    cdef real* ak
    cdef const real* grow
    cdef const real* xrow
    cdef real tot
    cdef Py_ssize_t kw, n, od, oh, idd, ih, off, lo, hi, lim, ow
    if acc == NULL:
        return
    for ow in range(KW * OW):
        acc[ow] = 0
    for n in range(N):
        for od in range(OD):
            idd = od * sd + kd * dd - pd
            if idd < 0 or idd >= D:
                continue
            for oh in range(OH):
                ih = oh * sh + kh * dh - ph
                if ih < 0 or ih >= H:
                    continue
                grow = go + (((n * Co + co) * OD + od) * OH + oh) * OW
                for kw in range(KW):
                    off = kw * dw - pw  # iw = ow * sw + off
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    lim = W - 1 - off
                    hi = _imin(OW, lim // sw + 1) if lim >= 0 else 0
                    xrow = x + (((n * C + c) * D + idd) * H + ih) * W + off
                    ak = acc + kw * OW
                    if sw == 1:
                        for ow in range(lo, hi):
                            ak[ow] += grow[ow] * xrow[ow]
                    else:
                        for ow in range(lo, hi):
                            ak[ow] += grow[ow] * xrow[ow * sw]
    for kw in range(KW):
        tot = 0
        ak = acc + kw * OW
        for ow in range(OW):
            tot = tot + ak[ow]
        grow_w[kw] = tot
    free(acc)


def weight_grad_direct(
    const real[:, :, :, :, ::1] go, const real[:, :, :, :, ::1] x,
    real[:, :, :, :, ::1] gw, stride, dilation, pad, Py_ssize_t groups, int nthreads,
):
    """Weight gradient into ``gw``; one unit per (co, ci, kd, kh) weight row."""
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = gw.shape[0], cig = gw.shape[1], KD = gw.shape[2], KH = gw.shape[3]
    cdef Py_ssize_t KW = gw.shape[4]
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t njobs = Co * cig * KD * KH
    cdef Py_ssize_t job
    cdef real* wp = &gw[0, 0, 0, 0, 0]
    if N == 0:
        for job in range(njobs * KW):
            wp[job] = 0
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _wg_row(gp, xp, wp, job, N, C, D, H, W, Co, cig, KD, KH, KW, OD, OH, OW,
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, groups)
        else:
            for job in range(njobs):
                _wg_row(gp, xp, wp, job, N, C, D, H, W, Co, cig, KD, KH, KW, OD, OH, OW,
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, groups)


# ---------------------------------------------------------------------------
# input gradient, gathered columns x BLAS
# ---------------------------------------------------------------------------
cdef void _ig_gemm_unit(
    const real* go, const real* wt, real* gx, real* col, Py_ssize_t u,
    Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
    Py_ssize_t rb, Py_ssize_t nblk,
) noexcept nogil:
    cdef Py_ssize_t blk = u % nblk
    cdef Py_ssize_t r = u // nblk
    cdef Py_ssize_t g = r % groups
    cdef Py_ssize_t n = r // groups
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t DH = D * H
    cdef Py_ssize_t r0 = blk * rb
    cdef Py_ssize_t nr = _imin(DH, r0 + rb) - r0
    cdef Py_ssize_t P = nr * W
    cdef Py_ssize_t K = KD * KH * KW
    cdef Py_ssize_t col_i, kd, kh, kw, row, rr, idd, ih, td, th, od, oh, off, iw, t
    cdef Py_ssize_t lo, hi
    cdef real* dst
    cdef const real* grow
    for col_i in range(cog):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = col_i * K + (kd * KH + kh) * KW + kw
                    off = pw - kw * dw  # ow * sw == iw + off
                    for rr in range(nr):
                        dst = col + row * P + rr * W
                        idd = (r0 + rr) // H
                        ih = (r0 + rr) - idd * H
                        td = idd + pd - kd * dd
                        th = ih + ph - kh * dh
                        if (td < 0 or td % sd != 0 or td // sd >= OD or th < 0
                                or th % sh != 0 or th // sh >= OH):
                            memset(dst, 0, W * sizeof(real))
                            continue
                        od = td // sd
                        oh = th // sh
                        grow = go + ((((n * Co + g * cog + col_i) * OD + od) * OH + oh)
                                     * OW)
                        if sw == 1:
                            lo = _imin(W, _imax(0, -off))
                            hi = _imax(lo, _imin(W, OW - off))
                            for iw in range(lo):
                                dst[iw] = 0
                            for iw in range(lo, hi):
                                dst[iw] = grow[iw + off]
                            for iw in range(hi, W):
                                dst[iw] = 0
                        else:
                            for iw in range(W):
                                t = iw + off
                                if t >= 0 and t % sw == 0 and t // sw < OW:
                                    dst[iw] = grow[t // sw]
                                else:
                                    dst[iw] = 0
    # gx block (cig x P, ld DH*W) = wt[g] (cig x cog*K) @ col (cog*K x P)
    _gemm(False, <int>P, <int>cig, <int>(cog * K), col, <int>P,
          wt + g * cig * cog * K, <int>(cog * K), False,
          gx + ((n * C + g * cig) * DH + r0) * W, <int>(DH * W))


def input_grad_gemm(
    const real[:, :, :, :, ::1] go, const real[:, :, ::1] wt,
    real[:, :, :, :, ::1] gx, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t rows_per_block, int nthreads,
):
    """Input gradient into ``gx`` by gathered columns x GEMM (BLAS single-threaded)."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], D = gx.shape[2], H = gx.shape[3]
    cdef Py_ssize_t W = gx.shape[4]
    cdef Py_ssize_t Co = go.shape[1], cig = C // groups
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t rb = rows_per_block
    cdef Py_ssize_t nblk = (D * H + rb - 1) // rb
    cdef Py_ssize_t nunits = N * groups * nblk
    cdef Py_ssize_t colsize = (Co // groups) * KD * KH * KW * rb * W
    cdef Py_ssize_t u
    cdef real* col
    if nunits == 0 or W == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* wp = &wt[0, 0, 0]
    cdef real* xp = &gx[0, 0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(colsize * sizeof(real))
        for u in prange(nunits, schedule="static"):
            _ig_gemm_unit(gp, wp, xp, col, u, C, D, H, W, Co, cig, KD, KH, KW, OD, OH, OW,
                          sd, sh, sw, dd, dh, dw, pd, ph, pw, groups, rb, nblk)
        free(col)


# ---------------------------------------------------------------------------
# weight gradient, im2col chunks x BLAS, per-chunk partial sums
# ---------------------------------------------------------------------------
cdef void _wg_gemm_unit(
    const real* go, const real* x, real* part, real* col, Py_ssize_t u,
    Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
    Py_ssize_t rb, Py_ssize_t nblk,
) noexcept nogil:
    cdef Py_ssize_t blk = u % nblk
    cdef Py_ssize_t r = u // nblk
    cdef Py_ssize_t g = r % groups
    cdef Py_ssize_t n = r // groups
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t ODH = OD * OH
    cdef Py_ssize_t r0 = blk * rb
    cdef Py_ssize_t nr = _imin(ODH, r0 + rb) - r0
    cdef Py_ssize_t P = nr * OW
    cdef Py_ssize_t K = KD * KH * KW
    cdef Py_ssize_t ci, kd, kh, kw, row, rr, od, oh, idd, ih, off, lo, hi, lim, ow
    cdef real* dst
    cdef const real* xrow
    for ci in range(cig):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = ci * K + (kd * KH + kh) * KW + kw
                    off = kw * dw - pw  # iw = ow * sw + off
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    lim = W - 1 - off
                    hi = _imin(OW, lim // sw + 1) if lim >= 0 else 0
                    lo = _imin(lo, OW)
                    hi = _imax(hi, lo)
                    for rr in range(nr):
                        dst = col + row * P + rr * OW
                        od = (r0 + rr) // OH
                        oh = (r0 + rr) - od * OH
                        idd = od * sd + kd * dd - pd
                        ih = oh * sh + kh * dh - ph
                        if idd < 0 or idd >= D or ih < 0 or ih >= H:
                            memset(dst, 0, OW * sizeof(real))
                            continue
                        xrow = x + ((((n * C + g * cig + ci) * D + idd) * H + ih) * W) + off
                        for ow in range(lo):
                            dst[ow] = 0
                        if sw == 1:
                            for ow in range(lo, hi):
                                dst[ow] = xrow[ow]
                        else:
                            for ow in range(lo, hi):
                                dst[ow] = xrow[ow * sw]
                        for ow in range(hi, OW):
                            dst[ow] = 0
    # part[g] (cog x cig*K, row-major) += go block (cog x P, ld ODH*OW) @ col^T
    _gemm(True, <int>(cig * K), <int>cog, <int>P, col, <int>P,
          go + ((n * Co + g * cog) * ODH + r0) * OW, <int>(ODH * OW), True,
          part + g * cog * cig * K, <int>(cig * K))


def weight_grad_gemm(
    const real[:, :, :, :, ::1] go, const real[:, :, :, :, ::1] x,
    real[:, :, ::1] partials, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t rows_per_block, int nthreads,
):
    """Per-chunk weight-gradient partial sums into zeroed ``partials (nchunks, Co, cig*K)``.

    Unit ``u`` (n, group, block of ``rows_per_block`` output rows) belongs to
    chunk ``c`` when ``c * nunits // nchunks <= u < (c + 1) * nunits // nchunks``.
    """
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = go.shape[1], cig = C // groups
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t rb = rows_per_block
    cdef Py_ssize_t nblk = (OD * OH + rb - 1) // rb
    cdef Py_ssize_t nunits = N * groups * nblk
    cdef Py_ssize_t nchunks = partials.shape[0]
    cdef Py_ssize_t colsize = cig * KD * KH * KW * rb * OW
    cdef Py_ssize_t chunk, u, u0, u1, stride_part = partials.shape[1] * partials.shape[2]
    cdef real* col
    if nunits == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef real* pp = &partials[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(colsize * sizeof(real))
        for chunk in prange(nchunks, schedule="static"):
            u0 = chunk * nunits // nchunks
            u1 = (chunk + 1) * nunits // nchunks
            for u in range(u0, u1):
                _wg_gemm_unit(gp, xp, pp + chunk * stride_part, col, u, C, D, H, W, Co,
                              cig, KD, KH, KW, OD, OH, OW, sd, sh, sw, dd, dh, dw,
                              pd, ph, pw, groups, rb, nblk)
        free(col)
