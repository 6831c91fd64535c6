"""The pytest plugin, exercised through pytester: collection, ids, skips, strict xfail,
failure text with file:line and a repro line, bad suites beside good ones, foreign YAML."""
from __future__ import annotations

import json

import pytest

from harness.cases import property_cases
from harness.context import case_seed

pytest_plugins = ["pytester"]

SUITE = """\
suite: demo
title: Demo
subject:
  factory: reference_impls.activations
defaults: {devices: [cpu, cuda], dtypes: [float32, float64], seed: 0}
properties:
  - check: softmax_sums_to_one
  - check: softmax_sums_to_one
    id: softmax_wide
    with: {classes: 1000}
    dtypes: [float64]
    marks: [slow]
"""

BROKEN_IMPL = """\
import torch
def softmax(x, dim=-1):
    return torch.exp(x - x.amax(dim=dim, keepdim=True))   # normalisation dropped
"""


@pytest.fixture
def demo(pytester: pytest.Pytester):
    pytester.makefile(".yaml", demo=SUITE)
    return pytester


def test_ids_are_property_device_dtype(demo):
    r = demo.runpytest("--collect-only", "-q", "demo.yaml")
    ids = [line for line in r.outlines if "::" in line]
    assert ids == [
        "demo.yaml::softmax_sums_to_one[cpu-float32]", "demo.yaml::softmax_sums_to_one[cpu-float64]",
        "demo.yaml::softmax_sums_to_one[cuda-float32]", "demo.yaml::softmax_sums_to_one[cuda-float64]",
        "demo.yaml::softmax_wide[cpu-float64]", "demo.yaml::softmax_wide[cuda-float64]",
    ]


def test_cpu_passes_and_cuda_is_skipped_with_reason(demo):
    r = demo.runpytest("-rs", "demo.yaml")
    import torch

    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        r.assert_outcomes(passed=6)
    else:
        r.assert_outcomes(passed=3, skipped=3)
        r.stdout.fnmatch_lines(["*CUDA not available here*"])


def test_single_case_and_mark_selection(demo):
    demo.runpytest("demo.yaml::softmax_sums_to_one[cpu-float64]").assert_outcomes(passed=1)
    demo.runpytest("demo.yaml", "-m", "slow", "-k", "cpu").assert_outcomes(passed=1, deselected=5)


def test_failure_reads_like_a_broken_proof(demo):
    demo.makepyfile(badimpl=BROKEN_IMPL)
    demo.syspathinsert()
    r = demo.runpytest("demo.yaml::softmax_sums_to_one[cpu-float64]", "--impl", "demo=badimpl")
    r.assert_outcomes(failed=1)
    seed = case_seed(0, "demo", "softmax_sums_to_one")
    r.stdout.fnmatch_lines([
        "demo.yaml:7 softmax_sums_to_one[cpu-float64] FAILED",
        "  property: Each softmax row is a probability vector*",
        "  row sums of softmax(x): observed * vs expected *; error * > 1e-10 + 1e-10|expected| (float64 default)*",
        f"  seed {seed} (suite seed 0 + crc32('demo/softmax_sums_to_one'))",
        '  repro: pytest "demo.yaml::softmax_sums_to_one[cpu-float64]" --impl demo=badimpl',
    ])
    assert "harness/pytest_plugin.py" not in r.stdout.str()


def test_exception_in_check_shows_check_frames_not_harness(demo):
    demo.makepyfile(raiser="def softmax(x, dim=-1):\n    raise ValueError('boom in impl')\n")
    demo.syspathinsert()
    r = demo.runpytest("demo.yaml::softmax_sums_to_one[cpu-float64]", "--impl", "demo=raiser")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "softmax_sums_to_one[cpu-float64] ERROR" in out and "ValueError: boom in impl" in out
    assert "raiser.py" in out and "pytest_plugin.py" not in out and "runner.py" not in out


def test_strict_xfail(demo, pytester):
    base = SUITE.split("  - check: softmax_sums_to_one\n    id: softmax_wide")[0]
    xf = base + "    xfail: {reason: known bad normalisation, devices: [cpu], dtypes: [float64]}\n"
    pytester.makefile(".yaml", demo=xf)
    pytester.makepyfile(badimpl=BROKEN_IMPL)
    pytester.syspathinsert()
    # the selector is exact: only cpu-float64 is expected to fail
    pytester.runpytest("demo.yaml", "--impl", "demo=badimpl", "-k", "cpu").assert_outcomes(failed=1, xfailed=1)
    # an unexpected pass fails (strict)
    r = pytester.runpytest("demo.yaml", "-k", "cpu-float64")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*XPASS(strict)*known bad normalisation*"])


def test_bad_suite_is_one_line_and_others_still_run(demo, pytester):
    pytester.makefile(".yaml", bad="suite: bad\ntitle: Bad\nsubject: {factory: reference_impls.activations}\n"
                                   "properties:\n  - check: softmax_sum_to_one\n")
    r = pytester.runpytest("-rs")
    r.assert_outcomes(passed=3, skipped=3, failed=1)
    r.stdout.fnmatch_lines(["bad.yaml:5: unknown check 'softmax_sum_to_one' (did you mean 'softmax_sums_to_one'?)*"])
    assert "Traceback" not in r.stdout.str()


