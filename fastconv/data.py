"""Built-in sample data (synthesised, no downloads)."""

from __future__ import annotations

import numpy as np


def sample_image(size: int = 256, seed: int = 0) -> np.ndarray:
    """A natural-looking grey-scale test image in [0, 1], shape ``(size, size)``.

    1/f ("pink") noise for texture, a few smooth-edged discs and bars for
    edges at several orientations, and a lighting gradient.  Deterministic.

    Examples
    --------
    >>> from fastconv.data import sample_image
    >>> sample_image(64).shape
    (64, 64)
    """
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2
    f[0, 0] = 1.0
    spec = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) / f**0.9
    spec[0, 0] = 0
    tex = np.fft.irfft2(spec, s=(size, size))
    tex = (tex - tex.mean()) / tex.std()
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.15 * tex + 0.4 * yy + 0.2
    for cx, cy, r, v in ((0.3, 0.35, 0.17, 0.5), (0.7, 0.65, 0.12, -0.35), (0.65, 0.25, 0.08, 0.3)):
        d = np.hypot(xx - cx, yy - cy)
        img += v / (1 + np.exp((d - r) * size / 1.5))
    for ang, off, v in ((0.5, 0.1, 0.25), (2.0, -0.2, -0.2)):
        t = np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5) - off
        img += v / (1 + np.exp((np.abs(t) - 0.03) * size / 1.5))
    img -= img.min()
    return (img / img.max()).astype(np.float32)
