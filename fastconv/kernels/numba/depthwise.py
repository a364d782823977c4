"""Depthwise convolution (groups == C_in, any channel multiplier), Numba backend.

Same contract and structure as ``fastconv/kernels/cython/depthwise.pyx``:
x (N, C, D, H, W), w (Co, 1, KD, KH, KW), out (N, Co, OD, OH, OW), C-contiguous,
output channel ``co`` reads input channel ``co // (Co // C)``.

* One job = ``rowblock`` output rows of one plane at one depth ``od``.
* Per job and chunk of ``colblock`` output columns, the input rows the job
  needs are copied lazily into a buffer with the zero padding materialised and
  split into ``sw`` phases, so every tap is a unit-stride slice.
* Each output row is computed in a row buffer (padded to 16 columns, so the
  column loops need no scalar tail) and copied out: one pass per (kd, kh) and
  group of up to three kw taps, ``acc + (a x0 + b x1 + c x2)``; 3x3 kernels
  take one pass per kd, ``acc + (row0 + row1 + row2)`` with each row a 3-tap
  chain (short dependency chains: LLVM keeps a long FMA chain serial).  The
  column loops are what LLVM vectorises.
* Each element's sum has a fixed shape (padded taps, zeros, included) and the
  column loops start at the same column whatever the job partition, so results
  are bit-identical for any thread count.  The association differs from the
  Cython kernel's sequential tap order (last-bit differences between backends).
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads

_VL = 16  # row padding granularity (elements), as the Cython kernel's vectors


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _geometry(cw, KW, sw, dw):
    nvec = (cw + _VL - 1) // _VL
    PL = (nvec * _VL + ((KW - 1) * dw) // sw + _VL - 1) // _VL * _VL
    return PL


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _copy_rows(x, n, c, buf, i0, i1, NR, PL, od, oh0, pc0, KD, sd, sh, sw, dd, pd, ph, pw):
    """Padded, phase-split copies of input rows [i0, i1) of every kd: buffer row
    ``(kd * NR + i) * sw + q``, column j = input column ``pc0 - pw + q + sw * j``."""
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    for kd in range(KD):
        idd = od * sd + kd * dd - pd
        for i in range(i0, i1):
            ih = oh0 * sh - ph + i
            for q in range(sw):
                r = (kd * NR + i) * sw + q
                if idd < 0 or idd >= D or ih < 0 or ih >= H:
                    for j in range(PL):
                        buf[r, j] = 0
                    continue
                cf = pc0 - pw + q  # input column of element 0 of this phase
                jlo = 0 if cf >= 0 else (-cf + sw - 1) // sw
                lim = W - 1 - cf
                jhi = lim // sw + 1 if lim >= 0 else 0
                jlo = max(min(jlo, PL), 0)
                jhi = max(min(jhi, PL), jlo)
                for j in range(jlo):
                    buf[r, j] = 0
                base = max(cf + jlo * sw, 0)
                if sw == 1:
                    for j in range(jhi - jlo):
                        buf[r, jlo + j] = x[n, c, idd, ih, base + j]
                else:
                    for j in range(jhi - jlo):
                        buf[r, jlo + j] = x[n, c, idd, ih, base + j * sw]
                for j in range(jhi, PL):
                    buf[r, j] = 0


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _row(buf, w, co, init, tmp, k, NR, nv, KD, KH, KW, sh, dh, sw, dw):
    """tmp[:nv] = output row ``k`` (relative to the job) of one column chunk."""
    if KH == 3 and KW == 3 and sw == 1 and dw == 1 and dh == 1:
        for kd in range(KD):
            i0 = max(kd * NR + k * sh, 0)
            i1 = i0 + 1
            i2 = i0 + 2
            w00, w01, w02 = w[co, 0, kd, 0, 0], w[co, 0, kd, 0, 1], w[co, 0, kd, 0, 2]
            w10, w11, w12 = w[co, 0, kd, 1, 0], w[co, 0, kd, 1, 1], w[co, 0, kd, 1, 2]
            w20, w21, w22 = w[co, 0, kd, 2, 0], w[co, 0, kd, 2, 1], w[co, 0, kd, 2, 2]
            # three independent 3-tap chains, then their sum: short dependency
            # chains (LLVM does not reassociate an FMA chain by itself)
            if kd == 0:
                for v in range(nv):
                    s0 = w00 * buf[i0, v] + w01 * buf[i0, v + 1] + w02 * buf[i0, v + 2]
                    s1 = w10 * buf[i1, v] + w11 * buf[i1, v + 1] + w12 * buf[i1, v + 2]
                    s2 = w20 * buf[i2, v] + w21 * buf[i2, v + 1] + w22 * buf[i2, v + 2]
                    tmp[v] = init + (s0 + s1 + s2)
            else:
                for v in range(nv):
                    s0 = w00 * buf[i0, v] + w01 * buf[i0, v + 1] + w02 * buf[i0, v + 2]
                    s1 = w10 * buf[i1, v] + w11 * buf[i1, v + 1] + w12 * buf[i1, v + 2]
                    s2 = w20 * buf[i2, v] + w21 * buf[i2, v + 1] + w22 * buf[i2, v + 2]
                    tmp[v] = tmp[v] + (s0 + s1 + s2)
        return
    for v in range(nv):
        tmp[v] = init
    for kd in range(KD):
        for kh in range(KH):
            rb = ((kd * NR + k * sh + kh * dh) * sw)
            kw = 0
            while kw < KW:
                r0 = max(rb + (kw * dw) % sw, 0)
                o0 = max((kw * dw) // sw, 0)
                a = w[co, 0, kd, kh, kw]
                if kw + 3 <= KW:
                    r1 = max(rb + ((kw + 1) * dw) % sw, 0)
                    o1 = max(((kw + 1) * dw) // sw, 0)
                    r2 = max(rb + ((kw + 2) * dw) % sw, 0)
                    o2 = max(((kw + 2) * dw) // sw, 0)
                    b = w[co, 0, kd, kh, kw + 1]
                    c = w[co, 0, kd, kh, kw + 2]
                    for v in range(nv):
                        tmp[v] = tmp[v] + (a * buf[r0, v + o0] + b * buf[r1, v + o1]
                                           + c * buf[r2, v + o2])
                    kw += 3
                elif kw + 2 <= KW:
                    r1 = max(rb + ((kw + 1) * dw) % sw, 0)
                    o1 = max(((kw + 1) * dw) // sw, 0)
                    b = w[co, 0, kd, kh, kw + 1]
                    for v in range(nv):
                        tmp[v] = tmp[v] + (a * buf[r0, v + o0] + b * buf[r1, v + o1])
                    kw += 2
                else:
                    for v in range(nv):
                        tmp[v] = tmp[v] + a * buf[r0, v + o0]
                    kw += 1


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _job(x, w, b, has_bias, out, job, nrb, rb, cw, s, d, p, buf, tmp):
    C = x.shape[1]
    Co, KD, KH, KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    mult = Co // C
    rest = job // nrb
    oh0 = (job % nrb) * rb
    oh1 = min(OH, oh0 + rb)
    od = rest % OD
    plane = rest // OD
    co = plane % Co
    n = plane // Co
    ci = co // mult
    init = b[co] if has_bias else 0.0
    NR = (oh1 - oh0 - 1) * sh + (KH - 1) * dh + 1
    nchunk = (OW + cw - 1) // cw
    for ch in range(nchunk):
        c0 = max(ch * cw, 0)
        ncols = min(cw, OW - c0)
        PL = _geometry(ncols, KW, sw, dw)
        nv = (ncols + _VL - 1) // _VL * _VL
        ncopied = 0
        for k in range(oh1 - oh0):
            need = k * sh + (KH - 1) * dh + 1
            if need > ncopied:
                _copy_rows(x, n, ci, buf, ncopied, need, NR, PL, od, oh0, c0 * sw, KD, sd,
                           sh, sw, dd, pd, ph, pw)
                ncopied = need
            _row(buf, w, co, init, tmp, k, NR, nv, KD, KH, KW, sh, dh, sw, dw)
            for v in range(ncols):
                out[n, co, od, oh0 + k, c0 + v] = tmp[v]


@njit(cache=True, fastmath=FASTMATH)
def _nbuf(rb, cw, KD, KH, KW, sh, sw, dh, dw):
    NR = (rb - 1) * sh + (KH - 1) * dh + 1
    return KD * NR * sw, _geometry(cw, KW, sw, dw)


@njit(cache=True, fastmath=FASTMATH)
def _dw_serial(x, w, b, has_bias, out, rb, cw, s, d, p):
    OD, OH = out.shape[2], out.shape[3]
    nrb = (OH + rb - 1) // rb
    njobs = out.shape[0] * out.shape[1] * OD * nrb
    nr, pl = _nbuf(rb, cw, w.shape[2], w.shape[3], w.shape[4], s[1], s[2], d[1], d[2])
    buf = np.empty((nr, pl), x.dtype)
    tmp = np.empty(pl, x.dtype)
    for job in range(njobs):
        _job(x, w, b, has_bias, out, job, nrb, rb, cw, s, d, p, buf, tmp)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _dw_parallel(x, w, b, has_bias, out, rb, cw, s, d, p, nchunks):
    OD, OH = out.shape[2], out.shape[3]
    nrb = (OH + rb - 1) // rb
    njobs = out.shape[0] * out.shape[1] * OD * nrb
    nr, pl = _nbuf(rb, cw, w.shape[2], w.shape[3], w.shape[4], s[1], s[2], d[1], d[2])
    # one buffer per chunk of consecutive jobs (chunks, not threads: the
    # partition is fixed by the shape)
    per = (njobs + nchunks - 1) // nchunks
    for ch in prange(nchunks):
        buf = np.empty((nr, pl), x.dtype)
        tmp = np.empty(pl, x.dtype)
        for job in range(ch * per, min(njobs, (ch + 1) * per)):
            _job(x, w, b, has_bias, out, job, nrb, rb, cw, s, d, p, buf, tmp)


def conv_depthwise(x, w, b, has_bias, out, stride, dilation, pad, rowblock, colblock,
                   nthreads):
    """Depthwise convolution into ``out`` (C_out = multiplier x C_in, groups = C_in).

    ``rowblock`` output rows (of one plane and depth) form one job; ``colblock``
    output columns are buffered at a time.  Neither changes the result.
    """
    if w.shape[1] != 1 or w.shape[0] % x.shape[1] or out.shape[1] != w.shape[0]:
        raise ValueError("conv_depthwise: inconsistent shapes")
    OH, OW = out.shape[3], out.shape[4]
    rb = max(1, min(int(rowblock), OH))
    cw = max(1, min(int(colblock), OW))
    args = (x, w, b, bool(has_bias), out, rb, cw, tuple(int(v) for v in stride),
            tuple(int(v) for v in dilation), tuple(int(v) for v in pad))
    njobs = out.shape[0] * out.shape[1] * out.shape[2] * (-(-OH // rb))
    if njobs == 0:
        return out
    if nthreads > 1 and njobs > 1:
        numba_threads(nthreads)
        _dw_parallel(*args, min(njobs, 8 * int(nthreads)))
    else:
        _dw_serial(*args)
    return out
