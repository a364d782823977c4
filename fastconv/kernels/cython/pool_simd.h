/* pool_simd.h -- memory-speed helpers for the pooling kernels (pool.pyx).
 *
 * 1. fc_stream: a sequential writer that stores whole 64-byte lines with
 *    non-temporal (streaming) stores, so a large output is written without
 *    first being read into the cache (no write-allocate).  The first partial
 *    line of a stream (shared with whatever precedes it) is written with
 *    ordinary stores; a partial line is buffered until it is complete, and
 *    fc_stream_end writes a last partial line with ordinary stores.  A writer
 *    made with nt == 0 is a plain memcpy.
 * 2. fc_sum_*: sums of a contiguous run with several independent accumulators
 *    (the compiler cannot reassociate a single-accumulator loop without
 *    -ffast-math); float32 data is accumulated in float64 (on AVX-512 after
 *    adding element pairs in float32, see fc_sum_float).  NaN and inf
 *    propagate as in a plain loop.  The order is fixed per build.
 * 3. fc_fill_*: fill a run with one value (rep stos on x86-64: the
 *    fast-string protocol writes whole lines without reading them).
 * 4. Max-pooling backward rows for 2x2 and 3x3 windows of stride 2, written
 *    as branch-free selects that GCC vectorises.
 *
 * Every helper has a portable C fallback: with FASTCONV_PORTABLE=1 (no
 * -march=native) x86-64 still has SSE2 streaming stores; other targets use
 * memcpy and scalar loops.
 */
#ifndef FC_POOL_SIMD_H
#define FC_POOL_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FC_X86_64 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FC_RESTRICT __restrict__
#define FC_ALIGN64 __attribute__((aligned(64)))
#else
#define FC_RESTRICT
#define FC_ALIGN64
#endif

/* ------------------------------------------------------------------------ */
/* streaming writer                                                          */
/* ------------------------------------------------------------------------ */
typedef struct {
    unsigned char buf[64];             /* pending bytes of the current line */
    char *p;                           /* next destination byte */
    size_t head;                       /* bytes left to store normally before the first line boundary */
    int fill;                          /* bytes pending in buf (the line starts at p - fill) */
    int nt;                            /* non-temporal stores on */
} fc_stream;

static inline void fc_nt_line(char *dst, const void *src)
{
    /* dst is 64-byte aligned; src any alignment */
#if defined(FC_X86_64) && defined(__AVX512F__)
    _mm512_stream_si512((void *)dst, _mm512_loadu_si512(src));
#elif defined(FC_X86_64) && defined(__AVX__)
    _mm256_stream_si256((__m256i *)dst, _mm256_loadu_si256((const __m256i *)src));
    _mm256_stream_si256((__m256i *)(dst + 32),
                        _mm256_loadu_si256((const __m256i *)((const char *)src + 32)));
#elif defined(FC_X86_64)
    const char *s = (const char *)src;
    _mm_stream_si128((__m128i *)dst, _mm_loadu_si128((const __m128i *)s));
    _mm_stream_si128((__m128i *)(dst + 16), _mm_loadu_si128((const __m128i *)(s + 16)));
    _mm_stream_si128((__m128i *)(dst + 32), _mm_loadu_si128((const __m128i *)(s + 32)));
    _mm_stream_si128((__m128i *)(dst + 48), _mm_loadu_si128((const __m128i *)(s + 48)));
#else
    memcpy(dst, src, 64);
#endif
}

static inline void fc_stream_begin(fc_stream *s, void *dst, int nt)
{
    s->p = (char *)dst;
    s->fill = 0;
    s->nt = nt;
    s->head = nt ? (size_t)((64 - ((uintptr_t)dst & 63)) & 63) : 0;
}

/* Append n bytes from src. */
static inline void fc_stream_put(fc_stream *s, const void *src, size_t n)
{
    const char *q = (const char *)src;
    size_t k;
    if (!s->nt) {
        memcpy(s->p, q, n);
        s->p += n;
        return;
    }
    if (s->head) {
        k = n < s->head ? n : s->head;
        memcpy(s->p, q, k);
        s->p += k; q += k; n -= k; s->head -= k;
        if (!n)
            return;
    }
    if (s->fill) {
        k = 64 - (size_t)s->fill;
        if (k > n)
            k = n;
        memcpy(s->buf + s->fill, q, k);
        s->fill += (int)k; s->p += k; q += k; n -= k;
        if (s->fill < 64)
            return;
        fc_nt_line(s->p - 64, s->buf);
        s->fill = 0;
    }
    while (n >= 64) {
        fc_nt_line(s->p, q);
        s->p += 64; q += 64; n -= 64;
    }
    if (n) {
        memcpy(s->buf, q, n);
        s->fill = (int)n;
        s->p += n;
    }
}

/* Append n zero bytes. */
static inline void fc_stream_zero(fc_stream *s, size_t n)
{
    static const unsigned char zeros[256] FC_ALIGN64 = {0};
    if (!s->nt) {
        memset(s->p, 0, n);
        s->p += n;
        return;
    }
    while (n) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        fc_stream_put(s, zeros, k);
        n -= k;
    }
}

