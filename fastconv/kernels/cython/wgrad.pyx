"""Winograd weight gradient F(m, 3), Cython/OpenMP backend (same contract as
``numba/wgrad.py``).

For a 3-wide kernel, stride 1, dilation 1, the weight gradient of one output
tile is a 3-tap correlation of its ``m + 2`` input patch with its ``m`` output
gradients -- the adjoint of Winograd's ``F(m, 3)``::

    dW[co, ci] = sum over tiles of  G^T [ (A go A^T)[co] * (B^T d B)[ci] ] G

(``*`` elementwise over the ``F = (m + 2)^nd`` frequencies; ``B``, ``A``, ``G``
the forward's matrices).  Summed over tiles first, that is one GEMM per
frequency, ``M[f] (Co x Ci) = sum_t Gt[f, co, t] V[f, ci, t]``, and one small
``G^T M G`` per weight at the end (in double).

Layouts (C-contiguous, compute dtype): ``x`` (N, C, H, W) the input and ``go``
(N, Co, OH, OW) the output gradient (1-D: H = OH = 1); zero padding ``ph, pw``
before each axis is implicit, the output gradient past OH/OW reads as zero.
Tiles are numbered over (n, tile row, tile column) as in the forward.

Two modes (the planner picks; both bit-identical for any thread count):

* fused (many tiles): the blocks of ``tb`` tiles are split into a fixed number
  of contiguous chunks (a function of the case only).  A job = (chunk, group):
  for each of its blocks, on one thread with private L2-sized buffers, the
  input transform ``V[f, ci, t]``, the output-gradient transform
  ``Gt[f, co, t]``, then the ``F`` GEMMs accumulate into the chunk's partial
  ``Mp[chunk, g, f] (cog x cig)``.  :func:`weight_from_partials` sums the
  chunks in order (double) and applies ``G^T . G``.
* phased (few tiles, wide channels): the transforms of every tile into shared
  ``V``/``Gt`` (jobs: tile block x group), then jobs (group, block of output
  channels) run the ``F`` GEMMs over all tiles (long reductions, no partial
  sums) into a private ``M`` and write their weights.

BLAS is called single-threaded inside the OpenMP region (the caller limits it).
"""

from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from .blas cimport gemm
from .fused cimport real
from .winograd_transforms cimport _bt, _rowbt, wg_G2, wg_G4, wg_ld


