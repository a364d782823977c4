"""Backward passes: input + weight gradients of convolution layers, fastconv vs PyTorch.

One pytest-benchmark group per (case, thread count).  Each row computes the input
gradient and the weight gradient of one layer from ``grad_output``:

* ``fastconv``: ``fc.conv*d_backward(..., needs=("input", "weight"))`` with
  ``algorithm="auto"`` (whatever ``plan_conv(..., pass_=...)`` picks for each pass,
  recorded as ``input+weight`` algorithms, Winograd with its tile and mode);
* ``torch``: ``torch.ops.aten.convolution_backward`` with the output mask
  ``(input, weight)``, the kernel PyTorch autograd runs for a convolution's
  backward (the forward is not timed for either).

Every fastconv result is checked against PyTorch in float64 (max relative error
recorded; > 1e-3 fails).

    python -m pytest bench/test_bench_backward.py --benchmark-enable --benchmark-json out.json
    python -m pytest bench/test_bench_backward.py --benchmark-enable --quick
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

import fastconv as fc

from .conftest import PEERS, conv_flops, make_data, make_weight, max_rel_err

torch = PEERS.torch

ERR_LIMIT = 1e-3


@dataclass(frozen=True)
class Case:
    name: str
    x: tuple
    w: tuple
    stride: int = 1
    padding: int = 0
    groups: int = 1
    quick: bool = False

    @property
    def nd(self) -> int:
        return len(self.w) - 2

    @property
    def out_spatial(self) -> tuple:
        return tuple((L + 2 * self.padding - (k - 1) - 1) // self.stride + 1
                     for L, k in zip(self.x[2:], self.w[2:], strict=True))

    @property
    def flops(self) -> int:
        """Both passes: 2 x (2 x multiply-adds of the forward definition)."""
        return 2 * conv_flops(self.x, self.w, self.out_spatial)

    @property
    def shape(self) -> str:
        s = f"x{self.x} w{self.w}"
        for k, v, d in (("s", self.stride, 1), ("p", self.padding, 0), ("g", self.groups, 1)):
            if v != d:
                s += f" {k}{v}"
        return s

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, groups=self.groups)


CASES = [
    Case("lenet_conv1", (64, 1, 32, 32), (6, 1, 5, 5), quick=True),
    Case("lenet_conv2", (64, 6, 14, 14), (16, 6, 5, 5)),
    Case("resnet3x3_56", (8, 64, 56, 56), (64, 64, 3, 3), padding=1, quick=True),
    Case("resnet3x3_28", (8, 128, 28, 28), (128, 128, 3, 3), padding=1),
    Case("resnet3x3_14", (8, 256, 14, 14), (256, 256, 3, 3), padding=1),
    Case("resnet3x3_7", (8, 512, 7, 7), (512, 512, 3, 3), padding=1),
    Case("resnet1x1_56", (8, 256, 56, 56), (64, 256, 1, 1)),
    Case("mobilenet_dw112", (8, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32,
         quick=True),
]
CASE_BY_NAME = {c.name: c for c in CASES}
BWD = {1: fc.conv1d_backward, 2: fc.conv2d_backward, 3: fc.conv3d_backward}


def _params():
    return [pytest.param(c.name, impl, id=f"{c.name}-{impl}",
                         marks=[pytest.mark.quick] if c.quick else [])
            for c in CASES for impl in ("fastconv", "torch")]


@functools.lru_cache(maxsize=2)
def case_data(name: str):
    c = CASE_BY_NAME[name]
    x = make_data(c.x, seed=0)
    w = make_weight(c.w, seed=1)
    g = make_data((c.x[0], c.w[0]) + c.out_spatial, seed=3)
    return x, w, g


def _torch_backward(c: Case, x, w, g):
    tx, tw, tg = (torch.from_numpy(a) for a in (x, w, g))
    nd = c.nd
    args = ((c.stride,) * nd, (c.padding,) * nd, (1,) * nd, False, (0,) * nd, c.groups,
            (True, True, False))

    def run():
        return torch.ops.aten.convolution_backward(tg, tx, tw, None, *args)

    return run


@functools.lru_cache(maxsize=1)
def reference(name: str):
    """(grad_input, grad_weight) in float64 (PyTorch, or fastconv's NumPy reference)."""
    c = CASE_BY_NAME[name]
    x, w, g = (a.astype(np.float64) for a in case_data(name))
    if torch is None:
        from fastconv import reference as ref

        gx, gw, _ = ref.conv_backward(g, x, w, **c.kwargs())
        return gx, gw
    gx, gw, _ = _torch_backward(c, x, w, g)()
    return gx.numpy(), gw.numpy()


def _describe(plan) -> str:
    """Algorithm name, with the Winograd tile (and weight-gradient mode) when it runs."""
    o = plan.options
    fwd = o.get("forward_plan")
    if fwd is not None and fwd.algorithm == "winograd":
        return f"winograd-F{fwd.options['tile']}"
    if plan.algorithm == "winograd" and "tile" in o:
        return f"winograd-F{o['tile']}-{o['mode']}"
    return plan.algorithm


@pytest.mark.parametrize("case,impl", _params())
def test_backward(benchmark, bench, threads, peers, case, impl):
    c = CASE_BY_NAME[case]
    x, w, g = case_data(case)
    info = dict(case=case, impl=impl, threads=threads, flops=c.flops, shape=c.shape)
    if impl == "torch":
        peers.need("torch")
        bench(benchmark, _torch_backward(c, x, w, g), **info)
        return
    kw = c.kwargs()
    pi = fc.plan_conv(c.x, c.w, pass_="input_grad", **kw)
    pw = fc.plan_conv(c.x, c.w, pass_="weight_grad", **kw)
    info.update(algorithm=f"{_describe(pi)}+{_describe(pw)}", backend=pi.backend)
    res = bench(benchmark, lambda: BWD[c.nd](g, x, w, needs=("input", "weight"), **kw), **info)
    ex, ew = reference(case)
    err = max(max_rel_err(res.input, ex), max_rel_err(res.weight, ew))
    benchmark.extra_info["max_rel_err"] = err
    assert err < ERR_LIMIT, f"{case}: max relative error {err:.2e}"
