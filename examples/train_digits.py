"""Train a LeNet-style CNN on scikit-learn's handwritten digits with fastconv + NumPy.

No autograd and no deep-learning framework: every convolution, pooling and their
backward passes are fastconv calls; the dense layer, softmax cross-entropy and
Adam are a few lines of NumPy.  The data (8x8 digits, 1,797 images) ship with
scikit-learn, so nothing is downloaded.

    python examples/train_digits.py                 # ~98 % test accuracy
    python examples/train_digits.py --epochs 5 --out /tmp/digits

Network (channels first, N x C x H x W)::

    x (N, 1, 8, 8)
    conv 5x5, 16 ch, pad 2 -> relu -> max-pool 2   (N, 16, 4, 4)
    conv 5x5, 32 ch, pad 2 -> relu -> max-pool 2   (N, 32, 2, 2)
    flatten -> dense 128 -> 10 -> softmax

Writes ``weights.npz`` (loadable by ``examples/infer.py``) and ``training.png``
(loss and accuracy per epoch) to ``--out`` (default ``./digits_out``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastconv as fc

ARCH = {"c1": 16, "c2": 32, "k": 5, "pad": 2, "pool": 2, "activation": "relu"}


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def load_data(test_size: float = 0.25, seed: int = 0, subset: int | None = None):
    """(x_train, y_train, x_test, y_test, mean, std); images (N, 1, 8, 8) float32,
    standardised with the training set's mean and std."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
    y = digits.target.astype(np.int64)
    if subset is not None:
        X, y = X[:subset], y[:subset]
    xtr, xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed,
                                          stratify=y)
    mean, std = float(xtr.mean()), float(xtr.std())
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte, mean, std


# --------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------
def init_params(seed: int = 0, arch: dict = ARCH) -> dict:
    """He-initialised parameters (float32)."""
    rng = np.random.default_rng(seed)
    k, c1, c2 = arch["k"], arch["c1"], arch["c2"]

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    feat = c2 * 2 * 2
    return {
        "conv1_w": he((c1, 1, k, k), k * k), "conv1_b": np.zeros(c1, np.float32),
        "conv2_w": he((c2, c1, k, k), c1 * k * k), "conv2_b": np.zeros(c2, np.float32),
        "fc_w": he((feat, 10), feat), "fc_b": np.zeros(10, np.float32),
    }


