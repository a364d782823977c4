"""im2col + GEMM convolution, Cython/OpenMP backend.

Work unit (one OpenMP iteration): one batch element ``n``, one group ``g`` and one
block of ``pb`` consecutive output positions.  The thread packs the block's
windows into its private panel ``cols (K, pb)`` (K = C_in/groups x taps) and calls single-threaded BLAS ``gemm``
for ``(Cog, K) @ (K, pb)`` straight into ``out`` (row stride = output plane size),
then adds the bias to the block while it is still in cache.  Panels are
sized so that they stay in L2; total scratch = threads x (K + Cog) x pb items,
bounded by the planner.  BLAS must be limited to one thread by the caller
(threads.blas_threads(1)): one thread pool per call.

1x1 stride-1 unpadded convolutions skip packing: the GEMM reads ``x`` directly.
Index arithmetic is 64-bit; only BLAS dimensions are ``int`` (panel-sized).
"""

from cython.parallel cimport prange, threadid

from .blas cimport gemm
from .fused cimport real


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline void _gemm(const real* A, int lda, const real* B, int ldb, real* C, int ldc,
                       int M, int N, int K) noexcept nogil:
    """Row-major C[M, N] = A[M, K] @ B[K, N] (column-major BLAS on the transposes)."""
    gemm(False, N, M, K, B, ldb, A, lda, False, C, ldc)


cdef void _pack(
    const real* xg, real* cols, Py_ssize_t p0, Py_ssize_t pb, Py_ssize_t cig,
    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dd, Py_ssize_t dh,
    Py_ssize_t dw, Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    """cols[k, j] = x window tap k of output position p0 + j (zero outside).

    The output position advances row by row (no division per run: rows of small
    planes are short, e.g. 10 outputs)."""
    cdef Py_ssize_t ci, kd, kh, kw, k = 0, j, od, oh, ow, run, idd, ih, iw, e
    cdef Py_ssize_t ow0 = p0 % OW, oh0 = (p0 // OW) % OH, od0 = p0 // (OW * OH)
    cdef real* col
    cdef const real* xrow
    for ci in range(cig):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    col = cols + k * pb
                    k = k + 1
                    ow = ow0
                    oh = oh0
                    od = od0
                    j = 0
                    while j < pb:
                        run = _imin(OW - ow, pb - j)
                        idd = od * sd + kd * dd - pd
                        ih = oh * sh + kh * dh - ph
                        if idd < 0 or idd >= D or ih < 0 or ih >= H:
                            for e in range(run):
                                col[j + e] = 0
                        else:
                            xrow = xg + ((ci * D + idd) * H + ih) * W
                            iw = ow * sw + kw * dw - pw
                            if sw == 1 and iw >= 0 and iw + run <= W:
                                for e in range(run):
                                    col[j + e] = xrow[iw + e]
                            else:
                                for e in range(run):
                                    if iw >= 0 and iw < W:
                                        col[j + e] = xrow[iw]
                                    else:
                                        col[j + e] = 0
                                    iw = iw + sw
                        j = j + run
                        ow = 0
                        oh = oh + 1
                        if oh == OH:
                            oh = 0
                            od = od + 1


def conv_im2col(
    const real[:, :, :, :, ::1] x, const real[:, ::1] w2, const real[::1] b, bint has_bias,
    real[:, :, :, :, ::1] out, kernel, stride, dilation, pad, Py_ssize_t groups,
    Py_ssize_t pb, real[:, ::1] scratch, int nthreads, bint direct_1x1, int stage=0,
):
    """im2col-GEMM convolution into ``out``.

    ``w2`` is the weight as a (C_out, K) matrix; ``scratch`` is (nthreads, (K + Cog) * pb).
    ``stage`` (profiling only, ``bench/stages.py``): 0 = everything, 1 = packing
    only, 2 = GEMM only (on whatever the panels hold).
    """
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = out.shape[1], OD = out.shape[2], OH = out.shape[3]
    cdef Py_ssize_t OW = out.shape[4]
    cdef Py_ssize_t P = OD * OH * OW
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t K = w2.shape[1]
    cdef Py_ssize_t nblk = (P + pb - 1) // pb
    cdef Py_ssize_t njobs = N * groups * nblk
    cdef Py_ssize_t job, n, g, blk, p0, m, j, width, tid
    if njobs == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &w2[0, 0]
    cdef const real* bp = &b[0]
    cdef real* op = &out[0, 0, 0, 0, 0]
    cdef real* sp = &scratch[0, 0]
    cdef Py_ssize_t sstride = scratch.shape[1]
    cdef real* cols
    cdef real* acc
    cdef real* orow
    cdef real* out_blk
    cdef Py_ssize_t ldo
    cdef real bias
    # BLAS takes int dimensions: beyond 2^31 - 1 output positions the GEMM writes a
    # private panel that is then copied (bounded by pb, like every panel here)
    cdef bint big = P > 2147483647
    with nogil:
        for job in prange(njobs, schedule="dynamic", num_threads=nthreads):
            tid = threadid()
            blk = job % nblk
            g = (job // nblk) % groups
            n = job // (nblk * groups)
            p0 = blk * pb
            width = _imin(pb, P - p0)
            cols = sp + tid * sstride
            acc = cols + K * pb
            if big:
                out_blk = acc
                ldo = pb
            else:  # GEMM straight into out (row stride P): no copy pass
                out_blk = op + (n * Co + g * cog) * P + p0
                ldo = P
            if direct_1x1:
                # B = x[n, g*cig:(g+1)*cig, p0:p0+width] read in place (ld = P)
                _gemm(wp + g * cog * K, <int>K, xp + (n * C + g * cig) * P + p0, <int>P,
                      out_blk, <int>ldo, <int>cog, <int>width, <int>K)
            else:
                if stage != 2:
                    _pack(xp + (n * C + g * cig) * D * H * W, cols, p0, width, cig, D, H, W,
                          KD, KH, KW, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw)
                if stage != 1:
                    _gemm(wp + g * cog * K, <int>K, cols, <int>width, out_blk, <int>ldo,
                          <int>cog, <int>width, <int>K)
            if big or has_bias:
                for m in range(cog):
                    orow = op + (n * Co + g * cog + m) * P + p0
                    bias = bp[g * cog + m] if has_bias else 0
                    if big:
                        for j in range(width):
                            orow[j] = acc[m * pb + j] + bias
                    else:
                        for j in range(width):
                            orow[j] = orow[j] + bias
