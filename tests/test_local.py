"""Unshared (locally connected) and tiled convolution: reference, identities,
finite differences, both backends, kernels writing every element."""

import numpy as np
import pytest
from conftest import BACKENDS, assert_close
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import kernels
from fastconv.reference import local as ref

rng = np.random.default_rng(66)


def _out(L, k, s, p):
    return (L + 2 * p - k) // s + 1


@st.composite
def local_cases(draw):
    nd = draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    p = draw(st.integers(0, 2))
    L = tuple(draw(st.integers(kk, kk + 6)) for kk in k)
    N, C, Co = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return nd, N, C, Co, L, k, s, p


@given(local_cases(), st.sampled_from(BACKENDS), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["none", "channel", "position"]))
def test_local_forward_backward_match_reference(case, backend, dtype, bias_kind):
    nd, N, C, Co, L, k, s, p = case
    out = tuple(_out(a, b, c, p) for a, b, c in zip(L, k, s, strict=True))
    x = rng.standard_normal((N, C) + L).astype(dtype)
    w = rng.standard_normal((Co,) + out + (C,) + k).astype(dtype)
    b = {"none": None, "channel": rng.standard_normal(Co),
         "position": rng.standard_normal((Co,) + out)}[bias_kind]
    b = None if b is None else b.astype(dtype)
    f = fc.local_conv1d if nd == 1 else fc.local_conv2d
    fb = fc.local_conv1d_backward if nd == 1 else fc.local_conv2d_backward
    y = f(x, w, b, stride=s, padding=p, backend=backend)
    assert y.dtype == dtype
    assert_close(y, ref.local_conv(x, w, b, s, p))
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = fb(g, x, w, s, p, bias_shape=None if b is None else b.shape, backend=backend)
    ex, ew, eb = ref.local_conv_backward(g, x, w, s, p)
    assert_close(gx, ex)
    assert_close(gw, ew)
    assert_close(gb, eb if bias_kind == "position" else eb.sum(axis=tuple(range(1, nd + 1))))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),
       st.integers(1, 4), st.integers(1, 4), st.sampled_from(BACKENDS))
def test_tiled_forward_backward_match_reference(kh, kw, s, p, th, tw, backend):
    x = rng.standard_normal((2, 2, kh + 5, kw + 4))
    w = rng.standard_normal((th, tw, 3, 2, kh, kw))
    b = rng.standard_normal(3)
    y = fc.tiled_conv2d(x, w, b, s, p, backend=backend)
    assert_close(y, ref.tiled_conv2d(x, w, b, s, p))
    g = rng.standard_normal(y.shape)
    got = fc.tiled_conv2d_backward(g, x, w, s, p, backend=backend)
    for a, e in zip(got, ref.tiled_conv2d_backward(g, x, w, s, p), strict=True):
        assert_close(a, e)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiled_identities(backend):
    x = rng.standard_normal((2, 3, 9, 8))
    # tile (1, 1): an ordinary convolution (and its gradients)
    w1 = rng.standard_normal((1, 1, 4, 3, 3, 2))
    b = rng.standard_normal(4)
    for s, p in [(1, 0), (2, 1), ((1, 2), ((1, 0), (2, 1)))]:
        y = fc.tiled_conv2d(x, w1, b, s, p, backend=backend)
        assert_close(y, fc.conv2d(x, w1[0, 0], b, s, p))
        g = rng.standard_normal(y.shape)
        t = fc.tiled_conv2d_backward(g, x, w1, s, p, backend=backend)
        c = fc.conv2d_backward(g, x, w1[0, 0], s, p)
        assert_close(t.input, c.input)
        assert_close(t.weight[0, 0], c.weight)
        assert_close(t.bias, c.bias)
    # tile = output size: the locally connected layer
    out = (_out(9, 3, 1, 1), _out(8, 2, 1, 1))
    wt = rng.standard_normal(out + (4, 3, 3, 2))
    wl = np.moveaxis(wt, 2, 0)  # (Co, OH, OW, C, kh, kw)
    y = fc.tiled_conv2d(x, wt, b, 1, 1, backend=backend)
    assert_close(y, fc.local_conv2d(x, wl, b, 1, 1, backend=backend))
    g = rng.standard_normal(y.shape)
    t = fc.tiled_conv2d_backward(g, x, wt, 1, 1, backend=backend)
    loc = fc.local_conv2d_backward(g, x, wl, 1, 1, bias_shape=(4,), backend=backend)
    assert_close(t.input, loc.input)
    assert_close(np.moveaxis(t.weight, 2, 0), loc.weight)
    assert_close(t.bias, loc.bias)


