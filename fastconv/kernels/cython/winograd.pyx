"""Winograd F(m, 3) convolution, Cython/OpenMP backend (same contract as Numba).

Layouts (C-contiguous, compute dtype):

* ``x``   (N, C, H, W): the input; 1-D convolutions arrive as H = 1.
* ``U``   (G, F, Cog, Cig): Winograd-domain weights, ``F = alpha_h * alpha_w``
  frequencies (``alpha = m + 2``; ``alpha_h = 1`` in 1-D), from
  :func:`transform_weight`.
* ``out`` (N, Co, OH, OW).

Work unit (a "job"): one block of ``tb`` consecutive output tiles (tiles are
numbered over (n, tile row, tile column)), one group, one block of ``cob``
output channels.  A job, on one thread, with its private buffers:

1. transforms each input channel's ``alpha x alpha`` patches of its tiles
   (``B^T d B``, zero padding implicit) into ``V[f, ci, t]``: along w for each
   run of tiles on one tile row (vectorised, stride-m loads), then along h
   over the block's tile vector;
2. runs the ``F`` per-frequency GEMMs ``M[f] = U[g, f, co-block] @ V[f]``
   with single-threaded BLAS (``scipy.linalg.cython_blas``, ``nogil``);
3. transforms ``M`` back (``A^T M A``), adds the bias and writes its output
   tiles (clipped at the borders).

Everything a job touches (``V``, ``M``, one weight panel) is sized to stay in
L2.  The transforms run over vectors of tiles (``t`` is the unit-stride axis)
so the compiler vectorises them.  Blocks depend on the spec only, never on
the thread count, and each output element is produced by exactly one job with
a fixed summation order: results are bit-identical for any thread count.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc

from .blas cimport gemm
from .fused cimport real
from .winograd_transforms cimport (_at, _bt, _rowat, _rowbt, wg_fused_job, wg_G2, wg_G4,
                                   wg_input_f, wg_ld, wg_output_f, wg_weight16_f)

# The 1-D transforms over vectors of tiles (src[j * ss + t] -> dst[k * ds + t]) are
# C with ``restrict`` in winograd_transforms.h, declared in winograd_transforms.pxd.


#: kernels per chunk of the weight transform (its buffers stay in L1/L2)
DEF WCHUNK = 256

#: bit 1: float32 input transform by wg_input_f, bit 2: output by wg_output_f
#: (AVX-512 builds; 0 runs the generic tile-row loops, which tests compare with)
cdef int _simd = 3


def set_simd(int bits):
    """Select the float32 transform kernels (bits: 1 input, 2 output; 0 = the
    generic loops); returns the previous setting.  For tests and timing."""
    global _simd
    old = _simd
    _simd = bits
    return old


cdef int _weight_chunk(const real* w, real* U, Py_ssize_t job, Py_ssize_t Co,
                       Py_ssize_t Cig, Py_ssize_t groups, int m, int nw) noexcept nogil:
    """Transform the kernels of one chunk of (co, ci) pairs of one group: float32
    3x3 kernels 16 pairs at a time in AVX-512 registers (``wg_weight16_f``), the
    rest as plain loops over the chunk (vectorised) in double; 1 when out of memory."""
    cdef Py_ssize_t cog = Co // groups, al = m + 2
    cdef Py_ssize_t per_g = cog * Cig
    cdef Py_ssize_t nch = (per_g + WCHUNK - 1) // WCHUNK
    cdef Py_ssize_t g = job // nch
    cdef Py_ssize_t p0 = (job % nch) * WCHUNK
    cdef Py_ssize_t P = WCHUNK if p0 + WCHUNK <= per_g else per_g - p0
    cdef Py_ssize_t F = al * al if nw == 2 else al
    cdef Py_ssize_t KK = 9 if nw == 2 else 3
    cdef Py_ssize_t R = 3 if nw == 2 else 1
    cdef const double* G = &wg_G2[0]
    if m == 4:
        G = &wg_G4[0]
    cdef Py_ssize_t p, k, r, k1, k2
    cdef double a0, a1, a2
    cdef const real* src = w + (g * per_g + p0) * KK
    cdef real* dst
    cdef Py_ssize_t q = 0               # pairs done in float32 SIMD (3x3, AVX-512)
    if real is float and nw == 2:
        q = wg_weight16_f(src, U + g * F * per_g + p0, per_g, m, P)
        if q == P:
            return 0
    cdef double* Wt = <double*>malloc((KK + R * al) * WCHUNK * sizeof(double))
    if Wt == NULL:
        return 1
    cdef double* tmp = Wt + KK * WCHUNK
    for p in range(q, P):               # Wt[tap, p]
        for k in range(KK):
            Wt[k * WCHUNK + p] = src[p * KK + k]
    for r in range(R):                  # along w: tmp[r, k2] = sum_j G[k2, j] w[r, j]
        for k2 in range(al):
            a0 = G[3 * k2]
            a1 = G[3 * k2 + 1]
            a2 = G[3 * k2 + 2]
            for p in range(q, P):
                tmp[(r * al + k2) * WCHUNK + p] = (
                    a0 * Wt[(3 * r) * WCHUNK + p] + a1 * Wt[(3 * r + 1) * WCHUNK + p]
                    + a2 * Wt[(3 * r + 2) * WCHUNK + p])
    for k1 in range(al if nw == 2 else 1):
        a0 = G[3 * k1]
        a1 = G[3 * k1 + 1]
        a2 = G[3 * k1 + 2]
        for k2 in range(al):            # along h: U[k1 * al + k2] = sum_r G[k1, r] tmp[r, k2]
            dst = U + (g * F + k1 * al + k2) * per_g + p0
            if nw == 2:
                for p in range(q, P):
                    dst[p] = <real>(a0 * tmp[k2 * WCHUNK + p] + a1 * tmp[(al + k2) * WCHUNK + p]
                                    + a2 * tmp[(2 * al + k2) * WCHUNK + p])
            else:
                for p in range(P):
                    dst[p] = <real>tmp[k2 * WCHUNK + p]
    free(Wt)
    return 0


def transform_weight(const real[:, :, :, ::1] w, real[:, :, :, ::1] U, int m,
                     int nw, Py_ssize_t groups, int nthreads):
    """``U[g, f, co_l, ci] = (G w[co, ci] G^T)[f]``: float32 3x3 kernels in float32
    (AVX-512, relative error ~1e-7), everything else in double.

    ``w`` is (Co, Cig, KH, KW) with (KH, KW) = (3, 3) (``nw=2``) or (1, 3) (``nw=1``).
    """
    cdef Py_ssize_t Co = w.shape[0], Cig = w.shape[1]
    cdef Py_ssize_t job, njobs
    cdef int err = 0
    if Co == 0 or Cig == 0:
        return U
    njobs = groups * ((Co // groups * Cig + WCHUNK - 1) // WCHUNK)
    cdef const real* wp = &w[0, 0, 0, 0]
    cdef real* Up = &U[0, 0, 0, 0]
    with nogil:
        if nthreads > 1:
            for job in prange(njobs, schedule="static", num_threads=nthreads):
                err += _weight_chunk(wp, Up, job, Co, Cig, groups, m, nw)
        else:
            for job in range(njobs):
                err += _weight_chunk(wp, Up, job, Co, Cig, groups, m, nw)
    if err:
        raise MemoryError("winograd: out of memory in the weight transform")
    return U


cdef inline void _gemm(real* A, real* B, real* C, int M, int N, int K,
                       int ld) noexcept nogil:
    """Column-major C (M x N) = A (M x K) @ B (K x N), single-threaded BLAS;
    A and C have leading dimension ``ld``."""
    gemm(False, M, N, K, A, ld, B, K, False, C, ld)


cdef inline void _at1(int m, const real* s, Py_ssize_t ss, real* d, real bias,
                      Py_ssize_t nj) noexcept nogil:
    """A^T of ``s[k * ss]`` (alpha values) + bias -> the first ``nj`` of m outputs
    ``d[0:nj]`` (one contiguous output row of a tile).  Results go straight to
    ``d`` (a stack array read back as a vector would stall store forwarding)."""
    cdef real m0, m1, m2, m3, m4, m5, a, b, c, e, y0, y1, y2, y3
    cdef real two = 2, four = 4, eight = 8  # typed: Cython would write 4.0 (double)
    if m == 4:
        m0 = s[0]
        m1 = s[ss]
        m2 = s[2 * ss]
        m3 = s[3 * ss]
        m4 = s[4 * ss]
        m5 = s[5 * ss]
        a = m1 + m2
        b = m1 - m2
        c = m3 + m4
        e = m3 - m4
        y0 = m0 + a + c + bias
        y1 = b + two * e + bias
        y2 = a + four * c + bias
        y3 = b + eight * e + m5 + bias
        d[0] = y0
        if nj == 4:
            d[1] = y1
            d[2] = y2
            d[3] = y3
        else:
            if nj > 1:
                d[1] = y1
            if nj > 2:
                d[2] = y2
    else:
        m1 = s[ss]
        m2 = s[2 * ss]
        d[0] = s[0] + m1 + m2 + bias
        if nj > 1:
            d[1] = m1 - m2 - s[3 * ss] + bias


cdef void _job(
    const real* x, const real* U, const real* b, bint has_bias, real* out,
    Py_ssize_t job, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t Co, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t groups,
    Py_ssize_t ph, Py_ssize_t pw, int m, int nw, Py_ssize_t tb, Py_ssize_t cob,
    real* D, real* V, real* Mb, Py_ssize_t Lv, Py_ssize_t FV, Py_ssize_t FM, bint shared,
    Py_ssize_t* info, int stages,
) noexcept nogil:
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t ah = al if nw == 2 else 1
    cdef Py_ssize_t mh = m if nw == 2 else 1
    cdef Py_ssize_t F = ah * al
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t TH = (OH + mh - 1) // mh, TW = (OW + m - 1) // m
    cdef Py_ssize_t per_img = TH * TW
    cdef Py_ssize_t NT = N * per_img
    cdef Py_ssize_t ncob = (cog + cob - 1) // cob
    cdef Py_ssize_t jcb = job % ncob
    cdef Py_ssize_t r = job // ncob
    cdef Py_ssize_t g = r % groups
    cdef Py_ssize_t blk = r // groups
    cdef Py_ssize_t t0 = blk * tb
    cdef Py_ssize_t T = tb if t0 + tb <= NT else NT - t0
    cdef Py_ssize_t co0 = jcb * cob
    cdef Py_ssize_t nco = cob if co0 + cob <= cog else cog - co0
    cdef Py_ssize_t HW = H * W, OHW = OH * OW
    cdef Py_ssize_t ci, t, tt, n, th, tw, i, j, ih, iw, ih0, iw0, f, co, oh, ow, k
    cdef Py_ssize_t nh, nj
    cdef const real* xc
    cdef const real* src
    cdef Py_ssize_t L = wg_ld(tb)
    if shared:  # phased mode: V and M hold every tile, per group; our columns
        V = V + g * F * FV + t0
        Mb = Mb + g * F * FM + t0
    cdef real* Tmp = D + F * L  # second half of the D buffer
    cdef real* orow
    cdef real bias
    # per-tile geometry, once per job: output origin and extent, input runs
    cdef Py_ssize_t* ooff = info + tb
    cdef Py_ssize_t* oext = info + 4 * tb   # (rows, cols) of the tile inside out
    # runs of consecutive tiles on one tile row: (first tile, count, image
    # offset, ih0, iw0 of the first tile)
    cdef Py_ssize_t* seg = info + 7 * tb
    cdef Py_ssize_t nseg = 0, s0, cnt, span, lo, hi, last, full
    cdef real* rb = D                       # row buffer (D's first half is free here)
    for tt in range(T):
        t = t0 + tt
        n = t // per_img
        th = (t % per_img) // TW
        tw = t % TW
        ih0 = th * mh - ph
        iw0 = tw * m - pw
        ooff[tt] = n * Co * OHW + th * mh * OW + tw * m
        oext[2 * tt] = mh if th * mh + mh <= OH else OH - th * mh
        oext[2 * tt + 1] = m if tw * m + m <= OW else OW - tw * m
        if tt == 0 or tw == 0:
            seg[5 * nseg] = tt
            seg[5 * nseg + 1] = 0
            seg[5 * nseg + 2] = n * C * HW
            seg[5 * nseg + 3] = ih0
            seg[5 * nseg + 4] = iw0
            nseg += 1
        seg[5 * (nseg - 1) + 1] += 1
    # ---- 1. input transform into V[f, ci, t] ----
    cdef int done = 0
    if real is float:  # AVX-512: 16 tiles of any rows per step (wg_input_f)
        # (2-D, or short 1-D rows: long 1-D rows vectorise well in the generic loops)
        if stages & 1 and _simd & 1 and (nw == 2 or TW <= 16):
            done = wg_input_f(m, <int>ah, x + (t0 // per_img) * C * HW + g * cig * HW, HW,
                              C * HW, cig, H, W, ph, pw, t0, T, TW, per_img, V, Lv, FV, 0)
    for ci in range(cig if stages & 1 and not done else 0):
        xc = x + (g * cig + ci) * HW
        for s0 in range(nseg):           # along w, vectorised over each run of tiles
            tt = seg[5 * s0]
            cnt = seg[5 * s0 + 1]
            ih0 = seg[5 * s0 + 3]
            iw0 = seg[5 * s0 + 4]
            span = (cnt - 1) * m + al
            lo = -iw0 if iw0 < 0 else 0
            hi = W - iw0 if iw0 + span > W else span
            for i in range(ah):
                ih = ih0 + i
                if ih < 0 or ih >= H:
                    for k in range(al):
                        for j in range(cnt):
                            Tmp[(i * al + k) * L + tt + j] = 0
                    continue
                src = xc + seg[5 * s0 + 2] + ih * W + iw0
                if lo == 0 and hi == span:
                    _rowbt(m, src, Tmp + i * al * L + tt, L, cnt)
                else:
                    for j in range(lo):
                        rb[j] = 0
                    for j in range(lo, hi):
                        rb[j] = src[j]
                    for j in range(hi, span):
                        rb[j] = 0
                    _rowbt(m, rb, Tmp + i * al * L + tt, L, cnt)
        if nw == 2:
            for k in range(al):      # along h: f = i' * al + k
                _bt(m, Tmp + k * L, al * L, V + k * FV + ci * Lv, al * FV, T)
        else:
            for k in range(al):
                for tt in range(T):
                    V[k * FV + ci * Lv + tt] = Tmp[k * L + tt]
    # ---- 2. per-frequency GEMMs: M[f] (nco x T) = U[g, f, co0:co0+nco] @ V[f] ----
    for f in range(F if stages & 2 else 0):
        _gemm(V + f * FV, <real*>(U + ((g * F + f) * cog + co0) * cig),
              Mb + f * FM, <int>T, <int>nco, <int>cig, <int>Lv)
    # ---- 3. output transform (along h vectorised over the block's tiles,
    #         along w over each run of tiles straight into the output rows),
    #         bias ----
    done = 0
    if real is float:  # AVX-512: 16 tiles of any rows per step (wg_output_f)
        # (rows of <= 16 tiles: longer ones scatter slower than the generic loops)
        if stages & 4 and _simd & 2 and TW <= 16:
            done = wg_output_f(m, <int>ah, Mb, Lv, FM, nco,
                               b + g * cog + co0 if has_bias else NULL,
                               out + (t0 // per_img) * Co * OHW + (g * cog + co0) * OHW, OHW,
                               Co * OHW, OH, OW, t0, T, TW, per_img)
    for co in range(nco if stages & 4 and not done else 0):
        bias = b[g * cog + co0 + co] if has_bias else 0
        if nw == 2:
            for k in range(al):      # D[i, k, t] = sum_k1 A^T[i, k1] M[k1 * al + k]
                _at(m, Mb + k * FM + co * Lv, al * FM, D + k * L, al * L, T)
        else:
            for k in range(al):
                for tt in range(T):
                    D[k * L + tt] = Mb[k * FM + co * Lv + tt]
        orow = out + (g * cog + co0 + co) * OHW
        for s0 in range(nseg):       # along w, vectorised over each run of tiles
            tt = seg[5 * s0]
            cnt = seg[5 * s0 + 1]
            nh = oext[2 * tt]
            last = tt + cnt - 1
            full = cnt if oext[2 * last + 1] == m else cnt - 1
            for i in range(nh):
                if full > 0:
                    _rowat(m, D + i * al * L + tt, L, orow + ooff[tt] + i * OW, bias, full)
                if full < cnt:       # the run's last tile sticks out of the output
                    _at1(m, D + i * al * L + last, L, orow + ooff[last] + i * OW, bias,
                         oext[2 * last + 1])


def workspace_items(int m, int nw, Py_ssize_t cig, Py_ssize_t tb, Py_ssize_t cob):
    """Scratch elements one thread needs (``D`` + ``V`` + ``M`` + ``Y``)."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t L = wg_ld(tb)
    return 2 * F * L + F * wg_ld(cig * L) + F * wg_ld(cob * L)


