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
#if defined(__AVX512F__)
/* One step of the float32 weight transform: the 16 kernels whose tap k is at
   s[idx[l] + k] (lanes outside lm read as zero), G g G^T into d[f * ds + 0..15]
   (lanes in sm stored) for the al * al frequencies f; g: G broadcast, 3 al
   entries. */
static inline __attribute__((always_inline)) void wg_w16_step(
        const float* s, __m512i idx, __mmask16 lm, float* d, ptrdiff_t ds, int al,
        const __m512* g, __mmask16 sm) {
    __m512 x[9], t[3][6];
    for (int k = 0; k < 9; k++)
        x[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lm, idx, s + k, 4);
    for (int r = 0; r < 3; r++)          /* along w: t[r][k2] = G[k2, :] . x[r, :] */
        for (int k2 = 0; k2 < al; k2++)
            t[r][k2] = _mm512_fmadd_ps(g[3 * k2], x[3 * r], _mm512_fmadd_ps(
                g[3 * k2 + 1], x[3 * r + 1], _mm512_mul_ps(g[3 * k2 + 2], x[3 * r + 2])));
    for (int k1 = 0; k1 < al; k1++)      /* along h: U[k1, k2] = G[k1, :] . t[:, k2] */
        for (int k2 = 0; k2 < al; k2++)
            _mm512_mask_storeu_ps(d + (k1 * al + k2) * ds, sm, _mm512_fmadd_ps(
                g[3 * k1], t[0][k2], _mm512_fmadd_ps(g[3 * k1 + 1], t[1][k2],
                                                     _mm512_mul_ps(g[3 * k1 + 2], t[2][k2]))));
}
static inline void wg_gbcast(int m, __m512* g) {
    const double* G = m == 4 ? wg_G4 : wg_G2;
    for (int i = 0; i < 3 * (m + 2); i++) g[i] = _mm512_set1_ps((float)G[i]);
}
#endif
static inline ptrdiff_t wg_weight16_f(const float* s, float* d, ptrdiff_t ds, int m,
                                      ptrdiff_t n) {
#if defined(__AVX512F__)
    const __m512i vidx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(9));
    __m512 g[18];
    wg_gbcast(m, g);
    ptrdiff_t p = 0;
    for (; p + 16 <= n; p += 16)
        wg_w16_step(s + 9 * p, vidx, (__mmask16)0xFFFF, d + p, ds, m + 2, g,
                    (__mmask16)0xFFFF);
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

/* Input transform B^T d B of float32 tiles, 16 tiles per AVX-512 step: the
   alpha x alpha patch values of 16 tiles are masked gathers (a lane's patch
   positions outside the image read as zero: the implicit zero padding), both
   1-D passes run in registers, and the results are (masked) 16-wide stores
   V[f * fs + ci * vs + t].  The tile-vector loops of the generic path run each
   run of tiles on one tile row: on small images (4 tiles per row at 14x14
   F(4x4) or 7x7 F(2x2)) nearly all of them are remainders, and that path cost
   24-38 ns per (tile, channel) at one thread there (10 ns F(4x4), 3.7-6 ns
   F(2x2) here): 16 tiles of any rows and images share a step.

   Tiles t0 .. t0 + T - 1 are numbered over (image, tile row, tile column)
   (per_img tiles per image, TW per row, m x mh outputs each, mh = m in 2-D and
   1 in 1-D, ah = alpha or 1 rows); xg points at channel 0 of the group in
   image n0 = t0 / per_img; channels are cs apart, images CHW apart.  full:
   also write the lanes past the last tile of the last step (zeros), for a
   caller that owns V's rows up to T rounded up to 16.  Returns 1
   when done, 0 (nothing written) without AVX-512 or when a gather offset could
   overflow 32 bits: the caller's generic path runs then. */