def _fd_check(f, fbwd, x, w, b, **kw):
    """Directional finite differences of <g, f(x, w, b)> (float64, central)."""
    y = f(x, w, b, **kw)
    g = rng.standard_normal(y.shape)
    grads = fbwd(g, x, w, **kw)
    eps = 1e-6
    for name, arr, gr in (("x", x, grads.input), ("w", w, grads.weight), ("b", b, grads.bias)):
        d = rng.standard_normal(arr.shape)
        args_p = {"x": x, "w": w, "b": b}
        args_m = dict(args_p)
        args_p[name] = arr + eps * d
        args_m[name] = arr - eps * d
        num = (np.sum(g * f(args_p["x"], args_p["w"], args_p["b"], **kw))
               - np.sum(g * f(args_m["x"], args_m["w"], args_m["b"], **kw))) / (2 * eps)
        ana = np.sum(gr * d)
        assert abs(num - ana) <= 1e-6 * max(1.0, abs(ana)), (name, num, ana)


@pytest.mark.parametrize("backend", BACKENDS)
def test_finite_differences(backend):
    x = rng.standard_normal((2, 2, 7, 6))
    wl = rng.standard_normal((3, 4, 3, 2, 3, 3))  # stride 2, padding 1: out (4, 3)
    bl = rng.standard_normal((3, 4, 3))
    _fd_check(fc.local_conv2d,
              lambda g, x, w, **k: fc.local_conv2d_backward(g, x, w, bias_shape=(3, 4, 3), **k),
              x, wl, bl, stride=2, padding=1, backend=backend)
    wt = rng.standard_normal((2, 3, 3, 2, 2, 3))
    _fd_check(fc.tiled_conv2d,
              lambda g, x, w, **k: fc.tiled_conv2d_backward(g, x, w, bias_shape=(3,), **k),
              x, wt, rng.standard_normal(3), stride=1, padding=((1, 0), (0, 2)), backend=backend)
    x1 = rng.standard_normal((2, 3, 9))
    w1 = rng.standard_normal((2, 4, 3, 3))  # stride 2, no padding: out 4
    _fd_check(fc.local_conv1d,
              lambda g, x, w, **k: fc.local_conv1d_backward(g, x, w, bias_shape=(2,), **k),
              x1, w1, rng.standard_normal(2), stride=2, padding=0, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_write_everything_and_are_thread_deterministic(backend):
    x = rng.standard_normal((3, 2, 9, 8)).astype(np.float32)
    # tiles (2, 3) on the 9x7 output (3x2 kernel, padding (1, 0)): PH=5, PW=3
    cols = np.full((6, 2, 5, 3, 2, 3, 2), np.nan, np.float32)
    kernels.get(backend, "local", "tiled_im2col")(x, cols, 1, (1, 1), (1, 0), (2, 3), (9, 7), 2)
    assert not np.isnan(cols).any()
    # a padded row (class th=1, i=4 -> oh=9 >= 9) is zeros; a real patch is x's window
    assert (cols[3, :, 4] == 0).all()
    np.testing.assert_array_equal(cols[0, 0, 1, 1], np.pad(x[1], ((0, 0), (1, 1), (0, 0)))
                                  [:, 2:5, 3:5])
    gx = np.zeros_like(x)
    kernels.get(backend, "local", "tiled_col2im")(np.ones_like(cols), gx, 1, (1, 1), (1, 0),
                                                  (2, 3), (9, 7), 2)
    assert (gx[0] == 0).all() and (gx[1:] > 0).all()  # sample 0 untouched, 1..2 covered
    # small GEMMs (threads in the compiled loops) and large ones (threads in BLAS)
    for shape_x, shape_w in (((4, 8, 20, 20), (2, 2, 8, 8, 3, 3)),
                             ((8, 16, 34, 34), (1, 1, 32, 16, 3, 3))):
        big_x = rng.standard_normal(shape_x).astype(np.float32)
        big_w = rng.standard_normal(shape_w).astype(np.float32)
        res = []
        for n in (1, 2):
            with fc.num_threads(n):
                y = fc.tiled_conv2d(big_x, big_w, backend=backend)
                gr = fc.tiled_conv2d_backward(y, big_x, big_w, backend=backend)
                res.append((y, gr.input, gr.weight))
        for a, b in zip(*res, strict=True):
            assert np.array_equal(a, b)


def test_chunked_batches(monkeypatch):
    from fastconv import _config

    x = rng.standard_normal((5, 2, 8, 7))
    w = rng.standard_normal((2, 3, 3, 2, 3, 2))
    y = fc.tiled_conv2d(x, w, padding=1)
    g = rng.standard_normal(y.shape)
    gr = fc.tiled_conv2d_backward(g, x, w, padding=1)
    monkeypatch.setattr(_config, "WORKSPACE_LIMIT", 1)  # one sample per chunk
    assert_close(fc.tiled_conv2d(x, w, padding=1), y)
    for a, b in zip(fc.tiled_conv2d_backward(g, x, w, padding=1), gr, strict=True):
        assert_close(a, b)


def test_nan_propagates_and_layouts():
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 1, 2, 3] = np.nan
    w = rng.standard_normal((2, 4, 4, 2, 3, 3))
    y = fc.local_conv2d(x, w)
    assert np.isnan(y[0, :, 0:3, 1:4]).all() and np.isfinite(y[0, :, 3:, :]).all()
    # read-only, Fortran order, big-endian, unbatched: same result, inputs untouched
    x = rng.standard_normal((2, 6, 6))
    e = fc.local_conv2d(x, w)
    ro = x.copy()
    ro.flags.writeable = False
    for v in (ro, np.asfortranarray(x), x.astype(">f8")):
        np.testing.assert_array_equal(fc.local_conv2d(v, np.asfortranarray(w)), e)
    assert e.shape == (2, 4, 4)
    assert fc.local_conv2d(np.zeros((0, 2, 6, 6)), w).shape == (0, 2, 4, 4)
    g = fc.local_conv2d_backward(np.zeros((0, 2, 4, 4)), np.zeros((0, 2, 6, 6)), w)
    assert g.input.shape == (0, 2, 6, 6) and (g.weight == 0).all()
    # float16 in, float16 out (computed in float32)
    assert fc.tiled_conv2d(x.astype(np.float16), np.ones((1, 1, 1, 2, 1, 1), np.float16)).dtype \
        == np.float16


