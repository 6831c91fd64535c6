"""harness.bench and the benchmark paths of the CLI and the pytest plugin, on tiny workloads.

The subject is tests/data/bench_subject.py, loaded the way a third-party implementation is
(``--impl``). Timings are asserted only to be positive and consistent: a timing is never a
pass/fail criterion.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from harness import bench as hb
from harness.builtins import BUILTINS
from harness.cases import bench_cases, bench_dtypes
from harness.executor import run_benchmarks
from harness.suite import load_suite

DATA = Path(__file__).resolve().parent / "data"
FAST = 0.01  # min_run_time: enough to exercise the Timer, not to measure anything

SUITE = """\
suite: tiny
title: Tiny
subject:
  factory: reference_impls.activations
  params: {d_in: 8, hidden: 16, d_out: 4}
defaults: {devices: [cpu, cuda], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
benchmarks:
  - workload: forward
    batch_sizes: [4, 16]
    dtypes: [float32, bfloat16]
    inputs: [{shape: [8]}]
    builtin: linear_stack
    builtin_params: {sizes: [8, 16, 4]}
  - workload: train_step
    batch_sizes: [4]
    inputs: [{shape: [8]}]
    builtin: linear_stack
    builtin_params: {in_features: 8, hidden: 16, out_features: 4}
  - {id: softmax_train, workload: train_step, call: softmax, batch_sizes: [4], inputs: [{shape: [10]}]}
  - {id: half_cpu, workload: forward, devices: [cpu], dtypes: [float16, float32], batch_sizes: [4], inputs: [{shape: [8]}]}
"""


pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def fast_timing(monkeypatch):
    """Small peak matmul and no adaptive re-measurement: these tests check the plumbing
    (tests/test_measurement.py checks the measurement itself)."""
    monkeypatch.setattr(hb, "PEAK_N", {"cpu": 128, "cuda": 1024})
    monkeypatch.setattr(hb, "PEAK_N_SLOW", {})
    monkeypatch.setattr(hb, "MIN_RUNS", 1)
    monkeypatch.setattr(hb, "MAX_REMEASURE", 0)


@pytest.fixture
def subject_path(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))


@pytest.fixture
def suite_file(tmp_path, subject_path) -> Path:
    f = tmp_path / "tiny.yaml"
    f.write_text(SUITE)
    return f


def load(path: Path, cls: str = "TinyMLP"):
    return load_suite(path, impl={"tiny": f"bench_subject:{cls}"})


def test_rows_have_every_field(suite_file):
    rows, extra = run_benchmarks([load(suite_file)], min_run_time=FAST, progress=False)
    rows = [r.to_dict() for r in rows]
    # bfloat16 not on the CPU for a benchmark that lists cuda; CUDA rows are always there, and
    # skipped with the reason where there is no CUDA (as the pytest-benchmark items are)
    cuda = torch.cuda.is_available()
    expect = {("model_forward", "cpu", "float32", 4), ("model_forward", "cpu", "float32", 16),
              ("model_train_step", "cpu", "float32", 4), ("softmax_train", "cpu", "float32", 4),
              ("half_cpu", "cpu", "float16", 4), ("half_cpu", "cpu", "float32", 4),
              ("model_forward", "cuda", "float32", 4)}
    got = {(r["benchmark"], r["device"], r["dtype"], r["batch"]) for r in rows}
    assert expect <= got
    for r in rows:
        assert set(hb.BenchRow.field_names()) == set(r)
        assert r["subject"] == "bench_subject:TinyMLP (third-party)"
        if r["device"] == "cuda" and not cuda:
            assert r["status"] == "skipped" and "CUDA not available" in r["reason"] and r["median_s"] is None
            continue
        assert r["status"] == "ok", r
        assert r["suite"] == "tiny" and r["threads"] == torch.get_num_threads()
        assert r["median_s"] > 0 and r["iqr_s"] >= 0 and r["runs"] >= 1
        assert math.isclose(r["samples_per_s"], r["batch"] / r["median_s"])
        assert math.isclose(r["spread"], r["iqr_s"] / r["median_s"]) and r["remeasured"] == 0
        assert r["unstable"] == (r["spread"] > hb.SPREAD_THRESHOLD)
        assert len(r["samples_s"]) == (61 if r["runs"] > hb.SAMPLES_MAX else r["runs"])
        assert r["load_before"] >= 0 and r["load_after"] >= 0
        assert r["flops_label"] == "model FLOPs (lower bound)"
        assert (r["peak_mem_bytes"] is None) == (r["device"] == "cpu")
    fwd = next(r for r in rows if r["benchmark"] == "model_forward" and r["batch"] == 16 and r["device"] == "cpu")
    # two Linear layers: 2·(8·16 + 16·4) FLOPs per sample
    assert fwd["flops_per_step"] == 16 * 2 * (8 * 16 + 16 * 4)
    assert math.isclose(fwd["achieved_flops_per_s"], fwd["flops_per_step"] / fwd["median_s"])
    fraction = fwd["achieved_flops_per_s"] / fwd["peak_flops_per_s"]
    assert fwd["peak_valid"] == (fraction <= 1)
    assert fwd["fraction_of_peak"] == (fraction if fraction <= 1 else None)
    assert fwd["builtin"] == "linear_stack" and fwd["builtin_ratio"] > 0
    assert math.isclose(fwd["builtin_ratio"], fwd["median_s"] / fwd["builtin_median_s"])
    lo, hi = fwd["builtin_ratio_ci"]
    assert 0 < lo <= fwd["builtin_ratio"] <= hi
    train = next(r for r in rows if r["benchmark"] == "model_train_step")
    # forward 2·B·(8·16 + 16·4); backward: grad of input and weight for layer 2, weight only for
    # layer 1 (the input needs no gradient): 2·B·(2·16·4 + 8·16)
    assert train["flops_per_step"] == 2 * 4 * (8 * 16 + 16 * 4) + 2 * 4 * (2 * 16 * 4 + 8 * 16)
    info = extra["bench_info"]
    assert info["threads"] == torch.get_num_threads() and info["min_run_time"] == FAST
    assert info["quick"] is False and info["spread_threshold"] == hb.SPREAD_THRESHOLD
    assert {(p["device"], p["dtype"]) for p in info["matmul_peaks"]} >= {("cpu", "float32"), ("cpu", "float16")}
    assert all(p["status"] == "ok" and p["flops_per_s"] > 0 for p in info["matmul_peaks"])
    for p in info["matmul_peaks"]:  # the run's maximum of every measurement of that device/dtype
        assert len(p["measurements"]) >= 2 and p["flops_per_s"] == max(m["flops_per_s"] for m in p["measurements"])


def test_quick_takes_the_smallest_batch(suite_file):
    todo = bench_cases(load(suite_file), quick=True)
    assert {c.batch for c in todo} == {4}
    assert bench_cases(load(suite_file), select="softmax")[0].bench.id == "softmax_train"


def test_out_of_memory_is_a_row_status_and_the_run_goes_on(suite_file):
    rows, _ = run_benchmarks([load(suite_file, "OutOfMemoryMLP")], quick=True, min_run_time=FAST, progress=False)
    rows = [r.to_dict() for r in rows if r.device == "cpu"]
    by = {(r["benchmark"], r["dtype"]): r["status"] for r in rows}
    assert by[("model_forward", "float32")] == "oom"
    assert by[("model_train_step", "float32")] == "oom"
    assert by[("softmax_train", "float32")] == "ok"  # a function of the same subject still runs
    oom = next(r for r in rows if r["status"] == "oom")
    assert oom["median_s"] is None and oom["samples_per_s"] is None


def test_unsupported_dtype_is_a_row_status(suite_file):
    rows, _ = run_benchmarks([load(suite_file, "NoHalfMLP")], min_run_time=FAST, progress=False, select="half_cpu")
    assert {r.dtype: r.status for r in rows} == {"float16": "unsupported dtype", "float32": "ok"}


@pytest.mark.parametrize("exc, status", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), "oom"),
    (RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'"), "unsupported dtype"),
    (RuntimeError("\"LayerNormKernelImpl\" not implemented for 'BFloat16'"), "unsupported dtype"),
    (hb.UnsupportedDtype("bfloat16 is not supported by Tesla T4"), "unsupported dtype"),
    (ValueError("shapes do not match"), "error: ValueError: shapes do not match"),
])
def test_classify(exc, status):
    assert hb.classify(exc) == status


def test_dtype_policy():
    from types import SimpleNamespace as NS

    both = NS(devices=("cpu", "cuda"), dtypes=("float32", "bfloat16"))
    cpu_only = NS(devices=("cpu",), dtypes=("float32", "bfloat16"))
    assert bench_dtypes(both, "cpu") == ["float32"]
    assert bench_dtypes(both, "cuda") == ["float32", "bfloat16"]
    assert bench_dtypes(cpu_only, "cpu") == ["float32", "bfloat16"]


def test_inputs_follow_the_spec():
    from harness.suite import InputSpec

    specs = [InputSpec((3,), "normal"), InputSpec((2, 2), "uniform"), InputSpec((4,), "bernoulli"),
             InputSpec((), "integers", 7)]
    x, u, b, i = hb.make_inputs(specs, 5, "cpu", torch.bfloat16, seed=1)
    assert x.shape == (5, 3) and x.dtype == torch.bfloat16
    assert u.shape == (5, 2, 2) and 0 <= u.min() and u.max() <= 1
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert i.shape == (5,) and i.dtype == torch.int64 and 0 <= i.min() and i.max() < 7
    again = hb.make_inputs(specs, 5, "cpu", torch.bfloat16, seed=1)
    assert all(torch.equal(a, b) for a, b in zip((x, u, b, i), again))


def test_loss_covers_nested_float_outputs_only():
    a = torch.ones(2, requires_grad=True)
    b = torch.full((3,), 2.0, requires_grad=True)
    out = (a, {"b": b, "n": torch.tensor([1, 2])}, [torch.zeros(1)])  # the last has no grad
    assert hb.loss_of(out).item() == pytest.approx(1.0 + 4.0)
    with pytest.raises(ValueError):
        hb.loss_of({"n": torch.tensor(1)})


def test_train_step_updates_parameters_or_input_grads():
    m = torch.nn.Linear(3, 2)
    before = m.weight.detach().clone()
    w = hb.build_workload(m, [torch.randn(4, 3)], "train_step", "cpu", lr=0.1)
    w.step()
    assert not torch.equal(before, m.weight)
    x = torch.randn(4, 3)
    w = hb.build_workload(torch.tanh, [x, torch.tensor([1])][:1], "train_step", "cpu")
    w.step()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("name, params, inputs", [
    ("linear_stack", {"sizes": [6, 5, 3], "activation": "tanh"}, [(4, 6)]),
    ("conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}, [(2, 3, 8, 8)]),
    ("lstm", {"input_size": 5, "hidden_size": 7}, [(2, 6, 5)]),
    ("sdpa", {"is_causal": True}, [(2, 2, 6, 4), (2, 2, 6, 4), (2, 2, 6, 4)]),
    ("multihead_attention", {"embed_dim": 8, "num_heads": 2}, [(2, 5, 8)]),
    ("transformer_encoder_layer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16}, [(2, 5, 8)]),
])
def test_builtins_run_forward_and_train(name, params, inputs):
    m = BUILTINS[name](**params)
    xs = [torch.randn(s) for s in inputs]
    hb.build_workload(m, xs, "forward", "cpu").step()
    assert torch.isfinite(hb.build_workload(m, [x.clone() for x in xs], "train_step", "cpu").step())


def test_builtin_names_are_what_suites_validate_against(tmp_path, subject_path):
    bad = SUITE.replace("builtin: linear_stack\n    builtin_params: {sizes", "builtin: linear_stak\n    builtin_params: {sizes")
    f = tmp_path / "tiny.yaml"
    f.write_text(bad)
    from harness.suite import SuiteError

    with pytest.raises(SuiteError, match="did you mean 'linear_stack'"):
        load(f)


def test_cli_bench_writes_a_record(suite_file, tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "rec.json"
    rc = main(["bench", str(suite_file), "--impl", "tiny=bench_subject:TinyMLP", "--quick", "--min-run-time", "0.01",
               "-k", "model_", "--repeat", "2", "--out", str(out), "-q"])
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["runner"] == "harness bench" and rec["properties"] == []
    assert {r["repeat"] for r in rec["benchmarks"]} == {0, 1}
    assert {r["benchmark"] for r in rec["benchmarks"]} == {"model_forward", "model_train_step"}
    assert rec["bench_info"]["matmul_peaks"] and "tiny" in rec["suites"]
    assert "benchmark rows: " in capsys.readouterr().out


def test_harness_run_includes_benchmarks(suite_file, tmp_path):
    from harness.cli import main

    one = tmp_path / "one.yaml"
    one.write_text(SUITE.split("  - workload: train_step")[0])  # the forward benchmark only
    out = tmp_path / "run.json"
    rc = main(["run", str(one), "--impl", "tiny=bench_subject:TinyMLP", "--quick", "--out", str(out),
               "--no-report", "-q"])
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["properties"] and rec["benchmarks"] and rec["bench_info"]["quick"] is True
    assert {r["benchmark"] for r in rec["benchmarks"]} == {"model_forward"}


def test_fallback_when_blocked_autorange_has_too_few_blocks(monkeypatch):
    monkeypatch.setattr(hb, "MIN_RUNS", 10**6)  # force the adaptive re-measurement
    monkeypatch.setattr(hb, "MAX_REMEASURE", 3)
    monkeypatch.setattr(hb, "REMEASURE_CAP", 1e9)
    m = hb.time_step(lambda: torch.ones(8).sum(), min_run_time=0.05)
    assert m.remeasured == 3 and len(m.times) >= 4 and m.median > 0


def test_pytest_benchmark_items_only_when_asked(pytester, subject_path):
    pytester.makefile(".yaml", tiny=SUITE)
    impl = ("--impl", "tiny=bench_subject:TinyMLP", "-p", "no:randomly")
    plain = pytester.runpytest("--collect-only", "-q", *impl)
    assert "::bench_" not in plain.stdout.str() and plain.ret == 0, plain.stdout.str()
    ids = pytester.runpytest("--dlh-bench", "--collect-only", "-q", "-m", "dlh_bench", *impl).stdout.str()
    assert "bench_model_forward[cpu-float32-b4]" in ids and "bench_half_cpu[cpu-float16-b4]" in ids
    assert "softmax_sums_to_one" not in ids
    assert "bench_model_forward[cpu-bfloat16-b4]" not in ids  # dtype policy: bfloat16 only on CUDA here
    # CI's smoke run: every benchmark step once, no timing
    smoke = pytester.runpytest("--dlh-bench", "--benchmark-disable", "-m", "dlh_bench", "-rs", *impl)
    outcomes = smoke.parseoutcomes()
    # CPU items: model_forward f32 x 2 sizes, model_train_step, softmax_train, half_cpu x 2 dtypes
    assert smoke.ret == 0 and outcomes["passed"] == 6 + (7 if torch.cuda.is_available() else 0), smoke.stdout.str()
    if not torch.cuda.is_available():  # cuda: forward {f32, bf16} x 2 sizes, train, softmax -> 6 skips
        assert "CUDA not available here" in smoke.stdout.str() and outcomes["skipped"] == 6


def test_pytest_benchmark_only_times_the_suite_items(pytester, subject_path):
    pytester.makefile(".yaml", tiny=SUITE)
    r = pytester.runpytest("--benchmark-only", "-k", "softmax_train", "--benchmark-min-time=0.0005",
                           "--benchmark-max-time=0.005", "--benchmark-columns=median", "-p", "no:randomly",
                           "--impl", "tiny=bench_subject:TinyMLP")
    assert r.ret == 0, r.stdout.str()
    out = r.stdout.str()
    assert "bench_softmax_train[cpu-float32-b4]" in out and "1 passed" in out


@pytest.mark.slow
def test_every_repo_benchmark_runs_once_in_smoke_mode():
    """CI's smoke run of the benchmark paths: every benchmark of every shipped suite, one step
    each (pytest-benchmark disabled), outside xdist. Timings are not looked at."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "pytest", "suites", "--dlh-bench", "--benchmark-disable", "-m", "dlh_bench",
           "-p", "no:xdist", "-p", "no:cacheprovider", "-q"]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    tail = r.stdout[-3000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout.splitlines()[-1], tail