cdef extern from *:
    """
    #include <stddef.h>
    /* A (the adjoint of the output transform A^T: m values -> m + 2) over
       vectors of tiles and along one output-gradient row (tile q reads
       r[m q .. m q + m - 1]).  One restrict pointer per row so GCC vectorises.
       The input side (B^T) is the forward's, winograd_transforms.h. */
    #define WGG(T, S)                                                              \
    static inline void wgg_a4r_##S(const T* restrict s0, const T* restrict s1,    \
            const T* restrict s2, const T* restrict s3, T* restrict o0,           \
            T* restrict o1, T* restrict o2, T* restrict o3, T* restrict o4,       \
            T* restrict o5, ptrdiff_t n) {                                        \
        for (ptrdiff_t t = 0; t < n; t++) {                                       \
            T g0 = s0[t], g1 = s1[t], g2 = s2[t], g3 = s3[t];                     \
            T a = g0 + g2, b = g1 + g3, c = g0 + (T)4 * g2, e = g1 + (T)4 * g3;   \
            o0[t] = g0;                                                           \
            o1[t] = a + b;                                                        \
            o2[t] = a - b;                                                        \
            o3[t] = c + (T)2 * e;                                                 \
            o4[t] = c - (T)2 * e;                                                 \
            o5[t] = g3;                                                           \
        }                                                                         \
    }                                                                             \
    static inline void wgg_a2r_##S(const T* restrict s0, const T* restrict s1,    \
            T* restrict o0, T* restrict o1, T* restrict o2, T* restrict o3,       \
            ptrdiff_t n) {                                                        \
        for (ptrdiff_t t = 0; t < n; t++) {                                       \
            T g0 = s0[t], g1 = s1[t];                                             \
            o0[t] = g0;                                                           \
            o1[t] = g0 + g1;                                                      \
            o2[t] = g0 - g1;                                                      \
            o3[t] = -g1;                                                          \
        }                                                                         \
    }                                                                             \
    static inline void wgg_rowa4r_##S(const T* restrict r, T* restrict o0,        \
            T* restrict o1, T* restrict o2, T* restrict o3, T* restrict o4,       \
            T* restrict o5, ptrdiff_t n) {                                        \
        for (ptrdiff_t q = 0; q < n; q++) {                                       \
            const T* p = r + 4 * q;                                               \
            T g0 = p[0], g1 = p[1], g2 = p[2], g3 = p[3];                         \
            T a = g0 + g2, b = g1 + g3, c = g0 + (T)4 * g2, e = g1 + (T)4 * g3;   \
            o0[q] = g0;                                                           \
            o1[q] = a + b;                                                        \
            o2[q] = a - b;                                                        \
            o3[q] = c + (T)2 * e;                                                 \
            o4[q] = c - (T)2 * e;                                                 \
            o5[q] = g3;                                                           \
        }                                                                         \
    }                                                                             \
    static inline void wgg_rowa2r_##S(const T* restrict r, T* restrict o0,        \
            T* restrict o1, T* restrict o2, T* restrict o3, ptrdiff_t n) {        \
        for (ptrdiff_t q = 0; q < n; q++) {                                       \
            T g0 = r[2 * q], g1 = r[2 * q + 1];                                   \
            o0[q] = g0;                                                           \
            o1[q] = g0 + g1;                                                      \
            o2[q] = g0 - g1;                                                      \
            o3[q] = -g1;                                                          \
        }                                                                         \
    }                                                                             \
    static inline void wgg_a_##S(int m, const T* s, ptrdiff_t ss, T* d,           \
                                 ptrdiff_t ds, ptrdiff_t n) {                     \
        if (m == 4)                                                               \
            wgg_a4r_##S(s, s + ss, s + 2 * ss, s + 3 * ss, d, d + ds, d + 2 * ds, \
                        d + 3 * ds, d + 4 * ds, d + 5 * ds, n);                   \
        else                                                                      \
            wgg_a2r_##S(s, s + ss, d, d + ds, d + 2 * ds, d + 3 * ds, n);         \
    }                                                                             \
    static inline void wgg_rowa_##S(int m, const T* r, T* o, ptrdiff_t os,        \
                                    ptrdiff_t n) {                                \
        if (m == 4)                                                               \
            wgg_rowa4r_##S(r, o, o + os, o + 2 * os, o + 3 * os, o + 4 * os,      \
                           o + 5 * os, n);                                        \
        else                                                                      \
            wgg_rowa2r_##S(r, o, o + os, o + 2 * os, o + 3 * os, n);              \
    }
    WGG(float, f)
    WGG(double, d)
    """
    void wgg_a_f(int m, const float* s, Py_ssize_t ss, float* d, Py_ssize_t ds,
                 Py_ssize_t n) nogil
    void wgg_a_d(int m, const double* s, Py_ssize_t ss, double* d, Py_ssize_t ds,
                 Py_ssize_t n) nogil
    void wgg_rowa_f(int m, const float* r, float* o, Py_ssize_t os, Py_ssize_t n) nogil
    void wgg_rowa_d(int m, const double* r, double* o, Py_ssize_t os, Py_ssize_t n) nogil


cdef inline void _a(int m, const real* s, Py_ssize_t ss, real* d, Py_ssize_t ds,
                    Py_ssize_t n) noexcept nogil:
    if real is float:
        wgg_a_f(m, s, ss, d, ds, n)
    else:
        wgg_a_d(m, s, ss, d, ds, n)