def test_errors():
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="out_spatial"):
        fc.local_conv2d(x, np.zeros((3, 5, 4, 2, 3, 3)))
    with pytest.raises(ValueError, match="C_in=3"):
        fc.local_conv2d(x, np.zeros((3, 4, 4, 3, 3, 3)))
    with pytest.raises(ValueError, match="6 dimensions"):
        fc.local_conv2d(x, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="bias must have shape"):
        fc.local_conv2d(x, np.zeros((3, 4, 4, 2, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="bias must have shape"):
        fc.tiled_conv2d(x, np.zeros((2, 2, 3, 2, 3, 3)), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="output would be empty"):
        fc.tiled_conv2d(x, np.zeros((2, 2, 3, 2, 7, 3)))
    with pytest.raises(ValueError, match="grad_output"):
        fc.tiled_conv2d_backward(np.zeros((1, 3, 3, 3)), x, np.zeros((2, 2, 3, 2, 3, 3)))
    with pytest.raises(ValueError, match="needs"):
        fc.tiled_conv2d_backward(np.zeros((1, 3, 4, 4)), x, np.zeros((2, 2, 3, 2, 3, 3)),
                                 needs=("grad",))
    with pytest.raises(ValueError, match="backend"):
        fc.local_conv1d(np.zeros((1, 2, 6)), np.zeros((3, 4, 2, 3)), backend="cuda")
