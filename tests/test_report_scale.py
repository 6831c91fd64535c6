"""The report at scale: 500 plausible records (made from a real one, with varied times, commits,
machines, modes and measurements) render into one page with every section. Slow: generating
and rendering them takes a while; the time is measured outside the test (never asserted)."""
from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path

import pytest

from harness.records import compact_record, record_json

REAL = sorted((Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json"))
MACHINES = [  # (cpu, gpu): the real machine, another CPU-only one, a GPU machine
    (None, None), ("Intel Xeon 8-core", None), ("AMD EPYC 64-core", "NVIDIA H100 80GB HBM3")]


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def _template(real: dict, machine: int) -> dict:
    """The real record as if run on ``machine``: on the GPU machine, the CUDA cases ran (they
    pass as on the CPU) and every CPU benchmark row has a CUDA twin."""
    rec = copy.deepcopy(real)
    cpu, gpu = MACHINES[machine]
    rec["environment"].update({"cpu": cpu or rec["environment"]["cpu"], "gpu": gpu})
    if gpu:
        cpu_rows = {(p["suite"], p["property"], p["dtype"]): p for p in rec["properties"] if p["device"] == "cpu"}
        rec["properties"] = [
            {**cpu_rows[(p["suite"], p["property"], p["dtype"])], "device": "cuda", "marks": p.get("marks", []),
             "nodeid": p.get("nodeid")} if p["device"] == "cuda" and (p["suite"], p["property"], p["dtype"]) in cpu_rows
            else p for p in rec["properties"]]
        rec["benchmarks"] = rec["benchmarks"] + [
            {**b, "device": "cuda", "median_s": b["median_s"] / 20, "samples_per_s": b["samples_per_s"] * 20}
            for b in rec["benchmarks"] if b.get("status") == "ok"]
    return rec


def _vary(bench: list[dict], rng: random.Random, quick: bool) -> list[dict]:
    """The benchmark rows of one run: medians moved by a drift and noise, samples around them,
    some rows unstable, ratio intervals where there is a built-in; a quick run times only the
    smallest batch of each benchmark."""
    smallest: dict[tuple, int] = {}
    for b in bench:
        key = (b["suite"], b["benchmark"], b["device"], b["dtype"])
        smallest[key] = min(smallest.get(key, b["batch"]), b["batch"])
    drift = rng.uniform(0.9, 1.1)
    out = []
    for b in bench:
        if quick and b["batch"] != smallest[(b["suite"], b["benchmark"], b["device"], b["dtype"])]:
            continue
        b = dict(b)
        if b.get("status") == "ok" and b.get("median_s"):
            spread = rng.choice([0.01, 0.02, 0.05, 0.3]) if not quick else 0.15
            med = b["median_s"] * drift * rng.uniform(0.97, 1.03)
            b.update(median_s=med, iqr_s=med * spread, samples_per_s=b["batch"] / med, spread=spread,
                     unstable=spread > 0.1, remeasured=int(spread > 0.1), load_before=rng.uniform(0, 3),
                     load_after=rng.uniform(0, 3), peak_valid=True,
                     samples_s=[_sig(med * (1 + spread * rng.uniform(-0.5, 0.5))) for _ in range(16)])
            if b.get("builtin_ratio"):
                r = b["builtin_ratio"] * rng.uniform(0.95, 1.05)
                b.update(builtin_ratio=r, builtin_ratio_ci=[_sig(r * 0.95), _sig(r * 1.05)])
        out.append(b)
    return out


def make_records(real_path: Path, out_dir: Path, n: int = 500, seed: int = 0) -> list[Path]:
    """``n`` records under ``out_dir``: hourly over ``n`` hours, a new commit every few records,
    three machines, one run in five ``--quick``, one in ten with a failing property, one in ten
    written whole (rows as records had them before compaction), the rest compact."""
    rng = random.Random(seed)
    real = json.loads(real_path.read_text())
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    # the property rows are the expensive part to compact: once per machine and failure variant
    packed: dict[tuple[int, bool], tuple[dict, str]] = {}
    for machine in range(len(MACHINES)):
        for failing in (False, True):
            t = _template(real, machine)
            if failing:
                i = next(i for i, p in enumerate(t["properties"]) if p["status"] == "passed")
                t["properties"][i] = {**t["properties"][i], "status": "failed",
                                      "line": "observed 2 × expected everywhere: error 1 > 1e-05 (a generated failure)"}
            c = compact_record({**t, "benchmarks": []})
            packed[(machine, failing)] = (t, json.dumps(c["properties"], separators=(",", ":"), ensure_ascii=False)
                                          + "\x00" + json.dumps(c.get("compact", {}).get("properties")))
    paths = []
    commit = "%040x" % rng.getrandbits(160)
    for i in range(n):
        if rng.random() < 0.3:
            commit = "%040x" % rng.getrandbits(160)
        machine = rng.choice([0, 0, 1, 2])
        quick = rng.random() < 0.2
        failing = rng.random() < 0.1
        t, props = packed[(machine, failing)]
        created = start + dt.timedelta(hours=i, minutes=rng.randint(0, 59))
        rec = {k: v for k, v in t.items() if k not in ("properties", "benchmarks")}
        rec["created"] = created.isoformat(timespec="seconds")
        rec["environment"] = {**t["environment"], "git_commit": commit, "git_dirty": rng.random() < 0.1}
        rec["bench_info"] = {**(t.get("bench_info") or {}), "quick": quick, "spread_threshold": 0.1}
        bench = _vary(t["benchmarks"], rng, quick)
        name = f"gen{machine}-{created:%Y%m%dT%H%M%SZ}-{commit[:7]}.json"
        path = out_dir / name
        if rng.random() < 0.1:  # an old, whole record
            path.write_text(json.dumps({**rec, "properties": t["properties"], "benchmarks": bench}))
        else:
            cb = compact_record({**rec, "properties": [], "benchmarks": bench})
            text, spec = props.split("\x00")
            rec["compact"] = {"properties": json.loads(spec), **({"benchmarks": cb["compact"]["benchmarks"]}
                                                                 if "compact" in cb else {})}
            body = record_json({**rec, "properties": ["@@PROPS@@"], "benchmarks": cb["benchmarks"]})
            path.write_text(body.replace('[\n  "@@PROPS@@"\n ]', text, 1))
        paths.append(path)
    return paths


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="no committed record under results/runs to make records from")
def test_report_of_500_records(tmp_path):
    from harness.records import load_records
    from harness.report import render_report

    runs = tmp_path / "runs"
    runs.mkdir()
    make_records(REAL[0], runs, 500)
    recs = load_records(runs)
    assert len(recs) == 500  # every generated record is a valid record
    page = render_report(runs_dir=runs, out=tmp_path / "report.html", asv_dir=None, conformance_dir=None).read_text()
    for section in ("id='summary'", "id='properties'", "id='throughput'", "id='charts'", "id='environment'",
                    "History across commits", "Samples/s vs batch size"):
        assert section in page, section
    # one summary and matrix per machine, the GPU machine first; quick runs in their own tables
    for cpu, gpu in MACHINES[1:]:
        assert cpu in page
    assert page.index("NVIDIA H100") < page.index("Intel Xeon 8-core")
    assert "quick run" in page and "not comparable with a full table, never merged into one" in page
    assert "Not shown:" in page and "other record(s)" in page
    assert page.count("<table class='summary'>") == 3
