"""Winograd F(m, 3) convolution, Numba backend (same contract as the Cython one).

Layouts (C-contiguous, compute dtype): ``x`` (N, C, H, W) (1-D: H = 1),
``U`` (G, F, Cog, Cig) Winograd-domain weights from :func:`transform_weight`,
``out`` (N, Co, OH, OW).

One job = one block of ``tb`` consecutive output tiles x one group x one block
of ``cob`` output channels, on one thread, with private buffers:

1. input patches (zero padding implicit) -> ``B^T d B`` -> ``V[f, ci, t]``
   (along w over each run of tiles on a tile row, along h over the block);
2. ``F`` per-frequency GEMMs ``M[f] = U[g, f, co-block] @ V[f]`` with
   ``np.dot`` on contiguous blocks (Numba calls BLAS; the caller limits BLAS
   to one thread, ``threads.blas_threads(1)``);
3. ``A^T M A`` + bias written straight into the output tiles.

The transforms run over vectors of tiles (unit stride) so LLVM vectorises
them.  Arithmetic constants are passed in the compute dtype (``kc``): a
Python literal would promote float32 arithmetic to float64.  Blocks depend on
the spec only and each output element is produced by one job in a fixed
order, so results are bit-identical for any thread count.
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _ld(n):
    """Odd multiple of 16 elements >= n (frequency stride: no 4K aliasing)."""
    n = (n + 15) // 16
    return 16 * (n + 1 - n % 2)


@njit(cache=True, fastmath=FASTMATH)
def _bt(m, s, so, ss, d, do, ds, T, kc):
    """B^T over vectors of T tiles: s[so + j*ss + t] -> d[do + k*ds + t]."""
    two, four, five = kc[0], kc[1], kc[2]
    if m == 4:
        for t in range(T):
            d0 = s[so + t]
            d1 = s[so + ss + t]
            d2 = s[so + 2 * ss + t]
            d3 = s[so + 3 * ss + t]
            d4 = s[so + 4 * ss + t]
            d5 = s[so + 5 * ss + t]
            d[do + t] = four * d0 - five * d2 + d4
            d[do + ds + t] = -four * (d1 + d2) + (d3 + d4)
            d[do + 2 * ds + t] = four * (d1 - d2) + (d4 - d3)
            d[do + 3 * ds + t] = two * (d3 - d1) + (d4 - d2)
            d[do + 4 * ds + t] = two * (d1 - d3) + (d4 - d2)
            d[do + 5 * ds + t] = four * d1 - five * d3 + d5
    else:
        for t in range(T):
            d0 = s[so + t]
            d1 = s[so + ss + t]
            d2 = s[so + 2 * ss + t]
            d3 = s[so + 3 * ss + t]
            d[do + t] = d0 - d2
            d[do + ds + t] = d1 + d2
            d[do + 2 * ds + t] = d2 - d1
            d[do + 3 * ds + t] = d1 - d3


@njit(cache=True, fastmath=FASTMATH)
def _at(m, s, so, ss, d, do, ds, T, kc):
    """A^T over vectors of T tiles: alpha inputs -> m outputs."""
    two, four, eight = kc[0], kc[1], kc[3]
    if m == 4:
        for t in range(T):
            m0 = s[so + t]
            m1 = s[so + ss + t]
            m2 = s[so + 2 * ss + t]
            m3 = s[so + 3 * ss + t]
            m4 = s[so + 4 * ss + t]
            m5 = s[so + 5 * ss + t]
            a = m1 + m2
            b = m1 - m2
            c = m3 + m4
            e = m3 - m4
            d[do + t] = m0 + a + c
            d[do + ds + t] = b + two * e
            d[do + 2 * ds + t] = a + four * c
            d[do + 3 * ds + t] = b + eight * e + m5
    else:
        for t in range(T):
            m1 = s[so + ss + t]
            m2 = s[so + 2 * ss + t]
            d[do + t] = s[so + t] + m1 + m2
            d[do + ds + t] = m1 - m2 - s[so + 3 * ss + t]


@njit(cache=True, fastmath=FASTMATH)
def _rowbt(m, r, ro, d, do, ds, n, kc):
    """B^T along one input row for n consecutive tiles: tile q reads
    r[ro + m q : ro + m q + m + 2], writes d[do + k*ds + q]."""
    two, four, five = kc[0], kc[1], kc[2]
    if m == 4:
        for q in range(n):
            p = ro + 4 * q
            d0 = r[p]
            d1 = r[p + 1]
            d2 = r[p + 2]
            d3 = r[p + 3]
            d4 = r[p + 4]
            d5 = r[p + 5]
            d[do + q] = four * d0 - five * d2 + d4
            d[do + ds + q] = -four * (d1 + d2) + (d3 + d4)
            d[do + 2 * ds + q] = four * (d1 - d2) + (d4 - d3)
            d[do + 3 * ds + q] = two * (d3 - d1) + (d4 - d2)
            d[do + 4 * ds + q] = two * (d1 - d3) + (d4 - d2)
            d[do + 5 * ds + q] = four * d1 - five * d3 + d5
    else:
        for q in range(n):
            p = ro + 2 * q
            d0 = r[p]
            d1 = r[p + 1]
            d2 = r[p + 2]
            d3 = r[p + 3]
            d[do + q] = d0 - d2
            d[do + ds + q] = d1 + d2
            d[do + 2 * ds + q] = d2 - d1
            d[do + 3 * ds + q] = d1 - d3


@njit(cache=True, fastmath=FASTMATH)
def _rowat(m, s, so, ss, y, yo, bias, n, kc):
    """A^T along one output row for n consecutive full tiles, + bias:
    s[so + k*ss + q] -> y[yo + m q : yo + m q + m]."""
    two, four, eight = kc[0], kc[1], kc[3]
    if m == 4:
        for q in range(n):
            m1 = s[so + ss + q]
            m2 = s[so + 2 * ss + q]
            m3 = s[so + 3 * ss + q]
            m4 = s[so + 4 * ss + q]
            a = m1 + m2
            b = m1 - m2
            c = m3 + m4
            e = m3 - m4
            p = yo + 4 * q
            y[p] = s[so + q] + a + c + bias
            y[p + 1] = b + two * e + bias
            y[p + 2] = a + four * c + bias
            y[p + 3] = b + eight * e + s[so + 5 * ss + q] + bias
    else:
        for q in range(n):
            m1 = s[so + ss + q]
            m2 = s[so + 2 * ss + q]
            p = yo + 2 * q
            y[p] = s[so + q] + m1 + m2 + bias
            y[p + 1] = m1 - m2 - s[so + 3 * ss + q] + bias


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _at1(m, s, so, ss, d, do, bias, nj, kc):
    """A^T of s[so + k*ss] (alpha values) + bias -> d[do:do+nj] (nj <= m)."""
    two, four, eight = kc[0], kc[1], kc[3]
    if m == 4:
        m0 = s[so]
        m1 = s[so + ss]
        m2 = s[so + 2 * ss]
        m3 = s[so + 3 * ss]
        m4 = s[so + 4 * ss]
        m5 = s[so + 5 * ss]
        a = m1 + m2
        b = m1 - m2
        c = m3 + m4
        e = m3 - m4
        y0 = m0 + a + c
        y1 = b + two * e
        y2 = a + four * c
        y3 = b + eight * e + m5
        d[do] = y0 + bias
        if nj > 1:
            d[do + 1] = y1 + bias
        if nj > 2:
            d[do + 2] = y2 + bias
        if nj > 3:
            d[do + 3] = y3 + bias
    else:
        m1 = s[so + ss]
        m2 = s[so + 2 * ss]
        d[do] = s[so] + m1 + m2 + bias
        if nj > 1:
            d[do + 1] = m1 - m2 - s[so + 3 * ss] + bias


#: G matrices (alpha x 3) of F(2,3) and F(4,3).
_G = {
    2: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
    4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
}
#: kernels per chunk of the weight transform (its buffers stay in L1/L2)
_WCHUNK = 256


@njit(cache=True, fastmath=FASTMATH)
def _weight_chunk(w, U, job, groups, m, nw, G):
    """One chunk of (co, ci) kernel pairs of one group, as plain loops over the
    chunk (vectorised), in float64: U[g, f, pair] = (G w G^T)[f]."""
    Co, Cig = w.shape[0], w.shape[1]
    cog = Co // groups
    al = m + 2
    per_g = cog * Cig
    nch = (per_g + _WCHUNK - 1) // _WCHUNK
    g = job // nch
    p0 = (job % nch) * _WCHUNK
    P = min(_WCHUNK, per_g - p0)
    KK = 9 if nw == 2 else 3
    R = 3 if nw == 2 else 1
    F = al * al if nw == 2 else al
    wf = w.reshape(-1)
    Uf = U.reshape(-1)
    src = (g * per_g + p0) * KK
    Wt = np.empty((KK, _WCHUNK))
    tmp = np.empty((R * al, _WCHUNK))
    for p in range(P):
        for k in range(KK):
            Wt[k, p] = wf[src + p * KK + k]
    for r in range(R):  # along w
        for k2 in range(al):
            a0, a1, a2 = G[k2, 0], G[k2, 1], G[k2, 2]
            for p in range(P):
                tmp[r * al + k2, p] = (a0 * Wt[3 * r, p] + a1 * Wt[3 * r + 1, p]
                                       + a2 * Wt[3 * r + 2, p])
    for k1 in range(al if nw == 2 else 1):
        a0, a1, a2 = G[k1, 0], G[k1, 1], G[k1, 2]
        for k2 in range(al):  # along h: f = k1 * al + k2
            d = (g * F + k1 * al + k2) * per_g + p0
            if nw == 2:
                for p in range(P):
                    Uf[d + p] = (a0 * tmp[k2, p] + a1 * tmp[al + k2, p]
                                 + a2 * tmp[2 * al + k2, p])
            else:
                for p in range(P):
                    Uf[d + p] = tmp[k2, p]


@njit(cache=True, fastmath=FASTMATH)
def _transform_weight_serial(w, U, m, nw, groups, njobs, G):
    for job in range(njobs):
        _weight_chunk(w, U, job, groups, m, nw, G)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _transform_weight_parallel(w, U, m, nw, groups, njobs, G):
    for job in prange(njobs):
        _weight_chunk(w, U, job, groups, m, nw, G)


def transform_weight(w, U, m, nw, groups, nthreads):
    """``U[g, f, co_l, ci] = (G w[co, ci] G^T)[f]``, computed in float64.

    ``w`` is (Co, Cig, KH, KW) with (KH, KW) = (3, 3) (``nw=2``) or (1, 3) (``nw=1``).
    """
    Co, Cig = w.shape[0], w.shape[1]
    if Co == 0 or Cig == 0:
        return U
    njobs = groups * (-(-(Co // groups * Cig) // _WCHUNK))
    args = (w, U, int(m), int(nw), int(groups), int(njobs), _G[int(m)])
    if nthreads > 1:
        numba_threads(nthreads)
        _transform_weight_parallel(*args)
    else:
        _transform_weight_serial(*args)
    return U


@njit(cache=True, fastmath=FASTMATH)
def _job(x, U, b, has_bias, out, job, ph, pw, m, nw, groups, tb, cob, kc, stages,
         Vs, Ms, shared):
    N, C, H, W = x.shape
    Co, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    Uf = U.reshape(-1)
    al = m + 2
    ah = al if nw == 2 else 1
    mh = m if nw == 2 else 1
    F = ah * al
    cig = C // groups
    cog = Co // groups
    TH = (OH + mh - 1) // mh
    TW = (OW + m - 1) // m
    per_img = TH * TW
    NT = N * per_img
    ncob = (cog + cob - 1) // cob
    jcb = job % ncob
    r = job // ncob
    g = r % groups
    blk = r // groups
    t0 = blk * tb
    T = tb if t0 + tb <= NT else NT - t0
    co0 = jcb * cob
    nco = cob if co0 + cob <= cog else cog - co0
    HW = H * W
    OHW = OH * OW
    L = T  # row length of the transform buffers
    if shared:  # phased mode: V and M of every tile (rows of NT), per group
        Lv = NT
        FV = _ld(cig * Lv)
        FM = _ld(cog * Lv)
        V = Vs
        Mb = Ms
        vo = g * F * FV + t0
        mo = g * F * FM + t0
    else:  # private block buffers (contiguous GEMM operands for np.dot)
        Lv = T
        FV = _ld(cig * Lv)
        FM = _ld(nco * Lv)
        V = np.empty(F * FV, x.dtype)
        Mb = np.empty(F * FM, x.dtype)
        vo = 0
        mo = 0
    dt = x.dtype
    D = np.empty(2 * F * L, dt)
    zero = kc[4]
    tmp0 = F * L  # the second half of D
    # per-tile geometry, once per job
    ooff = np.empty(T, np.int64)
    nhs = np.empty(T, np.int64)
    njs = np.empty(T, np.int64)
    seg_tt = np.empty(T, np.int64)
    seg_cnt = np.empty(T, np.int64)
    seg_nb = np.empty(T, np.int64)
    seg_ih0 = np.empty(T, np.int64)
    seg_iw0 = np.empty(T, np.int64)
    nseg = 0
    rb = np.empty(m * T + 8, dt)
    for tt in range(T):
        t = t0 + tt
        n = t // per_img
        th = (t % per_img) // TW
        tw = t % TW
        ih0 = th * mh - ph
        iw0 = tw * m - pw
        ooff[tt] = n * Co * OHW + th * mh * OW + tw * m
        nhs[tt] = mh if th * mh + mh <= OH else OH - th * mh
        njs[tt] = m if tw * m + m <= OW else OW - tw * m
        if tt == 0 or tw == 0:  # a new run of tiles on one tile row
            seg_tt[nseg] = tt
            seg_cnt[nseg] = 0
            seg_nb[nseg] = n * C * HW
            seg_ih0[nseg] = ih0
            seg_iw0[nseg] = iw0
            nseg += 1
        seg_cnt[nseg - 1] += 1
    # ---- 1. input transform into V[f, ci, t] ----
    if stages & 1:
        for ci in range(cig):
            xc = (g * cig + ci) * HW
            for s0 in range(nseg):  # along w, over each run of tiles
                tt = seg_tt[s0]
                cnt = seg_cnt[s0]
                ih0 = seg_ih0[s0]
                iw0 = seg_iw0[s0]
                span = (cnt - 1) * m + al
                lo = -iw0 if iw0 < 0 else 0
                hi = W - iw0 if iw0 + span > W else span
                for i in range(ah):
                    ih = ih0 + i
                    o = tmp0 + i * al * L + tt
                    if ih < 0 or ih >= H:
                        for k in range(al):
                            for j in range(cnt):
                                D[o + k * L + j] = zero
                        continue
                    src = xc + seg_nb[s0] + ih * W + iw0
                    if lo == 0 and hi == span:
                        _rowbt(m, xf, src, D, o, L, cnt, kc)
                    else:
                        for j in range(span):
                            rb[j] = xf[src + j] if lo <= j < hi else zero
                        _rowbt(m, rb, 0, D, o, L, cnt, kc)
            if nw == 2:
                for k in range(al):  # along h: f = i' * al + k
                    _bt(m, D, tmp0 + k * L, al * L, V, vo + k * FV + ci * Lv, al * FV, T, kc)
            else:
                for k in range(al):
                    for tt in range(T):
                        V[vo + k * FV + ci * Lv + tt] = D[tmp0 + k * L + tt]
    # ---- 2. per-frequency GEMMs ----
    if stages & 2:
        for f in range(F):
            Vf = V[f * FV:f * FV + cig * Lv].reshape(cig, Lv)
            Mf = Mb[f * FM:f * FM + nco * Lv].reshape(nco, Lv)
            uo = ((g * F + f) * cog + co0) * cig
            np.dot(Uf[uo:uo + nco * cig].reshape(nco, cig), Vf, Mf)
    # ---- 3. output transform + bias, into the output rows ----
    if stages & 4:
        for co in range(nco):
            bias = b[g * cog + co0 + co] if has_bias else zero
            if nw == 2:
                for k in range(al):
                    _at(m, Mb, mo + k * FM + co * Lv, al * FM, D, k * L, al * L, T, kc)
            else:
                for k in range(al):
                    for tt in range(T):
                        D[k * L + tt] = Mb[mo + k * FM + co * Lv + tt]
            obase = (g * cog + co0 + co) * OHW
            for s0 in range(nseg):  # along w, over each run of full tiles
                tt = seg_tt[s0]
                cnt = seg_cnt[s0]
                last = tt + cnt - 1
                full = cnt if njs[last] == m else cnt - 1
                for i in range(nhs[tt]):
                    if full > 0:
                        _rowat(m, D, i * al * L + tt, L, of, obase + ooff[tt] + i * OW, bias,
                               full, kc)
                    if full < cnt:  # the run's last tile sticks out of the output
                        _at1(m, D, i * al * L + last, L, of, obase + ooff[last] + i * OW,
                             bias, njs[last], kc)


@njit(cache=True, fastmath=FASTMATH)
def _forward_serial(x, U, b, has_bias, out, ph, pw, m, nw, groups, tb, cob, njobs, kc,
                    stages, Vs, Ms, shared):
    for job in range(njobs):
        _job(x, U, b, has_bias, out, job, ph, pw, m, nw, groups, tb, cob, kc, stages,
             Vs, Ms, shared)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _forward_parallel(x, U, b, has_bias, out, ph, pw, m, nw, groups, tb, cob, njobs, kc,
                      stages, Vs, Ms, shared):
    for job in prange(njobs):
        _job(x, U, b, has_bias, out, job, ph, pw, m, nw, groups, tb, cob, kc, stages,
             Vs, Ms, shared)


@njit(cache=True, fastmath=FASTMATH)
def _phased_gemm(U, Vs, Ms, gf, NT):
    """Phased mode: M[g, f] (cog x NT) = U[g, f] @ V[g, f] over every tile."""
    G, F, cog, cig = U.shape
    FV = _ld(cig * NT)
    FM = _ld(cog * NT)
    Uf = U.reshape(-1)
    np.dot(Uf[gf * cog * cig:(gf + 1) * cog * cig].reshape(cog, cig),
           Vs[gf * FV:gf * FV + cig * NT].reshape(cig, NT),
           Ms[gf * FM:gf * FM + cog * NT].reshape(cog, NT))


@njit(cache=True, fastmath=FASTMATH)
def _phased_gemms_serial(U, Vs, Ms, NT):
    for gf in range(U.shape[0] * U.shape[1]):
        _phased_gemm(U, Vs, Ms, gf, NT)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _phased_gemms_parallel(U, Vs, Ms, NT):
    for gf in prange(U.shape[0] * U.shape[1]):
        _phased_gemm(U, Vs, Ms, gf, NT)


def shared_items(m, nw, groups, cig, cog, NT):
    """Elements of the phased mode's shared V + M buffers (every tile at once)."""
    al = m + 2
    F = al * (al if nw == 2 else 1)
    return groups * F * (int(_ld(cig * NT)) + int(_ld(cog * NT)))


