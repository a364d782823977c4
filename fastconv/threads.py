"""One thread-control API for every parallel kernel fastconv runs.

``set_num_threads(n)`` / ``get_num_threads()`` / ``with num_threads(n):``
govern Numba ``prange`` kernels, the Cython/OpenMP kernels and the BLAS calls
that fastconv makes (through threadpoolctl).  The setting is per Python thread
(a ``with num_threads(2)`` in one thread does not change another thread's
calls) and defaults to the process-wide value set by ``set_num_threads``
(initially the number of CPUs this process may run on).

One pool at a time: inside a fastconv parallel region BLAS runs
single-threaded on blocks fastconv distributes; when BLAS itself runs
multithreaded no fastconv region surrounds it (:func:`blas_threads`).
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["set_num_threads", "get_num_threads", "num_threads", "cpu_count"]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


_default = cpu_count()
_local = threading.local()


def _check(n) -> int:
    import numbers

    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return int(n)


def get_num_threads() -> int:
    """Threads fastconv uses for the next call made from this Python thread."""
    return getattr(_local, "n", None) or _default


def set_num_threads(n: int) -> None:
    """Set the number of threads of every fastconv kernel (process default).

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.set_num_threads(1); fc.get_num_threads()
    1
    >>> fc.set_num_threads(fc.threads.cpu_count())
    """
    global _default
    _default = _check(n)
    _local.n = None


@contextlib.contextmanager
def num_threads(n: int):
    """Context manager: use ``n`` threads in this block (restored on exit or error).

    Examples
    --------
    >>> import fastconv as fc
    >>> with fc.num_threads(1):
    ...     fc.get_num_threads()
    1
    """
    n = _check(n)
    prev = getattr(_local, "n", None)
    _local.n = n
    try:
        yield n
    finally:
        _local.n = prev


# ---------------------------------------------------------------------------
# BLAS control (threadpoolctl), used by the algorithms around their BLAS calls
# ---------------------------------------------------------------------------
_controller = None
_blas_lock = threading.Lock()


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_threads(n: int):
    """Limit the BLAS libraries (NumPy's and SciPy's OpenBLAS/MKL) to ``n`` threads.

    Talks to each library's controller directly (~5 us) rather than through
    ``ThreadpoolController.limit`` (~35 us, which rescans the libraries).
    """
    libs = [lc for lc in _blas_controller().lib_controllers if lc.user_api == "blas"]
    with _blas_lock:
        old = [lc.get_num_threads() for lc in libs]
        for lc in libs:
            lc.set_num_threads(n)
    try:
        yield
    finally:
        with _blas_lock:
            for lc, o in zip(libs, old, strict=True):
                lc.set_num_threads(o)


def numba_threads(n: int) -> None:
    """Apply ``n`` to Numba for the calling Python thread (Numba's setting is
    thread-local).  Imports Numba; only called right before a Numba kernel."""
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
