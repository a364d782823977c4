"""Direct convolution: the loop nest of the definition, output-row blocked.

Serves every case (any stride, dilation, groups, padding).  It is the fastest
algorithm for depthwise and small-channel convolutions, where GEMM-based
algorithms cannot amortise their packing.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .._spec import pad3, to_3d

#: Sustained multiply-add rate of the row-axpy loop per thread, by inner length.
_RATE_PER_THREAD = 8e9  # flop/s for long rows (AVX-512 axpy from L1)


def supports(spec) -> str | None:
    return None


def options(spec, threads: int) -> dict:
    OW = spec.out_size[-1]
    rows = spec.batch * spec.out_channels * int(np.prod(spec.out_size[:-1]))
    want = 16 * threads
    if rows >= want:
        return {"colblock": OW}
    nblk = -(-want // max(rows, 1))
    return {"colblock": max(64, -(-OW // nblk))}


def estimate(spec, threads: int) -> tuple[float, int]:
    OW = spec.out_size[-1]
    eff = min(1.0, OW / 64.0) * 0.8 + 0.2  # short rows vectorise poorly
    rate = _RATE_PER_THREAD * eff * threads
    return spec.flops / rate + 5e-6 * (threads > 1), 0


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    kern = kernels.get(plan.backend, "direct", "conv_direct")
    kern(
        to_3d(x, nd), to_3d(w, nd), b, spec.has_bias, to_3d(out, nd),
        pad3(spec.stride, nd, 1), pad3(spec.dilation, nd, 1), pad3(spec.pad_before, nd, 0),
        spec.groups, plan.options["colblock"], plan.threads,
    )
