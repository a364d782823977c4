"""Direct convolution: the loop nest of the definition.

Serves every case (any stride, dilation, groups, padding).  Two kernels:

* ``depthwise.conv_depthwise`` when ``groups == C_in`` (depthwise, any channel
  multiplier, also single-channel inputs): register-tiled rows over a padded,
  phase-split copy of the input rows (see ``kernels/cython/depthwise.pyx``).
  This is the fastest algorithm there: GEMM-based algorithms have nothing to
  amortise their packing over.
* ``direct.conv_direct`` otherwise: output-row blocked; each (input channel,
  tap) adds an axpy of an input row into the output row held in L1.

Both sum every output element in a fixed order (bias, then taps), whatever the
blocking or the thread count.
"""

from __future__ import annotations

import math

from .. import kernels
from .._spec import pad3, to_3d

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


def supports(spec) -> str | None:
    return None


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
    eff = OW / (OW + 40.0)  # short rows: loop overheads, idle SIMD lanes
    eff /= 1.0 + 0.5 * (sw - 1)  # strided loads
    rows = spec.batch * spec.out_channels * math.prod(spec.out_size[:-1])
    return fixed + spec.flops / (_RATE_GENERIC * eff * max(1, min(threads, rows))), 0


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
    kern = kernels.get(plan.backend, "direct", "conv_direct")
    colblock = plan.options.get("colblock") or spec.out_size[-1]
    kern(to_3d(x, nd), to_3d(w, nd), b, spec.has_bias, to_3d(out, nd), stride, dilation,
         pad, spec.groups, colblock, plan.threads)
