"""Compiled hot loops, one sub-package per backend, the same names in each.

The registry maps ``(backend, kernel name)`` to the function.  Backends are
imported lazily (Numba costs ~0.2 s to import and compiles on first use), so
``import fastconv`` loads none of them.  Every backend module exposes the same
kernel names with the same signatures; :func:`get` is the only lookup.
"""

from __future__ import annotations

import importlib

#: kernel name -> module (relative to the backend package) that defines it.
_MODULES = {
    "conv_direct": "direct",
}

BACKENDS = ("numba", "cython")
_cache: dict = {}


def get(backend: str, name: str):
    """The compiled kernel ``name`` of ``backend`` (imports the module once)."""
    key = (backend, name)
    fn = _cache.get(key)
    if fn is None:
        mod = importlib.import_module(f"fastconv.kernels.{backend}.{_MODULES[name]}")
        fn = _cache[key] = getattr(mod, name)
    return fn


def register(name: str, module: str) -> None:
    """Declare that kernel ``name`` lives in ``module`` in every backend package."""
    _MODULES[name] = module


def available(backend: str) -> bool:
    """True when ``backend``'s kernels can be loaded (Cython: the extension is built)."""
    try:
        get(backend, "conv_direct")
    except ImportError:
        return False
    return True