#if defined(__AVX512F__)
static inline void wg_bt4v(const __m512* d, __m512* o) {
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f);
    const __m512 c5 = _mm512_set1_ps(5.0f);
    __m512 a = _mm512_sub_ps(d[4], d[2]);
    o[0] = _mm512_fmadd_ps(c4, d[0], _mm512_fnmadd_ps(c5, d[2], d[4]));
    o[1] = _mm512_fnmadd_ps(c4, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    o[2] = _mm512_fmadd_ps(c4, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    o[3] = _mm512_fmadd_ps(c2, _mm512_sub_ps(d[3], d[1]), a);
    o[4] = _mm512_fmadd_ps(c2, _mm512_sub_ps(d[1], d[3]), a);
    o[5] = _mm512_fmadd_ps(c4, d[1], _mm512_fnmadd_ps(c5, d[3], d[5]));
}
static inline void wg_bt2v(const __m512* d, __m512* o) {
    o[0] = _mm512_sub_ps(d[0], d[2]);
    o[1] = _mm512_add_ps(d[1], d[2]);
    o[2] = _mm512_sub_ps(d[2], d[1]);
    o[3] = _mm512_sub_ps(d[1], d[3]);
}
/* one step: 16 tiles (origins idx, row masks mr[i], column masks mc[j]) of one
   channel; m and ah are constants in the callers below, so the loops unroll */
static inline __attribute__((always_inline)) void wg_in16_f(
        const int m, const int ah, const float* base, __m512i idx, const __mmask16* mr,
        const __mmask16* mc, ptrdiff_t W, float* v, ptrdiff_t fs, __mmask16 sm,
        float* tmp) {
    const int al = m + 2;
    const __m512 z = _mm512_setzero_ps();
    __m512 d[6], o[6];
    for (int i = 0; i < ah; i++) {
        const __m512i ri = _mm512_add_epi32(idx, _mm512_set1_epi32((int)(i * W)));
        for (int j = 0; j < al; j++)
            d[j] = _mm512_mask_i32gather_ps(z, (__mmask16)(mr[i] & mc[j]),
                                            _mm512_add_epi32(ri, _mm512_set1_epi32(j)),
                                            base, 4);
        if (m == 4) wg_bt4v(d, o); else wg_bt2v(d, o);
        for (int k = 0; k < al; k++) {
            if (ah == 1) _mm512_mask_storeu_ps(v + k * fs, sm, o[k]);
            else _mm512_store_ps(tmp + (i * al + k) * 16, o[k]);
        }
    }
    if (ah == 1) return;
    for (int k = 0; k < al; k++) {       /* along h: f = i' * al + k */
        for (int i = 0; i < al; i++) d[i] = _mm512_load_ps(tmp + (i * al + k) * 16);
        if (m == 4) wg_bt4v(d, o); else wg_bt2v(d, o);
        for (int i = 0; i < al; i++) _mm512_mask_storeu_ps(v + (i * al + k) * fs, sm, o[i]);
    }
}
#define WG_INPUT_CHUNK 128
/* The 16 lanes of one step, tiles t .. t + nt - 1 (nt <= 16; lanes past nt: offset 0,
   no mask bit): each tile's patch or output origin (row r0 = tile row * mh - oh,
   column c0 = tile column * m - ow) as an offset from image n0's origin (images
   img apart, rows W apart), and masks of the lanes whose row r0 + i (i < nr) and
   column c0 + j (j < nc) lie in [0, H) and [0, W).  Shared by the input (patches,
   padding offsets) and output (tiles, clipped at the far borders) transforms. */
static inline void wg_lanes(ptrdiff_t t, ptrdiff_t nt, ptrdiff_t n0, ptrdiff_t per_img,
                            ptrdiff_t TW, int mh, int m, ptrdiff_t oh, ptrdiff_t ow,
                            ptrdiff_t H, ptrdiff_t W, ptrdiff_t img, int nr, int nc,
                            int* idx, __mmask16* mr, __mmask16* mc) {
    for (int i = 0; i < nr; i++) mr[i] = 0;
    for (int j = 0; j < nc; j++) mc[j] = 0;
    for (int l = 0; l < 16; l++) {
        if (l >= nt) { idx[l] = 0; continue; }
        const ptrdiff_t n = (t + l) / per_img, r = (t + l) % per_img;
        const ptrdiff_t r0 = (r / TW) * mh - oh, c0 = (r % TW) * m - ow;
        idx[l] = (int)((n - n0) * img + r0 * W + c0);
        for (int i = 0; i < nr; i++)
            if (r0 + i >= 0 && r0 + i < H) mr[i] |= (__mmask16)(1u << l);
        for (int j = 0; j < nc; j++)
            if (c0 + j >= 0 && c0 + j < W) mc[j] |= (__mmask16)(1u << l);
    }
}
static inline __attribute__((always_inline)) void wg_input_body(
        const int m, const int ah, const float* xg, ptrdiff_t cs, ptrdiff_t CHW,
        ptrdiff_t nci, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t t0,
        ptrdiff_t T, ptrdiff_t TW, ptrdiff_t per_img, float* V, ptrdiff_t vs,
        ptrdiff_t fs, int full) {
    const int al = m + 2, mh = ah == 1 ? 1 : m;
    const ptrdiff_t n0 = t0 / per_img;
    int idx[WG_INPUT_CHUNK] __attribute__((aligned(64)));
    __mmask16 mr[WG_INPUT_CHUNK / 16 * 6], mc[WG_INPUT_CHUNK / 16 * 6];
    float tmp[36 * 16] __attribute__((aligned(64)));
    for (ptrdiff_t c0 = 0; c0 < T; c0 += WG_INPUT_CHUNK) {
        const ptrdiff_t nt = T - c0 < WG_INPUT_CHUNK ? T - c0 : WG_INPUT_CHUNK;
        const ptrdiff_t ng = (nt + 15) / 16;
        for (ptrdiff_t gq = 0; gq < ng; gq++)
            wg_lanes(t0 + c0 + 16 * gq, nt - 16 * gq, n0, per_img, TW, mh, m, ph, pw, H, W,
                     CHW, ah, al, idx + 16 * gq, mr + 6 * gq, mc + 6 * gq);
        for (ptrdiff_t ci = 0; ci < nci; ci++) {
            const float* base = xg + ci * cs;
            float* v = V + ci * vs + c0;
            for (ptrdiff_t gq = 0; gq < ng; gq++) {
                const ptrdiff_t rem = nt - 16 * gq;
                const __mmask16 sm = rem >= 16 || full ? (__mmask16)0xFFFF
                                                       : (__mmask16)((1u << rem) - 1);
                wg_in16_f(m, ah, base, _mm512_load_si512(idx + 16 * gq), mr + 6 * gq,
                          mc + 6 * gq, W, v + 16 * gq, fs, sm, tmp);
            }
        }
    }
}
#endif
static inline int wg_input_f(int m, int ah, const float* xg, ptrdiff_t cs, ptrdiff_t CHW,
                             ptrdiff_t nci, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,
                             ptrdiff_t pw, ptrdiff_t t0, ptrdiff_t T, ptrdiff_t TW,
                             ptrdiff_t per_img, float* V, ptrdiff_t vs, ptrdiff_t fs,
                             int full) {
#if defined(__AVX512F__)
    /* every gather offset (image span of the block, +/- a patch) fits 31 bits */
    const ptrdiff_t nimg = (t0 + T - 1) / per_img - t0 / per_img + 1;
    if (T <= 0 || nimg * CHW + 8 * (W + 8) >= (ptrdiff_t)1 << 31) return T <= 0;
    if (m == 4 && ah > 1)
        wg_input_body(4, 6, xg, cs, CHW, nci, H, W, ph, pw, t0, T, TW, per_img, V, vs, fs, full);
    else if (m == 4)
        wg_input_body(4, 1, xg, cs, CHW, nci, H, W, ph, pw, t0, T, TW, per_img, V, vs, fs, full);
    else if (ah > 1)
        wg_input_body(2, 4, xg, cs, CHW, nci, H, W, ph, pw, t0, T, TW, per_img, V, vs, fs, full);
    else
        wg_input_body(2, 1, xg, cs, CHW, nci, H, W, ph, pw, t0, T, TW, per_img, V, vs, fs, full);
    return 1;
#else
    (void)m; (void)ah; (void)xg; (void)cs; (void)CHW; (void)nci; (void)H; (void)W;
    (void)ph; (void)pw; (void)t0; (void)T; (void)TW; (void)per_img; (void)V; (void)vs;
    (void)fs; (void)full;
    return 0;
#endif
}

/* Output transform A^T M A + bias of float32 tiles, 16 tiles per AVX-512 step,
   the counterpart of wg_input_f: both 1-D passes in registers (in the generic
   path's order; its compiled loops may contract other operations into FMAs, so
   the paths can differ in the last bits), then masked scatters of each output position
   of the 16 tiles (a tile clipped at the right or bottom border masks its
   outside positions).  M[f * fs + co * ms + t] for co < nco; out points at
   output channel 0 of the block in image n0 = t0 / per_img, channels OHW
   apart, images COHW apart; bias (nco values) or NULL.  Returns 1 when done,
   0 without AVX-512 or when an output offset could overflow 32 bits. */
#if defined(__AVX512F__)
static inline void wg_at4v(const __m512* s, __m512* y) {
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f);
    const __m512 c8 = _mm512_set1_ps(8.0f);
    __m512 a = _mm512_add_ps(s[1], s[2]), b = _mm512_sub_ps(s[1], s[2]);
    __m512 c = _mm512_add_ps(s[3], s[4]), e = _mm512_sub_ps(s[3], s[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(s[0], a), c);
    y[1] = _mm512_fmadd_ps(c2, e, b);
    y[2] = _mm512_fmadd_ps(c4, c, a);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(c8, e, b), s[5]);
}
static inline void wg_at2v(const __m512* s, __m512* y) {
    y[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]);
    y[1] = _mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]);
}
static inline __attribute__((always_inline)) void wg_out16_f(
        const int m, const int ah, const float* Mv, ptrdiff_t fs, __mmask16 lm, __m512 bias,
        float* base, __m512i idx, const __mmask16* mr, const __mmask16* mc, ptrdiff_t OW,
        float* tmp) {
    const int al = m + 2;
    __m512 s[6], y[6];
    if (ah > 1) {
        for (int k = 0; k < al; k++) {   /* along h: tmp[i, k] = sum_k1 A^T[i, k1] M[k1, k] */
            for (int k1 = 0; k1 < al; k1++)
                s[k1] = _mm512_maskz_loadu_ps(lm, Mv + (k1 * al + k) * fs);
            if (m == 4) wg_at4v(s, y); else wg_at2v(s, y);
            for (int i = 0; i < m; i++) _mm512_store_ps(tmp + (i * al + k) * 16, y[i]);
        }
    }
    for (int i = 0; i < (ah > 1 ? m : 1); i++) {     /* along w, + bias, scattered */
        for (int k = 0; k < al; k++)
            s[k] = ah > 1 ? _mm512_load_ps(tmp + (i * al + k) * 16)
                          : _mm512_maskz_loadu_ps(lm, Mv + k * fs);
        if (m == 4) wg_at4v(s, y); else wg_at2v(s, y);
        const __m512i ri = _mm512_add_epi32(idx, _mm512_set1_epi32((int)(i * OW)));
        for (int j = 0; j < m; j++)
            _mm512_mask_i32scatter_ps(base, (__mmask16)(mr[i] & mc[j]),
                                      _mm512_add_epi32(ri, _mm512_set1_epi32(j)),
                                      _mm512_add_ps(y[j], bias), 4);
    }
}
static inline __attribute__((always_inline)) void wg_output_body(
        const int m, const int ah, const float* M, ptrdiff_t ms, ptrdiff_t fs,
        ptrdiff_t nco, const float* bias, float* out, ptrdiff_t OHW, ptrdiff_t COHW,
        ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t t0, ptrdiff_t T, ptrdiff_t TW,
        ptrdiff_t per_img) {
    const int mh = ah == 1 ? 1 : m;
    const ptrdiff_t n0 = t0 / per_img;
    int idx[WG_INPUT_CHUNK] __attribute__((aligned(64)));
    __mmask16 mr[WG_INPUT_CHUNK / 16 * 4], mc[WG_INPUT_CHUNK / 16 * 4];
    __mmask16 lm[WG_INPUT_CHUNK / 16];
    float tmp[36 * 16] __attribute__((aligned(64)));
    for (ptrdiff_t c0 = 0; c0 < T; c0 += WG_INPUT_CHUNK) {
        const ptrdiff_t nt = T - c0 < WG_INPUT_CHUNK ? T - c0 : WG_INPUT_CHUNK;
        const ptrdiff_t ng = (nt + 15) / 16;
        for (ptrdiff_t gq = 0; gq < ng; gq++) {
            const ptrdiff_t rem = nt - 16 * gq;
            lm[gq] = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
            wg_lanes(t0 + c0 + 16 * gq, rem, n0, per_img, TW, mh, m, 0, 0, OH, OW, COHW, mh,
                     m, idx + 16 * gq, mr + 4 * gq, mc + 4 * gq);
        }
        for (ptrdiff_t co = 0; co < nco; co++) {
            const __m512 b = _mm512_set1_ps(bias ? bias[co] : 0.0f);
            for (ptrdiff_t gq = 0; gq < ng; gq++)
                wg_out16_f(m, ah, M + co * ms + c0 + 16 * gq, fs, lm[gq], b, out + co * OHW,
                           _mm512_load_si512(idx + 16 * gq), mr + 4 * gq, mc + 4 * gq, OW,
                           tmp);
        }
    }
}
#endif
static inline int wg_output_f(int m, int ah, const float* M, ptrdiff_t ms, ptrdiff_t fs,
                              ptrdiff_t nco, const float* bias, float* out, ptrdiff_t OHW,
                              ptrdiff_t COHW, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t t0,
                              ptrdiff_t T, ptrdiff_t TW, ptrdiff_t per_img) {
#if defined(__AVX512F__)
    const ptrdiff_t nimg = (t0 + T - 1) / per_img - t0 / per_img + 1;
    if (T <= 0 || nimg * COHW >= (ptrdiff_t)1 << 31) return T <= 0;
    if (m == 4 && ah > 1)
        wg_output_body(4, 6, M, ms, fs, nco, bias, out, OHW, COHW, OH, OW, t0, T, TW, per_img);
    else if (m == 4)
        wg_output_body(4, 1, M, ms, fs, nco, bias, out, OHW, COHW, OH, OW, t0, T, TW, per_img);
    else if (ah > 1)
        wg_output_body(2, 4, M, ms, fs, nco, bias, out, OHW, COHW, OH, OW, t0, T, TW, per_img);
    else
        wg_output_body(2, 1, M, ms, fs, nco, bias, out, OHW, COHW, OH, OW, t0, T, TW, per_img);
    return 1;
#else
    (void)m; (void)ah; (void)M; (void)ms; (void)fs; (void)nco; (void)bias; (void)out;
    (void)OHW; (void)COHW; (void)OH; (void)OW; (void)t0; (void)T; (void)TW; (void)per_img;
    return 0;
#endif
}

