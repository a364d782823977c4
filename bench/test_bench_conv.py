"""Convolution layers: fastconv vs PyTorch vs SciPy on real layer shapes, float32.

One pytest-benchmark group per (case, thread count); in each group fastconv
(``algorithm="auto"``, whatever ``plan_conv`` picks), ``torch.nn.functional.conv*d``
when PyTorch is installed, and for single-channel filters SciPy's
``correlate`` (direct / FFT) and ``oaconvolve``.  Every fastconv run is checked
against a float64 reference (max relative error recorded, > 1e-3 fails); so are the
peers (their error is recorded too).

    python -m pytest bench/test_bench_conv.py --benchmark-enable --benchmark-json out.json
    python -m pytest bench/test_bench_conv.py --benchmark-enable --quick      # subset
    python -m pytest bench/test_bench_conv.py --benchmark-enable --fc-variants all

The ``interleaved`` case times a NumPy matmul followed by a convolution, as a
user's pipeline runs them, to expose thread-pool interference (OpenBLAS worker
threads spin after each call and take a core from the next parallel region).
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import dataclass

import numpy as np
import pytest

import fastconv as fc

from .conftest import (
    PEERS,
    conv_flops,
    fastconv_plan_info,
    fc_variants,
    make_data,
    make_weight,
    max_rel_err,
    run_bench,
)

torch, F, sig = PEERS.torch, PEERS.F, PEERS.scipy_signal

#: Max relative error a benchmarked fastconv result may have (float32, any algorithm).
ERR_LIMIT = 1e-3
#: SciPy's direct correlate is timed only below this many FLOPs (it runs at ~0.1 GFLOP/s here).
SCIPY_DIRECT_MAX_FLOPS = 5e7


@dataclass(frozen=True)
class Case:
    name: str
    x: tuple
    w: tuple
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False
    quick: bool = False
    kernel: str = "random"  # or "gaussian": a rank-1 (separable) blur kernel
    #: Part of the issue's layer suite (its geometric mean); False for extra cases.
    in_suite: bool = True

    @property
    def nd(self) -> int:
        return len(self.w) - 2

    @property
    def single_channel(self) -> bool:
        """N = C_in = C_out = 1, "same" padding, stride 1: a filter SciPy can run."""
        return (self.x[0] == 1 and self.x[1] == 1 and self.w[0] == 1 and self.stride == 1
                and self.dilation == 1 and all(k % 2 == 1 for k in self.w[2:])
                and all(self.padding == k // 2 for k in self.w[2:]))

    @property
    def out_spatial(self) -> tuple:
        return tuple((L + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1
                     for L, k in zip(self.x[2:], self.w[2:], strict=True))

    @property
    def flops(self) -> int:
        return conv_flops(self.x, self.w, self.out_spatial)

    @property
    def shape(self) -> str:
        s = f"x{self.x} w{self.w}"
        for k, v, d in (("s", self.stride, 1), ("p", self.padding, 0),
                        ("d", self.dilation, 1), ("g", self.groups, 1)):
            if v != d:
                s += f" {k}{v}"
        s += " +bias" if self.bias else ""
        return s + (f" {self.kernel} kernel" if self.kernel != "random" else "")

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)


CASES = [
    Case("lenet_conv1", (64, 1, 32, 32), (6, 1, 5, 5), bias=True, quick=True),
    Case("lenet_conv2", (64, 6, 14, 14), (16, 6, 5, 5), bias=True),
    Case("resnet_stem7x7s2", (8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3),
    Case("resnet3x3_56", (8, 64, 56, 56), (64, 64, 3, 3), padding=1),
    Case("resnet3x3_28", (8, 128, 28, 28), (128, 128, 3, 3), padding=1),
    Case("resnet3x3_14", (8, 256, 14, 14), (256, 256, 3, 3), padding=1, quick=True),
    Case("resnet3x3_7", (8, 512, 7, 7), (512, 512, 3, 3), padding=1),
    Case("resnet1x1_56", (8, 256, 56, 56), (64, 256, 1, 1)),
    Case("mobilenet_dw112_n1", (1, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32,
         quick=True),
    Case("mobilenet_dw112_n8", (8, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32),
    Case("mobilenet_dw14", (8, 512, 14, 14), (512, 1, 3, 3), padding=1, groups=512),
    Case("dilated3x3_56", (8, 64, 56, 56), (64, 64, 3, 3), padding=2, dilation=2),
    # AlexNet-like 11x11 layer, 3 -> 16 channels, "same" padding, stride 1.
    Case("conv11x11_256", (1, 3, 256, 256), (16, 3, 11, 11), padding=5),
    # Single-channel image filters ("same" output), SciPy runs these too.
    Case("filter512_k15", (1, 1, 512, 512), (1, 1, 15, 15), padding=7, quick=True),
    Case("filter512_k31", (1, 1, 512, 512), (1, 1, 31, 31), padding=15),
    # A Gaussian blur: rank-1 kernel, the separable algorithm's case.
    Case("gauss512_k15", (1, 1, 512, 512), (1, 1, 15, 15), padding=7, kernel="gaussian",
         in_suite=False),
    Case("audio1d_k101", (1, 1, 16000), (1, 1, 101), padding=50, quick=True),
    Case("conv3d_16to32_32", (1, 16, 32, 32, 32), (32, 16, 3, 3, 3), padding=1),
    # ResNet's downsampling 3x3 stride-2 layers (where fastconv still loses: README
    # "Where we lose"); extra cases, outside the suite.
    Case("resnet3x3s2_56", (8, 64, 56, 56), (128, 64, 3, 3), stride=2, padding=1,
         in_suite=False),
    Case("resnet3x3s2_28", (8, 128, 28, 28), (256, 128, 3, 3), stride=2, padding=1,
         in_suite=False),
    Case("resnet3x3s2_14", (8, 256, 14, 14), (512, 256, 3, 3), stride=2, padding=1,
         in_suite=False),
]
CASE_BY_NAME = {c.name: c for c in CASES}

FC_FUNCS = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}
PLAN_TAKES_WEIGHT = "weight" in inspect.signature(fc.plan_conv).parameters
SCIPY_IMPLS = ("scipy-direct", "scipy-fft", "scipy-oaconvolve")


#: fastconv with a weight prepared (planned and packed) once, outside the timing.
HAS_PREPARED = hasattr(fc, "prepare_weight")


def impls_of(case: Case) -> list[str]:
    out = ["fastconv"] + (["fastconv-prepared"] if HAS_PREPARED else []) + ["torch"]
    if case.single_channel:
        out += [m for m in SCIPY_IMPLS
                if m != "scipy-direct" or case.flops <= SCIPY_DIRECT_MAX_FLOPS]
    return out


def _params():
    ps = []
    for c in CASES:
        marks = [pytest.mark.quick] if c.quick else []
        for impl in impls_of(c):
            ps.append(pytest.param(c.name, impl, id=f"{c.name}-{impl}", marks=marks))
    return ps


def gaussian_kernel(shape, sigma_frac=0.25) -> np.ndarray:
    """Normalised Gaussian of ``shape`` (C_out, C_in, *k): an outer product, rank 1."""
    w = np.ones((), np.float64)
    for k in shape[2:]:
        t = np.arange(k) - (k - 1) / 2
        g = np.exp(-0.5 * (t / (sigma_frac * k)) ** 2)
        w = np.multiply.outer(w, g / g.sum())
    return np.broadcast_to(w, shape).astype(np.float32)


@functools.lru_cache(maxsize=3)
def case_data(name: str):
    c = CASE_BY_NAME[name]
    x = make_data(c.x, seed=0)
    w = make_weight(c.w, seed=1) if c.kernel == "random" else gaussian_kernel(c.w)
    b = make_data((c.w[0],), seed=2) if c.bias else None
    return x, w, b


@functools.lru_cache(maxsize=2)
def reference(name: str):
    """float64 result of the case: SciPy's FFT correlate for single-channel filters,
    ``fastconv.reference`` (NumPy einsum) for grouped cases, PyTorch in float64 for
    the rest (its float64 grouped / large-kernel paths take seconds)."""
    c = CASE_BY_NAME[name]
    x, w, b = case_data(name)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    if c.single_channel and sig is not None:
        y = sig.correlate(x64.reshape(c.x[2:]), w64.reshape(c.w[2:]), mode="same",
                          method="fft")
        return y.reshape((1, 1) + y.shape)
    if c.groups > 1 or torch is None:
        from fastconv import reference as ref

        return ref.conv(x64, w64, b64, **c.kwargs())
    conv = getattr(F, f"conv{c.nd}d")
    with torch.inference_mode():
        y = conv(torch.from_numpy(x64), torch.from_numpy(w64),
                 None if b64 is None else torch.from_numpy(b64), **c.kwargs())
    return y.numpy()


def fastconv_fn(c: Case, x, w, b, algorithm="auto", backend="auto"):
    f = FC_FUNCS[c.nd]
    kw = c.kwargs()
    return lambda: f(x, w, b, algorithm=algorithm, backend=backend, **kw)


def torch_fn(c: Case, x, w, b):
    conv = getattr(F, f"conv{c.nd}d")
    kw = c.kwargs()
    wt = torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)

    def run():  # NumPy in, NumPy out, as a NumPy user runs it
        with torch.inference_mode():
            return conv(torch.from_numpy(x), wt, bt, **kw).numpy()

    return run


def scipy_fn(c: Case, impl: str, x, w):
    a = x.reshape(x.shape[2:])
    k = w.reshape(w.shape[2:])
    if impl == "scipy-oaconvolve":
        kf = np.ascontiguousarray(k[(slice(None, None, -1),) * k.ndim])
        return lambda: sig.oaconvolve(a, kf, mode="same")
    method = impl.split("-", 1)[1]
    return lambda: sig.correlate(a, k, mode="same", method=method)


def _check(c: Case, y, impl: str) -> float:
    ref = reference(c.name)
    y = np.asarray(y).reshape(ref.shape)
    err = max_rel_err(y, ref)
    assert err <= ERR_LIMIT, f"{impl} on {c.name}: max relative error {err:.2e} > {ERR_LIMIT}"
    return err


@pytest.mark.parametrize(("case", "impl"), _params())
def test_conv(benchmark, request, threads, case, impl):
    c = CASE_BY_NAME[case]
    x, w, b = case_data(case)
    info = dict(case=case, impl=impl, threads=threads, suite="conv", flops=c.flops,
                shape=c.shape, nd=c.nd, geomean=c.in_suite)
    if impl == "fastconv":
        plan = fc.plan_conv(x.shape, w.shape, bias=b is not None, **c.kwargs(),
                            **({"weight": w} if PLAN_TAKES_WEIGHT else {}))
        info["planned_algorithm"] = plan.algorithm
        fn = fastconv_fn(c, x, w, b)
    elif impl == "fastconv-prepared":
        pw = fc.prepare_weight(w, x.shape, bias=b is not None, **c.kwargs())
        info["planned_algorithm"] = pw.plan.algorithm
        fn = fastconv_fn(c, x, pw, b)
    elif impl == "torch":
        if torch is None:
            pytest.skip("PyTorch is not installed")
        fn = torch_fn(c, x, w, b)
    else:
        if sig is None:
            pytest.skip("SciPy is not installed")
        fn = scipy_fn(c, impl, x, w)
    y = run_bench(benchmark, fn, **info)
    if impl.startswith("fastconv"):
        # What the call ran (the choice may also depend on the weight's values,
        # e.g. a rank-1 kernel -> separable, which plan_conv cannot see from shapes).
        benchmark.extra_info.update(fastconv_plan_info(fc.plan.last_plan()))
    benchmark.extra_info["max_rel_err"] = _check(c, y, impl)


# --------------------------------------------------------------------------------------
# fastconv variants (forced algorithm / backend), only with --fc-variants
# --------------------------------------------------------------------------------------
def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ != "test_conv_variant":
        return
    variants = fc_variants(metafunc.config)
    ps = [pytest.param(c.name, v, id=f"{c.name}-{v[0]}",
                       marks=[pytest.mark.quick] if c.quick else [])
          for c in CASES for v in variants]
    if not ps:
        ps = [pytest.param(None, None, id="none",
                           marks=pytest.mark.skip(reason="no --fc-variants given"))]
    metafunc.parametrize(("case", "variant"), ps)


def test_conv_variant(benchmark, threads, case, variant):
    impl, algorithm, backend = variant
    c = CASE_BY_NAME[case]
    x, w, b = case_data(case)
    try:
        plan = fc.plan_conv(x.shape, w.shape, bias=b is not None, algorithm=algorithm,
                            backend=backend, **c.kwargs())
    except ValueError as e:  # the algorithm cannot serve this case (documented refusal)
        pytest.skip(f"{impl}: {e}")
    fn = fastconv_fn(c, x, w, b, algorithm, backend)
    try:
        fn()
    except ValueError as e:  # refusals that depend on the weight's values (separable)
        pytest.skip(f"{impl}: {e}")
    y = run_bench(benchmark, fn, case=case, impl=impl, threads=threads, suite="conv",
                  flops=c.flops, shape=c.shape, nd=c.nd, planned_algorithm=plan.algorithm,
                  geomean=c.in_suite)
    benchmark.extra_info.update(fastconv_plan_info(fc.plan.last_plan()))
    benchmark.extra_info["max_rel_err"] = _check(c, y, impl)


# --------------------------------------------------------------------------------------
# A user's pipeline: NumPy matmul, then a convolution, in a loop
# --------------------------------------------------------------------------------------
MM = 512
INTERLEAVED = Case("resnet3x3_28_n1", (1, 128, 28, 28), (128, 128, 3, 3), padding=1)


def _best(fn, reps=5):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


@pytest.mark.quick
@pytest.mark.parametrize("impl", ["fastconv", "torch"])
def test_interleaved_matmul_conv(benchmark, threads, impl):
    """``a @ b`` (512x512 float32, NumPy BLAS) then ``conv2d``, timed together; the
    parts are also timed alone (``parts_s``) so the report can show interference."""
    c = INTERLEAVED
    a = make_data((MM, MM), seed=3)
    bm = make_data((MM, MM), seed=4)
    x, w = make_data(c.x, seed=0), make_weight(c.w, seed=1)
    if impl == "fastconv":
        conv = fastconv_fn(c, x, w, None)
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        conv = torch_fn(c, x, w, None)

    def matmul():
        return a @ bm

    def pipeline():
        matmul()
        return conv()

    matmul(), conv()
    parts = {"matmul": _best(matmul), "conv": _best(conv)}
    mm_flops = 2 * MM**3
    run_bench(benchmark, pipeline, case=f"interleaved_mm{MM}+{c.name}", impl=impl,
              threads=threads, suite="interleaved", flops=mm_flops + c.flops,
              shape=f"({MM}x{MM}) @ ({MM}x{MM}), then conv2d {c.shape}",
              parts_s=parts)
    if impl == "fastconv":
        benchmark.extra_info.update(fastconv_plan_info(fc.plan.last_plan()))
