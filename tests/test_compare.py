"""``harness compare``: records of real ``harness bench`` / ``harness run`` runs of a tiny suite.

The subject is a third-party module written here (``cmp_subject``) whose forward pass sleeps
``DLH_CMP_SLEEP`` seconds, so that a run is dominated by the sleep: two runs of the same code
have a ratio near 1 even on a loaded machine, and a longer sleep is a slowdown far above the
gate. ``DLH_CMP_BROKEN`` breaks its softmax (a property that newly fails). Machine, mode and
subject differences are made by editing a copy of a record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness import bench as hb
from harness import compare as hc
from harness.cli import main

SUITE = """\
suite: tiny
title: Tiny
subject:
  factory: reference_impls.activations
  params: {d_in: 8, hidden: 16, d_out: 4}
defaults: {devices: [cpu], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
benchmarks:
  - {id: net_forward, workload: forward, batch_sizes: [4], dtypes: [float32], inputs: [{shape: [8]}]}
"""

SUBJECT = '''\
import os
import time

import torch
from torch import nn


def softmax(x, dim=-1):
    if os.environ.get("DLH_CMP_BROKEN"):
        return torch.exp(x)  # not normalised
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True)


class Net(nn.Module):
    def __init__(self, d_in=8, hidden=16, d_out=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))

    def forward(self, x):
        time.sleep(float(os.environ.get("DLH_CMP_SLEEP", "0.002")))
        return self.net(x)
'''
IMPL = ["--impl", "tiny=cmp_subject:Net"]


@pytest.fixture(scope="module")
def recs(tmp_path_factory) -> dict[str, Path]:
    """``base`` and ``same``: two bench runs of the same code; ``slow``: its forward sleeps 3x as
    long; ``props`` / ``broken``: property runs with the softmax right / broken."""
    d = tmp_path_factory.mktemp("compare")
    (d / "cmp_subject.py").write_text(SUBJECT)
    (d / "tiny.yaml").write_text(SUITE)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(d))
        mp.delitem(sys.modules, "cmp_subject", raising=False)
        mp.setattr(hb, "PEAK_N", {"cpu": 128, "cuda": 1024})
        mp.setattr(hb, "PEAK_N_SLOW", {})
        for name, sleep in (("base", "0.002"), ("same", "0.002"), ("slow", "0.006")):
            mp.setenv("DLH_CMP_SLEEP", sleep)
            out[name] = d / f"{name}.json"
            assert main(["bench", str(d / "tiny.yaml"), *IMPL, "--quick", "--min-run-time", "0.05", "-q",
                         "--out", str(out[name])]) == 0
        for name, broken in (("props", ""), ("broken", "1")):
            mp.setenv("DLH_CMP_BROKEN", broken)
            out[name] = d / f"{name}.json"
            main(["run", str(d / "tiny.yaml"), *IMPL, "--no-bench", "--no-report", "--in-process", "-q",
                  "--out", str(out[name])])
        mp.delitem(sys.modules, "cmp_subject", raising=False)
    return out


def compare(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["compare", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def edited(path: Path, dest: Path, edit) -> Path:
    rec = json.loads(path.read_text())
    edit(rec)
    dest.write_text(json.dumps(rec))
    return dest


def test_same_code_passes_the_gate(recs, capsys):
    rc, out, err = compare(capsys, recs["base"], recs["same"], "--fail-above", "1.10")
    assert rc == 0, out + err
    line = next(l for l in out.splitlines() if "tiny/net_forward cpu float32 b4" in l)
    assert line[0] not in "+!", line  # never a significant slowdown (timing noise may give '~' or '-')
    assert "gate --fail-above 1.1 (alpha 0.01): pass" in out


def test_a_slowdown_is_flagged_and_gates(recs, capsys):
    rc, out, err = compare(capsys, recs["base"], recs["slow"], "--fail-above", "1.10")
    assert rc == 1, out + err
    line = next(l for l in out.splitlines() if "tiny/net_forward cpu float32 b4" in l)
    assert line.startswith("+ "), line
    assert float(line.split()[5]) > 1.5  # ratio column: "+ 2.1 ms 6.2 ms 2.95 ..."
    assert "FAIL: 1 significant slowdown(s) above 1.1" in out
    # without --fail-above the comparison is reported and the exit code is 0
    rc, out, _ = compare(capsys, recs["base"], recs["slow"])
    assert rc == 0 and "1 slower" in out and "gate" not in out
    # the other way round it is a speed-up, which never gates
    rc, out, _ = compare(capsys, recs["slow"], recs["base"], "--fail-above", "1.10")
    assert rc == 0 and "1 faster" in out


def test_records_without_samples_fall_back_to_iqr_overlap(recs, tmp_path, capsys):
    def strip(rec):
        for r in rec["benchmarks"]:
            for k in ("samples_s", "spread", "unstable", "remeasured", "load_before", "load_after", "subject",
                      "nodeid", "builtin_ratio_ci", "peak_valid"):
                r.pop(k, None)
        rec["bench_info"].pop("quick")

    old, new = edited(recs["base"], tmp_path / "old.json", strip), edited(recs["slow"], tmp_path / "new.json", strip)
    rc, out, err = compare(capsys, old, new, "--fail-above", "1.10")
    assert rc == 1, out + err
    assert "iqr*: a record without raw samples" in out
    line = next(l for l in out.splitlines() if "tiny/net_forward" in l)
    assert line.startswith("+ ") and " iqr* " in line, line


@pytest.mark.parametrize("what, edit, reason", [
    ("machine", lambda r: r["environment"].update(hostname="elsewhere", cpu="Other CPU"),
     "machine (hostname 'vm' vs 'elsewhere', cpu"),
    ("mode", lambda r: r["bench_info"].update(quick=False), "mode (bench_info.quick True vs False)"),
    ("subject", lambda r: [b.update(subject="other:Net (third-party)") for b in r["benchmarks"]],
     "subject (tiny: 'cmp_subject:Net (third-party)' vs 'other:Net (third-party)')"),
])
def test_refuses_other_machines_modes_and_subjects_unless_forced(recs, tmp_path, capsys, what, edit, reason):
    base = json.loads(recs["base"].read_text())
    if what == "machine":
        reason = reason.replace("'vm'", repr(base["environment"]["hostname"]))
    other = edited(recs["base"], tmp_path / "other.json", edit)
    rc, out, err = compare(capsys, recs["base"], other, "--fail-above", "1.10")
    assert rc == 2 and out == "", out
    assert err.count("\n") == 1 and reason in err and "--force" in err, err
    rc, out, err = compare(capsys, recs["base"], other, "--fail-above", "1.10", "--force")
    assert rc == 0, out + err
    assert f"--force: the records differ in {what}" in out
    assert "tiny/net_forward cpu float32 b4" in out


def test_a_missing_subject_is_the_reference(recs, tmp_path, capsys):
    def reference(rec):
        for b in rec["benchmarks"]:
            b["subject"] = "reference_impls.activations (reference)"

    def old(rec):
        for b in rec["benchmarks"]:
            b.pop("subject", None)

    ref, legacy = (edited(recs["base"], tmp_path / "ref.json", reference),
                   edited(recs["same"], tmp_path / "legacy.json", old))
    rc, out, err = compare(capsys, legacy, ref, "--fail-above", "1.10")
    assert rc == 0 and "1 benchmark pairs" in out, out + err
    rc, _, err = compare(capsys, legacy, recs["base"])  # missing (reference) vs third-party
    assert rc == 2 and "subject (tiny: 'reference' vs 'cmp_subject:Net (third-party)')" in err


def test_a_newly_failing_property_is_listed_and_gates(recs, capsys):
    rc, out, err = compare(capsys, recs["props"], recs["broken"], "--fail-above", "1.10")
    assert rc == 1, out + err
    assert "1 newly failing" in out
    assert "  newly failing: tiny/softmax_sums_to_one cpu float64 [cmp_subject:Net (third-party)]: passed -> failed: " in out
    assert "FAIL: 1 newly failing propert(y/ies)" in out
    assert compare(capsys, recs["props"], recs["broken"])[0] == 0  # reported, not gated
    rc, out, _ = compare(capsys, recs["broken"], recs["props"], "--fail-above", "1.10")
    assert rc == 0 and "  newly passing: tiny/softmax_sums_to_one cpu float64" in out


def test_invalid_inputs_exit_2(recs, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in ([recs["base"], tmp_path / "missing.json"], [recs["base"], bad], [recs["base"]],
                 [recs["base"], recs["props"]],  # nothing in common
                 [recs["base"], recs["same"], "--alpha", "2"]):
        rc, out, err = compare(capsys, *args)
        assert rc == 2 and err.startswith("harness compare: ") and err.count("\n") == 1, (args, err)
    assert "nothing to compare" in compare(capsys, recs["base"], recs["props"])[2]


def test_runs_dir_takes_the_newest_records(recs, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    for i, name in enumerate(("base", "same", "slow")):
        edited(recs[name], runs / f"{name}.json", lambda r, i=i: r.update(created=f"2026-01-0{i + 1}T00:00:00+00:00"))
    rc, out, _ = compare(capsys, "--runs", runs, "--fail-above", "1.10")
    assert rc == 1 and f"OLD {runs / 'same.json'}" in out and f"NEW {runs / 'slow.json'}" in out
    rc, out, _ = compare(capsys, runs / "base.json", "--runs", runs)  # OLD given, NEW the newest
    assert rc == 0 and f"NEW {runs / 'slow.json'}" in out


def test_mann_whitney_on_samples_and_too_few_samples():
    def rows(med, samples):
        return [{"status": "ok", "median_s": med, "iqr_s": 0.0, "samples_s": samples}]

    slow = hc.bench_pair("x", rows(1.0, [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]), rows(2.0, [2.0, 2.01, 1.99, 2.02, 1.98, 2.0]),
                         factor=1.1, alpha=0.01)
    assert slow.mark == "+" and slow.slower and slow.test == "mwu" and slow.p < 0.01 and slow.n == (6, 6)
    few = hc.bench_pair("x", rows(1.0, [1.0, 1.01, 0.99]), rows(2.0, [2.0, 2.01, 1.99]), factor=1.1, alpha=0.01)
    assert few.mark == "~" and not few.slower and "n too small" in few.notes  # 3 vs 3: p >= 0.1
    assert hc.min_p(3, 3) == pytest.approx(0.1) and hc.min_p(5, 5) < 0.01
    same = hc.bench_pair("x", rows(1.0, [1.0] * 8), rows(1.05, [1.05] * 8), factor=1.1, alpha=0.01)
    assert same.mark == " " and same.p < 0.01  # significant but within the factor: unchanged
    broke = hc.bench_pair("x", rows(1.0, [1.0]), [{"status": "oom", "median_s": None}], factor=1.1, alpha=0.01)
    assert broke.mark == "!" and broke.broke
