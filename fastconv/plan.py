"""The dispatcher: a pure function of shapes that says how a convolution runs.

``plan_conv`` returns a :class:`Plan` (algorithm, backend, threads, workspace,
FLOPs and a one-sentence reason).  ``fastconv.conv*d(..., algorithm="auto")``
runs exactly the plan that ``plan_conv`` returns for the same arguments: both go
through :func:`make_plan`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from . import _config, algorithms, kernels
from ._spec import ALGORITHMS, BACKENDS, ConvSpec, check_choice, conv_spec
from .threads import cpu_count, get_num_threads

__all__ = ["Plan", "plan_conv", "make_plan", "last_plan"]

PASSES = ("forward", "input_grad", "weight_grad")


@dataclass(frozen=True)
class Plan:
    """How one convolution runs.

    Attributes
    ----------
    algorithm, backend : str
        What ``algorithm="auto"`` / ``backend="auto"`` resolve to.
    threads : int
        Threads the kernels use (1 for calls too small to pay for a fork).
    workspace_bytes : int
        Peak scratch memory of the algorithm (beyond input, weight and output).
    flops : int
        2 x multiply-adds of the direct definition.
    reason : str
        One sentence: why this algorithm.
    estimated_seconds : float
        The cost model's prediction.
    times : dict or None
        With ``measure=True``: measured seconds per eligible algorithm.
    """

    algorithm: str
    backend: str
    threads: int
    workspace_bytes: int
    flops: int
    reason: str
    estimated_seconds: float
    spec: ConvSpec = field(repr=False)
    options: dict = field(default_factory=dict, repr=False)
    times: dict | None = None


_last = threading.local()


def last_plan() -> Plan | None:
    """The plan of the last convolution executed by this Python thread."""
    return getattr(_last, "plan", None)


def _record(plan: Plan) -> None:
    _last.plan = plan


def _resolve_backend(spec: ConvSpec, backend: str, algorithm: str | None = None) -> str:
    """The backend to run.  ``algorithm``: the forward algorithm being planned
    (``"auto"`` or a name); None when a backward pass is planned."""
    check_choice(backend, "backend", BACKENDS)
    if backend == "cuda":
        # Optional GPU backend (fastconv/kernels/cuda): forward direct only.
        if algorithm is None:
            raise ValueError(
                "backend='cuda' has no kernels for the backward passes (CUDA kernels "
                "exist only for the forward direct convolution); use 'auto', 'numba' "
                "or 'cython'")
        why = None if algorithm == "auto" else kernels.refusal("cuda", algorithm)
        if why is not None:
            raise ValueError(f"algorithm={algorithm!r} cannot serve this case: {why}")
        if not kernels.available("cuda"):
            from .kernels.cuda import unavailable_reason

            raise ValueError(unavailable_reason())
        return "cuda"
    if backend == "cython" and not kernels.available("cython"):
        raise ValueError(
            "backend='cython' is not available: the compiled extension "
            "fastconv.kernels.cython is missing (reinstall with `pip install .`)"
        )
    if backend != "auto":
        return backend
    from .kernels.cuda import auto_pick  # no import of numba for small cases

    if auto_pick(spec, algorithm):
        return "cuda"
    # Cython whenever it is built: it needs no JIT (a fresh process pays ~0.25 s
    # to import Numba plus the cache load, or seconds of compilation on a cold
    # cache) and it is the faster backend on every direct case measured
    # (1 thread: depthwise 32ch 112^2 3x3 0.16 ms vs 0.40 ms Numba, 512ch 14^2
    # 0.09 vs 0.5 ms; generic 16->16 56^2 3x3 1.3 vs 1.8 ms).
    return "cython" if kernels.available("cython") else "numba"


#: Default accuracy an automatic plan must meet (relative to the output's scale).
DEFAULT_TOLERANCE = {4: 1e-3, 8: 1e-9}


def _error_bound(mod, spec) -> float:
    """An algorithm's documented relative error bound for ``spec``."""
    f = getattr(mod, "error_bound", None)
    if f is not None:
        return float(f(spec))
    eps = 2.0 ** -24 if spec.dtype.itemsize == 4 else 2.0 ** -53
    return 2 * eps * (spec.in_per_group * spec.taps) ** 0.5


def _accepts(mod, spec, weight, auto: bool) -> str | None:
    """Value-level eligibility (e.g. a separable kernel needs rank-1 weights)."""
    f = getattr(mod, "accepts", None)
    if f is None:
        return None
    if weight is None:
        # shapes alone cannot tell; "auto" only takes it when the values say so
        return "needs the weight values to decide (pass weight=...)" if auto else None
    return f(spec, weight)


_cache: dict = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 4096


