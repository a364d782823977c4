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

cdef extern from *:
    """
    #include <stddef.h>
    /* d[e] = s[2 e] for e < n: the columns of a stride-2 window tap.  Packing
       ResNet's stride-2 layers is short runs (7 or 14 outputs per row), where
       the scalar loop's per-element cost was a fifth of the GEMM's time. */
    #if defined(__AVX512F__)
    #include <immintrin.h>
    static inline void ic_copy_s2_float(const float *s, float *d, ptrdiff_t n)
    {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                               24, 26, 28, 30);
        for (; n > 0; n -= 16, s += 32, d += 16) {
            ptrdiff_t m = 2 * n - 1;  /* elements read: s[0 .. 2 n - 2] */
            __mmask16 ka = m >= 16 ? 0xFFFF : (__mmask16)((1u << m) - 1u);
            __mmask16 kb = m >= 32 ? 0xFFFF : m <= 16 ? 0 : (__mmask16)((1u << (m - 16)) - 1u);
            __m512 a = _mm512_maskz_loadu_ps(ka, s), b = _mm512_maskz_loadu_ps(kb, s + 16);
            __mmask16 kd = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1u);
            _mm512_mask_storeu_ps(d, kd, _mm512_permutex2var_ps(a, even, b));
        }
    }
    #else
    static inline void ic_copy_s2_float(const float *s, float *d, ptrdiff_t n)
    {
        for (ptrdiff_t e = 0; e < n; e++)
            d[e] = s[2 * e];
    }
    #endif
    """
    void ic_copy_s2_float(const float* s, float* d, Py_ssize_t n) noexcept nogil


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline void _gemm(const real* A, int lda, const real* B, int ldb, real* C, int ldc,
                       int M, int N, int K) noexcept nogil:
    """Row-major C[M, N] = A[M, K] @ B[K, N] (column-major BLAS on the transposes)."""
    gemm(False, N, M, K, B, ldb, A, lda, False, C, ldc)


cdef void _pack(
    const real* xg, real* cols, Py_ssize_t p0, Py_ssize_t pb, Py_ssize_t ld, Py_ssize_t cig,
    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, Py_ssize_t KD, Py_ssize_t KH, Py_ssize_t KW,
    Py_ssize_t OH, Py_ssize_t OW,
    Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dd, Py_ssize_t dh,
    Py_ssize_t dw, Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
) noexcept nogil:
    """cols[k, j] = x window tap k of output position p0 + j (zero outside), for
    ``j < pb``; row ``k`` starts at ``cols + k * ld``.

    The output position advances row by row (no division per run: rows of small
    planes are short, e.g. 10 outputs)."""
    cdef Py_ssize_t ci, kd, kh, kw, k = 0, j, od, oh, ow, run, idd, ih, iw, e, lo, hi
    cdef Py_ssize_t ow0 = p0 % OW, oh0 = (p0 // OW) % OH, od0 = p0 // (OW * OH)
    cdef real* col
    cdef const real* xrow
    for ci in range(cig):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    col = cols + k * ld
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
                            else:  # strided or at an edge: zeros, the inside, zeros
                                lo = 0
                                while lo < run and iw + lo * sw < 0:
                                    col[j + lo] = 0
                                    lo = lo + 1
                                hi = lo
                                if iw + lo * sw < W:
                                    hi = _imin(run, (W - 1 - iw) // sw + 1)
                                if real is float and sw == 2:
                                    ic_copy_s2_float(xrow + iw + lo * sw, col + j + lo, hi - lo)
                                else:
                                    for e in range(lo, hi):
                                        col[j + e] = xrow[iw + e * sw]
                                for e in range(hi, run):
                                    col[j + e] = 0
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
                    _pack(xp + (n * C + g * cig) * D * H * W, cols, p0, width, width, cig, D, H,
                          W, KD, KH, KW, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw)
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


def conv_batched(const real[:, :, :, :, ::1] x, const real[:, ::1] w2, real[:, ::1] cols,
                 real[:, ::1] res, out_size, kernel, stride, dilation, pad, Py_ssize_t chunk,
                 int nthreads):
    """Batched im2col-GEMM (one group): ``res[m, n * P + p]`` = output channel ``m``
    at position ``p`` of image ``n``, no bias.

    The ``N * P`` columns are cut into ranges of ``chunk``; a job packs its range of
    the im2col matrix ``cols (K, >= N * P)`` and multiplies it with single-threaded
    BLAS into the same columns of ``res (C_out, >= N * P)``: one thread pool, one
    weight packing per job.  ``chunk`` must not follow the thread count: BLAS sums a
    column in an order that depends on the GEMM's width (its small-matrix kernels)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t OD = out_size[0], OH = out_size[1], OW = out_size[2]
    cdef Py_ssize_t KD = kernel[0], KH = kernel[1], KW = kernel[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t P = OD * OH * OW, NP = N * P, K = w2.shape[1], M = w2.shape[0]
    cdef Py_ssize_t ld = cols.shape[1], ldr = res.shape[1], T = KD * KH * KW
    cdef Py_ssize_t t, c0, c1, n, q0, q1, njobs
    if cols.shape[0] != K or K != C * T or ld < NP or res.shape[0] != M or ldr < NP:
        raise ValueError(f"conv_batched: cols must be ({C * T}, >= {NP}) and res "
                         f"({M}, >= {NP})")
    if NP == 0 or M == 0:
        return
    if K == 0:
        res[:, :NP] = 0
        return
    if ld > 2147483647 or ldr > 2147483647 or K > 2147483647 or M > 2147483647:
        raise ValueError("conv_batched: BLAS dimensions must fit 32-bit ints")
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &w2[0, 0]
    cdef real* cp = &cols[0, 0]
    cdef real* rp = &res[0, 0]
    if chunk < 1:
        raise ValueError(f"conv_batched: chunk must be >= 1, got {chunk}")
    njobs = (NP + chunk - 1) // chunk
    with nogil:
        for t in prange(njobs, schedule="dynamic", num_threads=nthreads):
            c0 = t * chunk
            c1 = _imin(c0 + chunk, NP)
            if c1 > c0:
                n = c0 // P
                while n * P < c1:
                    q0 = c0 - n * P if c0 > n * P else 0
                    q1 = _imin(P, c1 - n * P)
                    _pack(xp + n * C * D * H * W, cp + n * P + q0, q0, q1 - q0, ld, C, D, H,
                          W, KD, KH, KW, OH, OW, sd, sh, sw, dd, dh, dw, pd, ph, pw)
                    n = n + 1
                _gemm(wp, <int>K, cp + c0, <int>ld, rp + c0, <int>ldr, <int>M, <int>(c1 - c0),
                      <int>K)
