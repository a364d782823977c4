"""Measured algorithm choices, cached on disk across processes.

Switched on with ``fastconv.autotune(True)`` or ``FASTCONV_AUTOTUNE=1``.  Then
``algorithm="auto"`` (and ``plan_conv``) time every eligible algorithm once per
case on random data and reuse the fastest from then on.  The cache is a JSON file
keyed by the case's shapes and arguments, dtype, backend, thread count, CPU model
and fastconv version: ``$FASTCONV_AUTOTUNE_CACHE`` or
``$XDG_CACHE_HOME/fastconv/autotune.json`` (``~/.cache/...``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time

__all__ = ["autotune", "autotune_enabled", "cache_path", "clear"]

_enabled = os.environ.get("FASTCONV_AUTOTUNE", "0").lower() in ("1", "true", "yes")
_lock = threading.Lock()
_mem: dict | None = None


def autotune(enable: bool = True) -> None:
    """Switch measured planning on or off (process-wide).

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.autotune(False)
    """
    global _enabled
    _enabled = bool(enable)


def autotune_enabled() -> bool:
    return _enabled


def cache_path() -> str:
    p = os.environ.get("FASTCONV_AUTOTUNE_CACHE")
    if p:
        return p
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastconv", "autotune.json")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    import platform

    return platform.processor() or platform.machine()


def key(spec, backend: str, threads: int) -> str:
    from . import __version__

    return json.dumps([list(map(str, spec.key())), spec.has_bias, backend, threads, _cpu(),
                       __version__])


def _load() -> dict:
    global _mem
    if _mem is None:
        try:
            with open(cache_path()) as f:
                _mem = json.load(f)
        except (OSError, ValueError):
            _mem = {}
    return _mem


def lookup(k: str) -> dict | None:
    with _lock:
        return _load().get(k)


def store(k: str, times: dict) -> None:
    path = cache_path()
    with _lock:
        mem = _load()
        mem[k] = times
        try:  # merge with what other processes wrote, then replace atomically
            with open(path) as f:
                disk = json.load(f)
            disk.update(mem)
            mem.update(disk)
        except (OSError, ValueError):
            pass
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(mem, f)
        os.replace(tmp, path)


def clear() -> None:
    """Forget every measured choice (in memory and on disk)."""
    global _mem
    with _lock:
        _mem = {}
        try:
            os.remove(cache_path())
        except OSError:
            pass


def measure(spec, names, backend: str, repeats: int = 3) -> dict:
    """Seconds per algorithm (min of ``repeats``) on random data of ``spec``'s shapes."""
    import numpy as np

    from .conv import _run
    from .plan import make_plan

    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.x_shape).astype(spec.dtype)
    w = rng.standard_normal(spec.w_shape).astype(spec.dtype)
    b = rng.standard_normal(spec.out_channels).astype(spec.dtype) if spec.has_bias else None
    times = {}
    for name in names:
        p = make_plan(spec, name, backend, _tune=False)
        _run(spec, p, x, w, b)  # warm-up: compiles, faults pages in
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            _run(spec, p, x, w, b)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    return times
