"""Depthwise convolution (groups == C_in, any channel multiplier), Cython/OpenMP.

x (N, C, D, H, W), w (Co, 1, KD, KH, KW), out (N, Co, OD, OH, OW), C-contiguous,
Co = multiplier x C; output channel ``co`` reads input channel ``co // multiplier``.

Structure (the Numba kernel ``fastconv.kernels.numba.depthwise`` has the same):

* One job = one block of output rows (``rowblock`` rows of one output plane at
  one depth ``od``).  Jobs are split over OpenMP threads; the partition depends
  on the shape only.
* Per job and per chunk of ``colblock`` output columns, the input rows the job
  needs are copied (lazily, just before first use, so they are read from L1)
  into a thread-local buffer with the zero padding materialised and, for a
  column stride ``sw > 1``, split into ``sw`` phases (row ``i``, phase ``q``
  holds padded columns ``q, q + sw, q + 2 sw, ...``).  After that every tap of
  every output column is a unit-stride load: no edge cases, no gathers.
* The output is computed in register tiles of ``R`` rows x ``T`` SIMD vectors
  (GCC vector extensions; 64-byte vectors where the build has AVX-512, as with
  ``-march=native`` on this machine, else 32 or 16 bytes).
  Each input row loaded feeds every output row of the tile that uses it.
  Common shapes (3x3 stride 1 and 2, 5x5, 1-D k=3) are compiled with constant
  kernel sizes and strides, so their tap loops are fully unrolled.
* Every output element is ``bias`` then ``+ w * x`` over the taps in (kd, kh, kw)
  order, padded taps included (as zeros), with the same vector instructions
  whatever the tile, the job partition or the thread count: results are
  bit-identical for any number of threads.
"""

from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc

from .fused cimport real