/* Flush the pending partial line (ordinary stores) and order the streaming
   stores before whatever follows (another thread reading the output). */
static inline void fc_stream_end(fc_stream *s)
{
    if (s->fill) {
        memcpy(s->p - s->fill, s->buf, (size_t)s->fill);
        s->fill = 0;
    }
#if defined(FC_X86_64)
    if (s->nt)
        _mm_sfence();
#endif
}

/* Prefetch n bytes from p into the cache (a hint; no-op elsewhere). */
static inline void fc_prefetch(const void *p, size_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    for (size_t i = 0; i < n; i += 64)
        __builtin_prefetch((const char *)p + i, 0, 3);
#else
    (void)p; (void)n;
#endif
}

/* ------------------------------------------------------------------------ */
/* sums with independent accumulators                                        */
/* ------------------------------------------------------------------------ */
/* The four accumulators of fc_sum_* summed in a fixed order. */
#if defined(FC_X86_64) && defined(__AVX512F__)
static inline double fc_reduce512(__m512d a0, __m512d a1, __m512d a2, __m512d a3)
{
    double t[8];
    _mm512_storeu_pd(t, _mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
#elif defined(FC_X86_64) && defined(__AVX__)
static inline double fc_reduce256(__m256d a0, __m256d a1, __m256d a2, __m256d a3)
{
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    return (t[0] + t[1]) + (t[2] + t[3]);
}
#endif

static inline double fc_sum_float_wide(const float *FC_RESTRICT x, ptrdiff_t n);

#if defined(FC_X86_64) && defined(__AVX512F__)
/* The 32 floats of u, v converted to float64 and added to four accumulators. */
static inline void fc_acc_wide(__m512d *a0, __m512d *a1, __m512d *a2, __m512d *a3,
                               __m512 u, __m512 v)
{
    *a0 = _mm512_add_pd(*a0, _mm512_cvtps_pd(_mm512_castps512_ps256(u)));
    *a1 = _mm512_add_pd(*a1, _mm512_cvtps_pd(
        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1))));
    *a2 = _mm512_add_pd(*a2, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *a3 = _mm512_add_pd(*a3, _mm512_cvtps_pd(
        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
#endif


/* Sum of n floats: on AVX-512, element pairs (x[i] + x[i + 32]) are added in
 * float32 -- one rounding per pair, so the error stays below 2^-24 sum|x| plus the
 * float64 accumulation's, whatever n -- and the pair sums accumulated in
 * float64.  The conversions to float64 had bound the float64-only loop on this
 * machine's FP ports: 2-thread global average of 512 planes of 112x112, 516-530
 * -> 464-477 us (a plain float32 sum: 450 us).  A pair can overflow float32
 * where float64 would not: a non-finite result is recomputed in float64
 * throughout (NaN and inf inputs give the same result either way). */
static inline double fc_sum_float(const float *FC_RESTRICT x, ptrdiff_t n)
{
#if defined(FC_X86_64) && defined(__AVX512F__)
    ptrdiff_t i = 0;
    double s;
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 64 <= n; i += 64) {
        fc_acc_wide(&a0, &a1, &a2, &a3,
                    _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(x + i + 32)),
                    _mm512_add_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i + 48)));
    }
    s = fc_reduce512(a0, a1, a2, a3) + fc_sum_float_wide(x + i, n - i);
    if (s - s != 0.0)                   /* inf or NaN: redo without float32 pairs */
        return fc_sum_float_wide(x, n);
    return s;
#else
    return fc_sum_float_wide(x, n);
#endif
}

/* Sum of n floats, every element converted to float64 before it is added. */
static inline double fc_sum_float_wide(const float *FC_RESTRICT x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    double s = 0.0;
#if defined(FC_X86_64) && defined(__AVX512F__)
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 32 <= n; i += 32) {
        fc_acc_wide(&a0, &a1, &a2, &a3, _mm512_loadu_ps(x + i), _mm512_loadu_ps(x + i + 16));
    }
    s = fc_reduce512(a0, a1, a2, a3);
#elif defined(FC_X86_64) && defined(__AVX__)
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12)));
    }
    s = fc_reduce256(a0, a1, a2, a3);
#else
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += (double)x[i + k];
    s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
#endif
    for (; i < n; i++)
        s += (double)x[i];
    return s;
}

static inline double fc_sum_double(const double *FC_RESTRICT x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    double s = 0.0;
#if defined(FC_X86_64) && defined(__AVX512F__)
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_add_pd(a0, _mm512_loadu_pd(x + i));
        a1 = _mm512_add_pd(a1, _mm512_loadu_pd(x + i + 8));
        a2 = _mm512_add_pd(a2, _mm512_loadu_pd(x + i + 16));
        a3 = _mm512_add_pd(a3, _mm512_loadu_pd(x + i + 24));
    }
    s = fc_reduce512(a0, a1, a2, a3);
