"""Pooling kernels, Cython/OpenMP backend (same names and contract as ``numba/pool.py``).

Arrays are C-contiguous planes: ``x (P, D, H, W)`` with ``P = N * C``, outputs
``(P, OD, OH, OW)``; geometry is 3-tuples ``(d, h, w)`` of kernel, stride,
dilation and padding-before.  Padded taps are skipped (never read); the caller
guarantees every window overlaps the input.  ``const`` memoryviews (read-only
inputs work), ``nogil`` loops, OpenMP ``prange`` with per-thread row buffers.

Forward work unit: one output row.  Its vertical taps are reduced column-wise
into a row buffer (contiguous loops the compiler vectorises), then the
horizontal taps are reduced from the buffer, with unrolled interior loops for
the common 2- and 3-tap windows of stride 1 and 2.  Backward work units own
their input elements (input rows, or planes for scatters): no races, fixed
accumulation order, bit-identical results for any thread count.

Max uses PyTorch's NaN rule ``v > m or isnan(v)`` (the last NaN, else the first
maximum in row-major window order, wins).  Max-type kernels accept every
integer dtype as well as float32/float64.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport fabs, pow, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from .fused cimport real


cdef extern from "pool_simd.h":
    # memory-speed helpers (streaming writer, multi-accumulator sums, fills,
    # vectorised max-backward rows); see the header
    ctypedef struct fc_stream:
        pass
    void fc_stream_begin(fc_stream* s, void* dst, int nt) noexcept nogil
    void fc_stream_put(fc_stream* s, const void* src, size_t n) noexcept nogil
    void fc_stream_zero(fc_stream* s, size_t n) noexcept nogil
    void fc_stream_end(fc_stream* s) noexcept nogil
    void fc_prefetch(const void* p, size_t n) noexcept nogil
    double fc_sum_float(const float* x, Py_ssize_t n) noexcept nogil
    double fc_sum_double(const double* x, Py_ssize_t n) noexcept nogil
    void fc_fill_float(float* d, float v, Py_ssize_t n) noexcept nogil
    void fc_fill_double(double* d, double v, Py_ssize_t n) noexcept nogil
    int fc_hasnan_float(const float* x, Py_ssize_t n) noexcept nogil
    void fc_argmax33_c_float(const float* r0, const float* r1, const float* r2, int* k,
                             Py_ssize_t n) noexcept nogil
    void fc_argmax33_c_double(const double* r0, const double* r1, const double* r2, int* k,
                              Py_ssize_t n) noexcept nogil
    void fc_scatter33_float(const int* k, const float* g, float** tap,
                            Py_ssize_t n) noexcept nogil
    void fc_scatter33_double(const int* k, const double* g, double** tap,
                             Py_ssize_t n) noexcept nogil
    const int fc_vec33
    void fc_masks33(unsigned short* masks, Py_ssize_t n, Py_ssize_t W,
                    Py_ssize_t pw) noexcept nogil
    void fc_maxbw33w_float(const float** rows, const float* g, float** acc, Py_ssize_t n,
                           Py_ssize_t pw, Py_ssize_t W, const unsigned short* masks,
                           unsigned short* bad) noexcept nogil
    void fc_maxidx22_float(const float* r0, const float* r1, float* out, int64_t* idx,
                           Py_ssize_t n, int64_t pos0, int64_t W) noexcept nogil
    void fc_maxidx22_double(const double* r0, const double* r1, double* out, int64_t* idx,
                            Py_ssize_t n, int64_t pos0, int64_t W) noexcept nogil
    void fc_maxidx33_float(const float* r0, const float* r1, const float* r2, float* out,
                           int64_t* idx, Py_ssize_t n, int64_t pos0, int64_t W) noexcept nogil
    void fc_maxidx33_double(const double* r0, const double* r1, const double* r2,
                            double* out, int64_t* idx, Py_ssize_t n, int64_t pos0,
                            int64_t W) noexcept nogil
    void fc_idxtap_float(const float* s, float* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_double(const double* s, double* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_schar(const signed char* s, signed char* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_uchar(const unsigned char* s, unsigned char* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_short(const short* s, short* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_ushort(const unsigned short* s, unsigned short* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_int(const int* s, int* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_uint(const unsigned int* s, unsigned int* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_longlong(const long long* s, long long* m, int64_t* b, Py_ssize_t n,
        int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    void fc_idxtap_ulonglong(const unsigned long long* s, unsigned long long* m, int64_t* b,
        Py_ssize_t n, int64_t pos, Py_ssize_t sw, int first) noexcept nogil
    int fc_vmax2_fast(const float* r, const float* q, float* b, Py_ssize_t n) noexcept nogil
    int fc_vmax_fast(const float* r, float* b, Py_ssize_t n) noexcept nogil
    int fc_hmax_fast(const float* s, float* o, Py_ssize_t n, Py_ssize_t kw,
                     Py_ssize_t sw) noexcept nogil
    void fc_maxbw22v_float(const float* r0, const float* r1, const float* g, float* g0,
                           float* g1, Py_ssize_t n) noexcept nogil
    void fc_maxbw22v_double(const double* r0, const double* r1, const double* g,
                            double* g0, double* g1, Py_ssize_t n) noexcept nogil

ctypedef fused anyt:
    float
    double
    signed char
    unsigned char
    short
    unsigned short
    int
    unsigned int
    long long
    unsigned long long


cdef struct Geo:
    Py_ssize_t D, H, W, OD, OH, OW
    Py_ssize_t kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw
    Py_ssize_t a, b  # interior output columns [a, b): whole window inside the row


cdef Geo _geo(shape_in, shape_out, kernel, stride, dilation, padb):
    cdef Geo g
    g.D, g.H, g.W = shape_in[1], shape_in[2], shape_in[3]
    g.OD, g.OH, g.OW = shape_out[1], shape_out[2], shape_out[3]
    g.kd, g.kh, g.kw = kernel
    g.sd, g.sh, g.sw = stride
    g.dd, g.dh, g.dw = dilation
    g.pd, g.ph, g.pw = padb
    g.a = (g.pw + g.sw - 1) // g.sw
    cdef Py_ssize_t lim = g.W - 1 - (g.kw - 1) * g.dw + g.pw
    g.b = lim // g.sw + 1 if lim >= 0 else 0
    if g.b > g.OW:
        g.b = g.OW
    if g.a > g.b:
        g.a = g.b
    return g


cdef inline Py_ssize_t _shift(const Geo* g, Py_ssize_t esize) noexcept nogil:
    """Offset (elements) of the row buffer inside a 64-byte aligned block chosen so
    that the interior's first window starts on a cache line (no split loads)."""
    cdef Py_ssize_t V = 64 // esize
    return ((g.pw - g.a * g.sw) % V + V) % V


cdef inline char* _aligned(char* raw) noexcept nogil:
    return <char*>((<size_t>raw + 63) & ~(<size_t>63))


cdef extern from *:
    """
    /* Horizontal max passes over a row buffer; ``restrict`` lets the compiler
       vectorise the strided loads without aliasing checks.  NaN wins (PyTorch). */
    /* v replaces the running max m: v > m, or v is NaN (written so that GCC
       if-converts and vectorises it: no branch on the unordered compare) */
    #define FC_GT(v, m) (!((v) <= (m)) && !(((m) != (m)) && ((v) == (v))))
    /* 256-bit vectors on x86 GCC: rows of ~50-100 outputs leave a short epilogue */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    #define FC_VW __attribute__((target("prefer-vector-width=256")))
    #else
    #define FC_VW
    #endif
    #define FC_HMAX(T) \
    static FC_VW void fc_hmax2s2_##T(const T* restrict s, T* restrict o, Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T m = s[2*j], v = s[2*j+1]; \
            o[j] = FC_GT(v, m) ? v : m; } } \
    static FC_VW void fc_hmax3s2_##T(const T* restrict s, T* restrict o, Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T m = s[2*j], v = s[2*j+1]; \
            m = FC_GT(v, m) ? v : m; v = s[2*j+2]; o[j] = FC_GT(v, m) ? v : m; } } \
    static FC_VW void fc_hmax2s1_##T(const T* restrict s, T* restrict o, Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T m = s[j], v = s[j+1]; \
            o[j] = FC_GT(v, m) ? v : m; } } \
    static FC_VW void fc_hmax3s1_##T(const T* restrict s, T* restrict o, Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T m = s[j], v = s[j+1]; \
            m = FC_GT(v, m) ? v : m; v = s[j+2]; o[j] = FC_GT(v, m) ? v : m; } } \
    static FC_VW void fc_vmax_##T(const T* restrict r, T* restrict b, Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T v = r[j], m = b[j]; \
            b[j] = FC_GT(v, m) ? v : m; } } \
    static FC_VW void fc_vmax2_##T(const T* restrict r, const T* restrict q, T* restrict b, \
                             Py_ssize_t n) { \
        for (Py_ssize_t j = 0; j < n; j++) { T v = q[j], m = r[j]; \
            b[j] = FC_GT(v, m) ? v : m; } }
    FC_HMAX(float)
    FC_HMAX(double)
    """
    void fc_hmax2s2_float(const float* s, float* o, Py_ssize_t n) noexcept nogil
    void fc_hmax3s2_float(const float* s, float* o, Py_ssize_t n) noexcept nogil
    void fc_hmax2s1_float(const float* s, float* o, Py_ssize_t n) noexcept nogil
    void fc_hmax3s1_float(const float* s, float* o, Py_ssize_t n) noexcept nogil
    void fc_vmax_float(const float* r, float* b, Py_ssize_t n) noexcept nogil
    void fc_vmax2_float(const float* r, const float* q, float* b, Py_ssize_t n) noexcept nogil
    void fc_hmax2s2_double(const double* s, double* o, Py_ssize_t n) noexcept nogil
    void fc_hmax3s2_double(const double* s, double* o, Py_ssize_t n) noexcept nogil
    void fc_hmax2s1_double(const double* s, double* o, Py_ssize_t n) noexcept nogil
    void fc_hmax3s1_double(const double* s, double* o, Py_ssize_t n) noexcept nogil
    void fc_vmax_double(const double* r, double* b, Py_ssize_t n) noexcept nogil
    void fc_vmax2_double(const double* r, const double* q, double* b,
                         Py_ssize_t n) noexcept nogil


