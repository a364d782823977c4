"""Backward passes and transposed convolution: float64 references, finite
differences, PyTorch autograd, the adjoint identity, planning and the API's promises."""

import numpy as np
import pytest
from conftest import BACKENDS, assert_close, needs_torch, torch
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import kernels
from fastconv import reference as ref
from fastconv.backward import last_backward_plans, pad_adjoint

BWD = {1: fc.conv1d_backward, 2: fc.conv2d_backward, 3: fc.conv3d_backward}
CONV = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}
TR = {1: fc.conv_transpose1d, 2: fc.conv_transpose2d, 3: fc.conv_transpose3d}
TRB = {1: fc.conv_transpose1d_backward, 2: fc.conv_transpose2d_backward,
       3: fc.conv_transpose3d_backward}
MODES = ["zeros", "reflect", "replicate", "circular", "symmetric"]
rng = np.random.default_rng(4321)


@st.composite
def conv_cases(draw, nd=None, modes=MODES, string_padding=True):
    nd = nd or draw(st.integers(1, 3))
    maxL = {1: 12, 2: 7, 3: 4}[nd]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cig = draw(st.integers(1, 3))
    cog = draw(st.integers(1, 3))
    if draw(st.booleans()):  # depthwise (with a channel multiplier)
        groups, cig = draw(st.integers(2, 4)), 1
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    forms = [st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * nd),
             st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * nd)]
    if string_padding:
        forms.append(st.sampled_from(["valid", "same", "same_lower", "full"]))
    padding = draw(st.one_of(*forms))
    mode = draw(st.sampled_from(modes))
    size = tuple(
        draw(st.integers(max(d * (k - 1) + 1, 4), max(d * (k - 1) + 1, 4) + maxL))
        for k, d in zip(kernel, dilation, strict=True)
    )
    return dict(
        x_shape=(draw(st.integers(1, 2)), cig * groups) + size,
        w_shape=(cog * groups, cig) + kernel,
        kw=dict(stride=stride, dilation=dilation, padding=padding, groups=groups,
                padding_mode=mode),
    )


def _arrays(case, dtype=np.float64):
    nd = len(case["w_shape"]) - 2
    x = rng.standard_normal(case["x_shape"]).astype(dtype)
    w = rng.standard_normal(case["w_shape"]).astype(dtype)
    y = ref.conv(x, w, **case["kw"])
    g = rng.standard_normal(y.shape).astype(dtype)
    return nd, x, w, g


# --------------------------------------------------------------------------
# against the float64 reference, every algorithm and backend
# --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", ["direct", "im2col", "auto"])
@given(case=conv_cases())
def test_matches_reference(backend, algorithm, case):
    nd, x, w, g = _arrays(case)
    ex, ew, eb = ref.conv_backward(g, x, w, **case["kw"])
    got = BWD[nd](g, x, w, algorithm=algorithm, backend=backend, **case["kw"])
    assert isinstance(got, fc.ConvGrads)
    assert_close(got.input, ex)
    assert_close(got.weight, ew)
    assert_close(got.bias, eb)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=conv_cases(modes=["zeros"]))
def test_float32(backend, case):
    nd, x, w, g = _arrays(case, np.float32)
    ex, ew, eb = ref.conv_backward(g, x, w, **case["kw"])
    for alg in ("direct", "im2col"):
        got = BWD[nd](g, x, w, algorithm=alg, backend=backend, **case["kw"])
        assert got.input.dtype == got.weight.dtype == got.bias.dtype == np.float32
        assert_close(got.input, ex, scale=max(1, np.abs(ex).max()) * 4)
        assert_close(got.weight, ew, scale=max(1, np.abs(ew).max()) * 4)


