"""Register-blocked direct convolution, Numba backend (same contract and staged
layout as ``kernels/cython/dblock.pyx``; geometry in ``kernels/blockgeom.py``).

Stage: each image of a batch chunk copied zero padded and split into stride
phases.  Tiles: per (image, od, block of PB wide-grid positions) and block of CB
output channels, an accumulator tile ``acc (CB, PB)`` sums bias then every tap in
order (the same order as the Cython kernel, so results do not depend on the
blocking or the thread count), then the valid columns go to ``out``.
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads
from ..blockgeom import CB, block_positions, geometry, stage_items, tap_offsets


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


@njit(cache=True, fastmath=FASTMATH)
def _run_serial(x, wp, bp, out, off, s, p, Dg, Hg, Wg, S, img, PB, bc, stage):
    N, C = x.shape[0], x.shape[1]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    G = wp.shape[0]
    cig = C // G
    cog = out.shape[1] // G
    P = OH * Wg
    nblk = (P + PB - 1) // PB
    PS = Dg * Hg * Wg
    rows = C * S * Dg * Hg
    acc = np.empty((CB, PB), out.dtype)
    for n0 in range(0, N, bc):
        nb = min(bc, N - n0)
        for it in range(nb * rows):
            n = it // rows
            _stage_row(x, n0 + n, stage, n * img, it - n * rows, Dg, Hg, Wg, s, p)
        for n in range(nb):
            for e in range(rows * Wg, img):
                stage[n * img + e] = 0
        for it in range(nb * OD * nblk):
            n = it // (OD * nblk)
            _tile(stage, wp, bp, off, out, n, it, img, nblk, PB, PS, cig, S, Hg, Wg, OW, P,
                  cog, n0 + n, acc)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _run_parallel(x, wp, bp, out, off, s, p, Dg, Hg, Wg, S, img, PB, bc, stage):
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
        for it in prange(nb * OD * nblk):
            acc = np.empty((CB, PB), out.dtype)
            n = it // (OD * nblk)
            _tile(stage, wp, bp, off, out, n, it, img, nblk, PB, PS, cig, S, Hg, Wg, OW, P,
                  cog, n0 + n, acc)


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
    if threads > 1:
        numba_threads(threads)
        _run_parallel(*args)
    else:
        _run_serial(*args)
    return out
