"""Hand-designed convolution kernels: Gabor, Gaussian and its derivatives,
Sobel/Scharr/Prewitt, Laplacian and LoG, box, difference.

Every function returns a NumPy kernel ready for the layer functions, which
compute cross-correlation: ``fc.conv2d(x, k[None, None], padding="same")``
(or :func:`fastconv.filter_nd` for image boundary modes).  Derivative kernels
are oriented for that convention: the x-derivative kernels respond
*positively* to intensity increasing to the right (columns, last axis), the
y-derivative kernels to intensity increasing downwards (rows).

Separable kernels accept ``separable=True`` and then return their 1-D factors,
one per axis (``factors[0]`` along rows / axis 0, ``factors[1]`` along columns /
axis 1), with ``np.outer(*factors)`` (``np.multiply.outer`` in N-d) equal to the
kernel.  ``dtype`` (default float64) sets the result's dtype.

Examples
--------
>>> import numpy as np, fastconv as fc
>>> from fastconv import filters
>>> from fastconv.data import sample_image
>>> img = sample_image(64)[None, None]
>>> edges = fc.conv2d(img, filters.sobel("x", dtype=np.float32)[None, None], padding=1)
>>> edges.shape
(1, 1, 64, 64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "gabor", "gabor_bank", "gaussian", "gaussian_1d", "sobel", "scharr", "prewitt",
    "laplacian", "log", "box", "difference",
]


def _size2(size, name="size"):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or any(s < 1 for s in size):
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return size


def _positive(v, name):
    if not (isinstance(v, (int, float, np.integer, np.floating)) and v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return float(v)


def _outer(factors):
    k = factors[0]
    for f in factors[1:]:
        k = np.multiply.outer(k, f)
    return k


# ---------------------------------------------------------------------------
# Gabor
# ---------------------------------------------------------------------------
def gabor(size=None, theta: float = 0.0, frequency: float = 0.15, phase: float = 0.0,
          sigma_x: float | None = None, sigma_y: float | None = None, *,
          amplitude: float = 1.0, center=None, dtype=np.float64) -> np.ndarray:
    """2-D Gabor kernel, the lecture notes' parametrisation.

    ``w(x, y) = amplitude * exp(-x'^2 / (2 sigma_x^2) - y'^2 / (2 sigma_y^2))
    * cos(2 pi frequency x' + phase)`` with the rotated coordinates
    ``x' = (x - x0) cos(theta) + (y - y0) sin(theta)`` and
    ``y' = -(x - x0) sin(theta) + (y - y0) cos(theta)``; ``x`` is the column
    index, ``y`` the row index, ``(x0, y0)`` the centre.  In the notes' symbols
    (Goodfellow et al., *Deep Learning*, 9.10) ``beta_x = 1 / (2 sigma_x^2)``,
    ``beta_y = 1 / (2 sigma_y^2)``, ``f = 2 pi frequency``, ``tau = theta``,
    ``phi = phase``, ``alpha = amplitude``.

    Parameters
    ----------
    size : int or (int, int), optional
        Kernel height and width; default ``2 * ceil(3 * max(sigma)) + 1``.
    theta : float
        Orientation (radians) of the carrier: 0 varies along x (vertical
        stripes, responds to vertical edges); pi/2 along y.
    frequency : float
        Carrier frequency in cycles per pixel (wavelength ``1 / frequency``).
    phase : float
        Carrier phase (0: even/cosine kernel; pi/2: odd/sine kernel).
    sigma_x, sigma_y : float, optional
        Envelope widths along ``x'`` and ``y'``; default ``0.56 / frequency``
        (about one octave of bandwidth) for both.
    amplitude : float
    center : (float, float), optional
        ``(x0, y0)``; default the kernel's centre ``((w - 1) / 2, (h - 1) / 2)``.

    Examples
    --------
    >>> from fastconv import filters
    >>> k = filters.gabor(9, theta=0.0, frequency=0.25, sigma_x=2.0, sigma_y=2.0)
    >>> k.shape, round(float(k[4, 4]), 6)
    ((9, 9), 1.0)
    """
    frequency = _positive(frequency, "frequency")
    sx = _positive(sigma_x if sigma_x is not None else 0.56 / frequency, "sigma_x")
    sy = _positive(sigma_y if sigma_y is not None else 0.56 / frequency, "sigma_y")
    if size is None:
        n = 2 * math.ceil(3 * max(sx, sy)) + 1
        size = (n, n)
    h, w = _size2(size)
    x0, y0 = ((w - 1) / 2, (h - 1) / 2) if center is None else map(float, center)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    xr = (x - x0) * math.cos(theta) + (y - y0) * math.sin(theta)
    yr = -(x - x0) * math.sin(theta) + (y - y0) * math.cos(theta)
    k = amplitude * np.exp(-xr**2 / (2 * sx**2) - yr**2 / (2 * sy**2)) \
        * np.cos(2 * math.pi * frequency * xr + phase)
    return k.astype(dtype)


def gabor_bank(size=None, n_orientations: int = 8, frequencies: Sequence[float] = (0.1, 0.2),
               phases: Sequence[float] = (0.0, math.pi / 2), *, zero_mean: bool = True,
               normalize: bool = True, return_params: bool = False, dtype=np.float64,
               **kwargs):
    """A bank of Gabor kernels over orientations x frequencies x phases.

    Returns an array of shape ``(n_filters, 1, h, w)``: the weight of a
    ``conv2d`` layer with one input channel.  Every kernel has the same size
    (``size``, default the size of the widest one).

    Parameters
    ----------
    size : int or (int, int), optional
    n_orientations : int
        Orientations ``k * pi / n_orientations``, ``k = 0 .. n - 1``.
    frequencies, phases : sequence of float
    zero_mean : bool
        Subtract each kernel's mean (no response to flat regions).
    normalize : bool
        Scale each kernel to unit L2 norm.
    return_params : bool
        Also return the list of ``dict(theta=..., frequency=..., phase=...)``.
    **kwargs
        Passed to :func:`gabor` (``sigma_x``, ``sigma_y``, ``amplitude``).

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.gabor_bank(15, n_orientations=4, frequencies=(0.2,), phases=(0.0,)).shape
    (4, 1, 15, 15)
    """
    if int(n_orientations) < 1:
        raise ValueError(f"n_orientations must be >= 1, got {n_orientations!r}")
    params = [dict(theta=math.pi * i / n_orientations, frequency=float(f), phase=float(p))
              for f in frequencies for i in range(int(n_orientations)) for p in phases]
    if not params:
        raise ValueError("gabor_bank needs at least one frequency and one phase")
    if size is None:
        fmin = min(frequencies)
        s = max(kwargs.get("sigma_x") or 0.56 / fmin, kwargs.get("sigma_y") or 0.56 / fmin)
        size = 2 * math.ceil(3 * s) + 1
    ks = []
    for p in params:
        k = gabor(size, **p, **kwargs)
        if zero_mean:
            k = k - k.mean()
        if normalize:
            nrm = np.linalg.norm(k)
            k = k / nrm if nrm > 0 else k
        ks.append(k)
    bank = np.stack(ks)[:, None].astype(dtype)
    return (bank, params) if return_params else bank


# ---------------------------------------------------------------------------
# Gaussian family
# ---------------------------------------------------------------------------
def gaussian_1d(sigma: float, order: int = 0, radius: int | None = None, *,
                truncate: float = 4.0, dtype=np.float64) -> np.ndarray:
    """1-D Gaussian (``order=0``, sums to 1) or its derivative (``order`` 1, 2, 3),
    length ``2 * radius + 1`` (default radius ``round(truncate * sigma)``).

    Derivatives are oriented for correlation (``conv1d``): the first-order kernel is
    ``+u / sigma^2 * g(u)`` (positive to the right), so correlating gives the
    derivative of the smoothed signal -- the same numbers as
    ``scipy.ndimage.gaussian_filter1d(x, sigma, order=order)``.

    Examples
    --------
    >>> from fastconv import filters
    >>> g = filters.gaussian_1d(1.0, radius=3)
    >>> g.shape, round(float(g.sum()), 12)
    ((7,), 1.0)
    """
    sigma = _positive(sigma, "sigma")
    if int(order) != order or not 0 <= order <= 3:
        raise ValueError(f"order must be 0, 1, 2 or 3, got {order!r}")
    if radius is None:
        radius = int(truncate * sigma + 0.5)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    u = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * u**2 / sigma**2)
    g /= g.sum()
    s2 = sigma**2
    if order == 1:
        g = u / s2 * g
    elif order == 2:
        g = (u**2 / s2**2 - 1 / s2) * g
    elif order == 3:
        g = (u**3 / s2**3 - 3 * u / s2**2) * g
    return g.astype(dtype)


def gaussian(sigma, order=0, *, ndim: int = 2, size=None, truncate: float = 4.0,
             separable: bool = False, dtype=np.float64):
    """N-d Gaussian kernel (sums to 1) or a derivative of Gaussian.

    Parameters
    ----------
    sigma : float or sequence of float
        Standard deviation, per axis if a sequence.
    order : int or sequence of int
        Derivative order per axis (0: smoothing). E.g. ``order=(0, 1)``: d/dx
        (columns) of a 2-D Gaussian, ``order=(1, 0)``: d/dy.
    ndim : int
        Number of axes (when ``sigma`` and ``order`` are scalars).
    size : int or sequence of int, optional
        Odd kernel length per axis; default ``2 * round(truncate * sigma) + 1``.
    separable : bool
        Return the 1-D factors (one per axis) instead of the kernel.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.gaussian(1.5).shape
    (13, 13)
    >>> dx = filters.gaussian(1.0, order=(0, 1), size=7)
    >>> bool(dx[3, 4] > 0 > dx[3, 2])
    True
    """
    sig = [sigma] * ndim if np.ndim(sigma) == 0 else list(sigma)
    nd = len(sig)
    orders = [order] * nd if np.ndim(order) == 0 else list(order)
    if len(orders) != nd:
        raise ValueError(f"order must have one entry per axis ({nd}), got {order!r}")
    if size is None:
        radii = [None] * nd
    else:
        sizes = [size] * nd if np.ndim(size) == 0 else list(size)
        if len(sizes) != nd or any(int(s) % 2 == 0 or int(s) < 1 for s in sizes):
            raise ValueError(f"size must be odd and positive on each of the {nd} axes, "
                             f"got {size!r}")
        radii = [int(s) // 2 for s in sizes]
    factors = [gaussian_1d(s, o, r, truncate=truncate)
               for s, o, r in zip(sig, orders, radii, strict=True)]
    if separable:
        return [f.astype(dtype) for f in factors]
    return _outer(factors).astype(dtype)


def log(sigma: float, *, size=None, truncate: float = 4.0, separable: bool = False,
        dtype=np.float64):
    """Laplacian of Gaussian, ``d2G/dy2 + d2G/dx2`` (2-D), as
    ``scipy.ndimage.gaussian_laplace`` computes it.

    Not rank 1 but a sum of two separable terms: with ``separable=True`` returns
    ``[(d2g, g), (g, d2g)]`` (row factor, column factor) per term.

    Examples
    --------
    >>> from fastconv import filters
    >>> k = filters.log(1.0, size=9)
    >>> k.shape, bool(k[4, 4] < 0)
    ((9, 9), True)
    """
    sizes = [None, None] if size is None else [size, size] if np.ndim(size) == 0 else list(size)
    terms = []
    for ax in range(2):
        orders = [2 if a == ax else 0 for a in range(2)]
        terms.append(tuple(
            gaussian_1d(sigma, o, None if s is None else int(s) // 2, truncate=truncate,
                        dtype=dtype)
            for o, s in zip(orders, sizes, strict=True)))
    if separable:
        return terms
    return sum(np.outer(a, b) for a, b in terms).astype(dtype)


# ---------------------------------------------------------------------------
# finite differences
# ---------------------------------------------------------------------------
def _derivative_3x3(smooth, direction, separable, dtype):
    if direction not in ("x", "y"):
        raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")
    s = np.asarray(smooth, np.float64)
    d = np.array([-1.0, 0.0, 1.0])
    factors = [s, d] if direction == "x" else [d, s]
    if separable:
        return [f.astype(dtype) for f in factors]
    return np.outer(*factors).astype(dtype)


def sobel(direction: str = "x", *, separable: bool = False, dtype=np.float64):
    """3x3 Sobel derivative kernel (smoothing ``[1, 2, 1]`` x difference ``[-1, 0, 1]``).

    ``"x"``: ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` (d/dx, columns);
    ``"y"``: its transpose.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.sobel("x")
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> [f.tolist() for f in filters.sobel("y", separable=True)]
    [[-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]]
    """
    return _derivative_3x3([1, 2, 1], direction, separable, dtype)


def scharr(direction: str = "x", *, separable: bool = False, dtype=np.float64):
    """3x3 Scharr derivative kernel (smoothing ``[3, 10, 3]``, better rotational
    symmetry than Sobel); see :func:`sobel`.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.scharr("x")[1].tolist()
    [-10.0, 0.0, 10.0]
    """
    return _derivative_3x3([3, 10, 3], direction, separable, dtype)


def prewitt(direction: str = "x", *, separable: bool = False, dtype=np.float64):
    """3x3 Prewitt derivative kernel (smoothing ``[1, 1, 1]``); see :func:`sobel`.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.prewitt("y")[0].tolist()
    [-1.0, -1.0, -1.0]
    """
    return _derivative_3x3([1, 1, 1], direction, separable, dtype)


def laplacian(neighbours: int = 4, *, dtype=np.float64) -> np.ndarray:
    """3x3 discrete Laplacian: ``neighbours=4`` ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``
    or ``8`` ``[[1, 1, 1], [1, -8, 1], [1, 1, 1]]`` (not separable).

    Examples
    --------
    >>> from fastconv import filters
    >>> int(filters.laplacian(8).sum())
    0
    """
    if neighbours == 4:
        k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64)
    elif neighbours == 8:
        k = np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], np.float64)
    else:
        raise ValueError(f"neighbours must be 4 or 8, got {neighbours!r}")
    return k.astype(dtype)


def box(size=3, *, ndim: int = 2, normalize: bool = True, separable: bool = False,
        dtype=np.float64):
    """Box (mean) kernel: ones of shape ``size`` (per axis), divided by their
    count when ``normalize``.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.box(3).sum()
    np.float64(1.0)
    >>> [f.tolist() for f in filters.box((1, 2), separable=True, normalize=False)]
    [[1.0], [1.0, 1.0]]
    """
    sizes = [size] * ndim if np.ndim(size) == 0 else [int(s) for s in size]
    if any(int(s) < 1 for s in sizes):
        raise ValueError(f"size must be >= 1 on every axis, got {size!r}")
    factors = [np.full(int(s), 1.0 / int(s) if normalize else 1.0) for s in sizes]
    if separable:
        return [f.astype(dtype) for f in factors]
    return _outer(factors).astype(dtype)


def difference(axis: int = -1, *, ndim: int = 2, dtype=np.float64) -> np.ndarray:
    """Forward difference ``[-1, 1]`` along ``axis`` of an ``ndim``-D kernel
    (shape 2 on that axis, 1 elsewhere); correlating gives ``x[i + 1] - x[i]``.

    Examples
    --------
    >>> from fastconv import filters
    >>> filters.difference(ndim=1).tolist()
    [-1.0, 1.0]
    >>> filters.difference(axis=0).shape
    (2, 1)
    """
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} out of range for ndim={ndim}")
    shape = [1] * ndim
    shape[axis] = 2
    return np.array([-1.0, 1.0]).reshape(shape).astype(dtype)
