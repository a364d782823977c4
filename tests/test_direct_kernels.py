"""Kernel-level tests of the direct and depthwise kernels, both backends.

Outputs are filled with NaN before a kernel runs, so an element a kernel
forgets to write fails the comparison with the float64 reference.
"""

import importlib

import numpy as np
import pytest
from conftest import BACKENDS, assert_close, needs_torch, torch
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import kernels
from fastconv._alloc import empty_aligned
from fastconv._spec import conv_spec, pad3, to_3d
from fastconv.algorithms import direct as direct_alg
from fastconv.kernels import blockgeom
from fastconv.reference import conv as ref_conv

DTYPES = [np.float32, np.float64]


def _depthwise_case(nd, N, C, mult, size, kernel, stride=1, dilation=1, padding=0,
                    dtype=np.float32, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C) + tuple(size)).astype(dtype)
    w = rng.standard_normal((C * mult, 1) + tuple(kernel)).astype(dtype)
    b = rng.standard_normal(C * mult).astype(dtype) if bias else None
    spec = conv_spec(nd, x.shape, w.shape, None if b is None else b.shape, stride, padding,
                     dilation, C, "zeros", x.dtype, w.dtype)
    return spec, x, w, b


def _run_dw(backend, spec, x, w, b, rowblock, colblock, nthreads):
    nd = spec.nd
    out = np.full((spec.batch, spec.out_channels) + spec.out_size, np.nan, spec.dtype)
    kern = kernels.get(backend, "depthwise", "conv_depthwise")
    bb = b if b is not None else np.zeros(1, spec.dtype)
    kern(to_3d(x, nd), to_3d(w, nd), bb, b is not None, to_3d(out, nd),
         pad3(spec.stride, nd, 1), pad3(spec.dilation, nd, 1), pad3(spec.pad_before, nd, 0),
         rowblock, colblock, nthreads)
    return out


def _check_dw(backend, spec, x, w, b, rowblock=None, colblock=None, nthreads=2):
    rb, cb = direct_alg._dw_blocking(spec, nthreads)
    out = _run_dw(backend, spec, x, w, b, rowblock or rb, colblock or cb, nthreads)
    expected = ref_conv(x, w, b, spec.stride, spec.pad, spec.dilation, spec.groups)
    assert not np.isnan(out).any(), "unwritten output elements"
    assert_close(out, expected, spec.dtype)
    return out


