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
# cost model (measured on the development machine: AVX-512 Xeon, 2.3 GHz,
# gcc -O3 -march=native; seconds per thread unless stated)
# ---------------------------------------------------------------------------
#: Generic kernel: multiply-add rate (flop/s) of the row axpy for long rows.
_RATE_GENERIC = 16e9
#: Depthwise kernel: flop/s of the register tiles (3x3: ~90 GFLOP/s measured
#: from L1 at 2 threads, i.e. ~45 per thread; 5x5 ~80 per thread).
_RATE_DW = 45e9
#: Depthwise kernel: bytes/s of streaming the input and output planes through
#: the padded row copy (input read, output written; L2/L3-resident data).
_BW_DW = 12e9
#: Depthwise kernel: fixed cost per job (row block of one plane).
_JOB_DW = 60e-9
#: Fixed cost of a call (argument handling, OpenMP fork when threads > 1).
_CALL = 4e-6


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
    """Seconds (measured model, see the constants above) and workspace bytes."""
    threads = max(1, threads)
    if is_depthwise(spec):
        rb, cb = _dw_blocking(spec, threads)
        OH = spec.out_size[-2] if spec.nd >= 2 else 1
        OW = spec.out_size[-1]
        jobs = spec.batch * spec.out_channels * math.prod(spec.out_size[:-2]) * -(-OH // rb)
        # short rows waste SIMD lanes (16 float32 / 8 float64 per vector)
        vl = 64 // spec.dtype.itemsize
        lanes = OW / (-(-OW // vl) * vl)
        item = spec.dtype.itemsize
        nbytes = item * (spec.batch * spec.in_channels * math.prod(spec.in_size)
                         + 2 * spec.batch * spec.out_channels * math.prod(spec.out_size))
        per_thread = (spec.flops / (_RATE_DW * lanes) + nbytes / _BW_DW
                      + jobs * _JOB_DW) / threads
        kd, kh, kw = pad3(spec.kernel, spec.nd, 1)
        _, sh, sw = pad3(spec.stride, spec.nd, 1)
        _, dh, dw = pad3(spec.dilation, spec.nd, 1)
        vlc = -(-cb // vl) * vl
        pl = -(-(vlc + (kw - 1) * dw // sw) // vl) * vl
        ws = threads * kd * ((rb - 1) * sh + (kh - 1) * dh + 1) * sw * pl * item
        return _CALL + per_thread, ws
    OW = spec.out_size[-1]
    eff = min(1.0, OW / 64.0) * 0.8 + 0.2  # short rows vectorise poorly
    return _CALL + spec.flops / (_RATE_GENERIC * eff * threads), 0


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
