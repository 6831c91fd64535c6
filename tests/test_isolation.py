"""Implementations are isolated and their inputs protected: each fault of a third-party
implementation costs its own case, the other cases still run, the record is written and the
exit code is non-zero — under `harness run` and under pytest."""
from __future__ import annotations

import json
import os
import sys

import pytest

from harness import cli

pytest_plugins = ["pytester"]

# One core per fault, so that one run shows every fault beside a case that passes.
FAULTY = """\
import os, signal, sys, time
from reference_impls.activations import *  # the rest is the reference
import reference_impls.activations as ref

def softmax(x, dim=-1):
    sys.exit(3)

def relu(x):
    os._exit(0)

def hard_tanh(x):
    os.kill(os.getpid(), signal.SIGSEGV)

def softplus(x):
    raise KeyboardInterrupt

def tanh(x):
    time.sleep(600)

def sigmoid(x):
    x.mul_(0.0)            # changes its input in place ...
    return ref.sigmoid(x)  # ... then returns the right answer for the changed input
"""

SUITE = """\
suite: faulty
title: one fault per property
subject: {factory: reference_impls.activations}
defaults: {devices: [cpu], dtypes: [float64], timeout: 4}
properties:
  - {id: exits, check: softmax_sums_to_one}
  - {id: os_exit, check: relu_worked_example}
  - {id: segfault, check: hard_tanh_is_clamp}
  - {id: keyboard_interrupt, check: softplus_derivative_is_sigmoid}
  - {id: hangs, check: tanh_is_rescaled_sigmoid}
  - {id: mutates_input, check: activation_matches_torch, with: {activation: sigmoid}}
  - {id: fine, check: maxout_k1_is_identity}
"""

EXPECT = {
    "exits": ("error", "sys.exit(3)"),
    "os_exit": ("error", "exited with code 0"),
    "segfault": ("error", "killed by signal 11"),
    "keyboard_interrupt": ("error", "KeyboardInterrupt"),
    "hangs": ("timeout", "timeout of 4 s"),
    "mutates_input": ("failed", "modified its input"),
    "fine": ("passed", ""),
}


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    (tmp_path / "faultyact.py").write_text(FAULTY)
    (tmp_path / "faulty.yaml").write_text(SUITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_harness_run_contains_every_fault(faulty, capsys):
    out = faulty / "rec.json"
    code = cli.main(["run", "faulty.yaml", "--impl", "faulty=faultyact", "--no-bench", "--no-report", "-q",
                     "--out", str(out)])
    assert code == 1
    rows = {r["property"]: r for r in json.loads(out.read_text())["properties"]}
    assert set(rows) == set(EXPECT)
    for pid, (status, text) in EXPECT.items():
        assert rows[pid]["status"] == status, (pid, rows[pid]["line"])
        assert text in rows[pid]["line"], (pid, rows[pid]["line"])
        assert rows[pid]["subject"] == "faultyact (third-party)"
    rec = json.loads(out.read_text())
    assert rec["isolation"] == "worker process" and rec["timeout_s"] == {"faulty": 4.0}


def test_pytest_contains_every_fault(pytester):
    pytester.makepyfile(faultyact=FAULTY)
    pytester.makefile(".yaml", faulty=SUITE)
    pytester.syspathinsert()
    r = pytester.runpytest("faulty.yaml", "--impl", "faulty=faultyact")
    r.assert_outcomes(passed=1, failed=6)
    out = r.stdout.str()
    for pid, (status, text) in EXPECT.items():
        if status != "passed":
            assert f"{pid}[cpu-float64] {status.upper() if status != 'failed' else 'FAILED'}" in out, pid
            assert text in out, pid


def test_in_process_subjects_have_their_inputs_protected():
    from harness.testing import patched, run_check

    def relu_in_place(x):
        return x.clamp_(min=0)

    bad = patched("reference_impls.activations", relu=relu_in_place)
    out = run_check("activation_matches_torch", bad, activation="relu")
    assert not out.passed and "modified its input" in out.line()
    assert run_check("activation_matches_torch", "reference_impls.activations", activation="relu").passed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_reference_runs_in_process_under_pytest_unless_third_party(pytester):
    """Reference subjects are not isolated (speed); --dlh-in-process runs a third-party one
    in-process for debugging, where its sys.exit is that item's error."""
    pytester.makepyfile(exiting="from reference_impls.activations import *\nimport sys\n"
                                "def softmax(x, dim=-1):\n    sys.exit(5)\n")
    pytester.makefile(".yaml", one="suite: one\ntitle: t\nsubject: {factory: reference_impls.activations}\n"
                                   "defaults: {devices: [cpu]}\nproperties:\n  - check: softmax_sums_to_one\n")
    pytester.syspathinsert()
    assert pytester.runpytest("one.yaml").ret == 0
    isolated = pytester.runpytest("one.yaml", "--impl", "one=exiting")
    isolated.assert_outcomes(failed=1)
    assert "sys.exit(5)" in isolated.stdout.str()
    assert sys.modules.get("exiting") is None
