"""The optional CUDA backend (``backend="cuda"``), without a GPU.

The kernels run under Numba's CUDA simulator, which must be switched on before
Numba is imported; this process imported Numba long ago, so the kernel checks
run in a fresh interpreter (``tests/cuda_sim_check.py``) started with
``NUMBA_ENABLE_CUDASIM=1``.  It shrinks threads-per-block, the block count and the
device chunk so tiny inputs span several blocks, grid-stride rounds and launches
(the simulator runs one block at a time), fills outputs with NaN, and compares
with the float64 reference.  Everything that needs no device (refusals, errors,
import cost) is tested here directly.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import TOL

import fastconv as fc
from fastconv import kernels

HERE = os.path.dirname(os.path.abspath(__file__))

#: Every check tests/cuda_sim_check.py must report (a missing one fails below).
SIM_CHECKS = [
    "auto_algorithm_with_cuda_is_direct",
    "auto_never_picks_simulator",
    "auto_pick_rules_with_a_faked_device",
    "backward_refused",
    "batch_chunks",
    "bit_identical_across_runs_and_launch_configs",
    "kernel_default_launch_config",
    "kernel_hand_cases_multiblock",
    "kernel_random_cases",
    "nan_inf_propagate",
    "other_algorithms_refused",
    "public_api_nd_dtypes_out_unbatched_empty",
    "public_api_padding_forms_and_modes",
]


def _python(args, env_update, timeout=600):
    env = dict(os.environ)
    env.update(env_update)
    return subprocess.run([sys.executable, "-W", "error"] + args, capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=HERE)


@pytest.fixture(scope="module")
def sim_results():
    tol = {np.dtype(k).name: list(v) for k, v in TOL.items()}
    r = _python([os.path.join(HERE, "cuda_sim_check.py")],
                {"NUMBA_ENABLE_CUDASIM": "1", "FASTCONV_TEST_TOL": json.dumps(tol)})
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_simulator_ran_every_check(sim_results):
    assert sorted(sim_results) == sorted(SIM_CHECKS)


@pytest.mark.parametrize("check", SIM_CHECKS)
def test_under_simulator(sim_results, check):
    result = sim_results.get(check, "missing from the simulator run")
    assert result == "ok", result


# ---------------------------------------------------------------------------
# without a device and without the simulator
# ---------------------------------------------------------------------------
NO_DEVICE = """
import numpy as np, fastconv as fc
from fastconv.kernels import cuda as kc
if kc.device_present():
    print("DEVICE")
    raise SystemExit(0)
assert not kc.simulator() and not kc.available()
x = np.ones((1, 2, 8, 8), np.float32); w = np.ones((2, 2, 3, 3), np.float32)
msgs = []
for call in (lambda: fc.conv2d(x, w, backend="cuda"),
             lambda: fc.conv2d(x, w, backend="cuda", algorithm="direct"),
             lambda: fc.plan_conv(x.shape, w.shape, backend="cuda")):
    try:
        call()
    except ValueError as e:
        msgs.append(str(e))
    else:
        raise AssertionError("backend='cuda' did not raise without a device")
