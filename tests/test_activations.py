"""Activations (relu/sigmoid/tanh + backward) and the fused conv ``activation=`` option."""

import numpy as np
import pytest
from conftest import BACKENDS, assert_close, needs_torch, torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastconv as fc
from fastconv import reference as ref

rng = np.random.default_rng(77)
NAMES = ["relu", "sigmoid", "tanh"]
FORMULA = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
}


@pytest.mark.parametrize("name", NAMES)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=4, max_side=5),
                    elements=st.floats(-30, 30)))
def test_values_match_formula(name, x):
    with np.errstate(over="ignore"):
        expected = FORMULA[name](x)
    got = getattr(fc, name)(x)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_backward_finite_differences(name):
    x = rng.standard_normal((3, 4, 5)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    g = rng.standard_normal(x.shape)
    f = getattr(fc, name)
    y = f(x)
    back = getattr(fc, name + "_backward")
    got = back(g, x if name == "relu" else y)
    eps = 1e-6
    fd = (f(x + eps) - f(x - eps)) / (2 * eps) * g
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)
    if name == "relu":  # relu_backward also accepts relu's output
        np.testing.assert_array_equal(back(g, y), np.where(x > 0, g, 0))


@needs_torch
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_torch(name):
    x = rng.standard_normal((2, 3, 7))
    g = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, name)(xt)
    yt.backward(torch.tensor(g))
    y = getattr(fc, name)(x)
    assert_close(y, yt.detach().numpy())
    got = getattr(fc, name + "_backward")(g, x if name == "relu" else y)
    assert_close(got, xt.grad.numpy())


@pytest.mark.parametrize("name", NAMES)
def test_dtypes_nan_and_no_mutation(name):
    f = getattr(fc, name)
    x = np.array([-2.0, np.nan, 0.5, 1000.0, -1000.0], np.float32)
    xc = x.copy()
    y = f(x)
    np.testing.assert_array_equal(x, xc)
    assert y.dtype == np.float32
    assert np.isnan(y[1]) and not np.isnan(y[[0, 2, 3, 4]]).any()
    assert np.isfinite(y[[0, 2, 3, 4]]).all()  # no overflow in sigmoid
    h = f(x.astype(np.float16))
    assert h.dtype == np.float16
    assert f(np.array([1, -1], np.int32)).dtype == np.float64
    out = np.empty_like(x)
    assert f(x, out=out) is out
    g = np.ones_like(x)
    gb = getattr(fc, name + "_backward")(g, x if name == "relu" else y)
    assert np.isnan(gb[1])
    with pytest.raises(ValueError, match="grad_output"):
        getattr(fc, name + "_backward")(np.ones(3), x)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("algorithm", ["direct", "im2col", "auto"])
def test_fused_conv_activation(backend, name, algorithm):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    expected = FORMULA[name](ref.conv(x, w, b, padding=1))
    got = fc.conv2d(x, w, b, padding=1, activation=name, algorithm=algorithm,
                    backend=backend)
    assert got.dtype == np.float32
    assert_close(got, expected)
    out = np.full((2, 4, 9, 8), np.nan, np.float32)
    assert fc.conv2d(x, w, b, padding=1, activation=name, out=out) is out
    assert_close(out, expected)
    g16 = fc.conv1d(x[:, :, 0].astype(np.float16), w[:, :, 0].astype(np.float16),
                    activation=name)
    assert g16.dtype == np.float16
    assert_close(g16, FORMULA[name](ref.conv(x[:, :, 0].astype(np.float16),
                                             w[:, :, 0].astype(np.float16))))


def test_fused_activation_errors_and_3d():
    x = np.ones((1, 2, 4, 4, 4))
    w = np.ones((3, 2, 3, 3, 3))
    with pytest.raises(ValueError, match="activation"):
        fc.conv3d(x, w, activation="gelu")
    np.testing.assert_array_equal(fc.conv3d(-x, w, activation="relu"), np.zeros((1, 3, 2, 2, 2)))
