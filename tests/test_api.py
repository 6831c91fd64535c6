"""The Python API for library authors works from an installed wheel, outside the checkout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import harness

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def test_check_implementation_returns_a_dataframe():
    df = harness.check_implementation("reference_impls.losses", suite="losses", devices=("cpu",))
    assert set(df.status) == {"passed"} and len(df) >= 36
    assert {"property", "check", "device", "dtype", "status", "line", "seed", "subject"} <= set(df.columns)
    with pytest.raises(ValueError, match="did you mean 'losses'"):
        harness.check_implementation("reference_impls.losses", suite="loses")


def test_parametrize_with_checks_in_a_library_test_suite(pytester):
    pytester.makepyfile(test_mylib="""
        from harness import parametrize_with_checks

        @parametrize_with_checks("reference_impls.activations", suite="activations", devices=("cpu",))
        def test_conforms(dlh_case):
            dlh_case.check()
    """)
    from harness.cases import property_cases
    from harness.suite import load_suite

    cpu_cases = sum(c.device == "cpu" for c in property_cases(load_suite(ROOT / "suites" / "activations.yaml")))
    pytester.runpytest("-q", "-p", "no:cacheprovider").assert_outcomes(passed=cpu_cases)


@pytest.mark.slow
def test_installed_wheel_outside_the_checkout(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    *map(str, wheels.glob("*.whl"))], check=True, capture_output=True)
    code = ("import harness; df = harness.check_implementation('reference_impls.vae:VAE', suite='vae');"
            "print(harness.__file__); print(sorted(set(df.status)))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1] == "['passed', 'skipped']"
