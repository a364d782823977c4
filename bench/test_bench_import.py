"""Start-up cost and peak memory, each measured in fresh Python processes.

* ``import fastconv``: in-process time (NumPy imported first, and NumPy + fastconv),
  and the wall time of ``python -c "import fastconv"`` against ``python -c "import numpy"``;
  also which heavy modules the import pulled in (must be none).
* First call: ``import fastconv`` + the first ``conv2d`` in a fresh process, after a
  first process has populated the caches (Numba's on-disk cache, the autotune
  cache if any).  Target from the issue: import < 0.3 s, import + first call < 0.6 s.
* Peak memory of big cases: growth of the process's peak RSS during one call
  (``/proc/self/clear_refs`` resets the high-water mark, so the figure covers the call
  only, output included) and the tracemalloc peak (NumPy allocations; Numba's and
  PyTorch's own allocators are invisible to it).

The values are recorded in ``extra_info`` (``suite`` "startup" / "memory") and
printed by ``bench/report.py``; the pytest-benchmark time of these tests is the
wall time of the subprocesses and means little.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv as fc

from .conftest import PEERS

ROUNDS = 5  # fresh processes per start-up measurement (the minimum is reported)


def _python(code: str, timeout=600) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _rounds(benchmark, code: str, n: int = ROUNDS) -> list[dict]:
    """Run ``code`` in ``n`` fresh processes (1 when benchmarks are disabled), timed
    as pytest-benchmark rounds; returns the parsed outputs."""
    outs = []
    n = n if benchmark.enabled else 1
    benchmark.pedantic(lambda: outs.append(_python(code)), rounds=n, iterations=1)
    return outs


def _startup_info(benchmark, case, metrics):
    benchmark.extra_info.update(suite="startup", case=case, impl="fastconv", metrics=metrics)


# ------------------------------------------------------------------------------ import
IMPORT_CODE = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy
    t1 = time.perf_counter()
    import fastconv
    t2 = time.perf_counter()
    heavy = [m for m in ("numba", "scipy", "scipy.signal", "scipy.fft", "threadpoolctl",
                         "torch", "fastconv.kernels.cython.direct") if m in sys.modules]
    print(json.dumps({"numpy_s": t1 - t0, "fastconv_s": t2 - t1, "heavy": heavy}))
""")


@pytest.mark.quick
def test_import_time(benchmark):
    benchmark.group = "startup: import"
    outs = _rounds(benchmark, IMPORT_CODE)
    heavy = sorted({m for o in outs for m in o["heavy"]})

    def wall(code, n):
        import time

        ts = []
        for _ in range(n):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            ts.append(time.perf_counter() - t)
        return min(ts)

    n = ROUNDS if benchmark.enabled else 1
    w_fc, w_np = wall("import fastconv", n), wall("import numpy", n)
    metrics = [
        {"metric": "import fastconv (NumPy already imported)",
         "value_s": min(o["fastconv_s"] for o in outs), "limit_s": 0.3,
         "detail": f"heavy modules loaded: {', '.join(heavy) or 'none'}"},
        {"metric": "import numpy + fastconv (in-process)",
         "value_s": min(o["numpy_s"] + o["fastconv_s"] for o in outs)},
        {"metric": "python -c 'import fastconv' (wall)", "value_s": w_fc, "limit_s": 0.3,
         "detail": f"python -c 'import numpy': {w_np * 1e3:.0f} ms"},
    ]
    _startup_info(benchmark, "import", metrics)
    assert not heavy, f"import fastconv loaded {heavy}"


# ------------------------------------------------------------------------------ first call
FIRST_CALL_CASES = {
    # name: (x shape, w shape, padding)
    "small3x3": ((1, 3, 64, 64), (8, 3, 3, 3), 1),
    "resnet3x3_14_n1": ((1, 256, 14, 14), (256, 256, 3, 3), 1),
    "filter512_k31": ((1, 1, 512, 512), (1, 1, 31, 31), 15),
}

FIRST_CALL_CODE = """
import json, time
t0 = time.perf_counter()
import numpy as np
import fastconv as fc
t1 = time.perf_counter()
rng = np.random.default_rng(0)
x = rng.standard_normal({x}, dtype=np.float32)
w = rng.standard_normal({w}, dtype=np.float32)
t2 = time.perf_counter()
y = fc.conv2d(x, w, padding={p}, backend={b!r})
t3 = time.perf_counter()
y = fc.conv2d(x, w, padding={p}, backend={b!r})
t4 = time.perf_counter()
p = fc.plan.last_plan()
print(json.dumps({{"import_s": t1 - t0, "first_s": t3 - t2, "second_s": t4 - t3,
                  "algorithm": p.algorithm, "backend": p.backend}}))
"""


