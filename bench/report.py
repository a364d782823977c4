#!/usr/bin/env python
"""Markdown tables from pytest-benchmark JSON files (``--benchmark-json``).

Usage::

    python bench/report.py results/*.json > table.md
    python bench/report.py results/*.json --stat median --suite conv,pool

Every benchmark's ``extra_info`` (filled by ``bench/conftest.py``'s ``record``)
names its ``suite``, ``case``, ``impl`` and ``threads``; fastconv's entry of a case
is ``impl == "fastconv"``, its peers are everything not starting with ``fastconv``
(``torch``, ``scipy-fft`` ...; a family such as ``scipy-*`` is reduced to its
fastest method), and ``fastconv-<variant>`` entries get a table of their own.
Entries without ``extra_info`` are placed by their group / test name.  When the
same (suite, case, impl, threads) appears in several files, the file given last
wins.  Peers that were not installed simply leave their cells empty ("—").

The time of a benchmark is its minimum over rounds by default (``--stat``): on a
shared machine the minimum is the least noisy estimate of what the code costs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

DASH = "—"
PEER_ORDER = ("torch", "scipy", "numpy")


@dataclass
class Entry:
    suite: str
    case: str
    impl: str
    threads: int | None
    time: float | None
    rounds: int
    info: dict = field(default_factory=dict)
    source: str = ""

    @property
    def is_fastconv(self) -> bool:
        return self.impl == "fastconv"

    @property
    def is_variant(self) -> bool:
        return self.impl.startswith("fastconv") and self.impl != "fastconv"

    @property
    def family(self) -> str:
        return self.impl.split("-", 1)[0]

    @property
    def method(self) -> str:
        return self.impl.split("-", 1)[1] if "-" in self.impl else ""


# ------------------------------------------------------------------------------ loading
def _suite_from(fullname: str) -> str:
    stem = Path(fullname.split("::", 1)[0]).stem
    return stem.removeprefix("test_bench_") or stem or "misc"


def _threads_from(b: dict) -> int | None:
    params = b.get("params") or {}
    for k in ("threads", "nthreads", "n_threads", "num_threads"):
        if isinstance(params.get(k), int):
            return params[k]
    for s in (b.get("group") or "", b.get("param") or "", b.get("name") or ""):
        m = re.search(r"\[(\d+)t\]|(?:^|[-_\[ ])(\d+)t(?:$|[-_\] ])", s)
        if m:
            return int(m.group(1) or m.group(2))
    return None


def _impl_from(b: dict) -> str:
    params = b.get("params") or {}
    for k in ("impl", "peer", "lib", "library"):
        if isinstance(params.get(k), str):
            return params[k]
    name = (b.get("name") or "").lower()
    for fam in ("torch", "scipy", "numpy"):
        if fam in name:
            return fam
    return "fastconv"


def _case_from(b: dict) -> str:
    g = b.get("group")
    if g:
        return re.sub(r"\s*\[\d+t\]\s*$", "", g)
    name = b.get("name") or "?"
    return re.sub(r"\[.*\]$", "", name)


def load(paths, stat="min") -> tuple[list[Entry], list[dict]]:
    entries: dict[tuple, Entry] = {}
    runs = []
    for p in paths:
        with open(p) as fh:
            data = json.load(fh)
        runs.append({"path": str(p), "datetime": data.get("datetime"),
                     "machine_info": data.get("machine_info") or {},
                     "commit_info": data.get("commit_info") or {},
                     "version": data.get("version")})
        for b in data.get("benchmarks", []):
            ei = dict(b.get("extra_info") or {})
            st = b.get("stats") or {}
            e = Entry(
                suite=str(ei.get("suite") or _suite_from(b.get("fullname", ""))),
                case=str(ei.get("case") or _case_from(b)),
                impl=str(ei.get("impl") or _impl_from(b)),
                threads=ei["threads"] if isinstance(ei.get("threads"), int) else _threads_from(b),
                time=st.get(stat),
                rounds=int(st.get("rounds") or 0),
                info=ei,
                source=str(p),
            )
            entries[(e.suite, e.case, e.impl, e.threads)] = e
    return list(entries.values()), runs


# ------------------------------------------------------------------------------ formatting
def _sig3(v: float) -> str:
    return f"{v:.0f}" if v >= 99.95 else f"{v:.1f}" if v >= 9.995 else f"{v:.2f}"


def fmt_time(t: float | None) -> str:
    """Three significant digits: 25.0 µs, 2.00 ms, 133 ms, 2.50 s."""
    if t is None or not math.isfinite(t):
        return DASH
    if t < 1e-3:
        return f"{_sig3(t * 1e6)} µs"
    if t < 1:
        return f"{_sig3(t * 1e3)} ms"
    return f"{_sig3(t)} s"


def fmt_ratio(r: float | None) -> str:
    return DASH if r is None else f"{r:.2f}"


def fmt_rate(e: Entry | None) -> str:
    if e is None or not e.time:
        return DASH
    if e.info.get("flops"):
        return f"{e.info['flops'] / e.time / 1e9:.1f} GFLOP/s"
    if e.info.get("bytes"):
        return f"{e.info['bytes'] / e.time / 1e9:.1f} GB/s"
    return DASH


def fmt_err(e: Entry | None) -> str:
    if e is None or e.info.get("max_rel_err") is None:
        return DASH
    return f"{e.info['max_rel_err']:.1e}"


def geomean(xs) -> float | None:
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _thread_label(n) -> str:
    return "? threads" if n is None else f"{n} thread" + ("s" if n != 1 else "")


# ------------------------------------------------------------------------------ sections
def _families(entries) -> list[str]:
    fams = {e.family for e in entries if not e.impl.startswith("fastconv")}
    return sorted(fams, key=lambda f: (PEER_ORDER.index(f) if f in PEER_ORDER else 99, f))


def _best_of_family(es: list[Entry]) -> Entry | None:
    es = [e for e in es if e.time]
    return min(es, key=lambda e: e.time) if es else None


def _algo(e: Entry | None) -> str:
    if e is None:
        return DASH
    a, b = e.info.get("algorithm"), e.info.get("backend")
    return f"{a} ({b})" if a and b else (a or DASH)


def comparison(suite: str, entries: list[Entry], summary: list) -> str:
    """One table per thread count: case, fastconv, peers, GFLOP/s, ratios, geo-mean."""
    parts = []
    fams = _families(entries)
    has_err = any(e.info.get("max_rel_err") is not None for e in entries if e.is_fastconv)
    for n in sorted({e.threads for e in entries}, key=lambda v: (v is None, v or 0)):
        es = [e for e in entries if e.threads == n]
        cases = list(dict.fromkeys(e.case for e in es))
        show_algo = any(e.info.get("algorithm") for e in es if e.is_fastconv)
        show_rate = any(e.info.get("flops") or e.info.get("bytes") for e in es)
        header = ["case", "fastconv"] + (["algorithm"] if show_algo else []) + (
            ["fastconv rate"] if show_rate else [])
        for f in fams:
            header += [f, f"fastconv / {f}"]
        if has_err:
            header.append("max rel err")
        rows, ratios, excluded = [], defaultdict(list), False
        for c in cases:
            ce = [e for e in es if e.case == c]
            fcv = next((e for e in ce if e.is_fastconv), None)
            counted = all(e.info.get("geomean", True) for e in ce)
            if not counted:
                excluded = True
            row = [c if counted else f"{c} †", fmt_time(fcv.time if fcv else None)]
            row += ([_algo(fcv)] if show_algo else []) + ([fmt_rate(fcv)] if show_rate else [])
            for f in fams:
                best = _best_of_family([e for e in ce if e.family == f
                                        and not e.impl.startswith("fastconv")])
                cell = fmt_time(best.time if best else None)
                if best is not None and best.method:
                    cell += f" ({best.method})"
                r = fcv.time / best.time if (fcv and fcv.time and best) else None
                if r is not None and counted:
                    ratios[f].append(r)
                row += [cell, fmt_ratio(r)]
            if has_err:
                row.append(fmt_err(fcv))
            rows.append(row)
        if not rows:
            continue
        gm_row = ["**geometric mean**", ""] + [""] * (show_algo + show_rate)
        for f in fams:
            g = geomean(ratios[f])
            gm_row += ["", f"**{fmt_ratio(g)}** ({len(ratios[f])})" if g else DASH]
            if g:
                summary.append((suite, n, f, g, len(ratios[f])))
        if has_err:
            gm_row.append("")
        rows.append(gm_row)
        note = ("\n\n† extra case, not part of the suite: left out of the geometric mean."
                if excluded else "")
        parts.append(f"#### {suite} — {_thread_label(n)}\n\n" + table(header, rows) + note)
    variants = [e for e in entries if e.is_variant]
    if variants:
        parts.append(variant_table(suite, entries))
    piped = [e for e in entries if isinstance(e.info.get("parts_s"), dict)]
    if piped:
        parts.append(pipeline_table(suite, piped))
    return "\n\n".join(parts)


def variant_table(suite: str, entries: list[Entry]) -> str:
    rows, gm = [], defaultdict(list)
    for e in sorted((e for e in entries if e.is_variant),
                    key=lambda e: (e.threads or 0, e.impl, e.case)):
        same = [o for o in entries if o.case == e.case and o.threads == e.threads]
        auto = next((o for o in same if o.is_fastconv), None)
        torch = _best_of_family([o for o in same if o.family == "torch"])
        r_torch = e.time / torch.time if torch and e.time else None
        counted = all(o.info.get("geomean", True) for o in same)
        if r_torch is not None and counted:
            gm[(e.threads, e.impl)].append(r_torch)
        rows.append([
            e.case if counted else f"{e.case} †", e.threads if e.threads is not None else "?",
            e.impl.removeprefix("fastconv-"), _algo(e), fmt_time(e.time), fmt_rate(e),
            fmt_ratio(e.time / auto.time if auto and auto.time and e.time else None),
            fmt_ratio(r_torch), fmt_err(e),
        ])
    for (n, impl), rs in sorted(gm.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        rows.append([f"**geometric mean** ({len(rs)})", n, impl.removeprefix("fastconv-"),
                     "", "", "", "", f"**{fmt_ratio(geomean(rs))}**", ""])
    header = ["case", "threads", "variant", "ran", "time", "rate", "variant / auto",
              "variant / torch", "max rel err"]
    return f"#### {suite} — fastconv variants\n\n" + table(header, rows)


def pipeline_table(suite: str, entries: list[Entry]) -> str:
    rows = []
    for e in sorted(entries, key=lambda e: (e.threads or 0, e.case, e.impl)):
        p = {k: v for k, v in e.info["parts_s"].items() if isinstance(v, (int, float))}
        s = sum(p.values())
        rows.append([e.case, e.threads if e.threads is not None else "?", e.impl,
                     fmt_time(e.time), " + ".join(f"{k} {fmt_time(v)}" for k, v in p.items()),
                     fmt_time(s), fmt_ratio(e.time / s if e.time and s else None)])
    header = ["case", "threads", "impl", "pipeline", "parts timed alone", "sum of parts",
              "pipeline / sum"]
    return (f"#### {suite} — pipeline vs its parts timed alone\n\n" + table(header, rows)
            + "\n\n(pipeline / sum > 1: the parts slow each other down, e.g. BLAS threads "
            "still spinning when the next parallel region starts.)")


def startup_table(entries: list[Entry]) -> str:
    rows = []
    for e in sorted(entries, key=lambda e: (e.case != "import", e.case, e.impl)):
        metrics = e.info.get("metrics")
        if not isinstance(metrics, list):
            metrics = [dict(e.info, metric=e.case)]
        for m in metrics:
            val, limit = m.get("value_s"), m.get("limit_s")
            met = DASH
            if limit and val is not None:
                met = "yes" if val <= limit else "**no**"
            rows.append([m.get("metric", e.case), fmt_time(val),
                         fmt_time(limit) if limit else DASH, met, m.get("detail", "")])
    return "### start-up (fresh processes, minimum over runs)\n\n" + table(
        ["metric", "measured", "target", "met", "detail"], rows)


def memory_table(entries: list[Entry]) -> str:
    def mb(v):
        return DASH if v is None else f"{v / 2**20:.1f} MiB"

    rows = []
    for e in sorted(entries, key=lambda e: (e.case, e.impl)):
        i = e.info
        rows.append([e.case, e.impl, i.get("algorithm", DASH), mb(i.get("peak_rss_bytes")),
                     mb(i.get("tracemalloc_peak_bytes")), mb(i.get("input_bytes")),
                     mb(i.get("output_bytes")), fmt_time(i.get("call_s")), i.get("shape", "")])
    header = ["case", "impl", "algorithm", "peak RSS growth during call", "tracemalloc peak",
              "input", "output", "call time (first big call)", "shape"]
    return "### peak memory (one call in a fresh process)\n\n" + table(header, rows)


def machine_section(runs: list[dict]) -> str:
    lines = ["### Machine"]
    seen = set()
    for r in runs:
        mi = r["machine_info"]
        fb = mi.get("fastconv_bench") or {}
        ls = fb.get("lscpu") or {}
        ver = fb.get("versions") or {}
        cpu = ls.get("Model name") or (mi.get("cpu") or {}).get("brand_raw") or "?"
        desc = [f"CPU: {cpu}"]
        if ls:
            desc.append(f"{ls.get('CPU(s)', '?')} CPUs ({ls.get('Core(s) per socket', '?')} "
                        f"cores/socket, {ls.get('Thread(s) per core', '?')} thread/core), "
                        f"L2 {ls.get('L2 cache', '?')}, L3 {ls.get('L3 cache', '?')}")
            if ls.get("Hypervisor vendor"):
                desc.append(f"virtualised ({ls['Hypervisor vendor']})")
        if fb.get("cpus_available") is not None:
            desc.append(f"CPUs available to the process: {fb['cpus_available']}")
        desc.append(f"{mi.get('system', '?')} {mi.get('release', '')}".strip())
        if ver:
            desc.append(", ".join(f"{k} {v}" for k, v in ver.items() if v))
        else:
            desc.append(f"python {mi.get('python_version', '?')}")
        pools = fb.get("threadpools") or []
        if pools:
            desc.append("thread pools: " + "; ".join(
                f"{p.get('internal_api')} {p.get('version') or ''} "
                f"({p.get('threading_layer') or '-'}, {p.get('architecture') or '-'})".strip()
                for p in pools))
        if fb.get("loadavg_start") and fb.get("loadavg_end"):
            ls0, ls1 = fb["loadavg_start"][0], fb["loadavg_end"][0]
            busy = max(ls0, ls1) > 0.5 * (fb.get("cpus_available") or 1)
            desc.append(f"load average (1 min) at start / end of the run: {ls0:.2f} / "
                        f"{ls1:.2f}" + (" — **the machine was busy: timings are noisy**"
                                        if busy else ""))
        if fb.get("env"):
            desc.append("env: " + " ".join(f"{k}={v}" for k, v in fb["env"].items()))
        key = tuple(desc)
        if key in seen:
            continue
        seen.add(key)
        lines.append("")
        lines += [f"- {d}" for d in desc]
    dates = sorted(r["datetime"] for r in runs if r.get("datetime"))
    commits = sorted({(r["commit_info"] or {}).get("id", "")[:10] for r in runs} - {""})
    if dates:
        lines.append(f"- runs: {dates[0]}" + (f" … {dates[-1]}" if len(dates) > 1 else "")
                     + (f", commit {', '.join(commits)}" if commits else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ targets
#: The issues' "must show" thresholds on the conv suite (2 threads, fastconv / peer
#: time).  (label, cases, peer family, max ratio): every listed case must meet it.
RATIO_TARGETS = [
    ("depthwise at least 2x faster than PyTorch",
     ("mobilenet_dw112_n1", "mobilenet_dw112_n8", "mobilenet_dw14"), "torch", 0.5),
    ("ResNet 3x3 stride 1 within 0.8x of PyTorch",
     ("resnet3x3_56", "resnet3x3_14", "resnet3x3_7"), "torch", 0.8),
    ("stem and 1x1 within 1.0x of PyTorch", ("resnet_stem7x7s2", "resnet1x1_56"), "torch", 1.0),
    ("31x31 on 512^2 at least 5x faster than PyTorch", ("filter512_k31",), "torch", 0.2),
    ("31x31 on 512^2 no slower than SciPy's best method", ("filter512_k31",), "scipy", 1.0),
    ("1-D k=101 at least 3x faster than PyTorch", ("audio1d_k101",), "torch", 1 / 3),
    ("3-D 16->32 on 32^3 at least 3x faster than PyTorch", ("conv3d_16to32_32",), "torch",
     1 / 3),
]
GEMM_BOUND = ("resnet3x3_56", "resnet3x3_14", "resnet3x3_7", "resnet_stem7x7s2", "resnet1x1_56")
#: The issue's layer suite (bench/test_bench_conv.py names): the geometric mean's cases.
SUITE_CASES = (
    "lenet_conv1", "lenet_conv2", "resnet_stem7x7s2", "resnet3x3_56", "resnet3x3_28",
    "resnet3x3_14", "resnet3x3_7", "resnet1x1_56", "mobilenet_dw112_n1", "mobilenet_dw112_n8",
    "mobilenet_dw14", "dilated3x3_56", "conv11x11_256", "filter512_k15", "filter512_k31",
    "audio1d_k101", "conv3d_16to32_32",
)
GEOMEAN_TARGET = 0.6
RATE_TARGET = (150e9, 2)  # >= 150 GFLOP/s effective on at least two GEMM-bound layers


def targets_section(entries: list[Entry], threads: int = 2) -> str:
    """Measured values against the issues' thresholds (conv suite, ``threads``)."""
    es = [e for e in entries if e.suite == "conv" and e.threads == threads]
    if not es:
        return ""

    def find(case, impl):
        return next((e for e in es if e.case == case and e.impl == impl and e.time), None)

    def ratio(case, fam, impl="fastconv"):
        fcv = find(case, impl)
        peer = _best_of_family([e for e in es if e.case == case and e.family == fam
                                and not e.impl.startswith("fastconv")])
        return fcv.time / peer.time if fcv and peer else None

    rows = []
    for impl in ("fastconv", "fastconv-prepared"):
        if not any(e.impl == impl for e in es):
            continue
        tag = "" if impl == "fastconv" else " (prepared weight)"
        for label, cases, fam, limit in RATIO_TARGETS:
            if impl != "fastconv" and not set(cases) <= set(GEMM_BOUND):
                continue  # prepared weights: the GEMM-bound rows again
            rs = {c: ratio(c, fam, impl) for c in cases}
            got = [f"{c} {fmt_ratio(r)}" for c, r in rs.items() if r is not None]
            if any(r is not None and r > limit for r in rs.values()):
                met = "**no**"
            elif not got:
                met = DASH
            else:
                met = "yes" if len(got) == len(rs) else "incomplete"
            rows.append([label + tag, f"≤ {limit:.2f}", ", ".join(got) or DASH, met])
        if impl != "fastconv":
            gm_cases = set()
        else:
            gm_cases = {e.case for e in es if e.info.get("geomean", True)}
        rs = [r for c in sorted(gm_cases) if (r := ratio(c, "torch", impl)) is not None]
        measured = {c for c in gm_cases if ratio(c, "torch", impl) is not None}
        missing = set(SUITE_CASES) - measured
        g = geomean(rs)
        if gm_cases:
            rows.append([f"geometric mean vs PyTorch over the suite{tag}",
                         f"≤ {GEOMEAN_TARGET}", f"{fmt_ratio(g)} ({len(rs)} cases)",
                         DASH if g is None else ("incomplete" if missing else "yes"
                                                  if g <= GEOMEAN_TARGET else "**no**")])
        rates = {c: find(c, impl).info["flops"] / find(c, impl).time for c in GEMM_BOUND
                 if find(c, impl) and find(c, impl).info.get("flops")}
        n_ok = sum(r >= RATE_TARGET[0] for r in rates.values())
        rows.append([f">= {RATE_TARGET[0] / 1e9:.0f} GFLOP/s on {RATE_TARGET[1]} GEMM-bound "
                     f"layers{tag}", f"{RATE_TARGET[1]} layers",
                     ", ".join(f"{c} {r / 1e9:.0f}" for c, r in rates.items()) or DASH,
                     DASH if not rates else "yes" if n_ok >= RATE_TARGET[1] else
                     "incomplete" if len(rates) < len(GEMM_BOUND) else "**no**"])
    return (f"### Targets from the issues (conv suite, {threads} threads, fastconv / peer time)"
            "\n\n" + table(["target", "threshold", "measured", "met"], rows))


