"""asv benchmarks generated from the suites, and the asv configuration.

The classes are generated from a temporary suite (functions of reference_impls.activations),
so these tests do not depend on which families exist yet. ``asv check`` and a quick ``asv run``
in subprocesses are marked slow (asv imports torch: a few seconds each).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import asv_suites

ROOT = Path(__file__).resolve().parents[1]

SUITE = """\
suite: act_bench
title: Activation benchmarks
subject:
  factory: reference_impls.activations
defaults: {devices: [cpu, cuda], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
benchmarks:
  - {workload: forward, call: softmax, batch_sizes: [8, 64], dtypes: [float32, bfloat16], inputs: [{shape: [32]}]}
  - {workload: train_step, call: softmax, batch_sizes: [8], inputs: [{shape: [32]}]}
"""


@pytest.fixture
def suites_dir(tmp_path) -> Path:
    (tmp_path / "act_bench.yaml").write_text(SUITE)
    return tmp_path


def test_one_class_per_benchmark_with_params_and_version(suites_dir):
    classes = asv_suites.generate(suites_dir)
    assert sorted(classes) == ["act_bench__softmax_forward", "act_bench__softmax_train_step"]
    fwd = classes["act_bench__softmax_forward"]
    # every case of the suite, as everywhere else; bfloat16 on CUDA only (dtype policy)
    assert fwd.params == [["cpu-float32", "cuda-float32", "cuda-bfloat16"], [8, 64]]
    assert fwd.param_names == ["device_dtype", "batch"]
    if not torch.cuda.is_available():  # an absent device is a skip with its reason (asv: n/a)
        with pytest.raises(NotImplementedError, match="CUDA not available"):
            fwd().setup("cuda-float32", 8)
    versions = {c.version for c in classes.values()}
    assert len(versions) == 2 and all(isinstance(v, str) and v for v in versions)
    # the version follows the benchmark's definition, not the (shared) source code
    (suites_dir / "act_bench.yaml").write_text(SUITE.replace("shape: [32]}]}\n  - {workload: train_step",
                                                             "shape: [64]}]}\n  - {workload: train_step"))
    again = asv_suites.generate(suites_dir)
    assert again["act_bench__softmax_forward"].version != fwd.version
    assert again["act_bench__softmax_train_step"].version == classes["act_bench__softmax_train_step"].version


def test_setup_is_memoised_and_time_step_runs(suites_dir):
    cls = asv_suites.generate(suites_dir)["act_bench__softmax_train_step"]
    a, b = cls(), cls()
    a.setup("cpu-float32", 8)
    b.setup("cpu-float32", 8)
    assert a.step is b.step  # built once per parameter set
    a.time_step("cpu-float32", 8)


def test_setup_skips_what_cannot_run_here(suites_dir, monkeypatch):
    from harness import bench as hb

    cls = asv_suites.generate(suites_dir)["act_bench__softmax_forward"]
    monkeypatch.setattr(hb, "dtype_supported", lambda device, dtype: (False, f"{dtype} is not supported here"))
    with pytest.raises(NotImplementedError, match="not supported here"):
        cls().setup("cpu-float32", 64)


def test_invalid_suites_are_left_out(suites_dir, capsys):
    (suites_dir / "broken.yaml").write_text("suite: broken\ntitle: x\nsubject: {factory: reference_impls.nope}\nproperties: []\n")
    assert list(asv_suites.generate(suites_dir)) == ["act_bench__softmax_forward", "act_bench__softmax_train_step"]
    assert "skipping invalid suite" in capsys.readouterr().err


def test_machine_name_names_the_gpu():
    name = asv_suites.machine_name()
    assert name and " " not in name
    if not torch.cuda.is_available():
        assert name.endswith("-cpu")


def test_asv_conf():
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)  # asv reads it the same way
    assert conf["results_dir"] == "results/asv" and conf["html_dir"] == "results/html/asv"
    assert (ROOT / conf["benchmark_dir"] / "suites.py").exists()
    assert conf["matrix"] == {"req": {"torch": ["2.13.0"]}}
    assert conf["build_command"] == ["python -m pip wheel --no-deps --no-build-isolation -w {build_cache_dir} {build_dir}"]
    assert conf["launch_method"] == "forkserver"  # torch imported once, a fork per parameter cell


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("asv") is None and not (Path(sys.executable).parent / "asv").exists(),
                    reason="asv is not installed")
def test_asv_check_and_a_quick_forkserver_run(suites_dir, tmp_path):
    import json

    from asv.util import load_json

    asv = shutil.which("asv") or str(Path(sys.executable).parent / "asv")
    # the repository's configuration with results elsewhere: asv run rewrites benchmarks.json in
    # results_dir, and the committed results/asv/ must stay as generated
    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / conf["benchmark_dir"]), env_dir=str(tmp_path / "env"),
                results_dir=str(tmp_path / "results"), html_dir=str(tmp_path / "html"))
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    cmd = [asv, "--config", str(tmp_path / "asv.conf.json")]
    env = {**os.environ, "DLH_SUITES": str(suites_dir)}
    r = subprocess.run([*cmd, "check", "-E", "existing:same"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No problems found" in r.stdout
    # a quick run under the configured forkserver (nothing saved: no --set-commit-hash): the CPU
    # cells are timed, the CUDA cells of a machine without CUDA are n/a, nothing fails
    r = subprocess.run([*cmd, "run", "-E", "existing:same", "--quick", "--show-stderr"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("act_bench__softmax_") >= 2 and "failed" not in r.stdout, r.stdout
    if not torch.cuda.is_available():
        assert "n/a" in r.stdout
    assert sorted(json.loads((tmp_path / "results" / "benchmarks.json").read_text())) == [
        "suites.act_bench__softmax_forward.time_step", "suites.act_bench__softmax_train_step.time_step", "version"]