@given(case=conv_cases(), data=st.data())
def test_finite_differences(case, data):
    """Directional derivatives of L = <conv(x, w), g> match central differences."""
    nd, x, w, g = _arrays(case)
    kw = case["kw"]
    got = BWD[nd](g, x, w, **kw)

    def loss(xx, ww):
        return float(np.sum(CONV[nd](xx, ww, **kw) * g))

    vx = rng.standard_normal(x.shape)
    vw = rng.standard_normal(w.shape)
    eps = 1e-3
    fd_x = (loss(x + eps * vx, w) - loss(x - eps * vx, w)) / (2 * eps)
    fd_w = (loss(x, w + eps * vw) - loss(x, w - eps * vw)) / (2 * eps)
    np.testing.assert_allclose(np.sum(got.input * vx), fd_x, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(np.sum(got.weight * vw), fd_w, rtol=1e-7, atol=1e-7)
    # bias: L is linear in b with slope sum(g) per channel
    np.testing.assert_allclose(got.bias, g.sum(axis=(0,) + tuple(range(2, 2 + nd))))


# --------------------------------------------------------------------------
# PyTorch autograd
# --------------------------------------------------------------------------
_TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _torch_forward(nd, xt, wt, bt, kw, spec):
    F = torch.nn.functional
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    mode = kw["padding_mode"]
    flat = []
    for a, b in reversed(spec.pad):
        flat += [a, b]
    if mode == "zeros":
        xp = F.pad(xt, flat)
    else:
        xp = F.pad(xt, flat, mode=_TORCH_MODE[mode])
    return conv(xp, wt, bt, stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"])


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
@given(case=conv_cases(modes=["zeros", "reflect", "replicate", "circular"]))
def test_matches_torch_autograd(backend, case):
    from fastconv._spec import conv_spec

    nd, x, w, g = _arrays(case)
    kw = case["kw"]
    spec = conv_spec(nd, x.shape, w.shape, None, kw["stride"], kw["padding"], kw["dilation"],
                     kw["groups"], kw["padding_mode"])
    if kw["padding_mode"] == "reflect" and any(
            max(p) >= L for p, L in zip(spec.pad, spec.in_size, strict=True)):
        return  # torch's reflect pad needs pad < input size
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    y = _torch_forward(nd, xt, wt, bt, kw, spec)
    y.backward(torch.tensor(g))
    got = BWD[nd](g, x, w, backend=backend, **kw)
    assert_close(got.input, xt.grad.numpy())
    assert_close(got.weight, wt.grad.numpy())
    assert_close(got.bias, bt.grad.numpy())


# --------------------------------------------------------------------------
# padding adjoint
# --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_pad_adjoint_identity(mode, data):
    nd = data.draw(st.integers(1, 3))
    size = tuple(data.draw(st.integers(2, 6)) for _ in range(nd))
    cap = {"reflect": lambda L: L - 1, "symmetric": lambda L: L}.get(mode, lambda L: 3 * L)
    pad = tuple((data.draw(st.integers(0, cap(L))), data.draw(st.integers(0, cap(L))))
                for L in size)
    x = rng.standard_normal((2, 3) + size)
    from fastconv._spec import NP_PAD_MODE

    xp = np.pad(x, ((0, 0), (0, 0)) + pad, mode=NP_PAD_MODE[mode])
    gp = rng.standard_normal(xp.shape)
    lhs = np.sum(xp * gp)
    for f in (pad_adjoint, ref.pad_adjoint):
        adj = f(gp, pad, mode)
        assert adj.shape == x.shape
        np.testing.assert_allclose(np.sum(x * adj), lhs, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------
@st.composite
def transpose_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = draw(st.integers(1, 3)) * groups
    cout_g = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    size = tuple(draw(st.integers(1, {1: 9, 2: 5, 3: 3}[nd])) for _ in range(nd))
    padding = tuple(
        draw(st.integers(0, max(0, ((L - 1) * s + d * (k - 1) + o) // 2)))
        for L, s, d, k, o in zip(size, stride, dilation, kernel, op, strict=True)
    )
    return dict(x_shape=(draw(st.integers(1, 2)), cin) + size,
                w_shape=(cin, cout_g) + kernel,
                kw=dict(stride=stride, padding=padding, output_padding=op, groups=groups,
                        dilation=dilation), bias=draw(st.booleans()))


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=transpose_cases())
def test_conv_transpose_matches_reference_and_torch(backend, case):
    nd = len(case["w_shape"]) - 2
    x = rng.standard_normal(case["x_shape"])
    w = rng.standard_normal(case["w_shape"])
    b = rng.standard_normal(case["w_shape"][1] * case["kw"]["groups"]) if case["bias"] else None
    expected = ref.conv_transpose(x, w, b, **case["kw"])
    for alg in ("direct", "im2col", "auto"):
        got = TR[nd](x, w, b, algorithm=alg, backend=backend, **case["kw"])
        assert_close(got, expected)
    g = rng.standard_normal(expected.shape)
    ex, ew, eb = ref.conv_transpose_backward(g, x, w, **case["kw"])
    got = TRB[nd](g, x, w, backend=backend, **case["kw"])
    assert_close(got.input, ex)
    assert_close(got.weight, ew)
    assert_close(got.bias, eb)
    if torch is not None:
        F = torch.nn.functional
        f = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        bt = None if b is None else torch.tensor(b, requires_grad=True)
        yt = f(xt, wt, bt, **case["kw"])
        assert_close(expected, yt.detach().numpy())
        yt.backward(torch.tensor(g))
        assert_close(got.input, xt.grad.numpy())
        assert_close(got.weight, wt.grad.numpy())
        if b is not None:
            assert_close(got.bias, bt.grad.numpy())


@given(case=conv_cases(modes=["zeros"], string_padding=False))
def test_adjoint_identity(case):
    """<conv(x), y> == <x, conv_transpose(y)> (output_padding recovers x's size)."""
    nd, x, w, y = _arrays(case)
    kw = case["kw"]
    from fastconv._spec import conv_spec

    spec = conv_spec(nd, x.shape, w.shape, None, kw["stride"], kw["padding"], kw["dilation"],
                     kw["groups"])
    if any(a != b for a, b in spec.pad):
        return  # conv_transpose's padding is symmetric
    p = tuple(a for a, _ in spec.pad)
    op = tuple(L - ((o - 1) * s - 2 * pp + d * (k - 1) + 1) for L, o, s, pp, d, k in zip(
        spec.in_size, spec.out_size, spec.stride, p, spec.dilation, spec.kernel, strict=True))
    if any(o >= max(s, d) for o, s, d in zip(op, spec.stride, spec.dilation, strict=True)):
        return  # x's tail is never read by the convolution: not a valid output_padding
    lhs = np.sum(CONV[nd](x, w, stride=kw["stride"], padding=p, dilation=kw["dilation"],
                          groups=kw["groups"]) * y)
    xt = TR[nd](y, w, stride=kw["stride"], padding=p, output_padding=op,
                dilation=kw["dilation"], groups=kw["groups"])
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(x * xt), lhs, rtol=1e-10, atol=1e-10)


def test_conv_transpose_errors():
    x = np.ones((1, 4, 5, 5))
    w = np.ones((4, 2, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        fc.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="<= 0"):
        fc.conv_transpose2d(np.ones((1, 4, 1, 1)), w, padding=2)
    with pytest.raises(ValueError, match="C_in=4"):
        fc.conv_transpose2d(np.ones((1, 3, 5, 5)), w)
    with pytest.raises(ValueError, match="groups=3"):
        fc.conv_transpose2d(x, w, groups=3)
    with pytest.raises(ValueError, match="bias"):
        fc.conv_transpose2d(x, w, np.ones(3))
    with pytest.raises(ValueError, match="padding"):
        fc.conv_transpose2d(x, w, padding="same")
    with pytest.raises(ValueError, match="grad_output"):
        fc.conv_transpose2d_backward(np.ones((1, 2, 6, 6)), x, w)
    # output_padding >= stride is allowed when smaller than the dilation
    y = fc.conv_transpose2d(x, w, stride=1, dilation=3, output_padding=2)
    assert_close(y, ref.conv_transpose(x, w, stride=1, dilation=3, output_padding=2))


# --------------------------------------------------------------------------
# planning: auto runs the plan; forced algorithms that cannot serve raise
# --------------------------------------------------------------------------
@pytest.mark.parametrize("xs,ws,kw", [
    ((8, 64, 20, 20), (64, 64, 3, 3), dict(padding=1)),
    ((2, 8, 30, 30), (8, 1, 3, 3), dict(padding=1, groups=8)),
    ((4, 1, 28, 28), (6, 1, 5, 5), {}),
    ((2, 16, 20, 20), (32, 16, 3, 3), dict(stride=2, padding=1)),
    ((2, 8, 40), (8, 8, 9), dict(padding=4)),
])
def test_auto_runs_the_plan(xs, ws, kw):
    nd = len(ws) - 2
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    g = rng.standard_normal(CONV[nd](x, w, **kw).shape).astype(np.float32)
    BWD[nd](g, x, w, **kw)
    ran = last_backward_plans()
    for pass_ in ("input_grad", "weight_grad"):
        planned = fc.plan_conv(xs, ws, pass_=pass_, **kw)
        assert isinstance(planned, fc.Plan)
        assert ran[pass_].algorithm == planned.algorithm
        assert ran[pass_].backend == planned.backend
        assert planned.reason
        for n in (1, 2):  # the choice never depends on the thread setting
            with fc.num_threads(n):
                p = fc.plan_conv(xs, ws, pass_=pass_, **kw)
            assert p.algorithm == planned.algorithm
            for k, v in planned.options.items():
                if k == "forward_plan":  # the forward plan's own thread count may differ
                    assert (p.options[k].algorithm, p.options[k].options) == (
                        v.algorithm, v.options)
                else:
                    assert p.options[k] == v
    # the transposed convolution runs the input-gradient plan
    TR[nd](g, w, stride=kw.get("stride", 1), padding=kw.get("padding", 0),
           groups=kw.get("groups", 1), output_padding=0 if kw.get("stride", 1) == 1 else 1)
    assert fc.plan.last_plan().options["pass_"] == "input_grad"


def test_forced_algorithm_refusals():
    x = np.ones((1, 2, 9, 9))
    w = np.ones((2, 2, 3, 3))
    g = np.ones((1, 2, 4, 4))
    with pytest.raises(ValueError, match="weight_grad.*fft"):
        fc.conv2d_backward(g, x, w, stride=2, algorithm="fft", needs=("weight",))
    with pytest.raises(ValueError, match="stride 1"):
        fc.conv2d_backward(g, x, w, stride=2, algorithm="fft", needs=("input",))
    with pytest.raises(ValueError, match="algorithm"):
        fc.conv2d_backward(g, x, w, stride=2, algorithm="nope")
    with pytest.raises(ValueError, match="pass_"):
        fc.plan_conv(x.shape, w.shape, pass_="backward")
    # fft serves the stride-1 input gradient exactly
    g1 = np.ones((1, 2, 7, 7))
    got = fc.conv2d_backward(g1, x, w, algorithm="fft", needs=("input",)).input
    assert_close(got, ref.conv_backward(g1, x, w)[0])


def test_argument_errors():
    x = np.ones((2, 3, 8, 8))
    w = np.ones((4, 3, 3, 3))
    g = np.ones((2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"grad_output.*\(2, 4, 6, 6\)"):
        fc.conv2d_backward(np.ones((2, 4, 5, 6)), x, w)
    with pytest.raises(ValueError, match="needs"):
        fc.conv2d_backward(g, x, w, needs=("input", "gamma"))
    with pytest.raises(ValueError, match="groups"):
        fc.conv2d_backward(g, x, w, groups=2)
    with pytest.raises(TypeError, match="grad_output"):
        fc.conv2d_backward(np.array([["a"]]), x, w)
    r = fc.conv2d_backward(g, x, w, needs=("weight",))
    assert r.input is None and r.bias is None and r.weight.shape == w.shape
    r = fc.conv2d_backward(g, x, w, needs="bias")
    assert r.input is None and r.weight is None and r.bias.shape == (4,)


# --------------------------------------------------------------------------
# dtypes, layouts, empty batch, NaN, threads
# --------------------------------------------------------------------------
def test_dtypes_layouts_and_inputs_untouched():
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float16)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float16)
    g = rng.standard_normal((2, 4, 9, 8)).astype(np.float16)
    r = fc.conv2d_backward(g, x, w, padding=1)
    assert r.input.dtype == r.weight.dtype == r.bias.dtype == np.float16
    ex, ew, eb = ref.conv_backward(g, x, w, padding=1)
    assert_close(r.input, ex)
    assert_close(r.weight, ew, scale=np.abs(ew).max())
    # odd layouts: Fortran order, negative strides, big-endian, read-only
    x64 = np.asfortranarray(rng.standard_normal((2, 3, 9, 8)))
    w64 = rng.standard_normal((4, 3, 3, 3))[:, :, ::-1].astype(">f8")
    g64 = rng.standard_normal((2, 4, 9, 8))[..., ::-1]
    for a in (x64, w64, g64):
        a.flags.writeable = False
    copies = [a.copy() for a in (x64, w64, g64)]
    r = fc.conv2d_backward(g64, x64, w64, padding=1, padding_mode="reflect")
    ex, ew, eb = ref.conv_backward(g64, x64, w64, padding=1, padding_mode="reflect")
    assert_close(r.input, ex)
    assert_close(r.weight, ew)
    for a, c in zip((x64, w64, g64), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    # unbatched
    r = fc.conv1d_backward(np.ones((4, 6)), np.ones((3, 8)), np.ones((4, 3, 3)))
    assert r.input.shape == (3, 8) and r.weight.shape == (4, 3, 3)
    assert_close(r.input, ref.conv_backward(np.ones((4, 6)), np.ones((3, 8)),
                                            np.ones((4, 3, 3)))[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", ["direct", "im2col", "winograd", "auto"])
def test_empty_batch(backend, algorithm):
    x = np.ones((0, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    g = np.ones((0, 4, 6, 6), np.float32)
    r = fc.conv2d_backward(g, x, w, algorithm=algorithm, backend=backend)
    assert r.input.shape == x.shape
    np.testing.assert_array_equal(r.weight, np.zeros(w.shape))
    np.testing.assert_array_equal(r.bias, np.zeros(4))
    y = fc.conv_transpose2d(np.ones((0, 4, 6, 6), np.float32), np.ones((4, 3, 3, 3), np.float32),
                            algorithm=algorithm, backend=backend)
    assert y.shape == (0, 3, 8, 8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
def test_nan_propagates(backend, algorithm):
    x = rng.standard_normal((1, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    g = rng.standard_normal((1, 3, 4, 4))
    x[0, 1, 2, 2] = np.nan
    g[0, 0, 1, 1] = np.nan
    r = fc.conv2d_backward(g, x, w, algorithm=algorithm, backend=backend)
    assert np.isnan(r.weight[:, 1]).any() and np.isnan(r.weight[0]).all()
    assert np.isnan(r.input[0, :, 1:4, 1:4]).all()
    assert not np.isnan(r.input[0, :, 5, 5]).any()
    assert np.isnan(r.bias[0]) and not np.isnan(r.bias[1:]).any()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@pytest.mark.parametrize("xs,ws,kw", [
    ((3, 16, 21, 19), (24, 16, 3, 3), dict(padding=1)),
    ((2, 12, 17, 23), (12, 1, 5, 3), dict(padding=2, groups=12, stride=(2, 1))),
    ((2, 6, 9, 10, 11), (4, 3, 3, 2, 3), dict(padding=1, groups=2, dilation=(1, 2, 1))),
    ((3, 96, 30, 31), (80, 96, 1, 1), {}),
    ((1, 256, 6, 5), (256, 256, 5, 5), dict(padding=2)),  # large weight: co-major GEMM
])
def test_bit_identical_across_threads(backend, algorithm, xs, ws, kw):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    nd = len(ws) - 2
    g = rng.standard_normal(CONV[nd](x, w, **kw).shape).astype(np.float32)
    res = []
    for n in (1, 2, 3):
        with fc.num_threads(n):
            res.append(BWD[nd](g, x, w, algorithm=algorithm, backend=backend, **kw))
    for r in res[1:]:
        for a, b in zip(res[0], r, strict=True):
            np.testing.assert_array_equal(a, b)
    ex, ew, _ = ref.conv_backward(g, x, w, **kw)
    assert_close(res[0].input, ex, scale=np.abs(ex).max() * 4)
    assert_close(res[0].weight, ew, scale=np.abs(ew).max() * 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_write_every_element(backend, dtype):
    """Outputs prefilled with NaN: an element a kernel skips would stay NaN."""
    from fastconv._spec import to_3d

    x = rng.standard_normal((2, 4, 7, 9)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    kw = dict(stride=(2, 3), dilation=(1, 2), padding=((2, 1), (0, 3)), groups=2)
    g = rng.standard_normal(ref.conv(x, w, **kw).shape).astype(dtype)
    ex, ew, _ = ref.conv_backward(g, x, w, **kw)
    s3, d3, p3 = (1, 2, 3), (1, 1, 2), (0, 2, 0)
    gx = np.full(x.shape, np.nan, dtype)
    kernels.get(backend, "grad", "input_grad_direct")(
        to_3d(g, 2), to_3d(w, 2), to_3d(gx, 2), s3, d3, p3, 2, 2)
    assert_close(gx, ex)
    gx = np.full(x.shape, np.nan, dtype)
    wt = np.ascontiguousarray(w.reshape(2, 3, 2, -1).transpose(0, 2, 1, 3).reshape(2, 2, -1))
    kernels.get(backend, "grad", "input_grad_gemm")(
        to_3d(g, 2), wt, to_3d(gx, 2), (1, 3, 2), s3, d3, p3, 2, 3, 1, 2)
    assert_close(gx, ex)
    gw = np.full(w.shape, np.nan, dtype)
    kernels.get(backend, "grad", "weight_grad_direct")(
        to_3d(g, 2), to_3d(x, 2), to_3d(gw, 2), s3, d3, p3, 2, 2)
    assert_close(gw, ew)


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=conv_cases(modes=["zeros"]), data=st.data())
def test_gemm_kernels_any_blocking(backend, case, data):
    """The input-gradient kernels (direct gather; gathered columns x GEMM; GEMM +
    col2im) and the chunked weight-gradient GEMM, with arbitrary blockings and thread
    counts, against the reference (outputs prefilled with NaN)."""
    from fastconv._spec import conv_spec, pad3, to_3d

    nd, x, w, g = _arrays(case)
    kw = case["kw"]
    spec = conv_spec(nd, x.shape, w.shape, None, kw["stride"], kw["padding"], kw["dilation"],
                     kw["groups"])
    ex, ew, _ = ref.conv_backward(g, x, w, **kw)
    G, cog, cig = spec.groups, spec.out_per_group, spec.in_per_group
    geo = (pad3(spec.kernel, nd, 1), pad3(spec.stride, nd, 1), pad3(spec.dilation, nd, 1),
           pad3(spec.pad_before, nd, 0), G)
    nthreads = data.draw(st.integers(1, 3))
    blk = data.draw(st.integers(1, 5))
    cb = data.draw(st.integers(1, 4))
    gx = np.full(x.shape, np.nan)
    wt = np.ascontiguousarray(w.reshape(G, cog, cig, -1).transpose(0, 2, 1, 3).reshape(G, cig, -1))
    kernels.get(backend, "grad", "input_grad_gemm")(to_3d(g, nd), wt, to_3d(gx, nd), *geo, blk,
                                                    cb, nthreads)
    assert_close(gx, ex)
    gx = np.full(x.shape, np.nan)
    wt2 = np.ascontiguousarray(w.reshape(G, cog, -1).transpose(0, 2, 1))
    kernels.get(backend, "grad", "input_grad_col2im")(to_3d(g, nd), wt2, to_3d(gx, nd), *geo,
                                                      blk, cb, nthreads)
    assert_close(gx, ex)
    gx = np.full(x.shape, np.nan)
    kernels.get(backend, "grad", "input_grad_direct")(to_3d(g, nd), to_3d(w, nd), to_3d(gx, nd),
                                                      *geo[1:], nthreads)
    assert_close(gx, ex)
    chunks = data.draw(st.integers(1, 3))
    parts = np.zeros((chunks, cig * spec.taps, spec.out_channels))
    kernels.get(backend, "grad", "weight_grad_gemm")(to_3d(g, nd), to_3d(x, nd), parts, *geo,
                                                     blk, cb, nthreads)
    assert_close(parts.sum(axis=0).T.reshape(w.shape), ew)
    parts = np.zeros((chunks, spec.out_channels, cig * spec.taps))  # output-channel major
    kernels.get(backend, "grad", "weight_grad_gemm")(to_3d(g, nd), to_3d(x, nd), parts, *geo,
                                                     blk, cb, nthreads, True)
    assert_close(parts.sum(axis=0).reshape(w.shape), ew)


# --------------------------------------------------------------------------
# Winograd weight gradient (3-wide kernels, stride 1, dilation 1, 1-D / 2-D)
# --------------------------------------------------------------------------
@st.composite
def winograd_cases(draw):
    nd = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cig, cog = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    forms = [st.integers(0, 2), st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * nd),
             st.sampled_from(["valid", "same", "full"])]
    size = tuple(draw(st.integers(3, {1: 23, 2: 11}[nd])) for _ in range(nd))
    return dict(x_shape=(draw(st.integers(1, 3)), cig * groups) + size,
                w_shape=(cog * groups, cig) + (3,) * nd,
                kw=dict(padding=draw(st.one_of(*forms)), groups=groups,
                        padding_mode=draw(st.sampled_from(["zeros", "zeros", "reflect",
                                                           "circular"]))))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tile", [2, 4])
@given(case=winograd_cases())
def test_winograd_weight_grad_matches_reference(backend, tile, case):
    """Forced Winograd weight gradient (either tile, both backends, every padding
    form and mode) equals the float64 reference; float32 within its error bound."""
    from fastconv.algorithms import winograd

    nd, x, w, g = _arrays(case)
    _, ew, _ = ref.conv_backward(g, x, w, **case["kw"])
    with winograd.tile(tile):
        got = BWD[nd](g, x, w, algorithm="winograd", backend=backend, needs=("weight",),
                      **case["kw"]).weight
        assert last_backward_plans()["weight_grad"].options["tile"] == tile
        assert_close(got, ew)
        g32, x32, w32 = (a.astype(np.float32) for a in (g, x, w))
        got32 = BWD[nd](g32, x32, w32, algorithm="winograd", backend=backend,
                        needs=("weight",), **case["kw"]).weight
    assert got32.dtype == np.float32
    scale = max(1.0, np.abs(ew).max())
    np.testing.assert_allclose(got32, ew, rtol=0, atol=scale * {2: 3e-6, 4: 4e-5}[tile])


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=winograd_cases(), data=st.data())
def test_winograd_weight_grad_kernels_any_blocking(backend, case, data):
    """Both kernel modes with arbitrary blockings, chunk, channel-block and thread
    counts, outputs and scratch prefilled with NaN: every element written, results
    exact (float64); the phased sums do not depend on the tile blocking."""
    from fastconv._spec import conv_spec

    nd, x, w, g = _arrays(case)
    kw = case["kw"]
    spec = conv_spec(nd, x.shape, w.shape, None, 1, kw["padding"], 1, kw["groups"])
    if kw["padding_mode"] != "zeros":
        return
    _, ew, _ = ref.conv_backward(g, x, w, **kw)
    G, cig, cog = spec.groups, spec.in_per_group, spec.out_per_group
    m = data.draw(st.sampled_from([2, 4]))
    tb = data.draw(st.integers(1, 9))
    F = (m + 2) ** nd
    x4 = x.reshape(x.shape[:2] + (1,) * (2 - nd) + x.shape[2:])
    g4 = g.reshape(g.shape[:2] + (1,) * (2 - nd) + g.shape[2:])
    ph, pw = ((0,) + spec.pad_before)[-2:]
    ntiles = spec.batch * int(np.prod([-(-o // m) for o in spec.out_size]))
    k = lambda name: kernels.get(backend, "wgrad", name)  # noqa: E731
    results = []
    for nthreads in (1, 3):
        chunks = data.draw(st.integers(1, 4))
        parts = np.full((chunks, G, F, cog, cig), np.nan)
        k("winograd_weight_grad_fused")(x4, g4, parts, ph, pw, m, nd, G, tb, nthreads)
        gw = np.full((spec.out_channels, cig, 3 ** nd), np.nan)
        k("weight_from_partials")(parts, gw, m, nd, nthreads)
        results.append(gw)
        shared = np.full(k("shared_items")(m, nd, G, cig, cog, ntiles), np.nan)
        gw = np.full((spec.out_channels, cig, 3 ** nd), np.nan)
        cob = data.draw(st.integers(1, 5))
        k("winograd_weight_grad_phased")(x4, g4, gw, shared, ph, pw, m, nd, G, tb, cob,
                                         nthreads)
        results.append(gw)
    for r in results:
        assert_close(r.reshape(w.shape), ew)
    np.testing.assert_array_equal(results[1], results[3])  # phased: blocking-free sums


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_winograd_weight_grad_matches_torch(backend):
    """A ResNet-like layer (float32, both tiles) against PyTorch autograd in float64."""
    from fastconv.algorithms import winograd

    x = rng.standard_normal((2, 24, 19, 17)).astype(np.float32)
    w = (rng.standard_normal((20, 24, 3, 3)) / np.sqrt(216)).astype(np.float32)
    g = rng.standard_normal((2, 20, 19, 17)).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, padding=1).backward(torch.tensor(g, dtype=torch.float64))
    ew = wt.grad.numpy()
    for m in (2, 4):
        with winograd.tile(m):
            got = fc.conv2d_backward(g, x, w, padding=1, algorithm="winograd",
                                     backend=backend).weight
        np.testing.assert_allclose(got, ew, rtol=0,
                                   atol=np.abs(ew).max() * {2: 3e-6, 4: 4e-5}[m])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xs,ws,kw", [
    ((3, 16, 21, 19), (24, 16, 3, 3), dict(padding=1)),           # fused
    ((2, 12, 9, 10), (12, 4, 3, 3), dict(padding=(2, 0), groups=3)),
    ((2, 8, 40), (6, 8, 3), dict(padding="same")),
])
def test_winograd_weight_grad_bit_identical_across_threads(backend, xs, ws, kw):
    from fastconv.algorithms import winograd

    nd = len(ws) - 2
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    g = rng.standard_normal(CONV[nd](x, w, **kw).shape).astype(np.float32)
    for m in (2, 4):
        res = []
        for n in (1, 2, 3):
            with fc.num_threads(n), winograd.tile(m):
                res.append(BWD[nd](g, x, w, algorithm="winograd", backend=backend,
                                   needs=("weight",), **kw).weight)
        for r in res[1:]:
            np.testing.assert_array_equal(res[0], r)


def test_winograd_weight_grad_plans_and_refusals():
    from fastconv._spec import conv_spec
    from fastconv.backward import plan_backward

    # the ResNet 56x56 layer: auto takes Winograd F(4x4,3x3) and says so
    p = fc.plan_conv((8, 64, 56, 56), (64, 64, 3, 3), padding=1, pass_="weight_grad")
    assert p.algorithm == "winograd" and p.options["tile"] == 4
    assert "error bound" in p.reason
    # auto runs that plan
    x = rng.standard_normal((4, 32, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    g = rng.standard_normal((4, 32, 28, 28)).astype(np.float32)
    planned = fc.plan_conv(x.shape, w.shape, padding=1, pass_="weight_grad")
    assert planned.algorithm == "winograd"
    fc.conv2d_backward(g, x, w, padding=1, needs=("weight",))
    ran = last_backward_plans()["weight_grad"]
    assert (ran.algorithm, ran.options) == (planned.algorithm, planned.options)
    # forcing it where it cannot serve raises with the reason
    x9, w9 = np.ones((1, 2, 9, 9)), np.ones((2, 2, 3, 3))
    cases = [(dict(stride=2), np.ones((1, 2, 4, 4)), w9, "stride 1"),
             (dict(dilation=2), np.ones((1, 2, 5, 5)), w9, "dilation 1"),
             ({}, np.ones((1, 2, 5, 5)), np.ones((2, 2, 5, 5)), "kernel of size 3")]
    for kw, gg, ww, why in cases:
        with pytest.raises(ValueError, match=f"weight_grad.*winograd.*{why}"):
            fc.conv2d_backward(gg, x9, ww, algorithm="winograd", needs=("weight",), **kw)
    with pytest.raises(ValueError, match="3-D"):
        fc.conv3d_backward(np.ones((1, 2, 7, 7, 7)), np.ones((1, 2, 9, 9, 9)),
                           np.ones((2, 2, 3, 3, 3)), algorithm="winograd", needs=("weight",))
    # tolerance: F(4) is ruled out below its bound, F(2) serves; below both: refused
    spec = conv_spec(2, (8, 64, 56, 56), (64, 64, 3, 3), None, 1, 1)
    assert plan_backward(spec, "weight_grad", "winograd", tolerance=1e-5).options["tile"] == 2
    with pytest.raises(ValueError, match="tolerance"):
        plan_backward(spec, "weight_grad", "winograd", tolerance=1e-7)
    assert plan_backward(spec, "weight_grad", tolerance=1e-7).algorithm != "winograd"
    # ... through plan_conv(pass_=...)
    assert fc.plan_conv((8, 64, 56, 56), (64, 64, 3, 3), padding=1, pass_="weight_grad",
                        algorithm="winograd", tolerance=1e-5).options["tile"] == 2
    with pytest.raises(ValueError, match="tolerance"):
        fc.plan_conv((8, 64, 56, 56), (64, 64, 3, 3), padding=1, pass_="weight_grad",
                     algorithm="winograd", tolerance=1e-7)
    # ... and through the public function
    fc.conv2d_backward(g, x, w, padding=1, needs=("weight",), tolerance=1e-5)
    ran = last_backward_plans()["weight_grad"]
    assert ran.algorithm != "winograd" or ran.options["error_bound"] <= 1e-5
    with pytest.raises(ValueError, match="tolerance"):
        fc.conv2d_backward(g, x, w, padding=1, needs=("weight",), tolerance=1e-8,
                           algorithm="winograd")
    # scratch bounded: the frequency-domain sums of 1024 channels exceed the limit
    wide = conv_spec(2, (1, 1024, 7, 7), (1024, 1024, 3, 3), None, 1, 1)
    with pytest.raises(ValueError, match="workspace limit"):
        plan_backward(wide, "weight_grad", "winograd")
    assert plan_backward(wide, "weight_grad").algorithm != "winograd"
    # float64: Winograd's bound (scaled by 2^-29) meets the default 1e-9
    spec64 = conv_spec(2, (8, 64, 56, 56), (64, 64, 3, 3), None, 1, 1, x_dtype=np.float64)
    assert plan_backward(spec64, "weight_grad", "winograd").options["error_bound"] < 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flip_swap_weight(backend, dtype):
    """The stride-1 input gradient's forward weight (taps flipped, channels swapped
    per group), written completely (NaN prefill), for 1-D to 3-D kernels."""
    for G, cog, cig, ks in [(1, 5, 37, (3, 3)), (3, 2, 4, (3,)), (2, 3, 2, (2, 3, 2))]:
        w = rng.standard_normal((G * cog, cig) + ks).astype(dtype)
        flip = (slice(None),) * 3 + (slice(None, None, -1),) * len(ks)
        expected = w.reshape((G, cog, cig) + ks).transpose(
            (0, 2, 1) + tuple(range(3, 3 + len(ks))))[flip].reshape((G * cig, cog) + ks)
        wt = np.full((G * cig, cog, int(np.prod(ks))), np.nan, dtype)
        kernels.get(backend, "grad", "flip_swap_weight")(w.reshape(G * cog, cig, -1), wt, G, 2)
        np.testing.assert_array_equal(wt.reshape(expected.shape), expected)
