"""Pooling and its backward: fastconv vs PyTorch vs a plain copy of the input.

Pooling is memory-bound, so besides PyTorch every group has a ``copy`` row: the
input copied into a preallocated array (``np.copyto``, split over the thread
count with a thread pool -- NumPy releases the GIL), the floor of any pass that
reads the input once.  One pytest-benchmark group per (case, thread count), so
the table compares the three rows directly.

Forward rows time ``fc.<op>`` and ``torch.nn.functional.<op>``; fastconv rows record
the pooling plan they ran (``fc.plan_pool``: kernels, threads, streaming, reason).  Backward rows
time only the backward: fastconv's ``*_backward(grad_output, x, ...)`` (max
pooling recomputes the argmax: it is given no indices; the ``fastconv-indices``
rows pass the forward's indices instead) against the ATen kernel
PyTorch autograd runs (``max_pool2d_with_indices_backward`` with the forward's
indices, ``avg_pool2d_backward``, ``_adaptive_avg_pool2d_backward``).

    python -m pytest bench/test_bench_pool.py --benchmark-enable
    python -m pytest bench/test_bench_pool.py --benchmark-enable --benchmark-json pool.json
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv as fc

from .conftest import PEERS, make_data, max_rel_err

torch = PEERS.torch
F = PEERS.F

SHAPE = (8, 64, 112, 112)
X = None


def _x():
    global X
    if X is None:
        X = make_data(SHAPE, seed=0)
    return X


# name -> (fastconv forward, torch forward, fastconv backward, torch backward builder)
# backward functions take (g, x); torch builders take (tx) and return a closure
# over the forward's saved tensors (indices), timing the backward kernel only.
def _torch_max_bw(k, s, p):
    def build(tx):
        y, idx = F.max_pool2d(tx, k, s, p, return_indices=True)
        g = torch.ones_like(y)
        return (lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            g, tx, [k, k], [s, s], [p, p], [1, 1], False, idx)), y.shape
    return build


def _torch_avg_bw(k):
    def build(tx):
        y = F.avg_pool2d(tx, k)
        g = torch.ones_like(y)
        return (lambda: torch.ops.aten.avg_pool2d_backward(
            g, tx, [k, k], [k, k], [0, 0], False, True, None)), y.shape
    return build


def _torch_gap_bw(tx):
    y = F.adaptive_avg_pool2d(tx, 1)
    g = torch.ones_like(y)
    return (lambda: torch.ops.aten._adaptive_avg_pool2d_backward(g, tx)), y.shape


FORWARD = {
    "max2x2": (lambda x: fc.max_pool2d(x, 2), lambda t: F.max_pool2d(t, 2)),
    "max3x3s2p1": (lambda x: fc.max_pool2d(x, 3, 2, 1), lambda t: F.max_pool2d(t, 3, 2, 1)),
    "avg2x2": (lambda x: fc.avg_pool2d(x, 2), lambda t: F.avg_pool2d(t, 2)),
    "global_avg": (lambda x: fc.adaptive_avg_pool2d(x, 1),
                   lambda t: F.adaptive_avg_pool2d(t, 1)),
    "adaptive_avg7": (lambda x: fc.adaptive_avg_pool2d(x, 7),
                      lambda t: F.adaptive_avg_pool2d(t, 7)),
}
BACKWARD = {
    "max2x2": (lambda g, x: fc.max_pool2d_backward(g, x, 2), _torch_max_bw(2, 2, 0)),
    "max3x3s2p1": (lambda g, x: fc.max_pool2d_backward(g, x, 3, 2, 1),
                   _torch_max_bw(3, 2, 1)),
    "avg2x2": (lambda g, x: fc.avg_pool2d_backward(g, x, 2), _torch_avg_bw(2)),
    "global_avg": (lambda g, x: fc.adaptive_avg_pool2d_backward(g, x, 1), _torch_gap_bw),
}
IMPLS = ["fastconv", "torch", "copy"]


def _copy_fn(x, threads):
    """``np.copyto`` of ``x`` into a preallocated array, split over ``threads``."""
    dst = np.empty_like(x)
    if threads == 1:
        return lambda: np.copyto(dst, x)
    pool = ThreadPoolExecutor(threads)
    bounds = np.linspace(0, x.shape[0], threads + 1).astype(int)
    parts = [(dst[a:b], x[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def run():
        list(pool.map(lambda p: np.copyto(*p), parts))

    return run


def _nbytes(*shapes):
    return sum(int(np.prod(s)) * 4 for s in shapes)


def _plan_info(benchmark):
    """What the last fastconv pooling call ran (its PoolPlan) into extra_info."""
    plan = fc.pool.last_plan()
    if plan is not None:
        benchmark.extra_info.update(
            kernels="+".join(plan.kernels), backend=plan.backend, plan_threads=plan.threads,
            streaming=plan.streaming, estimated_s=plan.estimated_seconds, reason=plan.reason)


MAX_GEOMETRY = {"max2x2": (2, 2, 0), "max3x3s2p1": (3, 2, 1)}


@pytest.mark.parametrize("impl", IMPLS + ["fastconv-indices"])
@pytest.mark.parametrize("case", list(FORWARD))
def test_pool_forward(benchmark, bench, threads, case, impl):
    x = _x()
    fc_fn, t_fn = FORWARD[case]
    y = fc_fn(x)
    info = dict(case=f"{case} {SHAPE} float32", impl=impl, threads=threads,
                bytes=_nbytes(x.shape, y.shape), shape=str(SHAPE))
    if impl == "fastconv-indices":  # max pooling returning the int64 argmax indices too
        if case not in MAX_GEOMETRY:
            pytest.skip("only max pooling returns indices")
        k, s, p = MAX_GEOMETRY[case]
        info["bytes"] += 2 * int(np.prod(y.shape)) * 4  # the int64 indices written
        res, idx = bench(benchmark, lambda: fc.max_pool2d(x, k, s, p, return_indices=True),
                         backend="cython", **info)
        _plan_info(benchmark)
        np.testing.assert_array_equal(res, y)
        if torch is not None:
            ti = F.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)[1]
            np.testing.assert_array_equal(idx, ti.numpy())
    elif impl == "fastconv":
        res = bench(benchmark, lambda: fc_fn(x), backend="cython", **info)
        _plan_info(benchmark)
        if torch is not None:
            benchmark.extra_info["max_rel_err"] = max_rel_err(
                res, t_fn(torch.from_numpy(x)).numpy())
            assert benchmark.extra_info["max_rel_err"] < 1e-5
    elif impl == "torch":
        PEERS.need("torch")
        tx = torch.from_numpy(x)
        with torch.no_grad():
            bench(benchmark, lambda: t_fn(tx), **info)
    else:
        info["bytes"] = _nbytes(x.shape, x.shape)
        bench(benchmark, _copy_fn(x, threads), **info)


@pytest.mark.parametrize("impl", IMPLS + ["fastconv-indices"])
@pytest.mark.parametrize("case", list(BACKWARD))
def test_pool_backward(benchmark, bench, threads, case, impl):
    x = _x()
    fc_bw, t_build = BACKWARD[case]
    y = FORWARD[case][0](x)
    g = np.ones_like(y)
    info = dict(case=f"{case} backward {SHAPE} float32", impl=impl, threads=threads,
                bytes=_nbytes(x.shape, y.shape), shape=str(SHAPE))
    if impl == "fastconv-indices":  # max pooling given the forward's indices
        if not case.startswith("max"):
            pytest.skip("only max pooling takes indices")
        k, s, p = MAX_GEOMETRY[case]
        _, idx = fc.max_pool2d(x, k, s, p, return_indices=True)
        res = bench(benchmark, lambda: fc.max_pool2d_backward(g, x, k, s, p, indices=idx),
                    backend="cython", **info)
        _plan_info(benchmark)
        np.testing.assert_array_equal(res, fc_bw(g, x))
    elif impl == "fastconv":
        res = bench(benchmark, lambda: fc_bw(g, x), backend="cython", **info)
        _plan_info(benchmark)
        if torch is not None:
            fn, _ = t_build(torch.from_numpy(x))
            benchmark.extra_info["max_rel_err"] = max_rel_err(res, fn().numpy())
            assert benchmark.extra_info["max_rel_err"] < 1e-5
    elif impl == "torch":
        PEERS.need("torch")
        fn, _ = t_build(torch.from_numpy(x))
        bench(benchmark, fn, **info)
    else:
        info["bytes"] = _nbytes(x.shape, x.shape)
        bench(benchmark, _copy_fn(x, threads), **info)
