"""Unit tests of bench/report.py on synthetic pytest-benchmark JSON (no timing)."""

from __future__ import annotations

import json
import math

import pytest

from . import report


def _bench(group, name, t, extra=None, params=None, fullname=None, rounds=5):
    return {
        "group": group, "name": name, "fullname": fullname or f"bench/test_bench_conv.py::{name}",
        "params": params, "param": None, "extra_info": extra or {},
        "stats": {"min": t, "median": 2 * t, "mean": 2 * t, "max": 3 * t, "rounds": rounds},
    }


def _write(tmp_path, benches, name="a.json", machine=None):
    p = tmp_path / name
    p.write_text(json.dumps({
        "machine_info": machine or {"system": "Linux", "release": "x",
                                    "cpu": {"brand_raw": "Test CPU"}},
        "commit_info": {"id": "0123456789abcdef"}, "datetime": "2026-01-01T00:00:00",
        "version": "5.2.3", "benchmarks": benches,
    }))
    return str(p)


def _conv(case, impl, threads, t, **kw):
    ei = dict(suite="conv", case=case, impl=impl, threads=threads, flops=2e9, **kw)
    return _bench(f"{case} [{threads}t]", f"test_conv[{threads}t-{case}-{impl}]", t, ei)


def _row(md, first_cell):
    for line in md.splitlines():
        if line.startswith(f"| {first_cell} |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row {first_cell!r} in\n{md}")


def test_ratios_geomean_rates_and_missing_peers(tmp_path):
    p = _write(tmp_path, [
        _conv("a", "fastconv", 2, 0.010, algorithm="direct", backend="cython", max_rel_err=1e-7),
        _conv("a", "torch", 2, 0.020),
        _conv("b", "fastconv", 2, 0.004, algorithm="fft", backend="numba"),
        _conv("b", "torch", 2, 0.001),
        _conv("b", "scipy-fft", 2, 0.008),
        _conv("b", "scipy-direct", 2, 0.002),
        _conv("c", "fastconv", 2, 0.5),                      # no peer at all
        _conv("g", "fastconv", 2, 0.001, geomean=False),     # extra case
        _conv("g", "torch", 2, 1.0, geomean=False),
    ])
    entries, runs = report.load([p])
    md = report.render(entries, runs, "min")
    a = _row(md, "a")
    assert a[1] == "10.0 ms" and a[2] == "direct (cython)" and a[3] == "200.0 GFLOP/s"
    assert a[4] == "20.0 ms" and a[5] == "0.50"
    assert a[6] == "—" and a[7] == "—" and a[8] == "1.0e-07"
    b = _row(md, "b")
    assert b[5] == "4.00" and b[6] == "2.00 ms (direct)" and b[7] == "2.00"  # best SciPy method
    c = _row(md, "c")
    assert c[4] == "—" and c[5] == "—"
    assert _row(md, "g †")[5] == "0.00"
    gm = _row(md, "**geometric mean**")
    assert gm[5] == "**1.41** (2)"                     # sqrt(0.5 * 4), g left out
    assert gm[7] == "**2.00** (1)"
    assert "Test CPU" in md and "0123456789" in md
    assert "† extra case" in md


def test_stat_choice_and_later_file_wins(tmp_path):
    p1 = _write(tmp_path, [_conv("a", "fastconv", 1, 0.010), _conv("a", "torch", 1, 0.010)],
                "1.json")
    p2 = _write(tmp_path, [_conv("a", "fastconv", 1, 0.005)], "2.json")
    entries, runs = report.load([p1, p2], "min")
    assert _row(report.render(entries, runs, "min"), "a")[-1] == "0.50"
    entries, runs = report.load([p1, p2], "median")
    assert _row(report.render(entries, runs, "median"), "a")[-1] == "0.50"
    assert "**median**" in report.render(entries, runs, "median")


def test_plain_entries_without_extra_info(tmp_path):
    """Another bench file that only sets ``group=``: placed by group, name and file."""
    p = _write(tmp_path, [
        _bench("maxpool [2t]", "test_maxpool[2t-fastconv]", 0.001,
               fullname="bench/test_bench_pool.py::test_maxpool[2t-fastconv]"),
        _bench("maxpool [2t]", "test_maxpool_torch[2t]", 0.004,
               fullname="bench/test_bench_pool.py::test_maxpool_torch[2t]"),
        _bench("avgpool", "test_avg[fastconv]", 0.001, params={"threads": 1, "impl": "fastconv"},
               fullname="bench/test_bench_pool.py::test_avg[fastconv]"),
    ])
    entries, runs = report.load([p])
    got = {(e.suite, e.case, e.impl, e.threads) for e in entries}
    assert got == {("pool", "maxpool", "fastconv", 2), ("pool", "maxpool", "torch", 2),
                   ("pool", "avgpool", "fastconv", 1)}
    md = report.render(entries, runs, "min")
    assert "#### pool — 2 threads" in md and _row(md, "maxpool")[-1] == "0.25"


