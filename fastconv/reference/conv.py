"""Plain NumPy reference implementations: slow, float64, obviously right.

These are the oracle of the test-suite and of every fast algorithm.  They use
the same argument parsing as the library (``_spec``), whose arithmetic is tested
on its own, and otherwise nothing but ``np.pad``, a sliding-window view and
``einsum``.  Results are float64 (complex128 for complex inputs).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._spec import NP_PAD_MODE, conv_spec


def _windows(xp: np.ndarray, nd: int, kernel, stride, dilation) -> np.ndarray:
    """(N, C, *out, *kernel) view of the (already padded) input."""
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    axes = tuple(range(2, 2 + nd))
    v = sliding_window_view(xp, eff, axis=axes)
    sl = (slice(None), slice(None))
    sl += tuple(slice(None, None, s) for s in stride)
    sl += tuple(slice(None, None, d) for d in dilation)
    return v[sl]


__all__ = ["conv"]


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """N-d cross-correlation with PyTorch ``conv*d`` semantics (float64)."""
    x = np.asarray(x)
    w = np.asarray(w)
    nd = w.ndim - 2
    spec = conv_spec(
        nd, x.shape, w.shape, None if b is None else np.shape(b), stride, padding,
        dilation, groups, padding_mode, x.dtype, w.dtype,
    )
    x64 = x.astype(np.float64).reshape(spec.x_shape)
    w64 = w.astype(np.float64)
    xp = np.pad(
        x64, ((0, 0), (0, 0)) + spec.pad, mode=NP_PAD_MODE[spec.padding_mode]
    )
    win = _windows(xp, nd, spec.kernel, spec.stride, spec.dilation)
    win = win[(slice(None), slice(None)) + tuple(slice(0, o) for o in spec.out_size)]
    G, cg, og = spec.groups, spec.in_per_group, spec.out_per_group
    outs = []
    letters = "defghi"[:nd]
    klet = "pqrstu"[:nd]
    for g in range(G):
        xg = win[:, g * cg:(g + 1) * cg]
        wg = w64[g * og:(g + 1) * og]
        outs.append(np.einsum(f"nc{letters}{klet},oc{klet}->no{letters}", xg, wg))
    out = np.concatenate(outs, axis=1)
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64).reshape((1, -1) + (1,) * nd)
    return out if spec.batched else out[0]
