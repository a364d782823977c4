"""conv1d/2d/3d against the float64 reference, PyTorch, and the API's promises."""

import numpy as np
import pytest
from conftest import BACKENDS, assert_close, needs_torch, torch
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import reference as ref

CONV = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}
rng = np.random.default_rng(1234)


@st.composite
def conv_cases(draw, nd=None):
    nd = nd or draw(st.integers(1, 3))
    maxL = {1: 20, 2: 11, 3: 6}[nd]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cig = draw(st.integers(1, 3))
    cog = draw(st.integers(1, 3))
    depthwise = draw(st.booleans())
    if depthwise:
        groups, cig = draw(st.integers(2, 4)), 1
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(
        st.one_of(
            st.integers(0, 2),
            st.sampled_from(["valid", "same", "same_lower", "full"]),
            st.tuples(*[st.integers(0, 2)] * nd),
            st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * nd),
        )
    )
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular",
                                 "symmetric"]))
    # input large enough for the dilated kernel (and reflect padding)
    size = tuple(
        draw(st.integers(max(d * (k - 1) + 1, 3), max(d * (k - 1) + 1, 3) + maxL))
        for k, d in zip(kernel, dilation, strict=True)
    )
    batch = draw(st.integers(1, 2))
    return dict(
        x_shape=(batch, cig * groups) + size, w_shape=(cog * groups, cig) + kernel,
        stride=stride, dilation=dilation, padding=padding, groups=groups,
        padding_mode=mode, bias=draw(st.booleans()),
    )


def _arrays(case, dtype):
    x = rng.standard_normal(case["x_shape"]).astype(dtype)
    w = rng.standard_normal(case["w_shape"]).astype(dtype)
    b = rng.standard_normal(case["w_shape"][0]).astype(dtype) if case["bias"] else None
    return x, w, b


def _kw(case):
    return {k: case[k] for k in ("stride", "dilation", "padding", "groups", "padding_mode")}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=conv_cases())
def test_matches_reference(backend, dtype, case):
    x, w, b = _arrays(case, dtype)
    nd = len(case["w_shape"]) - 2
    expected = ref.conv(x, w, b, **_kw(case))
    got = CONV[nd](x, w, b, backend=backend, **_kw(case))
    assert got.dtype == dtype
    assert_close(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threads", [1, 2])
def test_larger_cases(backend, threads):
    cases = [
        (fc.conv2d, (2, 16, 30, 33), (24, 16, 3, 3), dict(padding=1)),
        (fc.conv2d, (1, 8, 64, 64), (8, 1, 5, 5), dict(padding=2, groups=8, stride=2)),
        (fc.conv1d, (1, 1, 5000), (1, 1, 101), dict(padding="same")),
        (fc.conv3d, (1, 4, 12, 12, 12), (6, 4, 3, 3, 3), dict(padding=1, dilation=2)),
    ]
    with fc.num_threads(threads):
        for f, xs, ws, kw in cases:
            x = rng.standard_normal(xs).astype(np.float32)
            w = rng.standard_normal(ws).astype(np.float32)
            assert_close(f(x, w, backend=backend, **kw), ref.conv(x, w, **kw))


@needs_torch
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_matches_torch(nd, mode):
    F = torch.nn.functional
    size = {1: (23,), 2: (13, 15), 3: (7, 8, 9)}[nd]
    x = rng.standard_normal((2, 6) + size).astype(np.float32)
    w = rng.standard_normal((4, 3) + (3,) * nd).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    kw = dict(stride=2, dilation=1, groups=2)
    pad = 2
    tconv = getattr(F, f"conv{nd}d")
    xt = torch.from_numpy(x)
    if mode != "zeros":
        xt = F.pad(xt, (pad,) * (2 * nd), mode=mode)
        expected = tconv(xt, torch.from_numpy(w), torch.from_numpy(b), **kw)
    else:
        expected = tconv(xt, torch.from_numpy(w), torch.from_numpy(b), padding=pad, **kw)
    got = CONV[nd](x, w, b, padding=pad, padding_mode=mode, **kw)
    assert_close(got, expected.numpy().astype(np.float64))


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_matches_torch_stride1():
    x = rng.standard_normal((1, 2, 10, 11)).astype(np.float32)
    w = rng.standard_normal((3, 2, 4, 3)).astype(np.float32)
    # torch's padding="same" puts the extra element at the end too
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          padding="same", dilation=(1, 2))
    assert_close(fc.conv2d(x, w, padding="same", dilation=(1, 2)), expected.numpy())


