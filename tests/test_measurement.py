"""Measurement quality of harness.bench: spread and adaptive re-measurement (``unstable``),
raw samples, the interleaved (ABAB) ratio to the built-in and its interval, and the matmul
peak that a row's fraction can never exceed unflagged.

Noisy and steady workloads are steps whose time is a wait of a chosen length. In the timing
tests the wait is ``time.sleep``: a heavy-tailed one (fixed seed) is noisy on any machine, and
a long fixed one is steady to within the scheduler's wake-up latency (a few ms at a load
average of 4-5 on 2 cores, hence 100 ms). The rows that go through the whole path wait on the
clock the harness reads (``sleepy.clock``: real time plus the waits, which no load lengthens),
so their spread is the workload's and not the machine's, and they run in no time. Timings are
never a pass/fail criterion here; what is asserted is how the harness treats them.
"""
from __future__ import annotations

import math
import random
import sys
import time

import numpy as np
import pytest
import torch

from harness import bench as hb
from harness.cases import bench_cases
from harness.executor import run_benchmarks
from harness.suite import load_suite

SLEEPY = '''
import random
import time

from torch import nn

WAITED = [0.0]


def clock():
    """Real time plus every wait so far."""
    return time.perf_counter() + WAITED[0]


def wait(seconds):
    WAITED[0] += seconds


class Steady(nn.Module):
    """Every call waits the same 12 ms."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        wait(0.012)
        return self.lin(x)


class Noisy(Steady):
    """Every call waits 10 ms x a Pareto(1) draw (heavy-tailed: median 20 ms, quartiles 13 and
    40 ms), capped at 60 ms, from a generator with a fixed seed."""

    def __init__(self, d: int = 8):
        super().__init__(d)
        self.rng = random.Random(1234)

    def forward(self, x):
        wait(min(0.01 * self.rng.paretovariate(1.0), 0.06))
        return self.lin(x)
'''

SUITE = """\
suite: sleepy
title: Sleepy
subject:
  factory: reference_impls.activations
  params: {d: 8}
defaults: {devices: [cpu], dtypes: [float32], seed: 0}
properties:
  - check: softmax_sums_to_one
benchmarks:
  - {id: alone, workload: forward, batch_sizes: [4], inputs: [{shape: [8]}]}
  - {id: vs_linear, workload: forward, batch_sizes: [4], inputs: [{shape: [8]}],
     builtin: linear_stack, builtin_params: {sizes: [8, 8]}}
"""


@pytest.fixture(autouse=True)
def small_peak(monkeypatch):
    monkeypatch.setattr(hb, "PEAK_N", {"cpu": 128, "cuda": 1024})
    monkeypatch.setattr(hb, "PEAK_N_SLOW", {})


@pytest.fixture
def sleepy(tmp_path, monkeypatch):
    """``load(cls)``: the sleepy suite with the subject ``sleepy:<cls>``; the harness reads
    ``sleepy.clock``."""
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sleepy", raising=False)
    f = tmp_path / "sleepy.yaml"
    f.write_text(SUITE)

    def load(cls):
        suite = load_suite(f, impl={"sleepy": f"sleepy:{cls}"})
        monkeypatch.setattr(hb, "_clock", lambda device: sys.modules["sleepy"].clock)
        return suite
    return load


def noisy_step(seed: int = 0):
    rng = random.Random(seed)
    return lambda: time.sleep(min(0.01 * rng.paretovariate(1.0), 0.06))


def steady_step():
    time.sleep(0.1)


# ----------------------------------------------------------------------------------------------
# spread, re-measurement, unstable
# ----------------------------------------------------------------------------------------------
def test_a_noisy_step_is_unstable_after_the_bounded_remeasurement(monkeypatch):
    monkeypatch.setattr(hb, "REMEASURE_CAP", 1e9)  # the count is the bound here
    t = hb.time_step(noisy_step(), min_run_time=0.05)
    assert t.unstable and t.spread > hb.SPREAD_THRESHOLD
    assert t.remeasured == hb.MAX_REMEASURE
    f = t.fields()
    assert f["unstable"] is True and f["remeasured"] == hb.MAX_REMEASURE and f["runs"] == len(t.times)


def test_the_time_cap_bounds_the_remeasurement(monkeypatch):
    monkeypatch.setattr(hb, "REMEASURE_CAP", 0.0)  # only the first extra measurement may start
    t = hb.time_step(noisy_step(), min_run_time=0.05)
    assert t.remeasured == 1 and t.unstable


