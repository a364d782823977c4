"""Compiled hot loops, one sub-package per backend, the same names in each.

``get(backend, module, name)`` is the registry: it returns
``fastconv.kernels.<backend>.<module>.<name>``, importing that module once.
Every backend package has the same modules with the same kernel names and
signatures (``direct.conv_direct`` exists in ``numba`` and in ``cython``), so an
algorithm asks for a kernel by name and never branches on the backend.
Backends are imported lazily (Numba costs ~0.2 s to import and compiles on
first use), so ``import fastconv`` loads none of them.
"""

from __future__ import annotations

import importlib

BACKENDS = ("numba", "cython")
_cache: dict = {}


def get(backend: str, module: str, name: str):
    """The compiled kernel ``name`` in ``fastconv.kernels.<backend>.<module>``."""
    key = (backend, module, name)
    fn = _cache.get(key)
    if fn is None:
        mod = importlib.import_module(f"fastconv.kernels.{backend}.{module}")
        fn = _cache[key] = getattr(mod, name)
    return fn


def available(backend: str) -> bool:
    """True when ``backend``'s kernels can be loaded (Cython: the extension is built)."""
    try:
        get(backend, "direct", "conv_direct")
    except ImportError:
        return False
    return True
