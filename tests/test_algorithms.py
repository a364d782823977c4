"""Every convolution algorithm against the reference; the dispatcher's promises."""

import json
import tracemalloc

import numpy as np
import pytest
from conftest import BACKENDS, assert_close
from hypothesis import given
from test_conv import CONV, _arrays, _kw, conv_cases

import fastconv as fc
from fastconv import algorithms
from fastconv import reference as ref

rng = np.random.default_rng(7)

#: relative tolerance per algorithm (vs the output's scale), stated once.
ALGO_TOL = {"direct": 1.0, "im2col": 1.0, "fft": 5.0, "separable": 5.0, "winograd": 50.0}


def _rank1(shape):
    """A random weight whose every kernel is an outer product (separable)."""
    Co, Cg, *k = shape
    w = np.ones((Co, Cg) + (1,) * len(k))
    for a, ka in enumerate(k):
        s = [Co, Cg] + [1] * len(k)
        s[2 + a] = ka
        w = w * rng.standard_normal(s)
    return w


@pytest.mark.parametrize("algorithm", ["im2col", "fft", "separable"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=conv_cases())
def test_forced_algorithm_matches_reference(algorithm, backend, dtype, case):
    x, w, b = _arrays(case, dtype)
    if algorithm == "separable":
        w = _rank1(case["w_shape"]).astype(dtype)
    nd = len(case["w_shape"]) - 2
    expected = ref.conv(x, w, b, **_kw(case))
    out = np.full(expected.shape, np.nan, dtype)  # unwritten elements would stay NaN
    got = CONV[nd](x, w, b, algorithm=algorithm, backend=backend, out=out, **_kw(case))
    assert got is out
    rtol, atol = {np.float32: (2e-5, 2e-5), np.float64: (1e-11, 1e-11)}[dtype]
    scale = max(1.0, float(np.abs(expected).max())) * ALGO_TOL[algorithm]
    np.testing.assert_allclose(got, expected, rtol=rtol * ALGO_TOL[algorithm],
                               atol=atol * scale)


@pytest.mark.parametrize("algorithm", algorithms.NAMES)
def test_every_algorithm_on_realistic_shapes(algorithm):
    cases = [
        ((2, 32, 28, 28), (48, 32, 3, 3), dict(padding=1)),
        ((1, 3, 64, 64), (16, 3, 7, 7), dict(stride=2, padding=3)),
        ((2, 64, 14, 14), (32, 64, 1, 1), {}),
        ((1, 1, 200, 200), (1, 1, 21, 21), dict(padding="same")),
    ]
    for xs, ws, kw in cases:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        if algorithm == "separable":
            w = _rank1(ws).astype(np.float32)
        try:
            got = fc.conv2d(x, w, algorithm=algorithm, **kw)
        except ValueError as e:  # must be the documented refusal, naming the algorithm
            assert f"algorithm={algorithm!r} cannot serve this case" in str(e)
            continue
        assert_close(got, ref.conv(x, w, **kw), scale=ALGO_TOL[algorithm] * max(
            1.0, float(np.abs(ref.conv(x, w, **kw)).max())))


def test_forcing_what_cannot_serve_raises_with_reason():
    x = rng.standard_normal((1, 1, 20, 20))
    with pytest.raises(ValueError, match="algorithm='separable' cannot serve this case: the "
                                         "kernel is not separable"):
        fc.conv2d(x, rng.standard_normal((1, 1, 5, 5)), algorithm="separable")
    if "winograd" in algorithms.NAMES:
        with pytest.raises(ValueError, match="algorithm='winograd' cannot serve this case"):
            fc.conv2d(x, rng.standard_normal((1, 1, 3, 3)), stride=2, algorithm="winograd")


@pytest.mark.parametrize(
    "xs,ws,kw,expected",
    [
        ((1, 1, 2048, 2048), (1, 1, 63, 63), {}, "fft"),           # big kernel -> FFT
        ((1, 1, 100000), (1, 1, 1001), {}, "fft"),                 # long 1-D filter -> FFT
        # measured here: 31x31 on 512^2 runs faster on the register-tiled direct
        # kernel (1.8 ms at 2 threads) than with FFT (2.4 ms)
        ((1, 1, 512, 512), (1, 1, 31, 31), {}, "direct"),
        ((1, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32), "direct"),  # depthwise
        ((8, 256, 14, 14), (256, 256, 1, 1), {}, "im2col"),        # 1x1 -> GEMM
        ((1, 1, 16000), (1, 1, 101), {}, "direct"),  # 1-D k=101: measured 0.1 ms direct, 0.25 fft
        # ResNet's last downsampling layer: 2304 taps per output, the blocked kernel's
        # batch-layout tiles overflow L1 (measured 6.8-22 ms direct, 4.7 ms im2col)
        ((8, 256, 14, 14), (512, 256, 3, 3), dict(stride=2, padding=1), "im2col"),
        # ... while the first one's tiles fit L1 (measured 4.0-4.2 ms direct, 5.5 im2col)
        ((8, 64, 56, 56), (128, 64, 3, 3), dict(stride=2, padding=1), "direct"),
    ],
)
def test_textbook_plans(xs, ws, kw, expected):
    plan = fc.plan_conv(xs, ws, **kw)
    assert plan.algorithm == expected, plan.reason
    assert plan.reason.endswith(".")


def test_rank1_kernel_plans_separable_and_auto_follows():
    x = rng.standard_normal((1, 1, 300, 300)).astype(np.float32)
    g = np.exp(-np.linspace(-2, 2, 15) ** 2)
    w = np.outer(g, g)[None, None].astype(np.float32)
    plan = fc.plan_conv(x.shape, w.shape, weight=w, padding="same")
    assert plan.algorithm == "separable" and "rank-1" in plan.reason
    got = fc.conv2d(x, w, padding="same")
    assert fc.plan.last_plan().algorithm == "separable"
    assert_close(got, ref.conv(x, w, padding="same"))
    # without the values, shapes alone cannot choose separable
    assert fc.plan_conv(x.shape, w.shape, padding="same").algorithm != "separable"


def test_tolerance_excludes_inaccurate_algorithms():
    xs, ws = (1, 1, 2048, 2048), (1, 1, 63, 63)
    assert fc.plan_conv(xs, ws).algorithm == "fft"
    strict = fc.plan_conv(xs, ws, tolerance=1e-4)
    assert strict.algorithm in ("direct", "im2col", "separable"), strict.reason
    with pytest.raises(ValueError, match="tolerance=1e-12 cannot be met for float32"):
        fc.plan_conv(xs, ws, tolerance=1e-12)
    assert fc.plan_conv(xs, ws, dtype="float64", tolerance=1e-13).algorithm != "fft"


def test_conv_separable_matches_full_kernel():
    facs = [rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 3))]
    w = facs[0][..., :, None] * facs[1][..., None, :]
    x = rng.standard_normal((2, 3, 17, 19))
    b = rng.standard_normal(4)
    got = fc.conv_separable(x, facs, b, stride=2, padding=(2, 1), dilation=(1, 2))
    assert_close(got, ref.conv(x, w, b, stride=2, padding=(2, 1), dilation=(1, 2)))
    g = np.array([1.0, 2.0, 1.0])
    img = rng.standard_normal((1, 20, 20))
    assert_close(fc.conv_separable(img, (g, g)), ref.conv(img, np.outer(g, g)[None, None]))
    out = np.full((2, 4, 9, 9), np.nan)  # written in place (C-contiguous, float64)
    assert fc.conv_separable(x, facs, b, stride=2, padding=(2, 1), dilation=(1, 2),
                             out=out) is out
    assert_close(out, ref.conv(x, w, b, stride=2, padding=(2, 1), dilation=(1, 2)))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 4, 9, 9\)"):
        fc.conv_separable(x, facs, b, stride=2, padding=(2, 1), dilation=(1, 2),
                          out=np.empty((2, 4, 9, 8)))
    with pytest.raises(ValueError, match=r"factors\[1\] must have shape"):
        fc.conv_separable(x, [facs[0], rng.standard_normal((4, 2, 3))])


