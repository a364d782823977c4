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
* ``input_grad_gemm``: one job = (group, block of input channels, block of flat
  input rows over (n, d, h), possibly spanning samples); the block's
  output-gradient taps are gathered into a column panel (zero where a tap does
  not land on an output), then one BLAS GEMM with the rearranged weight
  ``wt (G, C/groups, Co/groups*K)`` writes the block.
* ``input_grad_col2im``: one job = (group, block of input channels, block of whole
  samples); one GEMM makes the columns ``w^T @ go`` (no zero taps), then every
  input-gradient row of the job gathers its taps from them (col2im, gather form).

Weight gradient (a correlation of x with go):

* ``weight_grad_direct``: one unit = one (co, ci, kd, kh) weight row; lane-wise
  accumulators, each weight element summed in a fixed order.
* ``weight_grad_gemm``: blocks of flat output rows (over n, od, oh) are split into
  a fixed number of row chunks (a function of the shape only); a job = (row chunk,
  group, block of output channels) sums its blocks' im2col-panel GEMMs into the
  chunk's partial buffer ``(cig*K, Co)`` in block order; the caller reduces the
  partials in chunk order.  Threads only decide who runs a job, so results are
  bit-identical for any thread count.

BLAS is called single-threaded inside the OpenMP region (the caller limits it).
"""

from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from .blas cimport gemm
from .fused cimport real


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline Py_ssize_t _pmod(Py_ssize_t a, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t r = a % m
    return r + m if r < 0 else r


cdef inline (Py_ssize_t, Py_ssize_t, Py_ssize_t) _tap_cols(
    Py_ssize_t off, Py_ssize_t sw, Py_ssize_t W, Py_ssize_t OW,
) noexcept nogil:
    """Input columns ``iw = iw0 + j * sw`` (j < cnt) that one tap scatters to, with
    ``ow * sw == iw + off``: (iw0, ow0, cnt), cnt <= 0 when there are none."""
    cdef Py_ssize_t iw0, ow0
    if sw == 1:
        iw0 = _imax(0, -off)
        return iw0, iw0 + off, _imin(W, OW - off) - iw0
    iw0 = _pmod(-off, sw)
    ow0 = (iw0 + off) // sw
    if ow0 < 0:
        iw0 = iw0 + (-ow0) * sw
        ow0 = 0
    if iw0 >= W or ow0 >= OW:
        return iw0, ow0, 0
    return iw0, ow0, _imin((W - 1 - iw0) // sw + 1, OW - ow0)


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
    cdef Py_ssize_t iw, col, co, kd, kh, kw, td, th, od, oh, iw0, ow0, cnt, j
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
                    iw0, ow0, cnt = _tap_cols(pw - kw * dw, sw, W, OW)
                    if sw == 1:
                        for j in range(cnt):
                            xrow[iw0 + j] += wv * grow[ow0 + j]
                    else:
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
cdef void _ig_gemm_job(
    const real* go, const real* wt, real* gx, real* col, real* res, Py_ssize_t* rix,
    Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
    Py_ssize_t rb, Py_ssize_t nblk, Py_ssize_t cib, Py_ssize_t ncib,
) noexcept nogil:
    """Job (group, input-channel block, block of ``rb`` flat input rows).  Flat
    rows run over (n, id, ih), so a block may span several samples (small planes
    still make wide GEMMs)."""
    cdef Py_ssize_t blk = job % nblk
    cdef Py_ssize_t r = job // nblk
    cdef Py_ssize_t cb = r % ncib
    cdef Py_ssize_t g = r // ncib
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t DH = D * H
    cdef Py_ssize_t R = N * DH
    cdef Py_ssize_t r0 = blk * rb
    cdef Py_ssize_t nr = _imin(R, r0 + rb) - r0
    cdef Py_ssize_t P = nr * W
    cdef Py_ssize_t K = KD * KH * KW
    cdef Py_ssize_t c0 = cb * cib
    cdef Py_ssize_t nc = _imin(cig, c0 + cib) - c0
    cdef Py_ssize_t col_i, kd, kh, kw, row, rr, fr, n, idd, ih, td, th, od, oh, off, iw, t
    cdef Py_ssize_t lo, hi, ci
    cdef real* dst
    cdef const real* grow
    cdef const real* src
    for rr in range(nr):  # (n, id, ih) of each flat row, once per job
        fr = r0 + rr
        n = fr // DH
        rix[3 * rr] = n
        rix[3 * rr + 1] = (fr - n * DH) // H
        rix[3 * rr + 2] = fr - n * DH - rix[3 * rr + 1] * H
    for col_i in range(cog):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = col_i * K + (kd * KH + kh) * KW + kw
                    off = pw - kw * dw  # ow * sw == iw + off
                    for rr in range(nr):
                        dst = col + row * P + rr * W
                        n = rix[3 * rr]
                        idd = rix[3 * rr + 1]
                        ih = rix[3 * rr + 2]
                        td = idd + pd - kd * dd
                        th = ih + ph - kh * dh
                        if td < 0 or th < 0:
                            memset(dst, 0, W * sizeof(real))
                            continue
                        if sd == 1:
                            od = td
                        elif td % sd != 0:
                            memset(dst, 0, W * sizeof(real))
                            continue
                        else:
                            od = td // sd
                        if sh == 1:
                            oh = th
                        elif th % sh != 0:
                            memset(dst, 0, W * sizeof(real))
                            continue
                        else:
                            oh = th // sh
                        if od >= OD or oh >= OH:
                            memset(dst, 0, W * sizeof(real))
                            continue
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
    # res (nc x P, row-major) = wt[g, c0:c0+nc] (nc x cog*K) @ col (cog*K x P)
    gemm(False, <int>P, <int>nc, <int>(cog * K), col, <int>P,
         wt + (g * cig + c0) * cog * K, <int>(cog * K), False, res, <int>P)
    for ci in range(nc):
        for rr in range(nr):
            n = rix[3 * rr]
            dst = gx + ((n * C + g * cig + c0 + ci) * DH + (r0 + rr - n * DH)) * W
            src = res + ci * P + rr * W
            for iw in range(W):
                dst[iw] = src[iw]


def input_grad_gemm(
    const real[:, :, :, :, ::1] go, const real[:, :, ::1] wt,
    real[:, :, :, :, ::1] gx, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t rows_per_block, Py_ssize_t ci_block, int nthreads,
):
    """Input gradient into ``gx`` by gathered columns x GEMM (BLAS single-threaded).

    ``wt`` is ``(groups, C/groups, Co/groups * K)``; jobs are (group, block of
    ``ci_block`` input channels, block of ``rows_per_block`` flat input rows)."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], D = gx.shape[2], H = gx.shape[3]
    cdef Py_ssize_t W = gx.shape[4]
    cdef Py_ssize_t Co = go.shape[1], cig = C // groups
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t rb = rows_per_block, cib = _imin(ci_block, cig)
    cdef Py_ssize_t nblk = (N * D * H + rb - 1) // rb
    cdef Py_ssize_t ncib = (cig + cib - 1) // cib
    cdef Py_ssize_t njobs = groups * ncib * nblk
    cdef Py_ssize_t colsize = (Co // groups) * KD * KH * KW * rb * W
    cdef Py_ssize_t ressize = cib * rb * W
    cdef Py_ssize_t job
    cdef real* col
    cdef real* res
    cdef Py_ssize_t* rix
    if njobs == 0 or W == 0 or cig == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* wp = &wt[0, 0, 0]
    cdef real* xp = &gx[0, 0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(colsize * sizeof(real))
        res = <real*>malloc(ressize * sizeof(real))
        rix = <Py_ssize_t*>malloc(3 * rb * sizeof(Py_ssize_t))
        for job in prange(njobs, schedule="static"):
            _ig_gemm_job(gp, wp, xp, col, res, rix, job, N, C, D, H, W, Co, cig, KD, KH, KW,
                         OD, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw, groups, rb, nblk,
                         cib, ncib)
        free(col)
        free(res)
        free(rix)


# ---------------------------------------------------------------------------
# weight gradient, im2col chunks x BLAS, per-chunk partial sums
# ---------------------------------------------------------------------------
cdef void _wg_gemm_block(
    const real* go, const real* x, real* part, real* col, real* gob, Py_ssize_t* rix,
    Py_ssize_t g,
    Py_ssize_t blk, Py_ssize_t c0, Py_ssize_t nc,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups, Py_ssize_t rb,
    bint co_major,
) noexcept nogil:
    """One block of ``rb`` flat output rows (over n, od, oh) of group ``g``, output
    channels ``c0 .. c0+nc`` of the group: part[:, g*cog+c0 : +nc] += col @ go_blk^T."""
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t ODH = OD * OH
    cdef Py_ssize_t R = N * ODH
    cdef Py_ssize_t r0 = blk * rb
    cdef Py_ssize_t nr = _imin(R, r0 + rb) - r0
    cdef Py_ssize_t P = nr * OW
    cdef Py_ssize_t K = KD * KH * KW
    cdef Py_ssize_t ci, kd, kh, kw, row, rr, fr, n, od, oh, idd, ih, off, lo, hi, lim, ow, co
    cdef real* dst
    cdef const real* xrow
    cdef const real* src
    for rr in range(nr):  # (n, od, oh) of each flat row, once per block
        fr = r0 + rr
        n = fr // ODH
        rix[3 * rr] = n
        rix[3 * rr + 1] = (fr - n * ODH) // OH
        rix[3 * rr + 2] = fr - n * ODH - rix[3 * rr + 1] * OH
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
                        n = rix[3 * rr]
                        od = rix[3 * rr + 1]
                        oh = rix[3 * rr + 2]
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
    for co in range(nc):
        for rr in range(nr):
            n = rix[3 * rr]
            src = go + ((n * Co + g * cog + c0 + co) * ODH + (r0 + rr - n * ODH)) * OW
            dst = gob + co * P + rr * OW
            for ow in range(OW):
                dst[ow] = src[ow]
    if co_major:
        # part (Co x cig*K, row-major), rows g*cog+c0 .. +nc: += gob @ col^T
        gemm(True, <int>(cig * K), <int>nc, <int>P, col, <int>P, gob, <int>P, True,
             part + (g * cog + c0) * cig * K, <int>(cig * K))
    else:
        # part (cig*K x Co, row-major), columns g*cog+c0 .. +nc: += col @ gob^T
        gemm(True, <int>nc, <int>(cig * K), <int>P, gob, <int>P, col, <int>P, True,
             part + g * cog + c0, <int>Co)


def weight_grad_gemm(
    const real[:, :, :, :, ::1] go, const real[:, :, :, :, ::1] x,
    real[:, :, ::1] partials, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t rows_per_block, Py_ssize_t co_block, int nthreads, bint co_major=False,
):
    """Weight-gradient partial sums into zeroed ``partials (nchunks, cig*K, Co)``
    (transposed: the GEMM runs faster in that orientation), or ``(nchunks, Co,
    cig*K)`` with ``co_major`` (no transpose afterwards: better for large weights).

    Blocks of ``rows_per_block`` flat output rows are split into ``nchunks``
    contiguous row chunks, each summing into its own partial buffer in block
    order; jobs are (row chunk, group, block of ``co_block`` output channels).
    The caller reduces the partials in chunk order."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = go.shape[1], cig = C // groups, cog = Co // groups
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t rb = rows_per_block, cob = _imin(co_block, cog)
    cdef Py_ssize_t nblk = (N * OD * OH + rb - 1) // rb
    cdef Py_ssize_t ncob = (cog + cob - 1) // cob
    cdef Py_ssize_t nchunks = partials.shape[0]
    cdef Py_ssize_t njobs = nchunks * groups * ncob
    cdef Py_ssize_t colsize = cig * KD * KH * KW * rb * OW
    cdef Py_ssize_t gobsize = cob * rb * OW
    cdef Py_ssize_t job, chunk, r, g, cb, blk, c0
    cdef Py_ssize_t stride_part = partials.shape[1] * partials.shape[2]
    cdef real* col
    cdef real* gob
    cdef Py_ssize_t* rix
    if nblk == 0 or OW == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef real* pp = &partials[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        col = <real*>malloc(colsize * sizeof(real))
        gob = <real*>malloc(gobsize * sizeof(real))
        rix = <Py_ssize_t*>malloc(3 * rb * sizeof(Py_ssize_t))
        for job in prange(njobs, schedule="static"):
            cb = job % ncob
            r = job // ncob
            g = r % groups
            chunk = r // groups
            c0 = cb * cob
            for blk in range(chunk * nblk // nchunks, (chunk + 1) * nblk // nchunks):
                _wg_gemm_block(gp, xp, pp + chunk * stride_part, col, gob, rix, g, blk, c0,
                               _imin(cog, c0 + cob) - c0, N, C, D, H, W, Co, cig, KD, KH,
                               KW, OD, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw, groups,
                               rb, co_major)
        free(col)
        free(gob)
        free(rix)


# ---------------------------------------------------------------------------
# input gradient, GEMM to columns then col2im in gather form (small planes)
# ---------------------------------------------------------------------------
cdef void _col2im_job(
    const real* go, const real* wt2, real* gx, real* cols, real* gob, Py_ssize_t job,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t cig, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OD, Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
    Py_ssize_t dd, Py_ssize_t dh, Py_ssize_t dw,
    Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
    Py_ssize_t nb, Py_ssize_t nsb, Py_ssize_t cib, Py_ssize_t ncib,
) noexcept nogil:
    """Job (group, block of ``cib`` input channels, block of ``nb`` whole samples):
    cols[(ci, k), (n, o)] = sum_co w[co, ci, k] go[n, co, o] by one GEMM, then every
    input-gradient row of the block gathers its taps from ``cols`` in (k) order."""
    cdef Py_ssize_t sb = job % nsb
    cdef Py_ssize_t r = job // nsb
    cdef Py_ssize_t cb = r % ncib
    cdef Py_ssize_t g = r // ncib
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t K = KD * KH * KW
    cdef Py_ssize_t P = OD * OH * OW
    cdef Py_ssize_t n0 = sb * nb
    cdef Py_ssize_t nn = _imin(N, n0 + nb) - n0
    cdef Py_ssize_t NP = nn * P
    cdef Py_ssize_t c0 = cb * cib
    cdef Py_ssize_t nc = _imin(cig, c0 + cib) - c0
    cdef Py_ssize_t i, co, ci, idd, ih, kd, kh, kw, td, th, od, oh, iw0, ow0, cnt, j
    cdef real* dst
    cdef const real* src
    cdef real* xrow
    for i in range(nn):
        for co in range(cog):
            src = go + ((n0 + i) * Co + g * cog + co) * P
            dst = gob + co * NP + i * P
            for j in range(P):
                dst[j] = src[j]
    # cols (nc*K x NP, row-major) = wt2[g, c0*K:(c0+nc)*K] (nc*K x cog) @ gob (cog x NP)
    gemm(False, <int>NP, <int>(nc * K), <int>cog, gob, <int>NP,
         wt2 + (g * cig + c0) * K * cog, <int>cog, False, cols, <int>NP)
    for i in range(nn):
        for ci in range(nc):
            for idd in range(D):
                for ih in range(H):
                    xrow = gx + ((((n0 + i) * C + g * cig + c0 + ci) * D + idd) * H + ih) * W
                    for iw0 in range(W):
                        xrow[iw0] = 0
                    for kd in range(KD):
                        td = idd + pd - kd * dd
                        if td < 0 or td % sd != 0 or td // sd >= OD:
                            continue
                        od = td // sd
                        for kh in range(KH):
                            th = ih + ph - kh * dh
                            if th < 0 or th % sh != 0 or th // sh >= OH:
                                continue
                            oh = th // sh
                            for kw in range(KW):
                                src = (cols + (ci * K + (kd * KH + kh) * KW + kw) * NP
                                       + i * P + (od * OH + oh) * OW)
                                iw0, ow0, cnt = _tap_cols(pw - kw * dw, sw, W, OW)
                                if sw == 1:
                                    for j in range(cnt):
                                        xrow[iw0 + j] += src[ow0 + j]
                                else:
                                    for j in range(cnt):
                                        xrow[iw0 + j * sw] += src[ow0 + j]


def input_grad_col2im(
    const real[:, :, :, :, ::1] go, const real[:, :, ::1] wt2,
    real[:, :, :, :, ::1] gx, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t samples_per_block, Py_ssize_t ci_block, int nthreads,
):
    """Input gradient into ``gx``: GEMM to columns, then col2im in gather form.

    ``wt2`` is ``(groups, C/groups * K, Co/groups)`` (w[g*cog + co, ci, k] at
    ``[g, ci*K + k, co]``); jobs are (group, block of ``ci_block`` input channels,
    block of ``samples_per_block`` whole samples)."""
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], D = gx.shape[2], H = gx.shape[3]
    cdef Py_ssize_t W = gx.shape[4]
    cdef Py_ssize_t Co = go.shape[1], cig = C // groups
    cdef Py_ssize_t OD = go.shape[2], OH = go.shape[3], OW = go.shape[4]
    cdef Py_ssize_t nb = samples_per_block, cib = _imin(ci_block, cig)
    cdef Py_ssize_t nsb = (N + nb - 1) // nb
    cdef Py_ssize_t ncib = (cig + cib - 1) // cib
    cdef Py_ssize_t njobs = groups * ncib * nsb
    cdef Py_ssize_t P = OD * OH * OW
    cdef Py_ssize_t colsize = cib * KD * KH * KW * nb * P
    cdef Py_ssize_t gobsize = (Co // groups) * nb * P
    cdef Py_ssize_t job
    cdef real* cols
    cdef real* gob
    if njobs == 0 or W == 0 or cig == 0:
        return
    cdef const real* gp = &go[0, 0, 0, 0, 0]
    cdef const real* wp = &wt2[0, 0, 0]
    cdef real* xp = &gx[0, 0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        cols = <real*>malloc(colsize * sizeof(real))
        gob = <real*>malloc(gobsize * sizeof(real))
        for job in prange(njobs, schedule="static"):
            _col2im_job(gp, wp, xp, cols, gob, job, N, C, D, H, W, Co, cig, KD, KH, KW,
                        OD, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw, groups, nb, nsb,
                        cib, ncib)
        free(cols)
        free(gob)


# ---------------------------------------------------------------------------
# the stride-1 input gradient's forward weight: flipped, channels swapped
# ---------------------------------------------------------------------------
def flip_swap_weight(const real[:, :, ::1] w, real[:, :, ::1] wt, Py_ssize_t groups,
                     int nthreads):
    """``wt[g*cig + ci, co, k] = w[g*cog + co, ci, K-1-k]`` (every spatial axis
    flipped is the flattened taps reversed).  Jobs: (group, block of 16 input
    channels), each reading contiguous runs of ``w`` (NumPy's strided copy of the
    same view is 3-5x slower on 512x512x3x3)."""
    cdef Py_ssize_t Co = w.shape[0], cig = w.shape[1], K = w.shape[2]
    cdef Py_ssize_t cog = Co // groups
    cdef Py_ssize_t CB = 16
    cdef Py_ssize_t ncb = (cig + CB - 1) // CB
    cdef Py_ssize_t job, g, c0, nc, co, c, k
    cdef const real* src
    cdef real* dst
    if Co == 0 or cig == 0 or K == 0:
        return
    if wt.shape[0] != groups * cig or wt.shape[1] != cog or wt.shape[2] != K:
        raise ValueError("flip_swap_weight: wt must be (groups * C_in/groups, C_out/groups, K)")
    cdef const real* wp = &w[0, 0, 0]
    cdef real* op = &wt[0, 0, 0]
    with nogil:
        for job in prange(groups * ncb, schedule="static", num_threads=nthreads):
            g = job // ncb
            c0 = (job % ncb) * CB
            nc = _imin(CB, cig - c0)
            for co in range(cog):
                src = wp + ((g * cog + co) * cig + c0) * K
                for c in range(nc):
                    dst = op + ((g * cig + c0 + c) * cog + co) * K
                    for k in range(K):
                        dst[k] = src[c * K + K - 1 - k]
