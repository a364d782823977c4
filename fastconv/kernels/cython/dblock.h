/* Register-blocked direct convolution micro-kernel ("blocked" direct kernel).
 *
 * The input of one image is staged (zero padded, split into stride phases) so that
 * every tap of every output position is a fixed offset from the position in one
 * flattened "wide" grid: output position p = oh * Wg + ow (ow < Wg, the staged row
 * width; columns ow >= OW are computed and discarded).  The micro-kernel holds a
 * CB x (PV * VL) tile of outputs (CB output channels x PV vectors of positions) in
 * registers and, per tap, loads PV input vectors and multiplies them by CB weights
 * broadcast from the packed weight (layout [tap][CB]).  GCC vector extensions:
 * AVX-512 zmm registers with -march=native, plain SSE2 in a portable build.
 *
 * The "batch" layout stages VL images interleaved (the image index innermost): a
 * vector is then one output position of VL images and the three vectors of a tile
 * are any three positions (x0, x1, x2), so small planes waste nothing.
 *
 * Every output element adds bias then its taps in tap order, whatever the
 * blocking or thread count (results are bit-identical across thread counts).
 */
#ifndef FASTCONV_DBLOCK_H
#define FASTCONV_DBLOCK_H

#include <stddef.h>
#include <string.h>

#define DB_CB 8  /* output channels per register tile */
#define DB_PV 3  /* vectors of positions per register tile */

typedef float db_vf __attribute__((vector_size(64)));
typedef double db_vd __attribute__((vector_size(64)));

#define DB_DEFINE(SUFFIX, T, V, VL)                                                     \
static inline V db_load_##SUFFIX(const T *p) {                                          \
    V v;                                                                                \
    memcpy(&v, p, sizeof(V));                                                           \
    return v;                                                                           \
}                                                                                       \
static inline void db_store_##SUFFIX(T *p, V v) { memcpy(p, &v, sizeof(V)); }           \
                                                                                        \
/* One tile: buf[j*(PV*VL) + v*VL + e] = bias[j] + sum_t w[t][j] * xv[off[t] + e]      \
 * for the three position vectors v = 0, 1, 2 read from x0, x1, x2. */                  \
static inline void db_tile_##SUFFIX(const T *x0p, const T *x1p, const T *x2p,           \
                                    const ptrdiff_t *off, ptrdiff_t ntaps,              \
                                    const T *wp, const T *bias, T *buf) {               \
    V a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;                       \
    V a40, a41, a42, a50, a51, a52, a60, a61, a62, a70, a71, a72;                       \
    a00 = a01 = a02 = (V){0} + bias[0];                                                 \
    a10 = a11 = a12 = (V){0} + bias[1];                                                 \
    a20 = a21 = a22 = (V){0} + bias[2];                                                 \
    a30 = a31 = a32 = (V){0} + bias[3];                                                 \
    a40 = a41 = a42 = (V){0} + bias[4];                                                 \
    a50 = a51 = a52 = (V){0} + bias[5];                                                 \
    a60 = a61 = a62 = (V){0} + bias[6];                                                 \
    a70 = a71 = a72 = (V){0} + bias[7];                                                 \
    for (ptrdiff_t t = 0; t < ntaps; t++) {                                             \
        const ptrdiff_t o = off[t];                                                     \
        const T *w = wp + t * DB_CB;                                                    \
        V x0 = db_load_##SUFFIX(x0p + o);                                               \
        V x1 = db_load_##SUFFIX(x1p + o);                                               \
        V x2 = db_load_##SUFFIX(x2p + o);                                               \
        T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];                                   \
        a00 += w0 * x0; a01 += w0 * x1; a02 += w0 * x2;                                 \
        a10 += w1 * x0; a11 += w1 * x1; a12 += w1 * x2;                                 \
        a20 += w2 * x0; a21 += w2 * x1; a22 += w2 * x2;                                 \
        a30 += w3 * x0; a31 += w3 * x1; a32 += w3 * x2;                                 \
        T w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];                                   \
        a40 += w4 * x0; a41 += w4 * x1; a42 += w4 * x2;                                 \
        a50 += w5 * x0; a51 += w5 * x1; a52 += w5 * x2;                                 \
        a60 += w6 * x0; a61 += w6 * x1; a62 += w6 * x2;                                 \
        a70 += w7 * x0; a71 += w7 * x1; a72 += w7 * x2;                                 \
    }                                                                                   \
    const ptrdiff_t S = DB_PV * VL;                                                     \
    db_store_##SUFFIX(buf + 0 * S, a00); db_store_##SUFFIX(buf + 0 * S + VL, a01);      \
    db_store_##SUFFIX(buf + 0 * S + 2 * VL, a02);                                       \
    db_store_##SUFFIX(buf + 1 * S, a10); db_store_##SUFFIX(buf + 1 * S + VL, a11);      \
    db_store_##SUFFIX(buf + 1 * S + 2 * VL, a12);                                       \
    db_store_##SUFFIX(buf + 2 * S, a20); db_store_##SUFFIX(buf + 2 * S + VL, a21);      \
    db_store_##SUFFIX(buf + 2 * S + 2 * VL, a22);                                       \
    db_store_##SUFFIX(buf + 3 * S, a30); db_store_##SUFFIX(buf + 3 * S + VL, a31);      \
    db_store_##SUFFIX(buf + 3 * S + 2 * VL, a32);                                       \
    db_store_##SUFFIX(buf + 4 * S, a40); db_store_##SUFFIX(buf + 4 * S + VL, a41);      \
    db_store_##SUFFIX(buf + 4 * S + 2 * VL, a42);                                       \
    db_store_##SUFFIX(buf + 5 * S, a50); db_store_##SUFFIX(buf + 5 * S + VL, a51);      \
    db_store_##SUFFIX(buf + 5 * S + 2 * VL, a52);                                       \
    db_store_##SUFFIX(buf + 6 * S, a60); db_store_##SUFFIX(buf + 6 * S + VL, a61);      \
    db_store_##SUFFIX(buf + 6 * S + 2 * VL, a62);                                       \
    db_store_##SUFFIX(buf + 7 * S, a70); db_store_##SUFFIX(buf + 7 * S + VL, a71);      \
    db_store_##SUFFIX(buf + 7 * S + 2 * VL, a72);                                       \
}