cdef inline bint _c_hmax(const anyt* s0, anyt* o0, Py_ssize_t n, Py_ssize_t kw,
                         Py_ssize_t sw) noexcept nogil:
    """The restrict-qualified C pass for float/double and 2-3 taps; False otherwise
    (float32: vmaxps on AVX-512, the generic loop when the row holds a NaN)."""
    if anyt is float:
        if (kw == 2 or kw == 3) and (sw == 1 or sw == 2) and not fc_hmax_fast(s0, o0, n, kw,
                                                                               sw):
            return True
        if sw == 2:
            if kw == 2:
                fc_hmax2s2_float(s0, o0, n)
                return True
            if kw == 3:
                fc_hmax3s2_float(s0, o0, n)
                return True
        elif sw == 1:
            if kw == 2:
                fc_hmax2s1_float(s0, o0, n)
                return True
            if kw == 3:
                fc_hmax3s1_float(s0, o0, n)
                return True
    elif anyt is double:
        if sw == 2:
            if kw == 2:
                fc_hmax2s2_double(s0, o0, n)
                return True
            if kw == 3:
                fc_hmax3s2_double(s0, o0, n)
                return True
        elif sw == 1:
            if kw == 2:
                fc_hmax2s1_double(s0, o0, n)
                return True
            if kw == 3:
                fc_hmax3s1_double(s0, o0, n)
                return True
    return False


cdef inline bint _c_vmax(const anyt* r, const anyt* q, anyt* b, Py_ssize_t n) noexcept nogil:
    """b = max(r, q) (q NULL: b = max(r, b)) via the restrict C loops; False if no C loop
    (float32: vmaxps on AVX-512, the generic loop when the rows hold a NaN)."""
    if anyt is float:
        if q == NULL:
            if fc_vmax_fast(r, b, n):
                fc_vmax_float(r, b, n)
        elif fc_vmax2_fast(r, q, b, n):
            fc_vmax2_float(r, q, b, n)
        return True
    elif anyt is double:
        if q == NULL:
            fc_vmax_double(r, b, n)
        else:
            fc_vmax2_double(r, q, b, n)
        return True
    return False


cdef inline bint _gt(anyt v, anyt m) noexcept nogil:
    """``v`` replaces the running max ``m``: larger, or NaN (ties keep the first)."""
    return (v > m) | (v != v)


cdef inline void _taps(Py_ssize_t o, Py_ssize_t s, Py_ssize_t d, Py_ssize_t pb,
                       Py_ssize_t k, Py_ssize_t L, Py_ssize_t* st, Py_ssize_t* lo,
                       Py_ssize_t* hi) noexcept nogil:
    cdef Py_ssize_t t = o * s - pb
    st[0] = t
    if d == 1:  # no division in the common case
        lo[0] = 0 if t >= 0 else -t
        hi[0] = L - t
    else:
        lo[0] = 0 if t >= 0 else (-t + d - 1) // d
        hi[0] = (L - 1 - t) // d + 1
    if hi[0] > k:
        hi[0] = k