y = fc.conv2d(x, w)  # "auto" still works and never picks CUDA
assert fc.plan_conv(x.shape, w.shape).backend != "cuda"
print("MSGS" + repr(msgs))
"""


def test_forcing_cuda_without_device_or_simulator_raises():
    r = _python(["-c", NO_DEVICE], {"NUMBA_ENABLE_CUDASIM": "0"})
    assert r.returncode == 0, r.stdout + r.stderr
    if r.stdout.strip() == "DEVICE":
        pytest.skip("a CUDA device is present")
    msgs = eval(r.stdout.strip().splitlines()[-1][len("MSGS"):])
    assert len(msgs) == 3
    for m in msgs:
        assert "backend='cuda' is not available: no CUDA device (set NUMBA_ENABLE_CUDASIM=1 " \
               "to run the kernels on the simulator" in m, m


PTX = """
import os, shutil, subprocess, sys, tempfile
from numba import cuda
from numba.core import types
import fastconv.kernels.cuda.direct as cd
for ft in (types.float32, types.float64):
    arr = types.Array(ft, 5, "C")
    sig = (arr, arr, types.Array(ft, 1, "C"), arr) + (types.int64,) * 10
    try:
        ptx, _ = cuda.compile_ptx(cd._conv_direct_kernel.py_func, sig, cc=(7, 5))
    except Exception as e:
        if "nvvm" in (type(e).__name__ + str(e)).lower():
            print("SKIP", e)
            raise SystemExit(0)
        raise
    body = ptx.split(".entry", 1)[1]
    if ft == types.float32:
        assert "fma.rn.f32" in body and ".f64" not in body, "float32 kernel uses float64"
    else:
        assert "fma.rn.f64" in body
    assert "mul.lo.s64" in body or "mad.lo.s64" in body  # 64-bit index arithmetic
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    if os.path.exists(ptxas):
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "k.ptx")
            with open(f, "w") as fh:
                fh.write(ptx)
            r = subprocess.run([ptxas, "-arch=sm_75", "-v", f, "-o", os.path.join(d, "k.cubin")],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            assert " 0 bytes spill stores" in r.stderr, r.stderr
            print(ft, "ptxas", r.stderr.strip().splitlines()[-2].strip())
print("OK")
"""


def test_kernel_compiles_for_a_real_gpu():
    """Lower the kernel with the real CUDA target (NVVM -> PTX, and ``ptxas`` to SASS
    for sm_75 when found): catches what the simulator accepts but a GPU would not.
    Needs libNVVM (a CUDA toolkit), not a device; skipped without one."""
    r = _python(["-c", PTX], {"NUMBA_ENABLE_CUDASIM": "0"})
    assert r.returncode == 0, r.stdout + r.stderr
    if r.stdout.startswith("SKIP"):
        pytest.skip(f"no libNVVM: {r.stdout.strip()}")
    assert r.stdout.strip().endswith("OK"), r.stdout


def test_import_and_cpu_calls_do_not_import_numba_cuda():
    r = _python(["-c", (
        "import sys, numpy as np, fastconv as fc\n"
        "assert 'numba.cuda' not in sys.modules\n"
        "fc.conv2d(np.ones((1, 2, 8, 8), np.float32), np.ones((2, 2, 3, 3), np.float32))\n"
        "fc.plan_conv((1, 64, 56, 56), (64, 64, 3, 3), padding=1)\n"
        "import fastconv.kernels.cuda\n"
        "print(sorted(m for m in sys.modules if m.startswith('numba.cuda')))\n")], {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# refusals: decided before any device is looked for
# ---------------------------------------------------------------------------
X = np.ones((1, 2, 8, 8), np.float32)
W = np.ones((2, 2, 3, 3), np.float32)


@pytest.mark.parametrize("algorithm", ["im2col", "fft", "separable", "winograd"])
def test_other_algorithms_refused_with_cuda(algorithm):
    with pytest.raises(ValueError, match=rf"algorithm='{algorithm}' cannot serve this case: "
                                         r"backend='cuda' has kernels only for algorithm "
                                         r"'direct'"):
        fc.conv2d(X, W, algorithm=algorithm, backend="cuda")


def test_backward_refused_with_cuda():
    go = np.ones((1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="backend='cuda' has no kernels for the backward"):
        fc.conv2d_backward(go, X, W, backend="cuda")
    with pytest.raises(ValueError, match="backend='cuda' has no kernels for the backward"):
        fc.plan_conv(X.shape, W.shape, backend="cuda", pass_="weight_grad")
    with pytest.raises(ValueError, match="backend='cuda' has no kernels for the backward"):
        fc.conv_transpose2d(X, W, backend="cuda")


def test_registry_refusals():
    assert kernels.refusal("cuda", "direct") is None
    assert "direct" in kernels.refusal("cuda", "im2col")
    for backend in ("numba", "cython"):
        for name in ("direct", "im2col", "fft", "separable"):
            assert kernels.refusal(backend, name) is None
    assert "cuda" in kernels.BACKENDS


def test_auto_does_not_pick_cuda_here():
    """No CUDA device on this machine: "auto" plans a CPU backend even for a huge case."""
    from fastconv.kernels import cuda as kc

    p = fc.plan_conv((64, 256, 56, 56), (256, 256, 3, 3), padding=1)
    assert p.flops >= kc.AUTO_MIN_FLOPS
    if kc.device_present():  # pragma: no cover - only on a machine with a GPU
        pytest.skip("a CUDA device is present")
    assert p.backend in ("numba", "cython")
