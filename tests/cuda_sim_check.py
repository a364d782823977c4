"""CUDA-backend checks, run in a subprocess by tests/test_cuda.py.

Numba's CUDA simulator must be switched on before Numba is imported, and the
pytest process has imported Numba long before, so these checks run in a fresh
interpreter started with ``NUMBA_ENABLE_CUDASIM=1``.  Standalone::

    NUMBA_ENABLE_CUDASIM=1 python -W error tests/cuda_sim_check.py

Prints one JSON object ``{check name: "ok" or the failure}`` on its last line.
Tolerances come from ``conftest.TOL`` through ``FASTCONV_TEST_TOL`` (JSON) so
they are stated once; the defaults below are the same numbers.

The simulator runs one block at a time, so inter-block problems never show by
themselves: the checks shrink ``THREADS_PER_BLOCK`` (tiny outputs then span many
blocks), ``MAX_BLOCKS`` (the grid-stride loop runs several rounds) and
``DEVICE_CHUNK_BYTES`` (the batch is split over several launches), fill ``out``
with NaN before the kernel (unwritten elements show), and record every launch
to prove the configurations were really exercised.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

TOL = {"float64": (1e-10, 1e-10), "float32": (2e-5, 2e-5), "float16": (2e-2, 2e-2)}
TOL.update({k: tuple(v) for k, v in json.loads(os.environ.get("FASTCONV_TEST_TOL", "{}"))
            .items()})

import fastconv as fc  # noqa: E402
import fastconv.kernels.cuda.direct as cd  # noqa: E402  (imports numba.cuda)
from fastconv import kernels  # noqa: E402
from fastconv import reference as ref  # noqa: E402
from fastconv._spec import conv_spec, pad3, to_3d  # noqa: E402
from fastconv.plan import last_plan  # noqa: E402

CONV = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}
LAUNCHES: list = []
_orig_launch = cd._launch


def _recording_launch(d_x, d_w, d_b, d_out, stride, dilation, pad, groups):
    tpb = int(cd.THREADS_PER_BLOCK)
    blocks = max(1, min(int(cd.MAX_BLOCKS), -(-d_out.size // tpb)))
    LAUNCHES.append((blocks, tpb, d_out.size))
    return _orig_launch(d_x, d_w, d_b, d_out, stride, dilation, pad, groups)


cd._launch = _recording_launch


class launch_config:
    """Temporarily set the kernel module's launch constants."""

    def __init__(self, tpb=None, max_blocks=None, chunk_bytes=None):
        self.new = {"THREADS_PER_BLOCK": tpb, "MAX_BLOCKS": max_blocks,
                    "DEVICE_CHUNK_BYTES": chunk_bytes}

    def __enter__(self):
        self.old = {k: getattr(cd, k) for k in self.new}
        for k, v in self.new.items():
            if v is not None:
                setattr(cd, k, v)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            setattr(cd, k, v)