def render(entries: list[Entry], runs: list[dict], stat: str, suites=None) -> str:
    by_suite = defaultdict(list)
    for e in entries:
        by_suite[e.suite].append(e)
    order = ["conv", "interleaved", "backward", "pool", "signal", "startup", "memory"]
    names = sorted(by_suite, key=lambda s: (order.index(s) if s in order else 50, s))
    if suites:
        names = [s for s in names if s in suites]
    rounds = [e.rounds for e in entries if e.rounds]
    out = ["## Benchmark results", "",
           f"Times are the **{stat}** over pytest-benchmark rounds"
           + (f" ({min(rounds)}–{max(rounds)} rounds per entry)" if rounds else "")
           + "; ratios are fastconv time / peer time (< 1: fastconv faster); a peer "
           "family's cell shows its fastest method; rates are FLOPs of the direct "
           "definition (2 × multiply-adds) per second; — : not measured / not installed.",
           "", machine_section(runs)]
    summary: list = []
    body = []
    for s in names:
        es = by_suite[s]
        if s == "startup":
            body.append(startup_table(es))
        elif s == "memory":
            body.append(memory_table(es))
        else:
            body.append(f"### {s}\n\n" + comparison(s, es, summary))
    if summary:
        out += ["", "### Summary: geometric mean of fastconv / peer time", "",
                table(["suite", "threads", "peer", "geo-mean ratio", "cases"],
                      [[s, n, f, f"{g:.2f}", k] for s, n, f, g, k in summary])]
    tgt = targets_section(entries) if (not suites or "conv" in suites) else ""
    if tgt:
        out += ["", tgt]
    out += ["", "\n\n".join(body)]
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", help="pytest-benchmark JSON files (--benchmark-json)")
    ap.add_argument("--stat", default="min", choices=["min", "median", "mean", "max"],
                    help="statistic used as the time (default: min)")
    ap.add_argument("--suite", default="", help="comma-separated suites to print (default all)")
    a = ap.parse_args(argv)
    paths = [p for p in a.json if Path(p).is_file()]
    missing = sorted(set(a.json) - set(paths))
    if missing:
        print(f"report.py: skipping missing files: {', '.join(missing)}", file=sys.stderr)
    if not paths:
        print("report.py: no JSON files to read", file=sys.stderr)
        return 1
    entries, runs = load(paths, a.stat)
    suites = {s.strip() for s in a.suite.split(",") if s.strip()} or None
    sys.stdout.write(render(entries, runs, a.stat, suites))
    return 0


if __name__ == "__main__":
    sys.exit(main())
