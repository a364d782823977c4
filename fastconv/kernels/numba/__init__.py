"""Numba kernels.  Importing this package imports Numba and selects a
thread-safe threading layer *before* any parallel kernel runs.

The layer is ``omp`` when available: it is safe for concurrent calls from
several Python threads (the default ``workqueue`` layer is not), and it is the
same GNU OpenMP runtime (libgomp) that the Cython kernels are compiled
against, so fastconv runs one OpenMP thread pool.  ``tbb`` (also thread-safe)
is the fallback.  An explicit ``NUMBA_THREADING_LAYER`` from the user wins.
"""

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    try:
        from numba.np.ufunc import omppool  # noqa: F401

        numba.config.THREADING_LAYER = "omp"
    except ImportError:  # pragma: no cover - depends on the Numba build
        numba.config.THREADING_LAYER = "threadsafe"
