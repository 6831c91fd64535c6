"""Project-level guarantees: README's commands are what CI runs, every check is shown to
reject a broken implementation, reference_impls never imports the harness, suites all load."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.registry import load_checks
from harness.runner import load_all

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, re.S)[:2]


def test_readme_has_two_commands_and_ci_runs_the_test_one():
    main_job, tests = readme_commands()
    assert "harness run" in main_job and "pip install torch==2.13.0" in main_job
    assert "pytest" in tests and "pip install torch==2.13.0" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run README's test command verbatim"


def test_every_check_has_a_broken_variant_test():
    """For each registered check, some test calls run_check("<name>", ...) and asserts it fails."""
    named: set[str] = set()
    for f in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Assert) and isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not):
                for call in ast.walk(node.test):
                    if (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "run_check"
                            and call.args and isinstance(call.args[0], ast.Constant)):
                        named.add(call.args[0].value)
    missing = sorted(set(load_checks()) - named)
    assert not missing, f"checks with no `assert not run_check(name, broken).passed` test: {missing}"


def test_reference_impls_do_not_import_the_harness():
    for f in (ROOT / "reference_impls").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(m == "harness" or m.startswith("harness.") for m in mods), f"{f.name} imports {mods}"


def test_every_suite_in_the_repo_loads():
    suites, errors = load_all([ROOT / "suites"])
    assert not errors, "\n".join(map(str, errors))
    assert suites
    used = {p.check for s in suites for p in s.properties}
    unused = sorted(set(load_checks()) - used)
    assert not unused, f"registered checks no suite uses: {unused}"