@pytest.mark.parametrize(("case", "backend"), [
    pytest.param("small3x3", "auto", marks=pytest.mark.quick),
    ("small3x3", "cython"),
    ("small3x3", "numba"),
    ("resnet3x3_14_n1", "auto"),
    ("filter512_k31", "auto"),
])
def test_first_call_latency(benchmark, case, backend):
    xs, ws, pad = FIRST_CALL_CASES[case]
    code = FIRST_CALL_CODE.format(x=xs, w=ws, p=pad, b=backend)
    benchmark.group = f"startup: first call {case} backend={backend}"
    _python(code)  # populate the caches (Numba on-disk cache ...)
    outs = _rounds(benchmark, code)
    best = min(outs, key=lambda o: o["import_s"] + o["first_s"])
    detail = (f"x{xs} w{ws} p{pad}: ran {best['algorithm']} ({best['backend']}); "
              f"import {best['import_s'] * 1e3:.0f} ms + first call "
              f"{best['first_s'] * 1e3:.0f} ms; second call {best['second_s'] * 1e3:.1f} ms")
    metrics = [{"metric": f"import + first conv2d, {case}, backend={backend}",
                "value_s": best["import_s"] + best["first_s"], "limit_s": 0.6,
                "detail": detail}]
    _startup_info(benchmark, f"first_call_{case}_{backend}", metrics)
    benchmark.extra_info.update(algorithm=best["algorithm"], backend=best["backend"])


# ------------------------------------------------------------------------------ memory
MEMORY_CASES = {
    # name: (nd, x, w, stride, padding, peers)
    "resnet_stem7x7s2": (2, (8, 3, 224, 224), (64, 3, 7, 7), 2, 3, ("torch",)),
    "resnet3x3_56": (2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, ("torch",)),
    "resnet1x1_56": (2, (8, 256, 56, 56), (64, 256, 1, 1), 1, 0, ("torch",)),
    "filter512_k31": (2, (1, 1, 512, 512), (1, 1, 31, 31), 1, 15, ("torch",)),
    "conv3d_16to32_32": (3, (1, 16, 32, 32, 32), (32, 16, 3, 3, 3), 1, 1, ("torch",)),
    # Bounded workspace: a full im2col matrix would be 4000*4000*225 floats (14 GB).
    # No torch peer here: its im2col path may try to allocate exactly that.
    "image4000_k15": (2, (1, 1, 4000, 4000), (1, 1, 15, 15), 1, 0, ()),
}

MEMORY_CODE = """
import json, resource, time, tracemalloc
import numpy as np

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None

def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

nd, xs, ws, stride, pad, impl = {nd}, {x}, {w}, {stride}, {pad}, {impl!r}
rng = np.random.default_rng(0)
x = rng.standard_normal(xs, dtype=np.float32)
w = rng.standard_normal(ws, dtype=np.float32) / np.float32(np.sqrt(np.prod(ws[1:])))
win = tuple(slice(0, min(L, k + 8)) for L, k in zip(xs[2:], ws[2:]))
small = x[(slice(0, 1), slice(None)) + win]
info = {{}}
if impl == "fastconv":
    import fastconv as fc
    f = getattr(fc, "conv%dd" % nd)
    plan = fc.plan_conv(xs, ws, stride=stride, padding=pad)
    info["algorithm"] = plan.algorithm
    try:
        f(small, w, stride=stride, padding=pad, algorithm=plan.algorithm)  # load kernels
    except ValueError:
        f(small, w, stride=stride, padding=pad)
    run = lambda: f(x, w, stride=stride, padding=pad)
else:
    import torch
    conv = getattr(torch.nn.functional, "conv%dd" % nd)
    torch.set_grad_enabled(False)
    wt = torch.from_numpy(w)
    conv(torch.from_numpy(np.ascontiguousarray(small)), wt, stride=stride, padding=pad)
    run = lambda: conv(torch.from_numpy(x), wt, stride=stride, padding=pad).numpy()
exact = reset_hwm()
base = status("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
y = run()
call_s = time.perf_counter() - t
peak = status("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
del y
tracemalloc.start()
y = run()
tm_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
info.update(peak_rss_bytes=peak - base, tracemalloc_peak_bytes=tm_peak, call_s=call_s,
            input_bytes=x.nbytes + w.nbytes, output_bytes=y.nbytes, hwm_exact=exact)
print(json.dumps(info))
"""


def _memory_params():
    ps = []
    for name, (*_, peers) in MEMORY_CASES.items():
        for impl in ("fastconv",) + peers:
            marks = [pytest.mark.quick] if name == "filter512_k31" else []
            ps.append(pytest.param(name, impl, id=f"{name}-{impl}", marks=marks))
    return ps


@pytest.mark.parametrize(("case", "impl"), _memory_params())
def test_peak_memory(benchmark, case, impl):
    if impl == "torch" and PEERS.torch is None:
        pytest.skip("PyTorch is not installed")
    nd, xs, ws, stride, pad, _ = MEMORY_CASES[case]
    code = MEMORY_CODE.format(nd=nd, x=xs, w=ws, stride=stride, pad=pad, impl=impl)
    benchmark.group = f"memory: {case}"
    out = _rounds(benchmark, code, n=1)[0]
    benchmark.extra_info.update(
        suite="memory", case=case, impl=impl,
        shape=f"x{xs} w{ws} s{stride} p{pad}", threads=fc.get_num_threads(), **out)
    assert out["output_bytes"] > 0
    if impl == "fastconv":
        # Bounded workspace: the call never needs more than ~ output + a fixed cap.
        limit = out["output_bytes"] + out["input_bytes"] + 512 * 2**20
        assert out["peak_rss_bytes"] < limit, out
    np.testing.assert_(out["call_s"] > 0)