@pytest.mark.parametrize("algorithm", ["auto", "im2col", "fft", "separable"])
def test_prepared_weight(algorithm):
    x = rng.standard_normal((2, 4, 20, 20)).astype(np.float32)
    w = _rank1((6, 4, 5, 5)).astype(np.float32)
    pw = fc.prepare_weight(w, x.shape, padding=2, algorithm=algorithm)
    w_before = w.copy()
    got = fc.conv2d(x, pw, padding=2)
    assert fc.plan.last_plan() is pw.plan  # the stored plan was reused
    assert_close(got, ref.conv(x, w, padding=2), scale=50)
    np.testing.assert_array_equal(w, w_before)
    # a different case falls back to planning the raw weight
    got2 = fc.conv2d(x[:1], pw, padding=1)
    assert_close(got2, ref.conv(x[:1], w, padding=1), scale=50)


def test_measure_and_autotune(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_AUTOTUNE_CACHE", str(tmp_path / "tune.json"))
    from fastconv import _autotune

    monkeypatch.setattr(_autotune, "_mem", None)
    xs, ws = (1, 4, 24, 24), (8, 4, 3, 3)
    p = fc.plan_conv(xs, ws, padding=1, measure=True)
    assert set(p.times) >= {"direct", "im2col", "fft"}
    assert all(t > 0 for t in p.times.values())
    fc.autotune(True)
    try:
        p1 = fc.plan_conv(xs, ws, padding=1)
        with open(tmp_path / "tune.json") as f:
            (times,) = json.load(f).values()
        assert p1.algorithm == min(times, key=times.get)
        assert "measured" in p1.reason
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        fc.conv2d(x, w, padding=1)
        assert fc.plan.last_plan().algorithm == p1.algorithm
        # a new process would read the same file: simulate by dropping the memory copy
        monkeypatch.setattr(_autotune, "_mem", None)
        assert fc.plan_conv(xs, ws, padding=1).algorithm == p1.algorithm
    finally:
        fc.autotune(False)


def test_im2col_workspace_is_bounded():
    """1x1x4000x4000 with a 15x15 kernel: the full im2col matrix would hold
    ~3.5e9 entries (14 GB); the chunked one stays within a few MiB of scratch."""
    x = np.ones((1, 1, 4000, 4000), np.float32)
    w = np.ones((1, 1, 15, 15), np.float32)
    plan = fc.plan_conv(x.shape, w.shape, algorithm="im2col")
    assert plan.workspace_bytes < 64 * 2**20
    tracemalloc.start()
    try:
        y = fc.conv2d(x, w, algorithm="im2col")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.shape == (1, 1, 3986, 3986)
    assert np.all(y == 225)
    assert peak < y.nbytes + 64 * 2**20, peak


def test_fft_memory_is_bounded_by_tiles():
    """Scratch = one zero-padded copy of the input + spectra of a bounded chunk of
    tiles (fastconv._config.WORKSPACE_LIMIT), as plan.workspace_bytes reports."""
    x = np.ones((1, 1, 3000, 3000), np.float32)
    w = np.ones((1, 1, 9, 9), np.float32) / 81
    plan = fc.plan_conv(x.shape, w.shape, padding=4, algorithm="fft")
    assert plan.workspace_bytes < x.nbytes * 1.2 + 40 * 2**20
    tracemalloc.start()
    try:
        y = fc.conv2d(x, w, algorithm="fft", padding=4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert abs(float(y[0, 0, 1500, 1500]) - 1.0) < 1e-4
    assert peak < y.nbytes + plan.workspace_bytes * 1.25, (peak, plan.workspace_bytes)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xs, ws, kw", [
    ((5, 24, 13, 13), (96, 24, 3, 3), dict(stride=2, padding=1)),   # ResNet-style 3x3/2
    ((3, 64, 6, 5), (160, 64, 1, 1), dict(stride=2)),               # 1x1 stride 2
    ((2, 8, 5, 6, 7), (120, 8, 3, 2, 3), dict(stride=(1, 2, 1), padding=1, dilation=(2, 1, 1))),
    ((4, 40, 9, 9), (70, 40, 5, 5), dict(stride=3, padding=2)),     # stride 3, 5x5
    ((2, 3, 9, 70), (5, 3, 3, 3), dict(stride=2, padding=1)),       # stride-2 rows of 35
])
def test_im2col_batched_mode(monkeypatch, backend, xs, ws, kw):
    """Deep layers on small planes: one GEMM over the columns of a chunk of images
    (``options["batched"]``, see algorithms/im2col.py).  Against the reference, with
    and without bias, for 1, 2 and 3 threads bit for bit, and chunked into fewer
    images per GEMM by a small workspace.
    (Small shapes: the weight-size floor of the mode is lowered for the test.)"""
    from fastconv import _config
    from fastconv.algorithms import im2col

    monkeypatch.setattr(im2col, "BATCH_MIN_W", 1)
    fc.plan._cache.clear()
    try:
        _check_batched(monkeypatch, _config, backend, xs, ws, kw)
    finally:  # no batched plan of a lowered floor outlives the test
        fc.plan._cache.clear()