#elif defined(FC_X86_64) && defined(__AVX__)
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_pd(a0, _mm256_loadu_pd(x + i));
        a1 = _mm256_add_pd(a1, _mm256_loadu_pd(x + i + 4));
        a2 = _mm256_add_pd(a2, _mm256_loadu_pd(x + i + 8));
        a3 = _mm256_add_pd(a3, _mm256_loadu_pd(x + i + 12));
    }
    s = fc_reduce256(a0, a1, a2, a3);
#else
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += x[i + k];
    s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
#endif
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* ------------------------------------------------------------------------ */
/* fills                                                                     */
/* ------------------------------------------------------------------------ */
/* fc_fill_<T>(d, v, n): d[0:n] = v with rep stos (whole lines written without
 * being read); U is the same-size integer type, STOS the instruction. */
#if defined(FC_X86_64) && (defined(__GNUC__) || defined(__clang__))
#define FC_FILL(T, U, STOS)                                                          \
static inline void fc_fill_##T(T *d, T v, ptrdiff_t n)                               \
{                                                                                    \
    U u;                                                                             \
    size_t c = (size_t)n;                                                            \
    if (n <= 0)                                                                      \
        return;                                                                      \
    memcpy(&u, &v, sizeof u);                                                        \
    __asm__ volatile(STOS : "+D"(d), "+c"(c) : "a"(u) : "memory");                   \
}
#else
#define FC_FILL(T, U, STOS)                                                          \
static inline void fc_fill_##T(T *d, T v, ptrdiff_t n)                               \
{                                                                                    \
    for (ptrdiff_t i = 0; i < n; i++)                                                \
        d[i] = v;                                                                    \
}
#endif
FC_FILL(float, uint32_t, "rep stosl")
FC_FILL(double, uint64_t, "rep stosq")

/* ------------------------------------------------------------------------ */
/* max pooling backward rows                                                 */
/* ------------------------------------------------------------------------ */
/* Portable select loops stay out of line (GCC vectorises them on their own,
   not always once inlined into a larger loop nest), with 256-bit vectors on
   x86 GCC: rows of ~50-100 windows leave a short epilogue. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FC_VLOOP __attribute__((noinline, target("prefer-vector-width=256")))
#elif defined(__GNUC__) || defined(__clang__)
#define FC_VLOOP __attribute__((noinline))
#else
#define FC_VLOOP
#endif
/* v replaces the running max m: v > m, or v is NaN (PyTorch's rule; written so
   that GCC if-converts it: no branch on the unordered compare) */
#define FC_BETTER(v, m) (!((v) <= (m)) && !(((m) != (m)) && ((v) == (v))))

/* Window argmax (row-major tap 0..8, the first maximum, the last NaN) of n
   consecutive 3x3 windows of stride 2 whose first starts at column 0 of rows
   r0..r2: branch-free selects the compiler vectorises. */
#define FC_ARGMAX33_PORTABLE(T)                                                      \
static FC_VLOOP void fc_argmax33_c_##T(const T *FC_RESTRICT r0, const T *FC_RESTRICT r1,      \
                              const T *FC_RESTRICT r2, int *FC_RESTRICT k,           \
                              ptrdiff_t n)                                           \
{                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++) {                                              \
        T m = r0[2 * j], v; int kk = 0, t;                                           \
        v = r0[2*j+1]; t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 1 : kk;          \
        v = r0[2*j+2]; t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 2 : kk;          \
        v = r1[2*j];   t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 3 : kk;          \
        v = r1[2*j+1]; t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 4 : kk;          \
        v = r1[2*j+2]; t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 5 : kk;          \
        v = r2[2*j];   t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 6 : kk;          \
        v = r2[2*j+1]; t = FC_BETTER(v, m); m = t ? v : m; kk = t ? 7 : kk;          \
        v = r2[2*j+2]; t = FC_BETTER(v, m); kk = t ? 8 : kk;                         \
        k[j] = kk;                                                                   \
    }                                                                                \
}
FC_ARGMAX33_PORTABLE(float)
FC_ARGMAX33_PORTABLE(double)

/* Max pooling with indices over n consecutive 2x2 (3x3) windows of stride 2
   whose first starts at column 0 of rows r0, r1 (, r2), W apart in the plane:
   out[j] is the window's maximum (the first in row-major order, the last NaN)
   and idx[j] its flat in-plane index, pos0 being that of r0[0].  Branch-free
   selects the compiler vectorises (a branch per tap mispredicts on half the
   windows of random data). */
#define FC_MAXIDX_STEP(v_, off_) \
    v = (v_); t = FC_BETTER(v, m); m = t ? v : m; b = t ? (off_) : b;