def test_a_steady_step_is_not_unstable(monkeypatch):
    monkeypatch.setattr(hb, "MIN_RUNS", 3)
    t = hb.time_step(steady_step, min_run_time=0.3)
    assert not t.unstable and t.spread <= hb.SPREAD_THRESHOLD
    assert t.median >= 0.1


def test_spread_is_iqr_over_median_and_samples_agree():
    t = hb.Timing([1.0, 2.0, 3.0, 4.0, 10.0], 1)
    assert t.median == 3.0 and t.iqr == 2.0 and t.spread == pytest.approx(2 / 3)
    assert t.unstable and hb.Timing([1.0, 1.01, 1.02, 0.99, 1.0], 1).unstable is False
    assert hb.Timing([1.0, 1.01], 1).unstable  # too few samples to call it stable
    assert t.fields()["samples_s"] == [1.0, 2.0, 3.0, 4.0, 10.0]


def test_samples_are_compact_and_keep_the_statistics():
    rng = np.random.default_rng(0)
    few = list(rng.lognormal(-7, 0.3, size=40))
    assert hb.compact_samples(few) == [float(f"{x:.4g}") for x in few]  # all of them, in order
    many = list(rng.lognormal(-7, 0.3, size=1000))
    s = hb.compact_samples(many)
    assert len(s) <= hb.SAMPLES_MAX and s == sorted(s)
    for q in (0, 25, 50, 75, 100):
        assert np.percentile(s, q) == pytest.approx(np.percentile(many, q), rel=1e-3)


# ----------------------------------------------------------------------------------------------
# rows through the whole path
# ----------------------------------------------------------------------------------------------
def test_rows_carry_the_measurement_fields(sleepy, monkeypatch):
    monkeypatch.setattr(hb, "REMEASURE_CAP", 1e9)
    rows, extra = run_benchmarks([sleepy("Noisy")], min_run_time=0.05, progress=False)
    steady, _ = run_benchmarks([sleepy("Steady")], min_run_time=0.05, progress=False)
    assert [r.benchmark for r in rows] == [r.benchmark for r in steady] == ["alone", "vs_linear"]
    info = extra["bench_info"]
    assert info["spread_threshold"] == hb.SPREAD_THRESHOLD and info["quick"] is False
    for r in rows + steady:
        assert r.status == "ok", r
        assert r.spread == pytest.approx(r.iqr_s / r.median_s)
        assert r.samples_s and len(r.samples_s) <= hb.SAMPLES_MAX
        assert float(np.median(r.samples_s)) == pytest.approx(r.median_s, rel=1e-3)
        assert r.runs >= len(r.samples_s) and r.runs >= 1
        assert isinstance(r.load_before, float) and isinstance(r.load_after, float)
        assert set(hb.BenchRow.field_names()) == set(r.to_dict())
    assert all(r.unstable and r.remeasured == hb.MAX_REMEASURE for r in rows)
    assert not any(r.unstable for r in steady)
    out = hb.summarise(rows + steady)
    assert out.count("UNSTABLE") == len(rows)
    assert all("UNSTABLE" not in line for line in out.splitlines()[len(rows):])


def test_ratio_to_the_builtin_is_interleaved_and_has_an_interval(sleepy):
    rows, extra = run_benchmarks([sleepy("Steady")], min_run_time=0.05, progress=False, select="vs_linear")
    (r,) = rows
    assert r.status == "ok" and r.builtin_status is None
    assert r.builtin_ratio == pytest.approx(r.median_s / r.builtin_median_s)
    lo, hi = r.builtin_ratio_ci
    assert 0 < lo <= r.builtin_ratio <= hi
    assert r.builtin_ratio > 1  # a 12 ms sleep against one tiny Linear
    assert extra["bench_info"]["builtin_ratio"]["rounds"] == hb.ABAB_ROUNDS
    assert " vs linear_stack" in hb.summarise(rows) and f"[{lo:.2f}, {hi:.2f}]" in hb.summarise(rows)


def test_turns_alternate_ab_ba():
    calls: list[str] = []

    def step(side):
        def f():
            calls.append(side)
            time.sleep(0.002)
        return f

    a, b, logr = hb.time_pair(step("a"), step("b"), min_run_time=0.03, rounds=4, max_extra=0)
    runs = [calls[0]] + [c for prev, c in zip(calls, calls[1:]) if c != prev]
    # turns a b | b a | a b | b a: consecutive turns of one side merge, so 4 rounds = 5 runs
    assert "".join(runs) == "ababa"
    assert len(logr) == 4 and a.times and b.times
    lo, hi = hb.ratio_ci(a.median / b.median, logr)
    assert lo <= a.median / b.median <= hi


