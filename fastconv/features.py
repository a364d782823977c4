"""Learned convolution kernels: k-means on normalised, whitened image patches.

The single-layer recipe of Coates, Lee & Ng (2011), *An Analysis of Single-Layer
Networks in Unsupervised Feature Learning*, as presented in the notes: sample
random patches, normalise each patch's brightness and contrast, ZCA-whiten,
run (spherical) k-means; the centroids, mapped back through the whitening, are
convolution kernels.  Everything is vectorised NumPy (BLAS matrix products);
a seed makes the result reproducible.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kmeans_filters", "extract_patches"]


def extract_patches(images, size, n_patches: int, *, seed=0) -> np.ndarray:
    """``n_patches`` random ``size x size`` patches, shape ``(n_patches, C, size, size)``.

    ``images``: ``(H, W)``, ``(N, H, W)`` or ``(N, C, H, W)``; positions are uniform
    over every image and every valid top-left corner; one fancy-indexing gather.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.features import extract_patches
    >>> extract_patches(np.zeros((2, 10, 10)), 3, 5).shape
    (5, 1, 3, 3)
    """
    from numpy.lib.stride_tricks import sliding_window_view

    imgs = _as_images(images)
    kh, kw = _size2(size)
    N, C, H, W = imgs.shape
    if kh > H or kw > W:
        raise ValueError(f"size {(kh, kw)} is larger than the images ({H}, {W})")
    if int(n_patches) < 1:
        raise ValueError(f"n_patches must be >= 1, got {n_patches!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = rng.integers(0, N, n_patches)
    y = rng.integers(0, H - kh + 1, n_patches)
    x = rng.integers(0, W - kw + 1, n_patches)
    win = sliding_window_view(imgs, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    return np.ascontiguousarray(win[n, :, y, x])  # (P, C, kh, kw)


def _as_images(images):
    a = np.asarray(images)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"images must be a real numeric array, got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[:, None]
    elif a.ndim != 4:
        raise ValueError(f"images must be (H, W), (N, H, W) or (N, C, H, W), got shape {a.shape}")
    return a


def _size2(size):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or any(s < 1 for s in size):
        raise ValueError(f"size must be a positive int or (kh, kw), got {size!r}")
    return size


def kmeans_filters(images, n_filters: int, size, n_patches: int = 10000, *,
                   algorithm: str = "spherical", n_iter: int = 10, whiten: bool = True,
                   eps_norm: float | None = None, eps_zca: float = 0.1, seed=0,
                   progress: bool | None = None, return_info: bool = False,
                   dtype=np.float32):
    """Learn ``n_filters`` convolution kernels with k-means (Coates et al. 2011).

    1. ``n_patches`` random patches of ``size`` (all channels);
    2. per patch: subtract its mean, divide by ``sqrt(var + eps_norm)``;
    3. ZCA whitening ``W = V (E + eps_zca)^-1/2 V^T`` of the patch covariance
       (``whiten=False`` skips it);
    4. k-means, seeded with k-means++: ``"spherical"`` (Coates & Ng 2012: unit-norm centroids, each
       patch assigned to the centroid of largest ``|dot|``, centroid update
       ``D <- sum(s x) + D`` then renormalised, so no cluster dies) or
       ``"kmeans"`` (Lloyd's algorithm, squared distances; empty clusters are
       re-seeded with random patches);
    5. kernel ``k = W d`` for each centroid ``d``: correlating a normalised,
       mean-subtracted patch with ``k`` equals ``d . (whitened patch)``.

    Parameters
    ----------
    images : array_like, shape (N, H, W), (N, C, H, W) or (H, W)
    n_filters : int
    size : int or (int, int)
        Kernel height and width.
    n_patches : int
    algorithm : {"spherical", "kmeans"}
    n_iter : int
        k-means iterations.
    whiten : bool
    eps_norm : float, optional
        Contrast-normalisation regulariser; default Coates et al.'s 10 for
        0..255 pixel values, rescaled to the data's range:
        ``10 * (ptp(images) / 255)**2``.
    eps_zca : float
        Whitening regulariser (Coates et al.: 0.1 on normalised patches).
    seed : int or numpy.random.Generator
        Same seed, same data -> identical filters.
    progress : bool, optional
        Show a tqdm progress bar over the iterations (tqdm is imported only
        then; without tqdm installed no bar is shown).  ``None``: only for long
        runs (``n_patches * n_filters * n_iter > 2e9``).
    return_info : bool
        Also return a dict: ``centroids`` (whitened space, ``(n_filters, D)``),
        ``whitening`` (``W``), ``mean`` (patch-space mean removed before
        whitening), ``eps_norm``, ``objective`` (per iteration: mean of the
        assigned ``|dot|`` for spherical, mean squared distance for kmeans),
        ``counts`` (patches per cluster).
    dtype : dtype-like
        dtype of the returned kernels.

    Returns
    -------
    ndarray, shape (n_filters, C, kh, kw)
        The weight of a ``conv2d`` layer (apply it to contrast-normalised inputs).

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv.features import kmeans_filters
    >>> from fastconv.data import sample_image
    >>> imgs = np.stack([sample_image(64, seed=s) for s in range(4)])
    >>> w = kmeans_filters(imgs, 16, 5, n_patches=2000, seed=1)
    >>> w.shape
    (16, 1, 5, 5)
    >>> bool((w == kmeans_filters(imgs, 16, 5, n_patches=2000, seed=1)).all())
    True
    """
    if algorithm not in ("spherical", "kmeans"):
        raise ValueError(f"algorithm must be 'spherical' or 'kmeans', got {algorithm!r}")
    k = int(n_filters)
    if k < 1:
        raise ValueError(f"n_filters must be >= 1, got {n_filters!r}")
    if int(n_iter) < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter!r}")
    if int(n_patches) < k:
        raise ValueError(f"n_patches={n_patches} must be at least n_filters={k}")
    imgs = _as_images(images)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    patches = extract_patches(imgs, size, int(n_patches), seed=rng)
    P, C, kh, kw = patches.shape
    X = patches.reshape(P, -1).astype(np.float64)
    # 2. brightness / contrast normalisation
    if eps_norm is None:
        rngv = float(np.ptp(imgs)) if imgs.size else 0.0
        eps_norm = 10.0 * (rngv / 255.0) ** 2 if rngv > 0 else 1e-8
    X -= X.mean(axis=1, keepdims=True)
    X /= np.sqrt(X.var(axis=1, keepdims=True) + eps_norm)
    # 3. ZCA whitening
    mu = X.mean(axis=0)
    Xc = X - mu
    if whiten:
        cov = Xc.T @ Xc / P
        e, V = np.linalg.eigh(cov)
        Wz = (V * (1.0 / np.sqrt(np.maximum(e, 0) + eps_zca))) @ V.T
        Xw = Xc @ Wz
    else:
        Wz = np.eye(X.shape[1])
        Xw = Xc
    # 4. k-means
    bar = _progress(progress, P * k * int(n_iter), int(n_iter))
    objective = []
    D = _init_plusplus(Xw, k, rng, spherical=algorithm == "spherical")
    if algorithm == "spherical":
        D /= np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
        for _ in bar:
            idx, s = _assign(Xw, D, spherical=True)
            objective.append(float(np.mean(np.abs(s))))
            D = _scatter_sum(idx, s[:, None] * Xw, k) + D
            D /= np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    else:
        for _ in bar:
            idx, d2 = _assign(Xw, D, spherical=False)
            objective.append(float(np.mean(d2)))
            counts = np.bincount(idx, minlength=k)
            sums = _scatter_sum(idx, Xw, k)
            empty = counts == 0
            D = sums / np.maximum(counts, 1)[:, None]
            if empty.any():  # re-seed dead clusters with random patches
                D[empty] = Xw[rng.choice(P, int(empty.sum()), replace=False)]
    counts = np.bincount(idx, minlength=k)
    # 5. kernels in (normalised) patch space
    filt = (D @ Wz).reshape(k, C, kh, kw).astype(dtype)
    if not return_info:
        return filt
    return filt, dict(centroids=D, whitening=Wz, mean=mu, eps_norm=eps_norm,
                      objective=objective, counts=counts)


def _init_plusplus(X, k, rng, spherical):
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each new centroid is a
    patch drawn with probability proportional to its squared distance to the
    nearest centroid so far (spherical: ``1 - cos^2``, sign-blind like the
    assignment).  Seeded; one pass over the patches per centroid."""
    P = X.shape[0]
    if spherical:
        nrm = np.linalg.norm(X, axis=1)
        Xn = X / np.maximum(nrm, 1e-12)[:, None]
    D = np.empty((k, X.shape[1]))
    D[0] = X[rng.integers(P)]
    best = np.full(P, np.inf)
    for j in range(1, k):
        if spherical:
            c = D[j - 1] / max(np.linalg.norm(D[j - 1]), 1e-12)
            d = 1.0 - (Xn @ c) ** 2
        else:
            diff = X - D[j - 1]
            d = np.einsum("ij,ij->i", diff, diff)
        np.minimum(best, np.maximum(d, 0), out=best)
        tot = best.sum()
        i = rng.choice(P, p=best / tot) if tot > 0 else rng.integers(P)
        D[j] = X[i]
    return D


