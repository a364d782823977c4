"""Pooling: every operator and option against the float64 reference and PyTorch,
dtype rules, NaN, layouts, errors, backends and thread-count determinism."""

import numpy as np
import pytest
from conftest import BACKENDS, assert_close, needs_torch, torch
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import reference as ref
from fastconv._spec import pool_spec

rng = np.random.default_rng(4321)


def F(name, nd, backward=False):
    return getattr(fc, f"{name}{nd}d" + ("_backward" if backward else ""))


# ---------------------------------------------------------------------------
# argument space (hypothesis)
# ---------------------------------------------------------------------------
@st.composite
def pool_cases(draw, nd=None, dilation=True):
    nd = nd or draw(st.integers(1, 3))
    maxL = {1: 14, 2: 9, 3: 5}[nd]
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if dilation else (1,) * nd
    padding = draw(
        st.one_of(
            st.integers(0, 2),
            st.sampled_from(["valid", "same", "same_lower"]),
            st.tuples(*[st.integers(0, 3)] * nd),
            st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * nd),
        )
    )
    size = tuple(draw(st.integers(1, maxL)) for _ in range(nd))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    ceil_mode = draw(st.booleans())
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dil,
              ceil_mode=ceil_mode)
    try:
        pool_spec(nd, shape, **kw)
    except ValueError:
        assume(False)
    return nd, shape, kw


def _x(shape, dtype=np.float64, ties=False):
    if ties:  # few distinct values: many ties in every window
        return rng.integers(-2, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(), ties=st.booleans())
def test_max_pool_matches_reference(backend, case, ties):
    nd, shape, kw = case
    x = _x(shape, ties=ties)
    y, idx = F("max_pool", nd)(x, return_indices=True, backend=backend, **kw)
    yr, ir = ref.max_pool(x, return_indices=True, **kw)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, ir)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(F("max_pool", nd)(x, backend=backend, **kw), yr)
    g = _x(y.shape)
    gr = ref.max_pool_backward(g, x, **kw)
    assert_close(F("max_pool", nd, True)(g, x, backend=backend, **kw), gr)
    assert_close(F("max_pool", nd, True)(g, x, indices=idx, backend=backend, **kw), gr)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(), cip=st.booleans(), div=st.sampled_from([None, None, 3, -2]))
def test_avg_sum_pool_match_reference(backend, case, cip, div):
    nd, shape, kw = case
    x = _x(shape)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        y = F("avg_pool", nd)(xd, count_include_pad=cip, divisor_override=div,
                              backend=backend, **kw)
        assert y.dtype == dtype
        assert_close(y, ref.avg_pool(x, count_include_pad=cip, divisor_override=div, **kw))
        s = F("sum_pool", nd)(xd, backend=backend, **kw)
        assert_close(s, ref.sum_pool(x, **kw))
    g = _x(y.shape)
    assert_close(
        F("avg_pool", nd, True)(g, x, count_include_pad=cip, divisor_override=div,
                                backend=backend, **kw),
        ref.avg_pool_backward(g, x, count_include_pad=cip, divisor_override=div, **kw),
    )
    assert_close(F("sum_pool", nd, True)(g, x, backend=backend, **kw),
                 ref.sum_pool_backward(g, x, **kw))


#: the small-integer dtypes summed in float32 (``sum_pool_int``) and their extremes
SMALL_INTS = {np.bool_: (0, 1), np.uint8: (0, 255), np.int8: (-128, 127),
              np.uint16: (0, 65535), np.int16: (-32768, 32767)}


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(), dtype=st.sampled_from(list(SMALL_INTS)), cip=st.booleans(),
       div=st.sampled_from([None, 3]), extreme=st.booleans())
def test_small_int_avg_sum_pool_read_as_integers(backend, case, dtype, cip, div, extreme):
    """8/16-bit integers (and bool) go to ``sum_pool_int``, which reads them as they
    are and sums in float32: the float64 result has the same bits as pooling
    their float64 copy, and matches the reference -- also at the dtype's extremes,
    where every window sum must stay exact; odd byte order and strides too."""
    nd, shape, kw = case
    lo, hi = SMALL_INTS[dtype]
    x = (rng.choice([lo, hi], shape) if extreme
         else rng.integers(lo, hi + 1, shape)).astype(dtype)
    if dtype != np.bool_ and rng.random() < 0.5:  # big-endian, then non-contiguous
        x = x.astype(x.dtype.newbyteorder(">"))
    if shape[-1] > 1 and rng.random() < 0.5:
        x = np.concatenate([x, x], axis=-1)[..., ::2]
    for op, extra in (("avg_pool", dict(count_include_pad=cip, divisor_override=div)),
                      ("sum_pool", {})):
        plan = fc.plan_pool(f"{op}{nd}d", shape, dtype=x.dtype, backend=backend, **kw, **extra)
        assert plan.kernels == ("sum_pool_int",), plan
        y = F(op, nd)(x, backend=backend, **kw, **extra)
        assert y.dtype == np.float64
        np.testing.assert_array_equal(
            y, F(op, nd)(x.astype(np.float64), backend=backend, **kw, **extra))
        assert_close(y, getattr(ref, op)(x.astype(np.float64), **kw, **extra))


def test_small_int_sums_beyond_float32_use_the_float64_kernel():
    """int16 windows of more than 512 taps could sum past 2^24 (float32's exact
    integers): those plans keep the float64 kernel, and the result stays exact."""
    x = np.full((1, 1, 30, 30), -32768, np.int16)
    small = fc.plan_pool("sum_pool2d", x.shape, 22, dtype=np.int16)  # 484 taps
    big = fc.plan_pool("sum_pool2d", x.shape, 23, dtype=np.int16)    # 529 taps
    assert small.kernels == ("sum_pool_int",) and big.kernels == ("sum_pool",)
    assert "read as such" in small.reason
    assert fc.sum_pool2d(x, 23)[0, 0, 0, 0] == -32768 * 529  # 17,334,272 > 2^24
    assert fc.sum_pool2d(x, 22)[0, 0, 0, 0] == -32768 * 484


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(), p=st.sampled_from([1, 2, 3, 0.5, 1.7, np.inf]))
def test_lp_pool_matches_reference(backend, case, p):
    nd, shape, kw = case
    x = _x(shape)
    y = F("lp_pool", nd)(x, p, backend=backend, **kw)
    assert_close(y, ref.lp_pool(x, p, **kw))
    g = _x(y.shape)
    assert_close(F("lp_pool", nd, True)(g, x, p, backend=backend, **kw),
                 ref.lp_pool_backward(g, x, p, **kw))


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(), sigma=st.sampled_from([0.5, 1.0, 2.5, (0.7, 1.3, 2.0)]))
def test_gaussian_pool_matches_reference(backend, case, sigma):
    nd, shape, kw = case
    if isinstance(sigma, tuple):
        sigma = sigma[:nd]
    x = _x(shape)
    y = F("gaussian_pool", nd)(x, sigma=sigma, backend=backend, **kw)
    assert_close(y, ref.gaussian_pool(x, sigma=sigma, **kw))
    g = _x(y.shape)
    assert_close(F("gaussian_pool", nd, True)(g, x, sigma=sigma, backend=backend, **kw),
                 ref.gaussian_pool_backward(g, x, sigma=sigma, **kw))


