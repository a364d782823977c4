"""Direct convolution: the loop nest of the definition.

Serves every case (any stride, dilation, groups, padding).  Three kernels:

* ``depthwise.conv_depthwise`` when ``groups == C_in`` (depthwise, any channel
  multiplier, also single-channel inputs): register-tiled rows over a padded,
  phase-split copy of the input rows (see ``kernels/cython/depthwise.pyx``).
  This is the fastest algorithm there: GEMM-based algorithms have nothing to
  amortise their packing over.
* ``dblock.conv_blocked`` (the "blocked" kernel) when the cost model prefers it:
  a register tile of 8 output channels x 48 positions (float32) sums every tap of
  a zero-padded, stride-phase-split copy of the input (``kernels/blockgeom.py``):
  near FMA peak on few-channel, big-kernel layers (the 7x7/2 stem, 11x11, LeNet,
  dilated 3x3) where im2col spends as long packing as multiplying.  Its
  ``pointwise`` layout serves 1x1 stride-1 layers: strips of 48 positions (across
  images) packed channel-major per thread, so the micro-kernel reads consecutive
  runs (256->64 on 56^2: ~230 GFLOP/s at 2 threads against BLAS's ~180).
* ``direct.conv_direct`` otherwise: output-row blocked; each (input channel,
  tap) adds an axpy of an input row into the output row held in L1.

Both sum every output element in a fixed order (bias, then taps), whatever the
blocking or the thread count.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .. import _config, kernels
from .._spec import pad3, to_3d
from ..kernels import blockgeom

# ---------------------------------------------------------------------------
# cost model, fitted to kernel timings on the development machine (AVX-512
# Xeon at 2.3 GHz, gcc -O3 -march=native, Cython backend, 1 thread, data in
# L2/L3 as in a benchmark loop); thread scaling is close to linear once every
# thread has a few jobs.  Seconds per thread.
# ---------------------------------------------------------------------------
#: Generic kernel: multiply-add rate (flop/s) of the row axpy for long rows;
#: a row of OW outputs runs at OW / (OW + 40) of it (measured: 13 GFLOP/s at
#: OW=112, 11 at 56, 7 at 40 with 4 input channels per group, 3.3 at 16 with
#: stride 2).
_RATE_GENERIC = 15e9
#: Depthwise kernel: flop/s of the register tiles (5x5 112^2: ~90-145 GFLOP/s,
#: the 3x3 tiles are load-bound at about the same rate).
_RATE_DW = 100e9
#: ... when each input row feeds one output row only (1-D, or single-row planes)
#: and the kernel width is not a specialised one: one load per multiply-add
#: (1-D k=101 on 16000 samples: 0.10 ms = 32 GFLOP/s).
_RATE_DW_ROW = 32e9
#: Depthwise kernel: bytes/s of the padded row copy (input; x3 cost for a
#: column stride 2, x6 for larger strides) plus the output stores
#: (32 ch 112^2 3x3: 0.159 ms = 0.072 ms of tiles + 4.8 MB at ~55 GB/s).
_BW_DW = 37e9
#: Depthwise kernel: fixed cost per job (one row block of one plane;
#: 512 ch 14^2: 0.090 ms of which ~0.036 ms is per-job overhead).
_JOB_DW = 70e-9
#: Fixed cost of a call (wrapper, output allocation) and of an OpenMP fork.
_CALL = 4e-6
_FORK = 4e-6


#: Blocked kernel: flop/s per thread of the register tiles, counted over the wide
#: grid and the zero-padded channel blocks it computes (11x11 3->16 on 256^2:
#: ~160 GFLOP/s per thread; the 7x7/2 stem ~135 including its staging).
_RATE_BLOCKED = {4: 150e9, 8: 70e9}
#: Blocked kernel: bytes/s per thread of the staging copy (a strided gather for
#: stride > 1) and of the valid-column stores.
_BW_BLOCKED = 8e9
#: Blocked kernel: fixed cost per register tile (call, output run loop).
_TILE_BLOCKED = 40e-9
#: Blocked kernel: when a tile's input footprint (every tap's rows) overflows L1,
#: each block of 8 output channels re-reads it from L2 at about this rate per
#: thread (fitted on 256ch 14x14 and 512ch 7x7 at N=1: 1.7 and 3.9 ms measured,
#: twice the flop count's time).
_L2_BLOCKED = 12e9
#: The L1 data cache (48 KiB here): footprints up to it run at the flop rate.  (At
#: 24 KiB, footprints of 33-38 KB were charged the L2 term and estimated at twice
#: their measured time, 2 threads: 64ch 3x3 on 56^2 7.6 ms against 14.7 estimated,
#: 64->128 3x3/2 4.1 against 7.7 -- which lost that layer to im2col's 5.5 ms --,
#: 5x5 32->64 on 28^2 2.3 against 4.4, 3-D 16->32 3.0 against 7.4.  Batch layout: a
#: tile's taps are contiguous 192-byte runs; LeNet conv2, 150 taps, 29 KB, runs at
#: the flop rate.)
_L1_BYTES = 48 * 1024
#: Blocked kernel, batch layout: seconds per output element of the scalar
#: scatter from the image-interleaved tile to ``out`` (LeNet conv2: ~20% of the
#: tiles' time).
_SCATTER_BLOCKED = 0.6e-9
#: Pointwise layout (1x1): flop/s per thread of the tiles over packed strips, and
#: bytes/s per thread of its input read and output write.
_RATE_POINTWISE = {4: 135e9, 8: 65e9}
_BW_POINTWISE = 8.5e9
#: Pointwise layout: bytes/s per thread at which a job streams the weights.
_BW_POINTWISE_W = 10e9
#: Staging buffer cap (bytes): batch chunks are sized to stay under it.
STAGE_CAP = int(os.environ.get("FASTCONV_DIRECT_STAGE_MIB", "32")) << 20


def supports(spec) -> str | None:
    return None


def _blocked_geometry(spec):
    """(kshape, out3, stride3, dilation3) of the blocked kernel."""
    nd = spec.nd
    return (pad3(spec.kernel, nd, 1), pad3(spec.out_size, nd, 1), pad3(spec.stride, nd, 1),
            pad3(spec.dilation, nd, 1))


def _blocked_layouts(spec) -> dict:
    """{layout: (seconds of work on one thread, parallel jobs, staged items per chunk
    unit, chunk units (images or image groups))} for the layouts that fit the cap.

    ``wide``: one image per stage, tiles of 48 consecutive wide-grid positions
    (columns past OW computed and dropped).  ``batch``: VL images interleaved per
    stage, tiles of any three output positions (nothing dropped but idle lanes when
    the batch is not a multiple of VL; output stores are scalar scatters)."""
    if spec.dtype.itemsize not in _RATE_BLOCKED or is_depthwise(spec):
        return {}
    if all(k == 1 for k in spec.kernel):
        # a 1x1 layer is a GEMM per image.  Read in place, every channel is a "tap"
        # whose rows stream from L2 (64->256 on 56^2, N=8: 4.4 ms against BLAS's
        # 3.7); packed per strip ("pointwise") the taps are consecutive runs.
        return _pointwise_layout(spec)
    k3, o3, s3, d3 = _blocked_geometry(spec)
    item = spec.dtype.itemsize
    rate = _RATE_BLOCKED[item]
    vl = 64 // item
    pb = blockgeom.block_positions(item)
    cog = spec.out_channels // spec.groups
    ncb = -(-cog // blockgeom.CB)
    cig = spec.in_channels // spec.groups
    taps = cig * math.prod(k3)
    n = spec.batch
    co_computed = spec.groups * ncb * blockgeom.CB
    outputs = n * spec.out_channels * math.prod(o3)
    inputs = n * spec.in_channels * math.prod(spec.in_size)
    res = {}
    # wide
    img = blockgeom.stage_items(spec.in_channels, k3, o3, s3, d3, item)
    if img * item <= STAGE_CAP:  # one staged image must fit the workspace cap
        _, _, Wg, _ = blockgeom.geometry(k3, o3, s3, d3)
        tiles = o3[0] * -(-(o3[1] * Wg) // pb)
        flops = 2.0 * n * tiles * pb * co_computed * taps
        ntile = n * tiles * spec.groups * ncb
        # a tile's input rows overflowing L1 are re-read from L2 per channel block
        foot = cig * k3[0] * k3[1] * (pb + (k3[2] - 1) * d3[2] // s3[2]) * item
        l2 = ntile * foot / _L2_BLOCKED if foot > _L1_BYTES else 0.0
        work = (flops / rate + item * (n * img + inputs + outputs) / _BW_BLOCKED
                + ntile * _TILE_BLOCKED + l2)
        res["wide"] = (work, n * tiles, img, n)
    # batch
    gimg = blockgeom.stage_items_batch(spec.in_channels, k3, o3, s3, d3, item)
    if gimg * item <= STAGE_CAP:
        q = math.prod(o3)
        ngrp = -(-n // vl)
        tiles = -(-q // blockgeom.PV)
        flops = 2.0 * ngrp * vl * tiles * blockgeom.PV * co_computed * taps
        ntile = ngrp * tiles * spec.groups * ncb
        # a tile reads PV vectors (of VL images) per tap; past L1 every block of 8
        # output channels re-reads them from L2 (256->512 3x3/2 on 14^2, N=8: 2304
        # taps, 442 KB per tile: 6.8-7.0 ms in a quiet hour, 19-22 ms in a busy one,
        # where the flops alone said 6.5; im2col: 4.7 ms)
        foot = taps * blockgeom.PV * 64
        l2 = ntile * foot / _L2_BLOCKED if foot > _L1_BYTES else 0.0
        work = (flops / rate + item * (ngrp * gimg + inputs) / _BW_BLOCKED
                + outputs * _SCATTER_BLOCKED + ntile * _TILE_BLOCKED + l2)
        res["batch"] = (work, ngrp * -(-tiles // 4), gimg, ngrp)
    return res


def pointwise_strips(spec, threads: int) -> int:
    """Strips of PB positions per job of the pointwise layout: the packed input
    (strips x C_in/groups x PB items) within 512 KiB of L2, and enough jobs
    (4 per thread) for the threads."""
    item = spec.dtype.itemsize
    pb = blockgeom.block_positions(item)
    per = spec.in_per_group * pb * item
    strips = max(1, min(8, (512 << 10) // per))
    nstrip = -(-spec.batch * math.prod(spec.out_size) // pb)
    while strips > 1 and spec.groups * -(-nstrip // strips) < 4 * threads:
        strips //= 2
    return strips


def _pointwise_layout(spec) -> dict:
    """The ``pointwise`` layout's entry for :func:`_blocked_layouts` (empty when
    the layer is not a stride-1 unpadded 1x1 or a strip would overflow L2).

    Time per thread: the larger of the register tiles' flops (over whole strips of
    PB positions) and the input read plus output write, since the packing and
    stores overlap the arithmetic (fitted, float32, 1 thread: 256->64 and 64->256
    on 56^2 6.7 / 6.4 ms, 32->32 on 112^2 3.1 ms, 1024->256 on 14^2 6.3 ms), plus
    the weight reads of every job."""
    item = spec.dtype.itemsize
    pb = blockgeom.block_positions(item)
    if not spec.pointwise or spec.in_per_group * pb * item > (1 << 20):
        return {}
    n = spec.batch
    Q = n * math.prod(spec.out_size)
    nstrip = -(-Q // pb)
    co_computed = spec.groups * -(-spec.out_per_group // blockgeom.CB) * blockgeom.CB
    flops = 2.0 * nstrip * pb * co_computed * spec.in_per_group
    nbytes = item * Q * (spec.in_channels + spec.out_channels)
    ntile = nstrip * co_computed // blockgeom.CB
    # every job streams its group's whole weight through L1 (from L2 or L3): the
    # term that hands wide-channel small planes to BLAS (512->512 on 7^2)
    from ..threads import cpu_count

    njob = -(-nstrip // pointwise_strips(spec, cpu_count()))
    wbytes = njob * co_computed * spec.in_per_group * item
    work = (max(flops / _RATE_POINTWISE[item], nbytes / _BW_POINTWISE)
            + wbytes / _BW_POINTWISE_W + ntile * _TILE_BLOCKED)
    return {"pointwise": (work, spec.groups * nstrip, 0, n)}


def _blocked_choice(spec, threads: int):
    """(seconds, workspace bytes, layout, chunk) of the blocked kernel's best layout,
    or (inf, 0, None, 0) when it does not apply."""
    best = (math.inf, 0, None, 0)
    for layout, (work, jobs, unit, units) in _blocked_layouts(spec).items():
        secs = work / max(1, min(threads, jobs))
        if secs < best[0]:
            chunk = int(max(1, min(units, STAGE_CAP // max(1, unit * spec.dtype.itemsize))))
            ws = chunk * unit * spec.dtype.itemsize
            if layout == "pointwise":  # per-thread packed strips, no stage
                chunk = pointwise_strips(spec, threads)
                ws = threads * chunk * spec.in_per_group * spec.dtype.itemsize * (
                    blockgeom.block_positions(spec.dtype.itemsize))
            best = (secs, ws, layout, chunk)
    return best


def _blocked_estimate(spec, threads: int) -> tuple[float, int]:
    """Seconds and workspace bytes of the blocked kernel (inf if it does not apply)."""
    secs, ws, _, _ = _blocked_choice(spec, threads)
    return secs, ws


def _generic_estimate(spec, threads: int) -> float:
    nd = spec.nd
    _, sh, sw = pad3(spec.stride, nd, 1)
    OW = spec.out_size[-1]
    eff = OW / (OW + 40.0)  # short rows: loop overheads, idle SIMD lanes
    eff /= 1.0 + 0.5 * (sw - 1)  # strided loads
    rows = spec.batch * spec.out_channels * math.prod(spec.out_size[:-1])
    return spec.flops / (_RATE_GENERIC * eff * max(1, min(threads, rows)))


def use_blocked(spec) -> bool:
    """The blocked kernel or the row-axpy one: decided on the shape alone (at the
    machine's core count), so the result does not depend on the thread setting."""
    from ..threads import cpu_count

    t = cpu_count()
    return _blocked_estimate(spec, t)[0] < _generic_estimate(spec, t)


def is_depthwise(spec) -> bool:
    """groups == C_in: one input channel per group (any channel multiplier)."""
    return spec.groups == spec.in_channels


def _dw_blocking(spec, threads: int) -> tuple[int, int]:
    """(rowblock, colblock) of the depthwise kernel: whole rows up to 2048
    columns, row blocks small enough for a 256 KiB buffer and numerous enough
    for the threads.  The blocking never changes the result."""
    nd = spec.nd
    OW = spec.out_size[-1]
    OH = spec.out_size[-2] if nd >= 2 else 1
    OD = spec.out_size[-3] if nd == 3 else 1
    colblock = OW if OW <= 2048 else 1024
    kd, kh, kw = pad3(spec.kernel, nd, 1)
    _, sh, sw = pad3(spec.stride, nd, 1)
    _, dh, dw = pad3(spec.dilation, nd, 1)
    vl = 64 // spec.dtype.itemsize
    pl = -(-(-(-colblock // vl) * vl + (kw - 1) * dw // sw) // vl) * vl
    row_bytes = kd * sw * pl * spec.dtype.itemsize
    halo = (kh - 1) * dh + 1
    rb = OH
    while rb > 4 and ((rb - 1) * sh + halo) * row_bytes > 256 * 1024:
        rb = -(-rb // 2)
    planes = spec.batch * spec.out_channels * OD
    while rb > 8 and planes * -(-OH // rb) < 4 * threads:
        rb = -(-rb // 2)
    return rb, colblock


def options(spec, threads: int) -> dict:
    OW = spec.out_size[-1]
    rows = spec.batch * spec.out_channels * math.prod(spec.out_size[:-1])
    want = 16 * threads
    if rows >= want:
        colblock = OW
    else:
        nblk = -(-want // max(rows, 1))
        colblock = max(64, -(-OW // nblk))
    opts = {"colblock": colblock}
    if not is_depthwise(spec) and use_blocked(spec):
        from ..threads import cpu_count

        _, _, layout, chunk = _blocked_choice(spec, cpu_count())
        opts = {"kernel": "blocked", "layout": layout, "chunk": chunk}
    if is_depthwise(spec):
        opts["rowblock"], opts["dw_colblock"] = _dw_blocking(spec, threads)
    return opts


def estimate(spec, threads: int) -> tuple[float, int]:
    """Seconds (the measured model above) and workspace bytes."""
    threads = max(1, threads)
    fixed = _CALL + _FORK * (threads > 1)
    nd = spec.nd
    kd, kh, kw = pad3(spec.kernel, nd, 1)
    _, sh, sw = pad3(spec.stride, nd, 1)
    _, dh, dw = pad3(spec.dilation, nd, 1)
    OW = spec.out_size[-1]
    if is_depthwise(spec):
        rb, cb = _dw_blocking(spec, threads)
        OH = spec.out_size[-2] if nd >= 2 else 1
        jobs = spec.batch * spec.out_channels * math.prod(spec.out_size[:-2]) * -(-OH // rb)
        vl = 64 // spec.dtype.itemsize
        lanes = OW / (-(-OW // vl) * vl)  # short rows leave SIMD lanes idle
        item = spec.dtype.itemsize
        copy = kd * (1 if sw == 1 else 3 if sw == 2 else 6)
        nbytes = item * (spec.batch * spec.out_channels * math.prod(spec.in_size) * copy
                         + spec.batch * spec.out_channels * math.prod(spec.out_size))
        rate = _RATE_DW if (kh > 1 or OH > 1 or kw == 3) else _RATE_DW_ROW
        work = spec.flops / (rate * lanes) + nbytes / _BW_DW + jobs * _JOB_DW
        pl = -(-(-(-cb // vl) * vl + (kw - 1) * dw // sw) // vl) * vl
        ws = threads * kd * ((rb - 1) * sh + (kh - 1) * dh + 1) * sw * pl * item
        return fixed + work / max(1, min(threads, jobs)), ws
    if use_blocked(spec):
        secs, ws = _blocked_estimate(spec, threads)
        return fixed + secs, ws
    return fixed + _generic_estimate(spec, threads), 0


def _depthwise_kernel(backend: str):
    """The backend's depthwise kernel, or None if it has none (e.g. CUDA)."""
    try:
        return kernels.get(backend, "depthwise", "conv_depthwise")
    except (ImportError, AttributeError):
        return None


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    stride = pad3(spec.stride, nd, 1)
    dilation = pad3(spec.dilation, nd, 1)
    pad = pad3(spec.pad_before, nd, 0)
    if is_depthwise(spec):
        kern = _depthwise_kernel(plan.backend)
        if kern is not None:
            opts = plan.options
            if "rowblock" in opts:
                rb, cb = opts["rowblock"], opts["dw_colblock"]
            else:
                rb, cb = _dw_blocking(spec, plan.threads)
            kern(to_3d(x, nd), to_3d(w, nd), b, spec.has_bias, to_3d(out, nd),
                 stride, dilation, pad, rb, cb, plan.threads)
            return
    if plan.options.get("kernel") == "blocked" and _has_blocked(plan.backend):
        _forward_blocked(spec, plan, x, w, b, out, packed)
        return
    kern = kernels.get(plan.backend, "direct", "conv_direct")
    colblock = plan.options.get("colblock") or spec.out_size[-1]
    kern(to_3d(x, nd), to_3d(w, nd), b, spec.has_bias, to_3d(out, nd), stride, dilation,
         pad, spec.groups, colblock, plan.threads)


def pack_weight(spec, plan, w):
    """The blocked kernel's weight layout (G, nCB, T, 8), once per model with
    ``fastconv.prepare_weight``; None for the other kernels (they read ``w``)."""
    if plan.options.get("kernel") != "blocked":
        return None
    return blockgeom.pack_weight(to_3d(np.ascontiguousarray(w, spec.dtype), spec.nd),
                                 spec.groups)


def _has_blocked(backend: str) -> bool:
    """Whether the backend has the blocked kernel (the CUDA one has not: it runs
    its own direct kernel)."""
    try:
        kernels.get(backend, "dblock", "conv_blocked")
        return True
    except (ImportError, AttributeError):
        return False


def _forward_blocked(spec, plan, x, w, b, out, packed) -> None:
    nd = spec.nd
    k3, o3, s3, d3 = _blocked_geometry(spec)
    wp = packed if packed is not None else blockgeom.pack_weight(to_3d(w, nd), spec.groups)
    bp = blockgeom.pack_bias(b, spec.has_bias, spec.out_channels, spec.groups, spec.dtype)
    item = spec.dtype.itemsize
    chunk = plan.options["chunk"]
    if plan.options["layout"] == "pointwise":
        N, C, Co = spec.batch, spec.in_channels, spec.out_channels
        o3 = (out if out.flags.c_contiguous else np.empty(out.shape, out.dtype)).reshape(
            N, Co, -1)
        kern = kernels.get(plan.backend, "dblock", "conv_pointwise")
        kern(np.ascontiguousarray(x).reshape(N, C, -1), wp, bp, o3, spec.groups, chunk,
             plan.threads)
        if not out.flags.c_contiguous:
            out[...] = o3.reshape(out.shape)
        return
    if plan.options["layout"] == "batch":
        unit = blockgeom.stage_items_batch(spec.in_channels, k3, o3, s3, d3, item)
        name = "conv_blocked_batch"
    else:
        unit = blockgeom.stage_items(spec.in_channels, k3, o3, s3, d3, item)
        name = "conv_blocked"
    stage = np.empty(chunk * unit, spec.dtype)
    kern = kernels.get(plan.backend, "dblock", name)
    args = (to_3d(x, nd), wp, bp, to_3d(out, nd), k3, s3, d3, pad3(spec.pad_before, nd, 0),
            spec.groups, chunk, stage, plan.threads)
    # Outputs of at least _config.STREAM_MIN_BYTES leave the blocked kernel (Cython,
    # rows of whole vectors, result on 64-byte lines) with non-temporal stores, on
    # one thread: the ResNet stem (25.7 MB out) ran 11.4-11.7 ms streamed against
    # 12.0-13.3 ms, but 6.3-6.5 against 6.1-6.2 ms on two threads (in one process).
    if (name == "conv_blocked" and plan.backend == "cython" and plan.threads == 1
            and out.nbytes >= _config.STREAM_MIN_BYTES):
        kern(*args, True)
    else:
        kern(*args)
