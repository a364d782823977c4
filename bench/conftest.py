"""Shared fixtures and helpers of every benchmark in ``bench/``.

Run the suites with (``--benchmark-disable`` is the default in pyproject's addopts,
which runs each benchmark once as a smoke check)::

    python -m pytest bench/ --benchmark-enable --benchmark-json results/bench.json
    python bench/report.py results/*.json > table.md

For authors of bench files (pooling, backward, signal ...)
----------------------------------------------------------
Use the fixtures, or import helpers with ``from .conftest import make_data, ...``
(``bench`` is a package, so this conftest is ``bench.conftest`` and never shadows
``tests/conftest.py``; a bare ``from conftest import`` would get the wrong one).

``threads`` (parametrised 1 and 2)
    Sets the thread count of fastconv (``fc.num_threads``), PyTorch
    (``torch.set_num_threads``), BLAS (threadpoolctl) and ``scipy.fft`` workers for
    the test, restored afterwards.  Every impl of a case thus runs with the same
    number of threads.
``peers``
    ``peers.torch`` / ``peers.F`` (``torch.nn.functional``) / ``peers.scipy_signal``,
    or None when not installed; ``peers.need("torch")`` skips the test when absent.
``bench``
    ``bench(benchmark, fn, case=..., impl=..., threads=..., flops=..., bytes=..., **info)``:
    calls ``fn`` once untimed (JIT compile / cache load, first-touch), sets
    ``benchmark.group`` to ``"<case> [<threads>t]"``, fills ``benchmark.extra_info``
    (the keys :func:`bench/report.py` reads) and times ``fn``.  Returns the
    warm-up call's result.

``extra_info`` keys that ``bench/report.py`` understands (one dict per benchmark):

=============  ==============================================================
``suite``      table the row goes to ("conv", "pool", "backward", "signal" ...);
               default: the bench file's name (``test_bench_pool.py`` -> "pool")
``case``       row name (same string for fastconv and its peers)
``impl``       ``"fastconv"`` for the row's main entry; peers: ``"torch"``,
               ``"scipy-direct"``, ``"scipy-fft"`` ...; fastconv variants:
               ``"fastconv-<variant>"`` (e.g. ``fastconv-im2col``) go to a table of their own
``threads``    thread count of every pool during the measurement
``flops``      2 x multiply-adds of the direct definition -> GFLOP/s column
``bytes``      bytes read + written (memory-bound ops) -> GB/s column
``algorithm``, ``backend``   what fastconv ran (from ``plan_conv``)
``max_rel_err``  max |y - y_ref| / max |y_ref| against a float64 reference
``shape``      human description of the case
=============  ==============================================================
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import fastconv as fc

# --------------------------------------------------------------------------------------
# Optional peers
# --------------------------------------------------------------------------------------
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None
    F = None

try:
    import scipy
    import scipy.fft as scipy_fft
    import scipy.signal as scipy_signal
except ImportError:  # pragma: no cover - scipy is a runtime dependency, but be graceful
    scipy = scipy_fft = scipy_signal = None


@dataclass(frozen=True)
class Peers:
    torch: object
    F: object
    scipy_signal: object
    scipy_fft: object

    def need(self, name: str) -> None:
        """Skip the calling test when the peer ``name`` ("torch"/"scipy") is absent."""
        mod = self.torch if name == "torch" else self.scipy_signal
        if mod is None:
            pytest.skip(f"{name} is not installed")


PEERS = Peers(torch, F, scipy_signal, scipy_fft)


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux
        return None


#: System load when the benchmarks were collected (a quiet run starts near 0).
LOAD_AT_START = _loadavg()


# --------------------------------------------------------------------------------------
# Command-line options
# --------------------------------------------------------------------------------------
def pytest_addoption(parser):
    g = parser.getgroup("fastconv bench")
    g.addoption("--quick", action="store_true", default=False,
                help="run only the benchmarks marked `quick` (a representative subset)")
    g.addoption("--bench-threads", default=os.environ.get("FASTCONV_BENCH_THREADS", "1,2"),
                help="comma-separated thread counts to run every benchmark at (default 1,2; "
                     "counts above the CPUs available are dropped)")
    g.addoption("--fc-variants", default="",
                help="extra fastconv variants to time beside algorithm='auto': comma-separated "
                     "algorithm names (direct, im2col, winograd, fft, separable), 'all' "
                     "(every implemented algorithm that serves the case), and/or backends as "
                     "'backend:numba', 'backend:cython'")


def pytest_configure(config):
    config.addinivalue_line("markers", "quick: part of the quick benchmark subset (--quick)")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick", default=False):
        return
    keep, drop = [], []
    for it in items:
        (keep if it.get_closest_marker("quick") else drop).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def bench_threads(config=None) -> list[int]:
    """Thread counts every benchmark runs at (1 and 2, capped at the CPUs available)."""
    raw = os.environ.get("FASTCONV_BENCH_THREADS", "1,2")
    if config is not None:
        raw = config.getoption("--bench-threads", default=raw)
    ns = sorted({int(s) for s in str(raw).split(",") if s.strip()})
    avail = fc.threads.cpu_count()
    return [n for n in ns if 1 <= n <= avail] or [1]


def pytest_generate_tests(metafunc):
    if "threads" in metafunc.fixturenames:
        ns = bench_threads(metafunc.config)
        metafunc.parametrize("threads", ns, ids=[f"{n}t" for n in ns], indirect=True)


def fc_variants(config) -> list[tuple[str, str, str]]:
    """``(impl name, algorithm, backend)`` of the fastconv variants asked for with
    ``--fc-variants`` (beside the default ``("fastconv", "auto", "auto")``)."""
    raw = [s.strip() for s in config.getoption("--fc-variants", default="").split(",")]
    raw = [s for s in raw if s]
    from fastconv import algorithms

    out = []
    for s in raw:
        if s.startswith("backend:"):
            b = s.split(":", 1)[1]
            out.append((f"fastconv-{b}", "auto", b))
        elif s == "all":
            out += [(f"fastconv-{a}", a, "auto") for a in algorithms.NAMES]
        else:
            out.append((f"fastconv-{s}", s, "auto"))
    seen, uniq = set(), []
    for v in out:
        if v[0] not in seen:
            seen.add(v[0])
            uniq.append(v)
    return uniq


# --------------------------------------------------------------------------------------
# Threads: one setting for fastconv, torch, BLAS and scipy.fft
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _threadpool_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def all_threads(n: int):
    """Run the block with ``n`` threads in every pool a benchmark may touch:
    fastconv (Numba + OpenMP + its BLAS calls), PyTorch's intra-op pool, NumPy/SciPy
    BLAS (threadpoolctl) and ``scipy.fft`` workers (which ``scipy.signal`` uses)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(fc.num_threads(n))
        lim = _threadpool_controller().limit(limits=n, user_api="blas")
        stack.callback(lim.restore_original_limits)
        if torch is not None:
            prev = torch.get_num_threads()
            torch.set_num_threads(n)
            stack.callback(torch.set_num_threads, prev)
        if scipy_fft is not None:
            stack.enter_context(scipy_fft.set_workers(n))
        yield n