@st.composite
def adaptive_cases(draw):
    nd = draw(st.integers(1, 3))
    maxL = {1: 14, 2: 9, 3: 5}[nd]
    size = tuple(draw(st.integers(1, maxL)) for _ in range(nd))
    out = tuple(draw(st.one_of(st.integers(1, 2 * L), st.none())) for L in size)
    if draw(st.booleans()):
        out = draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    return nd, shape, out


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=adaptive_cases(), ties=st.booleans())
def test_adaptive_pools_match_reference(backend, case, ties):
    nd, shape, out = case
    x = _x(shape, ties=ties)
    ya = F("adaptive_avg_pool", nd)(x, out, backend=backend)
    assert_close(ya, ref.adaptive_avg_pool(x, out))
    ym, im = F("adaptive_max_pool", nd)(x, out, return_indices=True, backend=backend)
    yr, ir = ref.adaptive_max_pool(x, out, return_indices=True)
    np.testing.assert_array_equal(ym, yr)
    np.testing.assert_array_equal(im, ir)
    g = _x(ya.shape)
    assert_close(F("adaptive_avg_pool", nd, True)(g, x, out, backend=backend),
                 ref.adaptive_avg_pool_backward(g, x, out))
    gr = ref.adaptive_max_pool_backward(g, x, out)
    assert_close(F("adaptive_max_pool", nd, True)(g, x, out, backend=backend), gr)
    assert_close(F("adaptive_max_pool", nd, True)(g, x, out, indices=im, backend=backend), gr)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=pool_cases(dilation=False))
def test_max_unpool_matches_reference(backend, case):
    nd, shape, kw = case
    x = _x(shape)
    y, idx = F("max_pool", nd)(x, return_indices=True, **kw)
    ukw = dict(kernel_size=kw["kernel_size"], stride=kw["stride"], output_size=shape[2:])
    pad = pool_spec(nd, shape, **kw).pad
    # output_size = the input's spatial size is valid only within stride of the default
    try:
        u = F("max_unpool", nd)(y, idx, padding=pad, backend=backend, **ukw)
    except ValueError as e:
        assert "output_size" in str(e)
        return
    np.testing.assert_array_equal(u, ref.max_unpool(y, idx, padding=pad, **ukw))
    g = _x(u.shape)
    np.testing.assert_array_equal(
        F("max_unpool", nd, True)(g, y, idx, padding=pad, backend=backend, **ukw),
        ref.max_unpool_backward(g, y, idx, padding=pad, **ukw),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape,k,axis", [((2, 6, 5), 3, 1), ((2, 4, 3, 3), 2, 1),
                                          ((12,), 4, 0), ((3, 5, 4), 2, -1)])
def test_channel_max_pool(backend, shape, k, axis):
    for ties in (False, True):
        x = _x(shape, ties=ties)
        y = fc.channel_max_pool(x, k, axis, backend=backend)
        np.testing.assert_array_equal(y, ref.channel_max_pool(x, k, axis))
        g = _x(y.shape)
        np.testing.assert_array_equal(
            fc.channel_max_pool_backward(g, x, k, axis, backend=backend),
            ref.channel_max_pool_backward(g, x, k, axis),
        )
    xi = rng.integers(0, 255, shape).astype(np.uint8)
    yi = fc.channel_max_pool(xi, k, axis, backend=backend)
    assert yi.dtype == np.uint8
    np.testing.assert_array_equal(yi, ref.channel_max_pool(xi, k, axis))


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------
TF = None if torch is None else torch.nn.functional


def _t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@st.composite
def torch_cases(draw, dilation=True):
    """PyTorch's limits: symmetric padding <= kernel // 2."""
    nd = draw(st.integers(1, 3))
    maxL = {1: 14, 2: 9, 3: 5}[nd]
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if dilation else (1,) * nd
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    # PyTorch refuses inputs smaller than the (dilated) kernel, padding or not
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + maxL))
                 for k, d in zip(kernel, dil, strict=True))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dil,
              ceil_mode=draw(st.booleans()))
    try:
        pool_spec(nd, shape, **kw)
    except ValueError:
        assume(False)
    return nd, shape, kw


@needs_torch
@given(case=torch_cases(), ties=st.booleans())
def test_max_pool_vs_torch(case, ties):
    nd, shape, kw = case
    x = _x(shape, ties=ties)
    tx = _t(x, True)
    ty, ti = getattr(TF, f"max_pool{nd}d")(tx, return_indices=True, **kw)
    y, idx = F("max_pool", nd)(x, return_indices=True, **kw)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, ti.numpy())
    g = _x(y.shape)
    ty.backward(_t(g))
    assert_close(F("max_pool", nd, True)(g, x, **kw), tx.grad.numpy())
    u = F("max_unpool", nd)(y, idx, kw["kernel_size"], kw["stride"], kw["padding"],
                            output_size=shape[2:]) if _unpool_ok(shape, kw) else None
    if u is not None:
        tu = getattr(TF, f"max_unpool{nd}d")(_t(y), ti, kw["kernel_size"], kw["stride"],
                                               kw["padding"], output_size=shape[2:])
        np.testing.assert_array_equal(u, tu.numpy())


def _unpool_ok(shape, kw):
    for L, Lo, k, s, p in zip(shape[2:], pool_spec(len(shape) - 2, shape, **kw).out_size,
                              kw["kernel_size"], kw["stride"], kw["padding"], strict=True):
        default = (Lo - 1) * s - 2 * p + k
        if not default - s < L < default + s:
            return False
    return True


@needs_torch
@given(case=torch_cases(dilation=False), cip=st.booleans(),
       div=st.sampled_from([None, None, 2, 5]))
def test_avg_pool_vs_torch(case, cip, div):
    nd, shape, kw = case
    kw.pop("dilation")
    x = _x(shape)
    tx = _t(x, True)
    tkw = dict(kw, count_include_pad=cip)
    if div is not None and nd > 1:
        tkw["divisor_override"] = div
    elif div is not None:
        return  # avg_pool1d has no divisor_override in PyTorch
    ty = getattr(TF, f"avg_pool{nd}d")(tx, **tkw)
    y = F("avg_pool", nd)(x, **tkw)
    assert_close(y, ty.detach().numpy())
    g = _x(y.shape)
    ty.backward(_t(g))
    assert_close(F("avg_pool", nd, True)(g, x, **tkw), tx.grad.numpy())


@needs_torch
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_vs_torch_on_nonnegative_input(nd, p):
    # PyTorch's lp_pool has no abs and no padding; on x >= 0 without padding it is ours
    x = np.abs(_x((2, 3) + (7,) * nd)) + 0.1
    tx = _t(x, True)
    f = getattr(TF, f"lp_pool{nd}d")
    ty = f(tx, p, 2, 2) if nd < 3 else f(tx, p, 2, 2)
    y = F("lp_pool", nd)(x, p, 2, 2)
    assert_close(y, ty.detach().numpy())
    g = _x(y.shape)
    ty.backward(_t(g))
    assert_close(F("lp_pool", nd, True)(g, x, p, 2, 2), tx.grad.numpy())