# ---------------------------------------------------------------------------
# API promises: layouts, dtypes, out=, unbatched, empty batch, NaN, inputs untouched
# ---------------------------------------------------------------------------
def _layouts(a):
    yield "fortran", np.asfortranarray(a)
    yield "strided", np.repeat(a, 2, axis=-1)[..., ::2]
    yield "negative", a[..., ::-1].copy()[..., ::-1]
    ro = a.copy()
    ro.flags.writeable = False
    yield "readonly", ro
    yield "bigendian", a.astype(a.dtype.newbyteorder(">"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_layout_and_inputs_untouched(backend):
    x = rng.standard_normal((2, 4, 9, 10))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    expected = ref.conv(x, w, b, padding=1, groups=2)
    for (name, xl), (_, wl), (_, bl) in zip(_layouts(x), _layouts(w), _layouts(b), strict=True):
        before = (xl.copy(), wl.copy(), bl.copy())
        got = fc.conv2d(xl, wl, bl, padding=1, groups=2, backend=backend)
        assert_close(got, expected)
        for a, a0 in zip((xl, wl, bl), before, strict=True):
            np.testing.assert_array_equal(a, a0, err_msg=name)


@pytest.mark.parametrize(
    "xd,wd,expected",
    [
        (np.float32, np.float32, np.float32),
        (np.float64, np.float64, np.float64),
        (np.float16, np.float16, np.float16),
        (np.float32, np.float64, np.float64),
        (np.int32, np.int32, np.float64),
        (np.uint8, np.float32, np.float32),
        (np.int16, np.float32, np.float32),
    ],
)
def test_dtype_rules(xd, wd, expected):
    x = rng.integers(0, 5, (1, 2, 6, 6)).astype(xd)
    w = rng.integers(-2, 3, (3, 2, 3, 3)).astype(wd)
    got = fc.conv2d(x, w)
    assert got.dtype == np.dtype(expected)
    assert_close(got, ref.conv(x, w), dtype=expected)


def test_unbatched_and_empty_batch():
    x = rng.standard_normal((3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    got = fc.conv2d(x, w, padding=1)
    assert got.shape == (5, 8, 8)
    assert_close(got, ref.conv(x, w, padding=1))
    empty = fc.conv2d(np.zeros((0, 3, 8, 8), np.float32), w)
    assert empty.shape == (0, 5, 6, 6) and empty.dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_argument(backend):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    out = np.full((2, 5, 6, 6), np.nan, np.float32)
    res = fc.conv2d(x, w, out=out, backend=backend)
    assert res is out
    assert_close(out, ref.conv(x, w))
    out_f = np.full((2, 5, 6, 6), np.nan, np.float32, order="F")  # non-contiguous out
    assert fc.conv2d(x, w, out=out_f) is out_f
    assert_close(out_f, ref.conv(x, w))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 5, 6, 6\)"):
        fc.conv2d(x, w, out=np.empty((2, 5, 6, 5), np.float32))
    with pytest.raises(ValueError, match="dtype float32"):
        fc.conv2d(x, w, out=np.empty((2, 5, 6, 6), np.float64))
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        fc.conv2d(x, w, out=[1, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_propagates(backend):
    x = np.ones((1, 1, 7, 7), np.float32)
    x[0, 0, 3, 3] = np.nan
    y = fc.conv2d(x, np.ones((1, 1, 3, 3), np.float32), backend=backend)
    assert np.isnan(y[0, 0, 1:4, 1:4]).all()
    assert np.isfinite(y).sum() == 25 - 9


def test_public_errors():
    x = np.ones((1, 2, 6, 6))
    with pytest.raises(TypeError, match="x must be a numeric array"):
        fc.conv2d(np.array([["a"]]), np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        fc.conv2d(x, np.ones((1, 2, 3, 3)), algorithm="magic")
    with pytest.raises(ValueError, match="backend must be one of"):
        fc.conv2d(x, np.ones((1, 2, 3, 3)), backend="fortran")
    with pytest.raises(TypeError, match="complex dtype"):
        fc.conv2d(x.astype(complex), np.ones((1, 2, 3, 3)))


# ---------------------------------------------------------------------------
# planner, threads, determinism
# ---------------------------------------------------------------------------
@given(case=conv_cases())
def test_auto_runs_exactly_the_plan(case):
    x, w, b = _arrays(case, np.float32)
    nd = len(case["w_shape"]) - 2
    plan = fc.plan_conv(x.shape, w.shape, case["stride"], case["padding"], case["dilation"],
                        case["groups"], dtype="float32", padding_mode=case["padding_mode"],
                        bias=b is not None)
    CONV[nd](x, w, b, **_kw(case))
    ran = fc.plan.last_plan()
    assert (ran.algorithm, ran.backend, ran.threads, ran.options) == (
        plan.algorithm, plan.backend, plan.threads, plan.options)
    assert isinstance(plan.reason, str) and plan.reason.endswith(".")
    assert plan.flops == 2 * int(np.prod(ran.spec.out_shape)) * w[0].size


@pytest.mark.parametrize("backend", BACKENDS)
def test_bit_identical_across_threads(backend):
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    with fc.num_threads(1):
        a = fc.conv2d(x, w, padding=1, groups=2, backend=backend)
    with fc.num_threads(2):
        b = fc.conv2d(x, w, padding=1, groups=2, backend=backend)
        c = fc.conv2d(x, w, padding=1, groups=2, backend=backend)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, c)


def test_num_threads_context_restores_on_error():
    before = fc.get_num_threads()
    with pytest.raises(RuntimeError):
        with fc.num_threads(1):
            assert fc.get_num_threads() == 1
            raise RuntimeError("boom")
    assert fc.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be >= 1"):
        fc.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        fc.set_num_threads(1.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_from_python_threads(backend):
    from concurrent.futures import ThreadPoolExecutor

    cases = []
    for i in range(8):
        x = rng.standard_normal((2, 6, 30 + i, 31)).astype(np.float32)
        w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
        cases.append((x, w, ref.conv(x, w, padding=1, groups=2)))

    def work(case):
        x, w, expected = case
        with fc.num_threads(2):
            for _ in range(3):
                assert_close(fc.conv2d(x, w, padding=1, groups=2, backend=backend), expected)
        return True

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, cases))