def assert_close(actual, expected, dtype):
    rtol, atol = TOL[np.dtype(dtype).name]
    finite = np.isfinite(expected)
    scale = max(1.0, float(np.max(np.abs(expected[finite]), initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                               atol=atol * scale)  # NaN must sit where the reference's is


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def kernel_call(x, w, b, stride=1, padding=0, dilation=1, groups=1):
    """Call the registry kernel directly, as algorithms/direct.py does, into a
    NaN-filled ``out``; returns it in the spec's output shape."""
    nd = w.ndim - 2
    spec = conv_spec(nd, x.shape, w.shape, None if b is None else b.shape, stride, padding,
                     dilation, groups, "zeros", x.dtype, w.dtype)
    assert spec.zero_padded()
    out = np.full((spec.batch, spec.out_channels) + spec.out_size, np.nan, spec.dtype)
    bb = b if b is not None else np.zeros(1, spec.dtype)
    kern = kernels.get("cuda", "direct", "conv_direct")
    res = kern(np.ascontiguousarray(to_3d(x.reshape(spec.x_shape), nd)), to_3d(w, nd), bb,
               spec.has_bias, to_3d(out, nd), pad3(spec.stride, nd, 1),
               pad3(spec.dilation, nd, 1), pad3(spec.pad_before, nd, 0), spec.groups, 64, 1)
    assert res is not None
    return out


# --------------------------------------------------------------------------- cases
# (nd, N, C, Co, spatial, kernel, stride, padding, dilation, groups, bias)
HAND_CASES = [
    (1, 2, 3, 4, (11,), (3,), 1, 0, 1, 1, True),
    (1, 1, 4, 4, (13,), (4,), 2, ((1, 2),), 2, 2, False),
    (1, 2, 3, 3, (9,), (3,), 1, 1, 1, 3, True),            # depthwise
    (2, 2, 2, 3, (7, 6), (3, 2), (2, 1), 1, (1, 2), 1, True),
    (2, 1, 4, 6, (6, 7), (3, 3), 1, ((2, 0), (1, 3)), 1, 2, False),
    (2, 2, 3, 6, (5, 8), (3, 3), 1, 1, 1, 3, True),       # depthwise multiplier 2
    (2, 1, 1, 1, (9, 9), (5, 5), 3, 2, 1, 1, False),
    (3, 1, 2, 3, (4, 5, 4), (2, 3, 2), (1, 2, 1), 1, 1, 1, True),
    (3, 2, 4, 4, (5, 4, 4), (3, 2, 2), 1, ((1, 0), (0, 1), (1, 1)), (2, 1, 1), 4, False),
]


def random_cases(rng, n):
    cases = []
    while len(cases) < n:
        nd = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 2, 3]))
        cig, cog = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 3, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        size = tuple(int(v) for v in rng.integers(3, 7 if nd < 3 else 5, nd))
        pad = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (nd, 2)))
        try:
            conv_spec(nd, (1, cig * groups) + size, (cog * groups, cig) + k, None, s, pad, d,
                      groups, "zeros", np.dtype(np.float64), np.dtype(np.float64))
        except ValueError:
            continue  # output would be empty
        cases.append((nd, int(rng.integers(1, 3)), cig * groups, cog * groups, size, k, s,
                      pad, d, groups, bool(rng.integers(0, 2))))
    return cases


