"""Pooling kernels, Numba backend (same names and contract as ``cython/pool.pyx``).

Arrays arrive as C-contiguous planes: ``x (P, D, H, W)`` with ``P = N * C``
(1-D and 2-D pooling use unit leading axes), outputs ``(P, OD, OH, OW)``.
Geometry arguments are 3-tuples ``(d, h, w)``: ``kernel``, ``stride``,
``dilation`` and ``padb`` (padding before; the padding after only matters
through the output size, which the caller derived).  Padded taps are skipped,
never read; the caller guarantees that every window overlaps the input.

Forward work unit: one output row ``(p, od, oh)``.  The row's vertical taps
(kd, kh) are reduced column-wise into a row buffer (contiguous, vectorised),
then the horizontal taps are reduced from that buffer.  Backward kernels write
each input element from one work unit only (input rows, or whole planes for
scatters), so no two threads touch the same element and every element is
accumulated in a fixed order: results are bit-identical for any thread count.

Max is NaN-propagating with PyTorch's rule ``v > m or isnan(v)`` (the last NaN,
or the first maximum in row-major window order, wins).
"""

import numpy as np
from numba import njit, prange

from ..._config import FASTMATH
from ..._spec import pool_window_taps
from ...threads import numba_threads

_OPTS = dict(cache=True, fastmath=FASTMATH)


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _gt(v, m):
    """True when ``v`` replaces the running max ``m`` (NaN wins, ties keep the first)."""
    return (v > m) | (v != v)


@njit(inline="always", **_OPTS)
def _taps(o, s, d, pb, k, L):
    """(start, lo, hi): window start and the range of its taps inside [0, L)."""
    st = o * s - pb
    lo = 0 if st >= 0 else (-st + d - 1) // d
    hi = (L - 1 - st) // d + 1
    if hi > k:
        hi = k
    return st, lo, hi


@njit(inline="always", **_OPTS)
def _interior(OW, W, k, s, d, pb):
    """[a, b): output columns whose whole window lies inside the input row."""
    a = (pb + s - 1) // s
    lim = W - 1 - (k - 1) * d + pb
    b = lim // s + 1 if lim >= 0 else 0
    if b > OW:
        b = OW
    if a > b:
        a = b
    return a, b


@njit(inline="always", **_OPTS)
def _nchunks(njobs, nthreads):
    c = nthreads * 16
    return njobs if njobs < c else c


# ---------------------------------------------------------------------------
# max pooling, values only
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _max_rows(x, out, j0, j1, K, S, Dl, Pb, T):
    P, D, H, W = x.shape
    OD, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    kd_, kh_, kw = K
    sd, sh, sw = S
    dd, dh, dw = Dl
    pd, ph, pw = Pb
    td, th, tw = T
    a, b = _interior(OW, W, kw, sw, dw, pw)
    xf = x.reshape(-1)
    of = out.reshape(-1)
    buf = np.empty(W, x.dtype)
    n = b - a
    for job in range(j0, j1):
        oh = job % OH
        r = job // OH
        od = r % OD
        p = r // OD
        std, d0, d1 = td[0, od], td[1, od], td[2, od]
        sth, h0, h1 = th[0, oh], th[1, oh], th[2, oh]
        first = True
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                r0 = ((p * D + std + jd * dd) * H + sth + jh * dh) * W
                row = xf[r0:r0 + W]  # views: no negative-index checks in the loops
                if first:
                    for w in range(W):
                        buf[w] = row[w]
                    first = False
                else:
                    for w in range(W):
                        v = row[w]
                        m = buf[w]
                        buf[w] = v if _gt(v, m) else m
        orow = of[job * OW:(job + 1) * OW]
        sb = buf[a * sw - pw:] if n > 0 else buf
        oi = orow[a:b]
        if kw == 2 and dw == 1 and sw == 2:
            for j in range(n):
                m = sb[2 * j]
                v = sb[2 * j + 1]
                oi[j] = v if _gt(v, m) else m
        elif kw == 3 and dw == 1 and sw == 2:
            for j in range(n):
                m = sb[2 * j]
                v = sb[2 * j + 1]
                m = v if _gt(v, m) else m
                v = sb[2 * j + 2]
                oi[j] = v if _gt(v, m) else m
        else:
            for j in range(n):
                i = j * sw
                m = sb[i]
                for jw in range(1, kw):
                    v = sb[i + jw * dw]
                    m = v if _gt(v, m) else m
                oi[j] = m
        for e in range(2):
            lo = 0 if e == 0 else b
            hi = a if e == 0 else OW
            for ow in range(lo, hi):
                stw, w0, w1 = tw[0, ow], tw[1, ow], tw[2, ow]
                m = buf[stw + w0 * dw]
                for jw in range(w0 + 1, w1):
                    v = buf[stw + jw * dw]
                    m = v if _gt(v, m) else m
                orow[ow] = m


@njit(**_OPTS)
def _max_pool_serial(x, out, K, S, Dl, Pb, T):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    _max_rows(x, out, 0, njobs, K, S, Dl, Pb, T)