DB_DEFINE(f, float, db_vf, 16)
DB_DEFINE(d, double, db_vd, 8)

/* Copy a run of n <= a few vectors from a tile buffer to the output: whole vectors
 * then one masked tail (AVX-512), instead of a scalar loop the compiler cannot
 * vectorise well for these short runs (the stem's output copy: ~10% of its time). */
#ifdef __AVX512F__
#include <immintrin.h>
#define DB_COPY(S, T, VL, MASK, SUF)                                                    \
static inline void db_copy_##S(T *d, const T *s, ptrdiff_t n) {                         \
    for (; n >= VL; n -= VL, d += VL, s += VL)                                          \
        _mm512_storeu_##SUF(d, _mm512_loadu_##SUF(s));                                  \
    if (n > 0) {                                                                        \
        MASK m = (MASK)((1u << n) - 1u);                                                \
        _mm512_mask_storeu_##SUF(d, m, _mm512_maskz_loadu_##SUF(m, s));                 \
    }                                                                                   \
}
DB_COPY(f, float, 16, __mmask16, ps)
DB_COPY(d, double, 8, __mmask8, pd)
/* One 64-byte vector from a tile buffer to the output: a non-temporal store
 * (d on a 64-byte line) when nt, else an ordinary one; db_fence orders a
 * thread's non-temporal stores before the results are read elsewhere. */
static inline void db_put_f(float *d, const float *s, int nt) {
    if (nt) _mm512_stream_ps(d, _mm512_loadu_ps(s));
    else _mm512_storeu_ps(d, _mm512_loadu_ps(s));
}
static inline void db_put_d(double *d, const double *s, int nt) {
    if (nt) _mm512_stream_pd(d, _mm512_loadu_pd(s));
    else _mm512_storeu_pd(d, _mm512_loadu_pd(s));
}
static inline void db_fence(void) { _mm_sfence(); }
#else
#define DB_COPY(S, T)                                                                   \
static inline void db_copy_##S(T *d, const T *s, ptrdiff_t n) {                         \
    if (n > 0) memcpy(d, s, (size_t)n * sizeof(T));                                     \
}
DB_COPY(f, float)
DB_COPY(d, double)
static inline void db_put_f(float *d, const float *s, int nt) {
    (void)nt; memcpy(d, s, 64);
}
static inline void db_put_d(double *d, const double *s, int nt) {
    (void)nt; memcpy(d, s, 64);
}
static inline void db_fence(void) {}
#endif

#endif