def shared_items(int m, int nw, Py_ssize_t groups, Py_ssize_t cig, Py_ssize_t cog,
                 Py_ssize_t NT):
    """Elements of the phased mode's shared V + M buffers (every tile at once)."""
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t F = al * (al if nw == 2 else 1)
    cdef Py_ssize_t Lv = wg_ld(NT)
    return groups * F * (wg_ld(cig * Lv) + wg_ld(cog * Lv))


def winograd_forward(
    const real[:, :, :, ::1] x, const real[:, :, :, ::1] U, const real[::1] b,
    bint has_bias, real[:, :, :, ::1] out, Py_ssize_t ph, Py_ssize_t pw, int m, int nw,
    Py_ssize_t groups, Py_ssize_t tb, Py_ssize_t cob, real[:, ::1] work,
    Py_ssize_t[:, ::1] iwork, int nthreads, int stages=7, real[::1] shared=None,
):
    """Winograd F(m, 3) convolution into ``out`` (see the module docstring).

    ``work`` is ``(nthreads, workspace_items(...))`` scratch of the compute
    dtype, ``iwork`` ``(nthreads, 12 * tb)`` int64 scratch.  Call with BLAS
    limited to one thread (``threads.blas_threads(1)``).

    ``shared`` (``shared_items(...)`` elements) selects the phased mode, for
    few tiles and wide channels: (1) the input transforms of every tile block
    into one shared ``V``; (2) one GEMM per (group, frequency) over *all*
    tiles, the frequencies spread over the threads (each weight panel packed
    once, longer GEMMs); (3) the output transforms per tile block.  ``cob``
    must then be C_out / groups.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t al = m + 2
    cdef Py_ssize_t ah = al if nw == 2 else 1
    cdef Py_ssize_t mh = m if nw == 2 else 1
    cdef Py_ssize_t F = ah * al
    cdef Py_ssize_t cig = C // groups, cog = Co // groups
    cdef Py_ssize_t NT = N * ((OH + mh - 1) // mh) * ((OW + m - 1) // m)
    cdef Py_ssize_t nblk = (NT + tb - 1) // tb
    cdef Py_ssize_t ncob = (cog + cob - 1) // cob
    cdef Py_ssize_t njobs = nblk * groups * ncob
    cdef Py_ssize_t job, tid, gf
    cdef real* base
    cdef bint phased = shared is not None
    if njobs == 0:
        return
    if work.shape[0] < nthreads or work.shape[1] < workspace_items(m, nw, cig, tb, cob):
        raise ValueError("winograd: work buffer too small")
    if iwork.shape[0] < nthreads or iwork.shape[1] < 12 * tb:
        raise ValueError("winograd: iwork buffer too small")
    if phased and (cob != cog or shared.shape[0] < shared_items(m, nw, groups, cig, cog, NT)):
        raise ValueError("winograd: shared buffer too small or cob != C_out / groups")
    cdef Py_ssize_t ws = work.shape[1]
    cdef Py_ssize_t L = wg_ld(tb)
    cdef Py_ssize_t oV = 2 * F * L, oM = 2 * F * L + F * wg_ld(cig * L)
    cdef Py_ssize_t Lv = L, FV = wg_ld(cig * L), FM = wg_ld(cob * L)
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef const real* Up = &U[0, 0, 0, 0]
    cdef const real* bp = &b[0]
    cdef real* op = &out[0, 0, 0, 0]
    cdef real* wp = &work[0, 0]
    cdef Py_ssize_t* iwp = &iwork[0, 0]
    cdef Py_ssize_t iws = iwork.shape[1]
    cdef real* Vs = NULL
    cdef real* Ms = NULL
    if phased:
        Lv = wg_ld(NT)
        FV = wg_ld(cig * Lv)
        FM = wg_ld(cog * Lv)
        Vs = &shared[0]
        Ms = Vs + groups * F * FV
        with nogil, parallel(num_threads=nthreads):
            tid = threadid()
            base = wp + tid * ws
            for job in prange(njobs, schedule="dynamic"):
                _job(xp, Up, bp, has_bias, op, job, N, C, H, W, Co, OH, OW, groups,
                     ph, pw, m, nw, tb, cob, base, Vs, Ms, Lv, FV, FM, True,
                     iwp + tid * iws, stages & 1)
        if stages & 2:
            with nogil:
                for gf in prange(groups * F, schedule="dynamic", num_threads=nthreads):
                    _gemm(Vs + gf * FV, <real*>(Up + gf * cog * cig), Ms + gf * FM,
                          <int>NT, <int>cog, <int>cig, <int>Lv)
        with nogil, parallel(num_threads=nthreads):
            tid = threadid()
            base = wp + tid * ws
            for job in prange(njobs, schedule="dynamic"):
                _job(xp, Up, bp, has_bias, op, job, N, C, H, W, Co, OH, OW, groups,
                     ph, pw, m, nw, tb, cob, base, Vs, Ms, Lv, FV, FM, True,
                     iwp + tid * iws, stages & 4)
        return
    if nthreads > 1:
        with nogil, parallel(num_threads=nthreads):
            tid = threadid()
            base = wp + tid * ws
            for job in prange(njobs, schedule="dynamic"):
                _job(xp, Up, bp, has_bias, op, job, N, C, H, W, Co, OH, OW, groups,
                     ph, pw, m, nw, tb, cob, base, base + oV, base + oM, Lv, FV, FM,
                     False, iwp + tid * iws, stages)
    else:
        base = wp
        tid = 0
        with nogil:
            for job in range(njobs):
                _job(xp, Up, bp, has_bias, op, job, N, C, H, W, Co, OH, OW, groups,
                     ph, pw, m, nw, tb, cob, base, base + oV, base + oM, Lv, FV, FM,
                     False, iwp + tid * iws, stages)


# ---------------------------------------------------------------------------
# fused-weight F(4x4,3x3) mode (float32, AVX-512; see wg_fused_job)
# ---------------------------------------------------------------------------
def fused_available():
    """True when this build has the fused-weight mode (AVX-512)."""
    return wg_fused_job(NULL, 0, 0, NULL, 0, 0, 0, 0, 1, NULL, NULL, 0, 0) == 1


def fused_items(Py_ssize_t C, Py_ssize_t NT, Py_ssize_t cob, Py_ssize_t cib):
    """(shared V elements, per-thread scratch elements) of the fused mode."""
    cdef Py_ssize_t T16 = (NT + 15) // 16 * 16
    cdef Py_ssize_t lv = wg_ld(T16), lu = (cob + 15) // 16 * 16
    return 36 * wg_ld(C * lv), 36 * wg_ld(cib * lu) + 36 * wg_ld(lu * wg_ld(T16)) + 64


def winograd_fused(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w,
                   const float[::1] b, bint has_bias, float[:, :, :, ::1] out,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t cob, Py_ssize_t cib,
                   float[::1] vbuf, float[:, ::1] work, int nthreads, int stages=15):
    """F(4x4,3x3) convolution (groups = 1) in the fused-weight mode: the input
    transform of every tile into ``vbuf`` (channel chunks over the threads), then
    one job per block of ``cob`` output channels: weight transform per block of
    ``cib`` input channels, the 36 products, the output transform.  Buffers:
    ``fused_items``; ``work`` has ``nthreads`` rows.  ``stages`` (bits: 1 input
    transform, 2 weight transforms, 4 products, 8 output transform) is for
    timing the stages separately and leaves ``out`` incomplete unless 15."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Co = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t TH = (OH + 3) // 4, TW = (OW + 3) // 4, per_img = TH * TW
    cdef Py_ssize_t NT = N * per_img
    if NT == 0 or Co == 0:
        return
    if w.shape[0] != Co or w.shape[1] != C or w.shape[2] != 3 or w.shape[3] != 3:
        raise ValueError("winograd_fused: weight must be (C_out, C_in, 3, 3)")
    cdef Py_ssize_t T16 = (NT + 15) // 16 * 16
    cdef Py_ssize_t lv = wg_ld(T16), fv = wg_ld(C * lv), lm = wg_ld(T16)
    cdef Py_ssize_t lu = (cob + 15) // 16 * 16
    vi, wi = fused_items(C, NT, cob, cib)
    if vbuf.shape[0] < vi or work.shape[0] < nthreads or work.shape[1] < wi:
        raise ValueError("winograd_fused: buffers too small")
    cdef Py_ssize_t HW = H * W, OHW = OH * OW
    cdef Py_ssize_t nchunk = (C + 63) // 64, njobs = (Co + cob - 1) // cob
    cdef Py_ssize_t job, ci0, nci, co0, nco, tid
    cdef int bad = 0
    cdef const float* xp = &x[0, 0, 0, 0]
    cdef const float* wp = &w[0, 0, 0, 0]
    cdef const float* bp = &b[0]
    cdef float* op = &out[0, 0, 0, 0]
    cdef float* V = &vbuf[0]
    cdef float* base
    cdef Py_ssize_t ws = work.shape[1]
    with nogil, parallel(num_threads=nthreads):
        for job in prange(nchunk if stages & 1 else 0, schedule="static"):
            ci0 = job * 64
            nci = 64 if ci0 + 64 <= C else C - ci0
            # (every lane up to NT rounded to 16 written: the products read them,
            # and uninitialised memory there could hold slow subnormals)
            if not wg_input_f(4, 6, xp + ci0 * HW, HW, C * HW, nci, H, W, ph, pw, 0, NT, TW,
                              per_img, V + ci0 * lv, lv, fv, 1):
                bad += 1
    if bad:
        raise ValueError("winograd_fused: input too large for 32-bit gather offsets")
    with nogil, parallel(num_threads=nthreads):
        tid = threadid()
        base = &work[0, 0] + tid * ws
        for job in prange(njobs, schedule="dynamic"):
            co0 = job * cob
            nco = cob if co0 + cob <= Co else Co - co0
            wg_fused_job(V, lv, fv, wp, C, co0, nco, NT, cib, base,
                         base + 36 * wg_ld(cib * lu), lm, stages)
            # (the job's M: frequencies wg_ld(lu_j * lm) apart, lu_j = nco rounded
            # up to 16, as wg_fused_job lays it out)
            if stages & 8 and not wg_output_f(
                    4, 6, base + 36 * wg_ld(cib * lu), lm, wg_ld((nco + 15) // 16 * 16 * lm),
                    nco, bp + co0 if has_bias else NULL, op + co0 * OHW, OHW, Co * OHW, OH, OW,
                    0, NT, TW, per_img):
                bad += 1
    if bad:
        raise ValueError("winograd_fused: output too large for 32-bit scatter offsets")
