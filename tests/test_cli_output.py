"""`harness run` / `harness bench` output when it is captured (not a terminal): the header at
the start, one progress line per suite (properties and benchmarks), and final counts whose
skips say why. Runs a temporary two-suite selection in-process (a few seconds)."""
from __future__ import annotations

import json
import re

import pytest
import torch

from harness import cli

SUITE = """\
suite: {name}
title: Activation checks
subject:
  factory: reference_impls.activations
defaults: {{devices: [cpu, cuda], dtypes: [float64], seed: 0}}
properties:
  - check: softmax_sums_to_one
benchmarks:
  - {{workload: forward, call: softmax, batch_sizes: [8, 64], inputs: [{{shape: [16]}}]}}
"""


@pytest.fixture
def suites_dir(tmp_path):
    d = tmp_path / "suites"
    d.mkdir()
    for name in ("act_a", "act_b"):
        (d / f"{name}.yaml").write_text(SUITE.format(name=name))
    return d


def _run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_tally_breaks_skips_down_by_reason():
    pairs = [("passed", "ok")] * 2 + [("skipped", "CUDA not available here (torch 2.13.0, ...)")] * 3
    assert cli._tally(pairs) == "2 passed, 3 skipped (CUDA not available here)"
    pairs.append(("skipped", "bfloat16 is not supported by X"))
    assert cli._tally(pairs) == "2 passed, 4 skipped (3 CUDA not available here; 1 bfloat16 is not supported by X)"


def test_run_captured_prints_header_a_line_per_suite_and_the_skip_breakdown(suites_dir, tmp_path, capsys):
    rec = tmp_path / "rec.json"
    code, out, err = _run(["run", str(suites_dir), "--in-process", "--quick", "--no-report", "--out", str(rec)], capsys)
    assert code == 0, out + err
    lines = err.splitlines()
    # the header comes first: devices (with what is skipped and why) and each suite's subject
    assert lines[0] == "cpu: 2 cases"
    cuda_ok = torch.cuda.is_available()
    assert lines[1] == "cuda: 2 cases" if cuda_ok else lines[1].startswith("cuda: 2 cases skipped: CUDA not available here")
    assert lines[2:4] == ["suite act_a: subject reference_impls.activations (reference)",
                          "suite act_b: subject reference_impls.activations (reference)"]
    # one progress line per suite, properties then benchmarks; no progress bar
    suite_lines = [l for l in lines if l.startswith("[")]
    bench_lines = [l for l in lines if l.startswith("bench ")]
    assert [l.split(":")[0] for l in suite_lines] == ["[1/2] suite act_a", "[2/2] suite act_b"]
    assert [l.split(":")[0] for l in bench_lines] == ["bench act_a", "bench act_b"]
    assert "\r" not in err and "it/s" not in err
    if not cuda_ok:
        assert re.fullmatch(r"\[1/2\] suite act_a: 2 cases in [0-9.]+ s: 1 passed, 1 skipped \(CUDA not available here\)",
                            suite_lines[0]), suite_lines[0]
        assert re.fullmatch(r"bench act_a: 2 rows in [0-9.]+ s: 1 ok, 1 skipped \(CUDA not available here\)",
                            bench_lines[0]), bench_lines[0]
        # the final counts say what the skips are
        assert out.splitlines()[-1] == f"4 cases: 2 passed, 2 skipped (CUDA not available here) -> {rec}"
        assert "4 benchmark rows: 2 ok, 2 skipped (CUDA not available here) in " in out
    assert len(json.loads(rec.read_text())["benchmarks"]) == 4


def test_quiet_run_prints_the_header_and_counts_only(suites_dir, tmp_path, capsys):
    code, out, err = _run(["run", str(suites_dir), "--in-process", "--no-bench", "--no-report", "-q",
                           "--out", str(tmp_path / "rec.json")], capsys)
    assert code == 0
    assert err.splitlines()[0] == "cpu: 2 cases" and not any(l.startswith(("[", "bench ")) for l in err.splitlines())
    assert "benchmark rows" not in out and out.splitlines()[-1].startswith("4 cases: 2 passed")


def test_bench_captured_prints_header_and_a_line_per_suite(suites_dir, tmp_path, capsys):
    rec = tmp_path / "bench.json"
    code, out, err = _run(["bench", str(suites_dir), "--quick", "--min-run-time", "0.01", "--out", str(rec)], capsys)
    assert code == 0, out + err
    lines = err.splitlines()
    assert lines[0] == "cpu: 2 cases" and lines[1].startswith("cuda: 2 cases")
    assert [l.split(":")[0] for l in lines if l.startswith("bench ")] == ["bench act_a", "bench act_b"]
    assert out.splitlines()[-1].startswith("4 benchmark rows: 4 ok" if torch.cuda.is_available()
                                           else "4 benchmark rows: 2 ok, 2 skipped (CUDA not available here) in ")
    # executor.run_bench is restored after the run
    from harness import executor

    assert executor.run_bench.__module__ == "harness.executor" and executor.run_bench.__name__ == "run_bench"
