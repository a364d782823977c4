"""Backward-pass kernels, Numba backend (same contract as ``cython/grad.pyx``).

Arrays are 3-D-normalised and C-contiguous in the compute dtype: go
(N, Co, OD, OH, OW) the output gradient, x (N, C, D, H, W) the input, w
(Co, C/groups, KD, KH, KW); ``pad`` is the implicit zero padding before each axis.

* ``input_grad_direct``: gather form, one unit per input-gradient row, which
  sums its own contributions in (co, kd, kh, kw) order (no scatter races).
* ``weight_grad_direct``: one unit per (co, ci, kd, kh) weight row.
* ``input_grad_gemm``: jobs (group, block of input channels, block of flat input
  rows over n, d, h); gathered output-gradient columns times the rearranged
  weight (``np.dot``, BLAS).
* ``input_grad_col2im``: jobs (group, block of input channels, block of samples);
  columns ``w^T @ go`` by one ``np.dot``, then col2im in gather form.
* ``weight_grad_gemm``: jobs (row chunk, group, block of output channels), each
  summing its blocks' GEMMs into the chunk's partial buffer (reduced by the
  caller in chunk order): bit-identical for any thread count.  BLAS must be
  single-threaded inside (the caller limits it).
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


# ---------------------------------------------------------------------------
# input gradient, direct gather form
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _ig_row(go, w, gx, job, s, d, p, groups):
    N, C, D, H, W = gx.shape
    Co, cig, KD, KH, KW = w.shape
    OD, OH, OW = go.shape[2], go.shape[3], go.shape[4]
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    r = job
    ih = r % H
    r //= H
    idd = r % D
    r //= D
    c = r % C
    n = r // C
    g = c // cig
    ci = c - g * cig
    cog = Co // groups
    xrow = gx[n, c, idd, ih]
    for iw in range(W):
        xrow[iw] = 0.0
    for col in range(cog):
        co = g * cog + col
        for kd in range(KD):
            td = idd + pd - kd * dd
            if td < 0 or td % sd != 0:
                continue
            od = td // sd
            if od >= OD:
                continue
            for kh in range(KH):
                th = ih + ph - kh * dh
                if th < 0 or th % sh != 0:
                    continue
                oh = th // sh
                if oh >= OH:
                    continue
                grow = go[n, co, od, oh]
                for kw in range(KW):
                    wv = w[co, ci, kd, kh, kw]
                    off = pw - kw * dw  # ow * sw == iw + off
                    if sw == 1:
                        iw0 = max(0, -off)
                        cnt = min(W, OW - off) - iw0
                        for j in range(cnt):
                            xrow[iw0 + j] += wv * grow[iw0 + off + j]
                    else:
                        iw0 = (-off) % sw  # Python modulo: non-negative
                        ow0 = (iw0 + off) // sw
                        if ow0 < 0:
                            iw0 += (-ow0) * sw
                            ow0 = 0
                        if iw0 >= W or ow0 >= OW:
                            continue
                        cnt = min((W - 1 - iw0) // sw + 1, OW - ow0)
                        for j in range(cnt):
                            xrow[iw0 + j * sw] += wv * grow[ow0 + j]


@njit(cache=True, fastmath=FASTMATH)
def _ig_direct_serial(go, w, gx, s, d, p, groups):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2] * gx.shape[3]
    for job in range(njobs):
        _ig_row(go, w, gx, job, s, d, p, groups)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _ig_direct_parallel(go, w, gx, s, d, p, groups):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2] * gx.shape[3]
    for job in prange(njobs):
        _ig_row(go, w, gx, job, s, d, p, groups)


def input_grad_direct(go, w, gx, stride, dilation, pad, groups, nthreads):
    """Input gradient (transposed convolution) into ``gx``, gather form."""
    args = (go, w, gx, tuple(stride), tuple(dilation), tuple(pad), int(groups))
    if nthreads > 1:
        numba_threads(nthreads)
        _ig_direct_parallel(*args)
    else:
        _ig_direct_serial(*args)
    return gx


# ---------------------------------------------------------------------------
# weight gradient, direct
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _wg_row(go, x, gw, job, s, d, p, groups, z):
    N, C, D, H, W = x.shape
    Co, cig, KD, KH, KW = gw.shape
    OD, OH, OW = go.shape[2], go.shape[3], go.shape[4]
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    r = job
    kh = r % KH
    r //= KH
    kd = r % KD
    r //= KD
    ci = r % cig
    co = r // cig
    g = co // (Co // groups)
    c = g * cig + ci
    # lane-wise accumulation (KW, OW), then each lane row summed in order
    acc = np.zeros((KW, OW), x.dtype)
    for n in range(N):
        for od in range(OD):
            idd = od * sd + kd * dd - pd
            if idd < 0 or idd >= D:
                continue
            for oh in range(OH):
                ih = oh * sh + kh * dh - ph
                if ih < 0 or ih >= H:
                    continue
                grow = go[n, co, od, oh]
                xrow = x[n, c, idd, ih]
                for kw in range(KW):
                    off = kw * dw - pw  # iw = ow * sw + off
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    lim = W - 1 - off
                    hi = min(OW, lim // sw + 1) if lim >= 0 else 0
                    ak = acc[kw]
                    if sw == 1:
                        for ow in range(lo, hi):
                            ak[ow] += grow[ow] * xrow[ow + off]
                    else:
                        for ow in range(lo, hi):
                            ak[ow] += grow[ow] * xrow[ow * sw + off]
    for kw in range(KW):
        tot = z
        for ow in range(OW):
            tot += acc[kw, ow]
        gw[co, ci, kd, kh, kw] = tot


@njit(cache=True, fastmath=FASTMATH)
def _wg_direct_serial(go, x, gw, s, d, p, groups, z):
    njobs = gw.shape[0] * gw.shape[1] * gw.shape[2] * gw.shape[3]
    for job in range(njobs):
        _wg_row(go, x, gw, job, s, d, p, groups, z)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _wg_direct_parallel(go, x, gw, s, d, p, groups, z):
    njobs = gw.shape[0] * gw.shape[1] * gw.shape[2] * gw.shape[3]
    for job in prange(njobs):
        _wg_row(go, x, gw, job, s, d, p, groups, z)


def weight_grad_direct(go, x, gw, stride, dilation, pad, groups, nthreads):
    """Weight gradient into ``gw``; one unit per (co, ci, kd, kh) weight row."""
    args = (go, x, gw, tuple(stride), tuple(dilation), tuple(pad), int(groups),
            gw.dtype.type(0))  # accumulator of the compute dtype
    if nthreads > 1:
        numba_threads(nthreads)
        _wg_direct_parallel(*args)
    else:
        _wg_direct_serial(*args)
    return gw


# ---------------------------------------------------------------------------
# input gradient, gathered columns x BLAS
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _ig_gemm_job(go, wt, gx, col, res, job, K3, s, d, p, groups, rb, nblk, cib, ncib):
    N, C, D, H, W = gx.shape
    Co, OD, OH, OW = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    KD, KH, KW = K3
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    cig = C // groups
    cog = Co // groups
    K = KD * KH * KW
    DH = D * H
    blk = job % nblk
    r = job // nblk
    cb = r % ncib
    g = r // ncib
    r0 = blk * rb
    nr = min(N * DH, r0 + rb) - r0
    P = nr * W
    c0 = cb * cib
    nc = min(cig, c0 + cib) - c0
    colm = col[: cog * K * P].reshape(cog * K, P)
    for col_i in range(cog):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = col_i * K + (kd * KH + kh) * KW + kw
                    off = pw - kw * dw
                    for rr in range(nr):
                        fr = r0 + rr
                        n = fr // DH
                        idd = (fr - n * DH) // H
                        ih = fr - n * DH - idd * H
                        td = idd + pd - kd * dd
                        th = ih + ph - kh * dh
                        base = rr * W
                        if (td < 0 or td % sd != 0 or td // sd >= OD or th < 0
                                or th % sh != 0 or th // sh >= OH):
                            for iw in range(W):
                                colm[row, base + iw] = 0.0
                            continue
                        grow = go[n, g * cog + col_i, td // sd, th // sh]
                        for iw in range(W):
                            t = iw + off
                            if t >= 0 and t % sw == 0 and t // sw < OW:
                                colm[row, base + iw] = grow[t // sw]
                            else:
                                colm[row, base + iw] = 0.0
    out = res[: nc * P].reshape(nc, P)
    np.dot(wt[g, c0:c0 + nc], colm, out)
    gflat = gx.reshape(N, C, DH * W)
    for ci in range(nc):
        for rr in range(nr):
            fr = r0 + rr
            n = fr // DH
            dst = gflat[n, g * cig + c0 + ci]
            o = (fr - n * DH) * W
            for iw in range(W):
                dst[o + iw] = out[ci, rr * W + iw]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _ig_gemm_parallel(go, wt, gx, K3, s, d, p, groups, rb, cib, nthreads):
    N, C, D, H, W = gx.shape
    cig = C // groups
    cog = go.shape[1] // groups
    K = K3[0] * K3[1] * K3[2]
    nblk = (N * D * H + rb - 1) // rb
    ncib = (cig + cib - 1) // cib
    njobs = groups * ncib * nblk
    per = (njobs + nthreads - 1) // nthreads
    for t in prange(nthreads):
        col = np.empty(cog * K * rb * W, gx.dtype)
        res = np.empty(cib * rb * W, gx.dtype)
        for job in range(t * per, min(njobs, (t + 1) * per)):
            _ig_gemm_job(go, wt, gx, col, res, job, K3, s, d, p, groups, rb, nblk, cib, ncib)


def input_grad_gemm(go, wt, gx, kernel, stride, dilation, pad, groups, rows_per_block,
                    ci_block, nthreads):
    """Input gradient into ``gx`` by gathered columns x GEMM (BLAS single-threaded);
    jobs are (group, block of input channels, block of flat input rows over n, d, h)."""
    if gx.size == 0:
        return gx
    nthreads = max(1, int(nthreads))
    numba_threads(nthreads)
    cig = gx.shape[1] // groups
    _ig_gemm_parallel(go, wt, gx, tuple(kernel), tuple(stride), tuple(dilation), tuple(pad),
                      int(groups), int(rows_per_block), int(min(ci_block, cig)), nthreads)
    return gx


# ---------------------------------------------------------------------------
# weight gradient, im2col chunks x BLAS, per-chunk partial sums
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _wg_gemm_block(go, x, part, col, gob, tmp, g, blk, c0, nc, K3, s, d, p, groups, rb,
                   co_major):
    N, C, D, H, W = x.shape
    Co, OD, OH, OW = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    KD, KH, KW = K3
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    cig = C // groups
    cog = Co // groups
    K = KD * KH * KW
    ODH = OD * OH
    r0 = blk * rb
    nr = min(N * ODH, r0 + rb) - r0
    P = nr * OW
    colm = col[: cig * K * P].reshape(cig * K, P)
    for ci in range(cig):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = ci * K + (kd * KH + kh) * KW + kw
                    off = kw * dw - pw
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    lim = W - 1 - off
                    hi = min(OW, lim // sw + 1) if lim >= 0 else 0
                    lo = min(lo, OW)
                    hi = max(hi, lo)
                    for rr in range(nr):
                        fr = r0 + rr
                        n = fr // ODH
                        od = (fr - n * ODH) // OH
                        oh = fr - n * ODH - od * OH
                        idd = od * sd + kd * dd - pd
                        ih = oh * sh + kh * dh - ph
                        base = rr * OW
                        if idd < 0 or idd >= D or ih < 0 or ih >= H:
                            for ow in range(OW):
                                colm[row, base + ow] = 0.0
                            continue
                        xrow = x[n, g * cig + ci, idd, ih]
                        for ow in range(lo):
                            colm[row, base + ow] = 0.0
                        for ow in range(lo, hi):
                            colm[row, base + ow] = xrow[ow * sw + off]
                        for ow in range(hi, OW):
                            colm[row, base + ow] = 0.0
    gom = gob[: nc * P].reshape(nc, P)
    gflat = go.reshape(N, Co, ODH * OW)
    for co in range(nc):
        for rr in range(nr):
            fr = r0 + rr
            n = fr // ODH
            src = gflat[n, g * cog + c0 + co]
            o = (fr - n * ODH) * OW
            for ow in range(OW):
                gom[co, rr * OW + ow] = src[o + ow]
    if co_major:
        t = tmp[: nc * cig * K].reshape(nc, cig * K)
        np.dot(gom, colm.T, t)
        for co in range(nc):
            for j in range(cig * K):
                part[g * cog + c0 + co, j] += t[co, j]
    else:
        t = tmp[: nc * cig * K].reshape(cig * K, nc)
        np.dot(colm, gom.T, t)
        for j in range(cig * K):
            for co in range(nc):
                part[j, g * cog + c0 + co] += t[j, co]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _wg_gemm_parallel(go, x, partials, K3, s, d, p, groups, rb, cob, co_major):
    N, C, D, H, W = x.shape
    Co, OD, OH, OW = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    cig = C // groups
    cog = Co // groups
    K = K3[0] * K3[1] * K3[2]
    nblk = (N * OD * OH + rb - 1) // rb
    ncob = (cog + cob - 1) // cob
    nchunks = partials.shape[0]
    njobs = nchunks * groups * ncob
    for job in prange(njobs):
        cb = job % ncob
        r = job // ncob
        g = r % groups
        chunk = r // groups
        c0 = cb * cob
        nc = min(cog, c0 + cob) - c0
        col = np.empty(cig * K * rb * OW, x.dtype)
        gob = np.empty(cob * rb * OW, x.dtype)
        tmp = np.empty(cob * cig * K, x.dtype)
        for blk in range(chunk * nblk // nchunks, (chunk + 1) * nblk // nchunks):
            _wg_gemm_block(go, x, partials[chunk], col, gob, tmp, g, blk, c0, nc, K3, s, d,
                           p, groups, rb, co_major)


def weight_grad_gemm(go, x, partials, kernel, stride, dilation, pad, groups, rows_per_block,
                     co_block, nthreads, co_major=False):
    """Weight-gradient partial sums into zeroed ``partials (nchunks, cig*K, Co)``, or
    ``(nchunks, Co, cig*K)`` with ``co_major`` (see the Cython kernel)."""
    if go.shape[0] == 0:
        return partials
    numba_threads(max(1, int(nthreads)))
    cog = go.shape[1] // groups
    _wg_gemm_parallel(go, x, partials, tuple(kernel), tuple(stride), tuple(dilation),
                      tuple(pad), int(groups), int(rows_per_block), int(min(co_block, cog)),
                      bool(co_major))
    return partials


# ---------------------------------------------------------------------------
# input gradient, GEMM to columns then col2im in gather form (small planes)
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _col2im_job(go, wt2, gx, cols, gob, job, K3, s, d, p, groups, nb, nsb, cib, ncib):
    N, C, D, H, W = gx.shape
    Co, OD, OH, OW = go.shape[1], go.shape[2], go.shape[3], go.shape[4]
    KD, KH, KW = K3
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    cig = C // groups
    cog = Co // groups
    K = KD * KH * KW
    P = OD * OH * OW
    sb = job % nsb
    r = job // nsb
    cb = r % ncib
    g = r // ncib
    n0 = sb * nb
    nn = min(N, n0 + nb) - n0
    NP = nn * P
    c0 = cb * cib
    nc = min(cig, c0 + cib) - c0
    gflat = go.reshape(N, Co, P)
    gm = gob[: cog * NP].reshape(cog, NP)
    for i in range(nn):
        for co in range(cog):
            src = gflat[n0 + i, g * cog + co]
            for j in range(P):
                gm[co, i * P + j] = src[j]
    cm = cols[: nc * K * NP].reshape(nc * K, NP)
    np.dot(wt2[g, c0 * K:(c0 + nc) * K], gm, cm)
    for i in range(nn):
        for ci in range(nc):
            for idd in range(D):
                for ih in range(H):
                    xrow = gx[n0 + i, g * cig + c0 + ci, idd, ih]
                    for iw in range(W):
                        xrow[iw] = 0.0
                    for kd in range(KD):
                        td = idd + pd - kd * dd
                        if td < 0 or td % sd != 0 or td // sd >= OD:
                            continue
                        od = td // sd
                        for kh in range(KH):
                            th = ih + ph - kh * dh
                            if th < 0 or th % sh != 0 or th // sh >= OH:
                                continue
                            oh = th // sh
                            for kw in range(KW):
                                row = cm[ci * K + (kd * KH + kh) * KW + kw]
                                base = i * P + (od * OH + oh) * OW
                                off = pw - kw * dw
                                if sw == 1:
                                    iw0 = max(0, -off)
                                    cnt = min(W, OW - off) - iw0
                                    for j in range(cnt):
                                        xrow[iw0 + j] += row[base + iw0 + off + j]
                                else:
                                    iw0 = (-off) % sw
                                    ow0 = (iw0 + off) // sw
                                    if ow0 < 0:
                                        iw0 += (-ow0) * sw
                                        ow0 = 0
                                    if iw0 >= W or ow0 >= OW:
                                        continue
                                    cnt = min((W - 1 - iw0) // sw + 1, OW - ow0)
                                    for j in range(cnt):
                                        xrow[iw0 + j * sw] += row[base + ow0 + j]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _col2im_parallel(go, wt2, gx, K3, s, d, p, groups, nb, cib, nthreads):
    N, C = gx.shape[0], gx.shape[1]
    cig = C // groups
    cog = go.shape[1] // groups
    K = K3[0] * K3[1] * K3[2]
    P = go.shape[2] * go.shape[3] * go.shape[4]
    nsb = (N + nb - 1) // nb
    ncib = (cig + cib - 1) // cib
    njobs = groups * ncib * nsb
    per = (njobs + nthreads - 1) // nthreads
    for t in prange(nthreads):
        cols = np.empty(cib * K * nb * P, gx.dtype)
        gob = np.empty(cog * nb * P, gx.dtype)
        for job in range(t * per, min(njobs, (t + 1) * per)):
            _col2im_job(go, wt2, gx, cols, gob, job, K3, s, d, p, groups, nb, nsb, cib, ncib)


def input_grad_col2im(go, wt2, gx, kernel, stride, dilation, pad, groups, samples_per_block,
                      ci_block, nthreads):
    """Input gradient into ``gx``: GEMM to columns, then col2im in gather form
    (see the Cython kernel for the layout of ``wt2`` and the jobs)."""
    if gx.size == 0:
        return gx
    nthreads = max(1, int(nthreads))
    numba_threads(nthreads)
    cig = gx.shape[1] // groups
    _col2im_parallel(go, wt2, gx, tuple(kernel), tuple(stride), tuple(dilation), tuple(pad),
                     int(groups), int(samples_per_block), int(min(ci_block, cig)), nthreads)
    return gx


# ---------------------------------------------------------------------------
# the stride-1 input gradient's forward weight: flipped, channels swapped
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _flip_swap_parallel(w, wt, groups):
    Co, cig, K = w.shape
    cog = Co // groups
    ncb = (cig + 15) // 16
    for job in prange(groups * ncb):
        g = job // ncb
        c0 = (job % ncb) * 16
        for co in range(cog):
            src = w[g * cog + co]
            for c in range(c0, min(cig, c0 + 16)):
                dst = wt[g * cig + c, co]
                for k in range(K):
                    dst[k] = src[c, K - 1 - k]


def flip_swap_weight(w, wt, groups, nthreads):
    """``wt[g*cig + ci, co, k] = w[g*cog + co, ci, K-1-k]`` (see the Cython kernel)."""
    if w.size == 0:
        return wt
    if wt.shape != (w.shape[1] * groups, w.shape[0] // groups, w.shape[2]):
        raise ValueError("flip_swap_weight: wt must be (groups * C_in/groups, C_out/groups, K)")
    numba_threads(max(1, int(nthreads)))
    _flip_swap_parallel(w, wt, int(groups))
    return wt