def forward(params: dict, x: np.ndarray, arch: dict = ARCH):
    """Logits (N, 10) and the cache the backward pass needs."""
    p, act = arch["pad"], arch["activation"]
    a1 = fc.conv2d(x, params["conv1_w"], params["conv1_b"], padding=p, activation=act)
    p1, i1 = fc.max_pool2d(a1, arch["pool"], return_indices=True)
    a2 = fc.conv2d(p1, params["conv2_w"], params["conv2_b"], padding=p, activation=act)
    p2, i2 = fc.max_pool2d(a2, arch["pool"], return_indices=True)
    flat = p2.reshape(len(x), -1)
    logits = flat @ params["fc_w"] + params["fc_b"]
    return logits, (x, a1, p1, i1, a2, p2, i2, flat)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray):
    """(mean loss, gradient w.r.t. the logits)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.log(prob[np.arange(n), y] + 1e-12).mean())
    grad = prob
    grad[np.arange(n), y] -= 1
    return loss, (grad / n).astype(np.float32)


_ACT_BACKWARD = {"relu": fc.relu_backward, "sigmoid": fc.sigmoid_backward,
                 "tanh": fc.tanh_backward}


def backward(params: dict, cache, dlogits: np.ndarray, arch: dict = ARCH) -> dict:
    """Gradients of the loss w.r.t. every parameter (explicit, layer by layer)."""
    x, a1, p1, i1, a2, p2, i2, flat = cache
    p, k = arch["pad"], arch["pool"]
    act_bwd = _ACT_BACKWARD[arch["activation"]]  # from the activation's output
    grads = {"fc_w": flat.T @ dlogits, "fc_b": dlogits.sum(axis=0)}
    dflat = dlogits @ params["fc_w"].T
    dp2 = dflat.reshape(p2.shape)
    da2 = fc.max_pool2d_backward(dp2, a2, k, indices=i2)
    dz2 = act_bwd(da2, a2)
    g2 = fc.conv2d_backward(dz2, p1, params["conv2_w"], padding=p)
    grads["conv2_w"], grads["conv2_b"] = g2.weight, g2.bias
    da1 = fc.max_pool2d_backward(g2.input, a1, k, indices=i1)
    dz1 = act_bwd(da1, a1)
    g1 = fc.conv2d_backward(dz1, x, params["conv1_w"], padding=p, needs=("weight", "bias"))
    grads["conv1_w"], grads["conv1_b"] = g1.weight, g1.bias
    return grads


class Adam:
    """Adam (Kingma & Ba) on a dict of arrays, updated in place."""

    def __init__(self, params: dict, lr: float = 3e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, betas[0], betas[1], eps, weight_decay
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, g in grads.items():
            if self.wd and k.endswith("_w"):
                g = g + self.wd * params[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            upd = self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
            params[k] -= upd.astype(params[k].dtype)


class SGD:
    """Plain SGD with momentum."""

    def __init__(self, params: dict, lr: float = 0.05, momentum: float = 0.9):
        self.lr, self.mu = lr, momentum
        self.vel = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        for k, g in grads.items():
            self.vel[k] = self.mu * self.vel[k] - self.lr * g
            params[k] += self.vel[k].astype(params[k].dtype)


def accuracy(params: dict, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    correct = 0
    for s in range(0, len(x), batch):
        logits, _ = forward(params, x[s:s + batch])
        correct += int((logits.argmax(axis=1) == y[s:s + batch]).sum())
    return correct / max(len(x), 1)


# --------------------------------------------------------------------------
# training loop
# --------------------------------------------------------------------------
def train(epochs: int = 15, batch_size: int = 32, lr: float = 3e-3, optimizer: str = "adam",
          seed: int = 0, subset: int | None = None, out_dir: str | None = "digits_out",
          progress: bool = True, plot: bool = True) -> dict:
    """Train the network; returns a history dict (per-epoch loss and accuracies,
    the final parameters under ``"params"`` and the wall time).  When ``out_dir``
    is given, writes ``weights.npz`` and (``plot=True``) ``training.png`` there."""
    from tqdm import tqdm

    xtr, ytr, xte, yte, mean, std = load_data(seed=seed, subset=subset)
    params = init_params(seed)
    opt = Adam(params, lr=lr) if optimizer == "adam" else SGD(params, lr=lr)
    rng = np.random.default_rng(seed)
    hist = {"loss": [], "train_acc": [], "test_acc": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(xtr))
        batches = range(0, len(xtr), batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1:2d}/{epochs}", unit="batch",
                   disable=not progress, leave=True, ncols=90)
        tot, seen, correct = 0.0, 0, 0
        for s in bar:
            idx = order[s:s + batch_size]
            xb, yb = xtr[idx], ytr[idx]
            logits, cache = forward(params, xb)
            loss, dlogits = softmax_cross_entropy(logits, yb)
            grads = backward(params, cache, dlogits)
            opt.step(params, grads)
            tot += loss * len(idx)
            seen += len(idx)
            correct += int((logits.argmax(axis=1) == yb).sum())
            bar.set_postfix(loss=f"{tot / seen:.4f}", acc=f"{correct / seen:.3f}")
        test_acc = accuracy(params, xte, yte)
        hist["loss"].append(tot / seen)
        hist["train_acc"].append(correct / seen)
        hist["test_acc"].append(test_acc)
        if progress:
            tqdm.write(f"epoch {epoch + 1:2d}: loss {tot / seen:.4f}  train acc "
                       f"{correct / seen:.4f}  test acc {test_acc:.4f}")
    hist["seconds"] = time.perf_counter() - t0
    hist["params"] = params
    hist["n_train"], hist["n_test"] = len(xtr), len(xte)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        save_weights(os.path.join(out_dir, "weights.npz"), params, mean, std)
        if plot:
            save_plot(os.path.join(out_dir, "training.png"), hist)
    return hist


def save_weights(path: str, params: dict, mean: float, std: float) -> None:
    """Parameters plus what inference needs (normalisation and architecture)."""
    np.savez(path, **params, mean=np.float32(mean), std=np.float32(std),
             **{f"arch_{k}": np.array(v) for k, v in ARCH.items()})


def save_plot(path: str, hist: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = np.arange(1, len(hist["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(ep, hist["loss"], "o-")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax1.set_yscale("log")
    ax1.grid(alpha=0.3)
    ax2.plot(ep, hist["train_acc"], "o-", label="train")
    ax2.plot(ep, hist["test_acc"], "s-", label="test (held out)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(min(0.8, min(hist["test_acc"] + hist["train_acc"])), 1.0)
    ax2.grid(alpha=0.3)
    ax2.legend(loc="lower right")
    fig.suptitle(f"LeNet-style CNN on sklearn digits, fastconv + NumPy "
                 f"({hist['seconds']:.1f} s, test acc {hist['test_acc'][-1]:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="fastconv threads (default: all)")
    ap.add_argument("--out", default="digits_out", help="output directory")
    args = ap.parse_args(argv)
    if args.threads:
        fc.set_num_threads(args.threads)
    hist = train(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 optimizer=args.optimizer, seed=args.seed, out_dir=args.out)
    print(f"trained in {hist['seconds']:.1f} s on {fc.get_num_threads()} thread(s): "
          f"test accuracy {hist['test_acc'][-1]:.4f} ({hist['n_test']} held-out images)")
    print(f"wrote {os.path.join(args.out, 'weights.npz')} and "
          f"{os.path.join(args.out, 'training.png')}")
    return hist


if __name__ == "__main__":
    main()