cdef inline void _rowa(int m, const real* r, real* o, Py_ssize_t os,
                       Py_ssize_t n) noexcept nogil:
    if real is float:
        wgg_rowa_f(m, r, o, os, n)
    else:
        wgg_rowa_d(m, r, o, os, n)


# ---------------------------------------------------------------------------
# the transforms of one block of tiles
# ---------------------------------------------------------------------------
cdef void _transform_block(
    const real* x, const real* go, Py_ssize_t t0, Py_ssize_t T, Py_ssize_t g,
    Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t groups,
    Py_ssize_t ph, Py_ssize_t pw, int m, int nw,
    real* V, real* Gt, Py_ssize_t Lv, Py_ssize_t FV, Py_ssize_t FG,
    real* D, Py_ssize_t L, Py_ssize_t* seg, int stages,
) noexcept nogil:
    """Tiles t0 .. t0+T of group g: ``V[f*FV + ci*Lv + t] = (B^T d B)[f]`` and
    ``Gt[f*FG + co*Lv + t] = (A go A^T)[f]`` (t from 0).  ``D`` holds 2 F L
    elements (row buffer, then transform rows of length L >= T); ``seg`` 5 T."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t ah = al if nw == 2 else 1
    cdef Py_ssize_t mh = m if nw == 2 else 1
    cdef Py_ssize_t F = ah * al
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t TH = (OH + mh - 1) // mh, TW = (OW + m - 1) // m
    cdef Py_ssize_t per_img = TH * TW
    cdef Py_ssize_t OHW = OH * OW
    cdef real* Tmp = D + F * L
    cdef real* rb = D
    cdef real* o
    cdef const real* src
    cdef Py_ssize_t nseg = 0, s0, tt, t, n, th, tw, cnt, ih0, iw0, oh0, ow0, span, lo, hi
    cdef Py_ssize_t ci, co, i, j, k, ih, nh
    for tt in range(T):    # runs of consecutive tiles on one tile row
        t = t0 + tt
        n = t // per_img
        th = (t % per_img) // TW
        tw = t % TW
        if tt == 0 or tw == 0:
            seg[5 * nseg] = tt
            seg[5 * nseg + 1] = 0
            seg[5 * nseg + 2] = n
            seg[5 * nseg + 3] = th
            seg[5 * nseg + 4] = tw
            nseg += 1
        seg[5 * (nseg - 1) + 1] += 1
    # ---- input transform: along w per run of tiles (stride-m loads), along h ----
    for ci in range(cig if stages & 1 else 0):
        for s0 in range(nseg):
            tt = seg[5 * s0]
            cnt = seg[5 * s0 + 1]
            n = seg[5 * s0 + 2]
            ih0 = seg[5 * s0 + 3] * mh - ph
            iw0 = seg[5 * s0 + 4] * m - pw
            span = (cnt - 1) * m + al
            lo = -iw0 if iw0 < 0 else 0
            if lo > span:
                lo = span
            hi = W - iw0 if iw0 + span > W else span
            if hi < lo:
                hi = lo
            for i in range(ah):
                ih = ih0 + i
                o = Tmp + i * al * L + tt
                if ih < 0 or ih >= H:
                    for k in range(al):
                        for j in range(cnt):
                            o[k * L + j] = 0
                    continue
                src = x + ((n * C + g * cig + ci) * H + ih) * W + iw0
                if lo == 0 and hi == span:
                    _rowbt(m, src, o, L, cnt)
                else:
                    for j in range(lo):
                        rb[j] = 0
                    for j in range(lo, hi):
                        rb[j] = src[j]
                    for j in range(hi, span):
                        rb[j] = 0
                    _rowbt(m, rb, o, L, cnt)
        if nw == 2:
            for k in range(al):      # f = (h frequency) * al + k
                _bt(m, Tmp + k * L, al * L, V + k * FV + ci * Lv, al * FV, T)
        else:
            for k in range(al):
                for tt in range(T):
                    V[k * FV + ci * Lv + tt] = Tmp[k * L + tt]
    # ---- output-gradient transform (A along w per run, then along h) ----
    for co in range(cog if stages & 2 else 0):
        for s0 in range(nseg):
            tt = seg[5 * s0]
            cnt = seg[5 * s0 + 1]
            n = seg[5 * s0 + 2]
            oh0 = seg[5 * s0 + 3] * mh
            ow0 = seg[5 * s0 + 4] * m
            span = cnt * m
            hi = OW - ow0 if ow0 + span > OW else span
            nh = OH - oh0 if oh0 + mh > OH else mh
            for i in range(mh):
                o = Tmp + i * al * L + tt
                if i >= nh:          # rows past the output: zero gradient
                    for k in range(al):
                        for j in range(cnt):
                            o[k * L + j] = 0
                    continue
                src = go + ((n * Co + g * cog + co) * OH + oh0 + i) * OW + ow0
                if hi == span:
                    _rowa(m, src, o, L, cnt)
                else:
                    for j in range(hi):
                        rb[j] = src[j]
                    for j in range(hi, span):
                        rb[j] = 0
                    _rowa(m, rb, o, L, cnt)
        if nw == 2:
            for k in range(al):
                _a(m, Tmp + k * L, al * L, Gt + k * FG + co * Lv, al * FG, T)
        else:
            for k in range(al):
                for tt in range(T):
                    Gt[k * FG + co * Lv + tt] = Tmp[k * L + tt]


# ---------------------------------------------------------------------------
# G^T M G: frequencies -> weights (double)
# ---------------------------------------------------------------------------
cdef void _to_weight(const real* M, Py_ssize_t fstride, Py_ssize_t nparts,
                     Py_ssize_t pstride, Py_ssize_t n, real* out, int m, int nw,
                     double* acc) noexcept nogil:
    """:func:`_to_weight_block` over blocks of 64 input channels: its double
    buffers then stay in L1 (over all 512 channels at once the vector passes were
    L2-bound: 1.06 ns per frequency-domain sum)."""
    cdef Py_ssize_t i0, KK = 9 if nw == 2 else 3
    for i0 in range(0, n, 64):
        _to_weight_block(M + i0, fstride, nparts, pstride, n - i0 if n - i0 < 64 else 64,
                         out + i0 * KK, m, nw, acc)


cdef void _to_weight_block(const real* M, Py_ssize_t fstride, Py_ssize_t nparts,
                           Py_ssize_t pstride, Py_ssize_t n, real* out, int m, int nw,
                           double* acc) noexcept nogil:
    """``out[i * KK + r * 3 + s] = sum_{a,b} G[a, r] G[b, s] sum_p M[p][f=(a,b)][i]``
    for the ``n`` values i of one output channel (``M[p][f][i]`` at
    ``M + p * pstride + f * fstride + i``; parts summed in order, in double;
    loops over i, so they vectorise).  ``acc`` holds ``(F + 3 al + 9) n`` doubles."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t F = al * al if nw == 2 else al
    cdef const double* G = &wg_G4[0] if m == 4 else &wg_G2[0]
    cdef double* tmp = acc + F * n
    cdef double* o9 = tmp + 3 * al * n
    cdef double c
    cdef double* d
    cdef const double* e
    cdef const real* src
    cdef Py_ssize_t f, p, i, a, b, r, s, k
    for f in range(F):
        d = acc + f * n
        src = M + f * fstride
        for i in range(n):
            d[i] = src[i]
        for p in range(1, nparts):
            src = M + p * pstride + f * fstride
            for i in range(n):
                d[i] += src[i]
    if nw == 1:
        for s in range(3):
            d = o9 + s * n
            for i in range(n):
                d[i] = 0
            for b in range(al):
                c = G[3 * b + s]
                e = acc + b * n
                if c != 0:
                    for i in range(n):
                        d[i] += c * e[i]
        for i in range(n):
            for s in range(3):
                out[i * 3 + s] = <real>o9[s * n + i]
        return
    for a in range(al):              # tmp[a, s] = sum_b G[b, s] acc[a * al + b]
        for s in range(3):
            d = tmp + (a * 3 + s) * n
            for i in range(n):
                d[i] = 0
            for b in range(al):
                c = G[3 * b + s]
                e = acc + (a * al + b) * n
                if c != 0:
                    for i in range(n):
                        d[i] += c * e[i]
    for r in range(3):               # o9[r, s] = sum_a G[a, r] tmp[a, s]
        for s in range(3):
            d = o9 + (r * 3 + s) * n
            for i in range(n):
                d[i] = 0
            for a in range(al):
                c = G[3 * a + r]
                e = tmp + (a * 3 + s) * n
                if c != 0:
                    for i in range(n):
                        d[i] += c * e[i]
    for i in range(n):
        for k in range(9):
            out[i * 9 + k] = <real>o9[k * n + i]


