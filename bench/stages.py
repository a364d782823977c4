"""Where the time goes: stage-by-stage timings of im2col-GEMM and FFT convolution.

    python bench/stages.py [--threads 2] > stages.md

im2col: the Cython kernel run with ``stage=1`` (packing only), ``stage=2`` (GEMM only,
on the panels as left) and ``stage=0`` (everything, i.e. what ``conv2d`` runs).
FFT: the steps of ``fastconv.algorithms.fft.forward`` timed one by one (zero-padded
input copy, input spectra, per-frequency channel contraction, inverse FFT, kernel
spectra, which ``prepare_weight`` removes from the per-call cost).
Minimum of ``--repeats`` runs per stage, float32.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import fastconv as fc
from fastconv import _fft, kernels
from fastconv._spec import conv_spec, pad3, to_3d
from fastconv.algorithms import fft as fft_alg
from fastconv.plan import make_plan
from fastconv.threads import blas_threads

LAYERS = [
    ("ResNet 3x3 64ch 56x56 N=8", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ("ResNet 3x3 256ch 14x14 N=8", (8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
    ("ResNet stem 7x7/2 N=8", (8, 3, 224, 224), (64, 3, 7, 7), 2, 3),
    ("1x1 256->64 56x56 N=8", (8, 256, 56, 56), (64, 256, 1, 1), 1, 0),
    ("3-D 16->32 3x3x3 32^3 N=2", (2, 16, 32, 32, 32), (32, 16, 3, 3, 3), 1, 1),
]
FFT_CASES = [
    ("1ch 512x512, 31x31", (1, 1, 512, 512), (1, 1, 31, 31), 1, 0),
    ("1ch 2048x2048, 63x63", (1, 1, 2048, 2048), (1, 1, 63, 63), 1, 0),
    ("3->16 256x256, 11x11", (1, 3, 256, 256), (16, 3, 11, 11), 1, 5),
]


def best(f, repeats):
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def im2col_stages(repeats):
    print("| layer | pack | GEMM | total | GEMM GFLOP/s | pack share |")
    print("|---|---|---|---|---|---|")
    for name, xs, ws, s, p in LAYERS:
        nd = len(ws) - 2
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        spec = conv_spec(nd, xs, ws, None, s, p, 1, 1, "zeros", np.float32, np.float32)
        plan = make_plan(spec, "im2col", "cython")
        pb = plan.options["pb"]
        w2 = w.reshape(ws[0], -1)
        K = w2.shape[1]
        out = np.empty((spec.batch, spec.out_channels) + spec.out_size, np.float32)
        scratch = np.empty((plan.threads, (K + spec.out_per_group) * pb), np.float32)
        kern = kernels.get("cython", "im2col", "conv_im2col")
        b = np.zeros(1, np.float32)

        def run(stage):
            with blas_threads(1):
                kern(to_3d(x, nd), w2, b, False, to_3d(out, nd), pad3(spec.kernel, nd, 1),
                     pad3(spec.stride, nd, 1), pad3(spec.dilation, nd, 1),
                     pad3(spec.pad_before, nd, 0), 1, pb, scratch, plan.threads,
                     plan.options["direct_1x1"], stage)

        tp, tg, tt = (best(lambda st=st: run(st), repeats) for st in (1, 2, 0))
        print(f"| {name} | {tp * 1e3:.2f} ms | {tg * 1e3:.2f} ms | {tt * 1e3:.2f} ms | "
              f"{spec.flops / tg / 1e9:.0f} | {tp / tt:.0%} |")


def fft_stages(repeats):
    print("| case | pad copy | input rFFT | contraction | inverse rFFT | kernel spectra "
          "(per call, unless prepared) | conv2d total |")
    print("|---|---|---|---|---|---|---|")
    for name, xs, ws, s, p in FFT_CASES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        spec = conv_spec(2, xs, ws, None, s, p, 1, 1, "zeros", np.float32, np.float32)
        plan = make_plan(spec, "fft", "cython")
        need, tiles, fshape = fft_alg._geometry(spec)
        keff = fft_alg._eff(spec)
        nt = tuple(-(-q // t) for q, t in zip(need, tiles, strict=True))
        tin = tuple(t + k - 1 for t, k in zip(tiles, keff, strict=True))
        full = tuple(n * t + k - 1 for n, t, k in zip(nt, tiles, keff, strict=True))
        taxes = (4, 5)

        def pad():
            xp = np.zeros(xs[:2] + full, np.float32)
            xp[:, :, p:p + xs[2], p:p + xs[3]] = x[:, :, :full[0] - p, :full[1] - p]
            return xp

        xp = pad()
        view = fft_alg._tiles_view(xp, tiles, tin)
        with _fft.backend() as sfft:
            X = sfft.rfftn(view, fshape, axes=taxes, workers=plan.threads)
            Wc = fft_alg.pack_weight(spec, plan, w)
            Wb = Wc.reshape(Wc.shape[:2] + (1, 1) + Wc.shape[2:])
            Y = np.einsum("nc...,oc...->no...", X, Wb, optimize=True)
            t_pad = best(pad, repeats)
            t_in = best(lambda: sfft.rfftn(view, fshape, axes=taxes, workers=plan.threads),
                        repeats)
            t_ct = best(lambda: np.einsum("nc...,oc...->no...", X, Wb, optimize=True),
                        repeats)
            t_inv = best(lambda: sfft.irfftn(Y, fshape, axes=taxes, workers=plan.threads),
                         repeats)
        t_w = best(lambda: fft_alg.pack_weight(spec, plan, w), repeats)
        t_all = best(lambda: fc.conv2d(x, w, stride=s, padding=p, algorithm="fft"), repeats)
        tiles_n = math.prod(nt)
        print(f"| {name} ({tiles_n} tile{'s' if tiles_n > 1 else ''} of "
              f"{'x'.join(map(str, fshape))}) | {t_pad * 1e3:.2f} ms | {t_in * 1e3:.2f} ms | "
              f"{t_ct * 1e3:.2f} ms | {t_inv * 1e3:.2f} ms | {t_w * 1e3:.2f} ms | "
              f"{t_all * 1e3:.2f} ms |")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=fc.threads.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with fc.num_threads(args.threads), blas_threads(args.threads):
        print(f"### im2col-GEMM stages ({args.threads} threads, float32, Cython)\n")
        im2col_stages(args.repeats)
        print(f"\n### FFT stages ({args.threads} threads, float32, {_fft.backend_name()})\n")
        fft_stages(args.repeats)


if __name__ == "__main__":
    main()
