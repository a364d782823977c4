/* Winograd F(m, 3) transforms over vectors of tiles, shared by the forward
 * (winograd.pyx) and the weight gradient (wgrad.pyx).
 *
 * wg_bt*: input transform B^T (alpha = m + 2 -> alpha); wg_at*: output transform
 * A^T (alpha -> m); wg_rowbt: B^T along one input row (tile q reads r[m q ..
 * m q + m + 1]); wg_rowat: A^T + bias straight into an output row.  One restrict
 * pointer per row: with a single output pointer and runtime row strides GCC
 * must assume the rows overlap and will not vectorise.
 */
#ifndef FASTCONV_WINOGRAD_TRANSFORMS_H
#define FASTCONV_WINOGRAD_TRANSFORMS_H

#include <stddef.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define WG_TRANSFORMS(T, S)                                                    \
static inline void wg_bt4r_##S(const T* restrict s0, const T* restrict s1, const T* restrict s2, const T* restrict s3, const T* restrict s4,   \
        const T* restrict s5, T* restrict o0, T* restrict o1, T* restrict o2, T* restrict o3, T* restrict o4, T* restrict o5,         \
        ptrdiff_t n) {                                                        \
    for (ptrdiff_t t = 0; t < n; t++) {                                       \
        T d0 = s0[t], d1 = s1[t], d2 = s2[t], d3 = s3[t], d4 = s4[t];         \
        T d5 = s5[t];                                                         \
        o0[t] = (T)4 * d0 - (T)5 * d2 + d4;                                   \
        o1[t] = (T)-4 * (d1 + d2) + (d3 + d4);                                \
        o2[t] = (T)4 * (d1 - d2) + (d4 - d3);                                 \
        o3[t] = (T)2 * (d3 - d1) + (d4 - d2);                                 \
        o4[t] = (T)2 * (d1 - d3) + (d4 - d2);                                 \
        o5[t] = (T)4 * d1 - (T)5 * d3 + d5;                                   \
    }                                                                         \
}                                                                             \
static inline void wg_bt2r_##S(const T* restrict s0, const T* restrict s1, const T* restrict s2, const T* restrict s3,            \
        T* restrict o0, T* restrict o1, T* restrict o2, T* restrict o3, ptrdiff_t n) {                    \
    for (ptrdiff_t t = 0; t < n; t++) {                                       \
        T d0 = s0[t], d1 = s1[t], d2 = s2[t], d3 = s3[t];                     \
        o0[t] = d0 - d2;                                                      \
        o1[t] = d1 + d2;                                                      \
        o2[t] = d2 - d1;                                                      \
        o3[t] = d1 - d3;                                                      \
    }                                                                         \
}                                                                             \
static inline void wg_at4r_##S(const T* restrict s0, const T* restrict s1, const T* restrict s2, const T* restrict s3, const T* restrict s4,   \
        const T* restrict s5, T* restrict o0, T* restrict o1, T* restrict o2, T* restrict o3, ptrdiff_t n) {           \
    for (ptrdiff_t t = 0; t < n; t++) {                                       \
        T m0 = s0[t], m1 = s1[t], m2 = s2[t], m3 = s3[t], m4 = s4[t];         \
        T m5 = s5[t];                                                         \
        T a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;                 \
        o0[t] = m0 + a + c;                                                   \
        o1[t] = b + (T)2 * e;                                                 \
        o2[t] = a + (T)4 * c;                                                 \
        o3[t] = b + (T)8 * e + m5;                                            \
    }                                                                         \
}                                                                             \
static inline void wg_at2r_##S(const T* restrict s0, const T* restrict s1, const T* restrict s2, const T* restrict s3,            \
        T* restrict o0, T* restrict o1, ptrdiff_t n) {                                      \
    for (ptrdiff_t t = 0; t < n; t++) {                                       \
        T m1 = s1[t], m2 = s2[t];                                             \
        o0[t] = s0[t] + m1 + m2;                                              \
        o1[t] = m1 - m2 - s3[t];                                              \
    }                                                                         \
}                                                                             \
static inline void wg_bt4_##S(const T* s, ptrdiff_t ss, T* d, ptrdiff_t ds,   \
                              ptrdiff_t n) {                                  \
    wg_bt4r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, s + 4 * ss, s + 5 * ss,    \
                d, d + ds, d + 2 * ds, d + 3 * ds, d + 4 * ds, d + 5 * ds, n); \
}                                                                             \
static inline void wg_bt2_##S(const T* s, ptrdiff_t ss, T* d, ptrdiff_t ds,   \
                              ptrdiff_t n) {                                  \
    wg_bt2r_##S(s, s + ss, s + 2 * ss, s + 3 * ss,                            \
                d, d + ds, d + 2 * ds, d + 3 * ds, n);                        \
}                                                                             \
static inline void wg_at4_##S(const T* s, ptrdiff_t ss, T* d, ptrdiff_t ds,   \
                              ptrdiff_t n) {                                  \
    wg_at4r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, s + 4 * ss, s + 5 * ss,    \
                d, d + ds, d + 2 * ds, d + 3 * ds, n);                        \
}                                                                             \
static inline void wg_at2_##S(const T* s, ptrdiff_t ss, T* d, ptrdiff_t ds,   \
                              ptrdiff_t n) {                                  \
    wg_at2r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, d, d + ds, n);             \
}
/* B^T along a row for n consecutive tiles: tile q reads r[m q .. m q + m + 1];
   output k of tile q goes to o + k * os + q (stride-m loads vectorise). */
