"""Geometry of the register-blocked direct kernel (``dblock`` in every backend).

One image is staged zero padded and split into stride phases: phase
``a = (ad * sh + ah) * sw + aw`` of channel ``ci`` is the grid
``x[ci, sd*i + ad - pd, sh*j + ah - ph, sw*k + aw - pw]`` of ``Dg x Hg x Wg``
points, so that tap ``(kd, kh, kw)`` of output ``(od, oh, ow)`` reads the phase of
``(kd*dd % sd, kh*dh % sh, kw*dw % sw)`` at ``(od + kd*dd // sd, oh + kh*dh // sh,
ow + kw*dw // sw)``: a fixed offset from position ``p = oh * Wg + ow`` of the
flattened "wide" output grid (columns ``ow >= OW`` are computed and dropped).
"""

from __future__ import annotations

import functools

#: Output channels per register tile (the packed weight's last axis).
CB = 8
#: Vectors (64 bytes each) of positions per register tile.
PV = 3


def block_positions(itemsize: int) -> int:
    """Output positions of the wide grid per register tile."""
    return PV * (64 // itemsize)


@functools.lru_cache(maxsize=256)
def geometry(kshape, out_size, stride, dilation) -> tuple[int, int, int, int]:
    """(Dg, Hg, Wg, S): staged phase-grid sizes and the number of stride phases
    (all arguments 3-tuples (d, h, w))."""
    g = tuple(o + ((k - 1) * d) // s
              for k, o, s, d in zip(kshape, out_size, stride, dilation, strict=True))
    return g[0], g[1], g[2], stride[0] * stride[1] * stride[2]


@functools.lru_cache(maxsize=256)
def stage_items(channels: int, kshape, out_size, stride, dilation, itemsize: int) -> int:
    """Staged items per image, with the tail slack the last tile may read."""
    Dg, Hg, Wg, S = geometry(kshape, out_size, stride, dilation)
    return channels * S * Dg * Hg * Wg + block_positions(itemsize) + Wg


@functools.lru_cache(maxsize=256)
def tap_offsets(cig: int, kshape, out_size, stride, dilation):
    """Offset of every tap ``t = ((ci*KD + kd)*KH + kh)*KW + kw`` in a group's
    staged channels, relative to the output position (read-only int64 array,
    memoised: arguments are ints and tuples)."""
    import numpy as np

    Dg, Hg, Wg, S = geometry(kshape, out_size, stride, dilation)
    (KD, KH, KW), (sd, sh, sw), (dd, dh, dw) = kshape, stride, dilation
    kd, kh, kw = (a.ravel() for a in np.meshgrid(np.arange(KD), np.arange(KH),
                                                 np.arange(KW), indexing="ij"))
    phase = (((kd * dd) % sd) * sh + (kh * dh) % sh) * sw + (kw * dw) % sw
    within = ((kd * dd) // sd) * Hg * Wg + ((kh * dh) // sh) * Wg + (kw * dw) // sw
    ci = np.arange(cig)[:, None]
    off = np.ascontiguousarray(((ci * S + phase) * (Dg * Hg * Wg) + within).ravel(),
                               dtype=np.int64)
    off.flags.writeable = False
    return off


def pack_weight(w, groups: int):
    """(Co, Cg, KD, KH, KW) -> (G, nCB, T, CB): each group's output channels in
    blocks of CB (zero rows past the group's last channel), taps in kernel order."""
    import numpy as np

    Co = w.shape[0]
    T = int(np.prod(w.shape[1:]))
    cog = Co // groups
    ncb = -(-cog // CB)
    wp = np.zeros((groups, ncb * CB, T), w.dtype)
    wp[:, :cog] = w.reshape(groups, cog, T)
    return np.ascontiguousarray(wp.reshape(groups, ncb, CB, T).transpose(0, 1, 3, 2))


def pack_bias(b, has_bias: bool, co: int, groups: int, dtype):
    """(Co,) -> (G, nCB, CB) zero padded like :func:`pack_weight` (zeros if no bias)."""
    import numpy as np

    cog = co // groups
    ncb = -(-cog // CB)
    bp = np.zeros((groups, ncb * CB), dtype)
    if has_bias:
        bp[:, :cog] = np.asarray(b, dtype).reshape(groups, cog)
    return bp.reshape(groups, ncb, CB)


@functools.lru_cache(maxsize=256)
def stage_items_batch(channels: int, kshape, out_size, stride, dilation, itemsize: int) -> int:
    """Staged items per group of ``64 // itemsize`` images in the batch layout."""
    Dg, Hg, Wg, S = geometry(kshape, out_size, stride, dilation)
    return channels * S * Dg * Hg * Wg * (64 // itemsize)


def efficiency(batch: int, kshape, out_size, stride, dilation, itemsize: int) -> dict:
    """Fraction of the computed outputs that are kept, per layout: ``wide`` (one
    image, rows Wg wide, tiles of PB positions) and ``batch`` (VL images per vector,
    tiles of PV valid positions)."""
    Dg, Hg, Wg, S = geometry(kshape, out_size, stride, dilation)
    OD, OH, OW = out_size
    pb = block_positions(itemsize)
    vl = 64 // itemsize
    wide = OW * OH / (-(-(OH * Wg) // pb) * pb)
    q = OD * OH * OW
    batch = (batch / (-(-batch // vl) * vl)) * q / (-(-q // PV) * PV)
    return {"wide": wide, "batch": batch}
