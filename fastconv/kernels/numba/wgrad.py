"""Winograd weight gradient F(m, 3), Numba backend (same contract as ``cython/wgrad.pyx``).

``dW[co, ci] = sum over tiles of G^T [(A go A^T)[co] * (B^T d B)[ci]] G``: per
frequency f one GEMM over tiles ``M[f] (Co x Ci) = sum_t Gt[f, co, t] V[f, ci, t]``,
then ``G^T M G`` per weight (in float64).  ``x`` (N, C, H, W), ``go``
(N, Co, OH, OW) (1-D: H = OH = 1), zero padding ``ph, pw`` implicit.

* fused: jobs (chunk of tile blocks, group), each summing its blocks' GEMMs
  (``np.dot`` on contiguous block buffers) into its own partial ``Mp[chunk, g]``;
  :func:`weight_from_partials` sums the chunks in order.
* phased: transforms of every tile into shared buffers, then one GEMM per
  (group, frequency) over all tiles into ``Mp[0]``.

Arithmetic constants come in the compute dtype (``kc``): a Python literal would
promote float32 arithmetic to float64.  Blocking depends on the case only, so
results are bit-identical for any thread count.  BLAS must be single-threaded
inside (the caller limits it).
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads

# the forward's transforms, stride helper and G matrices: the weight gradient's
# input side is the forward's B^T, only the grad-output side (A) is its own
from .winograd import _G, _bt, _ld, _rowbt


@njit(cache=True, fastmath=FASTMATH)
def _a(m, s, so, ss, d, do, ds, T, kc):
    """A (adjoint of the output transform, m -> m + 2) over vectors of T tiles."""
    two, four = kc[0], kc[1]
    if m == 4:
        for t in range(T):
            g0 = s[so + t]
            g1 = s[so + ss + t]
            g2 = s[so + 2 * ss + t]
            g3 = s[so + 3 * ss + t]
            a = g0 + g2
            b = g1 + g3
            c = g0 + four * g2
            e = g1 + four * g3
            d[do + t] = g0
            d[do + ds + t] = a + b
            d[do + 2 * ds + t] = a - b
            d[do + 3 * ds + t] = c + two * e
            d[do + 4 * ds + t] = c - two * e
            d[do + 5 * ds + t] = g3
    else:
        for t in range(T):
            g0 = s[so + t]
            g1 = s[so + ss + t]
            d[do + t] = g0
            d[do + ds + t] = g0 + g1
            d[do + 2 * ds + t] = g0 - g1
            d[do + 3 * ds + t] = -g1


@njit(cache=True, fastmath=FASTMATH)
def _rowa(m, r, ro, d, do, ds, n, kc):
    """A along one output-gradient row for n consecutive tiles: tile q reads
    r[ro + m q : ro + m q + m], writes d[do + k*ds + q]."""
    two, four = kc[0], kc[1]
    if m == 4:
        for q in range(n):
            p = ro + 4 * q
            g0 = r[p]
            g1 = r[p + 1]
            g2 = r[p + 2]
            g3 = r[p + 3]
            a = g0 + g2
            b = g1 + g3
            c = g0 + four * g2
            e = g1 + four * g3
            d[do + q] = g0
            d[do + ds + q] = a + b
            d[do + 2 * ds + q] = a - b
            d[do + 3 * ds + q] = c + two * e
            d[do + 4 * ds + q] = c - two * e
            d[do + 5 * ds + q] = g3
    else:
        for q in range(n):
            p = ro + 2 * q
            g0 = r[p]
            g1 = r[p + 1]
            d[do + q] = g0
            d[do + ds + q] = g0 + g1
            d[do + 2 * ds + q] = g0 - g1
            d[do + 3 * ds + q] = -g1


@njit(cache=True, fastmath=FASTMATH)
def _transform_block(x, go, t0, T, g, ph, pw, m, nw, groups, V, vo, Gt, go_, Lv, FV, FG,
                     kc, stages):
    """Tiles t0 .. t0+T of group g: V[vo + f*FV + ci*Lv + t] = (B^T d B)[f],
    Gt[go_ + f*FG + co*Lv + t] = (A go A^T)[f] (t from 0)."""
    N, C, H, W = x.shape
    Co, OH, OW = go.shape[1], go.shape[2], go.shape[3]
    xf = x.reshape(-1)
    gf = go.reshape(-1)
    al = m + 2
    ah = al if nw == 2 else 1
    mh = m if nw == 2 else 1
    F = ah * al
    cig = C // groups
    cog = Co // groups
    TH = (OH + mh - 1) // mh
    TW = (OW + m - 1) // m
    per_img = TH * TW
    L = T
    dt = x.dtype
    zero = kc[4]
    o0 = np.int64(t0 - t0)  # offset 0 as a non-literal (a literal 0 argument makes
    # Numba compile the callee once more)
    Tmp = np.empty(F * L, dt)
    rb = np.empty(m * T + 8, dt)
    seg_tt = np.empty(T, np.int64)
    seg_cnt = np.empty(T, np.int64)
    seg_n = np.empty(T, np.int64)
    seg_th = np.empty(T, np.int64)
    seg_tw = np.empty(T, np.int64)
    nseg = 0
    for tt in range(T):  # runs of consecutive tiles on one tile row
        t = t0 + tt
        n = t // per_img
        th = (t % per_img) // TW
        tw = t % TW
        if tt == 0 or tw == 0:
            seg_tt[nseg] = tt
            seg_cnt[nseg] = 0
            seg_n[nseg] = n
            seg_th[nseg] = th
            seg_tw[nseg] = tw
            nseg += 1
        seg_cnt[nseg - 1] += 1
    # ---- input transform ----
    for ci in range(cig if stages & 1 else 0):
        for s0 in range(nseg):
            tt = seg_tt[s0]
            cnt = seg_cnt[s0]
            n = seg_n[s0]
            ih0 = seg_th[s0] * mh - ph
            iw0 = seg_tw[s0] * m - pw
            span = (cnt - 1) * m + al
            lo = min(-iw0 if iw0 < 0 else 0, span)
            hi = max(W - iw0 if iw0 + span > W else span, lo)
            for i in range(ah):
                ih = ih0 + i
                o = i * al * L + tt
                if ih < 0 or ih >= H:
                    for k in range(al):
                        for j in range(cnt):
                            Tmp[o + k * L + j] = zero
                    continue
                src = ((n * C + g * cig + ci) * H + ih) * W + iw0
                if lo == 0 and hi == span:
                    _rowbt(m, xf, src, Tmp, o, L, cnt, kc)
                else:
                    for j in range(span):
                        rb[j] = xf[src + j] if lo <= j < hi else zero
                    _rowbt(m, rb, o0, Tmp, o, L, cnt, kc)
        if nw == 2:
            for k in range(al):
                _bt(m, Tmp, k * L, al * L, V, vo + k * FV + ci * Lv, al * FV, T, kc)
        else:
            for k in range(al):
                for tt in range(T):
                    V[vo + k * FV + ci * Lv + tt] = Tmp[k * L + tt]
    # ---- output-gradient transform ----
    for co in range(cog if stages & 2 else 0):
        for s0 in range(nseg):
            tt = seg_tt[s0]
            cnt = seg_cnt[s0]
            n = seg_n[s0]
            oh0 = seg_th[s0] * mh
            ow0 = seg_tw[s0] * m
            span = cnt * m
            hi = OW - ow0 if ow0 + span > OW else span
            nh = OH - oh0 if oh0 + mh > OH else mh
            for i in range(mh):
                o = i * al * L + tt
                if i >= nh:
                    for k in range(al):
                        for j in range(cnt):
                            Tmp[o + k * L + j] = zero
                    continue
                src = ((n * Co + g * cog + co) * OH + oh0 + i) * OW + ow0
                if hi == span:
                    _rowa(m, gf, src, Tmp, o, L, cnt, kc)
                else:
                    for j in range(span):
                        rb[j] = gf[src + j] if j < hi else zero
                    _rowa(m, rb, o0, Tmp, o, L, cnt, kc)
        if nw == 2:
            for k in range(al):
                _a(m, Tmp, k * L, al * L, Gt, go_ + k * FG + co * Lv, al * FG, T, kc)
        else:
            for k in range(al):
                for tt in range(T):
                    Gt[go_ + k * FG + co * Lv + tt] = Tmp[k * L + tt]


# ---------------------------------------------------------------------------
# fused mode
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH)
def _fused_job(x, go, Mp, job, ph, pw, m, nw, groups, tb, kc, stages):
    N, C, H, W = x.shape
    OH, OW = go.shape[2], go.shape[3]
    nch, _, F, cog, cig = Mp.shape
    mh = m if nw == 2 else 1
    NT = N * ((OH + mh - 1) // mh) * ((OW + m - 1) // m)
    nblk = (NT + tb - 1) // tb
    chunk = job // groups
    g = job % groups
    b0 = chunk * nblk // nch
    b1 = (chunk + 1) * nblk // nch
    Mc = Mp[chunk, g]
    if b1 == b0:
        for f in range(F):
            for i in range(cog):
                for j in range(cig):
                    Mc[f, i, j] = 0
        return
    V = np.empty(F * cig * tb, x.dtype)
    Gt = np.empty(F * cog * tb, x.dtype)
    tmp = np.empty((cog, cig), x.dtype)
    o0 = np.int64(b0 - b0)  # a non-literal 0 (see _transform_block)
    for blk in range(b0, b1):
        t0 = blk * tb
        T = tb if t0 + tb <= NT else NT - t0
        _transform_block(x, go, t0, T, g, ph, pw, m, nw, groups, V, o0, Gt, o0, T, cig * T,
                         cog * T, kc, stages)
        if stages & 4:
            for f in range(F):
                Vf = V[f * cig * T:(f + 1) * cig * T].reshape(cig, T)
                Gf = Gt[f * cog * T:(f + 1) * cog * T].reshape(cog, T)
                np.dot(Gf, Vf.T, tmp)
                # explicit loops: an array expression here costs seconds of JIT time
                Mf = Mc[f]
                if blk == b0:
                    for i in range(cog):
                        for j in range(cig):
                            Mf[i, j] = tmp[i, j]
                else:
                    for i in range(cog):
                        for j in range(cig):
                            Mf[i, j] += tmp[i, j]


#: job kinds of :func:`_parallel`
_FUSED, _PHASED_TRANSFORM, _PHASED_GEMM, _TO_WEIGHT = 0, 1, 2, 3


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _parallel(kind, njobs, x, go, Mp, Vs, Gs, gw, G, ph, pw, m, nw, groups, tb, NT, cob, kc,
              stages):
    """The one parallel loop of this module (each ``parallel=True`` function costs
    seconds of JIT compilation): ``njobs`` jobs of one kind."""
    for job in prange(njobs):
        if kind == _FUSED:
            _fused_job(x, go, Mp, job, ph, pw, m, nw, groups, tb, kc, stages)
        elif kind == _PHASED_TRANSFORM:
            _phased_transform(x, go, Vs, Gs, job, ph, pw, m, nw, groups, tb, NT, kc, stages)
        elif kind == _PHASED_GEMM:
            _phased_gemm(Vs, Gs, gw, job, (m + 2) ** nw, x.shape[1] // groups,
                         go.shape[1] // groups, NT, cob, G, nw)
        else:
            _to_weight_row(Mp, gw, job, G, nw)


def _run(kind, njobs, nthreads, x, go, Mp, Vs=None, Gs=None, gw=None, G=None, ph=0, pw=0,
         m=2, nw=2, groups=1, tb=1, NT=0, cob=1, stages=7):
    """Run ``njobs`` jobs of ``kind`` on ``nthreads`` (unused arguments get
    typed placeholders, so every call shares one compiled signature per dtype)."""
    dt = Mp.dtype
    empty = np.empty(0, dt)
    Vs = empty if Vs is None else Vs
    Gs = empty if Gs is None else Gs
    gw = np.empty((0, 0, 0), dt) if gw is None else gw
    G = _G[2] if G is None else G
    kc = np.array([2, 4, 5, 8, 0], dtype=dt)
    numba_threads(max(1, int(nthreads)))
    _parallel(int(kind), int(njobs), x, go, Mp, Vs, Gs, gw, G, int(ph), int(pw), int(m),
              int(nw), int(groups), int(tb), int(NT), int(cob), kc, int(stages))


def fused_items(m, nw, cig, cog, tb):
    """Scratch elements of one thread in the fused mode (as the Cython kernel's)."""
    al = m + 2
    F = al * (al if nw == 2 else 1)
    L = int(_ld(tb))
    return 2 * F * L + F * int(_ld(cig * L)) + F * int(_ld(cog * L))


def winograd_weight_grad_fused(x, go, Mp, ph, pw, m, nw, groups, tb, nthreads, stages=7):
    """Per-chunk partial sums ``Mp (nchunks, G, F, cog, cig)`` (every element
    written); chunk c sums tile blocks ``c nblk // nchunks ..`` in order."""
    F = (m + 2) ** nw
    nch = Mp.shape[0]
    if Mp.shape[1:] != (groups, F, go.shape[1] // groups, x.shape[1] // groups):
        raise ValueError("wgrad: Mp must be (nchunks, groups, F, C_out/groups, C_in/groups)")
    if Mp.size == 0:
        return Mp
    _run(_FUSED, nch * groups, nthreads, x, go, Mp, ph=ph, pw=pw, m=m, nw=nw,
         groups=groups, tb=tb, stages=stages)
    return Mp


# ---------------------------------------------------------------------------
# G^T M G
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH)
def _to_weight(M, out, G, nw):
    """``out[i, r*3 + s] = sum_{a,b} G[a, r] G[b, s] sum_p M[p, f=(a,b), i]`` (parts
    summed in order, in float64) for the input channels i of one output channel."""
    nparts, F, cig = M.shape
    al = G.shape[0]
    acc = np.empty((F, cig))
    for f in range(F):
        for i in range(cig):
            acc[f, i] = M[0, f, i]
        for p in range(1, nparts):
            for i in range(cig):
                acc[f, i] += M[p, f, i]
    if nw == 1:
        for s in range(3):
            for i in range(cig):
                v = 0.0
                for b in range(al):
                    v += G[b, s] * acc[b, i]
                out[i, s] = v
        return
    tmp = np.zeros((al, 3, cig))
    for a in range(al):
        for s in range(3):
            for b in range(al):
                c = G[b, s]
                if c != 0.0:
                    for i in range(cig):
                        tmp[a, s, i] += c * acc[a * al + b, i]
    for r in range(3):
        for s in range(3):
            for i in range(cig):
                v = 0.0
                for a in range(al):
                    v += G[a, r] * tmp[a, s, i]
                out[i, r * 3 + s] = v


@njit(cache=True, fastmath=FASTMATH)
def _to_weight_row(Mp, gw, job, G, nw):
    cog = Mp.shape[3]
    _to_weight(Mp[:, job // cog, :, job % cog, :], gw[job], G, nw)


def weight_from_partials(Mp, gw, m, nw, nthreads):
    """``gw (Co, cig, KK)`` from ``Mp (nchunks, G, F, cog, cig)``: chunks summed
    in order, then ``G^T M G``, in float64."""
    if gw.size == 0:
        return gw
    dummy = np.empty((1, 1, 1, 1), Mp.dtype)
    _run(_TO_WEIGHT, gw.shape[0], nthreads, dummy, dummy, Mp, gw=gw, G=_G[int(m)], nw=nw)
    return gw


# ---------------------------------------------------------------------------
# phased mode
# ---------------------------------------------------------------------------
def shared_items(m, nw, groups, cig, cog, NT):
    """Elements of the phased mode's shared V + Gt (every tile at once)."""
    F = (m + 2) ** nw
    Lv = int(_ld(NT))
    return groups * F * (int(_ld(cig * Lv)) + int(_ld(cog * Lv)))


@njit(cache=True, fastmath=FASTMATH)
def _phased_transform(x, go, Vs, Gs, job, ph, pw, m, nw, groups, tb, NT, kc, stages):
    C, Co = x.shape[1], go.shape[1]
    cig = C // groups
    cog = Co // groups
    F = (m + 2) ** nw
    Lv = _ld(NT)
    FV = _ld(cig * Lv)
    FG = _ld(cog * Lv)
    blk = job // groups
    g = job % groups
    t0 = blk * tb
    T = tb if t0 + tb <= NT else NT - t0
    _transform_block(x, go, t0, T, g, ph, pw, m, nw, groups, Vs, g * F * FV + t0, Gs,
                     g * F * FG + t0, Lv, FV, FG, kc, stages)


@njit(cache=True, fastmath=FASTMATH)
def _phased_gemm(Vs, Gs, gw, job, F, cig, cog, NT, cob, G, nw):
    """Job (group, block of ``cob`` output channels): the F GEMMs over all tiles
    into a private buffer, then its weights."""
    Lv = _ld(NT)
    FV = _ld(cig * Lv)
    FG = _ld(cog * Lv)
    ncob = (cog + cob - 1) // cob
    g = job // ncob
    co0 = (job % ncob) * cob
    nco = min(cob, cog - co0)
    Mb = np.empty((1, F, nco, cig), gw.dtype)
    Vf = np.empty((cig, NT), gw.dtype)
    Gf = np.empty((nco, NT), gw.dtype)
    for f in range(F):
        vo = (g * F + f) * FV
        go_ = (g * F + f) * FG + co0 * Lv
        for i in range(cig):  # contiguous operands for np.dot
            for t in range(NT):
                Vf[i, t] = Vs[vo + i * Lv + t]
        for i in range(nco):
            for t in range(NT):
                Gf[i, t] = Gs[go_ + i * Lv + t]
        np.dot(Gf, Vf.T, Mb[0, f])
    for co in range(nco):
        _to_weight(Mb[:, :, co, :], gw[g * cog + co0 + co], G, nw)


def winograd_weight_grad_phased(x, go, gw, shared, ph, pw, m, nw, groups, tb, cob, nthreads,
                                stages=7):
    """Weight gradient ``gw (Co, cig, KK)``: transforms of every tile into
    ``shared`` (``shared_items(...)`` elements), then jobs (group, block of ``cob``
    output channels) run the F GEMMs over all tiles and write their weights."""
    N, C = x.shape[0], x.shape[1]
    Co, OH, OW = go.shape[1], go.shape[2], go.shape[3]
    F = (m + 2) ** nw
    mh = m if nw == 2 else 1
    NT = N * (-(-OH // mh)) * (-(-OW // m))
    cig, cog = C // groups, Co // groups
    if gw.shape != (Co, cig, 3 ** nw):
        raise ValueError("wgrad: gw must be (C_out, C_in/groups, 3**nd)")
    if gw.size == 0:
        return gw
    if NT == 0:
        gw[:] = 0
        return gw
    if shared.shape[0] < shared_items(m, nw, groups, cig, cog, NT):
        raise ValueError("wgrad: shared buffer too small")
    cob = max(1, min(int(cob), cog))
    Vs = shared
    Gs = shared[groups * F * int(_ld(cig * _ld(NT))):]
    dummy = np.empty((1, 1, 1, 1, 1), x.dtype)
    args = dict(Vs=Vs, Gs=Gs, gw=gw, G=_G[int(m)], ph=ph, pw=pw, m=m, nw=nw, groups=groups,
                tb=tb, NT=NT, cob=cob, stages=stages)
    _run(_PHASED_TRANSFORM, -(-NT // tb) * groups, nthreads, x, go, dummy, **args)
    if stages & 4:
        _run(_PHASED_GEMM, groups * (-(-cog // cob)), nthreads, x, go, dummy, **args)
    return gw
