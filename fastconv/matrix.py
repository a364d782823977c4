"""The linear-algebra view of a convolution: its (doubly) block-Toeplitz matrix.

``conv_matrix(weight, input_shape, ...)`` returns the sparse matrix ``A`` with
``conv(x).ravel() == A @ x.ravel()`` for one sample ``x`` of shape
``(C_in, *spatial)`` -- a Toeplitz matrix in 1-D, doubly block Toeplitz in 2-D,
triply in 3-D, with a block per (output channel, input channel) pair.  ``A.T``
applied to an output gradient is the input gradient (and the transposed
convolution).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._spec import as_array, conv_spec, to_compute

if TYPE_CHECKING:  # scipy.sparse is imported on first use
    import scipy.sparse

__all__ = ["conv_matrix"]


def conv_matrix(weight, input_shape, stride=1, padding=0, dilation=1,
                groups=1) -> scipy.sparse.csr_matrix:
    """Sparse matrix of a convolution layer (cross-correlation, zero padding).

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        1, 2 or 3 spatial axes, as for ``conv1d/2d/3d``.
    input_shape : tuple of int
        ``(C_in, *spatial)``: the shape of one input sample.
    stride, padding, dilation, groups
        As in :func:`fastconv.conv2d` (zero padding; padding strings accepted).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (C_out * prod(out_spatial), C_in * prod(spatial))
        ``A @ x.ravel() == conv(x[None], weight, ...).ravel()``.  Every tap that
        falls inside the input is a stored entry (taps equal to zero included:
        the sparsity pattern is the Toeplitz structure; call
        ``A.eliminate_zeros()`` to drop them).  Built without a Python loop
        over entries; the dtype is the convolution's compute dtype.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> A = fc.conv_matrix(np.array([[[1.0, 2.0, 3.0]]]), (1, 5))
    >>> A.toarray()
    array([[1., 2., 3., 0., 0.],
           [0., 1., 2., 3., 0.],
           [0., 0., 1., 2., 3.]])
    >>> x = np.random.rand(2, 6, 6); w = np.random.rand(4, 2, 3, 3)
    >>> A = fc.conv_matrix(w, x.shape, padding=1)
    >>> np.allclose(A @ x.ravel(), fc.conv2d(x, w, padding=1).ravel())
    True
    """
    import scipy.sparse as sp

    w = as_array(weight, "weight")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(
            f"weight must have 3, 4 or 5 dimensions (C_out, C_in // groups, *kernel), "
            f"got shape {w.shape}"
        )
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != nd + 1:
        raise ValueError(
            f"input_shape must be (C_in, *spatial) with {nd} spatial axes for a weight of "
            f"shape {w.shape}, got {input_shape}"
        )
    spec = conv_spec(nd, input_shape, w.shape, None, stride, padding, dilation, groups,
                     "zeros", w.dtype, w.dtype)
    ws = to_compute(w, spec.dtype)
    Co, cig = spec.out_channels, spec.in_per_group
    cog = spec.out_per_group
    L, K, O = spec.in_size, spec.kernel, spec.out_size
    Lp, Op = math.prod(L), math.prod(O)
    # broadcast grid over (co, *out, ci, *k): 2 * nd + 2 axes
    ndim = 2 * nd + 2

    def along(v, axis):
        shape = [1] * ndim
        shape[axis] = v.size
        return v.reshape(shape)

    co = along(np.arange(Co, dtype=np.int64), 0)
    ci = along(np.arange(cig, dtype=np.int64), nd + 1)
    rows = co * Op
    cols = ((co // cog) * cig + ci) * Lp
    valid = np.ones((1,) * ndim, bool)
    ostride = [math.prod(O[a + 1:]) for a in range(nd)]
    istride = [math.prod(L[a + 1:]) for a in range(nd)]
    for a in range(nd):
        o = along(np.arange(O[a], dtype=np.int64), 1 + a)
        k = along(np.arange(K[a], dtype=np.int64), nd + 2 + a)
        idx = o * spec.stride[a] + k * spec.dilation[a] - spec.pad[a][0]
        valid = valid & (idx >= 0) & (idx < L[a])
        rows = rows + o * ostride[a]
        cols = cols + idx * istride[a]
    full = np.broadcast_shapes(rows.shape, cols.shape, valid.shape)
    mask = np.broadcast_to(valid, full).ravel()
    r = np.broadcast_to(rows, full).ravel()[mask]
    c = np.broadcast_to(cols, full).ravel()[mask]
    # weight values on the same grid: w[co, ci, *k] -> axes (0, nd + 1, nd + 2, ...)
    wv = ws.reshape((Co,) + (1,) * nd + (cig,) + K)
    d = np.broadcast_to(wv, full).ravel()[mask]
    nrows = Co * Op
    indptr = np.zeros(nrows + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=nrows), out=indptr[1:])
    # entries were generated row by row with increasing columns: canonical CSR
    A = sp.csr_matrix((d, c, indptr), shape=(nrows, spec.in_channels * Lp))
    A.has_sorted_indices = True
    return A
