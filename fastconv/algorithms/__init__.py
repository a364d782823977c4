"""Convolution algorithms, one module each, every module with the same face:

``supports(spec) -> str | None``
    None when the algorithm can serve the case, else the reason it cannot.
``estimate(spec, threads) -> (seconds, workspace_bytes)``
    The planner's cost model for this algorithm.
``options(spec, threads) -> dict``
    Algorithm-specific parameters the plan carries (blocking, tile size...).
``forward(spec, plan, x, w, b, out, packed=None)``
    Writes the convolution of compute-dtype, C-contiguous ``x (N, C, *in)``
    into ``out (N, Co, *out)``; padding is implicit zeros (other padding modes
    were materialised before).  ``b`` is ``(Co,)`` (ignored unless ``spec.has_bias``).
    ``packed`` is the result of the module's optional ``pack_weight`` (below) for
    this ``w``, when the caller prepared the weight ahead of time.

Optional:

``pack_weight(spec, plan, w) -> object``
    Transform/pack the weight once (Winograd-domain weights, FFT spectra, GEMM
    panels); ``forward`` then skips that work.  Used by ``fastconv.prepare_weight``.

``plan_state() -> hashable`` (optional)
    Planning state that is not in the spec (e.g. Winograd's forced tile size);
    the planner memoises plans per spec and per this state.

Modules are imported lazily through :func:`get`.
"""

from __future__ import annotations

import importlib

NAMES = ("direct", "im2col", "winograd", "fft", "separable")


_modules: dict = {}


def get(name: str):
    mod = _modules.get(name)
    if mod is None:
        mod = _modules[name] = importlib.import_module(f"fastconv.algorithms.{name}")
    return mod


_state_fns: tuple | None = None


def plan_state() -> tuple:
    """Every module's ``plan_state()`` (the planner's memo key includes it).

    The modules that have one are looked up once: a ``getattr`` that misses on a
    module costs ~0.7 us, and this runs on every call (it was half of a memoised
    plan lookup)."""
    global _state_fns
    fns = _state_fns
    if fns is None:
        fns = _state_fns = tuple(
            f for f in (getattr(get(n), "plan_state", None) for n in NAMES) if f is not None)
    return tuple(f() for f in fns)