/* Fused-weight F(4x4,3x3) mode (float32, AVX-512), for few tiles and wide
   channels (512ch 7x7: 32 tiles at batch 8).  There the per-frequency GEMMs are
   thin (32 tiles x 512 x 512) and BLAS spends as long packing the weight panel
   as multiplying it, and the transformed weight (36 x 512 x 512 floats, 37.7 MB)
   costs more to write and read back than the GEMMs themselves.  A job owns a
   block of output channels and all tiles; per block of cib input channels it
   transforms those weights (G g G^T) into an L2-resident panel Ub[f][ci][co]
   and accumulates the 36 products M[f] += Ub[f]^T V[f] with a register-blocked
   kernel that reads both operands in place (no packing): 8 output channels x
   32 tiles (16 x 16 for the last 16 tiles) held in 16 zmm accumulators, a
   broadcast weight times two tile vectors per FMA pair.  The sums run over the
   input channels in order, so results do not depend on the thread count. */
#if defined(__AVX512F__)
static inline void wg_mk8x32(const float* V, ptrdiff_t lv, const float* U, ptrdiff_t lu,
                             ptrdiff_t K, float* M, ptrdiff_t ms, int first) {
    __m512 a0[8], a1[8];
    for (int i = 0; i < 8; i++) {
        a0[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(M + i * ms);
        a1[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(M + i * ms + 16);
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        const __m512 v0 = _mm512_loadu_ps(V + k * lv), v1 = _mm512_loadu_ps(V + k * lv + 16);
        const float* u = U + k * lu;
        for (int i = 0; i < 8; i++) {
            const __m512 b = _mm512_set1_ps(u[i]);
            a0[i] = _mm512_fmadd_ps(b, v0, a0[i]);
            a1[i] = _mm512_fmadd_ps(b, v1, a1[i]);
        }
    }
    for (int i = 0; i < 8; i++) {
        _mm512_storeu_ps(M + i * ms, a0[i]);
        _mm512_storeu_ps(M + i * ms + 16, a1[i]);
    }
}
static inline void wg_mk16x16(const float* V, ptrdiff_t lv, const float* U, ptrdiff_t lu,
                              ptrdiff_t K, float* M, ptrdiff_t ms, int first) {
    __m512 a[16];
    for (int i = 0; i < 16; i++)
        a[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(M + i * ms);
    for (ptrdiff_t k = 0; k < K; k++) {
        const __m512 v = _mm512_loadu_ps(V + k * lv);
        const float* u = U + k * lu;
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(_mm512_set1_ps(u[i]), v, a[i]);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(M + i * ms, a[i]);
}
#endif
/* Output channels co0 .. co0 + nco - 1 (lu = nco rounded up to 16) of the fused
   mode, all T tiles: V[f * fv + ci * lv + t] (every input channel; lv >= T
   rounded up to 16), w (Co, Ci, 3, 3); scratch Ub (36 * wg_ld(cib * lu) floats)
   and M (36 * wg_ld(lu * lm) floats, lm >= T rounded up to 16; the result:
   M[f * wg_ld(lu * lm) + co * lm + t]).  Returns 0 without AVX-512 (nothing
   done). */
static inline int wg_fused_job(const float* V, ptrdiff_t lv, ptrdiff_t fv, const float* w,
                               ptrdiff_t Ci, ptrdiff_t co0, ptrdiff_t nco, ptrdiff_t T,
                               ptrdiff_t cib, float* Ub, float* M, ptrdiff_t lm, int st) {
#if defined(__AVX512F__)
    /* frequency strides: odd multiples of 64 bytes, so the 36 streams of the
       transforms do not all fall in one L1 set (cib * lu floats = 8 KB did) */
    const ptrdiff_t lu = (nco + 15) / 16 * 16, fu = wg_ld(cib * lu), fm = wg_ld(lu * lm);
    const ptrdiff_t T16 = (T + 15) / 16 * 16;
    __m512 g[18];
    wg_gbcast(4, g);
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)(Ci * 9)));
    for (ptrdiff_t ci0 = 0; ci0 < Ci; ci0 += cib) {
        const ptrdiff_t nci = Ci - ci0 < cib ? Ci - ci0 : cib;
        for (ptrdiff_t ci = 0; ci < (st & 2 ? nci : 0); ci++)          /* Ub[f][ci][co] */
            for (ptrdiff_t c = 0; c < lu; c += 16)
                wg_w16_step(w + ((co0 + c) * Ci + ci0 + ci) * 9, idx,
                            nco - c >= 16 ? (__mmask16)0xFFFF
                                          : (__mmask16)((1u << (nco - c)) - 1u),
                            Ub + ci * lu + c, fu, 6, g, (__mmask16)0xFFFF);
        for (int f = 0; f < (st & 4 ? 36 : 0); f++) {
            const float* Vf = V + f * fv + ci0 * lv;
            const float* Uf = Ub + f * fu;
            float* Mf = M + f * fm;
            ptrdiff_t t0 = 0;
            for (; t0 + 32 <= T16; t0 += 32)
                for (ptrdiff_t c = 0; c < lu; c += 8)
                    wg_mk8x32(Vf + t0, lv, Uf + c, lu, nci, Mf + c * lm + t0, lm, ci0 == 0);
            if (t0 < T16)
                for (ptrdiff_t c = 0; c < lu; c += 16)
                    wg_mk16x16(Vf + t0, lv, Uf + c, lu, nci, Mf + c * lm + t0, lm, ci0 == 0);
        }
    }
    return 1;
#else
    (void)V; (void)lv; (void)fv; (void)w; (void)Ci; (void)co0; (void)nco; (void)T;
    (void)cib; (void)Ub; (void)M; (void)lm; (void)st;
    return 0;
#endif
}


#endif
