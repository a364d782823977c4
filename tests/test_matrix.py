"""conv_matrix: A @ x == conv(x), A.T == the input gradient, structure checks."""

import numpy as np
import pytest
from conftest import assert_close
from hypothesis import given
from hypothesis import strategies as st

import fastconv as fc
from fastconv import reference as ref

rng = np.random.default_rng(7)
CONV = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}


@st.composite
def cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    cig, cog = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    p = draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid", "full"])))
    L = tuple(draw(st.integers(dd * (kk - 1) + 1, dd * (kk - 1) + {1: 8, 2: 5, 3: 3}[nd]))
              for kk, dd in zip(k, d, strict=True))
    return nd, groups, cig, cog, k, s, d, p, L


@given(cases())
def test_matrix_equals_convolution_and_its_adjoint(case):
    nd, groups, cig, cog, k, s, d, p, L = case
    w = rng.standard_normal((cog * groups, cig) + k)
    x = rng.standard_normal((cig * groups,) + L)
    A = fc.conv_matrix(w, x.shape, s, p, d, groups)
    y = ref.conv(x[None], w, None, s, p, d, groups)[0]
    assert A.shape == (y.size, x.size)
    assert_close(A @ x.ravel(), y.ravel())
    # A.T is the input gradient of the convolution
    g = rng.standard_normal(y.shape)
    gx = fc.conv2d_backward if nd == 2 else (fc.conv1d_backward if nd == 1 else fc.conv3d_backward)
    e = gx(g[None], x[None], w, s, p, d, groups, needs=("input",)).input[0]
    assert_close(A.T @ g.ravel(), e.ravel())
    # and the adjoint identity <A x, g> == <x, A^T g>
    assert np.isclose(np.dot(A @ x.ravel(), g.ravel()), np.dot(x.ravel(), A.T @ g.ravel()))


def test_columns_are_responses_to_unit_inputs():
    w = rng.standard_normal((2, 3, 2, 3))
    shape = (3, 4, 5)
    A = fc.conv_matrix(w, shape, stride=(1, 2), padding=1).toarray()
    for i in range(np.prod(shape)):
        e = np.zeros(np.prod(shape))
        e[i] = 1
        col = fc.conv2d(e.reshape(shape), w, stride=(1, 2), padding=1).ravel()
        np.testing.assert_allclose(A[:, i], col, atol=1e-12)


def test_toeplitz_structure_and_gradient_by_finite_differences():
    k = np.array([[[1.0, -2.0, 3.0]]])
    A = fc.conv_matrix(k, (1, 6)).toarray()
    np.testing.assert_array_equal(A[0, :3], [1, -2, 3])
    for i in range(1, A.shape[0]):  # each row is the previous one shifted right
        np.testing.assert_array_equal(A[i, 1:], A[i - 1, :-1])
    # d/dx of 0.5 |conv(x)|^2 = A^T conv(x), checked by central differences
    w = rng.standard_normal((2, 1, 3, 3))
    x = rng.standard_normal((1, 5, 5))
    A = fc.conv_matrix(w, x.shape, padding=1)
    f = lambda v: 0.5 * np.sum(fc.conv2d(v.reshape(x.shape), w, padding=1) ** 2)  # noqa: E731
    grad = A.T @ (A @ x.ravel())
    eps = 1e-6
    num = np.array([(f(x.ravel() + eps * e) - f(x.ravel() - eps * e)) / (2 * eps)
                    for e in np.eye(x.size)])
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-6)


def test_format_dtype_and_errors():
    import scipy.sparse as sp

    A = fc.conv_matrix(np.ones((1, 1, 2, 2), np.float32), (1, 3, 3))
    assert sp.issparse(A) and A.format == "csr" and A.dtype == np.float32
    assert A.nnz == 4 * 4 and A.has_sorted_indices
    A.sort_indices()
    np.testing.assert_array_equal(A.toarray(), fc.conv_matrix(np.ones((1, 1, 2, 2)),
                                                              (1, 3, 3)).toarray())
    with pytest.raises(ValueError, match="input_shape"):
        fc.conv_matrix(np.ones((1, 1, 2, 2)), (3, 3))
    with pytest.raises(ValueError, match="output would be empty"):
        fc.conv_matrix(np.ones((1, 1, 4)), (1, 3))
    with pytest.raises(ValueError, match="groups=2"):
        fc.conv_matrix(np.ones((2, 1, 3)), (3, 5), groups=2)
    with pytest.raises(ValueError, match="3, 4 or 5 dimensions"):
        fc.conv_matrix(np.ones((2, 3)), (3,))