@njit(parallel=True, **_OPTS)
def _max_pool_parallel(x, out, K, S, Dl, Pb, T, nthreads):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _max_rows(x, out, c * njobs // nc, (c + 1) * njobs // nc, K, S, Dl, Pb, T)


def _geom(kernel, stride, dilation, padb, shape_in, shape_out):
    """Geometry tuples plus per-axis tap tables ``(3, O)`` int64: window start and
    the valid tap range ``[lo, hi)`` of every output position (no division in loops)."""
    K, S, Dl, Pb = (tuple(int(v) for v in kernel), tuple(int(v) for v in stride),
                    tuple(int(v) for v in dilation), tuple(int(v) for v in padb))
    T = tuple(
        np.stack(pool_window_taps(shape_in[a + 1], shape_out[a + 1], K[a], S[a], Dl[a], Pb[a]))
        for a in range(3)
    )
    return K, S, Dl, Pb, T


def max_pool(x, out, kernel, stride, dilation, padb, nthreads):
    """Max pooling of ``x (P, D, H, W)`` into ``out (P, OD, OH, OW)``."""
    if out.size == 0:
        return out
    g = _geom(kernel, stride, dilation, padb, x.shape, out.shape)
    if nthreads > 1:
        numba_threads(nthreads)
        _max_pool_parallel(x, out, *g, int(nthreads))
    else:
        _max_pool_serial(x, out, *g)
    return out


# ---------------------------------------------------------------------------
# max pooling with indices (row-major first maximum, as PyTorch)
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _idxtap(row, m, b, n, c0, base, sw, first):
    """One tap of ``n`` windows (values ``row[c0 + j * sw]``, flat indices ``base +
    c0 + j * sw``) into the running max ``m`` and its index ``b``, or their first
    values.  Loops over windows, not taps, with selects; constant strides for 1
    and 2 and a view from ``c0`` (indices LLVM knows are not negative: no
    wraparound branch).  Otherwise LLVM keeps branches: 7x slower."""
    r = row[c0:]
    pos = base + c0
    if first:
        for j in range(n):
            m[j] = r[j * sw]
            b[j] = pos + j * sw
    elif sw == 2:
        for j in range(n):
            v = r[2 * j]
            o = m[j]
            t = _gt(v, o)
            m[j] = v if t else o
            b[j] = pos + 2 * j if t else b[j]
    elif sw == 1:
        for j in range(n):
            v = r[j]
            o = m[j]
            t = _gt(v, o)
            m[j] = v if t else o
            b[j] = pos + j if t else b[j]
    else:
        for j in range(n):
            v = r[j * sw]
            o = m[j]
            t = _gt(v, o)
            m[j] = v if t else o
            b[j] = pos + j * sw if t else b[j]


@njit(inline="always", **_OPTS)
def _maxidx_rows(x, out, idx, j0, j1, K, S, Dl, Pb, T):
    P, D, H, W = x.shape
    OD, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    kd_, kh_, kw = K
    sd, sh, sw = S
    dd, dh, dw = Dl
    pd, ph, pw = Pb
    td, th, tw = T
    a, b = _interior(OW, W, kw, sw, dw, pw)
    n = b - a
    xf = x.reshape(-1)
    of = out.reshape(-1)
    jf = idx.reshape(-1)
    for job in range(j0, j1):
        oh = job % OH
        r = job // OH
        od = r % OD
        p = r // OD
        std, d0, d1 = td[0, od], td[1, od], td[2, od]
        sth, h0, h1 = th[0, oh], th[1, oh], th[2, oh]
        xp = x[p]
        # interior windows: one pass over the row per tap, in row-major window
        # order, with selects (a branch per tap mispredicts on random data)
        orow = of[job * OW + a:job * OW + b]
        irow = jf[job * OW + a:job * OW + b]
        first = True
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                base = ((std + jd * dd) * H + sth + jh * dh) * W
                row = xf[p * D * H * W + base:p * D * H * W + base + W]
                for jw in range(kw):
                    c0 = a * sw - pw + jw * dw
                    _idxtap(row, orow, irow, n, c0, base, sw, first)
                    first = False
        for e in range(2):
            lo = 0 if e == 0 else b
            hi = a if e == 0 else OW
            for ow in range(lo, hi):
                stw, w0, w1 = tw[0, ow], tw[1, ow], tw[2, ow]
                i0 = std + d0 * dd
                i1 = sth + h0 * dh
                i2 = stw + w0 * dw
                m = xp[i0, i1, i2]
                best = (i0 * H + i1) * W + i2
                for jd in range(d0, d1):
                    id_ = std + jd * dd
                    for jh in range(h0, h1):
                        ih = sth + jh * dh
                        for jw in range(w0, w1):
                            iw = stw + jw * dw
                            v = xp[id_, ih, iw]
                            t = _gt(v, m)
                            m = v if t else m
                            best = (id_ * H + ih) * W + iw if t else best
                out[p, od, oh, ow] = m
                idx[p, od, oh, ow] = best


@njit(**_OPTS)
def _max_pool_indices_serial(x, out, idx, K, S, Dl, Pb, T):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    _maxidx_rows(x, out, idx, 0, njobs, K, S, Dl, Pb, T)


@njit(parallel=True, **_OPTS)
def _max_pool_indices_parallel(x, out, idx, K, S, Dl, Pb, T, nthreads):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _maxidx_rows(x, out, idx, c * njobs // nc, (c + 1) * njobs // nc, K, S, Dl, Pb, T)


def max_pool_indices(x, out, idx, kernel, stride, dilation, padb, nthreads):
    """Max pooling with the flat in-plane index of each maximum into ``idx`` (int64)."""
    if out.size == 0:
        return out
    g = _geom(kernel, stride, dilation, padb, x.shape, out.shape)
    if nthreads > 1:
        numba_threads(nthreads)
        _max_pool_indices_parallel(x, out, idx, *g, int(nthreads))
    else:
        _max_pool_indices_serial(x, out, idx, *g)
    return out


# ---------------------------------------------------------------------------
# max pooling backward, recomputing the argmax (one plane per work unit)
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _maxbw_plane(g, x, gx, p, K, S, Dl, Pb, T, mb, bb):
    """Zero plane ``p`` of ``gx``, then add each window's gradient at its argmax,
    windows in order.  Interior windows of a row find their argmax together, one
    vectorised pass per tap (``_idxtap`` into the row buffers ``mb``/``bb``)."""
    P, D, H, W = x.shape
    OD, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    kd_, kh_, kw = K
    sd, sh, sw = S
    dd, dh, dw = Dl
    pd, ph, pw = Pb
    td, th, tw = T
    a, b = _interior(OW, W, kw, sw, dw, pw)
    n = b - a
    xf = x[p].reshape(-1)
    gf = gx[p].reshape(-1)
    for i in range(gf.shape[0]):
        gf[i] = 0
    for od in range(OD):
        std, d0, d1 = td[0, od], td[1, od], td[2, od]
        for oh in range(OH):
            sth, h0, h1 = th[0, oh], th[1, oh], th[2, oh]
            grow = g[p, od, oh]
            first = True
            for jd in range(d0, d1):
                for jh in range(h0, h1):
                    base = ((std + jd * dd) * H + sth + jh * dh) * W
                    row = xf[base:base + W]
                    for jw in range(kw):
                        _idxtap(row, mb, bb, n, a * sw - pw + jw * dw, base, sw, first)
                        first = False
            gi = grow[a:b]
            for j in range(n):
                gf[bb[j]] += gi[j]
            for e in range(2):
                lo = 0 if e == 0 else b
                hi = a if e == 0 else OW
                for ow in range(lo, hi):
                    stw, w0, w1 = tw[0, ow], tw[1, ow], tw[2, ow]
                    best = ((std + d0 * dd) * H + sth + h0 * dh) * W + stw + w0 * dw
                    m = xf[best]
                    for jd in range(d0, d1):
                        for jh in range(h0, h1):
                            rb = ((std + jd * dd) * H + sth + jh * dh) * W + stw
                            for jw in range(w0, w1):
                                q = rb + jw * dw
                                v = xf[q]
                                t = _gt(v, m)
                                m = v if t else m
                                best = q if t else best
                    gf[best] += grow[ow]


@njit(**_OPTS)
def _max_pool_backward_serial(g, x, gx, K, S, Dl, Pb, T):
    n = g.shape[3]
    mb = np.empty(n, x.dtype)
    bb = np.empty(n, np.int64)
    for p in range(x.shape[0]):
        _maxbw_plane(g, x, gx, p, K, S, Dl, Pb, T, mb, bb)


@njit(parallel=True, **_OPTS)
def _max_pool_backward_parallel(g, x, gx, K, S, Dl, Pb, T, nthreads):
    # contiguous ranges of planes, each chunk with its own row buffers
    P = x.shape[0]
    nc = _nchunks(P, nthreads)
    for c in prange(nc):
        mb = np.empty(g.shape[3], x.dtype)
        bb = np.empty(g.shape[3], np.int64)
        for p in range(c * P // nc, (c + 1) * P // nc):
            _maxbw_plane(g, x, gx, p, K, S, Dl, Pb, T, mb, bb)


def max_pool_backward(g, x, gx, kernel, stride, dilation, padb, nthreads, stream=False):
    """Input gradient of max pooling (argmax recomputed) into ``gx (P, D, H, W)``.

    ``stream`` (non-temporal stores in the Cython kernel) is accepted and ignored:
    Numba has no streaming stores."""
    if gx.size == 0:
        return gx
    geo = _geom(kernel, stride, dilation, padb, x.shape, g.shape)
    if nthreads > 1:
        numba_threads(nthreads)
        _max_pool_backward_parallel(g, x, gx, *geo, int(nthreads))
    else:
        _max_pool_backward_serial(g, x, gx, *geo)
    return gx


# ---------------------------------------------------------------------------
# scatter by indices (max pooling backward with indices, max_unpool)
# ---------------------------------------------------------------------------
@njit(**_OPTS)
def _scatter_plane(src, idx, dst, p, accumulate, band):
    """As the Cython kernel's ``_scatter_plane``: with a ``band`` (one entry per row
    of indices) the zeroing runs just ahead of the scatter; an index past the zeroed
    part zeroes the rest of the plane first, so the result is the same for any
    indices."""
    d = dst[p]
    s = src[p]
    ix = idx[p]
    S = d.shape[0]
    R = max(band.shape[0], 1)  # no band: one row reaching the whole plane
    nbad = 0
    z = 0
    L = s.shape[0] // R
    for r in range(R):
        end = band[r] if band.shape[0] > 0 else S
        if end > z:
            for i in range(z, end):
                d[i] = 0
            z = end
        for i in range(r * L, r * L + L):
            j = ix[i]
            if j < 0 or j >= S:
                nbad += 1
                continue
            if j >= z:
                for t in range(z, S):
                    d[t] = 0
                z = S
            if accumulate:
                d[j] += s[i]
            else:
                d[j] = s[i]
    for i in range(z, S):
        d[i] = 0
    return nbad


@njit(**_OPTS)
def _scatter_serial(src, idx, dst, accumulate, band):
    total = 0
    for p in range(dst.shape[0]):
        total += _scatter_plane(src, idx, dst, p, accumulate, band)
    return total


@njit(parallel=True, **_OPTS)
def _scatter_parallel(src, idx, dst, accumulate, band):
    total = 0
    for p in prange(dst.shape[0]):
        total += _scatter_plane(src, idx, dst, p, accumulate, band)
    return total


_NO_BAND = np.zeros(0, np.int64)


def scatter(src, idx, dst, accumulate, nthreads, band=None):
    """Per plane ``p``: ``dst[p] = 0``, then ``dst[p, idx[p, i]] (+)= src[p, i]`` in order.

    ``src``/``idx`` are ``(P, M)``, ``dst`` is ``(P, S)``; ``band`` as in the Cython
    kernel (one non-decreasing entry per row of indices, at most ``S``).  Returns the
    number of indices outside ``[0, S)`` (those are skipped; the caller raises).
    """
    if dst.size == 0:
        return 0
    band = _NO_BAND if band is None else band
    if band.shape[0] and src.shape[1] % band.shape[0]:
        raise ValueError(f"band: {band.shape[0]} rows do not divide {src.shape[1]} indices "
                         "per plane")
    if band.shape[0] and (band[0] < 0 or band[-1] > dst.shape[1]
                          or np.any(np.diff(band) < 0)):
        raise ValueError(f"band must be non-decreasing within [0, {dst.shape[1]}]")
    if nthreads > 1:
        numba_threads(nthreads)
        return int(_scatter_parallel(src, idx, dst, bool(accumulate), band))
    return int(_scatter_serial(src, idx, dst, bool(accumulate), band))


# ---------------------------------------------------------------------------
# weighted sum pooling: average, sum, Lp, Gaussian
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _pow_acc(buf, row, c, p, first):
    """``buf (+)= c * |row|^p`` (``p == 0``: ``row`` itself), the exponent tested once
    per row, not per element (a per-element test keeps LLVM from vectorising;
    ``c * v`` with ``c == 1`` is ``v`` exactly)."""
    W = row.shape[0]
    if p == 2.0:
        if first:
            for w in range(W):
                buf[w] = c * (row[w] * row[w])
        else:
            for w in range(W):
                buf[w] += c * (row[w] * row[w])
    elif p == 1.0:
        if first:
            for w in range(W):
                buf[w] = c * abs(row[w])
        else:
            for w in range(W):
                buf[w] += c * abs(row[w])
    elif p == 0.0:
        if first:
            for w in range(W):
                buf[w] = c * row[w]
        else:
            for w in range(W):
                buf[w] += c * row[w]
    elif first:
        for w in range(W):
            buf[w] = c * abs(row[w]) ** p
    else:
        for w in range(W):
            buf[w] += c * abs(row[w]) ** p


@njit(inline="always", **_OPTS)
def _sum_rows(x, out, j0, j1, K, S, Dl, Pb, T, wd, wh, ww, sd_, sh_, sw_, p):
    P, D, H, W = x.shape
    OD, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    kd_, kh_, kw = K
    sd, sh, sw = S
    dd, dh, dw = Dl
    pd, ph, pw = Pb
    td, th, tw = T
    a, b = _interior(OW, W, kw, sw, dw, pw)
    buf = np.empty(W, out.dtype)
    unit_w = True
    for jw in range(kw):
        if ww[jw] != 1:
            unit_w = False
    for job in range(j0, j1):
        oh = job % OH
        r = job // OH
        od = r % OD
        pl = r // OD
        std, d0, d1 = td[0, od], td[1, od], td[2, od]
        sth, h0, h1 = th[0, oh], th[1, oh], th[2, oh]
        first = True
        for jd in range(d0, d1):
            for jh in range(h0, h1):
                row = x[pl, std + jd * dd, sth + jh * dh]
                c = wd[jd] * wh[jh]
                if p == 0.0 and c == 1:
                    if first:
                        for w in range(W):
                            buf[w] = row[w]
                        first = False
                    else:
                        for w in range(W):
                            buf[w] += row[w]
                else:
                    _pow_acc(buf, row, c, p, first)
                    first = False
        orow = out[pl, od, oh]
        sc = sd_[od] * sh_[oh]
        lo_e, hi_e = OW, OW  # edges: [0, lo_e) and [hi_e, OW) use the generic loop
        if unit_w and b > a:
            n = b - a
            sb = buf[a * sw - pw:]
            oi = orow[a:b]
            si = sw_[a:b]
            if kw == 2 and dw == 1 and sw == 2:
                for j in range(n):
                    oi[j] = (sb[2 * j] + sb[2 * j + 1]) * (sc * si[j])
            elif kw == 3 and dw == 1 and sw == 2:
                for j in range(n):
                    oi[j] = (sb[2 * j] + sb[2 * j + 1] + sb[2 * j + 2]) * (sc * si[j])
            else:
                for j in range(n):
                    i = j * sw
                    acc = sb[i]
                    for jw in range(1, kw):
                        acc += sb[i + jw * dw]
                    oi[j] = acc * (sc * si[j])
            lo_e, hi_e = a, b
        for e in range(2):
            lo = 0 if e == 0 else hi_e
            hi = lo_e if e == 0 else OW
            for ow in range(lo, hi):
                stw, w0, w1 = tw[0, ow], tw[1, ow], tw[2, ow]
                acc = ww[w0] * buf[stw + w0 * dw]
                for jw in range(w0 + 1, w1):
                    acc += ww[jw] * buf[stw + jw * dw]
                orow[ow] = acc * (sc * sw_[ow])
        if p != 0.0:
            if p == 2.0:
                for ow in range(OW):
                    orow[ow] = np.sqrt(orow[ow])
            elif p != 1.0:
                q = 1.0 / p
                for ow in range(OW):
                    orow[ow] = orow[ow] ** q


@njit(**_OPTS)
def _sum_pool_serial(x, out, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw, p):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    _sum_rows(x, out, 0, njobs, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw, p)


@njit(parallel=True, **_OPTS)
def _sum_pool_parallel(x, out, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw, p, nthreads):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _sum_rows(x, out, c * njobs // nc, (c + 1) * njobs // nc, K, S, Dl, Pb, T,
                  wd, wh, ww, sd, sh, sw, p)


def sum_pool(x, out, kernel, stride, dilation, padb, wd, wh, ww, sd, sh, sw, p, nthreads):
    """Weighted window sums: ``out = scale * sum_taps w * f(x)`` (then ``**(1/p)``).

    ``wd, wh, ww``: tap weights per axis (length kernel); ``sd, sh, sw``: output
    scale per axis (length out size, e.g. reciprocal divisors); ``f(x) = x`` when
    ``p == 0``, else ``|x|**p`` and the result is raised to ``1/p`` (Lp pooling).
    Padded taps contribute nothing.
    """
    if out.size == 0:
        return out
    geo = _geom(kernel, stride, dilation, padb, x.shape, out.shape)
    args = (x, out) + geo + (wd, wh, ww, sd, sh, sw, float(p))
    if nthreads > 1:
        numba_threads(nthreads)
        _sum_pool_parallel(*args, int(nthreads))
    else:
        _sum_pool_serial(*args)
    return out


def sum_pool_int(x, out, kernel, stride, dilation, padb, sd, sh, sw, nthreads):
    """Unit-weight window sums of 8/16-bit integers ``x`` times the per-axis output
    scales, into float64 ``out``: ``sum_pool`` reading the integers as they are
    (its row buffer has ``out``'s dtype, so the sums are exact)."""
    ones = tuple(np.ones(k) for k in kernel)
    return sum_pool(x, out, kernel, stride, dilation, padb, *ones, sd, sh, sw, 0.0, nthreads)


@njit(inline="always", **_OPTS)
def _sumbw_rows(g, gx, j0, j1, K, S, Dl, Pb, T, wd, wh, ww, sd_, sh_, sw_):
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    kd_, kh_, kw = K
    sd, sh, sw = S
    dd, dh, dw = Dl
    pd, ph, pw = Pb
    td, th, tw = T
    cw = np.empty(OW, gx.dtype)
    a, b = _interior(OW, W, kw, sw, dw, pw)
    n = b - a
    unit2 = kw == 2 and dw == 1 and sw == 2 and ww[0] == 1 and ww[1] == 1
    for job in range(j0, j1):
        ih = job % H
        r = job // H
        id_ = r % D
        pl = r // D
        grow_x = gx[pl, id_, ih]
        for w in range(W):
            grow_x[w] = 0
        # output depths/rows whose window has a tap on input depth id_ / row ih
        for jd in range(kd_):
            t = id_ + pd - jd * dd
            if t < 0 or t % sd != 0:
                continue
            od = t // sd
            if od >= OD:
                continue
            for jh in range(kh_):
                u = ih + ph - jh * dh
                if u < 0 or u % sh != 0:
                    continue
                oh = u // sh
                if oh >= OH:
                    continue
                c = wd[jd] * wh[jh] * sd_[od] * sh_[oh]
                gr = g[pl, od, oh]
                for ow in range(OW):
                    cw[ow] = c * (gr[ow] * sw_[ow])
                # interior windows (as the Cython kernel: then the edges), through
                # views from the first tap: indices LLVM knows are not negative
                if n > 0:
                    xr = grow_x[a * sw - pw:]
                    ci = cw[a:b]
                    if unit2:
                        for j in range(n):
                            xr[2 * j] += ci[j]
                            xr[2 * j + 1] += ci[j]
                    else:
                        for j in range(n):
                            v = ci[j]
                            for jw in range(kw):
                                xr[j * sw + jw * dw] += ww[jw] * v
                for e in range(2):
                    lo = 0 if e == 0 else b
                    hi = a if e == 0 else OW
                    for ow in range(lo, hi):
                        stw, w0, w1 = tw[0, ow], tw[1, ow], tw[2, ow]
                        v = cw[ow]
                        for jw in range(w0, w1):
                            grow_x[stw + jw * dw] += ww[jw] * v


@njit(**_OPTS)
def _sum_pool_backward_serial(g, gx, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2]
    _sumbw_rows(g, gx, 0, njobs, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw)


@njit(parallel=True, **_OPTS)
def _sum_pool_backward_parallel(g, gx, K, S, Dl, Pb, T, wd, wh, ww, sd, sh, sw, nthreads):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _sumbw_rows(g, gx, c * njobs // nc, (c + 1) * njobs // nc, K, S, Dl, Pb, T,
                    wd, wh, ww, sd, sh, sw)


def sum_pool_backward(g, gx, kernel, stride, dilation, padb, wd, wh, ww, sd, sh, sw,
                      nthreads):
    """Transpose of :func:`sum_pool` with ``p == 0``: ``gx (P, D, H, W)`` from ``g``.

    Work unit: one input row, which gathers from every output row whose windows
    touch it (so no two threads write the same element).
    """
    if gx.size == 0:
        return gx
    geo = _geom(kernel, stride, dilation, padb, gx.shape, g.shape)
    args = (g, gx) + geo + (wd, wh, ww, sd, sh, sw)
    if nthreads > 1:
        numba_threads(nthreads)
        _sum_pool_backward_parallel(*args, int(nthreads))
    else:
        _sum_pool_backward_serial(*args)
    return gx


# ---------------------------------------------------------------------------
# adaptive pooling (window o of an axis: [lo[o], hi[o]), PyTorch's rule)
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _adavg_rows(x, out, j0, j1, dlo, dhi, hlo, hhi, wlo, whi):
    P, D, H, W = x.shape
    OD, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    buf = np.empty(W, out.dtype)
    for job in range(j0, j1):
        oh = job % OH
        r = job // OH
        od = r % OD
        pl = r // OD
        for w in range(W):
            buf[w] = 0
        for id_ in range(dlo[od], dhi[od]):
            for ih in range(hlo[oh], hhi[oh]):
                row = x[pl, id_, ih]
                for w in range(W):
                    buf[w] += row[w]
        cnt = (dhi[od] - dlo[od]) * (hhi[oh] - hlo[oh])
        orow = out[pl, od, oh]
        for ow in range(OW):
            acc = buf[wlo[ow]]
            for w in range(wlo[ow] + 1, whi[ow]):
                acc += buf[w]
            orow[ow] = acc / (cnt * (whi[ow] - wlo[ow]))


@njit(**_OPTS)
def _adaptive_avg_serial(x, out, dlo, dhi, hlo, hhi, wlo, whi):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    _adavg_rows(x, out, 0, njobs, dlo, dhi, hlo, hhi, wlo, whi)


@njit(parallel=True, **_OPTS)
def _adaptive_avg_parallel(x, out, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _adavg_rows(x, out, c * njobs // nc, (c + 1) * njobs // nc, dlo, dhi, hlo, hhi,
                    wlo, whi)


def adaptive_avg(x, out, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    """Adaptive average pooling; window bounds per axis as int64 arrays."""
    if out.size == 0:
        return out
    if nthreads > 1:
        numba_threads(nthreads)
        _adaptive_avg_parallel(x, out, dlo, dhi, hlo, hhi, wlo, whi, int(nthreads))
    else:
        _adaptive_avg_serial(x, out, dlo, dhi, hlo, hhi, wlo, whi)
    return out


@njit(inline="always", **_OPTS)
def _adavgbw_rows(g, gx, j0, j1, dlo, dhi, hlo, hhi, wlo, whi):
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    for job in range(j0, j1):
        ih = job % H
        r = job // H
        id_ = r % D
        pl = r // D
        grow_x = gx[pl, id_, ih]
        for w in range(W):
            grow_x[w] = 0
        for od in range(OD):
            if id_ < dlo[od] or id_ >= dhi[od]:
                continue
            for oh in range(OH):
                if ih < hlo[oh] or ih >= hhi[oh]:
                    continue
                cnt = (dhi[od] - dlo[od]) * (hhi[oh] - hlo[oh])
                gr = g[pl, od, oh]
                for ow in range(OW):
                    v = gr[ow] / (cnt * (whi[ow] - wlo[ow]))
                    for w in range(wlo[ow], whi[ow]):
                        grow_x[w] += v


@njit(**_OPTS)
def _adaptive_avg_backward_serial(g, gx, dlo, dhi, hlo, hhi, wlo, whi):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2]
    _adavgbw_rows(g, gx, 0, njobs, dlo, dhi, hlo, hhi, wlo, whi)


@njit(parallel=True, **_OPTS)
def _adaptive_avg_backward_parallel(g, gx, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    njobs = gx.shape[0] * gx.shape[1] * gx.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _adavgbw_rows(g, gx, c * njobs // nc, (c + 1) * njobs // nc, dlo, dhi, hlo, hhi,
                      wlo, whi)


def adaptive_avg_backward(g, gx, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    """Input gradient of adaptive average pooling (one input row per work unit)."""
    if gx.size == 0:
        return gx
    if nthreads > 1:
        numba_threads(nthreads)
        _adaptive_avg_backward_parallel(g, gx, dlo, dhi, hlo, hhi, wlo, whi, int(nthreads))
    else:
        _adaptive_avg_backward_serial(g, gx, dlo, dhi, hlo, hhi, wlo, whi)
    return gx


# ---------------------------------------------------------------------------
# global average pooling (every output size 1): x (P, S) -> out (P,)
# ---------------------------------------------------------------------------
#: Elements per partial sum (as the Cython kernel): fixed chunks summed in
#: float64, added in order -- the result does not depend on the thread count.
GAP_CHUNK = 32768


@njit(inline="always", **_OPTS)
def _gap_units(x, part, nch, u0, u1):
    S = x.shape[1]
    for u in range(u0, u1):
        p = u // nch
        c = (u % nch) * GAP_CHUNK
        row = x[p]
        acc = 0.0
        for i in range(c, min(S, c + GAP_CHUNK)):
            acc += np.float64(row[i])
        part[u] = acc


@njit(**_OPTS)
def _global_avg_serial(x, part, nch):
    _gap_units(x, part, nch, 0, part.shape[0])


@njit(parallel=True, **_OPTS)
def _global_avg_parallel(x, part, nch, nthreads):
    U = part.shape[0]
    nc = _nchunks(U, nthreads)
    for c in prange(nc):
        _gap_units(x, part, nch, c * U // nc, (c + 1) * U // nc)


def global_avg(x, out, nthreads):
    """``out[p] = mean(x[p, :])`` for ``x (P, S)``, accumulated in float64."""
    P, S = x.shape
    if P == 0:
        return out
    nch = max(1, -(-S // GAP_CHUNK))
    part = np.empty(P * nch, np.float64)
    if nthreads > 1 and part.size > 1:
        numba_threads(nthreads)
        _global_avg_parallel(x, part, nch, int(nthreads))
    else:
        _global_avg_serial(x, part, nch)
    out[:] = (part.reshape(P, nch).sum(axis=1) if nch > 1 else part) / S
    return out


@njit(inline="always", **_OPTS)
def _fill_planes(g, gx, p0, p1):
    S = gx.shape[1]
    for p in range(p0, p1):
        v = g[p] / S
        row = gx[p]
        for i in range(S):
            row[i] = v


@njit(**_OPTS)
def _global_avg_backward_serial(g, gx):
    _fill_planes(g, gx, 0, gx.shape[0])


@njit(parallel=True, **_OPTS)
def _global_avg_backward_parallel(g, gx, nthreads):
    P = gx.shape[0]
    nc = _nchunks(P, nthreads)
    for c in prange(nc):
        _fill_planes(g, gx, c * P // nc, (c + 1) * P // nc)


def global_avg_backward(g, gx, nthreads):
    """Input gradient of ``global_avg``: ``gx[p, :] = g[p] / S``."""
    if gx.size == 0:
        return gx
    if nthreads > 1:
        numba_threads(nthreads)
        _global_avg_backward_parallel(g, gx, int(nthreads))
    else:
        _global_avg_backward_serial(g, gx)
    return gx


@njit(inline="always", **_OPTS)
def _admax_rows(x, out, idx, j0, j1, dlo, dhi, hlo, hhi, wlo, whi):
    """Output rows ``[j0, j1)``: the window rows' column maxima (value, flat index)
    one vectorised pass per input row (``_idxtap``), then each window's argmax
    over its columns, ties to the smaller flat index (row-major first) and NaNs
    to the larger (the last NaN), as the Cython kernel."""
    P, D, H, W = x.shape
    OD, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    mb = np.empty(W, x.dtype)
    rb = np.empty(W, np.int64)
    for job in range(j0, j1):
        oh = job % OH
        r = job // OH
        od = r % OD
        pl = r // OD
        xf = x[pl].reshape(-1)
        first = True
        for id_ in range(dlo[od], dhi[od]):
            for ih in range(hlo[oh], hhi[oh]):
                pos = (id_ * H + ih) * W
                _idxtap(xf[pos:pos + W], mb, rb, W, 0, pos, 1, first)
                first = False
        for ow in range(OW):
            m = mb[wlo[ow]]
            best = rb[wlo[ow]]
            for iw in range(wlo[ow] + 1, whi[ow]):
                v = mb[iw]
                q = rb[iw]
                vn = v != v
                mn = m != m
                t = (vn and (not mn or q > best)) or (
                    not vn and not mn and (v > m or (v == m and q < best)))
                m = v if t else m
                best = q if t else best
            out[pl, od, oh, ow] = m
            idx[pl, od, oh, ow] = best


@njit(**_OPTS)
def _adaptive_max_serial(x, out, idx, dlo, dhi, hlo, hhi, wlo, whi):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    _admax_rows(x, out, idx, 0, njobs, dlo, dhi, hlo, hhi, wlo, whi)


@njit(parallel=True, **_OPTS)
def _adaptive_max_parallel(x, out, idx, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    njobs = out.shape[0] * out.shape[1] * out.shape[2]
    nc = _nchunks(njobs, nthreads)
    for c in prange(nc):
        _admax_rows(x, out, idx, c * njobs // nc, (c + 1) * njobs // nc, dlo, dhi, hlo, hhi,
                    wlo, whi)


def adaptive_max(x, out, idx, dlo, dhi, hlo, hhi, wlo, whi, nthreads):
    """Adaptive max pooling with flat in-plane indices (int64) into ``idx``."""
    if out.size == 0:
        return out
    if nthreads > 1:
        numba_threads(nthreads)
        _adaptive_max_parallel(x, out, idx, dlo, dhi, hlo, hhi, wlo, whi, int(nthreads))
    else:
        _adaptive_max_serial(x, out, idx, dlo, dhi, hlo, hhi, wlo, whi)
    return out


# ---------------------------------------------------------------------------
# cross-channel max ("maxout"): x (N, G * k, S) -> out (N, G, S)
# ---------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _chmax_job(x, out, job, k):
    G = out.shape[1]
    n = job // G
    gi = job % G
    o = out[n, gi]
    S = o.shape[0]
    first = x[n, gi * k]
    for s in range(S):
        o[s] = first[s]
    for j in range(1, k):
        row = x[n, gi * k + j]
        for s in range(S):
            v = row[s]
            if _gt(v, o[s]):
                o[s] = v


@njit(**_OPTS)
def _channel_max_serial(x, out, k):
    for job in range(out.shape[0] * out.shape[1]):
        _chmax_job(x, out, job, k)


@njit(parallel=True, **_OPTS)
def _channel_max_parallel(x, out, k):
    for job in prange(out.shape[0] * out.shape[1]):
        _chmax_job(x, out, job, k)


def channel_max(x, out, k, nthreads):
    """Max over groups of ``k`` adjacent channels: ``x (N, G*k, S) -> out (N, G, S)``."""
    if out.size == 0:
        return out
    if nthreads > 1:
        numba_threads(nthreads)
        _channel_max_parallel(x, out, int(k))
    else:
        _channel_max_serial(x, out, int(k))
    return out


@njit(inline="always", **_OPTS)
def _chmaxbw_job(g, x, gx, job, k):
    G = g.shape[1]
    n = job // G
    gi = job % G
    S = g.shape[2]
    for j in range(k):
        r = gx[n, gi * k + j]
        for s in range(S):
            r[s] = 0
    for s in range(S):
        m = x[n, gi * k, s]
        best = 0
        for j in range(1, k):
            v = x[n, gi * k + j, s]
            if _gt(v, m):
                m = v
                best = j
        gx[n, gi * k + best, s] = g[n, gi, s]


@njit(**_OPTS)
def _channel_max_backward_serial(g, x, gx, k):
    for job in range(g.shape[0] * g.shape[1]):
        _chmaxbw_job(g, x, gx, job, k)


@njit(parallel=True, **_OPTS)
def _channel_max_backward_parallel(g, x, gx, k):
    for job in prange(g.shape[0] * g.shape[1]):
        _chmaxbw_job(g, x, gx, job, k)


def channel_max_backward(g, x, gx, k, nthreads):
    """Input gradient of :func:`channel_max` (the first maximum of a group gets it)."""
    if gx.size == 0:
        return gx
    if nthreads > 1:
        numba_threads(nthreads)
        _channel_max_backward_parallel(g, x, gx, int(k))
    else:
        _channel_max_backward_serial(g, x, gx, int(k))
    return gx