@needs_torch
@given(case=adaptive_cases(), ties=st.booleans())
def test_adaptive_vs_torch(case, ties):
    nd, shape, out = case
    x = _x(shape, ties=ties)
    if isinstance(out, tuple):  # PyTorch 1-D refuses None entries
        out = tuple(L if o is None else o for o, L in zip(out, shape[2:], strict=True))
    tx = _t(x, True)
    ty = getattr(TF, f"adaptive_avg_pool{nd}d")(tx, out)
    y = F("adaptive_avg_pool", nd)(x, out)
    assert_close(y, ty.detach().numpy())
    g = _x(y.shape)
    ty.backward(_t(g))
    assert_close(F("adaptive_avg_pool", nd, True)(g, x, out), tx.grad.numpy())
    tx2 = _t(x, True)
    tm, ti = getattr(TF, f"adaptive_max_pool{nd}d")(tx2, out, return_indices=True)
    m, i = F("adaptive_max_pool", nd)(x, out, return_indices=True)
    np.testing.assert_array_equal(m, tm.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    tm.backward(_t(g))
    assert_close(F("adaptive_max_pool", nd, True)(g, x, out), tx2.grad.numpy())


@needs_torch
def test_max_unpool_vs_torch_default_size_and_backward():
    x = _x((2, 3, 8, 8))
    y, idx = fc.max_pool2d(x, 2, return_indices=True)
    tu = TF.max_unpool2d(_t(y, True), torch.from_numpy(idx), 2)
    u = fc.max_unpool2d(y, idx, 2)
    np.testing.assert_array_equal(u, tu.detach().numpy())
    g = _x(u.shape)
    ty = _t(y, True)
    TF.max_unpool2d(ty, torch.from_numpy(idx), 2).backward(_t(g))
    np.testing.assert_array_equal(fc.max_unpool2d_backward(g, y, idx, 2), ty.grad.numpy())


# ---------------------------------------------------------------------------
# dtypes, NaN, layouts
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.uint8, np.int8,
                                   np.int16, np.uint16, np.int32, np.uint32, np.int64,
                                   np.uint64, np.bool_])
def test_dtype_table(backend, dtype):
    if np.dtype(dtype).kind == "f":
        x = _x((2, 3, 9, 8)).astype(dtype)
    elif dtype == np.bool_:
        x = rng.integers(0, 2, (2, 3, 9, 8)).astype(bool)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (2, 3, 9, 8), dtype=dtype, endpoint=True)
    kw = dict(kernel_size=3, stride=2, padding=1)
    y, idx = fc.max_pool2d(x, return_indices=True, backend=backend, **kw)
    assert y.dtype == x.dtype and idx.dtype == np.int64
    yr, ir = ref.max_pool(x, return_indices=True, **kw)
    if np.dtype(dtype).kind in "iu" and np.dtype(dtype).itemsize == 8:
        # exact comparison through the indices (float64 would round big int64 values)
        planes = x.reshape(6, -1)
        np.testing.assert_array_equal(
            y.reshape(6, -1), np.take_along_axis(planes, idx.reshape(6, -1), 1))
    else:
        np.testing.assert_array_equal(y.astype(np.float64), yr)
        np.testing.assert_array_equal(idx, ir)
    np.testing.assert_array_equal(fc.max_pool2d(x, backend=backend, **kw), y)
    np.testing.assert_array_equal(fc.adaptive_max_pool2d(x, 2, backend=backend),
                                  fc.adaptive_max_pool2d(x, 2, backend=backend))
    assert fc.adaptive_max_pool2d(x, 2, backend=backend).dtype == x.dtype
    assert fc.channel_max_pool(x, 3, backend=backend).dtype == x.dtype
    u = fc.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape, backend=backend)
    assert u.dtype == x.dtype
    expect = np.float16 if dtype == np.float16 else (
        dtype if np.dtype(dtype).kind == "f" else np.float64)
    for f, args in ((fc.avg_pool2d, ()), (fc.sum_pool2d, ()), (fc.lp_pool2d, (2,)),
                    (fc.gaussian_pool2d, ())):
        if f is fc.gaussian_pool2d:
            r = f(x, 3, 1.0, 2, 1, backend=backend)
        elif f is fc.lp_pool2d:
            r = f(x, *args, backend=backend, **kw)
        else:
            r = f(x, backend=backend, **kw)
        assert r.dtype == expect, (f.__name__, r.dtype)
    a = fc.avg_pool2d(x, backend=backend, **kw)
    assert_close(a, ref.avg_pool(x, **kw), dtype=expect)
    assert fc.adaptive_avg_pool2d(x, 1, backend=backend).dtype == expect


WIDE_WINDOWS = [
    (2, dict(kernel_size=2)),
    (2, dict(kernel_size=3, stride=2, padding=1)),
    (2, dict(kernel_size=3, stride=1, padding=1)),
    (2, dict(kernel_size=(2, 3), stride=(1, 3), dilation=(2, 1), ceil_mode=True)),
    (1, dict(kernel_size=4, stride=2, padding=2)),
    (3, dict(kernel_size=2, stride=(1, 2, 2))),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int16, np.int32,
                                   np.uint64])
@pytest.mark.parametrize("nd,kw", WIDE_WINDOWS)
def test_max_pool_indices_on_wide_rows(backend, dtype, nd, kw):
    """Rows long enough for the vectorised interior passes (and their epilogues),
    with ties everywhere and, for floats, NaNs: values, first-maximum / last-NaN
    indices and both backward paths equal the reference."""
    shape = (2, 3) + {1: (77,), 2: (9, 71), 3: (3, 5, 69)}[nd]
    x = rng.integers(0, 4, shape).astype(dtype)
    if x.dtype.kind == "f":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, flat.size // 40, replace=False)] = np.nan
    y, idx = F("max_pool", nd)(x, return_indices=True, backend=backend, **kw)
    yr, ir = ref.max_pool(x, return_indices=True, **kw)
    np.testing.assert_array_equal(y.astype(np.float64), yr)
    np.testing.assert_array_equal(idx, ir)
    if x.dtype.kind == "f":
        g = _x(y.shape)
        gr = ref.max_pool_backward(g, x, **kw)
        assert_close(F("max_pool", nd, True)(g, x, indices=idx, backend=backend, **kw), gr)
        assert_close(F("max_pool", nd, True)(g, x, backend=backend, **kw), gr)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,kw", WIDE_WINDOWS + [(2, dict(kernel_size=(3, 2), stride=(2, 1))),
                                                  (1, dict(kernel_size=3, stride=2))])