#define FC_MAXIDX(T)                                                                 \
static FC_VLOOP void fc_maxidx22_##T(const T *FC_RESTRICT r0, const T *FC_RESTRICT r1,       \
                              T *FC_RESTRICT out, int64_t *FC_RESTRICT idx,          \
                              ptrdiff_t n, int64_t pos0, int64_t W)                  \
{                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++) {                                              \
        T m = r0[2 * j], v; int64_t b = 0; int t;                                    \
        FC_MAXIDX_STEP(r0[2*j+1], 1) FC_MAXIDX_STEP(r1[2*j], W)                      \
        FC_MAXIDX_STEP(r1[2*j+1], W + 1)                                             \
        out[j] = m; idx[j] = pos0 + 2 * j + b;                                       \
    }                                                                                \
}                                                                                    \
static FC_VLOOP void fc_maxidx33_##T(const T *FC_RESTRICT r0, const T *FC_RESTRICT r1,       \
                              const T *FC_RESTRICT r2, T *FC_RESTRICT out,           \
                              int64_t *FC_RESTRICT idx, ptrdiff_t n, int64_t pos0,   \
                              int64_t W)                                             \
{                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++) {                                              \
        T m = r0[2 * j], v; int64_t b = 0; int t;                                    \
        FC_MAXIDX_STEP(r0[2*j+1], 1) FC_MAXIDX_STEP(r0[2*j+2], 2)                    \
        FC_MAXIDX_STEP(r1[2*j], W) FC_MAXIDX_STEP(r1[2*j+1], W + 1)                  \
        FC_MAXIDX_STEP(r1[2*j+2], W + 2) FC_MAXIDX_STEP(r2[2*j], 2 * W)              \
        FC_MAXIDX_STEP(r2[2*j+1], 2 * W + 1) FC_MAXIDX_STEP(r2[2*j+2], 2 * W + 2)    \
        out[j] = m; idx[j] = pos0 + 2 * j + b;                                       \
    }                                                                                \
}
FC_MAXIDX(float)
FC_MAXIDX(double)

/* One tap of n windows with indices, any window: the windows' tap values are
   s[0], s[sw], s[2 sw], ... at flat in-plane indices pos, pos + sw, ...; they
   become the running maximum m[j] (index b[j]) when first, or when they beat
   it (the taps arrive in row-major window order, so ties keep the first and
   the last NaN wins).  Loops over windows, not taps: no dependency chain
   through m, and the compiler vectorises the unit- and 2-stride loops
   (integer types: full-width vectors, as GCC finds no 256-bit vector type for
   an 8-bit value beside a 64-bit index). */
#if defined(__GNUC__) || defined(__clang__)
#define FC_NOINLINE __attribute__((noinline))
#else
#define FC_NOINLINE
#endif
/* x = t ? v : x, as bit masks: GCC turns the select into a branch around the
   store in scalar loops, which mispredicts on random data */
#define FC_SETIF(x, t, v) \
    do { int64_t mk_ = -(int64_t)(t); (x) = ((x) & ~mk_) | ((int64_t)(v) & mk_); } while (0)