def winograd_forward(x, U, b, has_bias, out, ph, pw, m, nw, groups, tb, cob, work, iwork,
                     nthreads, stages=7, shared=None):
    """Winograd F(m, 3) convolution into ``out`` (see the module docstring).

    ``work``/``iwork`` are accepted for signature parity with the Cython kernel
    (Numba jobs allocate their own block-sized buffers).  ``shared``
    (``shared_items(...)`` elements) selects the phased mode: input transforms
    of all tiles, then one GEMM per (group, frequency) over every tile, then
    the output transforms (``cob`` must be C_out / groups).  Call with BLAS
    limited to one thread (``threads.blas_threads(1)``).
    """
    N, C, H, W = x.shape
    Co, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    mh = m if nw == 2 else 1
    NT = N * (-(-OH // mh)) * (-(-OW // m))
    cog = Co // groups
    njobs = (-(-NT // tb)) * groups * (-(-cog // cob))
    if njobs == 0:
        return out
    kc = np.array([2, 4, 5, 8, 0], dtype=x.dtype)
    phased = shared is not None
    if phased and (cob != cog or shared.shape[0] < shared_items(m, nw, groups, C // groups,
                                                                 cog, NT)):
        raise ValueError("winograd: shared buffer too small or cob != C_out / groups")
    Vs = shared if phased else np.empty(0, x.dtype)
    Ms = shared[groups * (m + 2) ** nw * int(_ld(C // groups * NT)):] if phased else Vs
    args = (x, U, b, bool(has_bias), out, int(ph), int(pw), int(m), int(nw), int(groups),
            int(tb), int(cob), int(njobs), kc)
    if nthreads > 1:
        numba_threads(nthreads)
        run, gemms = _forward_parallel, _phased_gemms_parallel
    else:
        run, gemms = _forward_serial, _phased_gemms_serial
    if not phased:
        run(*args, int(stages), Vs, Ms, False)
        return out
    run(*args, int(stages) & 1, Vs, Ms, True)
    if stages & 2:
        gemms(U, Vs, Ms, int(NT))
    run(*args, int(stages) & 4, Vs, Ms, True)
    return out
