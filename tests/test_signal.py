"""convolve / correlate / filter_nd against SciPy, the NumPy reference and the plan."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import _fft
from fastconv import signal as S
from fastconv.reference import signal as ref

rng = np.random.default_rng(6)
METHODS = ["direct", "fft", "auto"]
DTYPES = [np.float64, np.float32, np.complex128, np.complex64, np.int32]
TOL = {  # (rtol, atol relative to the reference's largest magnitude), per result dtype
    np.dtype(np.float64): 1e-10, np.dtype(np.complex128): 1e-10,
    np.dtype(np.float32): 2e-5, np.dtype(np.complex64): 2e-5,
}


def _rand(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    a = rng.standard_normal(shape)
    if dtype.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def _close(y, e):
    assert y.shape == e.shape, (y.shape, e.shape)
    assert y.dtype == e.dtype, (y.dtype, e.dtype)
    if y.dtype.kind in "iu":
        np.testing.assert_array_equal(y, e)
        return
    scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
    tol = TOL[y.dtype]
    np.testing.assert_allclose(y, e, rtol=tol, atol=tol * scale)


@st.composite
def signal_cases(draw):
    nd = draw(st.integers(1, 3))
    mx = {1: 14, 2: 7, 3: 4}[nd]
    s1 = tuple(draw(st.integers(1, mx)) for _ in range(nd))
    s2 = tuple(draw(st.integers(1, mx)) for _ in range(nd))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    dt1 = draw(st.sampled_from(DTYPES))
    dt2 = draw(st.sampled_from(DTYPES))
    return s1, s2, mode, dt1, dt2


@given(signal_cases(), st.sampled_from(METHODS), st.booleans())
def test_equals_scipy(case, method, corr):
    import scipy.signal as ss

    s1, s2, mode, dt1, dt2 = case
    a, b = _rand(s1, dt1), _rand(s2, dt2)
    ours = fc.correlate if corr else fc.convolve
    theirs = ss.correlate if corr else ss.convolve
    try:
        e = theirs(a, b, mode, method="direct")
    except ValueError as err:
        with pytest.raises(ValueError, match="one must be at least as large"):
            ours(a, b, mode, method)
        assert "at least as large" in str(err)
        return
    _close(ours(a, b, mode, method), e)
    # the float64 reference agrees too (and stays independent of SciPy)
    r = (ref.correlate if corr else ref.convolve)(a, b, mode)
    np.testing.assert_allclose(e.astype(r.dtype), r, rtol=1e-4, atol=1e-4 * max(1, np.abs(r).max()))


@pytest.mark.parametrize("s1,s2", [(1000, 5), (5, 1000), (17, 17), (1, 9), (300, 64)])
@pytest.mark.parametrize("dt", [np.float64, np.float32, np.int32, np.complex64])
def test_small_1d_direct_both_paths(s1, s2, dt):
    """Small 1-D direct convolutions run through ``numpy.convolve`` (less start-up
    than the layer kernels): both paths equal SciPy in every mode, for convolve and
    correlate, NaN included."""
    import scipy.signal as ss

    a, b = _rand(s1, dt), _rand(s2, dt)
    if np.dtype(dt).kind == "f":
        a[s1 // 2] = np.nan
    for corr in (False, True):
        ours = fc.correlate if corr else fc.convolve
        theirs = ss.correlate if corr else ss.convolve
        for mode in ("full", "same", "valid"):
            try:
                e = theirs(a, b, mode, method="direct")
            except ValueError:
                continue  # "valid" with neither input at least as large as the other
            old = S._NP_CONVOLVE_MACS
            try:
                fast = ours(a, b, mode, "direct")
                S._NP_CONVOLVE_MACS = -1  # the layer kernels' path
                layer = ours(a, b, mode, "direct")
            finally:
                S._NP_CONVOLVE_MACS = old
            for y in (fast, layer):
                np.testing.assert_array_equal(np.isnan(y), np.isnan(e))
                _close(np.nan_to_num(y), np.nan_to_num(e))


def test_larger_cases_all_methods():
    import scipy.signal as ss

    for s1, s2 in [((40, 33), (7, 5)), ((9, 8, 7), (3, 4, 2)), ((300,), (41,)), ((6, 5), (11, 12))]:
        a, b = _rand(s1, np.float64), _rand(s2, np.float64)
        for mode in ("full", "same", "valid"):
            if mode == "valid" and not (all(x >= y for x, y in zip(s1, s2, strict=True))
                                        or all(y >= x for x, y in zip(s1, s2, strict=True))):
                continue
            e = ss.convolve(a, b, mode)
            for m in METHODS:
                _close(fc.convolve(a, b, mode, m), e)


def test_more_than_three_axes_direct_and_fft():
    import scipy.signal as ss

    a, b = _rand((4, 3, 5, 4), np.complex128), _rand((2, 3, 2, 3), np.float64)
    for mode in ("full", "same", "valid"):
        e = ss.convolve(a, b, mode, method="direct")
        for m in ("direct", "fft"):
            _close(fc.convolve(a, b, mode, m), e)
            _close(fc.correlate(a, b, mode, m), ss.correlate(a, b, mode, method="direct"))


def test_separable_method_and_auto_detection():
    import scipy.signal as ss

    g = np.exp(-0.5 * np.linspace(-2, 2, 9) ** 2)
    k = np.outer(g, [1.0, 0.0, -1.0, 2.0])
    a = _rand((37, 29), np.float64)
    for mode in ("full", "same", "valid"):
        e = ss.convolve(a, k, mode)
        _close(fc.convolve(a, k, mode, "separable"), e)
        _close(fc.correlate(a, k, mode, "separable"), ss.correlate(a, k, mode))
    # the separable operand may be in1 ("full"/"same": the result does not care)
    _close(fc.convolve(k, a, "full", "separable"), ss.convolve(k, a, "full"))
    _close(fc.convolve(k, a, "same", "separable"), ss.convolve(k, a, "same"))
    # 3-D and complex factors
    k3 = np.multiply.outer(np.multiply.outer(g[:5], [1, 2j, 1]), [0.5, -1.0])
    a3 = _rand((9, 8, 7), np.complex128)
    _close(fc.convolve(a3, k3, "same", "separable"), ss.convolve(a3, k3, "same"))
    # auto sees the rank-1 kernel
    big = _rand((512, 512), np.float64)
    g31 = np.exp(-0.5 * np.linspace(-3, 3, 31) ** 2)
    assert fc.choose_method(big, np.outer(g31, g31), "same") == "separable"
    fc.convolve(big, np.outer(g31, g31), "same")
    assert S.last_plan().method == "separable"
    assert fc.choose_method(big, _rand((31, 31), np.float64), "same") == "fft"
    with pytest.raises(ValueError, match="method='separable' cannot serve"):
        fc.convolve(a, _rand((3, 3), np.float64), method="separable")
    with pytest.raises(ValueError, match="at least 2 convolution axes"):
        fc.convolve(_rand(10, np.float64), _rand(3, np.float64), method="separable")


def test_separable_factors():
    f = fc.separable_factors(np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]))
    np.testing.assert_allclose(np.outer(*f), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], atol=1e-14)
    assert fc.separable_factors(np.eye(3)) is None
    assert fc.separable_factors(np.outer([1.0, 2.0], [3.0, 4.0]) + [[0, 1e-6], [0, 0]]) is None
    assert fc.separable_factors(np.array([[1.0, np.nan], [1.0, 1.0]])) is None
    z = fc.separable_factors(np.zeros((2, 3)))
    assert [v.shape for v in z] == [(2,), (3,)]


@pytest.mark.parametrize("axes", [0, 1, (1,), (0, 1), (1, 2), (-1,), (0, 2)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_axes_like_fftconvolve(axes, mode):
    import scipy.signal as ss

    a, b = _rand((3, 20, 1), np.float64), _rand((1, 5, 4), np.complex128)
    try:
        e = ss.fftconvolve(a, b, mode, axes=axes)
    except ValueError:
        for m in METHODS:
            with pytest.raises(ValueError):
                fc.convolve(a, b, mode, m, axes=axes)
        return
    for m in METHODS:
        _close(fc.convolve(a, b, mode, m, axes=axes), e)


def test_axes_errors():
    a, b = np.ones((3, 4)), np.ones((2, 4))
    with pytest.raises(ValueError, match="incompatible shapes"):
        fc.convolve(a, b, axes=1)
    with pytest.raises(ValueError, match="axes cannot be empty"):
        fc.convolve(a, b, axes=())
    with pytest.raises(ValueError, match="unique"):
        fc.convolve(a, b, axes=(0, 0))
    with pytest.raises(ValueError, match="out of range"):
        fc.convolve(a, b, axes=2)


def test_errors_and_edge_cases():
    with pytest.raises(ValueError, match="same dimensionality"):
        fc.convolve(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="mode must be one of"):
        fc.convolve(np.ones(3), np.ones(2), mode="wrong")
    with pytest.raises(ValueError, match="method must be one of"):
        fc.convolve(np.ones(3), np.ones(2), method="winograd")
    with pytest.raises(ValueError, match="at least as large"):
        fc.convolve(np.ones((3, 5)), np.ones((5, 3)), "valid")
    with pytest.raises(TypeError, match="in1 must be a numeric array"):
        fc.convolve(np.array(["a"]), np.ones(1))
    assert fc.convolve(3.0, 2.0) == 6.0
    assert fc.correlate(np.array(1j), np.array(1j)) == 1.0
    assert fc.convolve(np.ones(0), np.ones(3)).shape == (0,)
    # "valid" swaps the inputs when in2 is the larger, like SciPy
    a, b = _rand(4, np.float64), _rand(9, np.float64)
    import scipy.signal as ss

    _close(fc.convolve(a, b, "valid"), ss.convolve(a, b, "valid"))
    _close(fc.correlate(a, b, "valid"), ss.correlate(a, b, "valid"))


def test_layouts_inputs_untouched_and_dtypes():
    import scipy.signal as ss

    a = _rand((20, 30), np.float64)
    b = _rand((5, 4), np.float64)
    e = ss.convolve(a, b, "same")
    variants = [np.asfortranarray(a), a.astype(a.dtype.newbyteorder(">")), a[::-1][::-1]]
    ro = a.copy()
    ro.flags.writeable = False
    variants.append(ro)
    for v in variants:
        for m in METHODS:
            _close(fc.convolve(v, b[:, ::-1][:, ::-1], "same", m), e)
    strided = np.zeros((40, 60))
    strided[::2, ::2] = a
    _close(fc.convolve(strided[::2, ::2], b, "same"), e)
    a0, b0 = a.copy(), b.copy()
    fc.convolve(a, b, method="fft")
    fc.convolve(a, b, method="direct")
    assert (a == a0).all() and (b == b0).all()
    # float16 computed in float32, returned as float16 (SciPy's result type)
    y = fc.convolve(a.astype(np.float16), b.astype(np.float16), "same")
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float64), e, rtol=2e-2, atol=2e-2 * np.abs(e).max())


def test_nan_stays_local_with_auto():
    a = np.zeros((64, 64))
    a[10, 10] = np.nan
    b = _rand((31, 31), np.float64)
    assert S.plan_signal(a.shape, b.shape, "same").method == "fft"
    y = fc.convolve(a, b, "same")
    assert S.last_plan().method == "direct"
    assert np.isnan(y[10, 10]) and not np.isnan(y[40:, 40:]).any()
    assert fc.choose_method(a, b, "same") == "direct"
    assert np.isnan(fc.convolve(a, b, "same", "fft")).all()  # as SciPy's fft


def test_overlap_add_matches_reference():
    import scipy.signal as ss

    x, h = _rand(5000, np.float64), _rand(101, np.float64)
    for mode in ("full", "same", "valid"):
        sp = S._spec_from_shapes(x.shape, h.shape, mode, None, np.float64)
        e = ss.convolve(x, h, mode, method="direct")
        for blk in (100, 157, 1024):
            _close(_fft.oa_conv_window(x, h, sp.starts, sp.sizes, (blk,)), e)
    # 2-D overlap-add (blocks on one or both axes), complex
    x2, h2 = _rand((70, 60), np.complex128), _rand((7, 5), np.complex128)
    for mode in ("full", "same", "valid"):
        sp = S._spec_from_shapes(x2.shape, h2.shape, mode, None, np.complex128)
        e = ss.convolve(x2, h2, mode, method="direct")
        for blocks in ((9, 0), (0, 16), (12, 20)):
            _close(_fft.oa_conv_window(x2, h2, sp.starts, sp.sizes, blocks), e)
    # the planner uses it for a long 1-D signal and a short filter
    p = fc.plan_signal((100_000,), (1001,), "same")
    assert p.method == "fft" and p.blocks[0] > 0, p
    xl, hl = _rand(100_000, np.float32), _rand(1001, np.float32)
    _close(fc.convolve(xl, hl, "same"), ss.oaconvolve(xl, hl, "same").astype(np.float32))


def test_fft_window_length():
    # "valid" needs only the longer length; "full" la + lb - 1
    assert _fft.window_fft_len(100, 10, 9, 91) == _fft.fast_len(100)
    assert _fft.window_fft_len(100, 10, 0, 109) == _fft.fast_len(109)
    assert _fft.window_fft_len(100, 11, 5, 100) == _fft.fast_len(105)


def test_plan_is_pure_and_auto_runs_it():
    assert fc.plan_signal((512, 512), (3, 3), "same").method == "direct"
    assert fc.plan_signal((512, 512), (31, 31), "same").method == "fft"
    assert fc.plan_signal((512, 512), (31, 31), "same", separable=True).method == "separable"
    assert fc.plan_signal((8,), (3,), method="fft").method == "fft"
    p1 = fc.plan_signal((64, 64), (5, 5), "valid")
    p2 = fc.plan_signal((64, 64), (5, 5), "valid")
    assert p1 == p2 and p1.reason.endswith(".")
    for s1, s2 in [((64, 64), (3, 3)), ((200, 200), (25, 25)), ((3000,), (5,)), ((20000,), (900,))]:
        a, b = _rand(s1, np.float64), _rand(s2, np.float64)
        fc.convolve(a, b, "same")
        assert S.last_plan().method == fc.plan_signal(s1, s2, "same").method
    with pytest.raises(ValueError, match="mode must be one of"):
        fc.plan_signal((3,), (2,), "nope")
    best, times = fc.choose_method(_rand((40, 40), np.float64), np.ones((3, 3)), measure=True)
    assert set(times) == {"direct", "fft", "separable"} and best in times
    assert all(t > 0 for t in times.values())


MODES_ND = ["reflect", "nearest", "wrap", "mirror", "constant", "grid-wrap", "grid-mirror",
            "grid-constant"]


@pytest.mark.parametrize("mode", MODES_ND)
def test_filter_nd_matches_ndimage(mode):
    import scipy.ndimage as ndi

    for shape, ks in [((7, 9), (3, 4)), ((5,), (4,)), ((6, 5, 4), (3, 2, 3)), ((3, 4), (5, 7))]:
        x = _rand(shape, np.float64)
        w = _rand(ks, np.float64)
        for conv in (False, True):
            for origin in (0, -1, 1):
                f = ndi.convolve if conv else ndi.correlate
                try:
                    e = f(x, w, mode=mode, cval=0.7, origin=origin)
                except ValueError:
                    with pytest.raises(ValueError, match="invalid origin"):
                        fc.filter_nd(x, w, mode, 0.7, origin, convolve=conv)
                    continue
                for m in ("direct", "fft"):
                    y = fc.filter_nd(x, w, mode, 0.7, origin, convolve=conv, method=m)
                    _close(y, e)
                if mode in ("reflect", "mirror", "nearest", "wrap", "constant"):
                    r = ref.filter_nd(x, w, mode, 0.7, origin, convolve=conv)
                    np.testing.assert_allclose(e, r, atol=1e-10)


def test_filter_nd_dtypes_and_errors():
    import scipy.ndimage as ndi

    xi = rng.integers(0, 100, (8, 8)).astype(np.int32)
    w = _rand((3, 3), np.float64)
    y = fc.filter_nd(xi, w)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, ndi.correlate(xi, w))
    xf = _rand((8, 8), np.float32)
    assert fc.filter_nd(xf, w).dtype == np.float32
    xc = _rand((8, 8), np.complex128)
    wc = _rand((3, 2), np.complex128)
    for x_ in (xc, _rand((8, 8), np.float64)):
        for conv in (False, True):
            f = ndi.convolve if conv else ndi.correlate
            _close(fc.filter_nd(x_, wc, "wrap", convolve=conv), f(x_, wc, mode="wrap"))
    with pytest.raises(ValueError, match="same number of dimensions"):
        fc.filter_nd(xf, np.ones(3))
    with pytest.raises(ValueError, match="mode must be one of"):
        fc.filter_nd(xf, w, mode="zeros")
    with pytest.raises(ValueError, match="invalid origin"):
        fc.filter_nd(xf, w, origin=2)


def test_direct_macs_count_brute_force():
    for x, y in [(7, 3), (3, 7), (10, 2), (2, 5), (5, 5), (100, 31), (31, 100)]:
        for mode in ("full", "same", "valid"):
            try:
                sp = S._spec_from_shapes((x,), (y,), mode, None, np.float64)
            except ValueError:
                continue
            st, n = sp.starts[0], sp.sizes[0]
            bf = sum(1 for f in range(st, st + n) for k in range(sp.lb[0]) if 0 <= f - k < sp.la[0])
            assert S._macs_direct(sp.la, sp.lb, sp.starts, sp.sizes, 1) == bf


@pytest.mark.parametrize("method", ["direct", "fft", "separable"])
def test_bit_identical_for_any_thread_count(method):
    a = _rand((96, 80), np.float64)
    g = np.exp(-0.5 * np.linspace(-2, 2, 9) ** 2)
    b = np.outer(g, g[::-1] + 1.0) if method == "separable" else _rand((9, 9), np.float64)
    out = []
    for n in (1, 2):
        with fc.num_threads(n):
            out.append(fc.convolve(a, b, "same", method))
    assert np.array_equal(out[0], out[1])