#define WG_ROWS(T, S)                                                          \
static inline void wg_rowbt4r_##S(const T* restrict r, T* restrict o0,        \
        T* restrict o1, T* restrict o2, T* restrict o3, T* restrict o4,       \
        T* restrict o5, ptrdiff_t n) {                                        \
    for (ptrdiff_t q = 0; q < n; q++) {                                       \
        const T* p = r + 4 * q;                                               \
        T d0 = p[0], d1 = p[1], d2 = p[2], d3 = p[3], d4 = p[4], d5 = p[5];   \
        o0[q] = (T)4 * d0 - (T)5 * d2 + d4;                                   \
        o1[q] = (T)-4 * (d1 + d2) + (d3 + d4);                                \
        o2[q] = (T)4 * (d1 - d2) + (d4 - d3);                                 \
        o3[q] = (T)2 * (d3 - d1) + (d4 - d2);                                 \
        o4[q] = (T)2 * (d1 - d3) + (d4 - d2);                                 \
        o5[q] = (T)4 * d1 - (T)5 * d3 + d5;                                   \
    }                                                                         \
}                                                                             \
static inline void wg_rowbt2r_##S(const T* restrict r, T* restrict o0,        \
        T* restrict o1, T* restrict o2, T* restrict o3, ptrdiff_t n) {        \
    for (ptrdiff_t q = 0; q < n; q++) {                                       \
        const T* p = r + 2 * q;                                               \
        T d0 = p[0], d1 = p[1], d2 = p[2], d3 = p[3];                         \
        o0[q] = d0 - d2;                                                      \
        o1[q] = d1 + d2;                                                      \
        o2[q] = d2 - d1;                                                      \
        o3[q] = d1 - d3;                                                      \
    }                                                                         \
}                                                                             \
static inline void wg_rowbt_##S(int m, const T* r, T* o, ptrdiff_t os,        \
                                ptrdiff_t n) {                                \
    if (m == 4)                                                               \
        wg_rowbt4r_##S(r, o, o + os, o + 2 * os, o + 3 * os, o + 4 * os,      \
                       o + 5 * os, n);                                        \
    else                                                                      \
        wg_rowbt2r_##S(r, o, o + os, o + 2 * os, o + 3 * os, n);              \
}
/* A^T along w for n consecutive full tiles of one output row, + bias:
   s + k * ss + q holds value k of tile q; tile q writes y[m q .. m q + m - 1]. */
#define WG_OROWS(T, S)                                                         \
static inline void wg_rowat4r_##S(const T* restrict s0, const T* restrict s1, \
        const T* restrict s2, const T* restrict s3, const T* restrict s4,     \
        const T* restrict s5, T* restrict y, T bias, ptrdiff_t n) {           \
    for (ptrdiff_t q = 0; q < n; q++) {                                       \
        T m1 = s1[q], m2 = s2[q], m3 = s3[q], m4 = s4[q];                     \
        T a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;                 \
        y[4 * q] = s0[q] + a + c + bias;                                      \
        y[4 * q + 1] = b + (T)2 * e + bias;                                   \
        y[4 * q + 2] = a + (T)4 * c + bias;                                   \
        y[4 * q + 3] = b + (T)8 * e + s5[q] + bias;                           \
    }                                                                         \
}                                                                             \
static inline void wg_rowat2r_##S(const T* restrict s0, const T* restrict s1, \
        const T* restrict s2, const T* restrict s3, T* restrict y, T bias,    \
        ptrdiff_t n) {                                                        \
    for (ptrdiff_t q = 0; q < n; q++) {                                       \
        T m1 = s1[q], m2 = s2[q];                                             \
        y[2 * q] = s0[q] + m1 + m2 + bias;                                    \
        y[2 * q + 1] = m1 - m2 - s3[q] + bias;                                \
    }                                                                         \
}                                                                             \
static inline void wg_rowat_##S(int m, const T* s, ptrdiff_t ss, T* y, T bias, \
                                ptrdiff_t n) {                                \
    if (m == 4)                                                               \
        wg_rowat4r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, s + 4 * ss,         \
                       s + 5 * ss, y, bias, n);                               \
    else                                                                      \
        wg_rowat2r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, y, bias, n);        \
}
WG_TRANSFORMS(float, f)
WG_TRANSFORMS(double, d)
WG_ROWS(float, f)
WG_ROWS(double, d)
WG_OROWS(float, f)
WG_OROWS(double, d)


