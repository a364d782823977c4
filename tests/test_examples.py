"""The training and inference examples run end to end (short versions, in-process)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_backward_of_the_network_matches_finite_differences():
    """The example's hand-written backward pass (fastconv conv/pool backward) is right."""
    td = _load("train_digits")
    xtr, ytr, *_ = td.load_data(subset=200)
    params = {k: v.astype(np.float64) for k, v in td.init_params(1).items()}
    x, y = xtr[:6].astype(np.float64), ytr[:6]
    logits, cache = td.forward(params, x)
    loss, dlogits = td.softmax_cross_entropy(logits, y)
    grads = td.backward(params, cache, dlogits.astype(np.float64))
    rng = np.random.default_rng(0)
    for name in ("conv1_w", "conv2_w", "conv2_b", "fc_w"):
        v = rng.standard_normal(params[name].shape)
        eps = 1e-5

        def f(sign, name=name, v=v, eps=eps):
            p = dict(params)
            p[name] = params[name] + sign * eps * v
            return td.softmax_cross_entropy(td.forward(p, x)[0], y)[0]

        fd = (f(1) - f(-1)) / (2 * eps)
        np.testing.assert_allclose(np.sum(grads[name] * v), fd, rtol=1e-4, atol=1e-7)


def test_short_training_then_inference(tmp_path, capsys):
    td = _load("train_digits")
    hist = td.train(epochs=4, batch_size=32, subset=700, out_dir=str(tmp_path),
                    progress=True, plot=True)
    assert len(hist["loss"]) == 4
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]          # the loss falls
    assert hist["test_acc"][-1] > 0.7                          # chance is 0.1
    assert hist["train_acc"][-1] > hist["train_acc"][0]
    assert (tmp_path / "weights.npz").stat().st_size > 0
    png = (tmp_path / "training.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    err = capsys.readouterr().err
    assert "epoch  4/4" in err and "batch" in err              # tqdm progress bars

    inf = _load("infer")
    assert "torch" not in inf.__dict__
    model = inf.load_model(str(tmp_path / "weights.npz"))
    res = inf.main(["--weights", str(tmp_path / "weights.npz"), "--show", "2"])
    out = capsys.readouterr().out
    assert "per-image latency" in out and "accuracy" in out
    assert res["accuracy"] > 0.7
    assert res["median"] > 0
    # inference (fused activations, prepared weights) agrees with training's forward pass
    imgs, _ = inf._demo_images()
    xs = ((imgs[:20] - model["mean"]) / model["std"]).astype(np.float32)[:, None]
    ref_logits, _ = td.forward(hist["params"], xs)
    np.testing.assert_allclose(inf.logits(model, imgs[:20]), ref_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(inf.predict(model, imgs[:20]), ref_logits.argmax(axis=1))