#define FC_IDXTAP(T, N, ATTR, GT)                                                    \
static ATTR void fc_idxtap_##N(const T *FC_RESTRICT s, T *FC_RESTRICT m,             \
                               int64_t *FC_RESTRICT b, ptrdiff_t n, int64_t pos,     \
                               ptrdiff_t sw, int first)                              \
{                                                                                    \
    if (first) {                                                                     \
        for (ptrdiff_t j = 0; j < n; j++) { m[j] = s[j * sw]; b[j] = pos + j * sw; } \
    } else if (sw == 1) {                                                            \
        for (ptrdiff_t j = 0; j < n; j++) {                                          \
            T v = s[j], o = m[j]; int t = GT(v, o);                                  \
            m[j] = t ? v : o; FC_SETIF(b[j], t, pos + j);                            \
        }                                                                            \
    } else if (sw == 2) {                                                            \
        for (ptrdiff_t j = 0; j < n; j++) {                                          \
            T v = s[2 * j], o = m[j]; int t = GT(v, o);                              \
            m[j] = t ? v : o; FC_SETIF(b[j], t, pos + 2 * j);                        \
        }                                                                            \
    } else {                                                                         \
        for (ptrdiff_t j = 0; j < n; j++) {                                          \
            T v = s[j * sw], o = m[j]; int t = GT(v, o);                             \
            m[j] = t ? v : o; FC_SETIF(b[j], t, pos + j * sw);                       \
        }                                                                            \
    }                                                                                \
}
/* no NaN in integers: the plain compare (GCC vectorises no 8-bit FC_BETTER) */
#define FC_GT_INT(v, m) ((v) > (m))
FC_IDXTAP(float, float, FC_VLOOP, FC_BETTER)
FC_IDXTAP(double, double, FC_VLOOP, FC_BETTER)
FC_IDXTAP(signed char, schar, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(unsigned char, uchar, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(short, short, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(unsigned short, ushort, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(int, int, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(unsigned int, uint, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(long long, longlong, FC_NOINLINE, FC_GT_INT)
FC_IDXTAP(unsigned long long, ulonglong, FC_NOINLINE, FC_GT_INT)

/* 1 when x[0 .. n) holds a NaN. */
#define FC_HASNAN(T)                                                                 \
static inline int fc_hasnan_##T(const T *FC_RESTRICT x, ptrdiff_t n)                 \
{                                                                                    \
    int bad = 0;                                                                     \
    for (ptrdiff_t i = 0; i < n; i++)                                                \
        bad |= x[i] != x[i];                                                         \
    return bad;                                                                      \
}
FC_HASNAN(float)

#if defined(FC_X86_64) && defined(__AVX512F__)
#define FC_HAVE_AVX512 1
/* columns 0, 2, .., 30 and 1, 3, .., 31 of the 32 floats in (a, b) */
static inline __m512i fc_even_idx(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline __m512i fc_odd_idx(void)
{
    return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
#endif

/* lanes [0, k) of a 16-lane mask, k clamped to [0, 16] */
#if defined(FC_HAVE_AVX512)
static inline __mmask16 fc_lanes(ptrdiff_t k)
{
    return k <= 0 ? (__mmask16)0 : k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << k) - 1u);
}
#endif

/* Max-pooling backward of a whole output row of n 3x3 windows of stride 2
   with padding: window j reads columns 2 j - pw .. 2 j - pw + 2 of the three
   input rows (NULL: a padding row) and its gradient g[j] is added at its first
   maximum in the row buffers acc[0..2] (W columns each; NULL: a padding row).
   Padded positions read as -inf; a window whose maximum is -inf (it may have
   picked a padded position) is left out and flagged in bad[block] (bit l:
   window 16 block + l) for the caller to redo exactly.  masks: from
   fc_masks33, per block of 16 windows the 4 load masks (also the valid
   columns of the stores).  Column 2 l gets the tap-0 gradient of window l
   plus the tap-2 gradient of window l - 1, then is added to the buffer.
   AVX-512 only (fc_vec33 says whether it exists); the rows must hold no NaN. */
#if defined(FC_HAVE_AVX512)
static const int fc_vec33 = 1;
static void fc_masks33(unsigned short *masks, ptrdiff_t n, ptrdiff_t W, ptrdiff_t pw)
{
    for (ptrdiff_t j0 = 0, i = 0; j0 < n; j0 += 16, i++) {
        for (int l = 0; l < 4; l++) {
            ptrdiff_t st = 2 * j0 - pw + (l & 1 ? 16 : 0) + (l & 2 ? 2 : 0);
            ptrdiff_t lo = st < 0 ? -st : 0, hi = W - st;
            unsigned m = 0;
            if (hi > 16)
                hi = 16;
            if (lo < 16 && hi > lo)
                m = ((hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u)) & ~((1u << lo) - 1u));
            masks[4 * i + l] = (unsigned short)m;
        }
    }
}
static void fc_maxbw33w_float(const float *const *rows, const float *FC_RESTRICT g,
                              float *const *acc, ptrdiff_t n, ptrdiff_t pw, ptrdiff_t W,
                              const unsigned short *masks, unsigned short *bad)
{
    const __m512i ie = fc_even_idx(), io = fc_odd_idx();
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                         15, 31);
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    __m512 carry[3] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    ptrdiff_t j0 = 0, i = 0;
    for (; j0 < n; j0 += 16, i++) {
        const ptrdiff_t c0 = 2 * j0 - pw;
        const __mmask16 ma = masks[4 * i], mb = masks[4 * i + 1];
        const __mmask16 ma2 = masks[4 * i + 2], mb2 = masks[4 * i + 3];
        const __mmask16 mw = fc_lanes(n - j0);
        __m512 m = ninf;
        __m512i kk = _mm512_setzero_si512();
        for (int r = 0; r < 3; r++) {
            const float *q = rows[r];
            __m512 a = ninf, b = ninf, a2 = ninf, b2 = ninf;
            if (q) {
                q += c0;
                a = _mm512_mask_loadu_ps(ninf, ma, q);
                b = _mm512_mask_loadu_ps(ninf, mb, q + 16);
                a2 = _mm512_mask_loadu_ps(ninf, ma2, q + 2);
                b2 = _mm512_mask_loadu_ps(ninf, mb2, q + 18);
            }
            __m512 e = _mm512_permutex2var_ps(a, ie, b);
            __m512 o = _mm512_permutex2var_ps(a, io, b);
            __m512 e2 = _mm512_permutex2var_ps(a2, ie, b2);
            __mmask16 t;
            if (r == 0) {
                m = e;
            } else {
                t = _mm512_cmp_ps_mask(e, m, _CMP_GT_OQ);
                m = _mm512_mask_mov_ps(m, t, e);
                kk = _mm512_mask_mov_epi32(kk, t, _mm512_set1_epi32(3 * r));
            }
            t = _mm512_cmp_ps_mask(o, m, _CMP_GT_OQ);
            m = _mm512_mask_mov_ps(m, t, o);
            kk = _mm512_mask_mov_epi32(kk, t, _mm512_set1_epi32(3 * r + 1));
            t = _mm512_cmp_ps_mask(e2, m, _CMP_GT_OQ);
            m = _mm512_mask_mov_ps(m, t, e2);
            kk = _mm512_mask_mov_epi32(kk, t, _mm512_set1_epi32(3 * r + 2));
        }
        /* a window whose max is -inf may have picked a padded position: the
           caller redoes it; its gradient stays out of the vector adds */
        const __mmask16 b_ = _mm512_mask_cmp_ps_mask(mw, m, ninf, _CMP_EQ_OQ);
        bad[i] = (unsigned short)b_;
        const __m512 gv = _mm512_maskz_loadu_ps(_kandn_mask16(b_, mw), g + j0);
        for (int r = 0; r < 3; r++) {
            if (!acc[r])
                continue;
            __m512 c0v = _mm512_maskz_mov_ps(
                _mm512_cmpeq_epi32_mask(kk, _mm512_set1_epi32(3 * r)), gv);
            __m512 c1v = _mm512_maskz_mov_ps(
                _mm512_cmpeq_epi32_mask(kk, _mm512_set1_epi32(3 * r + 1)), gv);
            __m512 c2v = _mm512_maskz_mov_ps(
                _mm512_cmpeq_epi32_mask(kk, _mm512_set1_epi32(3 * r + 2)), gv);
            /* column 2l: tap 0 of window l and tap 2 of window l - 1 */
            __m512 ev = _mm512_add_ps(c0v, _mm512_castsi512_ps(_mm512_alignr_epi32(
                _mm512_castps_si512(c2v), _mm512_castps_si512(carry[r]), 15)));
            carry[r] = c2v;
            float *d = acc[r] + c0;
            _mm512_mask_storeu_ps(d, ma, _mm512_add_ps(_mm512_maskz_loadu_ps(ma, d),
                                                      _mm512_permutex2var_ps(ev, lo, c1v)));
            _mm512_mask_storeu_ps(d + 16, mb, _mm512_add_ps(_mm512_maskz_loadu_ps(mb, d + 16),
                                                           _mm512_permutex2var_ps(ev, hi, c1v)));
        }
    }
    /* the tap-2 gradient of window 16 i - 1 of a full last block */
    if (n % 16 == 0) {
        ptrdiff_t col = 2 * n - pw;
        if (col >= 0 && col < W)
            for (int r = 0; r < 3; r++)
                if (acc[r]) {
                    float v[16];
                    _mm512_storeu_ps(v, carry[r]);
                    acc[r][col] += v[15];
                }
    }
}
#else
static const int fc_vec33 = 0;
static void fc_masks33(unsigned short *masks, ptrdiff_t n, ptrdiff_t W, ptrdiff_t pw)
{
    (void)masks; (void)n; (void)W; (void)pw;
}
static void fc_maxbw33w_float(const float *const *rows, const float *g, float *const *acc,
                              ptrdiff_t n, ptrdiff_t pw, ptrdiff_t W,
                              const unsigned short *masks, unsigned short *bad)
{
    (void)rows; (void)g; (void)acc; (void)n; (void)pw; (void)W; (void)masks; (void)bad;
}
#endif

/* Scatter of one output row's interior gradients: g[j] is added at tap k[j]
   of window j, i.e. at tap[k[j]][2 j] (tap[t]: the row buffer of tap row t / 3,
   offset by t % 3 columns).  In order of j: a fixed accumulation order. */
#define FC_SCATTER33(T)                                                              \
static inline void fc_scatter33_##T(const int *FC_RESTRICT k, const T *FC_RESTRICT g, \
                                    T *const *tap, ptrdiff_t n)                      \
{                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++)                                                \
        tap[k[j]][2 * j] += g[j];                                                    \
}
FC_SCATTER33(float)
FC_SCATTER33(double)

/* 2x2 windows of stride 2: n disjoint windows from column 0 of rows r0, r1; the
   gradient of window j goes to the first maximum (last NaN) of its 4 inputs and
   the other 3 get 0: b0/b1[0 .. 2n) are assigned.  AVX-512 blocks of 16
   windows fall back to the portable loop when they hold a NaN. */
#define FC_MAXBW22_C(T)                                                              \
static FC_VLOOP void fc_maxbw22_c_##T(const T *FC_RESTRICT r0, const T *FC_RESTRICT r1,       \
                             const T *FC_RESTRICT g, T *FC_RESTRICT g0,              \
                             T *FC_RESTRICT g1, ptrdiff_t n)                         \
{                                                                                    \
    for (ptrdiff_t j = 0; j < n; j++) {                                              \
        T a = r0[2*j], b = r0[2*j+1], c = r1[2*j], d = r1[2*j+1];                    \
        int tb = FC_BETTER(b, a); T m = tb ? b : a;                                  \
        int tc = FC_BETTER(c, m); m = tc ? c : m;                                    \
        int td = FC_BETTER(d, m);                                                    \
        int kd = td, kc = tc & !td, kb = tb & !tc & !td, ka = !tb & !tc & !td;       \
        T gv = g[j];                                                                 \
        g0[2*j] = ka ? gv : (T)0; g0[2*j+1] = kb ? gv : (T)0;                        \
        g1[2*j] = kc ? gv : (T)0; g1[2*j+1] = kd ? gv : (T)0;                        \
    }                                                                                \
}
FC_MAXBW22_C(float)
FC_MAXBW22_C(double)

#if defined(FC_HAVE_AVX512)
/* 16 disjoint 2x2 windows (rows p0:p1 and q0:q1 hold their 32 + 32 inputs, no NaN):
   each window's gradient gv goes to its first maximum in row-major order, zero
   elsewhere; o[0..1] are the two vectors of gradient row 0, o[2..3] of row 1. */
static inline void fc_maxbw22_block(__m512 p0, __m512 p1, __m512 q0, __m512 q1, __m512 gv,
                                    __m512 *o)
{
    const __m512i ie = fc_even_idx(), io = fc_odd_idx();
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                         15, 31);
    __m512 a = _mm512_permutex2var_ps(p0, ie, p1), b = _mm512_permutex2var_ps(p0, io, p1);
    __m512 c = _mm512_permutex2var_ps(q0, ie, q1), d = _mm512_permutex2var_ps(q0, io, q1);
    __mmask16 tb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ);
    __m512 m = _mm512_mask_mov_ps(a, tb, b);
    __mmask16 tc = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
    m = _mm512_mask_mov_ps(m, tc, c);
    __mmask16 td = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
    __mmask16 kc = _kandn_mask16(td, tc);
    __mmask16 kb = _kandn_mask16(_kor_mask16(tc, td), tb);
    __mmask16 ka = _knot_mask16(_kor_mask16(tb, _kor_mask16(tc, td)));
    __m512 va = _mm512_maskz_mov_ps(ka, gv), vb = _mm512_maskz_mov_ps(kb, gv);
    __m512 vc = _mm512_maskz_mov_ps(kc, gv), vd = _mm512_maskz_mov_ps(td, gv);
    o[0] = _mm512_permutex2var_ps(va, lo, vb);
    o[1] = _mm512_permutex2var_ps(va, hi, vb);
    o[2] = _mm512_permutex2var_ps(vc, lo, vd);
    o[3] = _mm512_permutex2var_ps(vc, hi, vd);
}
#endif