# ---------------------------------------------------------------------------
# max pooling, values only
# ---------------------------------------------------------------------------
cdef inline void _max_fused(anyt* orow, const anyt* q0, const anyt* q1, const anyt* q2,
                            Py_ssize_t nrow, Py_ssize_t kw, Py_ssize_t a, Py_ssize_t b,
                            Py_ssize_t pw) noexcept nogil:
    """Interior of a stride-2 row with 2 or 3 taps per axis and 2 or 3 input rows."""
    cdef Py_ssize_t j, n = b - a, c = 2 * a - pw
    cdef const anyt* r0 = q0 + c
    cdef const anyt* r1 = q1 + c
    cdef const anyt* r2 = q2 + c
    cdef anyt* o = orow + a
    cdef anyt m, v
    if nrow == 2 and kw == 2:
        for j in range(n):
            m = r0[2 * j]
            v = r0[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r1[2 * j]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 1]
            o[j] = v if _gt(v, m) else m
    elif nrow == 2:
        for j in range(n):
            m = r0[2 * j]
            v = r0[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r0[2 * j + 2]
            m = v if _gt(v, m) else m
            v = r1[2 * j]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 2]
            o[j] = v if _gt(v, m) else m
    elif kw == 2:
        for j in range(n):
            m = r0[2 * j]
            v = r0[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r1[2 * j]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r2[2 * j]
            m = v if _gt(v, m) else m
            v = r2[2 * j + 1]
            o[j] = v if _gt(v, m) else m
    else:
        for j in range(n):
            m = r0[2 * j]
            v = r0[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r0[2 * j + 2]
            m = v if _gt(v, m) else m
            v = r1[2 * j]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r1[2 * j + 2]
            m = v if _gt(v, m) else m
            v = r2[2 * j]
            m = v if _gt(v, m) else m
            v = r2[2 * j + 1]
            m = v if _gt(v, m) else m
            v = r2[2 * j + 2]
            o[j] = v if _gt(v, m) else m


cdef void _max_row(const anyt* x, anyt* orow, anyt* buf, Py_ssize_t job,
                   const Geo* g) noexcept nogil:
    """Output row ``job`` (= (p * OD + od) * OH + oh) into ``orow``."""
    cdef Py_ssize_t W = g.W, OW = g.OW, sw = g.sw, dw = g.dw, kw = g.kw, pw = g.pw
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t p = r // g.OD
    cdef Py_ssize_t std, d0, d1, sth, h0, h1, stw, w0, w1, jd, jh, jw, w, ow, i, nrow, e
    cdef const anyt* row
    cdef const anyt* row2
    cdef const anyt* src
    cdef const anyt* xp = x + p * g.D * g.H * W
    cdef anyt m, v
    cdef const anyt* rp[3]
    _taps(od, g.sd, g.dd, g.pd, g.kd, g.D, &std, &d0, &d1)
    _taps(oh, g.sh, g.dh, g.ph, g.kh, g.H, &sth, &h0, &h1)
    nrow = (d1 - d0) * (h1 - h0)
    if nrow == 2 and sw == 2 and dw == 1 and kw == 2 and (2 * g.a - pw) % 2 == 0:
        # fused 2x2 stride 2: every output straight from the 2 input rows (no buffer)
        nrow = 0
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                rp[nrow] = xp + ((std + jd * g.dd) * g.H + sth + jh * g.dh) * W
                nrow = nrow + 1
        _max_fused(orow, rp[0], rp[1], rp[nrow - 1], nrow, kw, g.a, g.b, pw)
        for e in range(2):
            for ow in range(0 if e == 0 else g.b, g.a if e == 0 else OW):
                _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
                m = rp[0][stw + w0]
                for i in range(nrow):
                    for jw in range(w0, w1):
                        v = rp[i][stw + jw]
                        m = v if _gt(v, m) else m
                orow[ow] = m
        return
    nrow = 0
    row2 = NULL
    for jd in range(d0, d1):
        for jh in range(h0, h1):
            row = xp + ((std + jd * g.dd) * g.H + sth + jh * g.dh) * W
            if nrow == 0:
                row2 = row
            elif nrow == 1:
                if not _c_vmax(row2, row, buf, W):
                    for w in range(W):
                        v = row[w]
                        m = row2[w]
                        buf[w] = v if _gt(v, m) else m
            else:
                if not _c_vmax(row, <const anyt*>NULL, buf, W):
                    for w in range(W):
                        v = row[w]
                        m = buf[w]
                        buf[w] = v if _gt(v, m) else m
            nrow = nrow + 1
    src = row2 if nrow == 1 else buf
    # interior: no bounds checks, unrolled common windows
    cdef const anyt* s0 = src + g.a * sw - pw
    cdef anyt* o0 = orow + g.a
    cdef Py_ssize_t n = g.b - g.a, j
    if n > 0 and dw == 1 and _c_hmax(s0, o0, n, kw, sw):
        pass
    elif kw == 2 and dw == 1 and sw == 2:
        for j in range(n):
            m = s0[2 * j]
            v = s0[2 * j + 1]
            o0[j] = v if _gt(v, m) else m
    elif kw == 3 and dw == 1 and sw == 2:
        for j in range(n):
            m = s0[2 * j]
            v = s0[2 * j + 1]
            m = v if _gt(v, m) else m
            v = s0[2 * j + 2]
            o0[j] = v if _gt(v, m) else m
    elif kw == 2 and dw == 1 and sw == 1:
        for j in range(n):
            m = s0[j]
            v = s0[j + 1]
            o0[j] = v if _gt(v, m) else m
    elif kw == 3 and dw == 1 and sw == 1:
        for j in range(n):
            m = s0[j]
            v = s0[j + 1]
            m = v if _gt(v, m) else m
            v = s0[j + 2]
            o0[j] = v if _gt(v, m) else m
    else:
        for j in range(n):
            i = j * sw
            m = s0[i]
            for jw in range(1, kw):
                v = s0[i + jw * dw]
                m = v if _gt(v, m) else m
            o0[j] = m
    # edges (windows clipped by the padding)
    for e in range(2):
        for ow in range(0 if e == 0 else g.b, g.a if e == 0 else OW):
            _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
            m = src[stw + w0 * dw]
            for jw in range(w0 + 1, w1):
                v = src[stw + jw * dw]
                m = v if _gt(v, m) else m
            orow[ow] = m


cdef void _max_part(const anyt* xp, anyt* op, Py_ssize_t j0, Py_ssize_t j1,
                    const Geo* g) noexcept nogil:
    """Output rows ``[j0, j1)`` with one row buffer."""
    cdef Py_ssize_t job
    if j1 <= j0:
        return
    cdef char* raw = <char*>malloc((g.W + 64) * sizeof(anyt) + 256)
    cdef anyt* buf = (<anyt*>_aligned(raw + 64)) + _shift(g, sizeof(anyt))
    for job in range(j0, j1):
        _max_row(xp, op + job * g.OW, buf, job, g)
    free(raw)


def max_pool(const anyt[:, :, :, ::1] x, anyt[:, :, :, ::1] out, kernel, stride,
             dilation, padb, int nthreads):
    """Max pooling of ``x (P, D, H, W)`` into ``out (P, OD, OH, OW)``; threads take
    equal contiguous ranges of output rows.  (Streaming the output past the cache
    was measured slower here: the result is a quarter of the input.)"""
    cdef Geo g = _geo(x.shape, out.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, t
    if njobs == 0 or g.OW == 0:
        return out
    cdef const anyt* xp = &x[0, 0, 0, 0]
    cdef anyt* op = &out[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                _max_part(xp, op, njobs * t // nthreads, njobs * (t + 1) // nthreads, &g)
        else:
            _max_part(xp, op, 0, njobs, &g)
    return out


# ---------------------------------------------------------------------------
# max pooling with indices (row-major first maximum)
# ---------------------------------------------------------------------------
cdef inline void _idxtap(const anyt* s, anyt* m, int64_t* b, Py_ssize_t n, int64_t pos,
                         Py_ssize_t sw, bint first) noexcept nogil:
    """One tap of ``n`` windows into the running max ``m`` / index ``b`` (see the header);
    integer types by size and signedness (compile-time constants per specialisation)."""
    cdef bint signed_ = <anyt>-1 < 0
    if anyt is float:
        fc_idxtap_float(s, m, b, n, pos, sw, first)
    elif anyt is double:
        fc_idxtap_double(s, m, b, n, pos, sw, first)
    elif sizeof(anyt) == 1:
        if signed_:
            fc_idxtap_schar(<const signed char*>s, <signed char*>m, b, n, pos, sw, first)
        else:
            fc_idxtap_uchar(<const unsigned char*>s, <unsigned char*>m, b, n, pos, sw, first)
    elif sizeof(anyt) == 2:
        if signed_:
            fc_idxtap_short(<const short*>s, <short*>m, b, n, pos, sw, first)
        else:
            fc_idxtap_ushort(<const unsigned short*>s, <unsigned short*>m, b, n, pos, sw, first)
    elif sizeof(anyt) == 4:
        if signed_:
            fc_idxtap_int(<const int*>s, <int*>m, b, n, pos, sw, first)
        else:
            fc_idxtap_uint(<const unsigned int*>s, <unsigned int*>m, b, n, pos, sw, first)
    elif signed_:
        fc_idxtap_longlong(<const long long*>s, <long long*>m, b, n, pos, sw, first)
    else:
        fc_idxtap_ulonglong(<const unsigned long long*>s, <unsigned long long*>m, b, n, pos, sw,
                            first)


cdef inline bint _c_maxidx(const anyt* xp, anyt* out, int64_t* idx, Py_ssize_t pos,
                           Py_ssize_t n, const Geo* g) noexcept nogil:
    """Interior windows of a 2x2 or 3x3, stride-2 row (all rows of the window
    inside the input, the first at flat index ``pos``) through the vectorised C
    selects for float/double; False when there is none for this case."""
    cdef Py_ssize_t W = g.W
    if g.sw != 2 or g.dw != 1 or g.dh != 1 or g.kh != g.kw or not (g.kw == 2 or g.kw == 3):
        return False
    if anyt is float:
        if g.kw == 2:
            fc_maxidx22_float(xp + pos, xp + pos + W, out, idx, n, pos, W)
        else:
            fc_maxidx33_float(xp + pos, xp + pos + W, xp + pos + 2 * W, out, idx, n, pos, W)
        return True
    elif anyt is double:
        if g.kw == 2:
            fc_maxidx22_double(xp + pos, xp + pos + W, out, idx, n, pos, W)
        else:
            fc_maxidx33_double(xp + pos, xp + pos + W, xp + pos + 2 * W, out, idx, n, pos, W)
        return True
    return False


cdef void _maxidx_row(const anyt* x, anyt* out, int64_t* idx, Py_ssize_t job,
                      const Geo* g) noexcept nogil:
    cdef Py_ssize_t H = g.H, W = g.W
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t p = r // g.OD
    cdef Py_ssize_t std, d0, d1, sth, h0, h1, stw, w0, w1, jd, jh, jw, ow, id_, ih, pos, q
    cdef Py_ssize_t best, lo = 0, hi = 0
    cdef const anyt* xp = x + p * g.D * H * W
    cdef Py_ssize_t o0 = ((p * g.OD + od) * g.OH + oh) * g.OW
    cdef anyt m, v
    cdef bint t
    _taps(od, g.sd, g.dd, g.pd, g.kd, g.D, &std, &d0, &d1)
    _taps(oh, g.sh, g.dh, g.ph, g.kh, H, &sth, &h0, &h1)
    if d1 - d0 == 1 and h0 == 0 and h1 == g.kh and g.b > g.a:
        # whole-height windows of one depth slice: the interior in one vectorised pass
        pos = ((std + d0 * g.dd) * H + sth) * W + g.a * g.sw - g.pw
        if _c_maxidx(xp, out + o0 + g.a, idx + o0 + g.a, pos, g.b - g.a, g):
            lo, hi = g.a, g.b
    if hi == lo and g.b > g.a:
        # interior windows share their taps' rows: one vectorised pass per tap,
        # in row-major window order, the output row as the running max
        t = True
        for jd in range(d0, d1):
            id_ = std + jd * g.dd
            for jh in range(h0, h1):
                pos = ((id_ * H + sth + jh * g.dh) * W + g.a * g.sw - g.pw)
                for jw in range(g.kw):
                    q = pos + jw * g.dw
                    _idxtap(xp + q, out + o0 + g.a, idx + o0 + g.a, g.b - g.a, q, g.sw, t)
                    t = False
        lo, hi = g.a, g.b
    for ow in range(g.OW):
        if lo <= ow < hi:
            continue
        if g.a <= ow < g.b:
            stw = ow * g.sw - g.pw
            w0 = 0
            w1 = g.kw
        else:
            _taps(ow, g.sw, g.dw, g.pw, g.kw, W, &stw, &w0, &w1)
        best = ((std + d0 * g.dd) * H + sth + h0 * g.dh) * W + stw + w0 * g.dw
        m = xp[best]
        for jd in range(d0, d1):
            id_ = std + jd * g.dd
            for jh in range(h0, h1):
                ih = sth + jh * g.dh
                pos = (id_ * H + ih) * W + stw
                for jw in range(w0, w1):
                    # selects, not a branch: random data mispredicts every other tap
                    q = pos + jw * g.dw
                    v = xp[q]
                    t = _gt(v, m)
                    m = v if t else m
                    best = q if t else best
        out[o0 + ow] = m
        idx[o0 + ow] = best


def max_pool_indices(const anyt[:, :, :, ::1] x, anyt[:, :, :, ::1] out,
                     int64_t[:, :, :, ::1] idx, kernel, stride, dilation, padb,
                     int nthreads):
    """Max pooling with the flat in-plane index of each maximum into ``idx``."""
    cdef Geo g = _geo(x.shape, out.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, job
    if njobs == 0 or g.OW == 0:
        return out
    cdef const anyt* xp = &x[0, 0, 0, 0]
    cdef anyt* op = &out[0, 0, 0, 0]
    cdef int64_t* ip = &idx[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _maxidx_row(xp, op, ip, job, &g)
        else:
            for job in range(njobs):
                _maxidx_row(xp, op, ip, job, &g)
    return out


# ---------------------------------------------------------------------------
# max pooling backward, argmax recomputed
# ---------------------------------------------------------------------------
# 1-D/2-D windows (kd == 1), x and gradient of one float type: each (H, W) input
# slice is produced row by row in a ring of (kh - 1) * dh + 1 row buffers (L1):
# an output row's window argmaxes are recomputed and its gradients added into
# the ring, and every input row no later window touches is complete and goes
# to the output through a streaming writer -- each gradient element is written
# to memory exactly once, with no zeroing pass and (stream on) no
# write-allocate.  Work unit: whole slices, contiguous per thread; the
# accumulation order inside a slice is fixed, so results do not depend on the
# thread count.
DEF PREFETCH_ROWS = 4


cdef inline Py_ssize_t _ring_mask(const Geo* g) noexcept nogil:
    """Ring slots - 1: a power of two >= the rows one window spans (no division)."""
    cdef Py_ssize_t n = 1, rows = (g.kh - 1) * g.dh + 1
    while n < rows:
        n = 2 * n
    return n - 1


cdef inline void _maxbw_win(const real* xs, real* ring, Py_ssize_t R, const Geo* g,
                            Py_ssize_t sth, Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t ow,
                            real gv) noexcept nogil:
    """Add ``gv`` at the first maximum (last NaN) of window ``ow`` of an output row
    (input row ``r`` lives in ring slot ``r & R``)."""
    cdef Py_ssize_t W = g.W, stw, w0, w1, jh, jw, r, c, br, bc
    cdef const real* row
    cdef real m, v
    cdef bint t
    _taps(ow, g.sw, g.dw, g.pw, g.kw, W, &stw, &w0, &w1)
    br = sth + h0 * g.dh
    bc = stw + w0 * g.dw
    m = xs[br * W + bc]
    for jh in range(h0, h1):
        r = sth + jh * g.dh
        row = xs + r * W
        for jw in range(w0, w1):
            c = stw + jw * g.dw
            v = row[c]
            t = _gt(v, m)  # selects, not branches: window values are unpredictable
            m = v if t else m
            br = r if t else br
            bc = c if t else bc
    ring[(br & R) * W + bc] += gv


cdef void _maxbw_slice(const real* go, const real* xs, real* ring, int* ks, int* nan,
                       const unsigned short* masks, const Geo* g,
                       fc_stream* ws) noexcept nogil:
    """Gradient of one (H, W) input slice into the stream; ``go``: the (OH, OW)
    gradient rows of the output slice whose windows cover it, NULL if none does.
    ``ks``: OW ints of scratch; ``nan``: one flag per ring slot; ``masks``: from
    ``fc_masks33`` (3x3 stride 2 vector path)."""
    cdef Py_ssize_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, a = g.a, b = g.b, pw = g.pw
    cdef Py_ssize_t R = _ring_mask(g)
    cdef Py_ssize_t oh, ow, sth, h0, h1, top, f = 0, z = 0, ns, c = 2 * a - pw, t, r, col
    cdef size_t rowb = W * sizeof(real)
    cdef const real* grow
    cdef const real* x0
    cdef real* b0
    cdef real* b1
    cdef real* tap[9]
    cdef const float* xr[3]
    cdef float* acc[3]
    cdef unsigned short* bad = masks + 4 * ((OW + 15) // 16)
    cdef bint clean
    cdef bint v22 = (g.kh == 2 and g.kw == 2 and g.sh == 2 and g.sw == 2 and g.dh == 1
                     and g.dw == 1 and b > a)
    cdef bint s33 = (g.kh == 3 and g.kw == 3 and g.sh == 2 and g.sw == 2 and g.dh == 1
                     and g.dw == 1)
    # every window of a row at once (AVX-512, float32): padding reads as -inf
    cdef bint w33 = s33 and real is float and fc_vec33
    cdef bint v33 = s33 and b > a and not w33
    if go == NULL:
        fc_stream_zero(ws, H * rowb)
        return
    for oh in range(OH):
        _taps(oh, g.sh, g.dh, g.ph, g.kh, H, &sth, &h0, &h1)
        top = sth + (h1 - 1) * g.dh + 1
        while z < top:  # rows entering the ring start at zero
            memset(ring + (z & R) * W, 0, rowb)
            fc_prefetch(xs + (z + PREFETCH_ROWS) * W, rowb)  # may run past the slice: a hint
            if real is float:
                if w33:  # the vector path needs NaN-free rows
                    nan[z & R] = fc_hasnan_float(xs + z * W, W)
            z = z + 1
        grow = go + oh * OW
        clean = True
        if w33:
            for t in range(h0, h1):
                if nan[(sth + t) & R]:
                    clean = False
        if w33 and clean:
            for t in range(3):
                xr[t] = <const float*>(xs + (sth + t) * W) if h0 <= t < h1 else NULL
                acc[t] = <float*>(ring + ((sth + t) & R) * W) if h0 <= t < h1 else NULL
            fc_maxbw33w_float(xr, <const float*>grow, acc, OW, pw, W, masks, bad)
            # windows whose maximum is -inf (maybe a padded position) exactly
            for t in range((OW + 15) // 16):
                if bad[t]:
                    for ow in range(16 * t, min(16 * t + 16, OW)):
                        if bad[t] >> (ow - 16 * t) & 1:
                            _maxbw_win(xs, ring, R, g, sth, h0, h1, ow, grow[ow])
        elif (v22 or v33) and h1 - h0 == g.kh:
            x0 = xs + sth * W + c
            if v22:  # disjoint windows: the interior assigns its 4 values
                b0 = ring + (sth & R) * W + c
                b1 = ring + ((sth + 1) & R) * W + c
                if real is float:
                    fc_maxbw22v_float(x0, x0 + W, grow + a, b0, b1, b - a)
                else:
                    fc_maxbw22v_double(x0, x0 + W, grow + a, b0, b1, b - a)
            else:  # argmax taps of the interior, then their gradients in order
                for t in range(9):
                    tap[t] = ring + ((sth + t // 3) & R) * W + c + t % 3
                if real is float:
                    fc_argmax33_c_float(x0, x0 + W, x0 + 2 * W, ks, b - a)
                    fc_scatter33_float(ks, grow + a, tap, b - a)
                else:
                    fc_argmax33_c_double(x0, x0 + W, x0 + 2 * W, ks, b - a)
                    fc_scatter33_double(ks, grow + a, tap, b - a)
            for ow in range(a):
                _maxbw_win(xs, ring, R, g, sth, h0, h1, ow, grow[ow])
            for ow in range(b, OW):
                _maxbw_win(xs, ring, R, g, sth, h0, h1, ow, grow[ow])
        else:
            for ow in range(OW):
                _maxbw_win(xs, ring, R, g, sth, h0, h1, ow, grow[ow])
        # rows before the next window's first row are complete
        ns = (oh + 1) * g.sh - g.ph if oh + 1 < OH else H
        if ns > H:
            ns = H
        while f < ns:
            if f < z:
                fc_stream_put(ws, ring + (f & R) * W, rowb)
            else:  # a row no window covers
                fc_stream_zero(ws, rowb)
            f = f + 1
        if z < f:
            z = f


cdef void _maxbw_part(const real* gr, const real* x, real* gx, Py_ssize_t u0, Py_ssize_t u1,
                      const Geo* g, bint nt) noexcept nogil:
    """Slices ``[u0, u1)`` (slice ``u`` = plane ``u // D``, depth ``u % D``)."""
    cdef Py_ssize_t S = g.H * g.W, u, p, id_, t, od
    cdef Py_ssize_t R = _ring_mask(g) + 1
    cdef fc_stream ws
    cdef const real* go
    if u1 <= u0:
        return
    # ring rows, argmax taps, NaN flags; 128 bytes of slack: no false sharing
    cdef char* raw = <char*>malloc((R * g.W + 16) * sizeof(real) + (g.OW + R + 16) * sizeof(int)
                                   + 256)
    cdef real* ring = <real*>_aligned(raw + 64)
    cdef int* ks = <int*>(ring + R * g.W + 16)
    cdef int* nan = ks + g.OW + 8
    cdef Py_ssize_t nblk = (g.OW + 15) // 16
    cdef unsigned short* masks = <unsigned short*>malloc(5 * nblk * sizeof(unsigned short) + 8)
    fc_masks33(masks, g.OW, g.W, g.pw)
    fc_stream_begin(&ws, gx + u0 * S, nt)
    for u in range(u0, u1):
        p = u // g.D
        id_ = u % g.D
        t = id_ + g.pd  # kd == 1: depth slice id_ is read by output slice t / sd only
        od = t // g.sd
        go = NULL
        if t % g.sd == 0 and od < g.OD:
            go = gr + (p * g.OD + od) * g.OH * g.OW
        _maxbw_slice(go, x + u * S, ring, ks, nan, masks, g, &ws)
    fc_stream_end(&ws)
    free(masks)
    free(raw)


# Other cases (3-D windows, integer inputs, mixed float types): one plane per
# work unit, zeroed, then each window's gradient added at its argmax.
cdef void _maxbw_plane(const real* gr, const anyt* x, real* gx, Py_ssize_t p,
                       const Geo* g) noexcept nogil:
    cdef Py_ssize_t H = g.H, W = g.W, plane = g.D * g.H * g.W
    cdef Py_ssize_t std, d0, d1, sth, h0, h1, stw, w0, w1, jd, jh, jw, od, oh, ow
    cdef Py_ssize_t id_, ih, pos, best, i
    cdef bint t
    cdef const anyt* xp = x + p * plane
    cdef real* gp = gx + p * plane
    cdef const real* go = gr + p * g.OD * g.OH * g.OW
    cdef anyt m, v
    for i in range(plane):
        gp[i] = 0
    cdef bint fast33 = (g.kd == 1 and g.kh == 3 and g.kw == 3 and g.sh == 2 and g.sw == 2
                        and g.dh == 1 and g.dw == 1 and g.b > g.a)
    cdef int* ks = NULL
    cdef char* ksraw = NULL
    cdef Py_ssize_t c0, rk
    if fast33 and (anyt is float or anyt is double):
        # >= 128 bytes of slack on both sides: no false sharing with another
        # thread's buffer from the same malloc arena
        ksraw = <char*>malloc(g.OW * sizeof(int) + 256)
        ks = <int*>_aligned(ksraw + 64)
    for od in range(g.OD):
        _taps(od, g.sd, g.dd, g.pd, g.kd, g.D, &std, &d0, &d1)
        for oh in range(g.OH):
            _taps(oh, g.sh, g.dh, g.ph, g.kh, H, &sth, &h0, &h1)
            if ks != NULL and h1 - h0 == 3 and d1 - d0 == 1:
                # interior of a 3x3 stride-2 row: vectorised argmax, then scatter
                pos = ((std + d0 * g.dd) * H + sth) * W
                c0 = 2 * g.a - g.pw
                if anyt is float:
                    fc_argmax33_c_float(xp + pos + c0, xp + pos + W + c0,
                                        xp + pos + 2 * W + c0, ks, g.b - g.a)
                elif anyt is double:
                    fc_argmax33_c_double(xp + pos + c0, xp + pos + W + c0,
                                         xp + pos + 2 * W + c0, ks, g.b - g.a)
                for ow in range(g.a, g.b):
                    rk = ks[ow - g.a]
                    gp[pos + (rk // 3) * W + c0 + 2 * (ow - g.a) + rk % 3] += go[
                        (od * g.OH + oh) * g.OW + ow]
            for ow in range(g.OW):
                if ks != NULL and h1 - h0 == 3 and d1 - d0 == 1 and g.a <= ow < g.b:
                    continue
                if g.a <= ow < g.b:
                    stw = ow * g.sw - g.pw
                    w0 = 0
                    w1 = g.kw
                else:
                    _taps(ow, g.sw, g.dw, g.pw, g.kw, W, &stw, &w0, &w1)
                best = ((std + d0 * g.dd) * H + sth + h0 * g.dh) * W + stw + w0 * g.dw
                m = xp[best]
                for jd in range(d0, d1):
                    id_ = std + jd * g.dd
                    for jh in range(h0, h1):
                        ih = sth + jh * g.dh
                        pos = (id_ * H + ih) * W + stw
                        for jw in range(w0, w1):
                            v = xp[pos + jw * g.dw]
                            t = _gt(v, m)
                            m = v if t else m
                            best = pos + jw * g.dw if t else best
                gp[best] += go[(od * g.OH + oh) * g.OW + ow]
    free(ksraw)


def max_pool_backward(const real[:, :, :, ::1] grad, const anyt[:, :, :, ::1] x,
                      real[:, :, :, ::1] gx, kernel, stride, dilation, padb, int nthreads,
                      bint stream=False):
    """Input gradient of max pooling (argmax recomputed) into ``gx (P, D, H, W)``;
    ``stream``: write ``gx`` with non-temporal stores (large outputs)."""
    cdef Geo g = _geo(x.shape, grad.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t P = x.shape[0], p, t, U = P * g.D
    if gx.size == 0:
        return gx
    cdef const real* gp = &grad[0, 0, 0, 0]
    cdef const anyt* xp = &x[0, 0, 0, 0]
    cdef real* gxp = &gx[0, 0, 0, 0]
    if g.kd == 1 and ((real is float and anyt is float) or (real is double and anyt is double)):
        with nogil:
            if nthreads > 1:
                for t in prange(nthreads, schedule="static", num_threads=nthreads):
                    _maxbw_part(gp, <const real*>xp, gxp, U * t // nthreads,
                                U * (t + 1) // nthreads, &g, stream)
            else:
                _maxbw_part(gp, <const real*>xp, gxp, 0, U, &g, stream)
        return gx
    with nogil:
        if nthreads > 1:
            for p in prange(P, schedule="static", num_threads=nthreads):
                _maxbw_plane(gp, xp, gxp, p, &g)
        else:
            for p in range(P):
                _maxbw_plane(gp, xp, gxp, p, &g)
    return gx


# ---------------------------------------------------------------------------
# scatter by indices (max pooling backward with indices, max_unpool)
# ---------------------------------------------------------------------------
cdef Py_ssize_t _scatter_plane(const anyt* s, const int64_t* ix, anyt* d, Py_ssize_t M,
                               Py_ssize_t S, bint accumulate, const int64_t* band,
                               Py_ssize_t R) noexcept nogil:
    """``d[:S] = 0``, then ``d[ix[i]] (+)= s[i]`` in order; returns the number of
    out-of-range indices (skipped).

    ``R == 0`` (no band): one row whose band is the whole plane, i.e. the plane is
    zeroed first (memset: whole lines written without being read).  ``R > 0`` (max
    pooling's backward, which knows its windows): the indices are ``R`` rows of
    ``M // R`` (one per output row) and the zeroing runs just ahead of the scatter:
    before row ``r`` the plane is zeroed up to ``band[r]``, the end of the input that
    row's windows reach, so each line is zeroed and scattered into while it is in L1
    rather than written twice through the caches (25.7 MB of gradient, 2 threads:
    0.86 ms against 1.01-1.04 ms).  An index past the zeroed part (the forward never
    gives one) zeroes the rest of the plane first, so the result is the same for any
    indices.  (Scattering into a cached buffer and streaming it
    out, or zeroing the next plane in slices between slices of the scatter, were
    measured no faster.)"""
    cdef Py_ssize_t i, r, e, j, z = 0, L, bad = 0
    cdef int64_t whole = S
    if R == 0:
        band = &whole
        R = 1
    L = M // R
    for r in range(R):
        if band[r] > z:
            memset(d + z, 0, (band[r] - z) * sizeof(anyt))
            z = band[r]
        e = r * L + L
        for i in range(r * L, e):
            j = ix[i]
            if <size_t>j >= <size_t>z:
                if j < 0 or j >= S:
                    bad = bad + 1
                    continue
                memset(d + z, 0, (S - z) * sizeof(anyt))
                z = S
            if accumulate:
                d[j] += s[i]
            else:
                d[j] = s[i]
    if z < S:
        memset(d + z, 0, (S - z) * sizeof(anyt))
    return bad


cdef Py_ssize_t _scatter_part(const anyt* src, const int64_t* idx, anyt* dst, Py_ssize_t p0,
                              Py_ssize_t p1, Py_ssize_t M, Py_ssize_t S, bint accumulate,
                              const int64_t* band, Py_ssize_t R) noexcept nogil:
    cdef Py_ssize_t p, bad = 0
    for p in range(p0, p1):
        bad += _scatter_plane(src + p * M, idx + p * M, dst + p * S, M, S, accumulate, band,
                              R)
    return bad


def scatter(const anyt[:, ::1] src, const int64_t[:, ::1] idx, anyt[:, ::1] dst,
            bint accumulate, int nthreads, const int64_t[::1] band=None):
    """Per plane ``p``: ``dst[p] = 0``, then ``dst[p, idx[p, i]] (+)= src[p, i]`` in order.

    ``band`` (optional, one entry per row of indices, non-decreasing, at most
    ``dst.shape[1]``): how far into the plane each row's indices normally reach;
    the zeroing then keeps just ahead of the scatter (see ``_scatter_plane``).
    Returns the number of indices outside ``[0, dst.shape[1])`` (those are skipped).
    """
    cdef Py_ssize_t P = dst.shape[0], S = dst.shape[1], M = src.shape[1], t, bad = 0
    cdef Py_ssize_t R = 0
    cdef const int64_t* bp = NULL
    if dst.size == 0:
        return 0
    if M == 0:
        dst[:, :] = 0
        return 0
    if band is not None and band.shape[0] > 0:
        R = band.shape[0]
        if M % R:
            raise ValueError(f"band: {R} rows do not divide {M} indices per plane")
        for t in range(R):
            if band[t] < 0 or band[t] > S or (t and band[t] < band[t - 1]):
                raise ValueError(f"band must be non-decreasing within [0, {S}]")
        bp = &band[0]
    cdef const anyt* sp = &src[0, 0]
    cdef const int64_t* ip = &idx[0, 0]
    cdef anyt* dp = &dst[0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                bad += _scatter_part(sp, ip, dp, P * t // nthreads, P * (t + 1) // nthreads, M,
                                     S, accumulate, bp, R)
        else:
            bad = _scatter_part(sp, ip, dp, 0, P, M, S, accumulate, bp, R)
    return bad


# ---------------------------------------------------------------------------
# weighted sum pooling: average, sum, Lp, Gaussian
# ---------------------------------------------------------------------------
cdef inline real _powabs(real v, double p) noexcept nogil:
    if p == 0.0:
        return v
    if p == 1.0:
        return fabs(v)
    if p == 2.0:
        return v * v
    return <real>pow(fabs(v), p)


cdef inline bint _unit_rows(const real* wd, const real* wh, Py_ssize_t d0, Py_ssize_t d1,
                            Py_ssize_t h0, Py_ssize_t h1) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(d0, d1):
        if wd[i] != 1:
            return False
    for i in range(h0, h1):
        if wh[i] != 1:
            return False
    return True


cdef inline void _sum_fused(real* orow, const real* q0, const real* q1, const real* q2,
                            Py_ssize_t nrow, Py_ssize_t kw, Py_ssize_t a, Py_ssize_t b,
                            Py_ssize_t pw, real sc, const real* scw) noexcept nogil:
    """Interior of a stride-2 row, 2 or 3 taps per axis, 2 or 3 rows, unit weights."""
    cdef Py_ssize_t j, n = b - a, c = 2 * a - pw
    cdef const real* r0 = q0 + c
    cdef const real* r1 = q1 + c
    cdef const real* r2 = q2 + c
    cdef const real* s = scw + a
    cdef real* o = orow + a
    if nrow == 2 and kw == 2:
        for j in range(n):
            o[j] = ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1])) * (sc * s[j])
    elif nrow == 2:
        for j in range(n):
            o[j] = ((r0[2 * j] + r0[2 * j + 1] + r0[2 * j + 2])
                    + (r1[2 * j] + r1[2 * j + 1] + r1[2 * j + 2])) * (sc * s[j])
    elif kw == 2:
        for j in range(n):
            o[j] = ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1])
                    + (r2[2 * j] + r2[2 * j + 1])) * (sc * s[j])
    else:
        for j in range(n):
            o[j] = ((r0[2 * j] + r0[2 * j + 1] + r0[2 * j + 2])
                    + (r1[2 * j] + r1[2 * j + 1] + r1[2 * j + 2])
                    + (r2[2 * j] + r2[2 * j + 1] + r2[2 * j + 2])) * (sc * s[j])


cdef void _sum_row(const real* x, real* orow, real* buf, Py_ssize_t job, const Geo* g,
                   const real* wd, const real* wh, const real* ww, const real* scd,
                   const real* sch, const real* scw, double p, bint unit_w) noexcept nogil:
    cdef Py_ssize_t W = g.W, OW = g.OW, sw = g.sw, dw = g.dw, kw = g.kw, pw = g.pw
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t pl = r // g.OD
    cdef Py_ssize_t std, d0, d1, sth, h0, h1, stw, w0, w1, jd, jh, jw, w, ow, i, nrow, e, lo, hi
    cdef const real* row
    cdef const real* src
    cdef const real* xp = x + pl * g.D * g.H * W
    cdef real c, acc, sc
    cdef double q
    cdef const real* rp[3]
    _taps(od, g.sd, g.dd, g.pd, g.kd, g.D, &std, &d0, &d1)
    _taps(oh, g.sh, g.dh, g.ph, g.kh, g.H, &sth, &h0, &h1)
    nrow = (d1 - d0) * (h1 - h0)
    src = buf
    sc = scd[od] * sch[oh]
    if (nrow == 2 or nrow == 3) and unit_w and p == 0.0 and sw == 2 and dw == 1 and (
            kw == 2 or kw == 3) and _unit_rows(wd, wh, d0, d1, h0, h1):
        nrow = 0
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                rp[nrow] = xp + ((std + jd * g.dd) * g.H + sth + jh * g.dh) * W
                nrow = nrow + 1
        _sum_fused(orow, rp[0], rp[1], rp[nrow - 1], nrow, kw, g.a, g.b, pw, sc, scw)
        for e in range(2):
            for ow in range(0 if e == 0 else g.b, g.a if e == 0 else OW):
                _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
                acc = 0
                for i in range(nrow):
                    for jw in range(w0, w1):
                        acc = acc + rp[i][stw + jw]
                orow[ow] = acc * (sc * scw[ow])
        return
    if nrow == 1 and p == 0.0 and wd[d0] * wh[h0] == 1:
        src = xp + ((std + d0 * g.dd) * g.H + sth + h0 * g.dh) * W
    else:
        nrow = 0
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                row = xp + ((std + jd * g.dd) * g.H + sth + jh * g.dh) * W
                c = wd[jd] * wh[jh]
                if p == 0.0 and c == 1:
                    if nrow == 0:
                        for w in range(W):
                            buf[w] = row[w]
                    else:
                        for w in range(W):
                            buf[w] += row[w]
                elif p == 0.0:
                    if nrow == 0:
                        for w in range(W):
                            buf[w] = c * row[w]
                    else:
                        for w in range(W):
                            buf[w] += c * row[w]
                elif p == 2.0:
                    if nrow == 0:
                        for w in range(W):
                            buf[w] = c * (row[w] * row[w])
                    else:
                        for w in range(W):
                            buf[w] += c * (row[w] * row[w])
                else:
                    if nrow == 0:
                        for w in range(W):
                            buf[w] = c * _powabs(row[w], p)
                    else:
                        for w in range(W):
                            buf[w] += c * _powabs(row[w], p)
                nrow = nrow + 1
    if unit_w:
        if kw == 2 and dw == 1 and sw == 2:
            for ow in range(g.a, g.b):
                i = 2 * ow - pw
                orow[ow] = (src[i] + src[i + 1]) * (sc * scw[ow])
        elif kw == 3 and dw == 1 and sw == 2:
            for ow in range(g.a, g.b):
                i = 2 * ow - pw
                orow[ow] = (src[i] + src[i + 1] + src[i + 2]) * (sc * scw[ow])
        elif kw == 2 and dw == 1 and sw == 1:
            for ow in range(g.a, g.b):
                i = ow - pw
                orow[ow] = (src[i] + src[i + 1]) * (sc * scw[ow])
        elif kw == 3 and dw == 1 and sw == 1:
            for ow in range(g.a, g.b):
                i = ow - pw
                orow[ow] = (src[i] + src[i + 1] + src[i + 2]) * (sc * scw[ow])
        else:
            for ow in range(g.a, g.b):
                i = ow * sw - pw
                acc = src[i]
                for jw in range(1, kw):
                    acc = acc + src[i + jw * dw]
                orow[ow] = acc * (sc * scw[ow])
    for e in range(2):
        if unit_w:
            lo = 0 if e == 0 else g.b
            hi = g.a if e == 0 else OW
        else:
            lo = 0
            hi = OW if e == 0 else 0
        for ow in range(lo, hi):
            _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
            acc = ww[w0] * src[stw + w0 * dw]
            for jw in range(w0 + 1, w1):
                acc = acc + ww[jw] * src[stw + jw * dw]
            orow[ow] = acc * (sc * scw[ow])
    if p != 0.0:
        if p == 2.0:
            for ow in range(OW):
                orow[ow] = sqrt(orow[ow])
        elif p != 1.0:
            q = 1.0 / p
            for ow in range(OW):
                orow[ow] = <real>pow(orow[ow], q)


cdef struct SumArgs:
    const void* wd
    const void* wh
    const void* ww
    const void* sd
    const void* sh
    const void* sw
    double p
    bint unit_w


cdef void _sum_part(const real* xp, real* op, Py_ssize_t j0, Py_ssize_t j1, const Geo* g,
                    const SumArgs* s) noexcept nogil:
    """Output rows ``[j0, j1)`` with one row buffer."""
    cdef Py_ssize_t job
    if j1 <= j0:
        return
    cdef char* raw = <char*>malloc((g.W + 64) * sizeof(real) + 256)
    cdef real* buf = (<real*>_aligned(raw + 64)) + _shift(g, sizeof(real))
    for job in range(j0, j1):
        _sum_row(xp, op + job * g.OW, buf, job, g, <const real*>s.wd, <const real*>s.wh,
                 <const real*>s.ww, <const real*>s.sd, <const real*>s.sh, <const real*>s.sw,
                 s.p, s.unit_w)
    free(raw)


def sum_pool(const real[:, :, :, ::1] x, real[:, :, :, ::1] out, kernel, stride, dilation,
             padb, const real[::1] wd, const real[::1] wh, const real[::1] ww,
             const real[::1] sd, const real[::1] sh, const real[::1] sw, double p,
             int nthreads):
    """Weighted window sums ``scale * sum_taps w * f(x)`` (``f = |.|**p``, then ``**(1/p)``,
    when ``p > 0``); see ``numba/pool.py``.  Threads as in ``max_pool``."""
    cdef Geo g = _geo(x.shape, out.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, t, j
    if njobs == 0 or g.OW == 0:
        return out
    cdef SumArgs sa
    sa.unit_w = True
    for j in range(g.kw):
        if ww[j] != 1:
            sa.unit_w = False
    sa.wd, sa.wh, sa.ww = &wd[0], &wh[0], &ww[0]
    sa.sd, sa.sh, sa.sw = &sd[0], &sh[0], &sw[0]
    sa.p = p
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef real* op = &out[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                _sum_part(xp, op, njobs * t // nthreads, njobs * (t + 1) // nthreads, &g, &sa)
        else:
            _sum_part(xp, op, 0, njobs, &g, &sa)
    return out


# ---------------------------------------------------------------------------
# average / sum pooling of small integers: read as they are, summed in float32
# ---------------------------------------------------------------------------
ctypedef fused smallint:
    unsigned char
    signed char
    unsigned short
    short


cdef void _isum_row(const smallint* x, double* orow, float* buf, Py_ssize_t job,
                    const Geo* g, const double* scd, const double* sch,
                    const double* scw) noexcept nogil:
    """One output row of unit-weight window sums times ``(s_d s_h) s_w`` (the float64
    kernel's order, so the same bits): the window's input rows are summed into
    ``buf`` as float32, exact while every |sum| <= 2^24 (the caller's promise)."""
    cdef Py_ssize_t W = g.W, OW = g.OW, sw = g.sw, dw = g.dw, kw = g.kw, pw = g.pw
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t pl = r // g.OD
    cdef Py_ssize_t std, d0, d1, sth, h0, h1, stw, w0, w1, jd, jh, jw, w, ow, i, e, lo, hi
    cdef Py_ssize_t nrow = 0
    cdef const smallint* xp = x + pl * g.D * g.H * W
    cdef const smallint* row
    cdef float acc
    cdef double sc
    _taps(od, g.sd, g.dd, g.pd, g.kd, g.D, &std, &d0, &d1)
    _taps(oh, g.sh, g.dh, g.ph, g.kh, g.H, &sth, &h0, &h1)
    for jd in range(d0, d1):
        for jh in range(h0, h1):
            row = xp + ((std + jd * g.dd) * g.H + sth + jh * g.dh) * W
            if nrow == 0:
                for w in range(W):
                    buf[w] = <float>row[w]
            else:
                for w in range(W):
                    buf[w] += <float>row[w]
            nrow = nrow + 1
    if nrow == 0:
        for w in range(W):
            buf[w] = 0
    sc = scd[od] * sch[oh]
    if kw == 2 and dw == 1 and sw == 2:
        for ow in range(g.a, g.b):
            i = 2 * ow - pw
            orow[ow] = <double>(buf[i] + buf[i + 1]) * (sc * scw[ow])
    elif kw == 3 and dw == 1 and sw == 2:
        for ow in range(g.a, g.b):
            i = 2 * ow - pw
            orow[ow] = <double>(buf[i] + buf[i + 1] + buf[i + 2]) * (sc * scw[ow])
    else:
        for ow in range(g.a, g.b):
            i = ow * sw - pw
            acc = buf[i]
            for jw in range(1, kw):
                acc = acc + buf[i + jw * dw]
            orow[ow] = <double>acc * (sc * scw[ow])
    for e in range(2):
        lo = 0 if e == 0 else g.b
        hi = g.a if e == 0 else OW
        for ow in range(lo, hi):
            _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
            acc = 0
            for jw in range(w0, w1):
                acc = acc + buf[stw + jw * dw]
            orow[ow] = <double>acc * (sc * scw[ow])


cdef void _isum_part(const smallint* xp, double* op, Py_ssize_t j0, Py_ssize_t j1,
                     const Geo* g, const double* sd, const double* sh,
                     const double* sw) noexcept nogil:
    cdef Py_ssize_t job
    if j1 <= j0:
        return
    cdef char* raw = <char*>malloc((g.W + 16) * sizeof(float) + 128)
    cdef float* buf = <float*>_aligned(raw + 64)
    for job in range(j0, j1):
        _isum_row(xp, op + job * g.OW, buf, job, g, sd, sh, sw)
    free(raw)


def sum_pool_int(const smallint[:, :, :, ::1] x, double[:, :, :, ::1] out, kernel, stride,
                 dilation, padb, const double[::1] sd, const double[::1] sh,
                 const double[::1] sw, int nthreads):
    """Unit-weight window sums of 8/16-bit integers times the per-axis output scales
    ``sd, sh, sw``, in float64, without a float copy of ``x``: each output row's
    input rows are summed in float32 (exact: the caller checks that no window sum
    exceeds 2^24 in magnitude).  Threads as in ``max_pool``."""
    cdef Geo g = _geo(x.shape, out.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, t
    if njobs == 0 or g.OW == 0:
        return out
    cdef const smallint* xp = &x[0, 0, 0, 0]
    cdef double* op = &out[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                _isum_part(xp, op, njobs * t // nthreads, njobs * (t + 1) // nthreads, &g,
                           &sd[0], &sh[0], &sw[0])
        else:
            _isum_part(xp, op, 0, njobs, &g, &sd[0], &sh[0], &sw[0])
    return out


cdef void _sumbw_row(const real* gr, real* gx, real* cw, Py_ssize_t job, const Geo* g,
                     const real* wd, const real* wh, const real* ww, const real* scd,
                     const real* sch, const real* scw) noexcept nogil:
    cdef Py_ssize_t W = g.W, OW = g.OW, sw = g.sw, dw = g.dw, kw = g.kw, pw = g.pw
    cdef Py_ssize_t ih = job % g.H
    cdef Py_ssize_t r = job // g.H
    cdef Py_ssize_t id_ = r % g.D
    cdef Py_ssize_t pl = r // g.D
    cdef Py_ssize_t jd, jh, jw, t, u, od, oh, ow, w, stw, w0, w1, i, e
    cdef real* grow_x = gx + ((pl * g.D + id_) * g.H + ih) * W
    cdef const real* go
    cdef real c, v
    for w in range(W):
        grow_x[w] = 0
    for jd in range(g.kd):
        t = id_ + g.pd - jd * g.dd
        if t < 0 or t % g.sd != 0:
            continue
        od = t // g.sd
        if od >= g.OD:
            continue
        for jh in range(g.kh):
            u = ih + g.ph - jh * g.dh
            if u < 0 or u % g.sh != 0:
                continue
            oh = u // g.sh
            if oh >= g.OH:
                continue
            c = wd[jd] * wh[jh] * scd[od] * sch[oh]
            go = gr + ((pl * g.OD + od) * g.OH + oh) * OW
            for ow in range(OW):
                cw[ow] = c * (go[ow] * scw[ow])
            if kw == 2 and dw == 1 and sw == 2 and ww[0] == 1 and ww[1] == 1:
                for ow in range(g.a, g.b):
                    i = 2 * ow - pw
                    grow_x[i] += cw[ow]
                    grow_x[i + 1] += cw[ow]
            elif g.a < g.b:
                for ow in range(g.a, g.b):
                    i = ow * sw - pw
                    v = cw[ow]
                    for jw in range(kw):
                        grow_x[i + jw * dw] += ww[jw] * v
            for e in range(2):
                for ow in range(0 if e == 0 else g.b, g.a if e == 0 else OW):
                    _taps(ow, sw, dw, pw, kw, W, &stw, &w0, &w1)
                    v = cw[ow]
                    for jw in range(w0, w1):
                        grow_x[stw + jw * dw] += ww[jw] * v


def sum_pool_backward(const real[:, :, :, ::1] grad, real[:, :, :, ::1] gx, kernel, stride,
                      dilation, padb, const real[::1] wd, const real[::1] wh,
                      const real[::1] ww, const real[::1] sd, const real[::1] sh,
                      const real[::1] sw, int nthreads):
    """Transpose of ``sum_pool`` (``p == 0``): one input row per work unit."""
    cdef Geo g = _geo(gx.shape, grad.shape, kernel, stride, dilation, padb)
    cdef Py_ssize_t njobs = gx.shape[0] * g.D * g.H, job
    if gx.size == 0:
        return gx
    cdef const real* gp = &grad[0, 0, 0, 0]
    cdef real* gxp = &gx[0, 0, 0, 0]
    cdef real* cw
    cdef char* raw
    with nogil:
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                raw = <char*>malloc(g.OW * sizeof(real) + 256)  # slack: no false sharing
                cw = <real*>_aligned(raw + 64)
                for job in prange(njobs, schedule="static"):
                    _sumbw_row(gp, gxp, cw, job, &g, &wd[0], &wh[0], &ww[0], &sd[0],
                               &sh[0], &sw[0])
                free(raw)
        else:
            raw = <char*>malloc(g.OW * sizeof(real) + 256)
            cw = <real*>_aligned(raw + 64)
            for job in range(njobs):
                _sumbw_row(gp, gxp, cw, job, &g, &wd[0], &wh[0], &ww[0], &sd[0], &sh[0],
                           &sw[0])
            free(raw)
    return gx


# ---------------------------------------------------------------------------
# adaptive pooling (window o of an axis: [lo[o], hi[o]))
# ---------------------------------------------------------------------------
cdef struct Win:
    const int64_t* dlo
    const int64_t* dhi
    const int64_t* hlo
    const int64_t* hhi
    const int64_t* wlo
    const int64_t* whi


cdef void _adavg_row(const real* x, real* out, real* buf, Py_ssize_t job, const Geo* g,
                     const Win* wn) noexcept nogil:
    cdef Py_ssize_t W = g.W
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t pl = r // g.OD
    cdef Py_ssize_t id_, ih, w, ow, cnt
    cdef const real* row
    cdef real* orow = out + ((pl * g.OD + od) * g.OH + oh) * g.OW
    cdef real acc
    cdef bint first = True
    for id_ in range(wn.dlo[od], wn.dhi[od]):
        for ih in range(wn.hlo[oh], wn.hhi[oh]):
            row = x + ((pl * g.D + id_) * g.H + ih) * W
            if first:
                for w in range(W):
                    buf[w] = row[w]
                first = False
            else:
                for w in range(W):
                    buf[w] += row[w]
    cnt = (wn.dhi[od] - wn.dlo[od]) * (wn.hhi[oh] - wn.hlo[oh])
    for ow in range(g.OW):
        acc = buf[wn.wlo[ow]]
        for w in range(wn.wlo[ow] + 1, wn.whi[ow]):
            acc = acc + buf[w]
        orow[ow] = acc / <real>(cnt * (wn.whi[ow] - wn.wlo[ow]))


cdef Win _win(const int64_t[::1] dlo, const int64_t[::1] dhi, const int64_t[::1] hlo,
              const int64_t[::1] hhi, const int64_t[::1] wlo, const int64_t[::1] whi):
    cdef Win wn
    wn.dlo, wn.dhi, wn.hlo, wn.hhi = &dlo[0], &dhi[0], &hlo[0], &hhi[0]
    wn.wlo, wn.whi = &wlo[0], &whi[0]
    return wn


def adaptive_avg(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                 const int64_t[::1] dlo, const int64_t[::1] dhi, const int64_t[::1] hlo,
                 const int64_t[::1] hhi, const int64_t[::1] wlo, const int64_t[::1] whi,
                 int nthreads):
    """Adaptive average pooling (one output row per work unit)."""
    cdef Geo g = _geo(x.shape, out.shape, (1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 0, 0))
    cdef Win wn = _win(dlo, dhi, hlo, hhi, wlo, whi)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, job
    if out.size == 0:
        return out
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef real* op = &out[0, 0, 0, 0]
    cdef real* buf
    cdef char* raw
    with nogil:
        if nthreads > 1:
            with parallel(num_threads=nthreads):
                raw = <char*>malloc(g.W * sizeof(real) + 256)  # slack: no false sharing
                buf = <real*>_aligned(raw + 64)
                for job in prange(njobs, schedule="static"):
                    _adavg_row(xp, op, buf, job, &g, &wn)
                free(raw)
        else:
            raw = <char*>malloc(g.W * sizeof(real) + 256)
            buf = <real*>_aligned(raw + 64)
            for job in range(njobs):
                _adavg_row(xp, op, buf, job, &g, &wn)
            free(raw)
    return out


cdef void _adavgbw_row(const real* gr, real* gx, Py_ssize_t job, const Geo* g,
                       const Win* wn) noexcept nogil:
    cdef Py_ssize_t W = g.W
    cdef Py_ssize_t ih = job % g.H
    cdef Py_ssize_t r = job // g.H
    cdef Py_ssize_t id_ = r % g.D
    cdef Py_ssize_t pl = r // g.D
    cdef Py_ssize_t od, oh, ow, w, cnt
    cdef real* grow_x = gx + ((pl * g.D + id_) * g.H + ih) * W
    cdef const real* go
    cdef real v
    for w in range(W):
        grow_x[w] = 0
    for od in range(g.OD):
        if id_ < wn.dlo[od] or id_ >= wn.dhi[od]:
            continue
        for oh in range(g.OH):
            if ih < wn.hlo[oh] or ih >= wn.hhi[oh]:
                continue
            cnt = (wn.dhi[od] - wn.dlo[od]) * (wn.hhi[oh] - wn.hlo[oh])
            go = gr + ((pl * g.OD + od) * g.OH + oh) * g.OW
            for ow in range(g.OW):
                v = go[ow] / <real>(cnt * (wn.whi[ow] - wn.wlo[ow]))
                for w in range(wn.wlo[ow], wn.whi[ow]):
                    grow_x[w] += v


def adaptive_avg_backward(const real[:, :, :, ::1] grad, real[:, :, :, ::1] gx,
                          const int64_t[::1] dlo, const int64_t[::1] dhi,
                          const int64_t[::1] hlo, const int64_t[::1] hhi,
                          const int64_t[::1] wlo, const int64_t[::1] whi, int nthreads):
    """Input gradient of adaptive average pooling (one input row per work unit)."""
    cdef Geo g = _geo(gx.shape, grad.shape, (1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 0, 0))
    cdef Win wn = _win(dlo, dhi, hlo, hhi, wlo, whi)
    cdef Py_ssize_t njobs = gx.shape[0] * g.D * g.H, job
    if gx.size == 0:
        return gx
    cdef const real* gp = &grad[0, 0, 0, 0]
    cdef real* gxp = &gx[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _adavgbw_row(gp, gxp, job, &g, &wn)
        else:
            for job in range(njobs):
                _adavgbw_row(gp, gxp, job, &g, &wn)
    return gx


# ---------------------------------------------------------------------------
# global average pooling (every output size 1): x (P, S) -> out (P,)
# ---------------------------------------------------------------------------
#: Elements per partial sum: a plane is summed in fixed chunks (float64, several
#: accumulators each) and the chunk sums are added in order, so the result does
#: not depend on how chunks are spread over threads.
DEF GAP_CHUNK = 32768


cdef inline double _sum_run(const real* x, Py_ssize_t n) noexcept nogil:
    if real is float:
        return fc_sum_float(x, n)
    else:
        return fc_sum_double(x, n)


cdef void _gap_part(const real* x, double* part, Py_ssize_t S, Py_ssize_t nch, Py_ssize_t u0,
                    Py_ssize_t u1) noexcept nogil:
    cdef Py_ssize_t u, p, c, n
    for u in range(u0, u1):
        p = u // nch
        c = (u % nch) * GAP_CHUNK
        n = S - c if S - c < GAP_CHUNK else GAP_CHUNK
        part[u] = _sum_run(x + p * S + c, n)


def global_avg(const real[:, ::1] x, real[::1] out, int nthreads):
    """``out[p] = mean(x[p, :])``, accumulated in float64 (NaN propagates)."""
    cdef Py_ssize_t P = x.shape[0], S = x.shape[1], p, c, t
    if P == 0:
        return out
    cdef Py_ssize_t nch = (S + GAP_CHUNK - 1) // GAP_CHUNK, U = P * nch
    cdef const real* xp = &x[0, 0]
    cdef double* part = <double*>malloc(U * sizeof(double))
    cdef double acc
    with nogil:
        if nthreads > 1 and U > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                _gap_part(xp, part, S, nch, U * t // nthreads, U * (t + 1) // nthreads)
        else:
            _gap_part(xp, part, S, nch, 0, U)
        for p in range(P):
            acc = part[p * nch]
            for c in range(1, nch):
                acc = acc + part[p * nch + c]
            out[p] = <real>(acc / S)
    free(part)
    return out


cdef void _fill_part(const real* g, real* gx, Py_ssize_t S, Py_ssize_t e0,
                     Py_ssize_t e1) noexcept nogil:
    """Elements ``[e0, e1)`` of the flat (P, S) gradient: ``g[p] / S`` on plane ``p``."""
    cdef Py_ssize_t p, lo, hi
    cdef real v
    while e0 < e1:
        p = e0 // S
        hi = (p + 1) * S
        if hi > e1:
            hi = e1
        v = g[p] / <real>S
        if real is float:
            fc_fill_float(gx + e0, v, hi - e0)
        else:
            fc_fill_double(gx + e0, v, hi - e0)
        e0 = hi


def global_avg_backward(const real[::1] grad, real[:, ::1] gx, int nthreads):
    """Input gradient of ``global_avg``: a broadcast fill ``gx[p, :] = grad[p] / S``.

    Threads take equal element ranges (cut at 64-byte boundaries), planes or not."""
    cdef Py_ssize_t P = gx.shape[0], S = gx.shape[1], E = P * S, t, e0, e1
    cdef Py_ssize_t L = 64 // sizeof(real)
    if E == 0:
        return gx
    cdef const real* gp = &grad[0]
    cdef real* gxp = &gx[0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                e0 = (E * t // nthreads) // L * L
                e1 = E if t == nthreads - 1 else (E * (t + 1) // nthreads) // L * L
                _fill_part(gp, gxp, S, e0, e1)
        else:
            _fill_part(gp, gxp, S, 0, E)
    return gx


cdef void _admax_row(const anyt* x, anyt* out, int64_t* idx, Py_ssize_t job, const Geo* g,
                     const Win* wn, anyt* mb, int64_t* rb) noexcept nogil:
    """One output row: the window rows' column maxima (value ``mb``, flat index ``rb``)
    in one vectorised pass per input row (``_idxtap``, rows in order: the first
    maximum / last NaN of each column), then each window's argmax over its
    columns, ties going to the smaller flat index (row-major first) and NaNs to
    the larger (the last NaN): the row-major window scan's result."""
    cdef Py_ssize_t H = g.H, W = g.W
    cdef Py_ssize_t oh = job % g.OH
    cdef Py_ssize_t r = job // g.OH
    cdef Py_ssize_t od = r % g.OD
    cdef Py_ssize_t pl = r // g.OD
    cdef Py_ssize_t id_, ih, iw, ow, pos, best, q
    cdef const anyt* xp = x + pl * g.D * H * W
    cdef Py_ssize_t o0 = ((pl * g.OD + od) * g.OH + oh) * g.OW
    cdef anyt m, v
    cdef bint first = True, t, vn, mn
    for id_ in range(wn.dlo[od], wn.dhi[od]):
        for ih in range(wn.hlo[oh], wn.hhi[oh]):
            pos = (id_ * H + ih) * W
            _idxtap(xp + pos, mb, rb, W, pos, 1, first)
            first = False
    for ow in range(g.OW):
        iw = wn.wlo[ow]
        m = mb[iw]
        best = rb[iw]
        for iw in range(wn.wlo[ow] + 1, wn.whi[ow]):
            v = mb[iw]
            q = rb[iw]
            vn = v != v
            mn = m != m
            t = (vn and (not mn or q > best)) or (
                not vn and not mn and (v > m or (v == m and q < best)))
            m = v if t else m
            best = q if t else best
        out[o0 + ow] = m
        idx[o0 + ow] = best


cdef int _admax_part(const anyt* xp, anyt* op, int64_t* ip, Py_ssize_t j0, Py_ssize_t j1,
                     const Geo* g, const Win* wn) noexcept nogil:
    """Output rows ``[j0, j1)`` with one pair of row buffers; 1 when out of memory."""
    cdef Py_ssize_t job
    cdef int err = 0
    if j1 <= j0:
        return 0
    cdef anyt* mb = <anyt*>malloc(g.W * sizeof(anyt) + 64)
    cdef int64_t* rb = <int64_t*>malloc(g.W * sizeof(int64_t) + 64)
    if mb == NULL or rb == NULL:
        err = 1
    else:
        for job in range(j0, j1):
            _admax_row(xp, op, ip, job, g, wn, mb, rb)
    free(mb)
    free(rb)
    return err


def adaptive_max(const anyt[:, :, :, ::1] x, anyt[:, :, :, ::1] out,
                 int64_t[:, :, :, ::1] idx, const int64_t[::1] dlo, const int64_t[::1] dhi,
                 const int64_t[::1] hlo, const int64_t[::1] hhi, const int64_t[::1] wlo,
                 const int64_t[::1] whi, int nthreads):
    """Adaptive max pooling with flat in-plane indices into ``idx``."""
    cdef Geo g = _geo(x.shape, out.shape, (1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 0, 0))
    cdef Win wn = _win(dlo, dhi, hlo, hhi, wlo, whi)
    cdef Py_ssize_t njobs = out.shape[0] * g.OD * g.OH, t
    cdef int err = 0
    if out.size == 0:
        return out
    cdef const anyt* xp = &x[0, 0, 0, 0]
    cdef anyt* op = &out[0, 0, 0, 0]
    cdef int64_t* ip = &idx[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for t in prange(nthreads, schedule="static", num_threads=nthreads):
                err += _admax_part(xp, op, ip, njobs * t // nthreads,
                                   njobs * (t + 1) // nthreads, &g, &wn)
        else:
            err = _admax_part(xp, op, ip, 0, njobs, &g, &wn)
    if err:
        raise MemoryError("adaptive_max: out of memory for the row buffers")
    return out


# ---------------------------------------------------------------------------
# cross-channel max ("maxout"): x (N, G * k, S) -> out (N, G, S)
# ---------------------------------------------------------------------------
cdef void _chmax_job(const anyt* x, anyt* out, Py_ssize_t job, Py_ssize_t G, Py_ssize_t k,
                     Py_ssize_t S) noexcept nogil:
    cdef Py_ssize_t n = job // G, gi = job % G, j, s
    cdef anyt* o = out + job * S
    cdef const anyt* row = x + (n * G * k + gi * k) * S
    cdef anyt m, v
    for s in range(S):
        o[s] = row[s]
    for j in range(1, k):
        row = row + S
        for s in range(S):
            v = row[s]
            m = o[s]
            o[s] = v if _gt(v, m) else m


def channel_max(const anyt[:, :, ::1] x, anyt[:, :, ::1] out, Py_ssize_t k, int nthreads):
    """Max over groups of ``k`` adjacent channels: ``x (N, G*k, S) -> out (N, G, S)``."""
    cdef Py_ssize_t G = out.shape[1], S = out.shape[2], njobs = out.shape[0] * G, job
    if out.size == 0:
        return out
    cdef const anyt* xp = &x[0, 0, 0]
    cdef anyt* op = &out[0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _chmax_job(xp, op, job, G, k, S)
        else:
            for job in range(njobs):
                _chmax_job(xp, op, job, G, k, S)
    return out


cdef void _chmaxbw_job(const real* gr, const anyt* x, real* gx, Py_ssize_t job,
                       Py_ssize_t G, Py_ssize_t k, Py_ssize_t S) noexcept nogil:
    cdef Py_ssize_t n = job // G, gi = job % G, j, s, best
    cdef Py_ssize_t base = (n * G * k + gi * k) * S
    cdef const real* go = gr + job * S
    cdef anyt m, v
    for j in range(k * S):
        gx[base + j] = 0
    for s in range(S):
        m = x[base + s]
        best = 0
        for j in range(1, k):
            v = x[base + j * S + s]
            if _gt(v, m):
                m = v
                best = j
        gx[base + best * S + s] = go[s]


def channel_max_backward(const real[:, :, ::1] grad, const anyt[:, :, ::1] x,
                         real[:, :, ::1] gx, Py_ssize_t k, int nthreads):
    """Input gradient of ``channel_max`` (the first maximum of a group gets it)."""
    cdef Py_ssize_t G = grad.shape[1], S = grad.shape[2], njobs = grad.shape[0] * G, job
    if gx.size == 0:
        return gx
    cdef const real* gp = &grad[0, 0, 0]
    cdef const anyt* xp = &x[0, 0, 0]
    cdef real* gxp = &gx[0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                _chmaxbw_job(gp, xp, gxp, job, G, k, S)
        else:
            for job in range(njobs):
                _chmaxbw_job(gp, xp, gxp, job, G, k, S)
    return gx
