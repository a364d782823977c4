"""Register-blocked direct convolution, Cython/OpenMP backend.

For layers with few input channels and big kernels (the 7x7/2 stem, 11x11, LeNet
5x5, dilated 3x3), where im2col-GEMM spends as long packing as multiplying.

1. **Stage** (parallel over rows): each image of a batch chunk is copied, zero
   padded and split into stride phases, into ``stage`` so that tap ``t`` of output
   position ``p = oh * Wg + ow`` of the flattened "wide" grid reads
   ``stage[image + group + od * Hg * Wg + p + off[t]]`` (``Wg >= OW``: columns past
   ``OW`` are computed and dropped).
2. **Tiles** (parallel over (image, od, block of PB positions)): the micro-kernel of
   ``dblock.h`` keeps 8 output channels x PB positions in registers over all taps
   of the group, then the valid columns go to ``out``.

x (N, C, D, H, W), out (N, Co, OD, OH, OW) C-contiguous; ``wp`` the packed weight
(G, nCB, T, 8) and ``bp`` the packed bias (G, nCB, 8) from ``pack_weight``; index
arithmetic is 64-bit.  Each output adds bias then its taps in a fixed order, so the
result does not depend on the blocking or the thread count.

Two more layouts run the same micro-kernel: ``conv_blocked_batch`` (16 images
interleaved per vector, for small planes) and ``conv_pointwise`` (1x1 stride-1
layers: strips of positions packed channel-major per thread, see its docstring).
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc

import numpy as np

from .fused cimport real


cdef extern from "dblock.h" nogil:
    int DB_CB
    int DB_PV
    void db_tile_f(const float* x0, const float* x1, const float* x2, const Py_ssize_t* off,
                   Py_ssize_t ntaps, const float* wp, const float* bias, float* buf)
    void db_tile_d(const double* x0, const double* x1, const double* x2,
                   const Py_ssize_t* off, Py_ssize_t ntaps, const double* wp,
                   const double* bias, double* buf)
    void db_copy_f(float* d, const float* s, Py_ssize_t n)
    void db_copy_d(double* d, const double* s, Py_ssize_t n)
    void db_put_f(float* d, const float* s, int nt)
    void db_put_d(double* d, const double* s, int nt)
    void db_fence()


from ..._alloc import thread_rows
from ..blockgeom import (
    CB as _CB,
    PV as _PV,
    geometry,
    stage_items,
    stage_items_batch,
    tap_offsets,
)

if _CB != DB_CB or _PV != DB_PV:  # pragma: no cover - build consistency
    raise ImportError("dblock.h and blockgeom disagree on the register tile")


cdef inline void _tile_run(const real* xb, const Py_ssize_t* off, Py_ssize_t T,
                           const real* wp, const real* bp, real* sb) noexcept nogil:
    """The register tile over the PB consecutive positions at ``xb`` (three
    vectors), every tap ``t`` read at ``xb + off[t]``, into ``sb``."""
    if real is float:
        db_tile_f(xb, xb + 16, xb + 32, off, T, wp, bp, sb)
    else:
        db_tile_d(xb, xb + 8, xb + 16, off, T, wp, bp, sb)


cdef void _stage_plane(const real* xn, real* dst, Py_ssize_t C, Py_ssize_t D,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t plane, Py_ssize_t Dg,
                       Py_ssize_t Hg, Py_ssize_t Wg, Py_ssize_t sd, Py_ssize_t sh,
                       Py_ssize_t sw, Py_ssize_t pd, Py_ssize_t ph,
                       Py_ssize_t pw) noexcept nogil:
    """Staged plane ``plane = ci * S + phase`` of one image (Dg x Hg rows of Wg)."""
    cdef Py_ssize_t S = sd * sh * sw
    cdef Py_ssize_t a = plane % S
    cdef Py_ssize_t ci = plane // S
    cdef Py_ssize_t aw = a % sw
    cdef Py_ssize_t ah = (a // sw) % sh
    cdef Py_ssize_t ad = a // (sw * sh)
    cdef Py_ssize_t i, j, k, idd, ih, lo, hi
    cdef real* d
    cdef const real* src
    # columns k with 0 <= sw * k + aw - pw < W
    lo = 0
    if aw - pw < 0:
        lo = (pw - aw + sw - 1) // sw
    hi = (W - 1 + pw - aw) // sw + 1 if W - 1 + pw - aw >= 0 else 0
    if hi > Wg:
        hi = Wg
    if lo > hi:
        lo = hi
    d = dst + plane * Dg * Hg * Wg
    for i in range(Dg):
        idd = sd * i + ad - pd
        for j in range(Hg):
            ih = sh * j + ah - ph
            if idd < 0 or idd >= D or ih < 0 or ih >= H:
                for k in range(Wg):
                    d[k] = 0
            else:
                src = xn + ((ci * D + idd) * H + ih) * W + aw - pw
                for k in range(lo):
                    d[k] = 0
                if sw == 1:
                    for k in range(lo, hi):
                        d[k] = src[k]
                else:
                    for k in range(lo, hi):
                        d[k] = src[sw * k]
                for k in range(hi, Wg):
                    d[k] = 0
            d = d + Wg


#: the row layout of conv_blocked on (1) or off (0: the wide grid everywhere);
#: for tests and timing
cdef int _rows_on = 1
#: row layout with whole images per thread when the batch allows (for timing)
cdef int _per_image_on = 1


def set_per_image(int on):
    """Allow (1) or forbid (0) whole images per thread; returns the previous setting."""
    global _per_image_on
    old = _per_image_on
    _per_image_on = on
    return old


def set_rows(int on):
    """Allow (1) or forbid (0) the row layout; returns the previous setting."""
    global _rows_on
    old = _rows_on
    _rows_on = on
    return old


cdef void _blocked_rows(const real* stage, Py_ssize_t img, const Py_ssize_t* off,
                        Py_ssize_t T, const real* wp, const real* bp, real* out, real* sb,
                        Py_ssize_t it0, Py_ssize_t it1, Py_ssize_t ntile, Py_ssize_t OD,
                        Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t wg, Py_ssize_t hg,
                        Py_ssize_t PS, Py_ssize_t s, Py_ssize_t G, Py_ssize_t cig,
                        Py_ssize_t cog, Py_ssize_t nCB, Py_ssize_t Co,
                        int nt) noexcept nogil:
    """Tiles ``[it0, it1)`` of the row layout (one thread's contiguous share):
    output rows are whole vectors (OW a multiple of the vector length), so a tile
    is any three vectors of the plane in row order -- no wide-grid columns are
    computed and dropped -- and each leaves as one whole vector per channel,
    with a non-temporal store when ``nt`` (rows on 64-byte lines)."""
    cdef Py_ssize_t VL = 64 // sizeof(real), PB = DB_PV * VL, cb_n = DB_CB
    cdef Py_ssize_t nvr = OW // VL, nvec = OH * nvr, OHW = OH * OW
    cdef Py_ssize_t it, n, od, k, v, g, cb, j, co, e, last
    cdef Py_ssize_t vr[3]
    cdef const real* xb
    for it in range(it0, it1):
        n = it // (OD * ntile)
        od = (it // ntile) % OD
        k = it % ntile
        last = min(3, nvec - 3 * k)  # vectors of this tile (the last may hold fewer)
        for e in range(3):
            v = 3 * k + (e if e < last else last - 1)
            vr[e] = (v // nvr) * wg + (v % nvr) * VL  # staged position of the vector
        for g in range(G):
            xb = stage + n * img + g * cig * s * PS + od * hg * wg
            for cb in range(nCB):
                _tile3(xb + vr[0], xb + vr[1], xb + vr[2], off, T,
                       wp + (g * nCB + cb) * T * cb_n, bp + (g * nCB + cb) * cb_n, sb)
                for j in range(cb_n):
                    if cb * cb_n + j >= cog:
                        break
                    co = g * cog + cb * cb_n + j
                    for e in range(last):
                        v = 3 * k + e
                        if real is float:
                            db_put_f(out + ((n * Co + co) * OD + od) * OHW + v * VL,
                                     sb + j * PB + e * VL, nt)
                        else:
                            db_put_d(out + ((n * Co + co) * OD + od) * OHW + v * VL,
                                     sb + j * PB + e * VL, nt)
    if nt:
        db_fence()


cdef inline void _tile3(const real* x0, const real* x1, const real* x2,
                        const Py_ssize_t* off, Py_ssize_t T, const real* wp, const real* bp,
                        real* sb) noexcept nogil:
    if real is float:
        db_tile_f(x0, x1, x2, off, T, wp, bp, sb)
    else:
        db_tile_d(x0, x1, x2, off, T, wp, bp, sb)


def conv_blocked(const real[:, :, :, :, ::1] x, const real[:, :, :, ::1] wp,
                 const real[:, :, ::1] bp, real[:, :, :, :, ::1] out, tuple kshape,
                 tuple stride, tuple dilation, tuple pad, Py_ssize_t groups,
                 Py_ssize_t batch_chunk, real[::1] stage, int threads, bint stream=False):
    """out = conv(x, w) + bias through the register tiles (see the module doc).

    ``kshape`` = (KD, KH, KW); ``stage`` holds ``batch_chunk`` staged images.
    When the output rows are whole vectors (OW a multiple of 64 bytes) the tiles
    take three vectors in row order (``_blocked_rows``); ``stream`` then writes
    them with non-temporal stores if the output sits on 64-byte lines."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = out.shape[1], OD = out.shape[2], OH = out.shape[3]
    cdef Py_ssize_t OW = out.shape[4]
    cdef Py_ssize_t KD = kshape[0], KH = kshape[1], KW = kshape[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t dd = dilation[0], dh = dilation[1], dw = dilation[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t G = groups, cig = C // groups, cog = Co // groups
    cdef Py_ssize_t nCB = wp.shape[1], T = wp.shape[2]
    cdef Py_ssize_t cb_n = DB_CB
    Dg, Hg, Wg, S = geometry(kshape, (OD, OH, OW), stride, dilation)
    cdef Py_ssize_t dg = Dg, hg = Hg, wg = Wg, s = S
    cdef Py_ssize_t PB = DB_PV * (64 // sizeof(real))
    cdef Py_ssize_t PS = dg * hg * wg
    cdef Py_ssize_t img = stage_items(C, kshape, (OD, OH, OW), stride, dilation,
                                      sizeof(real))
    cdef Py_ssize_t P = OH * wg
    cdef Py_ssize_t nblk = (P + PB - 1) // PB
    if T != cig * KD * KH * KW or wp.shape[3] != DB_CB or wp.shape[0] != G:
        raise ValueError("conv_blocked: packed weight does not match the kernel")
    if stage.shape[0] < batch_chunk * img:
        raise ValueError("conv_blocked: stage buffer too small")
    offs = tap_offsets(cig, kshape, (OD, OH, OW), stride, dilation)
    cdef const Py_ssize_t[::1] off = offs
    bufs = thread_rows(threads, DB_CB * PB, np.asarray(out).dtype)
    cdef real[:, ::1] buf = bufs
    cdef Py_ssize_t n0, nb, it, e, n, od, blk, p0, p, pend, oh, ow, run, nv, g, cb, j, co
    cdef Py_ssize_t rows, row, tid
    cdef Py_ssize_t VL = 64 // sizeof(real)
    cdef bint rows_layout = _rows_on and OW % VL == 0 and OW > 0
    cdef Py_ssize_t ntile = (OH * (OW // VL) + 2) // 3
    cdef int nt = 0
    if stream and rows_layout and out.size > 0:
        nt = (<size_t>&out[0, 0, 0, 0, 0]) % 64 == 0
    cdef real* sb
    cdef real* xb
    cdef real* orow
    cdef real* bb
    cdef const real* xn
    rows = C * s  # staged planes per image
    if (rows_layout and _per_image_on and batch_chunk >= threads
            and (N % threads == 0 or N >= 4 * threads)):
        # whole images per thread (balanced: a multiple of the threads, or enough
        # images that the last round costs little): each stages its image into its
        # own slot and computes it while the staged planes are in its core's L2
        # (the stem, 2 threads, in one process on a noisy machine: 0.77-0.91 of
        # the time of staging the batch chunk first, 0.98 at one thread)
        with nogil:
            for n in prange(N, num_threads=threads, schedule="static"):
                tid = threadid()
                for row in range(rows):
                    _stage_plane(&x[n, 0, 0, 0, 0], &stage[tid * img], C, D, H, W, row,
                                 dg, hg, wg, sd, sh, sw, pd, ph, pw)
                for e in range(rows * PS, img):
                    stage[tid * img + e] = 0
                _blocked_rows(&stage[tid * img], img, &off[0], T, &wp[0, 0, 0, 0],
                              &bp[0, 0, 0], &out[n, 0, 0, 0, 0], &buf[tid, 0], 0, OD * ntile,
                              ntile, OD, OH, OW, wg, hg, PS, s, G, cig, cog, nCB, Co, nt)
        return
    for n0 in range(0, N, batch_chunk):
        nb = min(batch_chunk, N - n0)
        with nogil:
            for it in prange(nb * rows, num_threads=threads, schedule="static"):
                n = it // rows
                row = it - n * rows
                _stage_plane(&x[n0 + n, 0, 0, 0, 0], &stage[n * img], C, D, H, W, row,
                             dg, hg, wg, sd, sh, sw, pd, ph, pw)
                if row == rows - 1:
                    for e in range(rows * PS, img):
                        stage[n * img + e] = 0
            if rows_layout:
                for tid in prange(threads, num_threads=threads, schedule="static"):
                    _blocked_rows(&stage[0], img, &off[0], T, &wp[0, 0, 0, 0], &bp[0, 0, 0],
                                  &out[n0, 0, 0, 0, 0], &buf[tid, 0],
                                  nb * OD * ntile * tid // threads,
                                  nb * OD * ntile * (tid + 1) // threads, ntile, OD, OH, OW,
                                  wg, hg, PS, s, G, cig, cog, nCB, Co, nt)
            for it in prange(0 if rows_layout else nb * OD * nblk, num_threads=threads,
                             schedule="static"):
                tid = threadid()
                sb = &buf[tid, 0]
                n = it // (OD * nblk)
                od = (it // nblk) % OD
                blk = it % nblk
                p0 = blk * PB
                pend = min(p0 + PB, P)
                for g in range(G):
                    xb = &stage[n * img + g * cig * s * PS + od * hg * wg + p0]
                    for cb in range(nCB):
                        _tile_run(xb, &off[0], T, &wp[g, cb, 0, 0], &bp[g, cb, 0], sb)
                        for j in range(cb_n):
                            if cb * cb_n + j >= cog:
                                break
                            co = g * cog + cb * cb_n + j
                            bb = sb + j * PB
                            orow = &out[n0 + n, co, od, 0, 0]
                            p = p0
                            oh = p // wg
                            ow = p - oh * wg
                            while p < pend:
                                run = min(wg - ow, pend - p)
                                if ow < OW:
                                    nv = min(run, OW - ow)
                                    if real is float:
                                        db_copy_f(&orow[oh * OW + ow], &bb[p - p0], nv)
                                    else:
                                        db_copy_d(&orow[oh * OW + ow], &bb[p - p0], nv)
                                p = p + run
                                oh = oh + 1
                                ow = 0


cdef void _stage_plane_batch(const real* x0, Py_ssize_t nimg, Py_ssize_t istride,
                             real* dst, Py_ssize_t VL, Py_ssize_t D, Py_ssize_t H,
                             Py_ssize_t W, Py_ssize_t plane, Py_ssize_t Dg, Py_ssize_t Hg,
                             Py_ssize_t Wg, Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    """Staged plane ``plane = ci * S + phase`` of a group of ``nimg`` images (image
    ``l`` at ``x0 + l * istride``), interleaved: ``dst[(row * Wg + k) * VL + l]``;
    lanes past ``nimg`` are zero."""
    cdef Py_ssize_t S = sd * sh * sw
    cdef Py_ssize_t a = plane % S
    cdef Py_ssize_t ci = plane // S
    cdef Py_ssize_t aw = a % sw
    cdef Py_ssize_t ah = (a // sw) % sh
    cdef Py_ssize_t ad = a // (sw * sh)
    cdef Py_ssize_t i, j, k, l, idd, ih, iw
    cdef real* d = dst + plane * Dg * Hg * Wg * VL
    cdef const real* src
    for i in range(Dg):
        idd = sd * i + ad - pd
        for j in range(Hg):
            ih = sh * j + ah - ph
            if idd < 0 or idd >= D or ih < 0 or ih >= H:
                for k in range(Wg * VL):
                    d[k] = 0
            else:
                src = x0 + ((ci * D + idd) * H + ih) * W
                for k in range(Wg):
                    iw = sw * k + aw - pw
                    if iw < 0 or iw >= W:
                        for l in range(VL):
                            d[k * VL + l] = 0
                    else:
                        for l in range(nimg):
                            d[k * VL + l] = src[l * istride + iw]
                        for l in range(nimg, VL):
                            d[k * VL + l] = 0
            d = d + Wg * VL


def conv_blocked_batch(const real[:, :, :, :, ::1] x, const real[:, :, :, ::1] wp,
                       const real[:, :, ::1] bp, real[:, :, :, :, ::1] out, tuple kshape,
                       tuple stride, tuple dilation, tuple pad, Py_ssize_t groups,
                       Py_ssize_t group_chunk, real[::1] stage, int threads):
    """The blocked kernel in the batch layout: VL images per vector, tiles of three
    arbitrary output positions (no wide-grid columns computed), for small planes.

    ``stage`` holds ``group_chunk`` groups of VL images (``stage_items_batch``)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], D = x.shape[2], H = x.shape[3]
    cdef Py_ssize_t W = x.shape[4]
    cdef Py_ssize_t Co = out.shape[1], OD = out.shape[2], OH = out.shape[3]
    cdef Py_ssize_t OW = out.shape[4]
    cdef Py_ssize_t KD = kshape[0], KH = kshape[1], KW = kshape[2]
    cdef Py_ssize_t sd = stride[0], sh = stride[1], sw = stride[2]
    cdef Py_ssize_t pd = pad[0], ph = pad[1], pw = pad[2]
    cdef Py_ssize_t G = groups, cig = C // groups, cog = Co // groups
    cdef Py_ssize_t nCB = wp.shape[1], T = wp.shape[2]
    cdef Py_ssize_t cb_n = DB_CB
    cdef Py_ssize_t VL = 64 // sizeof(real)
    cdef Py_ssize_t PB = DB_PV * VL
    Dg, Hg, Wg, S = geometry(kshape, (OD, OH, OW), stride, dilation)
    cdef Py_ssize_t dg = Dg, hg = Hg, wg = Wg, s = S
    cdef Py_ssize_t PS = dg * hg * wg
    cdef Py_ssize_t img = stage_items_batch(C, kshape, (OD, OH, OW), stride, dilation,
                                            sizeof(real))
    cdef Py_ssize_t Q = OD * OH * OW
    cdef Py_ssize_t ntile = (Q + 2) // 3
    cdef Py_ssize_t TPI = 4  # tiles per parallel item
    cdef Py_ssize_t nitem = (ntile + TPI - 1) // TPI
    cdef Py_ssize_t ngrp = (N + VL - 1) // VL
    if T != cig * KD * KH * KW or wp.shape[3] != DB_CB or wp.shape[0] != G:
        raise ValueError("conv_blocked_batch: packed weight does not match the kernel")
    if stage.shape[0] < group_chunk * img:
        raise ValueError("conv_blocked_batch: stage buffer too small")
    offs = tap_offsets(cig, kshape, (OD, OH, OW), stride, dilation) * VL
    cdef const Py_ssize_t[::1] off = offs
    bufs = thread_rows(threads, DB_CB * PB, np.asarray(out).dtype)
    cdef real[:, ::1] buf = bufs
    cdef Py_ssize_t istride = C * D * H * W
    cdef Py_ssize_t g0, gb, it, gi, plane, nimg, tile, t0, t1, v, q, od, oh, ow, g, cb, j
    cdef Py_ssize_t co, l, n, tid, nv
    ibufs = thread_rows(threads, 6, np.intp)  # per-thread pos[3], base[3]
    cdef Py_ssize_t[:, ::1] ibuf = ibufs
    cdef Py_ssize_t* pos
    cdef Py_ssize_t* base
    cdef real* sb
    cdef real* xg
    cdef real* bb
    cdef real* op
    cdef Py_ssize_t ostride = Co * Q
    for g0 in range(0, ngrp, group_chunk):
        gb = min(group_chunk, ngrp - g0)
        with nogil:
            for it in prange(gb * C * s, num_threads=threads, schedule="static"):
                gi = it // (C * s)
                plane = it - gi * (C * s)
                nimg = min(VL, N - (g0 + gi) * VL)
                _stage_plane_batch(&x[(g0 + gi) * VL, 0, 0, 0, 0], nimg, istride,
                                   &stage[gi * img], VL, D, H, W, plane, dg, hg, wg,
                                   sd, sh, sw, pd, ph, pw)
            for it in prange(gb * nitem, num_threads=threads, schedule="static"):
                tid = threadid()
                sb = &buf[tid, 0]
                pos = &ibuf[tid, 0]
                base = &ibuf[tid, 3]
                gi = it // nitem
                nimg = min(VL, N - (g0 + gi) * VL)
                t0 = (it - gi * nitem) * TPI
                t1 = min(t0 + TPI, ntile)
                for tile in range(t0, t1):
                    nv = min(3, Q - tile * 3)
                    for v in range(3):
                        q = tile * 3 + (v if v < nv else nv - 1)
                        pos[v] = q
                        ow = q % OW
                        oh = (q // OW) % OH
                        od = q // (OW * OH)
                        base[v] = ((od * hg + oh) * wg + ow) * VL
                    for g in range(G):
                        xg = &stage[gi * img + g * cig * s * PS * VL]
                        for cb in range(nCB):
                            if real is float:
                                db_tile_f(xg + base[0], xg + base[1], xg + base[2], &off[0],
                                          T, &wp[g, cb, 0, 0], &bp[g, cb, 0], sb)
                            else:
                                db_tile_d(xg + base[0], xg + base[1], xg + base[2], &off[0],
                                          T, &wp[g, cb, 0, 0], &bp[g, cb, 0], sb)
                            for j in range(cb_n):
                                if cb * cb_n + j >= cog:
                                    break
                                co = g * cog + cb * cb_n + j
                                bb = sb + j * PB
                                # q: flat position in (OD, OH, OW); images Co*Q apart
                                op = &out[(g0 + gi) * VL, co, 0, 0, 0]
                                for v in range(nv):
                                    q = pos[v]
                                    for l in range(nimg):
                                        op[l * ostride + q] = bb[v * VL + l]


def conv_pointwise(const real[:, :, ::1] x, const real[:, :, :, ::1] wp,
                   const real[:, :, ::1] bp, real[:, :, ::1] out, Py_ssize_t groups,
                   Py_ssize_t strips, int threads):
    """The blocked kernel for a 1x1, stride-1, unpadded layer (one GEMM per group
    over every position of every image): x (N, C, P), out (N, Co, P), P the
    flattened plane.

    The N * P positions (image-major) are cut in strips of PB; per job (group,
    ``strips`` consecutive strips) the strips' input rows are packed channel-major
    into a per-thread buffer (``[strip][ci][PB]``, zero past the end) so that the
    micro-kernel's "taps" (the group's input channels) are consecutive PB-long runs
    instead of C strided row streams, and small planes waste no lanes (a strip may
    span images).  Then per block of 8 output channels (its weights stay in L1, its
    8 output rows are written as sequential streams) the micro-kernel runs over
    every strip.  Each output adds bias then its channels in order: results do not
    depend on the blocking or the thread count."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2]
    cdef Py_ssize_t Co = out.shape[1]
    cdef Py_ssize_t G = groups, cig = C // groups, cog = Co // groups
    cdef Py_ssize_t nCB = wp.shape[1], T = wp.shape[2]
    cdef Py_ssize_t cb_n = DB_CB
    cdef Py_ssize_t VL = 64 // sizeof(real)
    cdef Py_ssize_t PB = DB_PV * VL
    cdef Py_ssize_t Q = N * P
    cdef Py_ssize_t nstrip = (Q + PB - 1) // PB
    if strips < 1:
        strips = 1
    cdef Py_ssize_t njob = (nstrip + strips - 1) // strips
    if (T != cig or wp.shape[3] != DB_CB or wp.shape[0] != G or out.shape[2] != P
            or out.shape[0] != N):
        raise ValueError("conv_pointwise: packed weight does not match the kernel")
    offs = np.arange(cig, dtype=np.intp) * PB
    cdef const Py_ssize_t[::1] off = offs
    dt = np.asarray(out).dtype
    bufs = thread_rows(threads, DB_CB * PB, dt)
    cdef real[:, ::1] buf = bufs
    pks = thread_rows(threads, strips * cig * PB, dt)
    cdef real[:, ::1] pk = pks
    cdef Py_ssize_t it, n, g, s0, s1, si, ci, q, q0, qend, p, run, e, cb, j, co, tid
    cdef real* sb
    cdef real* pkt
    cdef real* xb
    cdef real* bb
    with nogil:
        for it in prange(G * njob, num_threads=threads, schedule="static"):
            tid = threadid()
            sb = &buf[tid, 0]
            pkt = &pk[tid, 0]
            g = it // njob
            s0 = (it % njob) * strips
            s1 = min(s0 + strips, nstrip)
            for ci in range(cig):
                for si in range(s0, s1):
                    xb = pkt + ((si - s0) * cig + ci) * PB
                    q0 = si * PB
                    qend = min(q0 + PB, Q)
                    q = q0
                    while q < qend:  # runs within one image
                        n = q // P
                        p = q - n * P
                        run = min(P - p, qend - q)
                        for e in range(run):
                            xb[q - q0 + e] = x[n, g * cig + ci, p + e]
                        q = q + run
                    for e in range(qend - q0, PB):
                        xb[e] = 0
            for cb in range(nCB):
                for si in range(s0, s1):
                    xb = pkt + (si - s0) * cig * PB
                    _tile_run(xb, &off[0], T, &wp[g, cb, 0, 0], &bp[g, cb, 0], sb)
                    q0 = si * PB
                    qend = min(q0 + PB, Q)
                    for j in range(cb_n):
                        if cb * cb_n + j >= cog:
                            break
                        co = g * cog + cb * cb_n + j
                        bb = sb + j * PB
                        q = q0
                        while q < qend:
                            n = q // P
                            p = q - n * P
                            run = min(P - p, qend - q)
                            if real is float:
                                db_copy_f(&out[n, co, p], &bb[q - q0], run)
                            else:
                                db_copy_d(&out[n, co, p], &bb[q - q0], run)
                            q = q + run