# ---------------------------------------------------------------------------
# fused mode
# ---------------------------------------------------------------------------
def fused_items(int m, int nw, Py_ssize_t cig, Py_ssize_t cog, Py_ssize_t tb):
    """Scratch elements of one thread in the fused mode (D + V + Gt)."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t L = wg_ld(tb)
    return 2 * F * L + F * wg_ld(cig * L) + F * wg_ld(cog * L)


def winograd_weight_grad_fused(
    const real[:, :, :, ::1] x, const real[:, :, :, ::1] go, real[:, :, :, :, ::1] Mp,
    Py_ssize_t ph, Py_ssize_t pw, int m, int nw, Py_ssize_t groups, Py_ssize_t tb,
    int nthreads, int stages=7,
):
    """Per-chunk frequency-domain partial sums ``Mp (nchunks, G, F, cog, cig)``
    (every element written).  The ``nblk`` blocks of ``tb`` tiles are split into
    ``nchunks`` contiguous chunks; chunk c sums blocks ``c nblk // nchunks ..``
    in order.  Call with BLAS limited to one thread."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = go.shape[1], OH = go.shape[2], OW = go.shape[3]
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t mh = m if nw == 2 else 1
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t NT = N * ((OH + mh - 1) // mh) * ((OW + m - 1) // m)
    cdef Py_ssize_t nblk = (NT + tb - 1) // tb
    cdef Py_ssize_t nch = Mp.shape[0]
    cdef Py_ssize_t njobs = nch * groups
    cdef Py_ssize_t L = wg_ld(tb)
    cdef Py_ssize_t FV = wg_ld(cig * L), FG = wg_ld(cog * L)
    cdef Py_ssize_t items = 2 * F * L + F * FV + F * FG
    cdef Py_ssize_t job, chunk, g, blk, b0, b1, t0, T, f
    cdef real* Mc
    cdef real* D
    cdef Py_ssize_t* seg
    cdef int err = 0
    if Mp.shape[1] != groups or Mp.shape[2] != F or Mp.shape[3] != cog or Mp.shape[4] != cig:
        raise ValueError("wgrad: Mp must be (nchunks, groups, F, C_out/groups, C_in/groups)")
    if njobs == 0 or F * cog * cig == 0:
        return
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef const real* gp = &go[0, 0, 0, 0]
    cdef real* mp = &Mp[0, 0, 0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        D = <real*>malloc(items * sizeof(real))
        seg = <Py_ssize_t*>malloc(5 * tb * sizeof(Py_ssize_t))
        for job in prange(njobs, schedule="dynamic"):
            chunk = job // groups
            g = job % groups
            Mc = mp + (chunk * groups + g) * F * cog * cig
            b0 = chunk * nblk // nch
            b1 = (chunk + 1) * nblk // nch
            if D == NULL or seg == NULL:
                err += 1
                continue
            if b1 == b0:
                memset(Mc, 0, F * cog * cig * sizeof(real))
            for blk in range(b0, b1):
                t0 = blk * tb
                T = tb if t0 + tb <= NT else NT - t0
                _transform_block(xp, gp, t0, T, g, N, C, H, W, Co, OH, OW, groups, ph, pw,
                                 m, nw, D + 2 * F * L, D + 2 * F * L + F * FV, L, FV, FG,
                                 D, L, seg, stages)
                for f in range(F if stages & 4 else 0):  # Mc[f] (cog x cig, row-major) (+)= Gt[f] V[f]^T
                    gemm(True, <int>cig, <int>cog, <int>T, D + 2 * F * L + f * FV, <int>L,
                         D + 2 * F * L + F * FV + f * FG, <int>L, blk > b0,
                         Mc + f * cog * cig, <int>cig)
        free(D)
        free(seg)
    if err:
        raise MemoryError("wgrad: out of memory for the per-thread buffers")


def weight_from_partials(const real[:, :, :, :, ::1] Mp, real[:, :, ::1] gw, int m, int nw,
                         int nthreads):
    """``gw (Co, cig, KK)`` (KK = 9, or 3 in 1-D) from the partial sums ``Mp
    (nchunks, G, F, cog, cig)``: chunks summed in order, then ``G^T M G``, in double."""
    cdef Py_ssize_t nch = Mp.shape[0], groups = Mp.shape[1], F = Mp.shape[2]
    cdef Py_ssize_t cog = Mp.shape[3], cig = Mp.shape[4]
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t KK = gw.shape[2]
    cdef Py_ssize_t njobs = groups * cog
    cdef Py_ssize_t job, g, co
    cdef double* acc
    cdef int err = 0
    if njobs == 0 or cig == 0:
        return
    cdef const real* mp = &Mp[0, 0, 0, 0, 0]
    cdef real* wp = &gw[0, 0, 0]
    with nogil, parallel(num_threads=nthreads):
        acc = <double*>malloc((F + 3 * al + 9) * cig * sizeof(double))
        for job in prange(njobs, schedule="static"):
            if acc == NULL:
                err += 1
                continue
            g = job // cog
            co = job % cog
            _to_weight(mp + (g * F * cog + co) * cig, cog * cig, nch, groups * F * cog * cig,
                       cig, wp + job * cig * KK, m, nw, acc)
        free(acc)
    if err:
        raise MemoryError("wgrad: out of memory in the weight transform")


# ---------------------------------------------------------------------------
# phased mode
# ---------------------------------------------------------------------------
def shared_items(int m, int nw, Py_ssize_t groups, Py_ssize_t cig, Py_ssize_t cog,
                 Py_ssize_t NT):
    """Elements of the phased mode's shared V + Gt (every tile at once)."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t Lv = wg_ld(NT)
    return groups * F * (wg_ld(cig * Lv) + wg_ld(cog * Lv))


def winograd_weight_grad_phased(
    const real[:, :, :, ::1] x, const real[:, :, :, ::1] go, real[:, :, ::1] gw,
    real[::1] shared, Py_ssize_t ph, Py_ssize_t pw, int m, int nw, Py_ssize_t groups,
    Py_ssize_t tb, Py_ssize_t cob, int nthreads, int stages=7,
):
    """Weight gradient ``gw (Co, cig, KK)``: the transforms of every tile into
    ``shared`` (``shared_items(...)`` elements; jobs: tile block x group), then
    jobs (group, block of ``cob`` output channels) run the F GEMMs over all
    tiles into a private L2-sized buffer and apply ``G^T . G`` to it (no
    frequency-domain sums ever leave the cache).  Call with BLAS limited to one
    thread."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = go.shape[1], OH = go.shape[2], OW = go.shape[3]
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t mh = m if nw == 2 else 1
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t KK = gw.shape[2]
    cdef Py_ssize_t NT = N * ((OH + mh - 1) // mh) * ((OW + m - 1) // m)
    cdef Py_ssize_t nblk = (NT + tb - 1) // tb
    cdef Py_ssize_t L = wg_ld(tb), Lv = wg_ld(NT)
    cdef Py_ssize_t FV = wg_ld(cig * Lv), FG = wg_ld(cog * Lv)
    cdef Py_ssize_t job, g, blk, t0, T, f, jcb, co0, nco, co, ncob
    cdef real* D
    cdef real* Mb
    cdef double* acc
    cdef Py_ssize_t* seg
    cdef int err = 0
    if gw.shape[0] != Co or gw.shape[1] != cig or gw.shape[2] != (9 if nw == 2 else 3):
        raise ValueError("wgrad: gw must be (C_out, C_in/groups, 3**nd)")
    if cig == 0 or cog == 0:
        return
    if NT == 0:
        memset(&gw[0, 0, 0], 0, Co * cig * KK * sizeof(real))
        return
    if shared.shape[0] < groups * F * (FV + FG):
        raise ValueError("wgrad: shared buffer too small")
    cob = max(1, min(cob, cog))
    ncob = (cog + cob - 1) // cob
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef const real* gp = &go[0, 0, 0, 0]
    cdef real* wp = &gw[0, 0, 0]
    cdef real* Vs = &shared[0]
    cdef real* Gs = Vs + groups * F * FV
    with nogil, parallel(num_threads=nthreads):
        D = <real*>malloc(2 * F * L * sizeof(real))
        seg = <Py_ssize_t*>malloc(5 * tb * sizeof(Py_ssize_t))
        for job in prange(nblk * groups, schedule="dynamic"):
            if D == NULL or seg == NULL:
                err += 1
                continue
            blk = job // groups
            g = job % groups
            t0 = blk * tb
            T = tb if t0 + tb <= NT else NT - t0
            _transform_block(xp, gp, t0, T, g, N, C, H, W, Co, OH, OW, groups, ph, pw, m, nw,
                             Vs + g * F * FV + t0, Gs + g * F * FG + t0, Lv, FV, FG, D, L, seg,
                             stages)
        free(D)
        free(seg)
    if err:
        raise MemoryError("wgrad: out of memory for the per-thread buffers")
    if not stages & 4:
        return
    with nogil, parallel(num_threads=nthreads):
        Mb = <real*>malloc(F * cob * cig * sizeof(real))
        acc = <double*>malloc((F + 3 * al + 9) * cig * sizeof(double))
        for job in prange(groups * ncob, schedule="dynamic"):
            if Mb == NULL or acc == NULL:
                err += 1
                continue
            g = job // ncob
            jcb = job % ncob
            co0 = jcb * cob
            nco = cob if co0 + cob <= cog else cog - co0
            # Mb[co, f, :] = (Gt[f, co-block] V[f]^T)[co]: each output channel's F x cig
            # sums contiguous, so G^T . G streams them (with Mb[f, co, :] it read F
            # scattered rows per channel, 2-3x slower once Mb outgrows L2)
            for f in range(F):
                gemm(True, <int>cig, <int>nco, <int>NT, Vs + (g * F + f) * FV, <int>Lv,
                     Gs + (g * F + f) * FG + co0 * Lv, <int>Lv, False,
                     Mb + f * cig, <int>(F * cig))
            for co in range(nco):
                _to_weight(Mb + co * F * cig, cig, 1, 0, cig,
                           wp + (g * cog + co0 + co) * cig * KK, m, nw, acc)
        free(Mb)
        free(acc)
    if err:
        raise MemoryError("wgrad: out of memory for the per-thread buffers")
