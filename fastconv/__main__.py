"""``python -m fastconv demo``: fastconv on built-in data, with plans and timings."""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(f, *a, **k):
    f(*a, **k)  # first call: loads kernels (compiles once, then cached)
    t = time.perf_counter()
    r = f(*a, **k)
    return r, time.perf_counter() - t


def demo() -> None:
    import fastconv as fc
    from fastconv.data import sample_image

    img = sample_image(256)
    print(f"fastconv {fc.__version__} demo: built-in 256x256 image, "
          f"{fc.get_num_threads()} threads\n")
    x = img[None, None]  # (N=1, C=1, H, W)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    g = np.exp(-0.5 * (np.arange(-3, 4) / 1.5) ** 2)
    gauss = np.outer(g, g).astype(np.float32)
    gauss /= gauss.sum()
    filters = {
        "sobel-x 3x3 (edges)": sobel,
        "sobel-y 3x3 (edges)": sobel.T.copy(),
        "gaussian 7x7 (blur)": gauss,
        "box 15x15 (blur, reflect padding)": np.full((15, 15), 1 / 225, np.float32),
    }
    print("hand-designed filters, padding='same':")
    for name, k in filters.items():
        mode = "reflect" if "reflect" in name else "zeros"
        plan = fc.plan_conv(x.shape, (1, 1) + k.shape, padding="same", padding_mode=mode)
        y, dt = _timed(fc.conv2d, x, k[None, None], padding="same", padding_mode=mode)
        print(f"  {name:36s} -> {y.shape}  {plan.algorithm:9s} {dt * 1e3:7.3f} ms  "
              f"|y| mean {np.abs(y).mean():.4f}")

    print("\na small random CNN stack on a batch of 8 crops (float32):")
    rng = np.random.default_rng(0)
    crops = np.stack([img[i:i + 128, j:j + 128] for i in (0, 64) for j in (0, 32, 64, 96)])
    h = crops[:, None].astype(np.float32)
    layers = [
        ("conv 1->16 5x5", rng.standard_normal((16, 1, 5, 5)) * 0.2, dict(padding=2)),
        ("conv 16->32 3x3 s2", rng.standard_normal((32, 16, 3, 3)) * 0.08,
         dict(stride=2, padding=1)),
        ("depthwise 32 3x3", rng.standard_normal((32, 1, 3, 3)) * 0.3,
         dict(padding=1, groups=32)),
        ("pointwise 32->64 1x1", rng.standard_normal((64, 32, 1, 1)) * 0.17, {}),
        ("dilated 64->64 3x3 d2", rng.standard_normal((64, 64, 3, 3)) * 0.04,
         dict(padding=2, dilation=2)),
    ]
    total = 0.0
    for name, w, kw in layers:
        w = w.astype(np.float32)
        plan = fc.plan_conv(h.shape, w.shape, **kw)
        y, dt = _timed(fc.conv2d, h, w, **kw)
        total += dt
        gf = plan.flops / dt / 1e9
        print(f"  {name:24s} {str(h.shape):18s} -> {str(y.shape):18s} {plan.algorithm:9s} "
              f"{plan.backend:7s} {dt * 1e3:7.3f} ms {gf:6.1f} GFLOP/s")
        h = np.maximum(y, 0)  # ReLU
    print(f"  total {total * 1e3:.2f} ms; plan reason of the last layer: {plan.reason}")
    pooling_demo(h)
    gabor_demo(img)


def pooling_demo(h):
    """Pool the CNN stack's output (max, average, global average), with timings."""
    import fastconv as fc

    print(f"\npooling the stack's output {h.shape} (memory-bound: GB/s = bytes in + out, "
          "best of 5):")
    for name, f, args in (
        ("max 2x2", fc.max_pool2d, (2,)),
        ("max 3x3 s2 p1", fc.max_pool2d, (3, 2, 1)),
        ("avg 2x2", fc.avg_pool2d, (2,)),
        ("global average", fc.adaptive_avg_pool2d, (1,)),
    ):
        y, dt = _timed(f, h, *args)
        for _ in range(4):  # best of 5: single calls of ~1 ms are noisy
            dt = min(dt, _timed(f, h, *args)[1])
        gbs = (h.nbytes + y.nbytes) / dt / 1e9
        print(f"  {name:16s} -> {str(y.shape):18s} {dt * 1e3:7.3f} ms {gbs:6.1f} GB/s")


def gabor_demo(img, path=None):
    """Gabor-bank responses on ``img``: 8 orientations x 2 frequencies, even and odd
    phase, energy ``sqrt(even^2 + odd^2)``; saved as a PNG grid (kernels above
    their responses) when matplotlib is available.  Returns the PNG path or None."""
    import math
    import os
    import tempfile

    import fastconv as fc
    from fastconv import filters
    from fastconv.plan import last_plan

    freqs, n_or = (0.1, 0.2), 8
    bank, params = filters.gabor_bank(31, n_orientations=n_or, frequencies=freqs,
                                      phases=(0.0, math.pi / 2), return_params=True,
                                      dtype=np.float32)
    x = img[None, None].astype(np.float32)
    y, dt = _timed(fc.conv2d, x, bank, padding="same", padding_mode="symmetric")
    energy = np.hypot(y[0, 0::2], y[0, 1::2])  # (len(freqs) * n_or, H, W)
    print(f"\nGabor bank ({bank.shape[0]} kernels 31x31: {n_or} orientations x "
          f"{len(freqs)} frequencies x even/odd phase) on the {img.shape[0]}x{img.shape[1]} "
          f"image: {dt * 1e3:.2f} ms (conv2d, {last_plan().algorithm})")
    mean_e = energy.reshape(len(freqs), n_or, -1).mean(axis=2)
    for i, f in enumerate(freqs):
        best = int(np.argmax(mean_e[i]))
        print(f"  frequency {f:.2f} cycles/px: mean energy per orientation "
              + " ".join(f"{v:.3f}" for v in mean_e[i])
              + f"  (strongest {180 * best / n_or:.1f} deg)")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("  matplotlib is not installed: skipping the PNG grid "
              "(pip install matplotlib to get it)")
        return None
    path = path or os.path.join(tempfile.gettempdir(), "fastconv_demo_gabor.png")
    rows = 2 * len(freqs)
    vmax = [float(np.percentile(energy[i * n_or:(i + 1) * n_or], 99.5)) for i in range(len(freqs))]
    fig = Figure(figsize=(2 * n_or, 2.1 * rows))
    for i in range(len(freqs)):
        for j in range(n_or):
            k = i * n_or + j
            ax = fig.add_subplot(rows, n_or, 2 * i * n_or + j + 1)
            ax.imshow(bank[2 * k, 0], cmap="gray")
            ax.set_title(f"f={freqs[i]:.2f} {180 * j / n_or:.0f}\u00b0", fontsize=8)
            ax.axis("off")
            ax = fig.add_subplot(rows, n_or, (2 * i + 1) * n_or + j + 1)
            ax.imshow(energy[k], cmap="magma", vmin=0, vmax=vmax[i])
            ax.axis("off")
    fig.suptitle("fastconv demo: Gabor kernels (even phase) and response energy "
                 "(symmetric padding; one colour scale per frequency)")
    fig.savefig(path, dpi=80)
    print(f"  saved the response grid to {path}")
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m fastconv", description=__doc__)
    p.add_argument("command", choices=["demo"], help="what to run")
    args = p.parse_args(argv)
    if args.command == "demo":
        demo()


if __name__ == "__main__":
    main()