@pytest.mark.parametrize("nans", [0, 1, 40])
def test_max_pool_values_on_wide_rows(backend, dtype, nd, kw, nans):
    """Values only (no indices): the float32 passes use vmaxps on AVX-512, which
    drops NaN, and rerun a row with the generic loop when it holds one.  Rows
    with no NaN, one NaN, and many, and ties everywhere: equal to the reference."""
    shape = (2, 3) + {1: (77,), 2: (9, 71), 3: (3, 5, 69)}[nd]
    x = (rng.integers(-2, 3, shape) * 0.5).astype(dtype)
    if nans:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, nans, replace=False)] = np.nan
    y = F("max_pool", nd)(x, backend=backend, **kw)
    yr = ref.max_pool(x, **kw)
    np.testing.assert_array_equal(y.astype(np.float64), yr)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
@pytest.mark.parametrize("nd,out", [(2, 1), (2, (3, 7)), (2, (11, 80)), (1, 5), (3, (2, 1, 4))])
def test_adaptive_max_on_wide_rows(backend, dtype, nd, out):
    """Column maxima then a per-window argmax (ties to the row-major first, NaNs
    to the last): values and indices equal the reference's window scan, with ties
    everywhere and, for floats, NaNs; the index backward agrees."""
    shape = (2, 3) + {1: (77,), 2: (9, 71), 3: (3, 5, 69)}[nd]
    x = rng.integers(0, 3, shape).astype(dtype)
    if x.dtype.kind == "f":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, flat.size // 30, replace=False)] = np.nan
    y, idx = F("adaptive_max_pool", nd)(x, out, return_indices=True, backend=backend)
    yr, ir = ref.adaptive_max_pool(x, out, return_indices=True)
    np.testing.assert_array_equal(y.astype(np.float64), yr)
    np.testing.assert_array_equal(idx, ir)
    if x.dtype.kind == "f":
        g = _x(y.shape)
        gr = ref.adaptive_max_pool_backward(g, x, out)
        assert_close(F("adaptive_max_pool", nd, True)(g, x, out, backend=backend), gr)
        assert_close(F("adaptive_max_pool", nd, True)(g, x, out, indices=idx,
                                                      backend=backend), gr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_propagates(backend):
    x = _x((1, 2, 6, 6))
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 4, 5] = np.nan
    x[0, 1, 5, 4] = np.nan
    y, idx = fc.max_pool2d(x, 2, return_indices=True, backend=backend)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 1, 2, 2])
    # the last NaN of a window wins, as in PyTorch (``val > max || isnan(val)``)
    assert idx[0, 0, 0, 0] == 7 and idx[0, 1, 2, 2] == 5 * 6 + 4
    assert np.isnan(y).sum() == 2
    np.testing.assert_array_equal(fc.max_pool2d(x, 2, backend=backend), y)
    assert np.isnan(fc.avg_pool2d(x, 2, backend=backend)).sum() == 2
    assert np.isnan(fc.adaptive_max_pool2d(x, 1, backend=backend)).all()
    assert np.isnan(fc.adaptive_avg_pool2d(x, 1, backend=backend)).all()
    assert np.isnan(fc.channel_max_pool(x, 2, backend=backend)).sum() == 3
    xi = x.astype(np.float32)
    yi = fc.max_pool2d(xi, 3, 1, 1, backend=backend)
    np.testing.assert_array_equal(np.isnan(yi), np.isnan(ref.max_pool(xi, 3, 1, 1)))