def _check_batched(monkeypatch, _config, backend, xs, ws, kw):
    rs = np.random.default_rng(len(xs) + ws[0])
    x = rs.standard_normal(xs).astype(np.float32)
    w = rs.standard_normal(ws).astype(np.float32)
    b = rs.standard_normal(ws[0]).astype(np.float32)
    conv = CONV[len(xs) - 2]
    plan = fc.plan_conv(xs, ws, algorithm="im2col", **kw)
    assert plan.options["batched"] == xs[0], plan.options
    want = ref.conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    res = {}
    for t in (1, 2, 3):
        with fc.num_threads(t):
            res[t] = conv(x, w, b, algorithm="im2col", backend=backend, **kw)
    assert_close(res[1], want)
    np.testing.assert_array_equal(res[1], res[2])
    np.testing.assert_array_equal(res[1], res[3])
    nob = conv(x, w, algorithm="im2col", backend=backend, **kw)
    assert_close(nob, want - b.reshape((-1,) + (1,) * (len(xs) - 2)))
    # float64: the scalar stride-2 copy
    y64 = conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
               algorithm="im2col", backend=backend, **kw)
    assert fc.plan.last_plan().options["batched"]
    assert_close(y64, want)
    # two images per chunk (a smaller workspace)
    per_image = (w[0].size + ws[0]) * int(np.prod(res[1].shape[2:])) * 4
    monkeypatch.setattr(_config, "WORKSPACE_LIMIT", 2 * per_image)
    fc.plan._cache.clear()
    assert fc.plan_conv(xs, ws, algorithm="im2col", **kw).options["batched"] == 2
    assert_close(conv(x, w, b, algorithm="im2col", backend=backend, **kw), want)