def test_variants_pipeline_startup_memory_tables(tmp_path):
    p = _write(tmp_path, [
        _conv("a", "fastconv", 2, 0.010, algorithm="im2col", backend="cython"),
        _conv("a", "fastconv-prepared", 2, 0.008, algorithm="im2col", backend="cython"),
        _conv("a", "torch", 2, 0.016),
        _bench("i [2t]", "test_i[2t-fastconv]", 0.004, dict(
            suite="interleaved", case="i", impl="fastconv", threads=2,
            parts_s={"matmul": 0.001, "conv": 0.001})),
        _bench("startup: import", "test_import_time", 0.2, dict(
            suite="startup", case="import", impl="fastconv", metrics=[
                {"metric": "import fastconv", "value_s": 0.05, "limit_s": 0.3},
                {"metric": "slow thing", "value_s": 0.9, "limit_s": 0.6}])),
        _bench("memory: m", "test_peak_memory[m-fastconv]", 1.0, dict(
            suite="memory", case="m", impl="fastconv", peak_rss_bytes=3 * 2**20,
            tracemalloc_peak_bytes=2**20, input_bytes=2**20, output_bytes=2**20, call_s=0.1)),
    ])
    entries, runs = report.load([p])
    md = report.render(entries, runs, "min")
    v = _row(md, "a")  # first "a" row is the conv table; check the variants table below
    assert v[1] == "10.0 ms"
    assert "| a | 2 | prepared | im2col (cython) | 8.00 ms | 250.0 GFLOP/s | 0.80 | 0.50 |" in md
    assert "**0.50**" in md
    pipe = [ln for ln in md.splitlines() if ln.startswith("| i | 2 | fastconv |")][0]
    assert "2.00 ms" in pipe and pipe.rstrip(" |").endswith("2.00")
    assert "| import fastconv | 50.0 ms | 300 ms | yes |" in md
    assert "| slow thing | 900 ms | 600 ms | **no** |" in md
    assert "| m | fastconv | — | 3.0 MiB | 1.0 MiB | 1.0 MiB | 1.0 MiB | 100 ms |" in md


def test_helpers():
    assert report.fmt_time(None) == "—" and report.fmt_time(float("nan")) == "—"
    assert report.fmt_time(2.5e-5) == "25.0 µs" and report.fmt_time(2.5) == "2.50 s"
    assert report.geomean([]) is None
    assert math.isclose(report.geomean([2.0, 8.0]), 4.0)


def test_cli_missing_files(tmp_path, capsys):
    assert report.main([str(tmp_path / "nope.json")]) == 1
    p = _write(tmp_path, [_conv("a", "fastconv", 1, 0.01)])
    assert report.main([p, str(tmp_path / "nope.json")]) == 0
    out, err = capsys.readouterr()
    assert "| a |" in out and "skipping missing" in err


@pytest.mark.parametrize("bad", ["{", '{"benchmarks": 3}'])
def test_bad_json_raises(tmp_path, bad):
    p = tmp_path / "bad.json"
    p.write_text(bad)
    with pytest.raises((ValueError, TypeError)):
        report.load([str(p)])


def test_suite_cases_match_the_conv_bench():
    from . import test_bench_conv as tbc

    assert set(report.SUITE_CASES) == {c.name for c in tbc.CASES if c.in_suite}
    named = {c for _, cases, _, _ in report.RATIO_TARGETS for c in cases} | set(report.GEMM_BOUND)
    assert named <= set(report.SUITE_CASES)


def test_targets_section(tmp_path):
    benches = []
    for c in report.SUITE_CASES:
        benches += [_conv(c, "fastconv", 2, 0.001), _conv(c, "torch", 2, 0.010)]
    benches.append(_conv("filter512_k31", "scipy-fft", 2, 0.0005))   # fastconv 2x slower
    entries, runs = report.load([_write(tmp_path, benches)])
    md = report.targets_section(entries)
    assert "| depthwise at least 2x faster than PyTorch | ≤ 0.50 |" in md
    assert _row(md, "depthwise at least 2x faster than PyTorch")[-1] == "yes"
    assert _row(md, "31x31 on 512^2 no slower than SciPy's best method")[-1] == "**no**"
    assert _row(md, "geometric mean vs PyTorch over the suite")[2] == "0.10 (17 cases)"
    assert _row(md, "geometric mean vs PyTorch over the suite")[-1] == "yes"
    assert _row(md, ">= 150 GFLOP/s on 2 GEMM-bound layers")[-1] == "yes"  # 2e9 / 1 ms
    entries, runs = report.load([_write(tmp_path, benches[:6], "few.json")])
    md = report.targets_section(entries)
    assert _row(md, "geometric mean vs PyTorch over the suite")[-1] == "incomplete"