@needs_torch
def test_nan_and_ties_like_torch():
    x = _x((2, 3, 7, 7), ties=True)
    x[0, 0, 2, 3] = np.nan
    x[1, 2, 0, 0] = np.nan
    x[1, 2, 0, 1] = np.nan
    for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2)):
        ty, ti = TF.max_pool2d(_t(x), return_indices=True, **kw)
        y, i = fc.max_pool2d(x, return_indices=True, **kw)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(i, ti.numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_never_wins(backend):
    x = -np.ones((1, 1, 4, 4)) * 1e300
    x[0, 0, 0, 0] = -np.inf
    y, idx = fc.max_pool2d(x, 3, 1, 1, return_indices=True, backend=backend)
    assert (y <= -1e300).all()
    y = fc.max_pool2d(np.full((1, 1, 3), -np.inf), 2, 1, 1, backend=backend)
    assert (y == -np.inf).all()
    yi, ii = fc.max_pool1d(np.zeros((1, 1, 4), np.uint8), 3, 1, 2, return_indices=True,
                           backend=backend)
    assert (yi == 0).all() and ((ii >= 0) & (ii < 4)).all()


def _layouts(x):
    yield x
    yield np.asfortranarray(x)
    yield x[..., ::-1].copy()[..., ::-1]  # negative strides
    big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    big[..., ::2] = x
    yield big[..., ::2]  # non-contiguous
    ro = x.copy()
    ro.flags.writeable = False
    yield ro
    yield x.astype(x.dtype.newbyteorder(">"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_layout_and_input_untouched(backend):
    x0 = _x((2, 3, 9, 10)).astype(np.float32)
    g0 = _x((2, 3, 5, 5)).astype(np.float32)
    expect = {
        "max": fc.max_pool2d(x0, 3, 2, 1, backend=backend),
        "avg": fc.avg_pool2d(x0, 3, 2, 1, backend=backend),
        "lp": fc.lp_pool2d(x0, 2, 3, 2, 1, backend=backend),
        "gmax": fc.max_pool2d_backward(g0, x0, 3, 2, 1, backend=backend),
        "gavg": fc.avg_pool2d_backward(g0, x0, 3, 2, 1, backend=backend),
        "ad": fc.adaptive_avg_pool2d(x0, 3, backend=backend),
    }
    for x in _layouts(x0):
        for g in _layouts(g0):
            xc, gc = x.copy(), g.copy()
            got = {
                "max": fc.max_pool2d(x, 3, 2, 1, backend=backend),
                "avg": fc.avg_pool2d(x, 3, 2, 1, backend=backend),
                "lp": fc.lp_pool2d(x, 2, 3, 2, 1, backend=backend),
                "gmax": fc.max_pool2d_backward(g, x, 3, 2, 1, backend=backend),
                "gavg": fc.avg_pool2d_backward(g, x, 3, 2, 1, backend=backend),
                "ad": fc.adaptive_avg_pool2d(x, 3, backend=backend),
            }
            for k, v in got.items():
                np.testing.assert_array_equal(v, expect[k], err_msg=k)
            np.testing.assert_array_equal(x, xc)
            np.testing.assert_array_equal(g, gc)
            assert x.dtype == xc.dtype and g.dtype == gc.dtype


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_and_empty_batch(backend):
    x = _x((3, 8, 8))
    np.testing.assert_array_equal(fc.max_pool2d(x, 2, backend=backend),
                                  fc.max_pool2d(x[None], 2, backend=backend)[0])
    y, i = fc.max_pool2d(x, 2, return_indices=True, backend=backend)
    assert y.shape == i.shape == (3, 4, 4)
    assert fc.max_unpool2d(y, i, 2, backend=backend).shape == (3, 8, 8)
    assert fc.avg_pool2d_backward(np.ones((3, 4, 4)), x, 2, backend=backend).shape == x.shape
    assert fc.adaptive_avg_pool2d(x, 1, backend=backend).shape == (3, 1, 1)
    e = np.zeros((0, 3, 8, 8), np.float32)
    assert fc.max_pool2d(e, 2, backend=backend).shape == (0, 3, 4, 4)
    assert fc.avg_pool2d(e, 2, backend=backend).shape == (0, 3, 4, 4)
    assert fc.adaptive_max_pool2d(e, 2, backend=backend).shape == (0, 3, 2, 2)
    assert fc.max_pool2d_backward(np.zeros((0, 3, 4, 4)), e, 2, backend=backend).shape == e.shape
    assert fc.avg_pool2d_backward(np.zeros((0, 3, 4, 4)), e, 2, backend=backend).shape == e.shape


def test_same_padding_and_large_padding():
    x = _x((1, 2, 11))
    for s in (1, 2, 3):
        assert fc.max_pool1d(x, 4, s, "same").shape[-1] == -(-11 // s)
        assert fc.avg_pool1d(x, 4, s, "same_lower").shape[-1] == -(-11 // s)
    # ONNX-style padding larger than kernel // 2: fine while every window overlaps
    y = fc.max_pool1d(x, 3, 1, 2)
    assert_close(y, ref.max_pool(x, 3, 1, 2))
    assert_close(fc.avg_pool1d(x, 3, 1, ((2, 0),)), ref.avg_pool(x, 3, 1, ((2, 0),)))


def test_gaussian_pool_properties():
    x = np.full((1, 1, 9, 9), 3.0)
    y = fc.gaussian_pool2d(x, 3, 0.8, stride=2, padding=1)
    np.testing.assert_allclose(y, 3.0)  # weighted average: constants stay, borders too
    z = _x((2, 2, 9, 9))
    np.testing.assert_allclose(
        fc.gaussian_pool2d(z, 3, 1e6, 2, 1),
        fc.avg_pool2d(z, 3, 2, 1, count_include_pad=False), rtol=1e-9)
    # a narrow Gaussian concentrates on the window centre
    np.testing.assert_allclose(fc.gaussian_pool2d(z, 3, 0.05, 1, 1), z, atol=1e-12)


# ---------------------------------------------------------------------------
# kernels write every output element; determinism across threads
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_write_every_element(backend):
    from fastconv import kernels

    get = lambda n: kernels.get(backend, "pool", n)  # noqa: E731
    x = _x((3, 2, 7, 9)).astype(np.float32)
    geo = ((2, 3, 2), (1, 2, 2), (2, 1, 1), (0, 1, 1))
    out = np.full((3, 1, 4, 5), np.nan, np.float32)
    get("max_pool")(x, out, *geo, 2)
    assert not np.isnan(out).any()
    idx = np.full(out.shape, -1, np.int64)
    out[...] = np.nan
    get("max_pool_indices")(x, out, idx, *geo, 2)
    assert not np.isnan(out).any() and (idx >= 0).all()
    gx = np.full(x.shape, np.nan, np.float32)
    get("max_pool_backward")(np.ones_like(out), x, gx, *geo, 2)
    assert not np.isnan(gx).any()
    ones = [np.ones(n, np.float32) for n in (2, 3, 2, 1, 4, 5)]
    out[...] = np.nan
    get("sum_pool")(x, out, *geo, *ones, 0.0, 2)
    assert not np.isnan(out).any()
    gx[...] = np.nan
    get("sum_pool_backward")(np.ones_like(out), gx, *geo, *ones, 2)
    assert not np.isnan(gx).any()
    b = [np.array(v, np.int64) for v in ([0], [2], [0, 3], [5, 7], [0, 4, 6], [3, 7, 9])]
    o2 = np.full((3, 1, 2, 3), np.nan, np.float32)
    get("adaptive_avg")(x, o2, *b, 2)
    assert not np.isnan(o2).any()
    gx[...] = np.nan
    get("adaptive_avg_backward")(np.ones_like(o2), gx, *b, 2)
    assert not np.isnan(gx).any()
    dst = np.full((3, 10), np.nan, np.float32)
    get("scatter")(np.ones((3, 2), np.float32), np.zeros((3, 2), np.int64), dst, True, 2)
    assert (dst[:, 0] == 2).all() and (dst[:, 1:] == 0).all()
    # streamed (non-temporal) writes fill every element too, and no more, whatever
    # the alignment of the rows
    gref = np.empty_like(x)
    get("max_pool_backward")(np.ones_like(out), x, gref, *geo, 1)
    for off in (0, 1, 3):
        raw = np.full(x.size + 20, np.nan, np.float32)
        gs = raw[off:off + x.size].reshape(x.shape)
        get("max_pool_backward")(np.ones_like(out), x, gs, *geo, 2, True)
        assert not np.isnan(gs).any() and np.isnan(raw[:off]).all()
        assert np.isnan(raw[off + x.size:]).all()
        np.testing.assert_array_equal(gs, gref)
    m = np.full(6, np.nan, np.float32)
    get("global_avg")(x.reshape(6, -1), m, 2)
    assert not np.isnan(m).any()
    gx[...] = np.nan
    get("global_avg_backward")(m, gx.reshape(6, -1), 2)
    assert not np.isnan(gx).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bit_identical_across_threads(backend):
    x = _x((4, 16, 40, 37)).astype(np.float32)
    runs = []
    for n in (1, 2):
        with fc.num_threads(n):
            y, i = fc.max_pool2d(x, 3, 2, 1, return_indices=True, backend=backend)
            g = np.ones_like(y)
            runs.append([
                y, i, fc.max_pool2d(x, 2, backend=backend),
                fc.avg_pool2d(x, 3, 2, 1, backend=backend),
                fc.lp_pool2d(x, 3, 3, 2, 1, backend=backend),
                fc.gaussian_pool2d(x, 3, 1.0, 2, 1, backend=backend),
                fc.adaptive_avg_pool2d(x, (3, 5), backend=backend),
                fc.adaptive_avg_pool2d(x, 1, backend=backend),
                fc.adaptive_max_pool2d(x, (3, 5), backend=backend),
                fc.max_pool2d_backward(np.ones((4, 16, 20, 18), np.float32), x, 2,
                                       backend=backend),
                fc.max_pool2d_backward(g, x, 3, 2, 1, backend=backend),
                fc.max_pool2d_backward(g, x, 3, 2, 1, indices=i, backend=backend),
                fc.avg_pool2d_backward(g, x, 3, 2, 1, backend=backend),
                fc.adaptive_avg_pool2d_backward(np.ones((4, 16, 1, 1), np.float32), x, 1,
                                                backend=backend),
                fc.channel_max_pool(x, 4, backend=backend),
            ])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_backends_agree():
    x = _x((2, 5, 13, 11)).astype(np.float32)
    for f, args in ((fc.max_pool2d, (3, 2, 1)), (fc.avg_pool2d, (2,)),
                    (fc.adaptive_avg_pool2d, (4,))):
        a, b = f(x, *args, backend="numba"), f(x, *args, backend="cython")
        assert a.dtype == b.dtype == np.float32
        assert_close(a, b.astype(np.float64))


# ---------------------------------------------------------------------------
# errors name the argument
# ---------------------------------------------------------------------------
def test_errors():
    x = _x((1, 2, 8, 8))
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        fc.max_pool2d(x, 0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        fc.avg_pool2d(x, 2, 0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        fc.max_pool2d(x, 2, padding=-1)
    with pytest.raises(ValueError, match="padding .* too large"):
        fc.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="output would be empty"):
        fc.max_pool2d(x, 9)
    with pytest.raises(ValueError, match="x must have 4 .* or 3 .* dimensions"):
        fc.max_pool2d(x[0, 0, 0], 2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 2"):
        fc.max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        fc.max_pool2d(x, 2, ceil_mode="yes")
    with pytest.raises(ValueError, match="padding must be one of"):
        fc.max_pool2d(x, 2, padding="bogus")
    with pytest.raises(ValueError, match="backend must be one of"):
        fc.max_pool2d(x, 2, backend="gpu")
    with pytest.raises(ValueError, match="divisor_override must be non-zero"):
        fc.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        fc.lp_pool2d(x, 0, 2)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        fc.gaussian_pool2d(x, 3, -1.0)
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        fc.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="output_size must be an int or a tuple of 2"):
        fc.adaptive_max_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"grad_output must have the forward output's shape"):
        fc.max_pool2d_backward(np.ones((1, 2, 3, 3)), x, 2)
    with pytest.raises(TypeError, match="x must be a real array"):
        fc.max_pool2d(x.astype(complex), 2)
    y, idx = fc.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match=r"indices must have shape \(1, 2, 4, 4\)"):
        fc.max_unpool2d(y, idx[..., :2], 2)
    with pytest.raises(ValueError, match=r"indices out of range: .*\[0, 64\)"):
        fc.max_unpool2d(y, idx + 64, 2)
    with pytest.raises(ValueError, match="indices out of range"):
        fc.max_pool2d_backward(np.ones_like(y), x, 2, indices=idx - 100)
    with pytest.raises(TypeError, match="indices must be an integer array"):
        fc.max_unpool2d(y, idx.astype(float), 2)
    with pytest.raises(ValueError, match="output_size .* is invalid"):
        fc.max_unpool2d(y, idx, 2, output_size=(20, 20))
    with pytest.raises(ValueError, match="k=3 must divide the size 2"):
        fc.channel_max_pool(x, 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        fc.channel_max_pool(x, 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nd, kw", [(1, dict(kernel_size=3, stride=2, padding=1)),
                                    (2, dict(kernel_size=3, stride=2, padding=1)),
                                    (2, dict(kernel_size=2, dilation=2, ceil_mode=True)),
                                    (3, dict(kernel_size=(2, 3, 2), stride=(1, 2, 2)))])
def test_max_backward_any_indices_equal_scatter(backend, nd, kw):
    """The backward from indices zeroes the gradient just ahead of its scatter, row
    band by row band (``pool._scatter_band``).  Indices the forward would never
    give (other windows', earlier or later rows', repeated) must still land as a
    plain in-order scatter puts them, and 1 and 2 threads agree bit for bit."""
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((3, 2) + (9, 11, 10)[3 - nd:]).astype(np.float32)
    y = F("max_pool", nd)(x, backend=backend, **kw)
    g = rng.standard_normal(y.shape).astype(np.float32)
    S = int(np.prod(x.shape[2:]))
    idx = rng.integers(0, S, y.shape)
    idx.reshape(6, -1)[1, :] = S - 1  # every window of a plane points at its last element
    want = np.zeros((6, S), np.float32)
    for p in range(6):
        np.add.at(want[p], idx.reshape(6, -1)[p], g.reshape(6, -1)[p])
    got = F("max_pool", nd, True)(g, x, indices=idx, backend=backend, **kw)
    np.testing.assert_array_equal(got.reshape(6, S), want)
    plan = fc.pool.last_plan()
    two = np.full((6, S), np.nan, np.float32)  # the same band on 2 threads (the call gets 1)
    fc.pool._kernel(backend, "scatter")(g.reshape(6, -1), idx.reshape(6, -1), two, True, 2,
                                        plan.args[2])
    np.testing.assert_array_equal(two, want)
    # and the forward's own indices against the reference
    y, idx = F("max_pool", nd)(x, return_indices=True, backend=backend, **kw)
    gr = ref.max_pool_backward(g.astype(np.float64), x.astype(np.float64), **kw)
    assert_close(F("max_pool", nd, True)(g, x, indices=idx, backend=backend, **kw), gr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scatter_band_is_checked(backend):
    from fastconv.pool import _kernel

    dst = np.full((2, 6), np.nan, np.float32)
    src, idx = np.ones((2, 4), np.float32), np.zeros((2, 4), np.int64)
    scatter = _kernel(backend, "scatter")
    with pytest.raises(ValueError, match="band: 3 rows do not divide 4"):
        scatter(src, idx, dst, True, 1, np.array([2, 4, 6], np.int64))
    with pytest.raises(ValueError, match="band must be non-decreasing"):
        scatter(src, idx, dst, True, 1, np.array([4, 2], np.int64))
    with pytest.raises(ValueError, match="band must be non-decreasing"):
        scatter(src, idx, dst, True, 1, np.array([2, 7], np.int64))
    scatter(src, idx + 5, dst, True, 2, np.array([1, 1], np.int64))
    np.testing.assert_array_equal(dst, [[0] * 5 + [4]] * 2)
    # out-of-range indices among in-range ones, before and past the band: counted
    # and skipped, the rest scattered as without a band
    bad = np.array([[-1, 2, 6, 4], [5, 9, 0, -7]], np.int64)
    for band in (None, np.array([1, 3], np.int64)):
        dst[...] = np.nan
        assert scatter(src, bad, dst, True, 2, band) == 4
        np.testing.assert_array_equal(dst, [[0, 0, 1, 0, 1, 0], [1, 0, 0, 0, 0, 1]])


def test_public_names_have_docstrings_with_examples():
    from fastconv import pool

    for name in pool.__all__:
        f = getattr(fc, name)
        assert f.__doc__ and ">>>" in f.__doc__, name


# ---------------------------------------------------------------------------
# plan_pool: the functions run exactly the plan it returns
# ---------------------------------------------------------------------------
def _plan_cases():
    """(op, x, leading arrays, args, kwargs): one call per operator family and variant."""
    x = _x((2, 3, 9, 10)).astype(np.float32)
    big = _x((4, 16, 40, 37)).astype(np.float32)  # parallel (above PARALLEL_MIN_ELEMENTS)
    y, idx = fc.max_pool2d(x, 3, 2, 1, return_indices=True)
    ay, aidx = fc.adaptive_max_pool2d(x, 3, return_indices=True)
    g = np.ones_like(y)
    return [
        ("max_pool2d", x, (), (2,), {}),
        ("max_pool2d", big, (), (3, 2, 1), {}),
        ("max_pool2d", x, (), (3, 2, 1), dict(return_indices=True)),
        ("max_pool2d_backward", x, (g,), (3, 2, 1), {}),
        ("max_pool2d_backward", x, (g,), (3, 2, 1), dict(indices=idx)),
        ("max_pool1d", x[0], (), (3,), dict(ceil_mode=True)),
        ("avg_pool2d", x, (), (3, 2, 1), dict(count_include_pad=False)),
        ("avg_pool2d_backward", x, (g,), (3, 2, 1), {}),
        ("sum_pool3d", x[None], (), (2,), {}),
        ("lp_pool2d", x, (), (2, 3, 2, 1), {}),
        ("lp_pool2d", x, (), (np.inf, 3, 2, 1), {}),
        ("lp_pool2d_backward", x, (g,), (3, 3, 2, 1), {}),
        ("lp_pool2d_backward", x, (g,), (np.inf, 3, 2, 1), {}),
        ("gaussian_pool2d", x, (), (3, 1.0, 2, 1), {}),
        ("gaussian_pool2d_backward", x, (g,), (3, [0.5, 2.0], 2, 1), {}),
        ("adaptive_avg_pool2d", x, (), (1,), {}),
        ("adaptive_avg_pool2d", big, (), (1,), {}),
        ("adaptive_avg_pool2d", x, (), ((3, None),), {}),
        ("adaptive_avg_pool2d_backward", big, (np.ones((4, 16, 1, 1), np.float32),), (1,), {}),
        ("adaptive_avg_pool2d_backward", x, (np.ones_like(ay),), (3,), {}),
        ("adaptive_max_pool2d", x, (), (3,), dict(return_indices=True)),
        ("adaptive_max_pool2d_backward", x, (np.ones_like(ay),), (3,), {}),
        ("adaptive_max_pool2d_backward", x, (np.ones_like(ay),), (3,), dict(indices=aidx)),
        ("channel_max_pool", x, (), (3,), {}),
        ("channel_max_pool_backward", x, (np.ones((2, 1, 9, 10)),), (3,), {}),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_functions_run_what_plan_pool_returns(backend):
    for op, x, lead, args, kw in _plan_cases():
        fn = getattr(fc, op)
        fn(*lead, x, *args, backend=backend, **kw)
        ran = fc.pool.last_plan()
        gd = {"grad_dtype": lead[0].dtype} if lead else {}
        planned = fc.plan_pool(op, x.shape, *args, dtype=x.dtype, backend=backend, **gd, **kw)
        assert ran == planned, (op, ran, planned)
        assert ran.op == op and ran.backend == backend and ran.kernels
        assert ran.bytes_moved > 0 and ran.estimated_seconds > 0
        assert 1 <= ran.threads <= fc.get_num_threads()
        assert ran.reason.endswith(".") and "\n" not in ran.reason
    # unpool: its indices are an array argument, not planned
    y, idx = fc.max_pool2d(_x((2, 3, 8, 8)), 2, return_indices=True)
    fc.max_unpool2d(y, idx, 2, backend=backend)
    assert fc.pool.last_plan() == fc.plan_pool("max_unpool2d", y.shape, 2, dtype=y.dtype,
                                                backend=backend)
    fc.max_unpool2d_backward(np.ones((2, 3, 8, 8)), y, idx, 2, backend=backend)
    assert fc.pool.last_plan() == fc.plan_pool("max_unpool2d_backward", y.shape, 2,
                                                dtype=y.dtype, backend=backend)


def test_plan_pool_choices():
    shape = (8, 64, 112, 112)
    p = fc.plan_pool("adaptive_avg_pool2d", shape, 1)
    assert p.kernels == ("global_avg",) and p.bytes_moved == 4 * (np.prod(shape) + 512)
    assert fc.plan_pool("adaptive_avg_pool2d", shape, 7).kernels == ("adaptive_avg",)
    assert fc.plan_pool("adaptive_avg_pool2d_backward", shape, 1).kernels == (
        "global_avg_backward",)
    assert fc.plan_pool("max_pool2d_backward", shape, 2).kernels == ("max_pool_backward",)
    assert fc.plan_pool("max_pool2d_backward", shape, 2, indices=True).kernels == ("scatter",)
    assert fc.plan_pool("lp_pool2d_backward", shape, 2, 2).kernels == (
        "sum_pool", "sum_pool_backward")
    with fc.num_threads(2):
        big = fc.plan_pool("max_pool2d_backward", shape, 2, backend="cython")
        small = fc.plan_pool("max_pool2d_backward", (1, 1, 8, 8), 2, backend="cython")
        fwd = fc.plan_pool("max_pool2d", shape, 2, backend="cython")
    assert big.threads == 2 and big.streaming and "streamed" in big.reason
    assert small.threads == 1 and not small.streaming and "too small" in small.reason
    assert fwd.threads == 2 and not fwd.streaming and "through the cache" in fwd.reason
    assert not fc.plan_pool("max_pool2d_backward", shape, 2, backend="numba").streaming
    assert fc.plan_pool("max_pool2d", shape, 2, dtype=np.float64).bytes_moved == (
        2 * fwd.bytes_moved)
    with pytest.raises(ValueError, match="op must be the name of a pooling function"):
        fc.plan_pool("conv2d", shape, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        fc.plan_pool("max_pool2d", shape, 2, bogus=1)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        fc.plan_pool("max_pool2d", shape, 0)


# ---------------------------------------------------------------------------
# out=: preallocated results
# ---------------------------------------------------------------------------
def _out_cases(x):
    y, idx = fc.max_pool2d(x, 2, return_indices=True)
    return [
        (fc.max_pool2d, (x, 3, 2, 1), {}),
        (fc.avg_pool2d, (x, 3, 2, 1), {}),
        (fc.sum_pool1d, (x[0], 2), {}),
        (fc.lp_pool3d, (x[None], 2, 2), {}),
        (fc.gaussian_pool2d, (x, 3, 1.0, 2, 1), {}),
        (fc.adaptive_avg_pool2d, (x, 1), {}),
        (fc.adaptive_avg_pool2d, (x, (3, 4)), {}),
        (fc.adaptive_max_pool2d, (x, 3), {}),
        (fc.max_unpool2d, (y, idx, 2), {}),
        (fc.channel_max_pool, (x, 3), {}),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_is_filled_in_place(backend):
    x = _x((2, 3, 9, 10)).astype(np.float32)
    for f, args, kw in _out_cases(x):
        expect = f(*args, backend=backend, **kw)
        out = np.full(expect.shape, np.nan, expect.dtype)
        got = f(*args, backend=backend, out=out, **kw)
        assert got is out, f.__name__
        np.testing.assert_array_equal(out, expect, err_msg=f.__name__)
        # a non-contiguous out (written through a temporary)
        big = np.full(expect.shape[:-1] + (2 * expect.shape[-1],), np.nan, expect.dtype)
        got = f(*args, backend=backend, out=big[..., ::2], **kw)
        np.testing.assert_array_equal(big[..., ::2], expect, err_msg=f.__name__)
        assert np.isnan(big[..., 1::2]).all()
    # the result dtype of float16 / integer inputs
    h = x.astype(np.float16)
    out = np.empty((2, 3, 4, 5), np.float16)
    assert fc.avg_pool2d(h, 2, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, fc.avg_pool2d(h, 2, backend=backend))
    u = (np.abs(x) * 50).astype(np.uint8)
    out = np.empty((2, 3, 4, 5), np.uint8)
    y, idx = fc.max_pool2d(u, 2, return_indices=True, out=out, backend=backend)
    assert y is out and idx.dtype == np.int64
    np.testing.assert_array_equal(out, fc.max_pool2d(u, 2, backend=backend))
    # an out overlapping the input still gets the right result
    expect = fc.adaptive_avg_pool2d(x, (9, 5), backend=backend)
    flat = x.ravel().copy()
    xa, out = flat.reshape(x.shape), flat[:expect.size].reshape(expect.shape)
    assert fc.adaptive_avg_pool2d(xa, (9, 5), out=out, backend=backend) is out
    np.testing.assert_array_equal(out, expect)


def test_out_errors_name_out():
    x = _x((2, 3, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3, 4, 4\) and dtype "
                                         r"float32, got shape \(2, 3, 4, 5\)"):
        fc.max_pool2d(x, 2, out=np.empty((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="out must have shape .* dtype float32, got .* "
                                         "dtype float64"):
        fc.avg_pool2d(x, 2, out=np.empty((2, 3, 4, 4)))
    ro = np.empty((2, 3, 1, 1), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        fc.adaptive_avg_pool2d(x, 1, out=ro)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        fc.max_pool2d(x, 2, out=[[0.0]])
    y, idx = fc.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3, 8, 8\)"):
        fc.max_unpool2d(y, idx, 2, out=np.empty((2, 3, 8, 9), np.float32))


# ---------------------------------------------------------------------------
# streaming (non-temporal) stores and the fast kernels of the big cases
# ---------------------------------------------------------------------------
@pytest.fixture
def always_stream(monkeypatch):
    """Every output streams (the threshold is 4 MiB otherwise: tests stay small)."""
    from fastconv import pool

    monkeypatch.setattr(pool, "STREAM_MIN_BYTES", 0)
    pool._clear_plans()
    yield
    pool._clear_plans()


@pytest.mark.parametrize("nt", [1, 2])
def test_streamed_results_match_reference(always_stream, nt):
    with fc.num_threads(nt):
        for shape in [(3, 5, 13, 17), (2, 4, 12, 16), (1, 9, 7, 33)]:  # odd row widths too
            x = _x(shape, ties=shape[-1] == 16).astype(np.float32)
            for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                       dict(kernel_size=3, stride=1, padding=1, dilation=1)):
                y, idx = fc.max_pool2d(x, return_indices=True, **kw)
                assert fc.pool.last_plan().kernels == ("max_pool_indices",)
                np.testing.assert_array_equal(fc.max_pool2d(x, **kw), y)
                assert_close(fc.avg_pool2d(x, **kw), ref.avg_pool(x, **kw))
                g = _x(y.shape).astype(np.float32)
                gr = ref.max_pool_backward(g, x, **kw)
                assert_close(fc.max_pool2d_backward(g, x, **kw), gr)
                assert_close(fc.max_pool2d_backward(g, x, indices=idx, **kw), gr)
            u = fc.max_unpool2d(*fc.max_pool2d(x, 2, return_indices=True), 2,
                                output_size=x.shape)
            np.testing.assert_array_equal(u, ref.max_unpool(
                *ref.max_pool(x, 2, return_indices=True), 2, output_size=x.shape))


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_backward_fast_paths(nt, dtype):
    """The vectorised 2x2/2 and 3x3/2 backward rows (masked tails, padded borders,
    -inf windows, NaN rows, ties) against the reference."""
    r = np.random.default_rng(7)
    with fc.num_threads(nt):
        for H, W in [(7, 7), (9, 40), (6, 35), (12, 66), (3, 3), (4, 65)]:
            base = r.standard_normal((2, 3, H, W))
            kinds = {
                "ties": r.integers(-1, 2, base.shape).astype(float),
                "ninf": np.where(r.random(base.shape) < 0.7, -np.inf, base),
                "nan": np.where(r.random(base.shape) < 0.02, np.nan, base),
            }
            for x in kinds.values():
                x = x.astype(dtype)
                for k, s, p in ((3, 2, 1), (3, 2, 0), (2, 2, 0), (2, 2, 1)):
                    try:
                        y = ref.max_pool(x, k, s, p)
                    except ValueError:
                        continue
                    g = r.standard_normal(y.shape).astype(dtype)
                    assert_close(fc.max_pool2d_backward(g, x, k, s, p),
                                 ref.max_pool_backward(g, x, k, s, p))


def test_global_average_accuracy_and_nan():
    # float32 planes with a large offset: float64 accumulation keeps the mean exact
    # to float32 rounding (a float32 running sum would lose ~3 digits here)
    x = (1000.0 + _x((2, 3, 300, 301))).astype(np.float32)
    y = fc.adaptive_avg_pool2d(x, 1)
    r = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    assert np.abs(y - r).max() <= np.spacing(np.float32(1000.0))
    # planes longer than one partial-sum chunk, 1-D and 3-D
    z = _x((2, 70001)).astype(np.float32)
    assert_close(fc.adaptive_avg_pool1d(z, 1), z.astype(np.float64).mean(-1, keepdims=True))
    x3 = x[:, :, :20].reshape(2, 3, 4, 5, 301)
    assert_close(fc.adaptive_avg_pool3d(x3, 1),
                 x3.astype(np.float64).mean(axis=(2, 3, 4), keepdims=True))
    w = _x((1, 3, 5, 5))
    w[0, 0, 1, 1] = np.nan
    w[0, 1, 2, 2] = np.inf
    w[0, 2, 0, 0], w[0, 2, 4, 4] = np.inf, -np.inf
    y = fc.adaptive_avg_pool2d(w, 1)[0, :, 0, 0]
    assert np.isnan(y[0]) and y[1] == np.inf and np.isnan(y[2])
    for be in BACKENDS:  # float32: pairs added in float32 first (AVX-512), see pool_simd.h
        y = fc.adaptive_avg_pool2d(w.astype(np.float32), 1, backend=be)[0, :, 0, 0]
        assert np.isnan(y[0]) and y[1] == np.inf and np.isnan(y[2]), be
        # pairs of 3e38 overflow float32, the mean does not: the plane is redone in
        # float64; one -inf among them gives -inf
        big = np.full((1, 2, 16, 17), 3e38, np.float32)
        big[0, 1, 9, 9] = -np.inf
        y = fc.adaptive_avg_pool2d(big, 1, backend=be)[0, :, 0, 0]
        assert y[0] == np.float32(3e38) and y[1] == -np.inf, (be, y)
    # backward: a broadcast fill
    g = _x((2, 3, 1, 1))
    gx = fc.adaptive_avg_pool2d_backward(g, x, 1)
    np.testing.assert_allclose(gx, np.broadcast_to(g / (300 * 301), x.shape), rtol=1e-6)
