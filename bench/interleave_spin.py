"""Interleaved NumPy matmul + fastconv conv2d: how much the thread pools slow each other.

    FASTCONV_OMP_SPINCOUNT=default python bench/interleave_spin.py   # libgomp's own spin
    python bench/interleave_spin.py                                  # fastconv's (10000)

Median of 30 iterations of each part alone and of the alternating pipeline, at the
process's default thread count (all CPUs).  Run each setting in a fresh process:
libgomp reads its spin count when it loads.
"""

import os
import time

import numpy as np

import fastconv as fc

CASES = {
    "depthwise 32ch 112^2": ((1, 32, 112, 112), (32, 1, 3, 3), 32),
    "3x3 64ch 56^2 N=1": ((1, 64, 56, 56), (64, 64, 3, 3), 1),
    "1ch 512^2 15x15": ((1, 1, 512, 512), (1, 1, 15, 15), 1),
}


def median_time(f, n=30):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    spin = os.environ.get("FASTCONV_OMP_SPINCOUNT", "10000")
    for name, (xs, ws, g) in CASES.items():
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)

        def conv(x=x, w=w, ws=ws, g=g):
            return fc.conv2d(x, w, padding=ws[-1] // 2, groups=g)

        def matmul():
            return a @ a

        t_conv, t_mm = median_time(conv), median_time(matmul)
        time.sleep(0.3)
        t_both = median_time(lambda conv=conv: (matmul(), conv()))
        print(f"{spin:>8} {name:22s} conv {t_conv * 1e3:.3f}  matmul {t_mm * 1e3:.3f}  "
              f"interleaved {t_both * 1e3:.3f} ms  (x{t_both / (t_conv + t_mm):.2f} of the "
              "parts)", flush=True)


if __name__ == "__main__":
    main()
