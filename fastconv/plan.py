"""The dispatcher: a pure function of shapes that says how a convolution runs.

``plan_conv`` returns a :class:`Plan` (algorithm, backend, threads, workspace,
FLOPs and a one-sentence reason).  ``fastconv.conv*d(..., algorithm="auto")``
runs exactly the plan that ``plan_conv`` returns for the same arguments: both go
through :func:`make_plan`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import _config, algorithms, kernels
from ._spec import ALGORITHMS, BACKENDS, ConvSpec, check_choice, conv_spec
from .threads import get_num_threads

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


def _resolve_backend(spec: ConvSpec, backend: str) -> str:
    check_choice(backend, "backend", BACKENDS)
    if backend == "cuda":
        raise ValueError(
            "backend='cuda' is not available: fastconv has no CUDA kernels for "
            "convolution yet (use 'auto', 'numba' or 'cython')"
        )
    if backend == "cython" and not kernels.available("cython"):
        raise ValueError(
            "backend='cython' is not available: the compiled extension "
            "fastconv.kernels.cython is missing (reinstall with `pip install .`)"
        )
    if backend != "auto":
        return backend
    # The Cython kernels need no JIT (no compile latency, no Numba import) and
    # measure as fast as the Numba ones on the direct loops.
    return "cython" if kernels.available("cython") else "numba"


def make_plan(spec: ConvSpec, algorithm: str = "auto", backend: str = "auto") -> Plan:
    """Plan a validated spec; used by both ``plan_conv`` and the conv functions."""
    check_choice(algorithm, "algorithm", ALGORITHMS)
    backend = _resolve_backend(spec, backend)
    nthreads = get_num_threads()
    threads = 1 if spec.flops < _config.PARALLEL_MIN_FLOPS else nthreads
    candidates = algorithms.NAMES if algorithm == "auto" else (algorithm,)
    best = None
    refusals = []
    for name in candidates:
        if name not in algorithms.NAMES:
            raise ValueError(
                f"algorithm={name!r} is not implemented yet; available: "
                f"{', '.join(algorithms.NAMES)}"
            )
        mod = algorithms.get(name)
        why_not = mod.supports(spec)
        if why_not is not None:
            refusals.append(f"{name}: {why_not}")
            continue
        secs, ws = mod.estimate(spec, threads)
        if best is None or secs < best[1]:
            best = (name, secs, ws, mod)
    if best is None:
        raise ValueError(f"algorithm={algorithm!r} cannot serve this case: {'; '.join(refusals)}")
    name, secs, ws, mod = best
    if algorithm != "auto":
        reason = f"{name} was requested explicitly."
    else:
        reason = _reason(spec, name, refusals)
    return Plan(
        algorithm=name, backend=backend, threads=threads, workspace_bytes=int(ws),
        flops=spec.flops, reason=reason, estimated_seconds=float(secs), spec=spec,
        options=mod.options(spec, threads),
    )


def _reason(spec: ConvSpec, name: str, refusals) -> str:
    k = "x".join(map(str, spec.kernel))
    if name == "direct":
        if spec.depthwise:
            return f"Depthwise {k} convolution: the direct row kernel streams each plane once."
        return f"Direct convolution is the cheapest available algorithm for a {k} kernel here."
    return f"{name} has the lowest estimated time for a {k} kernel."


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

        return plan_backward(spec, pass_, algorithm, backend)
    plan = make_plan(spec, algorithm, backend)
    if not measure:
        return plan
    from .conv import _run

    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.x_shape).astype(spec.dtype)
    w = rng.standard_normal(spec.w_shape).astype(spec.dtype)
    b = rng.standard_normal(spec.out_channels).astype(spec.dtype)
    times = {}
    for name in algorithms.NAMES:
        if algorithms.get(name).supports(spec) is not None:
            continue
        p = make_plan(spec, name, plan.backend)
        _run(spec, p, x, w, b)  # warm-up (compiles)
        t0 = time.perf_counter()
        _run(spec, p, x, w, b)
        times[name] = time.perf_counter() - t0
    from dataclasses import replace

    return replace(plan, times=times)
