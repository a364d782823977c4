"""Shared test configuration: hypothesis profile, tolerances, optional PyTorch."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fastconv",
    deadline=None,
    max_examples=int(os.environ.get("FASTCONV_HYPOTHESIS_EXAMPLES", 40)),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.load_profile("fastconv")

#: Tolerances, stated once: (rtol, atol) relative to the output's scale, per dtype.
TOL = {
    np.dtype(np.float64): (1e-10, 1e-10),
    np.dtype(np.float32): (2e-5, 2e-5),
    np.dtype(np.float16): (2e-2, 2e-2),
}


def assert_close(actual, expected, dtype=None, scale=None):
    """Compare to the float64 reference with the dtype's tolerance, scaled by the
    magnitude of the expected result (sums of many products)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    dt = np.dtype(dtype or actual.dtype)
    rtol, atol = TOL.get(dt, TOL[np.dtype(np.float32)])
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(
        actual.astype(np.float64), expected, rtol=rtol, atol=atol * scale
    )


try:  # PyTorch is an optional cross-check (CI installs the CPU build).
    import torch

    torch.set_num_threads(2)
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
BACKENDS = ["numba", "cython"]