def _run_cases(cases, dtype, rng):
    for nd, N, C, Co, size, k, s, p, d, g, has_b in cases:
        x = _rand(rng, (N, C) + size, dtype)
        w = _rand(rng, (Co, C // g) + k, dtype)
        b = _rand(rng, (Co,), dtype) if has_b else None
        y = kernel_call(x, w, b, s, p, d, g)
        expect = ref.conv(x, w, b, s, p, d, g)
        try:
            assert_close(y, expect, dtype)
        except AssertionError as e:
            raise AssertionError(
                f"case {(nd, N, C, Co, size, k, s, p, d, g, has_b)}: {e}") from None


# --------------------------------------------------------------------------- checks
def check_kernel_hand_cases_multiblock():
    rng = np.random.default_rng(1)
    LAUNCHES.clear()
    with launch_config(tpb=4, max_blocks=7):
        for dtype in (np.float32, np.float64):
            _run_cases(HAND_CASES, dtype, rng)
    assert any(b > 1 for b, _, _ in LAUNCHES), LAUNCHES
    # some launches needed several grid-stride rounds (total > blocks * tpb)
    assert any(t > b * tpb for b, tpb, t in LAUNCHES), LAUNCHES


def check_kernel_random_cases():
    rng = np.random.default_rng(2)
    cases = random_cases(rng, 60)
    with launch_config(tpb=8, max_blocks=5):
        _run_cases(cases[:30], np.float32, rng)
    with launch_config(tpb=5, max_blocks=1000):
        _run_cases(cases[30:], np.float64, rng)


def check_kernel_default_launch_config():
    rng = np.random.default_rng(3)
    LAUNCHES.clear()
    _run_cases(HAND_CASES[:4], np.float32, rng)
    assert all(tpb == 128 for _, tpb, _ in LAUNCHES), LAUNCHES


def check_batch_chunks():
    """DEVICE_CHUNK_BYTES smaller than one sample: one launch per batch element."""
    rng = np.random.default_rng(4)
    x = _rand(rng, (5, 2, 6, 5), np.float64)
    w = _rand(rng, (3, 2, 3, 3), np.float64)
    b = _rand(rng, (3,), np.float64)
    LAUNCHES.clear()
    with launch_config(tpb=16, chunk_bytes=1):
        y = kernel_call(x, w, b, 1, 1)
    assert len(LAUNCHES) == 5, LAUNCHES
    assert_close(y, ref.conv(x, w, b, 1, 1), np.float64)
    LAUNCHES.clear()
    per_sample = (x[0].nbytes + y[0].nbytes)
    with launch_config(tpb=16, chunk_bytes=2 * per_sample):  # chunks 2, 2, 1
        y2 = kernel_call(x, w, b, 1, 1)
    assert [t for _, _, t in LAUNCHES] == [2 * y[0].size, 2 * y[0].size, y[0].size], LAUNCHES
    assert np.array_equal(y, y2)


def check_bit_identical_across_runs_and_launch_configs():
    rng = np.random.default_rng(5)
    x = _rand(rng, (2, 4, 7, 6), np.float32)
    w = _rand(rng, (4, 2, 3, 3), np.float32)
    b = _rand(rng, (4,), np.float32)
    results = []
    for tpb, mb, cb in ((128, 65535, 1 << 30), (4, 3, 1 << 30), (3, 1000, 1), (4, 3, 1 << 30)):
        with launch_config(tpb=tpb, max_blocks=mb, chunk_bytes=cb):
            results.append(kernel_call(x, w, b, (1, 2), 1, (2, 1), 2))
    for r in results[1:]:
        assert np.array_equal(r.view(np.uint32), results[0].view(np.uint32))


def check_nan_inf_propagate():
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        x = _rand(rng, (1, 2, 8, 8), dtype)
        w = _rand(rng, (2, 2, 3, 3), dtype)
        x[0, 1, 3, 4] = np.nan
        x[0, 0, 7, 0] = np.inf
        with launch_config(tpb=8):
            y = kernel_call(x, w, None, 1, 1)
        expect = ref.conv(x, w, None, 1, 1)
        assert np.isnan(y).sum() == np.isnan(expect).sum() > 0
        assert_close(y, expect, dtype)
        w2 = w.copy()
        w2[1, 0, 0, 0] = np.nan
        with launch_config(tpb=8):
            y = kernel_call(_rand(rng, (1, 2, 5, 5), dtype), w2, None)
        assert np.isnan(y[0, 1]).all() and np.isfinite(y[0, 0]).all()


def check_public_api_padding_forms_and_modes():
    rng = np.random.default_rng(7)
    x = _rand(rng, (2, 2, 7, 8), np.float32)
    w = _rand(rng, (4, 1, 2, 3), np.float32)
    b = _rand(rng, (4,), np.float32)
    with launch_config(tpb=8, max_blocks=4):
        for padding in (0, 1, (1, 2), ((0, 2), (1, 0)), "valid", "same", "same_lower",
                        "full"):
            for stride in (1, 2):
                y = fc.conv2d(x, w, b, stride=stride, padding=padding, groups=2,
                              backend="cuda", algorithm="direct")
                assert last_plan().backend == "cuda"
                assert_close(y, ref.conv(x, w, b, stride, padding, 1, 2), np.float32)
        for mode in ("reflect", "replicate", "circular", "symmetric"):
            y = fc.conv2d(x, w, b, padding=(1, 2), padding_mode=mode, dilation=(2, 1),
                          groups=2, backend="cuda")
            assert last_plan().backend == "cuda"
            assert_close(y, ref.conv(x, w, b, 1, (1, 2), (2, 1), 2, padding_mode=mode),
                         np.float32)


def check_public_api_nd_dtypes_out_unbatched_empty():
    rng = np.random.default_rng(8)
    with launch_config(tpb=8):
        for nd in (1, 2, 3):
            x = _rand(rng, (2, 3) + (5,) * nd, np.float64)
            w = _rand(rng, (3, 1) + (3,) * nd, np.float64)
            y = CONV[nd](x, w, padding="same", groups=3, backend="cuda")
            assert y.dtype == np.float64
            assert_close(y, ref.conv(x, w, None, 1, "same", 1, 3), np.float64)
            # unbatched, float16 computed in float32 and returned as float16
            xh, wh = x[0].astype(np.float16), w.astype(np.float16)
            yh = CONV[nd](xh, wh, stride=2, groups=3, backend="cuda")
            assert yh.dtype == np.float16 and yh.ndim == nd + 1
            assert_close(yh, ref.conv(xh, wh, None, 2, 0, 1, 3), np.float16)
        # out=, a Fortran-ordered read-only input
        x = np.asfortranarray(_rand(rng, (2, 4, 6, 6), np.float32))
        x.flags.writeable = False
        w = _rand(rng, (5, 4, 3, 3), np.float32)
        out = np.full((2, 5, 4, 4), np.nan, np.float32)
        r = fc.conv2d(x, w, backend="cuda", out=out)
        assert r is out
        assert_close(out, ref.conv(x, w), np.float32)
        # empty batch
        e = fc.conv2d(np.zeros((0, 4, 6, 6), np.float32), w, backend="cuda")
        assert e.shape == (0, 5, 4, 4)


def check_auto_algorithm_with_cuda_is_direct():
    p = fc.plan_conv((1, 64, 56, 56), (64, 64, 3, 3), padding=1, backend="cuda")
    assert (p.algorithm, p.backend) == ("direct", "cuda"), p


def check_other_algorithms_refused():
    x = np.ones((1, 2, 8, 8), np.float32)
    w = np.ones((2, 2, 3, 3), np.float32)
    for alg in ("im2col", "fft", "separable", "winograd"):
        try:
            fc.conv2d(x, w, algorithm=alg, backend="cuda")
        except ValueError as e:
            assert "cuda" in str(e) and "direct" in str(e) and alg in str(e), str(e)
        else:
            raise AssertionError(f"algorithm={alg!r} with backend='cuda' did not raise")


def check_backward_refused():
    x = np.ones((1, 2, 8, 8), np.float32)
    w = np.ones((2, 2, 3, 3), np.float32)
    go = np.ones((1, 2, 6, 6), np.float32)
    try:
        fc.conv2d_backward(go, x, w, backend="cuda")
    except ValueError as e:
        assert "backward" in str(e) and "cuda" in str(e), str(e)
    else:
        raise AssertionError("conv2d_backward with backend='cuda' did not raise")


BIG = ((64, 256, 56, 56), (256, 256, 3, 3))  # 2.4e11 FLOPs: plans only, never run


def check_auto_never_picks_simulator():
    from fastconv.kernels import cuda as kc

    assert kc.simulator() and kc.available() and not kc.device_present()
    saved = kc._driver_library_present
    kc._driver_library_present = lambda: True  # get past the cheap pre-check
    try:
        big = fc.plan_conv(*BIG, padding=1)
        assert big.flops >= kc.AUTO_MIN_FLOPS, big.flops
        assert big.backend != "cuda", big
        x = np.ones((1, 2, 8, 8), np.float32)
        fc.conv2d(x, np.ones((2, 2, 3, 3), np.float32))
        assert last_plan().backend != "cuda"
    finally:
        kc._driver_library_present = saved


def check_auto_pick_rules_with_a_faked_device():
    """What "auto" would do on a machine with a GPU (device presence faked)."""
    from fastconv.kernels import cuda as kc

    saved = kc._driver_library_present, kc.device_present
    kc._driver_library_present = kc.device_present = lambda: True
    try:
        p = fc.plan_conv(*BIG, padding=1)
        assert (p.backend, p.algorithm) == ("cuda", "direct"), p
        small = fc.plan_conv((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
        assert small.flops < kc.AUTO_MIN_FLOPS and small.backend != "cuda", small
        forced = fc.plan_conv(*BIG, padding=1, algorithm="im2col")
        assert forced.backend != "cuda", forced
        bwd = fc.plan_conv(*BIG, padding=1, pass_="input_grad")
        assert bwd.backend != "cuda", bwd
        os.environ[kc._AUTO_ENV] = "0"
        try:
            off = fc.plan_conv(*BIG, padding=1)
        finally:
            del os.environ[kc._AUTO_ENV]
        assert off.backend != "cuda", off
    finally:
        kc._driver_library_present, kc.device_present = saved


CHECKS = {name[len("check_"):]: f for name, f in sorted(globals().items())
          if name.startswith("check_") and callable(f)}


def main(argv) -> int:
    names = argv or list(CHECKS)
    results = {}
    for name in names:
        try:
            CHECKS[name]()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - every failure is reported
            results[name] = traceback.format_exc()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