def make_plan(spec: ConvSpec, algorithm: str = "auto", backend: str = "auto", *,
              weight=None, tolerance=None, _tune: bool = True) -> Plan:
    """Plan a validated spec; used by both ``plan_conv`` and the conv functions.

    The shape-level work (eligibility, error bounds, cost estimates, ranking) is a
    pure function of the case and is memoised; only value-level checks (a
    separable kernel must be rank-1) look at ``weight`` on every call.
    """
    from . import _autotune as _at

    check_choice(algorithm, "algorithm", ALGORITHMS)
    backend = _resolve_backend(spec, backend, algorithm)
    small = spec.flops < _config.PARALLEL_MIN_FLOPS
    threads = 1 if small else get_num_threads()
    tol = DEFAULT_TOLERANCE.get(spec.dtype.itemsize, 1e-9) if tolerance is None else float(
        tolerance)
    tune = bool(_tune and algorithm == "auto" and _at.autotune_enabled())
    key = (spec, algorithm, backend, threads, tol, tune, algorithms.plan_state())
    entry = _cache.get(key)
    if entry is None:
        entry = _candidates(spec, algorithm, backend, threads, small, tol, tune)
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = entry
    candidates, refusals = entry
    if algorithm != "auto":
        plan, mod = candidates[0]
        why = _accepts(mod, spec, weight, auto=False)
        if why is not None:
            raise ValueError(f"algorithm={algorithm!r} cannot serve this case: {why}")
        return plan
    value_refusals = {}
    for plan, mod in candidates:
        why = _accepts(mod, spec, weight, auto=True)
        if why is None:
            return plan
        value_refusals[plan.algorithm] = why
    refusals = {**refusals, **value_refusals}
    bounds = {n: _error_bound(algorithms.get(n), spec) for n in algorithms.NAMES}
    best = min(bounds, key=bounds.get)
    raise ValueError(
        f"tolerance={tol:g} cannot be met for {spec.dtype} inputs: the most accurate "
        f"algorithm ({best}) is bounded by {bounds[best]:.1e}; use float64 inputs or a "
        f"larger tolerance ({'; '.join(f'{k}: {v}' for k, v in refusals.items())})")


def _estimate(mod, spec, threads, backend):
    """``mod.estimate``, told the backend when the algorithm's modes depend on it
    (Winograd's fused-weight mode is Cython's)."""
    if getattr(mod, "BACKEND_MODES", False):
        return mod.estimate(spec, threads, backend)
    return mod.estimate(spec, threads)


def _options(mod, spec, threads, backend):
    """``mod.options``, told the backend like :func:`_estimate`."""
    if getattr(mod, "BACKEND_MODES", False):
        return mod.options(spec, threads, backend)
    return mod.options(spec, threads)


def _candidates(spec, algorithm, backend, threads, small, tol, tune):
    """Ranked ``[(Plan, algorithm module), ...]`` and the shape-level refusals."""
    if algorithm != "auto":
        if algorithm not in algorithms.NAMES:
            raise ValueError(
                f"algorithm={algorithm!r} is not available; available: "
                f"{', '.join(algorithms.NAMES)}"
            )
        mod = algorithms.get(algorithm)
        why = mod.supports(spec)
        if why is not None:
            raise ValueError(f"algorithm={algorithm!r} cannot serve this case: {why}")
        secs, ws = _estimate(mod, spec, threads, backend)
        return [(Plan(
            algorithm=algorithm, backend=backend, threads=threads, workspace_bytes=int(ws),
            flops=spec.flops, reason=f"{algorithm} was requested explicitly.",
            estimated_seconds=float(secs), spec=spec,
            options=_options(mod, spec, threads, backend),
        ), mod)], {}
    from . import _autotune as _at

    # "auto" ranks algorithms at the machine's core count, not at the current
    # thread setting: its choice (and so the result, bit for bit) does not depend
    # on num_threads.  Times reported in the plan are for ``threads``.
    rank_threads = 1 if small else cpu_count()
    rows, refusals = [], {}
    for name in algorithms.NAMES:
        mod = algorithms.get(name)
        why = kernels.refusal(backend, name) or mod.supports(spec)
        if why is None:
            bound = _error_bound(mod, spec)
            if bound > tol:
                why = f"its error bound {bound:.1e} exceeds the tolerance {tol:.1e}"
        if why is not None:
            refusals[name] = why
            continue
        secs, ws = _estimate(mod, spec, rank_threads, backend)
        rows.append([secs, name, ws, mod])
    measured = None
    if tune:
        shape_level = [r[1] for r in rows if getattr(r[3], "accepts", None) is None]
        k = _at.key(spec, backend, threads)
        measured = _at.lookup(k)
        if measured is None or not set(shape_level) <= set(measured):
            measured = _at.measure(spec, shape_level, backend)
            _at.store(k, measured)
        for r in rows:
            r[0] = measured.get(r[1], r[0])
    rows.sort(key=lambda r: r[0])
    out = []
    for secs, name, ws, mod in rows:
        # compare with the shape-level alternatives (value-level ones may be refused)
        others = [(s, n) for s, n, _, m in rows
                  if n != name and getattr(m, "accepts", None) is None]
        reason = _reason(spec, name, secs, others, measured is not None)
        if measured is None and rank_threads != threads:
            secs, ws = _estimate(mod, spec, threads, backend)
        out.append((Plan(
            algorithm=name, backend=backend, threads=threads, workspace_bytes=int(ws),
            flops=spec.flops, reason=reason, estimated_seconds=float(secs), spec=spec,
            options=_options(mod, spec, threads, backend),
        ), mod))
    return out, refusals