# widths around the SIMD vector (16 float32 / 8 float64) and tile (2-8 vectors) sizes
WIDTHS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("W", WIDTHS)
def test_depthwise_widths(backend, dtype, W):
    for k, s, p in [(3, 1, 1), (3, 2, 1), (5, 1, 2), (1, 1, 0)]:
        if W + 2 * p < k:
            continue
        spec, x, w, b = _depthwise_case(2, 1, 3, 1, (6, W), (k, k), s, 1, p, dtype)
        _check_dw(backend, spec, x, w, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_argument_space(backend, dtype):
    cases = [
        # nd, N, C, mult, size, kernel, stride, dilation, padding
        (2, 2, 3, 2, (9, 20), (3, 3), 1, 1, 1),            # channel multiplier 2
        (2, 1, 2, 3, (8, 37), (3, 3), 2, 1, 1),            # multiplier 3, stride 2
        (2, 1, 4, 1, (11, 40), (3, 3), 1, 2, 2),           # dilation 2
        (2, 1, 2, 1, (12, 50), (3, 5), (2, 3), (1, 2), ((2, 0), (1, 4))),  # asymmetric
        (2, 1, 2, 1, (7, 33), (2, 4), 1, 1, "same"),       # even kernel, "same"
        (2, 1, 2, 2, (10, 45), (7, 7), 3, 1, "full"),      # stride 3 (generic phases)
        (2, 1, 1, 4, (16, 16), (5, 5), 1, 1, 2),           # single channel, 4 outputs
        (2, 3, 5, 1, (5, 5), (5, 5), 1, 1, 0),             # output 1x1
        (1, 2, 3, 1, (100,), (3,), 1, 1, 1),               # 1-D k=3
        (1, 1, 2, 2, (257,), (7,), 2, 3, ((4, 1),)),       # 1-D strided dilated
        (1, 1, 2, 1, (33,), (1,), 1, 1, 0),                # 1-D 1-tap
        (3, 1, 2, 1, (5, 6, 35), (3, 3, 3), 1, 1, 1),      # 3-D
        (3, 2, 2, 2, (6, 7, 18), (2, 3, 3), (2, 1, 2), (1, 2, 1), ((1, 0), 1, (0, 2))),
    ]
    for i, (nd, N, C, mult, size, k, s, d, p) in enumerate(cases):
        spec, x, w, b = _depthwise_case(nd, N, C, mult, size, k, s, d, p, dtype,
                                        bias=bool(i % 2), seed=i)
        _check_dw(backend, spec, x, w, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_blocking_and_threads_bit_identical(backend):
    """Row blocks, column chunks and thread counts never change a single bit."""
    for k, s, size in [((3, 3), 1, (23, 70)), ((3, 3), 2, (17, 45)), ((5, 3), (1, 2), (9, 40))]:
        spec, x, w, b = _depthwise_case(2, 2, 3, 2, size, k, s, 1, 1, np.float32)
        ref = _check_dw(backend, spec, x, w, b, rowblock=1000, colblock=1000, nthreads=1)
        for rb, cb, nt in [(1, 16, 2), (3, 32, 1), (4, 17, 2), (5, 1000, 2), (7, 48, 3)]:
            out = _run_dw(backend, spec, x, w, b, rb, cb, nt)
            np.testing.assert_array_equal(out, ref)


def test_depthwise_backends_agree():
    spec, x, w, b = _depthwise_case(2, 2, 4, 2, (19, 53), (3, 3), 1, 1, 1, np.float64)
    a = _check_dw("cython", spec, x, w, b)
    c = _check_dw("numba", spec, x, w, b)
    np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_nan_propagates_and_readonly(backend):
    spec, x, w, b = _depthwise_case(2, 1, 2, 1, (8, 40), (3, 3), 1, 1, 1, np.float32)
    x = x.copy()
    x[0, 1, 4, 20] = np.nan
    x.setflags(write=False)
    w.setflags(write=False)
    out = _run_dw(backend, spec, x, w, b, 8, 40, 2)
    bad = np.isnan(out[0, 1])
    assert bad[3:6, 19:22].all() and bad.sum() == 9
    assert not np.isnan(out[0, 0]).any()


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    nd=st.integers(1, 3),
    C=st.integers(1, 3),
    mult=st.integers(1, 3),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    pb=st.integers(0, 3),
    pa=st.integers(0, 3),
    L=st.integers(1, 40),
)
def test_depthwise_hypothesis(backend, nd, C, mult, k, s, d, pb, pa, L):
    size = (L,) + (5,) * (nd - 1)
    kernel = (k,) + (min(k, 3),) * (nd - 1)
    if L + pb + pa < d * (k - 1) + 1 or 5 + pb + pa < d * (min(k, 3) - 1) + 1:
        return
    pad = ((pb, pa),) * nd
    spec, x, w, b = _depthwise_case(nd, 1, C, mult, size[::-1], kernel[::-1], s, d, pad,
                                    np.float32)
    _check_dw(backend, spec, x, w, b)


# ---------------------------------------------------------------------------
# the generic direct kernel
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_kernel(backend, dtype):
    rng = np.random.default_rng(3)
    cases = [
        (2, (2, 4, 9, 33), (6, 2, 3, 3), 1, 1, 1, 2),
        (2, (1, 3, 10, 65), (4, 3, 3, 5), (2, 3), (1, 2), ((0, 2), (3, 1)), 1),
        (1, (2, 4, 70), (4, 2, 5), 2, 1, 2, 2),
        (3, (1, 2, 5, 6, 17), (3, 2, 3, 3, 3), 1, 1, 1, 1),
    ]
    for nd, xs, ws, s, d, p, g in cases:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        spec = conv_spec(nd, xs, ws, b.shape, s, p, d, g, "zeros", x.dtype, w.dtype)
        expected = ref_conv(x, w, b, s, p, d, g)
        outs = []
        for colblock, nt in ((spec.out_size[-1], 1), (16, 2), (5, 2)):
            out = np.full(expected.shape, np.nan, dtype)
            kernels.get(backend, "direct", "conv_direct")(
                to_3d(x, nd), to_3d(w, nd), b, True, to_3d(out, nd), pad3(spec.stride, nd, 1),
                pad3(spec.dilation, nd, 1), pad3(spec.pad_before, nd, 0), g, colblock, nt)
            assert_close(out, expected, dtype)
            outs.append(out)
        for out in outs[1:]:  # column blocking and threads never change a bit
            np.testing.assert_array_equal(out, outs[0])


# ---------------------------------------------------------------------------
# the register-blocked direct kernel (dblock)
# ---------------------------------------------------------------------------
def _run_blocked(backend, nd, x, w, b, s, d, p, g, nthreads=2, chunk=None,
                 layout="wide"):
    """The blocked kernel once.  Layouts: "batch"; "wide" (the wide grid
    everywhere: the Cython row layout off); "rows" (Cython: the row layout where
    output rows are whole vectors, streamed out with non-temporal stores)."""
    if backend == "cython" and layout != "batch":
        dblock = importlib.import_module("fastconv.kernels.cython.dblock")
        old = dblock.set_rows(int(layout == "rows"))
        try:
            return _run_blocked_once(backend, nd, x, w, b, s, d, p, g, nthreads, chunk,
                                     layout)
        finally:
            dblock.set_rows(old)
    return _run_blocked_once(backend, nd, x, w, b, s, d, p, g, nthreads, chunk, layout)


def _run_blocked_once(backend, nd, x, w, b, s, d, p, g, nthreads, chunk, layout):
    spec = conv_spec(nd, x.shape, w.shape, None if b is None else b.shape, s, p, d, g,
                     "zeros", x.dtype, w.dtype)
    k3, o3, s3, d3 = direct_alg._blocked_geometry(spec)
    item = spec.dtype.itemsize
    if layout == "batch":
        unit = blockgeom.stage_items_batch(spec.in_channels, k3, o3, s3, d3, item)
        units, name = -(-spec.batch // (64 // item)), "conv_blocked_batch"
    else:
        unit = blockgeom.stage_items(spec.in_channels, k3, o3, s3, d3, item)
        units, name = spec.batch, "conv_blocked"
    chunk = chunk or units
    stage = np.full(chunk * unit, np.nan, spec.dtype)  # staging must overwrite everything
    out = empty_aligned((spec.batch, spec.out_channels) + spec.out_size, spec.dtype)
    out[...] = np.nan
    wp = blockgeom.pack_weight(to_3d(w, nd), g)
    bp = blockgeom.pack_bias(b, b is not None, spec.out_channels, g, spec.dtype)
    extra = (True,) if layout == "rows" and backend == "cython" else ()
    kernels.get(backend, "dblock", name)(
        to_3d(x, nd), wp, bp, to_3d(out, nd), k3, s3, d3, pad3(spec.pad_before, nd, 0), g,
        chunk, stage, nthreads, *extra)
    return spec, out


BLOCKED_CASES = [
    # nd, x shape, w shape, stride, dilation, padding, groups
    (2, (2, 3, 30, 37), (16, 3, 7, 7), 2, 1, 3, 1),             # stem-like, stride 2
    (2, (3, 6, 14, 14), (16, 6, 5, 5), 1, 1, 0, 1),             # LeNet conv2
    (2, (1, 3, 40, 33), (12, 3, 11, 11), 1, 1, 5, 1),           # 11x11, Co not /8
    (2, (2, 4, 19, 23), (8, 4, 3, 3), 1, 2, 2, 1),              # dilated
    (2, (2, 6, 17, 19), (12, 2, 3, 4), (3, 2), (2, 1), ((2, 0), (1, 3)), 3),  # groups
    (1, (2, 4, 70), (10, 2, 5), 2, 3, ((4, 1),), 2),            # 1-D
    (3, (1, 3, 7, 9, 20), (10, 3, 3, 2, 3), (1, 2, 1), 1, 1, 1),  # 3-D
    (2, (1, 2, 1, 50), (3, 2, 1, 4), 1, 1, 0, 1),               # one-row output
    # output rows of whole vectors (the Cython row layout): OW = 32, 16
    (2, (2, 3, 21, 64), (12, 3, 7, 7), 2, 1, 3, 1),             # stem-like; last tile short
    (2, (3, 4, 5, 18), (10, 2, 3, 3), 1, 1, ((0, 1), (0, 0)), 2),  # groups, rows of 16
    (3, (1, 2, 3, 4, 18), (5, 2, 2, 3, 3), 1, 1, 0, 1),         # 3-D, OW = 16
]


@pytest.mark.parametrize("layout", ["wide", "rows", "batch"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_kernel(backend, dtype, layout):
    rng = np.random.default_rng(7)
    for nd, xs, ws, s, d, p, g in BLOCKED_CASES:
        if layout == "batch":  # more images than one vector holds, not a multiple
            xs = (21,) + xs[1:]
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        outs = []
        for nt, bc in ((1, None), (2, None), (2, 1)):
            spec, out = _run_blocked(backend, nd, x, w, b, s, d, p, g, nt, bc, layout)
            expected = ref_conv(x, w, b, s, p, d, g)
            assert not np.isnan(out).any(), "unwritten output elements"
            assert_close(out, expected, dtype)
            outs.append(out)
        for out in outs[1:]:  # threads and batch chunks never change a bit
            np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("layout", ["wide", "rows", "batch"])
@pytest.mark.parametrize("backend", BACKENDS)
@given(
    N=st.integers(1, 18),
    nd=st.integers(1, 3),
    C=st.integers(1, 4),
    Co=st.integers(1, 18),
    g=st.sampled_from([1, 2]),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    pb=st.integers(0, 3),
    pa=st.integers(0, 3),
    L=st.integers(1, 30),
)
def test_blocked_hypothesis(backend, layout, N, nd, C, Co, g, k, s, d, pb, pa, L):
    if L + pb + pa < d * (k - 1) + 1:
        return
    rng = np.random.default_rng(L)
    size = (L,) + (4,) * (nd - 1)
    kernel = (k,) + (min(k, 2),) * (nd - 1)
    x = rng.standard_normal((N, C * g) + size[::-1]).astype(np.float32)
    w = rng.standard_normal((Co * g, C) + kernel[::-1]).astype(np.float32)
    b = rng.standard_normal(Co * g).astype(np.float32)
    pad = ((pb, pa),) * nd
    spec, out = _run_blocked(backend, nd, x, w, b, s, d, pad, g, layout=layout)
    assert not np.isnan(out).any()
    assert_close(out, ref_conv(x, w, b, s, pad, d, g), np.float32)


def test_blocked_backends_agree_and_public_path(monkeypatch):
    """The planner picks the blocked kernel for a stem-like layer; the public call,
    a prepared weight and both backends give the reference result; NaN propagates."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    w = rng.standard_normal((32, 3, 7, 7)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    plan = fc.plan_conv(x.shape, w.shape, stride=2, padding=3, bias=True)
    assert (plan.algorithm, plan.options.get("kernel"), plan.options.get("layout")) == (
        "direct", "blocked", "wide"), plan
    expected = ref_conv(x, w, b, 2, 3)
    calls = []
    real = kernels.get("cython", "dblock", "conv_blocked")
    monkeypatch.setitem(kernels._cache, ("cython", "dblock", "conv_blocked"),
                        lambda *a: calls.append(1) or real(*a))
    y = fc.conv2d(x, w, b, stride=2, padding=3, backend="cython")
    assert calls == [1]
    assert_close(y, expected)
    pw = fc.prepare_weight(w, x.shape, stride=2, padding=3, bias=True)
    assert pw.packed is not None and pw.packed.shape == (1, 4, 147, 8)
    np.testing.assert_array_equal(fc.conv2d(x, pw, b, stride=2, padding=3), y)
    assert_close(fc.conv2d(x, w, b, stride=2, padding=3, backend="numba"), expected)
    xn = x.copy()
    xn[1, 2, 30, 31] = np.nan
    yn = fc.conv2d(xn, w, b, stride=2, padding=3)
    mask = np.isnan(ref_conv(xn, w, b, 2, 3))
    assert mask.sum() == 32 * 3 * 4  # the outputs whose window holds the NaN
    np.testing.assert_array_equal(np.isnan(yn), mask)


def test_blocked_batch_layout_for_small_planes():
    """Small planes and a big batch: the planner picks the image-interleaved layout
    (LeNet on 8x8 digits: the wide grid would drop half the computed columns)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((40, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 3, 5, 5)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    x2 = rng.standard_normal((40, 16, 6, 6)).astype(np.float32)
    w2 = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    for xx, ww, kw in ((x, w, dict(padding=2)), (x2, w2, {})):
        plan = fc.plan_conv(xx.shape, ww.shape, bias=True, **kw)
        assert (plan.algorithm, plan.options.get("layout")) == ("direct", "batch"), plan
        y = fc.conv2d(xx, ww, b if ww is w else None, **kw)
        assert_close(y, ref_conv(xx, ww, b if ww is w else None, 1, kw.get("padding", 0)))


def _run_pointwise(backend, x, w, b, g, nthreads, strips):
    N, C = x.shape[:2]
    Co = w.shape[0]
    out = np.full((N, Co) + x.shape[2:], np.nan, x.dtype)
    wp = blockgeom.pack_weight(w.reshape(Co, C // g, 1, 1, 1), g)
    bp = blockgeom.pack_bias(b, b is not None, Co, g, x.dtype)
    kernels.get(backend, "dblock", "conv_pointwise")(
        x.reshape(N, C, -1), wp, bp, out.reshape(N, Co, -1), g, strips, nthreads)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_kernel(backend, dtype):
    """1x1 layers through the packed-strip layout: strips spanning images (planes
    not a multiple of a strip), groups, Co not a multiple of 8, 1-D/2-D/3-D; every
    output written; threads and strips per job never change a bit."""
    rng = np.random.default_rng(13)
    cases = [((3, 20, 7, 7), (12, 20), 1), ((2, 6, 9, 11), (15, 2), 3),
             ((5, 3, 31), (17, 3), 1), ((2, 8, 3, 4, 5), (4, 8), 1), ((1, 70, 1, 1), (9, 70), 1)]
    for xs, (Co, cig), g in cases:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal((Co, cig) + (1,) * (len(xs) - 2)).astype(dtype)
        b = rng.standard_normal(Co).astype(dtype)
        expected = ref_conv(x, w, b, 1, 0, 1, g)
        outs = []
        for nt, strips in ((1, 1), (2, 1), (2, 3), (1, 8)):
            out = _run_pointwise(backend, x, w, b, g, nt, strips)
            assert not np.isnan(out).any(), "unwritten output elements"
            assert_close(out, expected, dtype)
            outs.append(out)
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    N=st.integers(1, 5),
    nd=st.integers(1, 3),
    C=st.integers(1, 9),
    Co=st.integers(1, 20),
    g=st.sampled_from([1, 2, 3]),
    L=st.integers(1, 60),
    strips=st.integers(1, 4),
    nt=st.sampled_from([1, 2]),
)
def test_pointwise_hypothesis(backend, N, nd, C, Co, g, L, strips, nt):
    """The pointwise layout over the argument space: planes of any length (strips
    across images, tails), groups, odd channel counts, strips per job, threads."""
    rng = np.random.default_rng(L * 31 + C)
    size = (L,) + (2,) * (nd - 1)
    x = rng.standard_normal((N, C * g) + size[::-1]).astype(np.float32)
    w = rng.standard_normal((Co * g, C) + (1,) * nd).astype(np.float32)
    b = rng.standard_normal(Co * g).astype(np.float32)
    out = _run_pointwise(backend, x, w, b, g, nt, strips)
    assert not np.isnan(out).any()
    assert_close(out, ref_conv(x, w, b, 1, 0, 1, g), np.float32)


def test_pointwise_layout_public_path():
    """The planner sends a 56^2 bottleneck 1x1 to the pointwise layout and a deep
    7^2 one to BLAS (im2col); public calls, a prepared weight, out= (also
    non-contiguous) and both backends give the reference; NaN stays in its pixel."""
    rng = np.random.default_rng(14)
    plan = fc.plan_conv((8, 256, 56, 56), (64, 256, 1, 1))
    assert (plan.algorithm, plan.options.get("layout")) == ("direct", "pointwise"), plan
    plan = fc.plan_conv((8, 512, 7, 7), (512, 512, 1, 1))
    assert plan.algorithm == "im2col", plan
    x = rng.standard_normal((3, 40, 13, 17)).astype(np.float32)
    w = rng.standard_normal((24, 40, 1, 1)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    expected = ref_conv(x, w, b)
    for backend in BACKENDS:
        y = fc.conv2d(x, w, b, algorithm="direct", backend=backend)
        p = fc.plan_conv(x.shape, w.shape, bias=True, algorithm="direct", backend=backend)
        assert p.options.get("layout") == "pointwise", p
        assert_close(y, expected)
    pw = fc.prepare_weight(w, x.shape, bias=True, algorithm="direct")
    np.testing.assert_array_equal(fc.conv2d(x, pw, b), fc.conv2d(x, w, b, algorithm="direct"))
    big = np.full((3, 24, 13, 34), np.nan, np.float32)
    fc.conv2d(x, w, b, algorithm="direct", out=big[:, :, :, ::2])
    assert_close(big[:, :, :, ::2], expected)
    xn = x.copy()
    xn[1, 5, 4, 9] = np.nan
    yn = fc.conv2d(xn, w, b, algorithm="direct")
    np.testing.assert_array_equal(np.isnan(yn), np.isnan(ref_conv(xn, w, b)))
    assert np.isnan(yn[1, :, 4, 9]).all() and np.isnan(yn).sum() == 24


def test_blocked_stage_is_bounded(monkeypatch):
    """The staging buffer stays under the cap: batch chunks shrink, and a single
    image too big for the cap is served by another kernel."""
    spec = conv_spec(2, (64, 3, 224, 224), (64, 3, 7, 7), None, 2, 3, 1, 1, "zeros",
                     np.dtype(np.float32), np.dtype(np.float32))
    secs, ws = direct_alg._blocked_estimate(spec, 2)
    assert np.isfinite(secs) and 0 < ws <= direct_alg.STAGE_CAP
    monkeypatch.setattr(direct_alg, "STAGE_CAP", 1 << 16)
    assert direct_alg._blocked_estimate(spec, 2)[0] == np.inf
    assert not direct_alg.use_blocked(spec)


# ---------------------------------------------------------------------------
# through the public API
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_public_depthwise_uses_its_kernel(backend, monkeypatch):
    spec, x, w, b = _depthwise_case(2, 2, 8, 1, (20, 30), (3, 3), 1, 1, 1, np.float32)
    calls = []
    real = kernels.get(backend, "depthwise", "conv_depthwise")
    monkeypatch.setitem(kernels._cache, (backend, "depthwise", "conv_depthwise"),
                        lambda *a: calls.append(1) or real(*a))
    y = fc.conv2d(x, w, b, padding=1, groups=8, backend=backend, algorithm="direct")
    assert calls == [1]
    assert_close(y, ref_conv(x, w, b, padding=1, groups=8))


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_matches_torch(backend):
    rng = np.random.default_rng(5)
    F = torch.nn.functional
    for conv, tconv, xs, ws, kw in [
        (fc.conv2d, F.conv2d, (2, 16, 28, 28), (32, 1, 3, 3), dict(padding=1, groups=16)),
        (fc.conv2d, F.conv2d, (1, 8, 31, 29), (8, 1, 5, 5), dict(padding=2, stride=2,
                                                                  groups=8)),
        (fc.conv1d, F.conv1d, (2, 6, 300), (12, 1, 7), dict(padding=3, dilation=2, groups=6)),
        (fc.conv3d, F.conv3d, (1, 4, 6, 9, 20), (4, 1, 3, 3, 3), dict(padding=1, groups=4)),
    ]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        got = conv(x, w, b, backend=backend, **kw)
        exp = tconv(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **kw)
        assert_close(got, exp.numpy().astype(np.float64))
