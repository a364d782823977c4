"""Compiled hot loops, one sub-package per backend, the same names in each.

``get(backend, module, name)`` is the registry: it returns
``fastconv.kernels.<backend>.<module>.<name>``, importing that module once.
Every backend package has the same modules with the same kernel names and
signatures (``direct.conv_direct`` exists in ``numba`` and in ``cython``), so an
algorithm asks for a kernel by name and never branches on the backend.
Backends are imported lazily (Numba costs ~0.2 s to import and compiles on
first use), so ``import fastconv`` loads none of them.

A backend package may narrow what it serves (the optional ``cuda`` backend has
only the forward direct kernel): its ``__init__`` may define ``available()``
and ``refusal(algorithm) -> str | None``; :func:`available` and :func:`refusal`
consult them, so the planner asks the registry instead of naming backends.
"""

from __future__ import annotations

import importlib

BACKENDS = ("numba", "cython", "cuda")
_cache: dict = {}
_runtime_ready = False


def _prepare_runtime() -> None:
    """Before the first kernel module (and so libgomp) loads: fastconv's OpenMP
    spin default (see ``_config.OMP_SPINCOUNT``), never overriding the user's."""
    global _runtime_ready
    if _runtime_ready:
        return
    import os

    from .. import _config

    if (_config.OMP_SPINCOUNT != "default" and "GOMP_SPINCOUNT" not in os.environ
            and "OMP_WAIT_POLICY" not in os.environ):
        os.environ["GOMP_SPINCOUNT"] = _config.OMP_SPINCOUNT
    _runtime_ready = True


def get(backend: str, module: str, name: str):
    """The compiled kernel ``name`` in ``fastconv.kernels.<backend>.<module>``."""
    key = (backend, module, name)
    fn = _cache.get(key)
    if fn is None:
        _prepare_runtime()
        mod = importlib.import_module(f"fastconv.kernels.{backend}.{module}")
        fn = _cache[key] = getattr(mod, name)
    return fn


def _package(backend: str):
    return importlib.import_module(f"fastconv.kernels.{backend}")


_available: dict = {}


def available(backend: str) -> bool:
    """True when ``backend``'s kernels can run (Cython: the extension is built;
    CUDA: a device or the simulator, see ``kernels.cuda.available``).  Answered
    once per process (it is on every call's path)."""
    ok = _available.get(backend)
    if ok is None:
        check = getattr(_package(backend), "available", None)
        if check is not None:
            ok = bool(check())
        else:
            try:
                get(backend, "direct", "conv_direct")
                ok = True
            except ImportError:
                ok = False
        _available[backend] = ok
    return ok


def refusal(backend: str, algorithm: str) -> str | None:
    """None when ``backend`` has kernels for ``algorithm``, else the reason it has not."""
    check = getattr(_package(backend), "refusal", None)
    return None if check is None else check(algorithm)
