"""Direct convolution, Numba backend.

Arrays arrive 3-D-normalised: x (N, C, D, H, W), w (Co, C/groups, KD, KH, KW),
out (N, Co, OD, OH, OW), all C-contiguous in the compute dtype.  Zero padding is
implicit (taps outside the input are skipped, nothing is materialised).

Work unit: one block of one output row.  The output row stays in L1 while
every (input channel, tap) adds a strided axpy of an input row into it.  Each
output element is summed in the same order whatever the blocking or thread
count, so results are bit-identical across thread counts.
"""

from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _conv_block(x, w, b, has_bias, out, job, nblk, cb, s, d, p, groups):
    # Written for LLVM's vectoriser: no array views in the loops (each view costs
    # reference-count calls), and every index provably non-negative (``max(., 0)``)
    # so Numba's negative-index wraparound folds away and the column loops become
    # unit-stride SIMD loops (with a view and ``xrow[ow + off]``, ``off`` of unknown
    # sign, the wraparound select kept the loop scalar: ~5x slower).
    D, H, W = x.shape[2], x.shape[3], x.shape[4]
    Co, cig, KD, KH, KW = w.shape
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    sd, sh, sw = s
    dd, dh, dw = d
    pd, ph, pw = p
    cog = Co // groups
    blk = job % nblk
    r = job // nblk
    oh = r % OH
    r //= OH
    od = r % OD
    r //= OD
    co = r % Co
    n = r // Co
    g = co // cog
    c0 = max(blk * cb, 0)
    c1 = min(OW, c0 + cb)
    init = b[co] if has_bias else 0.0
    for i in range(c1 - c0):
        out[n, co, od, oh, c0 + i] = init
    for ci in range(cig):
        c = g * cig + ci
        for kd in range(KD):
            idd = od * sd + kd * dd - pd
            if idd < 0 or idd >= D:
                continue
            for kh in range(KH):
                ih = oh * sh + kh * dh - ph
                if ih < 0 or ih >= H:
                    continue
                for kw in range(KW):
                    wv = w[co, ci, kd, kh, kw]
                    off = kw * dw - pw
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    lim = W - 1 - off
                    hi = lim // sw + 1 if lim >= 0 else 0
                    lo = max(lo, c0)
                    hi = min(hi, c1)
                    if hi <= lo:
                        continue
                    xb = max(lo * sw + off, 0)  # input column of output column lo
                    if sw == 1:
                        for i in range(hi - lo):
                            out[n, co, od, oh, lo + i] += wv * x[n, c, idd, ih, xb + i]
                    else:
                        for i in range(hi - lo):
                            out[n, co, od, oh, lo + i] += wv * x[n, c, idd, ih, xb + i * sw]


@njit(cache=True, fastmath=FASTMATH)
def _conv_direct_serial(x, w, b, has_bias, out, cb, s, d, p, groups):
    OW = out.shape[4]
    nblk = (OW + cb - 1) // cb
    njobs = out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3] * nblk
    for job in range(njobs):
        _conv_block(x, w, b, has_bias, out, job, nblk, cb, s, d, p, groups)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _conv_direct_parallel(x, w, b, has_bias, out, cb, s, d, p, groups):
    OW = out.shape[4]
    nblk = (OW + cb - 1) // cb
    njobs = out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3] * nblk
    for job in prange(njobs):
        _conv_block(x, w, b, has_bias, out, job, nblk, cb, s, d, p, groups)


def conv_direct(x, w, b, has_bias, out, stride, dilation, pad, groups, colblock, nthreads):
    """Direct convolution into ``out`` (see module docstring for the layout)."""
    args = (x, w, b, bool(has_bias), out, int(colblock), tuple(stride), tuple(dilation),
            tuple(pad), int(groups))
    if nthreads > 1:
        numba_threads(nthreads)
        _conv_direct_parallel(*args)
    else:
        _conv_direct_serial(*args)
    return out