@pytest.mark.parametrize("algorithm", ["im2col", "fft", "separable"])
def test_bit_identical_across_threads(algorithm):
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    w = _rank1((8, 4, 3, 3)).astype(np.float32)
    with fc.num_threads(1):
        a = fc.conv2d(x, w, padding=1, groups=2, algorithm=algorithm)
    with fc.num_threads(2):
        b = fc.conv2d(x, w, padding=1, groups=2, algorithm=algorithm)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("algorithm", ["im2col", "fft", "separable"])
def test_nan_propagates(algorithm):
    x = np.ones((1, 1, 12, 12), np.float32)
    x[0, 0, 5, 5] = np.nan
    y = fc.conv2d(x, np.ones((1, 1, 3, 3), np.float32), algorithm=algorithm)
    assert np.isnan(y[0, 0, 3:6, 3:6]).all()
    if algorithm != "fft":  # a NaN spreads over the whole FFT tile, by nature
        assert np.isfinite(y).sum() == 100 - 9


def _has_mkl_fft():
    from fastconv import _fft

    return _fft._mkl_backend() is not None


def test_fft_backend_can_be_forced_to_pocketfft(monkeypatch):
    from fastconv import _fft

    monkeypatch.setenv("FASTCONV_FFT", "pocketfft")
    assert _fft.backend_name() == "pocketfft"
    x = rng.standard_normal((1, 2, 30, 30))
    w = rng.standard_normal((3, 2, 7, 7))
    assert_close(fc.conv2d(x, w, algorithm="fft"), ref.conv(x, w))
    assert fc.plan.last_plan().options["fft"] == "pocketfft"


@pytest.mark.skipif(not _has_mkl_fft(), reason="mkl_fft is not installed (extra: mkl)")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mkl_fft_backend_matches_reference(dtype):
    x = rng.standard_normal((2, 3, 40, 33)).astype(dtype)
    w = rng.standard_normal((4, 3, 9, 5)).astype(dtype)
    got = fc.conv2d(x, w, padding=(4, 2), stride=(1, 2), algorithm="fft")
    assert fc.plan.last_plan().options["fft"] == "mkl_fft"
    assert_close(got, ref.conv(x, w, padding=(4, 2), stride=(1, 2)), scale=5 * max(
        1.0, float(np.abs(got).max())))