cdef extern from *:
    """
    #include <string.h>

    /* SIMD vector width of the build: 64-byte vectors only where the ISA has
       them (emulating them with narrower registers compiles very slowly). */
    #if defined(__AVX512F__)
    #define DW_VBYTES 64
    #elif defined(__AVX__)
    #define DW_VBYTES 32
    #else
    #define DW_VBYTES 16
    #endif
    #define DW_RMAX 8
    #define DW_TMAX 8
    #define DW_INLINE static inline __attribute__((always_inline))
    #ifdef __AVX512F__
    #include <immintrin.h>
    #define DW_MASKLOAD_f { return (dwv_f)_mm512_maskz_loadu_ps(                     \\
        (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)), p); }
    #define DW_MASKLOAD_d { return (dwv_d)_mm512_maskz_loadu_pd(                     \\
        (__mmask8)(((1u << hi) - 1u) & ~((1u << lo) - 1u)), p); }
    #define DW_MASKSTORE_f { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u),      \\
        (__m512)v); return; }
    #define DW_MASKSTORE_d { _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1u),       \\
        (__m512d)v); return; }
    #else
    #define DW_MASKSTORE_f
    #define DW_MASKSTORE_d
    #define DW_MASKLOAD_f
    #define DW_MASKLOAD_d
    #endif
    typedef int dwi_f __attribute__((vector_size(DW_VBYTES)));
    typedef long long dwi_d __attribute__((vector_size(DW_VBYTES)));
    #if DW_VBYTES == 64
    #define DW_EVEN_f ((dwi_f){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
    #define DW_ODD_f ((dwi_f){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
    #define DW_EVEN_d ((dwi_d){0, 2, 4, 6, 8, 10, 12, 14})
    #define DW_ODD_d ((dwi_d){1, 3, 5, 7, 9, 11, 13, 15})
    #elif DW_VBYTES == 32
    #define DW_EVEN_f ((dwi_f){0, 2, 4, 6, 8, 10, 12, 14})
    #define DW_ODD_f ((dwi_f){1, 3, 5, 7, 9, 11, 13, 15})
    #define DW_EVEN_d ((dwi_d){0, 2, 4, 6})
    #define DW_ODD_d ((dwi_d){1, 3, 5, 7})
    #else
    #define DW_EVEN_f ((dwi_f){0, 2, 4, 6})
    #define DW_ODD_f ((dwi_f){1, 3, 5, 7})
    #define DW_EVEN_d ((dwi_d){0, 2})
    #define DW_ODD_d ((dwi_d){1, 3})
    #endif

    /* DW_DEFINE(suffix, scalar type): the whole kernel for one dtype. */
    #define DW_DEFINE(S, T)                                                          \\
    typedef T dwv_##S __attribute__((vector_size(DW_VBYTES), aligned(sizeof(T))));  \\
    enum { DW_VL_##S = DW_VBYTES / sizeof(T) };                                     \\
                                                                                     \\
    /* v[l] = p[l] for lo <= l < hi (lanes outside are zero, never read). */      \\
    DW_INLINE dwv_##S dw_loadz_##S(const T* p, long lo, long hi)                     \\
    {                                                                                \\
        const long VL = DW_VL_##S;                                                   \\
        if (lo <= 0 && hi >= VL) return *(const dwv_##S*)p;                          \\
        if (lo < 0) lo = 0;                                                          \\
        if (hi > VL) hi = VL;                                                        \\
        dwv_##S v = {0};                                                             \\
        if (hi <= lo) return v;                                                      \\
        DW_MASKLOAD_##S                                                              \\
        for (long l = lo; l < hi; l++) v[l] = p[l];                                  \\
        return v;                                                                    \\
    }                                                                                \\
                                                                                     \\
    /* p[l] = v[l] for l < n (n < VL). */                                           \\
    DW_INLINE void dw_storen_##S(T* p, dwv_##S v, long n)                            \\
    {                                                                                \\
        DW_MASKSTORE_##S                                                             \\
        for (long l = 0; l < n; l++) p[l] = v[l];                                    \\
    }                                                                                \\
                                                                                     \\
    /* Copy padded input rows [i0, i1) of every kd into the buffer: row i,       */  \\
    /* phase q, element j = padded column pc0 + q + sw*j = input column           */ \\
    /* pc0 - pw + q + sw*j (zero outside the input).                              */ \\
    DW_INLINE void dw_copy_##S(                                                      \\
        const T* x, T* buf, long i0, long i1, long NR, long rowstride, long PL,      \\
        long od, long oh0, long pc0, long D, long H, long W, long KD, long sd,       \\
        long sh, long sw, long dd, long pd, long ph, long pw)                        \\
    {                                                                                \\
        const long VL = DW_VL_##S;                                                   \\
        const dwv_##S zero = {0};                                                    \\
        for (long kd = 0; kd < KD; kd++) {                                           \\
            long idd = od * sd + kd * dd - pd;                                       \\
            for (long i = i0; i < i1; i++) {                                         \\
                long ih = oh0 * sh - ph + i;                                         \\
                T* dst = buf + (kd * NR + i) * rowstride;                            \\
                if (idd < 0 || idd >= D || ih < 0 || ih >= H) {                      \\
                    for (long j = 0; j < rowstride; j += VL)                         \\
                        *(dwv_##S*)(dst + j) = zero;                                 \\
                    continue;                                                        \\
                }                                                                    \\
                const T* src = x + (idd * H + ih) * W;                               \\
                long c0 = pc0 - pw;           /* input column of element 0 */        \\
                if (sw == 1) {                                                       \\
                    for (long j = 0; j < PL; j += VL) {                              \\
                        long c = c0 + j;                                             \\
                        *(dwv_##S*)(dst + j) = dw_loadz_##S(src + c, -c, W - c);     \\
                    }                                                                \\
                } else if (sw == 2) {                                                \\
                    for (long j = 0; j < PL; j += VL) {                              \\
                        long c = c0 + 2 * j;                                         \\
                        dwv_##S lo = dw_loadz_##S(src + c, -c, W - c);               \\
                        dwv_##S hi = dw_loadz_##S(src + c + VL, -c - VL, W - c - VL);\\
                        *(dwv_##S*)(dst + j) = __builtin_shuffle(lo, hi, DW_EVEN_##S);\\
                        *(dwv_##S*)(dst + PL + j) = __builtin_shuffle(lo, hi, DW_ODD_##S);\\
                    }                                                                \\
                } else {                                                             \\
                    for (long q = 0; q < sw; q++) {                                  \\
                        T* d = dst + q * PL;                                         \\
                        for (long j = 0; j < PL; j++) {                              \\
                            long c = c0 + q + sw * j;                                \\
                            d[j] = (c >= 0 && c < W) ? src[c] : (T)0;                \\
                        }                                                            \\
                    }                                                                \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
    }                                                                                \\
                                                                                     \\
    /* One register tile: R output rows x T vectors.  xb: buffer row of the     */  \\
    /* tile's first input row (kd = 0), at the tile's first column.             */  \\
    DW_INLINE void dw_tile_##S(                                                      \\
        const int R, const int TV, const T* xb, const T* w, T init, T* o,            \\
        long ostride, long nvalid, long kdstride, long rowstride, const long* koff,  \\
        long KD, const long KH, const long KW, const long sh, const long dh,         \\
        const long sw, const long dw, long PL)                                       \\
    {                                                                                \\
        dwv_##S acc[DW_RMAX][DW_TMAX];                                               \\
        dwv_##S xv[DW_TMAX];                                                         \\
        for (int r = 0; r < R; r++)                                                  \\
            for (int t = 0; t < TV; t++) acc[r][t] = (dwv_##S){0} + init;            \\
        const long NRt = (R - 1) * sh + (KH - 1) * dh + 1;                           \\
        for (long kd = 0; kd < KD; kd++) {                                           \\
            const T* wk = w + kd * KH * KW;                                          \\
            _Pragma("GCC unroll 16")                                                 \\
            for (long j = 0; j < NRt; j++) {                                        \\
                const T* xr = xb + kd * kdstride + j * rowstride;                    \\
                const T* wr[DW_RMAX];                                                \\
                for (int r = 0; r < R; r++) {                                        \\
                    long e = j - r * sh;                                             \\
                    wr[r] = (e >= 0 && e % dh == 0 && e / dh < KH)                   \\
                            ? wk + (e / dh) * KW : 0;                                \\
                }                                                                    \\
                _Pragma("GCC unroll 8")                                              \\
                for (long kw = 0; kw < KW; kw++) {                                   \\
                    long ko = sw == 1 ? kw * dw : koff[kw];                          \\
                    for (int t = 0; t < TV; t++) {                                   \\
                        xv[t] = *(const dwv_##S*)(xr + ko + t * DW_VL_##S);          \\
                    }                                                                \\
                    for (int r = 0; r < R; r++) {                                    \\
                        if (wr[r]) {                                                 \\
                            T wv = wr[r][kw];                                        \\
                            for (int t = 0; t < TV; t++)                             \\
                                acc[r][t] = acc[r][t] + wv * xv[t];                  \\
                        }                                                            \\
                    }                                                                \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
        for (int r = 0; r < R; r++) {                                                \\
            for (int t = 0; t < TV; t++) {                                           \\
                long c = t * DW_VL_##S;                                              \\
                T* dst = o + r * ostride + c;                                        \\
                if (c + DW_VL_##S <= nvalid) {                                       \\
                    *(dwv_##S*)dst = acc[r][t];                                      \\
                } else if (c < nvalid) {                                             \\
                    dw_storen_##S(dst, acc[r][t], nvalid - c);                       \\
                }                                                                    \\
            }                                                                        \\
        }                                                                            \\
    }                                                                                \\
                                                                                     \\
    /* Tiles of R rows over one chunk's columns: T vectors at a time. */             \\
    DW_INLINE void dw_rows_##S(                                                      \\
        const int R, const int TV, const T* xb, const T* w, T init, T* o,            \\
        long ostride, long ncols, long nvec, long kdstride, long rowstride,          \\
        const long* koff, long KD, const long KH, const long KW, const long sh,      \\
        const long dh, const long sw, const long dw, long PL)                        \\
    {                                                                                \\
        const long VL = DW_VL_##S;                                                   \\
        long v = 0;                                                                  \\
        for (; v + TV <= nvec; v += TV)                                              \\
            dw_tile_##S(R, TV, xb + v * VL, w, init, o + v * VL, ostride,            \\
                        ncols - v * VL, kdstride, rowstride, koff, KD, KH, KW, sh,   \\
                        dh, sw, dw, PL);                                             \\
        if (TV > 4 && v + 4 <= nvec) {                                               \\
            dw_tile_##S(R, 4, xb + v * VL, w, init, o + v * VL, ostride,             \\
                        ncols - v * VL, kdstride, rowstride, koff, KD, KH, KW, sh,   \\
                        dh, sw, dw, PL);                                             \\
            v += 4;                                                                  \\
        }                                                                            \\
        if (TV > 2 && v + 2 <= nvec) {                                               \\
            dw_tile_##S(R, 2, xb + v * VL, w, init, o + v * VL, ostride,             \\
                        ncols - v * VL, kdstride, rowstride, koff, KD, KH, KW, sh,   \\
                        dh, sw, dw, PL);                                             \\
            v += 2;                                                                  \\
        }                                                                            \\
        for (; v < nvec; v++)                                                        \\
            dw_tile_##S(R, 1, xb + v * VL, w, init, o + v * VL, ostride,             \\
                        ncols - v * VL, kdstride, rowstride, koff, KD, KH, KW, sh,   \\
                        dh, sw, dw, PL);                                             \\
    }                                                                                \\
                                                                                     \\
    DW_INLINE void dw_body_##S(                                                      \\
        const T* x, const T* w, T init, T* op, long od, long oh0, long oh1,          \\
        long D, long H, long W, long KD, const long KH, const long KW, long OH,      \\
        long OW, long sd, const long sh, const long sw, long dd, const long dh,      \\
        const long dw, long pd, long ph, long pw, long cw, T* buf, long* koff)       \\
    {                                                                                \\
        const long VL = DW_VL_##S;                                                   \\
        long NR = (oh1 - oh0 - 1) * sh + (KH - 1) * dh + 1;                          \\
        for (long c0 = 0; c0 < OW; c0 += cw) {                                       \\
            long ncols = OW - c0 < cw ? OW - c0 : cw;                                \\
            long nvec = (ncols + VL - 1) / VL;                                       \\
            long PL = (nvec * VL + ((KW - 1) * dw) / sw + VL - 1) / VL * VL;         \\
            long rowstride = sw * PL;                                                \\
            long kdstride = NR * rowstride;                                          \\
            for (long kw = 0; kw < KW; kw++)                                         \\
                koff[kw] = ((kw * dw) % sw) * PL + (kw * dw) / sw;                   \\
            long pc0 = c0 * sw;                                                      \\
            long ncopied = 0;                                                        \\
            long k = oh0;                                                            \\
            while (k < oh1) {                                                        \\
                /* tall tiles for one-vector rows (narrow planes), else 4 rows */    \\
                long R = oh1 - k;                                                    \\
                if (R > 4) R = (nvec == 1 && R >= 8) ? 8 : 4;                        \\
                long need = (k - oh0 + R - 1) * sh + (KH - 1) * dh + 1;              \\
                if (need > ncopied) {                                                \\
                    dw_copy_##S(x, buf, ncopied, need, NR, rowstride, PL, od, oh0,   \\
                                pc0, D, H, W, KD, sd, sh, sw, dd, pd, ph, pw);       \\
                    ncopied = need;                                                  \\
                }                                                                    \\
                const T* xb = buf + (k - oh0) * sh * rowstride;                      \\
                T* o = op + (od * OH + k) * OW + c0;                                 \\
                if (R == 8)                                                          \\
                    dw_rows_##S(8, 1, xb, w, init, o, OW, ncols, nvec, kdstride,     \\
                                rowstride, koff, KD, KH, KW, sh, dh, sw, dw, PL);    \\
                else if (R == 4)                                                     \\
                    dw_rows_##S(4, 2, xb, w, init, o, OW, ncols, nvec, kdstride,     \\
                                rowstride, koff, KD, KH, KW, sh, dh, sw, dw, PL);    \\
                else if (R == 3)                                                     \\
                    dw_rows_##S(3, 2, xb, w, init, o, OW, ncols, nvec, kdstride,     \\
                                rowstride, koff, KD, KH, KW, sh, dh, sw, dw, PL);    \\
                else if (R == 2)                                                     \\
                    dw_rows_##S(2, 4, xb, w, init, o, OW, ncols, nvec, kdstride,     \\
                                rowstride, koff, KD, KH, KW, sh, dh, sw, dw, PL);    \\
                else                                                                 \\
                    dw_rows_##S(1, 8, xb, w, init, o, OW, ncols, nvec, kdstride,     \\
                                rowstride, koff, KD, KH, KW, sh, dh, sw, dw, PL);    \\
                k += R;                                                              \\
            }                                                                        \\
        }                                                                            \\
    }                                                                                \\
                                                                                     \\
    static void dw_job_##S(                                                          \\
        const T* x, const T* w, T init, T* op, long od, long oh0, long oh1,          \\
        long D, long H, long W, long KD, long KH, long KW, long OH, long OW,         \\
        long sd, long sh, long sw, long dd, long dh, long dw, long pd, long ph,      \\
        long pw, long cw, T* buf, long* koff)                                        \\
    {                                                                                \\
        if (KH == 3 && KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1)          \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, 3, 3, OH, OW,     \\
                        sd, 1, 1, dd, 1, 1, pd, ph, pw, cw, buf, koff);              \\
        else if (KH == 3 && KW == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1)     \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, 3, 3, OH, OW,     \\
                        sd, 2, 2, dd, 1, 1, pd, ph, pw, cw, buf, koff);              \\
        else if (KH == 5 && KW == 5 && sh == 1 && sw == 1 && dh == 1 && dw == 1)     \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, 5, 5, OH, OW,     \\
                        sd, 1, 1, dd, 1, 1, pd, ph, pw, cw, buf, koff);              \\
        else if (KH == 1 && KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1)     \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, 1, 3, OH, OW,     \\
                        sd, 1, 1, dd, 1, 1, pd, ph, pw, cw, buf, koff);              \\
        else if (sw == 1)                                                            \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, KH, KW, OH, OW,   \\
                        sd, sh, 1, dd, dh, dw, pd, ph, pw, cw, buf, koff);           \\
        else                                                                         \\
            dw_body_##S(x, w, init, op, od, oh0, oh1, D, H, W, KD, KH, KW, OH, OW,   \\
                        sd, sh, sw, dd, dh, dw, pd, ph, pw, cw, buf, koff);          \\
    }

    DW_DEFINE(f, float)
    DW_DEFINE(d, double)

    /* Buffer elements one job needs (see dw_body). */
    static long dw_buffer_elems(long rows, long KD, long KH, long KW, long sh,
                                long sw, long dh, long dw, long cw, long VL)
    {
        long NR = (rows - 1) * sh + (KH - 1) * dh + 1;
        long nvec = (cw + VL - 1) / VL;
        long PL = (nvec * VL + ((KW - 1) * dw) / sw + VL - 1) / VL * VL;
        return KD * NR * sw * PL;
    }
    """
    void dw_job_f(const float* x, const float* w, float init, float* op, long od,
                  long oh0, long oh1, long D, long H, long W, long KD, long KH, long KW,
                  long OH, long OW, long sd, long sh, long sw, long dd, long dh, long dw,
                  long pd, long ph, long pw, long cw, float* buf, long* koff) noexcept nogil
    void dw_job_d(const double* x, const double* w, double init, double* op, long od,
                  long oh0, long oh1, long D, long H, long W, long KD, long KH, long KW,
                  long OH, long OW, long sd, long sh, long sw, long dd, long dh, long dw,
                  long pd, long ph, long pw, long cw, double* buf, long* koff) noexcept nogil
    long dw_buffer_elems(long rows, long KD, long KH, long KW, long sh, long sw, long dh,
                         long dw, long cw, long VL) noexcept nogil
    enum: DW_VBYTES