@pytest.fixture
def threads(request):
    """Thread count of this benchmark (parametrised: ``--bench-threads``, default 1,2),
    applied to fastconv, torch, BLAS and scipy.fft for the duration of the test."""
    n = request.param
    with all_threads(n):
        yield n


@pytest.fixture(scope="session")
def peers() -> Peers:
    return PEERS


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def make_data(shape, seed=0, dtype=np.float32, scale=1.0) -> np.ndarray:
    """Deterministic standard-normal data of ``shape`` (C-contiguous, ``dtype``)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    a = rng.standard_normal(tuple(shape), dtype=np.float32 if dt == np.float32 else np.float64)
    a = a.astype(dt, copy=False)
    if scale != 1.0:
        a *= np.asarray(scale, dtype=dt)
    return a


def make_weight(shape, seed=1, dtype=np.float32) -> np.ndarray:
    """Weights scaled by 1/sqrt(fan_in), as an initialised layer has them."""
    fan_in = int(np.prod(shape[1:])) or 1
    return make_data(shape, seed, dtype, scale=1.0 / np.sqrt(fan_in))


def conv_flops(x_shape, w_shape, out_spatial) -> int:
    """2 x multiply-adds of the direct definition of a (grouped) convolution."""
    n = x_shape[0]
    co = w_shape[0]
    per_out = int(np.prod(w_shape[1:]))
    return 2 * n * co * int(np.prod(out_spatial)) * per_out


def max_rel_err(y, ref) -> float:
    """max |y - ref| / max |ref| (ref in float64)."""
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = float(np.max(np.abs(ref), initial=0.0)) or 1.0
    return float(np.max(np.abs(y - ref), initial=0.0)) / scale


# --------------------------------------------------------------------------------------
# Recording and timing
# --------------------------------------------------------------------------------------
def suite_of(request) -> str:
    stem = Path(str(request.node.fspath)).stem
    return stem.removeprefix("test_bench_") or stem


def record(benchmark, *, case: str, impl: str, threads: int, suite: str | None = None,
           flops: int | None = None, bytes: int | None = None, **info) -> dict:
    """Set ``benchmark.group`` (one group per case and thread count) and fill
    ``benchmark.extra_info`` with the keys ``bench/report.py`` reads."""
    benchmark.group = f"{case} [{threads}t]"
    ei = benchmark.extra_info
    ei.update(case=case, impl=impl, threads=int(threads))
    if suite is not None:
        ei["suite"] = suite
    if flops is not None:
        ei["flops"] = int(flops)
    if bytes is not None:
        ei["bytes"] = int(bytes)
    for k, v in info.items():
        if v is not None:
            ei[k] = v
    return ei


def fastconv_plan_info(plan) -> dict:
    """extra_info entries describing a fastconv ``Plan`` (empty for None)."""
    if plan is None:
        return {}
    info = {
        "algorithm": getattr(plan, "algorithm", None),
        "backend": getattr(plan, "backend", None),
        "plan_threads": getattr(plan, "threads", None),
        "workspace_bytes": getattr(plan, "workspace_bytes", None),
        "estimated_s": getattr(plan, "estimated_seconds", None),
        "reason": getattr(plan, "reason", None),
    }
    return {k: (int(v) if k in ("plan_threads", "workspace_bytes") and v is not None else v)
            for k, v in info.items() if v is not None}


def run_bench(benchmark, fn, *, warmup: int = 1, **record_kw):
    """Warm ``fn`` up untimed, record the metadata (see :func:`record`), time ``fn``.

    Returns the result of the first (warm-up) call, for correctness checks."""
    res = None
    for _ in range(max(1, warmup)):
        res = fn()
    record(benchmark, **record_kw)
    benchmark(fn)
    return res


@pytest.fixture
def bench(request):
    """``bench(benchmark, fn, case=..., impl=..., threads=..., flops=..., **info)``:
    warm up, record extra_info (suite defaults to the bench file's name), time."""

    def _bench(benchmark, fn, **kw):
        kw.setdefault("suite", suite_of(request))
        return run_bench(benchmark, fn, **kw)

    return _bench


# --------------------------------------------------------------------------------------
# Machine description in the JSON (``machine_info``), read by bench/report.py
# --------------------------------------------------------------------------------------
def _lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    d = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            d[k.strip()] = v.strip()
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
            "L2 cache", "L3 cache", "Hypervisor vendor", "CPU max MHz")
    return {k: d[k] for k in keep if k in d}


def _versions() -> dict:
    v = {"python": platform.python_version(), "numpy": np.__version__,
         "fastconv": getattr(fc, "__version__", "?")}
    for name in ("scipy", "torch", "numba", "threadpoolctl", "mkl_fft"):
        try:
            mod = __import__(name)
            v[name] = getattr(mod, "__version__", "?")
        except ImportError:
            v[name] = None
    return v


def _blas() -> list:
    try:
        return [{k: p.get(k) for k in ("internal_api", "version", "num_threads",
                                        "threading_layer", "architecture")}
                for p in _threadpool_controller().info()]
    except Exception:  # noqa: BLE001 - informational only
        return []


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["fastconv_bench"] = {
        "lscpu": _lscpu(),
        "cpus_available": fc.threads.cpu_count(),
        "versions": _versions(),
        "threadpools": _blas(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OMP_", "NUMBA_", "OPENBLAS_", "MKL_", "FASTCONV_"))},
        "bench_threads": bench_threads(config),
        "loadavg_start": LOAD_AT_START,
        "loadavg_end": _loadavg(),
        "executable": sys.executable,
    }
