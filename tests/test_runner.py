"""The Python API and `harness run`/`harness list`: structured results, errors recorded as
outcomes without stopping the run, atomic records."""
from __future__ import annotations

import json

import pytest

from harness import cli
from harness.records import atomic_write_json, load_records
from harness.runner import run_suites

SUITE = """\
suite: demo
title: Demo
subject: {factory: reference_impls.activations}
defaults: {devices: [cpu], dtypes: [float32, float64]}
properties:
  - check: softmax_sums_to_one
"""


@pytest.fixture
def suite_dir(tmp_path, monkeypatch):
    (tmp_path / "demo.yaml").write_text(SUITE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_suites_returns_structured_results(suite_dir):
    res = run_suites([suite_dir])
    assert [(r.property, r.device, r.dtype, r.status) for r in res] == [
        ("softmax_sums_to_one", "cpu", "float32", "passed"), ("softmax_sums_to_one", "cpu", "float64", "passed")]
    assert res[0].seed == res[1].seed and "row sums" in res[0].outcome.statement


def test_exception_is_recorded_and_run_goes_on(suite_dir, monkeypatch, tmp_path):
    (tmp_path / "nanimpl.py").write_text("def softmax(x, dim=-1):\n    raise FloatingPointError('NaN in softmax')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = run_suites([suite_dir], impl={"demo": "nanimpl"})
    assert [r.status for r in res] == ["error", "error"]
    assert "FloatingPointError: NaN in softmax" in res[0].line


def test_harness_run_writes_record_and_exit_code(suite_dir, capsys):
    out = suite_dir / "rec.json"
    assert cli.main(["run", str(suite_dir), "--no-bench", "--no-report", "-q", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["runner"] == "harness run" and len(rec["properties"]) == 2
    assert rec["suites"]["demo"]["sha256"] and rec["environment"]["git_commit"] is not None
    assert "2 cases: 2 passed" in capsys.readouterr().out


def test_harness_run_fails_on_bad_suite_but_runs_the_rest(suite_dir, capsys):
    (suite_dir / "bad.yaml").write_text("suite: bad\ntitle: x\nsubject: {factory: reference_impls.nope}\nproperties: []\n")
    out = suite_dir / "rec.json"
    assert cli.main(["run", str(suite_dir), "--no-bench", "--no-report", "-q", "--out", str(out)]) == 1
    rec = json.loads(out.read_text())
    assert len(rec["properties"]) == 2 and rec["invalid_suites"]
    assert "bad.yaml:3: cannot import module 'reference_impls.nope'" in capsys.readouterr().err


def test_harness_list(suite_dir, capsys):
    assert cli.main(["list", str(suite_dir)]) == 0
    out = capsys.readouterr().out
    assert "suite demo: Demo" in out and "softmax_sums_to_one" in out and "registered checks" in out


def test_atomic_write_leaves_no_partial_file(tmp_path):
    class Boom:
        def __str__(self):
            raise KeyboardInterrupt

    target = tmp_path / "runs" / "r.json"
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(target, {"schema": 1, "x": Boom()})
    assert not target.exists() and not (target.parent.exists() and list(target.parent.iterdir()))
    atomic_write_json(target, {"schema": 1, "created": "t"})
    assert [r["created"] for r in load_records(target.parent)] == ["t"]


def test_cli_refuses_bad_outputs_and_empty_selections_before_running(tmp_path, capsys):
    """Nothing runs (so nothing is lost) when the output cannot be written or nothing is selected."""
    from harness import cli

    for argv, text in [
        (["run", "suites/losses.yaml", "--out", str(tmp_path)], "is a directory"),
        (["bench", "suites/losses.yaml", "--out", str(tmp_path)], "is a directory"),
        (["run", str(tmp_path / "nowhere")], "no such file or directory"),
        (["run", str(tmp_path)], "no suite files under"),
    ]:
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2, argv
        assert text in capsys.readouterr().err, argv


def test_cli_validates_environment_variables(monkeypatch, capsys):
    from harness import cli

    monkeypatch.setenv("DLH_THREADS", "abc")
    with pytest.raises(SystemExit) as e:
        cli.main(["list"])
    assert e.value.code == 2 and "DLH_THREADS='abc' is not valid" in capsys.readouterr().err