def _reason(spec: ConvSpec, name: str, secs: float, others, measured: bool) -> str:
    k = "x".join(map(str, spec.kernel))
    size = "x".join(map(str, spec.in_size))
    what = {
        "direct": "the direct loop nest",
        "im2col": "im2col + BLAS GEMM",
        "fft": "FFT (overlap-save)",
        "winograd": "Winograd",
        "separable": "separable 1-D passes (the kernel is rank-1)",
    }.get(name, name)
    case = (f"a depthwise {k} convolution" if spec.depthwise
            else f"a {k} kernel, {spec.in_channels}->{spec.out_channels} channels")
    how = "measured" if measured else "estimated"
    if others:
        s2, n2 = min(others)
        return (f"{what} has the lowest {how} time for {case} on {size} "
                f"({secs * 1e3:.3g} ms vs {s2 * 1e3:.3g} ms for {n2}).")
    return f"{what} is the only eligible algorithm for {case} on {size}."


def plan_conv(
    x_shape,
    weight_shape,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    dtype="float32",
    backend="auto",
    *,
    padding_mode="zeros",
    algorithm="auto",
    bias=False,
    measure=False,
    pass_="forward",
    weight=None,
    tolerance=None,
) -> Plan:
    """Plan a convolution from shapes alone.

    Parameters
    ----------
    x_shape, weight_shape : tuple of int
        Shapes as passed to ``conv{1,2,3}d`` (the number of spatial axes is
        ``len(weight_shape) - 2``).
    stride, padding, dilation, groups, padding_mode
        As in :func:`fastconv.conv2d`.
    dtype : dtype-like
        dtype of input and weight.
    backend, algorithm : str
        As in :func:`fastconv.conv2d`; ``algorithm="auto"`` plans the choice.
    bias : bool
        Whether a bias is added.
    measure : bool
        Also time every eligible algorithm on random data; the measured times
        are returned in ``plan.times`` (the chosen algorithm is unchanged).
    weight : ndarray, optional
        The weight values.  Needed for value-dependent choices (a rank-1 kernel
        runs as separable passes); ``conv*d`` always plans with its weight.
    tolerance : float, optional
        Largest acceptable relative error (vs the output's scale); algorithms
        whose documented bound exceeds it are not chosen.  Default 1e-3 for
        float32, 1e-9 for float64.
    pass_ : {"forward", "input_grad", "weight_grad"}
        Which pass to plan: the forward convolution, or one of the backward
        passes run by ``conv*d_backward`` (their ``algorithm="auto"`` runs it).

    Returns
    -------
    Plan

    Examples
    --------
    >>> import fastconv as fc
    >>> p = fc.plan_conv((1, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32)
    >>> p.algorithm
    'direct'
    """
    nd = len(tuple(weight_shape)) - 2
    if nd not in (1, 2, 3):
        raise ValueError(
            f"weight_shape must have 3, 4 or 5 dimensions, got {tuple(weight_shape)}"
        )
    spec = conv_spec(
        nd, x_shape, weight_shape, (weight_shape[0],) if bias else None, stride, padding,
        dilation, groups, padding_mode, np.dtype(dtype), np.dtype(dtype),
    )
    check_choice(pass_, "pass_", PASSES)
    if pass_ != "forward":
        from .backward import plan_backward

        return plan_backward(spec, pass_, algorithm, backend, tolerance=tolerance)
    plan = make_plan(spec, algorithm, backend, weight=weight, tolerance=tolerance)
    if not measure:
        return plan
    from dataclasses import replace

    from ._autotune import measure as _measure

    # shape-level algorithms only: random weights say nothing about rank-1 kernels
    names = [n for n in algorithms.NAMES if algorithms.get(n).supports(spec) is None
             and getattr(algorithms.get(n), "accepts", None) is None
             and kernels.refusal(plan.backend, n) is None]
    return replace(plan, times=_measure(spec, names, plan.backend))
