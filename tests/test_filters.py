"""fastconv.filters: formulas written out, SciPy's filters, separable factors."""

import math

import numpy as np
import pytest

import fastconv as fc
from fastconv import filters


def test_gabor_against_the_formula():
    h, w = 11, 9
    for theta, f, phi, sx, sy, amp in [(0.0, 0.25, 0.0, 2.0, 3.0, 1.0),
                                       (0.7, 0.1, 1.2, 3.5, 1.5, 2.5),
                                       (math.pi / 2, 0.3, -0.4, 1.0, 1.0, 0.5)]:
        k = filters.gabor((h, w), theta, f, phi, sx, sy, amplitude=amp)
        assert k.shape == (h, w)
        x0, y0 = (w - 1) / 2, (h - 1) / 2
        for y in range(h):
            for x in range(w):
                xp = (x - x0) * math.cos(theta) + (y - y0) * math.sin(theta)
                yp = -(x - x0) * math.sin(theta) + (y - y0) * math.cos(theta)
                e = amp * math.exp(-xp * xp / (2 * sx * sx) - yp * yp / (2 * sy * sy)) \
                    * math.cos(2 * math.pi * f * xp + phi)
                assert abs(k[y, x] - e) < 1e-12
    # the notes' (alpha, beta_x, beta_y, f, phi, x0, y0, tau) form, off-centre
    k = filters.gabor((7, 7), 0.3, 0.2, 0.5, 1.5, 2.0, center=(2.0, 4.0))
    bx, by, fn = 1 / (2 * 1.5**2), 1 / (2 * 2.0**2), 2 * math.pi * 0.2
    y, x = np.mgrid[0:7, 0:7]
    xp = (x - 2.0) * math.cos(0.3) + (y - 4.0) * math.sin(0.3)
    yp = -(x - 2.0) * math.sin(0.3) + (y - 4.0) * math.cos(0.3)
    np.testing.assert_allclose(k, np.exp(-bx * xp**2 - by * yp**2) * np.cos(fn * xp + 0.5),
                               atol=1e-12)


def test_gabor_orientation_selectivity_and_bank():
    # vertical stripes of the carrier's frequency excite theta=0, not theta=pi/2
    x = np.cos(2 * math.pi * 0.2 * np.arange(64))[None, :].repeat(64, 0)
    bank, params = filters.gabor_bank(21, n_orientations=4, frequencies=(0.2,), phases=(0.0,),
                                      return_params=True)
    assert bank.shape == (4, 1, 21, 21) and [p["theta"] for p in params] == \
        [0, math.pi / 4, math.pi / 2, 3 * math.pi / 4]
    np.testing.assert_allclose(np.linalg.norm(bank.reshape(4, -1), axis=1), 1.0)
    np.testing.assert_allclose(bank.reshape(4, -1).sum(axis=1), 0.0, atol=1e-12)
    r = np.abs(fc.conv2d(x[None, None], bank)).mean(axis=(0, 2, 3))
    assert r[0] > 5 * r[2] and r[0] > r[1]
    with pytest.raises(ValueError, match="frequency"):
        filters.gabor(5, frequency=0)
    assert filters.gabor(frequency=0.25).shape == (2 * math.ceil(3 * 0.56 / 0.25) + 1,) * 2


@pytest.mark.parametrize("order", [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 3)])
def test_gaussian_and_derivatives_match_scipy(order):
    import scipy.ndimage as ndi

    from fastconv.data import sample_image

    img = sample_image(48).astype(np.float64)
    k = filters.gaussian(1.5, order=order)
    e = ndi.gaussian_filter(img, 1.5, order=order, mode="reflect")
    np.testing.assert_allclose(fc.filter_nd(img, k, "reflect"), e, atol=1e-12)
    fac = filters.gaussian(1.5, order=order, separable=True)
    np.testing.assert_allclose(np.outer(*fac), k, atol=1e-15)
    if order == (0, 0):
        assert abs(k.sum() - 1) < 1e-12 and k.shape == (13, 13)