def test_foreign_yaml_is_left_alone(pytester):
    pytester.makefile(".yaml", ci="jobs:\n  build: {runs-on: ubuntu}\n", weird="- just: a list\n")
    r = pytester.runpytest("--collect-only")
    assert r.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_record_option_writes_outcomes(demo, tmp_path):
    out = tmp_path / "rec.json"
    demo.runpytest("demo.yaml", "--dlh-record", str(out)).assert_outcomes(passed=3, skipped=3)
    rec = json.loads(out.read_text())
    assert rec["schema"] == 1 and rec["environment"]["torch"]
    statuses = sorted(p["status"] for p in rec["properties"])
    assert statuses == ["passed"] * 3 + ["skipped"] * 3
    passed = [p for p in rec["properties"] if p["status"] == "passed"]
    assert all(p["outcome"]["statement"] and p["seed"] is not None for p in passed)
    # marks, subject, seed and location come from the result objects, not from the nodeid
    by_id = {p["nodeid"]: p for p in rec["properties"]}
    wide = by_id["demo.yaml::softmax_wide[cpu-float64]"]
    assert wide["marks"] == ["slow"] and wide["location"] == "demo.yaml:8"
    assert wide["seed"] == case_seed(0, "demo", "softmax_wide")
    assert by_id["demo.yaml::softmax_wide[cuda-float64]"]["marks"] == ["slow", "cuda"]
    assert {p["subject"] for p in rec["properties"]} == {"reference_impls.activations (reference)"}
    assert {(p["suite"], p["check"]) for p in rec["properties"]} == {("demo", "softmax_sums_to_one")}


def test_record_under_xdist_has_the_same_rows(demo, tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    demo.runpytest("demo.yaml", "--dlh-record", str(one))
    demo.runpytest("-n", "2", "demo.yaml", "--dlh-record", str(two), "-p", "no:randomly")
    strip = ("seconds",)
    rows = [sorted(({k: v for k, v in p.items() if k not in strip} for p in json.loads(f.read_text())["properties"]),
                   key=lambda p: p["nodeid"]) for f in (one, two)]
    assert rows[0] == rows[1] and len(rows[0]) == 6


def test_collection_is_deterministic_under_xdist(demo):
    r = demo.runpytest("-n", "2", "demo.yaml", "-p", "no:randomly")
    r.assert_outcomes(passed=3, skipped=3)


def test_same_case_same_numbers_in_any_order(demo):
    from harness.suite import load_suite

    s = load_suite(demo.path / "demo.yaml", root=demo.path)
    a = property_cases(s)[0].case().randn(3)
    _ = property_cases(s)[1].case().randn(100)
    b = property_cases(s)[0].case().randn(3)
    assert a.tolist() == b.tolist()


BROKEN_MODULES = {
    # (suite, module wrapped, broken core, what the -k selects)
    "kl_sign_flipped": ("losses", "reference_impls.losses",
                        "def kl_divergence(p, q, dim=-1):\n    return -_m.kl_divergence(p, q, dim)\n", "kl"),
    "gaussian_kl_sign_flipped": ("vae", "reference_impls.vae",
                                 "def gaussian_kl(mu, logvar):\n    return -_m.gaussian_kl(mu, logvar)\n", "kl"),
    "conv_size_off_by_one": ("cnn", "reference_impls.cnn",
                             "def conv_output_size(W, K, P, S, D=1):\n    return _m.conv_output_size(W, K, P, S, D) + 1\n",
                             "size"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_MODULES))
def test_breaking_a_headline_core_fails_the_repo_suite(pytester, name):
    """The shipped suite, pointed at a copy of the family with one core broken, fails the
    matching items with file:line and a repro line."""
    from pathlib import Path

    suite, module, broken, select = BROKEN_MODULES[name]
    src = Path(__file__).resolve().parents[1] / "suites" / f"{suite}.yaml"
    pytester.makefile(".yaml", **{suite: src.read_text()})
    attr = src.read_text().split("factory:")[1].split()[0].partition(":")[2]
    pytester.makepyfile(**{name: (f"import {module} as _m\n"
                                  "globals().update({k: getattr(_m, k) for k in dir(_m) if not k.startswith('__')})\n"
                                  + broken)})
    pytester.syspathinsert()
    target = name + (f":{attr}" if attr else "")
    r = pytester.runpytest(f"{suite}.yaml", "--impl", f"{suite}={target}", "-k", f"{select} and cpu", "-m", "not slow")
    outcomes = r.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, r.stdout.str()[-3000:]
    out = r.stdout.str()
    assert f"{suite}.yaml:" in out and " FAILED" in out
    assert f'repro: pytest "{suite}.yaml::' in out and f"--impl {suite}={target}" in out