def test_ratio_ci_is_a_student_t_interval_on_the_log_scale():
    from scipy.stats import t as student_t

    logr = [0.1, -0.05, 0.02, 0.08, 0.0, 0.04]
    lo, hi = hb.ratio_ci(1.03, logr)
    half = student_t.ppf(0.975, 5) * np.std(logr, ddof=1) / math.sqrt(6)
    assert lo == pytest.approx(1.03 * math.exp(-half), rel=1e-4)
    assert hi == pytest.approx(1.03 * math.exp(half), rel=1e-4)
    assert hb.ratio_ci(1.0, [0.1]) is None and hb.ratio_ci(None, logr) is None
    for df in (1, 2, 5, 8, 30, 31):  # the built-in table of t quantiles, and scipy past it
        assert hb._t_quantile(0.975, df) == pytest.approx(student_t.ppf(0.975, df), abs=1e-4)
    assert hb._t_quantile(0.95, 4) == pytest.approx(student_t.ppf(0.95, 4))


def test_a_failing_builtin_is_its_status_and_ours_is_still_timed(sleepy, monkeypatch):
    from harness import builtins

    def broken(**kw):
        class Boom(torch.nn.Module):
            def forward(self, x):
                raise RuntimeError("builtin exploded")
        return Boom()

    monkeypatch.setitem(builtins.BUILTINS, "linear_stack", broken)
    rows, _ = run_benchmarks([sleepy("Steady")], min_run_time=0.05, progress=False, select="vs_linear")
    (r,) = rows
    assert r.status == "ok" and r.median_s > 0 and r.samples_s
    assert r.builtin_status.startswith("error: RuntimeError: builtin exploded")
    assert r.builtin_ratio is None and r.builtin_ratio_ci is None


# ----------------------------------------------------------------------------------------------
# the matmul peak
# ----------------------------------------------------------------------------------------------
def fake_peak(values):
    """A matmul_peak that returns the given FLOP/s in turn (the last one from then on)."""
    seen = []

    def peak(device, dtype, min_run_time, n=None):
        v = values[min(len(seen), len(values) - 1)]
        seen.append(v)
        return {"device": device, "dtype": dtype, "n": 1, "threads": 1, "flops_per_s": v, "status": "ok"}
    return peak, seen


def test_no_fraction_above_one_is_reported_as_valid(sleepy, monkeypatch):
    peak, seen = fake_peak([1.0])  # 1 FLOP/s: every row with FLOPs is above it
    monkeypatch.setattr(hb, "matmul_peak", peak)
    monkeypatch.setattr(hb, "MAX_REMEASURE", 0)
    rows, extra = run_benchmarks([sleepy("Steady")], min_run_time=0.02, progress=False)
    assert len(rows) == 2 and seen
    for r in rows:
        assert r.status == "ok" and r.achieved_flops_per_s > 1.0  # the achieved FLOP/s is kept
        assert r.peak_valid is False and r.fraction_of_peak is None and r.peak_flops_per_s == 1.0
    assert hb.summarise(rows).count("above the measured peak") == 2
    assert all((d["fraction_of_peak"] or 0) <= 1 for d in (r.to_dict() for r in rows))


def test_peak_is_measured_between_rows_and_the_maximum_kept(sleepy, monkeypatch):
    peak, seen = fake_peak([5.0, 1e30, 2.0])
    monkeypatch.setattr(hb, "matmul_peak", peak)
    monkeypatch.setattr(hb, "PEAK_EVERY", 2)
    monkeypatch.setattr(hb, "MAX_REMEASURE", 0)
    rows, extra = run_benchmarks([sleepy("Steady")], min_run_time=0.02, progress=False, repeat=3)
    # 6 rows of cpu float32: measured before rows 0, 2, 4 and at the end
    assert len(rows) == 6 and len(seen) == 4
    (p,) = extra["bench_info"]["matmul_peaks"]
    assert p["flops_per_s"] == 1e30 and [m["flops_per_s"] for m in p["measurements"]] == [5.0, 1e30, 2.0, 2.0]
    assert [m["before_row"] for m in p["measurements"]] == [0, 2, 4, None]
    assert all(r.peak_flops_per_s == 1e30 and r.peak_valid is True for r in rows)


def test_measure_alone_flags_a_row_above_its_peak(sleepy):
    case = next(c for c in bench_cases(sleepy("Steady")) if c.bench.id == "alone")
    row = hb.measure(case, min_run_time=0.02, peak=1e-9)
    assert row.status == "ok" and row.achieved_flops_per_s > 1e-9
    assert row.peak_valid is False and row.fraction_of_peak is None
