"""im2col-GEMM: pack windows into panels, multiply with BLAS.

The GEMM-bound workhorse for wide layers (many input channels x taps).  Work is
split into (batch, group, block of output positions) units; each thread packs
its block into a private, L2-sized panel and calls single-threaded BLAS, so
one thread pool (OpenMP / Numba) runs the whole call and the scratch memory is
bounded: ``threads x (K + C_out/groups) x pb`` items, never the full im2col
matrix (a 1x1x4000x4000 image with a 15x15 kernel runs in a few MiB; batched
mode, below, holds the columns of at least two images, within ``WORKSPACE_LIMIT``).
1x1 stride-1 unpadded convolutions skip packing and multiply ``x`` in place.

Batched mode (``options["batched"]`` = images per chunk, ``options["batch_cols"]``
= columns per job): deep layers on small planes (<= ``BATCH_MAX_P`` output
positions, a weight matrix of >= ``BATCH_MIN_W`` items, one group, a batch of at
least 2 images of which 2 fit ``WORKSPACE_LIMIT``; not the in-place 1x1 layers,
where it measured slower: 256->256 on 14x14, 2.0 against 0.75 ms).  Per-image
GEMMs are narrow there (7x7 outputs: 49 columns) and each call re-packs the whole
weight (ResNet's 256->512 stride-2 on 14x14: 4.7 MB packed 8 times for 8 GEMMs of
115 MFLOP).  Instead the im2col matrix of a chunk of images (``(K, images x P)``,
within ``WORKSPACE_LIMIT``) is cut into one column range per core (at least
``BATCH_MIN_COLS`` columns); each job packs its range and runs one single-threaded
GEMM on it (one weight packing per job), then the result is laid out into ``out``
with the bias.  The ranges are fixed by the plan (the machine's core count when
planned), never by the thread count: BLAS's sums depend on the GEMM's width, and
results must not depend on threads (tested).
"""

from __future__ import annotations

import math

import numpy as np

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
#: batched mode: per-thread BLAS rate of the one multithreaded GEMM (2 threads on
#: this machine: M=512 K=2304 N=392 157 GFLOP/s per thread, M=256 K=1152 N=1568 156,
#: M=128 K=576 N=6272 144)
GEMM_RATE_BATCHED = {4: 150e9, 8: 75e9}
#: batched mode serves planes of at most this many output positions ...
BATCH_MAX_P = 256
#: ... and weight matrices of at least this many items (smaller ones re-pack cheaply)
BATCH_MIN_W = 1 << 16
#: fewest columns per batched job (each job packs the whole weight once)
BATCH_MIN_COLS = 128
#: BLAS packing of a GEMM's weight operand (bytes/s, one thread)
WEIGHT_PACK_BYTES_PER_S = 12e9


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
    nb = _batched(spec)
    opts = {"pb": int(min(pb, P)), "direct_1x1": _is_1x1(spec), "batched": nb}
    if nb:
        # columns per job: one job per core, never a function of the thread count
        per_core = -(-nb * P // max(cpu_count(), 1))
        opts["batch_cols"] = int(max(BATCH_MIN_COLS, -(-per_core // 16) * 16))
    return opts


def _batched(spec) -> int:
    """Images per chunk in batched mode (see the module docstring), 0 when it does
    not apply.  A function of the case alone, never of the thread count."""
    K = spec.in_per_group * spec.taps
    P = math.prod(spec.out_size)
    if (spec.groups != 1 or spec.batch < 2 or P > BATCH_MAX_P or _is_1x1(spec)
            or spec.out_channels * K < BATCH_MIN_W):
        return 0
    per_image = (K + spec.out_channels) * P * spec.dtype.itemsize
    fit = _config.WORKSPACE_LIMIT // per_image
    return int(min(spec.batch, fit)) if fit >= 2 else 0


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
    if opt["batched"]:
        nb = opt["batched"]
        P = math.prod(spec.out_size)
        ws = (K + M) * nb * P * item
        eff = (min(1.0, M / 64) * min(1.0, K / 128) * min(1.0, nb * P / 128)) ** 0.5
        rate = GEMM_RATE_BATCHED[item] * max(eff, 0.05) * threads
        pack = spec.batch * K * P * item / PACK_BYTES_PER_S / threads
        layout = 2 * spec.batch * M * P * item / PACK_BYTES_PER_S
        # every job packs the whole weight for its GEMM
        jobs = -(-spec.batch // nb) * -(-nb * P // opt["batch_cols"])
        wpack = jobs * M * K * item / WEIGHT_PACK_BYTES_PER_S / threads
        return spec.flops / rate + pack + layout + wpack + 30e-6 * -(-spec.batch // nb), ws
    return spec.flops / rate + pack + 20e-6, ws


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    if plan.options.get("batched"):
        _forward_batched(spec, plan, x, w, b, out)
        return
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


def _forward_batched(spec, plan, x, w, b, out) -> None:
    """Batched mode: per chunk of images, the ``conv_batched`` kernel (each thread
    packs its columns of the (K, images x P) im2col matrix and multiplies them with
    single-threaded BLAS), then ``out[n, m, p] = res[m, n P + p] + bias[m]``."""
    nd = spec.nd
    N, M = spec.batch, spec.out_channels
    P = math.prod(spec.out_size)
    w2 = w.reshape(M, -1)
    K = w2.shape[1]
    nb = plan.options["batched"]
    x3 = to_3d(x, nd)
    o3 = out.reshape(N, M, P)
    # the Numba kernel packs into per-job panels of its own: no shared buffer
    cols = np.empty((K, nb * P if plan.backend == "cython" else 0), spec.dtype)
    res = np.empty((M, nb * P), spec.dtype)
    kern = kernels.get(plan.backend, "im2col", "conv_batched")
    geo = (pad3(spec.out_size, nd, 1), pad3(spec.kernel, nd, 1), pad3(spec.stride, nd, 1),
           pad3(spec.dilation, nd, 1), pad3(spec.pad_before, nd, 0))
    for n0 in range(0, N, nb):
        n = min(nb, N - n0)
        with blas_threads(1):
            kern(x3[n0:n0 + n], w2, cols, res, *geo, plan.options["batch_cols"],
                 plan.threads)
        res3 = res[:, :n * P].reshape(M, n, P).transpose(1, 0, 2)
        if spec.has_bias:
            np.add(res3, b[:, None], out=o3[n0:n0 + n])
        else:
            np.copyto(o3[n0:n0 + n], res3)