def test_log_matches_scipy_and_its_terms():
    import scipy.ndimage as ndi

    from fastconv.data import sample_image

    img = sample_image(40).astype(np.float64)
    k = filters.log(2.0)
    np.testing.assert_allclose(fc.filter_nd(img, k, "nearest"),
                               ndi.gaussian_laplace(img, 2.0, mode="nearest"), atol=1e-12)
    terms = filters.log(2.0, separable=True)
    np.testing.assert_allclose(sum(np.outer(a, b) for a, b in terms), k, atol=1e-15)


def test_derivative_kernels():
    ramp = np.tile(np.arange(8.0), (8, 1))  # increases to the right (x)
    for fn, s in ((filters.sobel, 4), (filters.scharr, 16), (filters.prewitt, 3)):
        kx, ky = fn("x"), fn("y")
        np.testing.assert_array_equal(ky, kx.T)
        np.testing.assert_array_equal(np.outer(*fn("x", separable=True)), kx)
        np.testing.assert_array_equal(np.outer(*fn("y", separable=True)), ky)
        gx = fc.conv2d(ramp[None, None], kx[None, None])[0, 0]
        gy = fc.conv2d(ramp[None, None], ky[None, None])[0, 0]
        np.testing.assert_allclose(gx, 2 * s)  # slope 1, difference over 2 px, weight s
        np.testing.assert_allclose(gy, 0)
    with pytest.raises(ValueError, match="direction"):
        filters.sobel("z")
    # matches scipy.ndimage.sobel up to orientation (axis=-1 is x)
    import scipy.ndimage as ndi

    from fastconv.data import sample_image

    img = sample_image(32).astype(np.float64)
    np.testing.assert_allclose(fc.filter_nd(img, filters.sobel("x")), ndi.sobel(img, axis=-1),
                               atol=1e-12)
    np.testing.assert_allclose(fc.filter_nd(img, filters.prewitt("y")),
                               ndi.prewitt(img, axis=0), atol=1e-12)


def test_laplacian_box_difference():
    import scipy.ndimage as ndi

    q = np.arange(36.0).reshape(6, 6) ** 2 / 7
    np.testing.assert_allclose(fc.filter_nd(q, filters.laplacian(4)), ndi.laplace(q),
                               atol=1e-12)
    assert filters.laplacian(8).sum() == 0 and filters.laplacian(8)[1, 1] == -8
    with pytest.raises(ValueError, match="neighbours"):
        filters.laplacian(6)
    b = filters.box(5)
    assert b.shape == (5, 5) and abs(b.sum() - 1) < 1e-15
    np.testing.assert_allclose(fc.filter_nd(q, filters.box(3)), ndi.uniform_filter(q, 3),
                               atol=1e-12)
    np.testing.assert_array_equal(_outer(filters.box((2, 3, 4), separable=True)),
                                  filters.box((2, 3, 4)))
    d = filters.difference(ndim=1)
    np.testing.assert_array_equal(fc.conv1d(np.array([[1.0, 4.0, 9.0]]), d[None, None])[0],
                                  [3.0, 5.0])
    assert filters.difference(axis=0).shape == (2, 1)
    assert filters.difference(axis=-1, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="axis"):
        filters.difference(axis=2)


def _outer(fs):
    k = fs[0]
    for f in fs[1:]:
        k = np.multiply.outer(k, f)
    return k


def test_kernels_plug_into_conv2d_and_separable_path():
    from fastconv.data import sample_image

    img = sample_image(64)[None, None]
    g = filters.gaussian(2.0, dtype=np.float32)
    y = fc.conv2d(img, g[None, None], padding="same")
    assert y.dtype == np.float32 and y.shape == img.shape
    big = sample_image(512)
    assert fc.choose_method(big, filters.gaussian(5.0), "same") == "separable"  # 41x41
    assert fc.separable_factors(filters.sobel("x")) is not None
    assert fc.separable_factors(filters.laplacian()) is None


def test_demo_gabor_step(tmp_path, capsys, monkeypatch):
    import sys

    from fastconv.__main__ import gabor_demo
    from fastconv.data import sample_image

    path = gabor_demo(sample_image(64), str(tmp_path / "gabor.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "saved the response grid to" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    assert gabor_demo(sample_image(64), str(tmp_path / "none.png")) is None
    assert "matplotlib is not installed: skipping the PNG" in capsys.readouterr().out
    assert not (tmp_path / "none.png").exists()