#: Elements of the (patches x clusters) score block computed at once.
_ASSIGN_BLOCK = 2**22


def _assign(X, D, spherical):
    """Cluster of every row of ``X``, by blocks of rows (the score matrix of all
    patches against all centroids is never held at once).

    spherical: (argmax |x . d|, that dot); else (argmin |x - d|^2, that distance).
    """
    P, k = X.shape[0], D.shape[0]
    rows = max(1, _ASSIGN_BLOCK // max(k, 1))
    idx = np.empty(P, np.int64)
    val = np.empty(P)
    d2n = None if spherical else np.einsum("ij,ij->i", D, D)
    for r0 in range(0, P, rows):
        Xb = X[r0:r0 + rows]
        S = Xb @ D.T
        if spherical:
            i = np.argmax(np.abs(S), axis=1)
            v = S[np.arange(len(Xb)), i]
        else:
            S *= -2
            S += d2n[None, :]
            S += np.einsum("ij,ij->i", Xb, Xb)[:, None]
            i = np.argmin(S, axis=1)
            v = np.maximum(S[np.arange(len(Xb)), i], 0)
        idx[r0:r0 + rows] = i
        val[r0:r0 + rows] = v
    return idx, val


def _scatter_sum(idx, values, k):
    """Row sums of ``values`` grouped by ``idx`` (k groups): one sparse product."""
    import scipy.sparse as sp

    P = idx.size
    M = sp.csr_matrix((np.ones(P), (idx, np.arange(P))), shape=(k, P))
    return np.asarray(M @ values)


def _progress(progress, work, n_iter):
    if progress is None:
        progress = work > 2e9
    if progress:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional
            return range(n_iter)
        return tqdm(range(n_iter), desc="k-means filters", unit="iter")
    return range(n_iter)
