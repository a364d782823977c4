"""im2col + GEMM convolution, Numba backend (same contract as the Cython one).

One ``prange`` iteration = one (n, group, block of ``pb`` output positions):
pack the windows into a panel, ``np.dot`` (BLAS, limited to one thread by the
caller) with the group's weight matrix, copy into ``out`` with the bias.
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH)
def _pack(xg, cols, p0, width, kernel, stride, dil, pad, OH, OW):
    cig, D, H, W = xg.shape
    KD, KH, KW = kernel
    sd, sh, sw = stride
    dd, dh, dw = dil
    pd, ph, pw = pad
    k = 0
    for ci in range(cig):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    col = cols[k]
                    k += 1
                    p = p0
                    j = 0
                    while j < width:
                        ow = p % OW
                        oh = (p // OW) % OH
                        od = p // (OW * OH)
                        run = min(OW - ow, width - j)
                        idd = od * sd + kd * dd - pd
                        ih = oh * sh + kh * dh - ph
                        if idd < 0 or idd >= D or ih < 0 or ih >= H:
                            col[j:j + run] = 0
                        else:
                            iw = ow * sw + kw * dw - pw
                            for e in range(run):
                                if 0 <= iw < W:
                                    col[j + e] = xg[ci, idd, ih, iw]
                                else:
                                    col[j + e] = 0
                                iw += sw
                        j += run
                        p += run


@njit(cache=True, fastmath=FASTMATH)
def _job(x, w2, b, has_bias, of, job, nblk, kernel, stride, dil, pad, groups, pb, OH, OW,
         direct_1x1):
    C = x.shape[1]
    Co, K = w2.shape
    P = of.shape[2]
    cig = C // groups
    cog = Co // groups
    blk = job % nblk
    g = (job // nblk) % groups
    n = job // (nblk * groups)
    p0 = blk * pb
    width = min(pb, P - p0)
    if direct_1x1:
        xf = x[n].reshape(C, P)
        cols = np.ascontiguousarray(xf[g * cig:(g + 1) * cig, p0:p0 + width])
    else:
        cols = np.empty((K, width), x.dtype)
        _pack(x[n, g * cig:(g + 1) * cig], cols, p0, width, kernel, stride, dil, pad, OH, OW)
    acc = np.dot(w2[g * cog:(g + 1) * cog], cols)
    for m in range(cog):
        bias = b[g * cog + m] if has_bias else 0.0
        orow = of[n, g * cog + m]
        for j in range(width):
            orow[p0 + j] = acc[m, j] + bias


@njit(cache=True)
def _serial(x, w2, b, has_bias, of, nblk, kernel, stride, dil, pad, groups, pb, OH, OW, d1):
    for job in range(x.shape[0] * groups * nblk):
        _job(x, w2, b, has_bias, of, job, nblk, kernel, stride, dil, pad, groups, pb, OH, OW,
             d1)


@njit(cache=True, parallel=True)
def _parallel(x, w2, b, has_bias, of, nblk, kernel, stride, dil, pad, groups, pb, OH, OW, d1):
    for job in prange(x.shape[0] * groups * nblk):
        _job(x, w2, b, has_bias, of, job, nblk, kernel, stride, dil, pad, groups, pb, OH, OW,
             d1)


def conv_im2col(x, w2, b, has_bias, out, kernel, stride, dilation, pad, groups, pb, scratch,
                nthreads, direct_1x1):
    """Same signature as the Cython kernel (``scratch`` unused: panels are per job)."""
    N, Co, OD, OH, OW = out.shape
    of = out.reshape(N, Co, OD * OH * OW)
    nblk = (OD * OH * OW + pb - 1) // pb
    args = (x, w2, b, bool(has_bias), of, nblk, tuple(kernel), tuple(stride), tuple(dilation),
            tuple(pad), int(groups), int(pb), OH, OW, bool(direct_1x1))
    if nthreads > 1:
        numba_threads(nthreads)
        _parallel(*args)
    else:
        _serial(*args)
    return out


@njit(cache=True)
def _batched_range(x, w2, res, c0, c1, kernel, stride, dil, pad, OH, OW, P):
    """Columns ``[c0, c1)`` of ``res``: pack them (private panel), one ``np.dot``."""
    K = w2.shape[1]
    cols = np.empty((K, c1 - c0), x.dtype)
    n = c0 // P
    while n * P < c1:
        q0 = max(c0 - n * P, 0)
        q1 = min(P, c1 - n * P)
        j0 = n * P + q0 - c0
        _pack(x[n], cols[:, j0:j0 + q1 - q0], q0, q1 - q0, kernel, stride, dil, pad, OH, OW)
        n += 1
    res[:, c0:c1] = np.dot(w2, cols)


@njit(cache=True)
def _batched_serial(x, w2, res, chunk, kernel, stride, dil, pad, OH, OW, P):
    NP = x.shape[0] * P
    for t in range((NP + chunk - 1) // chunk):
        c0 = t * chunk
        _batched_range(x, w2, res, c0, min(c0 + chunk, NP), kernel, stride, dil, pad, OH, OW,
                       P)


@njit(cache=True, parallel=True)
def _batched_parallel(x, w2, res, chunk, kernel, stride, dil, pad, OH, OW, P):
    NP = x.shape[0] * P
    for t in prange((NP + chunk - 1) // chunk):
        c0 = t * chunk
        _batched_range(x, w2, res, c0, min(c0 + chunk, NP), kernel, stride, dil, pad, OH, OW,
                       P)


def conv_batched(x, w2, cols, res, out_size, kernel, stride, dilation, pad, chunk, nthreads):
    """Same contract as the Cython kernel (``cols`` unused: each job packs into a
    panel of its own, K x ``chunk``, and ``np.dot`` writes a C_out x ``chunk`` one)."""
    N = x.shape[0]
    OD, OH, OW = out_size
    P = OD * OH * OW
    NP = N * P
    M, K = w2.shape
    if K != x.shape[1] * int(np.prod(kernel)):
        raise ValueError(f"conv_batched: the weight has {K} columns, the input's "
                         f"channels x taps are {x.shape[1] * int(np.prod(kernel))}")
    if res.shape[0] != M or res.shape[1] < NP:
        raise ValueError(f"conv_batched: res must be ({M}, >= {NP})")
    if NP == 0 or M == 0:
        return
    if chunk < 1:
        raise ValueError(f"conv_batched: chunk must be >= 1, got {chunk}")
    args = (x, w2, res, int(chunk), tuple(kernel), tuple(stride), tuple(dilation), tuple(pad),
            OH, OW, P)
    if nthreads > 1:
        numba_threads(nthreads)
        _batched_parallel(*args)
    else:
        _batched_serial(*args)
