"""im2col-GEMM: pack windows into panels, multiply with BLAS.

The GEMM-bound workhorse for wide layers (many input channels x taps).  Work is
split into (batch, group, block of output positions) units; each thread packs
its block into a private, L2-sized panel and calls single-threaded BLAS, so
one thread pool (OpenMP / Numba) runs the whole call and the scratch memory is
bounded: ``threads x (K + C_out/groups) x pb`` items, never the full im2col
matrix (a 1x1x4000x4000 image with a 15x15 kernel runs in a few MiB).
1x1 stride-1 unpadded convolutions skip packing and multiply ``x`` in place.
"""

from __future__ import annotations

import math

from .. import _config, kernels
from .._alloc import thread_rows
from .._spec import pad3, to_3d
from ..threads import blas_threads, cpu_count

#: Target panel size per thread (bytes): the panel + GEMM result stay in L2.
PANEL_BYTES = 1 << 20
#: single-thread sgemm rate on L2-resident panels, flop/s (this machine class).
GEMM_RATE = {4: 85e9, 8: 42e9}
#: BLAS rate per thread of the unpacked 1x1 GEMMs with M and K >= 128.
GEMM_RATE_1X1 = {4: 127e9, 8: 63e9}
PACK_BYTES_PER_S = 6e9


def _is_1x1(spec) -> bool:
    """1x1, stride 1, unpadded: the GEMM reads ``x`` in place (its row stride, the
    plane size, must fit BLAS's 32-bit ``ldb``)."""
    return spec.pointwise and math.prod(spec.in_size) < 2**31


def supports(spec) -> str | None:
    return None


def options(spec, threads: int) -> dict:
    K = spec.in_per_group * spec.taps
    P = math.prod(spec.out_size)
    item = spec.dtype.itemsize
    # never a function of the thread count: blocking fixes each element's sum order
    budget = min(PANEL_BYTES, _config.WORKSPACE_LIMIT // max(cpu_count(), 1))
    pb = budget // ((K + spec.out_per_group) * item)
    pb = max(16, (pb // 16) * 16)
    # enough jobs to keep every thread busy (pb never depends on the thread
    # count itself, so results stay bit-identical; only on the case)
    jobs = spec.batch * spec.groups * -(-P // pb)
    while jobs < 8 and pb > 64:
        pb //= 2
        jobs = spec.batch * spec.groups * -(-P // pb)
    return {"pb": int(min(pb, P)), "direct_1x1": _is_1x1(spec)}


def estimate(spec, threads: int) -> tuple[float, int]:
    opt = options(spec, threads)
    pb = opt["pb"]
    K = spec.in_per_group * spec.taps
    item = spec.dtype.itemsize
    ws = threads * (K + spec.out_per_group) * pb * item
    M = spec.out_per_group
    # narrow GEMMs (few output channels, short K) run below peak, but far less
    # than linearly: fitted on LeNet (M=6, K=25), 3->16 11x11 (M=16) and
    # single-channel 15x15/31x31 (M=1) layers
    eff = (min(1.0, M / 64) * min(1.0, K / 128) * min(1.0, pb / 128)) ** 0.5
    rate = GEMM_RATE[item] * max(eff, 0.05) * threads
    if opt["direct_1x1"]:
        # one unpacked GEMM per image: BLAS's own blocking, fast on deep layers
        # whatever the plane (2 threads: 512->512 on 7^2 216 GFLOP/s, 256->1024 on
        # 14^2 274, 256->64 on 56^2 179)
        eff = (min(1.0, M / 128) * min(1.0, K / 128)) ** 0.5
        rate = GEMM_RATE_1X1[item] * max(eff, 0.05) * threads
    pack = 0.0 if opt["direct_1x1"] else spec.batch * spec.groups * K * math.prod(
        spec.out_size) * item / PACK_BYTES_PER_S / threads
    return spec.flops / rate + pack + 20e-6, ws


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    pb = plan.options["pb"]
    w2 = w.reshape(spec.out_channels, -1)
    K = w2.shape[1]
    nthreads = plan.threads
    scratch = thread_rows(nthreads, (K + spec.out_per_group) * pb, spec.dtype)
    kern = kernels.get(plan.backend, "im2col", "conv_im2col")
    with blas_threads(1):
        kern(
            to_3d(x, nd), w2, b, spec.has_bias, to_3d(out, nd), pad3(spec.kernel, nd, 1),
            pad3(spec.stride, nd, 1), pad3(spec.dilation, nd, 1),
            pad3(spec.pad_before, nd, 0), spec.groups, pb, scratch, nthreads,
            plan.options["direct_1x1"],
        )
