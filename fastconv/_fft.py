"""FFT plumbing shared by the layer FFT algorithm and ``fastconv.convolve``.

* ``scipy.fft`` is imported lazily (it costs ~0.3 s).
* ``workers=`` follows fastconv's thread setting.
* When the optional ``mkl_fft`` package is installed, :func:`backend` returns
  its ``scipy.fft`` backend (``pip install fastconv[mkl]``); pocketfft (SciPy's
  own) is the default that always works.  ``FASTCONV_FFT=pocketfft`` forces it.
"""

from __future__ import annotations

import contextlib
import os

from .threads import get_num_threads

_mkl = None


def _mkl_backend():
    global _mkl
    if _mkl is None:
        try:
            import mkl_fft._scipy_fft_backend as be  # type: ignore[import-not-found]

            _mkl = be
        except ImportError:
            _mkl = False
    return _mkl or None


def backend_name() -> str:
    if os.environ.get("FASTCONV_FFT", "auto") == "pocketfft":
        return "pocketfft"
    return "mkl_fft" if _mkl_backend() is not None else "pocketfft"


@contextlib.contextmanager
def backend():
    """Context in which ``scipy.fft`` calls use the best available FFT."""
    import scipy.fft

    be = _mkl_backend() if backend_name() == "mkl_fft" else None
    if be is None:
        yield scipy.fft
        return
    with scipy.fft.set_backend(be, only=True):
        yield scipy.fft


def workers() -> int:
    return get_num_threads()


def fast_len(n: int, real: bool = True) -> int:
    import scipy.fft

    return scipy.fft.next_fast_len(int(n), real=real)


def fast_shape(shape, real: bool = True) -> tuple[int, ...]:
    return tuple(fast_len(n, real) for n in shape)
