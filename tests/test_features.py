"""kmeans_filters: reproducible, recovers planted structure, whitening, options."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.data import sample_image
from fastconv.features import extract_patches, kmeans_filters


def _images(n=6, size=48):
    return np.stack([sample_image(size, seed=s) for s in range(n)])


def test_reproducible_under_a_seed():
    imgs = _images()
    a = kmeans_filters(imgs, 12, 5, n_patches=3000, seed=3)
    b = kmeans_filters(imgs, 12, 5, n_patches=3000, seed=3)
    c = kmeans_filters(imgs, 12, 5, n_patches=3000, seed=4)
    assert a.shape == (12, 1, 5, 5) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    ka = kmeans_filters(imgs, 8, 4, n_patches=2000, seed=np.random.default_rng(5),
                        algorithm="kmeans")
    kb = kmeans_filters(imgs, 8, 4, n_patches=2000, seed=np.random.default_rng(5),
                        algorithm="kmeans")
    assert np.array_equal(ka, kb)


@pytest.mark.parametrize("algorithm", ["spherical", "kmeans"])
def test_recovers_planted_patterns(algorithm):
    # images tiled with 4 distinct 4x4 patterns (+ noise): the centroids are them
    rng = np.random.default_rng(0)
    pats = rng.standard_normal((4, 4, 4))
    pats -= pats.mean(axis=(1, 2), keepdims=True)
    pats /= pats.std(axis=(1, 2), keepdims=True)
    tiles = pats[rng.integers(0, 4, (20, 8, 8))]  # (N, 8, 8, 4, 4)
    imgs = tiles.transpose(0, 1, 3, 2, 4).reshape(20, 32, 32)
    imgs = imgs + 0.05 * rng.standard_normal(imgs.shape)
    # patches aligned to the tiles: sample on the tile grid by using 4x4 blocks as images
    blocks = tiles.reshape(-1, 4, 4) + 0.05 * rng.standard_normal((20 * 64, 4, 4))
    w, info = kmeans_filters(blocks, 6, 4, n_patches=2000, whiten=False, seed=1,
                             algorithm=algorithm, n_iter=20, return_info=True, dtype=np.float64)
    D = info["centroids"]
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    P = pats.reshape(4, -1) - info["mean"]  # centroids live in mean-removed patch space
    P = P / np.linalg.norm(P, axis=1, keepdims=True)
    cos = np.abs(D @ P.T)
    assert (cos.max(axis=0) > 0.95).all(), cos  # every pattern has a centroid
    assert info["counts"].sum() == 2000
    obj = info["objective"]
    if algorithm == "kmeans":
        assert obj[-1] <= obj[0]
    assert imgs.shape == (20, 32, 32)


def test_whitening_and_filters_relation():
    imgs = _images(4)
    w, info = kmeans_filters(imgs, 6, 3, n_patches=4000, seed=0, return_info=True,
                             dtype=np.float64)
    W = info["whitening"]
    np.testing.assert_allclose(W, W.T, atol=1e-12)
    # whitened normalised patches have (regularised) identity covariance
    p = extract_patches(imgs, 3, 4000, seed=1).reshape(4000, -1).astype(np.float64)
    p -= p.mean(axis=1, keepdims=True)
    p /= np.sqrt(p.var(axis=1, keepdims=True) + info["eps_norm"])
    z = (p - info["mean"]) @ W
    cov = z.T @ z / len(z)
    assert np.abs(np.diag(cov)).max() < 1.2 and np.abs(cov - np.diag(np.diag(cov))).max() < 0.2
    # a kernel applied to a normalised patch = centroid . whitened patch
    np.testing.assert_allclose((p - info["mean"]) @ w.reshape(6, -1).T,
                               z @ info["centroids"].T, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(info["centroids"], axis=1), 1.0, atol=1e-12)
    # usable as a conv2d weight
    y = fc.conv2d(imgs[:1, None], w, padding=1)
    assert y.shape == (1, 6, 48, 48)


def test_multichannel_progress_and_errors(capsys):
    rgb = np.random.default_rng(2).random((3, 3, 20, 20))
    w = kmeans_filters(rgb, 5, (3, 4), n_patches=500, progress=True)
    assert w.shape == (5, 3, 3, 4)
    with pytest.raises(ValueError, match="algorithm"):
        kmeans_filters(rgb, 5, 3, algorithm="em")
    with pytest.raises(ValueError, match="n_patches"):
        kmeans_filters(rgb, 50, 3, n_patches=10)
    with pytest.raises(ValueError, match="larger than the images"):
        kmeans_filters(rgb, 5, 30)
    with pytest.raises(ValueError, match="images must be"):
        kmeans_filters(np.zeros((1, 1, 1, 4, 4)), 2, 2)
    with pytest.raises(TypeError, match="real numeric"):
        kmeans_filters(np.zeros((4, 4), complex), 2, 2)
    assert extract_patches(np.arange(16.0).reshape(4, 4), 4, 3).tolist() == \
        [[np.arange(16.0).reshape(4, 4).tolist()]] * 3


def test_assignment_is_blocked(monkeypatch):
    import fastconv.features as feat

    imgs = _images(3)
    a = kmeans_filters(imgs, 7, 4, n_patches=1500, seed=2, dtype=np.float64)
    b = kmeans_filters(imgs, 7, 4, n_patches=1500, seed=2, dtype=np.float64, algorithm="kmeans")
    monkeypatch.setattr(feat, "_ASSIGN_BLOCK", 50)  # 7 patches per block
    np.testing.assert_allclose(kmeans_filters(imgs, 7, 4, n_patches=1500, seed=2,
                                              dtype=np.float64), a, atol=1e-10)
    np.testing.assert_allclose(kmeans_filters(imgs, 7, 4, n_patches=1500, seed=2,
                                              dtype=np.float64, algorithm="kmeans"), b, atol=1e-10)