def buffer_elems(Py_ssize_t rowblock, Py_ssize_t colblock, kernel, stride, dilation,
                 Py_ssize_t itemsize):
    """Scratch elements per thread for the given blocking (for workspace estimates)."""
    return dw_buffer_elems(rowblock, kernel[0], kernel[1], kernel[2], stride[1], stride[2],
                           dilation[1], dilation[2], colblock, DW_VBYTES // itemsize)


def conv_depthwise(
    const real[:, :, :, :, ::1] x, const real[:, :, :, :, ::1] w, const real[::1] b,
    bint has_bias, real[:, :, :, :, ::1] out, stride, dilation, pad,
    Py_ssize_t rowblock, Py_ssize_t colblock, int nthreads,
):
    """Depthwise convolution into ``out`` (C_out = multiplier x C_in, groups = C_in).

    ``rowblock`` output rows (of one plane and depth) form one job; ``colblock``
    output columns are buffered at a time.  Neither changes the result.
    """
    cdef long sd = stride[0], sh = stride[1], sw = stride[2]
    cdef long dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef long pd = pad[0], ph = pad[1], pw = pad[2]
    cdef long N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef long W = x.shape[4]
    cdef long Co = w.shape[0], KD = w.shape[2], KH = w.shape[3], KW = w.shape[4]
    cdef long OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    if w.shape[1] != 1 or Co % C or out.shape[0] != N or out.shape[1] != Co:
        raise ValueError("conv_depthwise: inconsistent shapes")
    cdef long mult = Co // C
    cdef long rb = max(1, min(rowblock, OH))
    cdef long cw = max(1, min(colblock, OW))
    cdef long nrb = (OH + rb - 1) // rb
    cdef long njobs = N * Co * OD * nrb
    if njobs == 0:
        return
    cdef long VL = DW_VBYTES // sizeof(real)
    cdef long nbuf = dw_buffer_elems(rb, KD, KH, KW, sh, sw, dh, dw, cw, VL)
    cdef const real* xp = &x[0, 0, 0, 0, 0]
    cdef const real* wp = &w[0, 0, 0, 0, 0]
    cdef const real* bp = &b[0]
    cdef real* op = &out[0, 0, 0, 0, 0]
    cdef long xplane = D * H * W, oplane = OD * OH * OW, ksz = KD * KH * KW
    cdef long job, plane, co, od, r0, r1, rest
    cdef int nt = max(1, min(nthreads, njobs))
    # per-thread regions a whole number of 64-byte lines apart, plus a line of
    # slack: each thread's buffer and tap offsets are written on every job, and
    # sharing a line between threads (false sharing) had made small planes run no
    # faster on 2 threads than on 1 (512ch 14x14 N=8: 634 -> 469 us)
    cdef long lane = 64 // sizeof(real)
    cdef long nbufp = (nbuf + lane - 1) // lane * lane + lane
    cdef long kst = (KW + 7) // 8 * 8 + 8
    cdef char* braw = <char*>malloc(nt * nbufp * sizeof(real) + 64)
    cdef char* kraw = <char*>malloc(nt * kst * sizeof(long) + 64)
    cdef real* bufs = <real*>(braw + (64 - <size_t>braw % 64) % 64)
    cdef long* koffs = <long*>(kraw + (64 - <size_t>kraw % 64) % 64)
    cdef int tid
    if braw == NULL or kraw == NULL:
        free(braw)
        free(kraw)
        raise MemoryError("conv_depthwise: could not allocate the per-thread buffers")
    try:
        with nogil:
            for job in prange(njobs, schedule="static", num_threads=nt):
                tid = threadid()
                rest = job // nrb
                r0 = (job % nrb) * rb
                r1 = min(OH, r0 + rb)
                od = rest % OD
                plane = rest // OD
                co = plane % Co
                if real is float:
                    dw_job_f(xp + ((plane // Co) * C + co // mult) * xplane, wp + co * ksz,
                             bp[co] if has_bias else 0, op + plane * oplane, od, r0, r1,
                             D, H, W, KD, KH, KW, OH, OW, sd, sh, sw, dd, dh, dw,
                             pd, ph, pw, cw, bufs + tid * nbufp, koffs + tid * kst)
                else:
                    dw_job_d(xp + ((plane // Co) * C + co // mult) * xplane, wp + co * ksz,
                             bp[co] if has_bias else 0, op + plane * oplane, od, r0, r1,
                             D, H, W, KD, KH, KW, OH, OW, sd, sh, sw, dd, dh, dw,
                             pd, ph, pw, cw, bufs + tid * nbufp, koffs + tid * kst)
    finally:
        free(braw)
        free(kraw)
