"""CUDA kernels (Numba CUDA), the optional GPU backend.

The modules here have the same names and Python signatures as their CPU
counterparts (``direct.conv_direct`` as in ``kernels.numba.direct``): they take
3-D-normalised, C-contiguous host arrays, copy them to the device, launch, and
copy the result back into ``out``.  Only the forward direct convolution has a
CUDA kernel (:data:`ALGORITHMS`).

Availability: a CUDA device (``numba.cuda.is_available()``), or Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` in the environment *before* Numba is first
imported), which runs the same kernel code in Python on the CPU.  No GPU was
available to this project: the kernels are tested under the simulator only.

This package's ``__init__`` imports nothing heavy: ``numba.cuda`` is imported
only when a kernel module is loaded or :func:`available` is asked.
"""

from __future__ import annotations

import functools
import os
import sys

#: Algorithms with CUDA kernels; forcing another one with ``backend="cuda"`` raises.
ALGORITHMS = ("direct",)

#: ``backend="auto"`` picks CUDA only for a forward direct/auto case of at least this
#: many FLOPs, and only when a real device is present (never the simulator).  Set high
#: on purpose: host<->device copies are paid on every call and the kernels have never
#: been timed on a GPU.
AUTO_MIN_FLOPS = 50e9

#: Environment switch: ``FASTCONV_CUDA_AUTO=0`` stops ``backend="auto"`` from ever
#: choosing CUDA (forcing ``backend="cuda"`` still works).
_AUTO_ENV = "FASTCONV_CUDA_AUTO"


def simulator() -> bool:
    """True when Numba's CUDA simulator is on.

    Once ``numba.cuda`` is imported, what it imported decides (the environment
    variable may change later; Numba re-reads its config on each compile).
    Before that, Numba's config as read from the environment at ``import numba``.
    """
    if "numba.cuda" in sys.modules:
        return "numba.cuda.simulator_init" in sys.modules  # imported only by the simulator
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


@functools.lru_cache(maxsize=1)
def _driver_library_present() -> bool:
    """Cheap pre-check (no Numba import): is a CUDA driver library on this machine?"""
    import ctypes.util

    if ctypes.util.find_library("cuda") is not None:
        return True
    return any(os.path.exists(p) for p in (
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1",
        "/usr/lib/wsl/lib/libcuda.so.1"))


@functools.lru_cache(maxsize=1)
def _device_is_available() -> bool:
    from numba import cuda

    return bool(cuda.is_available())


def device_present() -> bool:
    """True when a real CUDA device can be used (the simulator does not count)."""
    if simulator():
        return False
    return _device_is_available()


def available() -> bool:
    """True when ``backend="cuda"`` can run: a CUDA device, or the simulator."""
    return simulator() or _device_is_available()


def unavailable_reason() -> str:
    return ("backend='cuda' is not available: no CUDA device (set NUMBA_ENABLE_CUDASIM=1 "
            "to run the kernels on the simulator; it must be set before Numba is imported)")


def refusal(algorithm: str) -> str | None:
    """None when ``algorithm`` has CUDA kernels, else why ``backend='cuda'`` cannot run it."""
    if algorithm in ALGORITHMS:
        return None
    return (f"backend='cuda' has kernels only for algorithm "
            f"{' / '.join(repr(a) for a in ALGORITHMS)}, not {algorithm!r}")


def auto_pick(spec, algorithm: str | None) -> bool:
    """Whether ``backend="auto"`` should run this forward case on the GPU.

    Conservative: only a forward ``algorithm`` of ``"auto"``/``"direct"``, at least
    :data:`AUTO_MIN_FLOPS`, ``FASTCONV_CUDA_AUTO`` not ``0``, a CUDA driver library
    on the machine and a real device (not the simulator).  Small cases return
    before anything is imported.
    """
    if algorithm not in ("auto",) + ALGORITHMS or spec.flops < AUTO_MIN_FLOPS:
        return False
    if os.environ.get(_AUTO_ENV, "1").lower() in ("0", "false", "no"):
        return False
    if not _driver_library_present():
        return False
    return device_present()
