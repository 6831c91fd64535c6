"""Every kind of malformed suite is rejected with one located line (file, line, what, allowed)."""
from __future__ import annotations

from harness.cases import property_cases

import textwrap

import pytest

from harness.suite import SuiteError, load_suite

GOOD = """\
suite: demo
title: Demo
subject:
  factory: reference_impls.activations
defaults: {devices: [cpu], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
"""


def load_text(tmp_path, text: str):
    p = tmp_path / "demo.yaml"
    p.write_text(textwrap.dedent(text))
    return load_suite(p, root=tmp_path)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(SuiteError) as ei:
        load_text(tmp_path, text)
    lines = str(ei.value).splitlines()
    assert all(line.startswith("demo.yaml:") for line in lines), lines
    return lines


def test_good_suite_loads(tmp_path):
    s = load_text(tmp_path, GOOD)
    assert s.name == "demo" and [c.id for c in property_cases(s)] == ["softmax_sums_to_one[cpu-float64]"]


@pytest.mark.parametrize("text, expected", [
    pytest.param(GOOD.replace("  - check: softmax_sums_to_one", "  - check: [softmax"), "demo.yaml:8: YAML syntax error",
                 id="yaml-syntax"),
    pytest.param(GOOD + "    devcies: [cpu]\n", "demo.yaml:8: unknown key 'devcies' in property #1 (did you mean 'devices'?); allowed: check, id,",
                 id="unknown-key"),
    pytest.param(GOOD.replace("softmax_sums_to_one", "softmax_sum_to_one"),
                 "demo.yaml:7: unknown check 'softmax_sum_to_one' (did you mean 'softmax_sums_to_one'?)", id="unknown-check"),
    pytest.param(GOOD.replace("reference_impls.activations", "reference_impls.activatons"),
                 "demo.yaml:4: cannot import module 'reference_impls.activatons'", id="unknown-subject-module"),
    pytest.param(GOOD.replace("reference_impls.activations", "reference_impls.activations:sofmax"),
                 "demo.yaml:4: module 'reference_impls.activations' has no 'sofmax'; did you mean 'softmax'?",
                 id="unknown-subject-attr"),
    pytest.param(GOOD.replace("reference_impls.activations", "os.path"),
                 "demo.yaml:4: subject factory 'os.path' is outside reference_impls", id="subject-outside-reference-impls"),
    pytest.param(GOOD + "    with: {rows: ten}\n",
                 "demo.yaml:8: parameter 'rows' of check 'softmax_sums_to_one' must be int, got a string 'ten'", id="wrong-type"),
    pytest.param(GOOD.replace("seed: 0", "seed: -3"), "demo.yaml:5: defaults.seed must be >= 0, got -3", id="bad-value-seed"),
    pytest.param(GOOD.replace("dtypes: [float64]", "dtypes: [float65]"),
                 "demo.yaml:5: defaults.dtypes has 'float65' (did you mean 'float64'?); allowed: float16, bfloat16, float32, float64",
                 id="bad-value-dtype"),
    pytest.param(GOOD.replace("factory: reference_impls.activations", "factory: !!python/name:os.system"),
                 "demo.yaml:4: YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed", id="yaml-tag"),
    pytest.param(GOOD + "    tolerance: {float64: {atol: 1.0e-6}}\n",
                 "demo.yaml:8: tolerance is missing required key 'why'", id="tolerance-without-why"),
    pytest.param(GOOD + "    xfail: {devices: [cpu], dtypes: [float64]}\n",
                 "demo.yaml:8: xfail is missing required key 'reason'", id="xfail-without-reason"),
    pytest.param(GOOD + "    xfail: {reason: flaky, devices: [cuda], dtypes: [float64]}\n",
                 "demo.yaml:8: xfail.devices has 'cuda'", id="xfail-selector-outside-property"),
    pytest.param(GOOD + "    marks: [slo]\n", "demo.yaml:8: marks has 'slo' (did you mean 'slow'?)", id="unknown-mark"),
    pytest.param(GOOD + "  - check: softmax_sums_to_one\n", "demo.yaml:8: property id 'softmax_sums_to_one' is used twice",
                 id="duplicate-id"),
    pytest.param(GOOD.replace("title: Demo\n", "title: Demo\ntitle: Again\n"), "demo.yaml:3: duplicate key 'title' (first at line 2)",
                 id="duplicate-key"),
    pytest.param(GOOD.replace("title: Demo\n", ""), "demo.yaml:1: suite is missing required key 'title'", id="missing-key"),
    pytest.param(GOOD + "benchmarks:\n  - workload: backward\n    batch_sizes: [0]\n    inputs: [{shape: [4]}]\n",
                 "demo.yaml:9: unknown workload 'backward'", id="bench-bad-workload"),
])
def test_bad_suite_is_one_located_line(tmp_path, text, expected):
    lines = problems(tmp_path, text)
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    assert all("Traceback" not in line for line in lines)


def test_all_problems_reported_each_on_its_own_line(tmp_path):
    lines = problems(tmp_path, GOOD.replace("seed: 0", "seed: -1") + "    devcies: [cpu]\n")
    assert len(lines) == 2
    assert lines[0].startswith("demo.yaml:5:") and lines[1].startswith("demo.yaml:8:")


def test_non_utf8_file(tmp_path):
    p = tmp_path / "demo.yaml"
    p.write_bytes(b"suite: demo\ntitle: \xff\xfe\n")
    with pytest.raises(SuiteError, match=r"demo.yaml:1: not UTF-8"):
        load_suite(p, root=tmp_path)
