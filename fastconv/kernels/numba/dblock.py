"""Register-blocked direct convolution, Numba backend (same contract and staged
layout as ``kernels/cython/dblock.pyx``; geometry in ``kernels/blockgeom.py``).

Stage: each image of a batch chunk copied zero padded and split into stride
phases.  Tiles: per (image, od, block of PB wide-grid positions) and block of CB
output channels, an accumulator tile ``acc (CB, PB)`` sums bias then every tap in
order (the same order as the Cython kernel, so results do not depend on the
blocking or the thread count), then the valid columns go to ``out``.
``conv_blocked_batch`` (images interleaved) and ``conv_pointwise`` (1x1 layers,
strips of positions across images packed channel-major) follow the Cython ones.
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads
from ..blockgeom import (
    CB,
    block_positions,
    geometry,
    stage_items,
    stage_items_batch,
    tap_offsets,
)

#: Parallel loops run their work items in this many contiguous chunks (enough to
#: balance any thread count; the result never depends on it): per-chunk scratch
#: is allocated once per chunk instead of once per item.
_CHUNKS = 64


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _stage_row(x, n, stage, base, row, Dg, Hg, Wg, s, p):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    sd, sh, sw = s
    pd, ph, pw = p
    S = sd * sh * sw
    j = row % Hg
    r = row // Hg
    i = r % Dg
    r //= Dg
    a = r % S
    ci = r // S
    aw = a % sw
    ah = (a // sw) % sh
    ad = a // (sw * sh)
    idd = sd * i + ad - pd
    ih = sh * j + ah - ph
    d0 = base + row * Wg
    if idd < 0 or idd >= D or ih < 0 or ih >= H:
        for k in range(Wg):
            stage[d0 + k] = 0
        return
    lo = 0 if aw - pw >= 0 else (pw - aw + sw - 1) // sw
    hi = (W - 1 + pw - aw) // sw + 1 if W - 1 + pw - aw >= 0 else 0
    hi = min(hi, Wg)
    lo = min(lo, hi)
    for k in range(lo):
        stage[d0 + k] = 0
    for k in range(lo, hi):
        stage[d0 + k] = x[n, ci, idd, ih, max(sw * k + aw - pw, 0)]
    for k in range(hi, Wg):
        stage[d0 + k] = 0


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _tile(stage, wp, bp, off, out, n, it, img, nblk, PB, PS, cig, S, Hg, Wg, OW, P, cog,
          nout, acc):
    OD = out.shape[2]
    G, ncb, T = wp.shape[0], wp.shape[1], wp.shape[2]
    od = (it // nblk) % OD
    blk = it % nblk
    p0 = blk * PB
    pend = min(p0 + PB, P)
    for g in range(G):
        xb = n * img + g * cig * S * PS + od * Hg * Wg + p0
        for cb in range(ncb):
            for j in range(CB):
                bj = bp[g, cb, j]
                for e in range(PB):
                    acc[j, e] = bj
            for t in range(T):
                xo = max(xb + off[t], 0)
                for j in range(CB):
                    wv = wp[g, cb, t, j]
                    for e in range(PB):
                        acc[j, e] += wv * stage[xo + e]
            for j in range(CB):
                if cb * CB + j >= cog:
                    break
                co = g * cog + cb * CB + j
                p = p0
                oh = p // Wg
                ow = p - oh * Wg
                while p < pend:
                    run = min(Wg - ow, pend - p)
                    if ow < OW:
                        nv = min(run, OW - ow)
                        for e in range(nv):
                            out[nout, co, od, oh, ow + e] = acc[j, p - p0 + e]
                    p += run
                    oh += 1
                    ow = 0


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _run(x, wp, bp, out, off, s, p, Dg, Hg, Wg, S, img, PB, bc, stage):
    """Stage and tile each batch chunk (one parallel region per phase; the thread
    count is Numba's, set by the caller)."""
    N, C = x.shape[0], x.shape[1]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    G = wp.shape[0]
    cig = C // G
    cog = out.shape[1] // G
    P = OH * Wg
    nblk = (P + PB - 1) // PB
    PS = Dg * Hg * Wg
    rows = C * S * Dg * Hg
    for n0 in range(0, N, bc):
        nb = min(bc, N - n0)
        for it in prange(nb * rows):
            n = it // rows
            _stage_row(x, n0 + n, stage, n * img, it - n * rows, Dg, Hg, Wg, s, p)
        for n in prange(nb):
            for e in range(rows * Wg, img):
                stage[n * img + e] = 0
        J = nb * OD * nblk
        nc = min(J, _CHUNKS)
        for c in prange(nc):  # one tile buffer per chunk of tiles, not per tile
            acc = np.empty((CB, PB), out.dtype)
            for it in range(c * J // nc, (c + 1) * J // nc):
                n = it // (OD * nblk)
                _tile(stage, wp, bp, off, out, n, it, img, nblk, PB, PS, cig, S, Hg, Wg, OW,
                      P, cog, n0 + n, acc)


def conv_blocked(x, wp, bp, out, kshape, stride, dilation, pad, groups, batch_chunk, stage,
                 threads):
    """out = conv(x, w) + bias (see the module doc; arguments as the Cython kernel)."""
    OD, OH, OW = out.shape[2:]
    Dg, Hg, Wg, S = geometry(kshape, (OD, OH, OW), stride, dilation)
    img = stage_items(x.shape[1], kshape, (OD, OH, OW), stride, dilation, x.itemsize)
    if wp.shape[0] != groups or wp.shape[3] != CB:
        raise ValueError("conv_blocked: packed weight does not match the kernel")
    if stage.shape[0] < batch_chunk * img:
        raise ValueError("conv_blocked: stage buffer too small")
    off = tap_offsets(x.shape[1] // groups, kshape, (OD, OH, OW), stride, dilation)
    PB = block_positions(x.itemsize)
    args = (x, wp, bp, out, off, tuple(stride), tuple(pad), Dg, Hg, Wg, S, img, PB,
            int(batch_chunk), stage)
    numba_threads(max(1, threads))
    _run(*args)
    return out


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _stage_plane_batch(x, n0, nimg, stage, base, VL, plane, Dg, Hg, Wg, s, p):
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    sd, sh, sw = s
    pd, ph, pw = p
    S = sd * sh * sw
    a = plane % S
    ci = plane // S
    aw = a % sw
    ah = (a // sw) % sh
    ad = a // (sw * sh)
    d0 = base + plane * Dg * Hg * Wg * VL
    for i in range(Dg):
        idd = sd * i + ad - pd
        for j in range(Hg):
            ih = sh * j + ah - ph
            row = d0 + (i * Hg + j) * Wg * VL
            for k in range(Wg):
                iw = sw * k + aw - pw
                for lane in range(VL):
                    inside = (lane < nimg and 0 <= idd < D and 0 <= ih < H and 0 <= iw < W)
                    stage[row + k * VL + lane] = (
                        x[n0 + lane, ci, max(idd, 0), max(ih, 0), max(iw, 0)] if inside
                        else 0)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _tiles_batch(stage, wp, bp, off, out, gi, nimg, n0, t0, t1, img, VL, PS, cig, S, Hg, Wg,
                 cog, acc, pos, base):
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    G, ncb, T = wp.shape[0], wp.shape[1], wp.shape[2]
    Q = OD * OH * OW
    for tile in range(t0, t1):
        nv = min(3, Q - tile * 3)
        for v in range(3):
            q = tile * 3 + (v if v < nv else nv - 1)
            pos[v] = q
            ow = q % OW
            oh = (q // OW) % OH
            od = q // (OW * OH)
            base[v] = ((od * Hg + oh) * Wg + ow) * VL
        for g in range(G):
            xg = gi * img + g * cig * S * PS * VL
            for cb in range(ncb):
                for j in range(CB):
                    for e in range(3 * VL):
                        acc[j, e] = bp[g, cb, j]
                for t in range(T):
                    for v in range(3):
                        xo = max(xg + base[v] + off[t], 0)
                        for j in range(CB):
                            wv = wp[g, cb, t, j]
                            for lane in range(VL):
                                acc[j, v * VL + lane] += wv * stage[xo + lane]
                for j in range(CB):
                    if cb * CB + j >= cog:
                        break
                    co = g * cog + cb * CB + j
                    for v in range(nv):
                        q = pos[v]
                        od = q // (OW * OH)
                        oh = (q // OW) % OH
                        ow = q % OW
                        for lane in range(nimg):
                            out[n0 + lane, co, od, oh, ow] = acc[j, v * VL + lane]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _run_batch(x, wp, bp, out, off, s, p, Dg, Hg, Wg, S, img, VL, gc, stage):
    N, C = x.shape[0], x.shape[1]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    G = wp.shape[0]
    cig = C // G
    cog = out.shape[1] // G
    PS = Dg * Hg * Wg
    Q = OD * OH * OW
    ntile = (Q + 2) // 3
    TPI = 4
    nitem = (ntile + TPI - 1) // TPI
    ngrp = (N + VL - 1) // VL
    for g0 in range(0, ngrp, gc):
        gb = min(gc, ngrp - g0)
        for it in prange(gb * C * S):
            gi = it // (C * S)
            nimg = min(VL, N - (g0 + gi) * VL)
            _stage_plane_batch(x, (g0 + gi) * VL, nimg, stage, gi * img, VL, it - gi * C * S,
                               Dg, Hg, Wg, s, p)
        J = gb * nitem
        nc = min(J, _CHUNKS)
        for c in prange(nc):  # buffers once per chunk of items, not per item
            acc = np.empty((CB, 3 * VL), out.dtype)
            pos = np.empty(3, np.int64)
            base = np.empty(3, np.int64)
            for it in range(c * J // nc, (c + 1) * J // nc):
                gi = it // nitem
                nimg = min(VL, N - (g0 + gi) * VL)
                t0 = (it - gi * nitem) * TPI
                t1 = min(t0 + TPI, ntile)
                _tiles_batch(stage, wp, bp, off, out, gi, nimg, (g0 + gi) * VL, t0, t1, img,
                             VL, PS, cig, S, Hg, Wg, cog, acc, pos, base)


def conv_blocked_batch(x, wp, bp, out, kshape, stride, dilation, pad, groups, group_chunk,
                       stage, threads):
    """The batch layout (see the Cython kernel): VL images per vector, tiles of three
    arbitrary output positions."""
    OD, OH, OW = out.shape[2:]
    Dg, Hg, Wg, S = geometry(kshape, (OD, OH, OW), stride, dilation)
    img = stage_items_batch(x.shape[1], kshape, (OD, OH, OW), stride, dilation, x.itemsize)
    if wp.shape[0] != groups or wp.shape[3] != CB:
        raise ValueError("conv_blocked_batch: packed weight does not match the kernel")
    if stage.shape[0] < group_chunk * img:
        raise ValueError("conv_blocked_batch: stage buffer too small")
    VL = 64 // x.itemsize
    off = tap_offsets(x.shape[1] // groups, kshape, (OD, OH, OW), stride, dilation) * VL
    numba_threads(max(1, threads))
    _run_batch(x, wp, bp, out, off, tuple(stride), tuple(pad), Dg, Hg, Wg, S, img, VL,
               int(group_chunk), stage)
    return out



@njit(cache=True, fastmath=FASTMATH, inline="always")
def _pointwise_job(x, wp, bp, out, it, njob, strips, PB, pk, acc):
    """One job (group, ``strips`` strips of PB positions over all images) into the
    caller's buffers ``pk (strips, C/G, PB)`` and ``acc (CB, PB)``."""
    N, C, P = x.shape
    G, ncb, T = wp.shape[0], wp.shape[1], wp.shape[2]
    cig = C // G
    cog = out.shape[1] // G
    Q = N * P
    nstrip = (Q + PB - 1) // PB
    g = it // njob
    s0 = (it % njob) * strips
    s1 = min(s0 + strips, nstrip)
    for ci in range(cig):
        for si in range(s0, s1):
            n_e = min(PB, Q - si * PB)
            for e in range(n_e):
                q = si * PB + e
                pk[si - s0, ci, e] = x[q // P, g * cig + ci, q % P]
            for e in range(n_e, PB):
                pk[si - s0, ci, e] = 0
    for cb in range(ncb):
        for si in range(s0, s1):
            for j in range(CB):
                bj = bp[g, cb, j]
                for e in range(PB):
                    acc[j, e] = bj
            for t in range(T):
                for j in range(CB):
                    wv = wp[g, cb, t, j]
                    for e in range(PB):
                        acc[j, e] += wv * pk[si - s0, t, e]
            for j in range(CB):
                if cb * CB + j >= cog:
                    break
                co = g * cog + cb * CB + j
                for e in range(min(PB, Q - si * PB)):
                    q = si * PB + e
                    out[q // P, co, q % P] = acc[j, e]


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _run_pointwise(x, wp, bp, out, strips, PB):
    """Jobs in one contiguous range per chunk; each chunk allocates its packed strips
    and tile once, not per job."""
    N, C, P = x.shape
    G = wp.shape[0]
    nstrip = (N * P + PB - 1) // PB
    njob = (nstrip + strips - 1) // strips
    J = G * njob
    nc = min(J, _CHUNKS)
    for c in prange(nc):
        pk = np.empty((strips, C // G, PB), out.dtype)
        acc = np.empty((CB, PB), out.dtype)
        for it in range(c * J // nc, (c + 1) * J // nc):
            _pointwise_job(x, wp, bp, out, it, njob, strips, PB, pk, acc)


def conv_pointwise(x, wp, bp, out, groups, strips, threads):
    """1x1 stride-1 unpadded layer, x (N, C, P) -> out (N, Co, P): strips of PB
    positions over all images (arguments and summation order as the Cython kernel:
    bias, then the channels in order)."""
    if (wp.shape[0] != groups or wp.shape[3] != CB or wp.shape[2] != x.shape[1] // groups
            or out.shape[2] != x.shape[2] or out.shape[0] != x.shape[0]):
        raise ValueError("conv_pointwise: packed weight does not match the kernel")
    numba_threads(max(1, threads))
    _run_pointwise(x, wp, bp, out, max(1, int(strips)), block_positions(x.itemsize))
    return out