/* G matrices (alpha x 3), row-major: F(2,3) and F(4,3) (weight transform G g G^T). */
static const double wg_G2[12] = {1.0, 0.0, 0.0,  0.5, 0.5, 0.5,  0.5, -0.5, 0.5,
                                 0.0, 0.0, 1.0};
static const double wg_G4[18] = {0.25, 0.0, 0.0,
                                 -1.0 / 6, -1.0 / 6, -1.0 / 6,
                                 -1.0 / 6, 1.0 / 6, -1.0 / 6,
                                 1.0 / 24, 1.0 / 12, 1.0 / 6,
                                 1.0 / 24, -1.0 / 12, 1.0 / 6,
                                 0.0, 0.0, 1.0};

/* Weight transform of float32 kernels, 16 (co, ci) pairs per step in AVX-512
   registers: U[f * ds + p] = (G g_p G^T)[f] for the 3x3 kernels g_p at
   s[9 p .. 9 p + 8], p < n; returns how many pairs it did (a multiple of 16; 0
   without AVX-512: the caller's double loop does the rest).  In float32 (the
   G entries rounded once: relative error ~1e-7 per entry, far below F(4x4)'s own
   ~1e-5).  Measured at 2 threads, in one process against the transposing
   double loop: 256x256 F(4x4) 0.52 against 1.1 ms, 512x512 F(2x2) 0.95 against
   1.7-2.0 ms (and 512x512 F(4x4) 2.0-2.3 against 3.8-4.3 ms in a C harness).
   The output streams bound it, not the gathers: contiguous loads in their place
   ran as fast, and chunks of 64-4096 pairs as fast as 256. */
static inline ptrdiff_t wg_weight16_f(const float* s, float* d, ptrdiff_t ds, int m,
                                      ptrdiff_t n) {
#if defined(__AVX512F__)
    const double* G = m == 4 ? wg_G4 : wg_G2;
    const int al = m + 2;
    const __m512i vidx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(9));
    __m512 g[18];
    for (int i = 0; i < 3 * al; i++) g[i] = _mm512_set1_ps((float)G[i]);
    ptrdiff_t p = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 x[9], t[3][6];
        for (int k = 0; k < 9; k++) x[k] = _mm512_i32gather_ps(vidx, s + 9 * p + k, 4);
        for (int r = 0; r < 3; r++)          /* along w: t[r][k2] = G[k2, :] . x[r, :] */
            for (int k2 = 0; k2 < al; k2++)
                t[r][k2] = _mm512_fmadd_ps(g[3 * k2], x[3 * r], _mm512_fmadd_ps(
                    g[3 * k2 + 1], x[3 * r + 1], _mm512_mul_ps(g[3 * k2 + 2], x[3 * r + 2])));
        for (int k1 = 0; k1 < al; k1++)      /* along h: U[k1, k2] = G[k1, :] . t[:, k2] */
            for (int k2 = 0; k2 < al; k2++)
                _mm512_storeu_ps(d + (k1 * al + k2) * ds + p, _mm512_fmadd_ps(
                    g[3 * k1], t[0][k2], _mm512_fmadd_ps(g[3 * k1 + 1], t[1][k2],
                                                         _mm512_mul_ps(g[3 * k1 + 2], t[2][k2]))));
    }
    return p;
#else
    (void)s; (void)d; (void)ds; (void)m; (void)n;
    return 0;
#endif
}

/* A leading dimension >= n: an odd multiple of 16 elements, so the rows of a
   buffer do not all map to the same cache sets (4K aliasing). */
static inline ptrdiff_t wg_ld(ptrdiff_t n) {
    n = (n + 15) / 16;
    return 16 * (n + 1 - n % 2);
}

#endif
