"""Process-level guarantees: import cost, thread pools really parallel, Numba's
``cache=True`` + ``parallel=True`` surviving a change of thread count."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import BACKENDS

import fastconv as fc
from fastconv._alloc import thread_rows


def _python(code, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_compiles_and_loads_nothing_heavy():
    out = _python(
        "import sys, fastconv\n"
        "heavy = [m for m in ('numba', 'scipy', 'scipy.signal', 'threadpoolctl', "
        "'fastconv.kernels.cython.direct') if m in sys.modules]\n"
        "print(heavy)"
    )
    assert out.strip() == "[]"


@pytest.mark.skipif(fc.threads.cpu_count() < 2, reason="needs 2 CPUs")
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_threads_really_faster(backend):
    """A build whose OpenMP/prange silently runs serial fails here."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 96, 96)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)

    def once(n):
        with fc.num_threads(n):
            t = time.perf_counter()
            fc.conv2d(x, w, padding=1, backend=backend, algorithm="direct")
            return time.perf_counter() - t

    once(1), once(2)  # compile / load, start the thread pool
    # A build whose prange runs serial never shows a speed-up; a busy machine can
    # hide one for a while (in a full test run, OpenBLAS workers left spinning by an
    # earlier test hold the second core for ~0.1 s), so interleave the runs and allow
    # a few rounds, pausing between them.
    for _ in range(5):
        time.sleep(0.2)
        t1 = t2 = float("inf")
        for _ in range(5):
            t1, t2 = min(t1, once(1)), min(t2, once(2))
        if t2 < 0.8 * t1:
            return
    raise AssertionError(f"2 threads {t2:.4f}s vs 1 thread {t1:.4f}s: no parallel speed-up")


def test_numba_cache_with_parallel_survives_thread_count_change(tmp_path):
    code = (
        "import numpy as np, fastconv as fc, numba\n"
        "x = np.ones((2, 4, 30, 30), np.float32); w = np.ones((4, 4, 3, 3), np.float32)\n"
        "y = fc.conv2d(x, w, backend='numba', algorithm='direct')\n"
        "with fc.num_threads(1):\n"
        "    y1 = fc.conv2d(x, w, backend='numba', algorithm='direct')\n"
        "assert (y == 36).all() and (y1 == y).all()\n"
        "print(numba.config.NUMBA_NUM_THREADS, numba.threading_layer())\n"
    )
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    outs = [_python(code, dict(env, NUMBA_NUM_THREADS=str(n))) for n in (2, 1, 2)]
    assert [o.split()[0] for o in outs] == ["2", "1", "2"]
    assert all(o.split()[1] in ("omp", "tbb") for o in outs)
    assert any(tmp_path.rglob("*.nbi")), "kernels were not cached"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("threads,n", [(1, 1), (2, 3), (2, 16), (3, 6), (4, 1000)])
def test_thread_rows_never_share_a_cache_line(threads, n, dtype):
    """Per-thread scratch rows start on 64-byte lines, hold n items, and no line
    holds items of two rows (false sharing made small depthwise planes as slow on
    two threads as on one)."""
    rows = thread_rows(threads, n, dtype)
    item = np.dtype(dtype).itemsize
    assert rows.shape[0] == threads and rows.shape[1] >= n and rows.dtype == dtype
    assert rows.flags.c_contiguous
    base = rows.ctypes.data
    lines = []
    for t in range(threads):
        start = base + t * rows.strides[0]
        assert start % 64 == 0
        lines.append(set(range(start // 64, (start + n * item - 1) // 64 + 1)))
    for a in range(threads):
        for b in range(a + 1, threads):
            assert not lines[a] & lines[b]
