"""Convolution algorithms, one module each, every module with the same face:

``supports(spec) -> str | None``
    None when the algorithm can serve the case, else the reason it cannot.
``estimate(spec, threads) -> (seconds, workspace_bytes)``
    The planner's cost model for this algorithm.
``options(spec, threads) -> dict``
    Algorithm-specific parameters the plan carries (blocking, tile size...).
``forward(spec, plan, x, w, b, out)``
    Writes the convolution of compute-dtype, C-contiguous ``x (N, C, *in)``
    into ``out (N, Co, *out)``; padding is implicit zeros (other padding modes
    were materialised before).  ``b`` is ``(Co,)`` (ignored unless ``spec.has_bias``).

Modules are imported lazily through :func:`get`.
"""

from __future__ import annotations

import importlib

NAMES = ("direct",)


def get(name: str):
    return importlib.import_module(f"fastconv.algorithms.{name}")
