"""True convolution: ``fastconv.convolve`` vs SciPy's best method, float64, mode="same".

One pytest-benchmark group per (case, thread count), holding fastconv
(``method="auto"``: whatever ``plan_signal`` picks), ``scipy.signal.convolve``
with ``method="direct"`` (only below ``SCIPY_DIRECT_MAX_FLOPS``: it runs at
~0.1-1 GFLOP/s), ``method="fft"``, and ``scipy.signal.oaconvolve``.  The issue's
target: the geometric mean over the suite's cases of fastconv's time divided by
the best SciPy method's is at most 1.0 (``bench/report.py`` computes it).

    python -m pytest bench/test_bench_signal.py --benchmark-enable --benchmark-json out.json

Every result is checked against SciPy's FFT result in float64 (max relative error
recorded, > 1e-9 fails for fastconv).  Cases: 512x512 images with random 3, 7, 15, 31 kernels,
2048x2048 with a random 63x63 kernel, a 100,000-sample signal with a 1,001-tap
filter (the issue's suite); plus a separable Gaussian blur (extra, not in the
geometric mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import fastconv as fc
from fastconv import signal as fsig

from .conftest import PEERS, make_data, max_rel_err, run_bench

sig = PEERS.scipy_signal
#: SciPy's direct method on images is timed only below this many FLOPs (its N-d
#: direct loop runs at ~0.2 GFLOP/s; 1-D uses numpy.convolve and is always timed).
SCIPY_DIRECT_MAX_FLOPS = 1e8
ERR_LIMIT = 1e-9


@dataclass(frozen=True)
class Case:
    name: str
    x: tuple
    k: tuple
    kernel: str = "random"  # or "gaussian" (rank 1)
    in_suite: bool = True
    quick: bool = False


CASES = [
    Case("img512_k3", (512, 512), (3, 3), quick=True),
    Case("img512_k7", (512, 512), (7, 7)),
    Case("img512_k15", (512, 512), (15, 15)),
    Case("img512_k31", (512, 512), (31, 31), quick=True),
    Case("img2048_k63", (2048, 2048), (63, 63)),
    Case("sig100k_k1001", (100_000,), (1001,), quick=True),
    Case("img512_gauss15", (512, 512), (15, 15), kernel="gaussian", in_suite=False),
]


def _data(c: Case):
    x = make_data(c.x, seed=0, dtype=np.float64)
    if c.kernel == "gaussian":
        g = np.exp(-0.5 * (np.arange(c.k[0]) - c.k[0] // 2) ** 2 / (c.k[0] / 6) ** 2)
        k = np.multiply.outer(g, g) / g.sum() ** 2
    else:
        k = make_data(c.k, seed=1, dtype=np.float64, scale=1.0 / np.sqrt(np.prod(c.k)))
    return x, k


def _flops(c: Case) -> int:
    return 2 * int(np.prod(c.x)) * int(np.prod(c.k))


_REF = {}


def _reference(c: Case, x, k):
    if c.name not in _REF:
        _REF[c.name] = sig.fftconvolve(x, k, mode="same")
    return _REF[c.name]


def _params():
    out = []
    for c in CASES:
        marks = [pytest.mark.quick] if c.quick else []
        for impl in ("fastconv", "scipy-direct", "scipy-fft", "scipy-oa"):
            out.append(pytest.param(c, impl, id=f"{c.name}-{impl}", marks=marks))
    return out


@pytest.mark.parametrize("case,impl", _params())
def test_signal(benchmark, case, impl, threads):
    PEERS.need("scipy")
    x, k = _data(case)
    flops = _flops(case)
    info = dict(case=case.name, impl=impl, threads=threads, suite="signal", flops=flops,
                shape=f"{'x'.join(map(str, case.x))} * {'x'.join(map(str, case.k))} "
                      f"({case.kernel}), same", geomean=case.in_suite)
    if impl == "fastconv":
        fn = lambda: fc.convolve(x, k, "same")  # noqa: E731
        plan = fsig.plan_signal(x.shape, k.shape, "same",
                                separable=fc.separable_factors(k) is not None)
        info.update(algorithm=plan.method, reason=plan.reason)
    elif impl == "scipy-direct":
        if flops > SCIPY_DIRECT_MAX_FLOPS and len(case.x) > 1:
            pytest.skip("SciPy's direct method is not timed above "
                        f"{SCIPY_DIRECT_MAX_FLOPS:.0e} FLOPs")
        fn = lambda: sig.convolve(x, k, "same", method="direct")  # noqa: E731
    elif impl == "scipy-fft":
        fn = lambda: sig.convolve(x, k, "same", method="fft")  # noqa: E731
    else:
        fn = lambda: sig.oaconvolve(x, k, "same")  # noqa: E731
    y = run_bench(benchmark, fn, **info)
    err = max_rel_err(y, _reference(case, x, k))
    benchmark.extra_info["max_rel_err"] = err
    if impl == "fastconv":
        assert fsig.last_plan().method == info["algorithm"]  # auto ran the plan
        assert err < ERR_LIMIT, err
