"""Classify digit images with the weights written by ``train_digits.py``.

A lightweight inference script: NumPy and fastconv only (no PyTorch, no
scikit-learn unless you ask for the bundled digits as demo input).  Each
convolution runs with its activation fused (``activation="relu"``), so the
output is touched once.

    python examples/infer.py                          # digits_out/weights.npz on the
                                                      # held-out digits, with accuracy
    python examples/infer.py --weights w.npz --images imgs.npy   # (N, 8, 8) 0..16

Reports per-image latency (batch of one, after a warm-up) and batched throughput.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastconv as fc


def load_model(path: str) -> dict:
    """The arrays of ``weights.npz`` plus the architecture (``arch``)."""
    with np.load(path) as f:
        model = {k: f[k] for k in f.files}
    model["arch"] = {k[5:]: model.pop(k).item() for k in list(model) if k.startswith("arch_")}
    return model


def _layer(model: dict, name: str, x_shape) -> fc.PreparedWeight:
    """The conv weight planned and packed once per input shape (``fc.prepare_weight``),
    so repeated calls skip planning."""
    cache = model.setdefault("_prepared", {})
    key = (name, tuple(x_shape), fc.get_num_threads())
    if key not in cache:
        cache[key] = fc.prepare_weight(model[f"{name}_w"], x_shape, bias=True,
                                       padding=model["arch"]["pad"])
    return cache[key]


def logits(model: dict, images: np.ndarray) -> np.ndarray:
    """(N, 10) class scores of raw images (N, 8, 8) or (N, 1, 8, 8), values 0..16."""
    a = model["arch"]
    x = np.asarray(images, np.float32).reshape(-1, 1, 8, 8)
    x = (x - model["mean"]) / model["std"]
    h = fc.conv2d(x, _layer(model, "conv1", x.shape), model["conv1_b"], padding=a["pad"],
                  activation=a["activation"])
    h = fc.max_pool2d(h, a["pool"])
    h = fc.conv2d(h, _layer(model, "conv2", h.shape), model["conv2_b"], padding=a["pad"],
                  activation=a["activation"])
    h = fc.max_pool2d(h, a["pool"])
    return h.reshape(len(x), -1) @ model["fc_w"] + model["fc_b"]


def predict(model: dict, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Predicted digit per image (in mini-batches of ``batch_size``)."""
    images = np.asarray(images, np.float32).reshape(-1, 8, 8)
    return np.concatenate([logits(model, images[s:s + batch_size]).argmax(axis=1)
                           for s in range(0, len(images), batch_size)] or [np.zeros(0, int)])


def latency(model: dict, images: np.ndarray, repeat: int = 1) -> dict:
    """Per-image latency (batch of one) and batched throughput, in seconds."""
    images = np.asarray(images, np.float32).reshape(-1, 8, 8)
    predict(model, images[:1])  # warm-up: loads the kernels, plans the layers
    predict(model, images)
    per = []
    for _ in range(repeat):
        for im in images:
            t0 = time.perf_counter()
            predict(model, im[None])
            per.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    predict(model, images)
    batch = time.perf_counter() - t0
    per = np.array(per)
    return {"median": float(np.median(per)), "p90": float(np.percentile(per, 90)),
            "mean": float(per.mean()), "batch_total": batch,
            "batch_per_image": batch / max(len(images), 1)}


def _demo_images(seed: int = 0):
    """The held-out split of train_digits.py (same seed, same split)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    _, xte, _, yte = train_test_split(d.images, d.target, test_size=0.25, random_state=seed,
                                      stratify=d.target)
    return xte.astype(np.float32), yte


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="digits_out/weights.npz")
    ap.add_argument("--images", default=None,
                    help=".npy file of (N, 8, 8) images with values 0..16 "
                         "(default: the held-out sklearn digits)")
    ap.add_argument("--threads", type=int, default=1,
                    help="fastconv threads (default 1: single images are tiny)")
    ap.add_argument("--show", type=int, default=10, help="print the first SHOW predictions")
    args = ap.parse_args(argv)
    model = load_model(args.weights)
    labels = None
    if args.images is None:
        images, labels = _demo_images()
    else:
        images = np.load(args.images).astype(np.float32).reshape(-1, 8, 8)
    with fc.num_threads(args.threads):
        pred = predict(model, images)
        lat = latency(model, images)
    for i in range(min(args.show, len(pred))):
        truth = "" if labels is None else f" (true {labels[i]})"
        print(f"image {i:4d}: {pred[i]}{truth}")
    res = {"predictions": pred, **lat}
    if labels is not None:
        res["accuracy"] = float((pred == labels).mean())
        print(f"accuracy on {len(pred)} held-out images: {res['accuracy']:.4f}")
    print(f"per-image latency (batch of 1, {args.threads} thread): median "
          f"{lat['median'] * 1e6:.0f} us, p90 {lat['p90'] * 1e6:.0f} us; batched: "
          f"{lat['batch_per_image'] * 1e6:.1f} us/image ({len(pred)} images in "
          f"{lat['batch_total'] * 1e3:.1f} ms)")
    return res


if __name__ == "__main__":
    main()
