"""Reference true convolution / correlation and ndimage-style filtering.

Plain NumPy, float64 (complex128 for complex data): the full convolution is a
sum of shifted copies of ``in1`` weighted by each tap of ``in2``; the modes
then cut SciPy's windows out of it.  Slow and obviously right.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["convolve", "correlate", "filter_nd"]


def convolve(in1, in2, mode="full"):
    """``scipy.signal.convolve`` over all axes (float64 / complex128 result)."""
    a = np.asarray(in1)
    b = np.asarray(in2)
    dt = np.complex128 if (a.dtype.kind == "c" or b.dtype.kind == "c") else np.float64
    a = a.astype(dt)
    b = b.astype(dt)
    if mode == "valid":
        if all(x >= y for x, y in zip(a.shape, b.shape, strict=True)):
            pass
        elif all(y >= x for x, y in zip(a.shape, b.shape, strict=True)):
            a, b = b, a
        else:
            raise ValueError("For 'valid' mode, one must be at least as large as the other")
    full = np.zeros([x + y - 1 for x, y in zip(a.shape, b.shape, strict=True)], dt)
    for k in itertools.product(*[range(n) for n in b.shape]):
        full[tuple(slice(i, i + n) for i, n in zip(k, a.shape, strict=True))] += a * b[k]
    if mode == "full":
        return full
    if mode == "same":
        st = [(y - 1) // 2 for y in b.shape]
        return full[tuple(slice(s, s + n) for s, n in zip(st, a.shape, strict=True))]
    st = [y - 1 for y in b.shape]
    return full[tuple(slice(s, s + x - y + 1)
                      for s, x, y in zip(st, a.shape, b.shape, strict=True))]


def correlate(in1, in2, mode="full"):
    """``scipy.signal.correlate``: convolution with the reversed conjugate."""
    b = np.asarray(in2)
    b = np.conj(b[(slice(None, None, -1),) * b.ndim])
    return convolve(in1, b, mode)


_PAD = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap",
        "constant": "constant"}


def filter_nd(input, weights, mode="reflect", cval=0.0, origin=0, convolve=False):
    """``scipy.ndimage.correlate`` / ``convolve`` by explicit loops over output
    elements (float64; no rounding or casting back)."""
    x = np.asarray(input, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    nd = x.ndim
    origins = [origin] * nd if np.isscalar(origin) else list(origin)
    if convolve:
        w = w[(slice(None, None, -1),) * nd]
        origins = [-o - (1 - k % 2) for o, k in zip(origins, w.shape, strict=True)]
    pads = [(k // 2 + o, k - 1 - (k // 2 + o)) for k, o in zip(w.shape, origins, strict=True)]
    kw = {"constant_values": cval} if mode == "constant" else {}
    xp = np.pad(x, pads, mode=_PAD[mode], **kw)
    out = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        win = xp[tuple(slice(i, i + k) for i, k in zip(idx, w.shape, strict=True))]
        out[idx] = np.sum(win * w)
    return out