static void fc_maxbw22v_float(const float *FC_RESTRICT r0, const float *FC_RESTRICT r1,
                              const float *FC_RESTRICT g, float *FC_RESTRICT g0,
                              float *FC_RESTRICT g1, ptrdiff_t n)
{
    ptrdiff_t j0 = 0;
#if defined(FC_HAVE_AVX512)
    for (; j0 + 16 <= n; j0 += 16) {
        const float *p = r0 + 2 * j0, *q = r1 + 2 * j0;
        __m512 p0 = _mm512_loadu_ps(p), p1 = _mm512_loadu_ps(p + 16);
        __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16);
        if (_mm512_cmp_ps_mask(p0, p1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(q0, q1, _CMP_UNORD_Q)) {
            fc_maxbw22_c_float(p, q, g + j0, g0 + 2 * j0, g1 + 2 * j0, 16);
            continue;
        }
        __m512 o[4];
        fc_maxbw22_block(p0, p1, q0, q1, _mm512_loadu_ps(g + j0), o);
        _mm512_storeu_ps(g0 + 2 * j0, o[0]);
        _mm512_storeu_ps(g0 + 2 * j0 + 16, o[1]);
        _mm512_storeu_ps(g1 + 2 * j0, o[2]);
        _mm512_storeu_ps(g1 + 2 * j0 + 16, o[3]);
    }
    if (j0 < n) {  /* last block: masked loads and stores */
        const float *p = r0 + 2 * j0, *q = r1 + 2 * j0;
        const __mmask16 m0 = fc_lanes(2 * (n - j0)), m1 = fc_lanes(2 * (n - j0) - 16);
        __m512 p0 = _mm512_maskz_loadu_ps(m0, p), p1 = _mm512_maskz_loadu_ps(m1, p + 16);
        __m512 q0 = _mm512_maskz_loadu_ps(m0, q), q1 = _mm512_maskz_loadu_ps(m1, q + 16);
        if (!(_mm512_cmp_ps_mask(p0, p1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(q0, q1, _CMP_UNORD_Q))) {
            __m512 o[4];
            fc_maxbw22_block(p0, p1, q0, q1, _mm512_maskz_loadu_ps(fc_lanes(n - j0), g + j0), o);
            _mm512_mask_storeu_ps(g0 + 2 * j0, m0, o[0]);
            _mm512_mask_storeu_ps(g0 + 2 * j0 + 16, m1, o[1]);
            _mm512_mask_storeu_ps(g1 + 2 * j0, m0, o[2]);
            _mm512_mask_storeu_ps(g1 + 2 * j0 + 16, m1, o[3]);
            return;
        }
    }
#endif
    fc_maxbw22_c_float(r0 + 2 * j0, r1 + 2 * j0, g + j0, g0 + 2 * j0, g1 + 2 * j0, n - j0);
}

static void fc_maxbw22v_double(const double *FC_RESTRICT r0, const double *FC_RESTRICT r1,
                               const double *FC_RESTRICT g, double *FC_RESTRICT g0,
                               double *FC_RESTRICT g1, ptrdiff_t n)
{
    fc_maxbw22_c_double(r0, r1, g, g0, g1, n);
}

/* 6. Max-pooling forward passes of float32 rows on AVX-512: one vmaxps per
   vector in place of the generic loops' NaN-aware compare-and-select (three to
   four instructions), with the operands ordered so that ties keep the running
   maximum as the generic FC_GT select does.  vmaxps drops a NaN operand, so
   each pass also reports whether its inputs held a NaN (one unordered compare
   per vector): nonzero means the caller must rerun that pass with the generic
   loop (which propagates NaN).  Without AVX-512 they do nothing and return 1.
     fc_vmax2_fast: b = max(r, q);  fc_vmax_fast: b = max(b, r);
     fc_hmax_fast:  o[j] = max of s[sw j .. sw j + kw - 1], kw in {2, 3},
                    sw in {1, 2}; it reads no element past s[sw (n-1) + kw-1]. */
#if defined(FC_HAVE_AVX512)
/* b = max(r, q), ties keeping r; b may be r or q (each lane is loaded before it
   is stored) */
static inline int fc_vmax2_fast(const float *r, const float *q, float *b, ptrdiff_t n)
{
    __mmask16 bad = 0;
    for (ptrdiff_t j = 0; j < n; j += 16) {
        const __mmask16 m = fc_lanes(n - j);
        const __m512 a = _mm512_maskz_loadu_ps(m, r + j), c = _mm512_maskz_loadu_ps(m, q + j);
        bad |= _mm512_cmp_ps_mask(a, c, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps(b + j, m, _mm512_max_ps(c, a));
    }
    return bad != 0;
}
static inline int fc_vmax_fast(const float *r, float *b, ptrdiff_t n)
{
    return fc_vmax2_fast(b, r, b, n);  /* b = max(b, r), ties keeping b */
}
static inline int fc_hmax_fast(const float *FC_RESTRICT s, float *FC_RESTRICT o, ptrdiff_t n,
                               ptrdiff_t kw, ptrdiff_t sw)
{
    __mmask16 bad = 0;
    if (sw == 1) {
        for (ptrdiff_t j = 0; j < n; j += 16) {
            const __mmask16 m = fc_lanes(n - j);
            const __m512 a = _mm512_maskz_loadu_ps(m, s + j);
            const __m512 c = _mm512_maskz_loadu_ps(m, s + j + 1);
            __m512 v = _mm512_max_ps(c, a);
            bad |= _mm512_cmp_ps_mask(a, c, _CMP_UNORD_Q);
            if (kw == 3) {
                const __m512 e = _mm512_maskz_loadu_ps(m, s + j + 2);
                bad |= _mm512_cmp_ps_mask(e, e, _CMP_UNORD_Q);
                v = _mm512_max_ps(e, v);
            }
            _mm512_mask_storeu_ps(o + j, m, v);
        }
        return bad != 0;
    }
    const __m512i ie = fc_even_idx(), io = fc_odd_idx();
    for (ptrdiff_t j = 0; j < n; j += 16) {
        /* outputs j .. j + 15 read p[0 .. 2 k + kw - 2] for k < n - j */
        const float *p = s + 2 * j;
        const ptrdiff_t c = 2 * (n - j < 16 ? n - j : 16) + kw - 2;  /* elements read */
        const __m512 a = _mm512_maskz_loadu_ps(fc_lanes(c), p);
        const __m512 b = _mm512_maskz_loadu_ps(fc_lanes(c - 16), p + 16);
        const __m512 e = _mm512_permutex2var_ps(a, ie, b), d = _mm512_permutex2var_ps(a, io, b);
        __m512 v = _mm512_max_ps(d, e);
        bad |= _mm512_cmp_ps_mask(e, d, _CMP_UNORD_Q);
        if (kw == 3) {
            const __m512 a2 = _mm512_maskz_loadu_ps(fc_lanes(c - 2), p + 2);
            const __m512 b2 = _mm512_maskz_loadu_ps(fc_lanes(c - 18), p + 18);
            const __m512 e2 = _mm512_permutex2var_ps(a2, ie, b2);
            bad |= _mm512_cmp_ps_mask(e2, e2, _CMP_UNORD_Q);
            v = _mm512_max_ps(e2, v);
        }
        _mm512_mask_storeu_ps(o + j, fc_lanes(n - j), v);
    }
    return bad != 0;
}
#else
static inline int fc_vmax2_fast(const float *r, const float *q, float *b, ptrdiff_t n)
{
    (void)r; (void)q; (void)b; (void)n;
    return 1;
}
static inline int fc_vmax_fast(const float *r, float *b, ptrdiff_t n)
{
    (void)r; (void)b; (void)n;
    return 1;
}
static inline int fc_hmax_fast(const float *s, float *o, ptrdiff_t n, ptrdiff_t kw,
                               ptrdiff_t sw)
{
    (void)s; (void)o; (void)n; (void)kw; (void)sw;
    return 1;
}
#endif

#endif /* FC_POOL_SIMD_H */
