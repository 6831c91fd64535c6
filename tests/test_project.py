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


def test_every_check_has_broken_variants_declared_as_data():
    """MUTANTS (tests/mutants/<family>.py) cover exactly the registered checks."""
    from mutants import all_mutants

    declared, registered = set(all_mutants()), set(load_checks())
    assert not registered - declared, f"checks with no broken variant in tests/mutants: {sorted(registered - declared)}"
    assert not declared - registered, f"MUTANTS name checks that do not exist: {sorted(declared - registered)}"
    empty = sorted(k for k, v in all_mutants().items() if not v)
    assert not empty, f"checks with an empty variant list: {empty}"


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


def test_catalogue_is_current():
    """docs/catalogue.md is what `harness catalogue` generates from the suites and contracts."""
    from harness.catalogue import catalogue
    from harness.contract import CONTRACTS

    suites, errors = load_all([ROOT / "suites"])
    assert not errors
    want = catalogue(suites, CONTRACTS)
    have = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert have == want, "docs/catalogue.md is out of date: run `harness catalogue`"


def test_nothing_cites_files_outside_the_repository():
    """Code, docs and suites cite nothing that is not in the repository."""
    # spelled in parts so that this test does not cite them itself
    banned = tuple(a + b for a, b in (("CATALOGUE", ".md"), ("DESIGN", ".md"), ("STYLE", ".md"), ("../", "shared"),
                                       ("test_every_check", "_is_tested")))
    files = [f for pat in ("harness/**/*.py", "reference_impls/*.py", "tests/**/*.py", "suites/*", "docs/*.md", "*.md",
                           "asv.conf.json", ".ci/*") for f in ROOT.glob(pat)]
    hits = [f"{f.relative_to(ROOT)}: {b}" for f in files if f.is_file()
            for b in banned if b in f.read_text(encoding="utf-8", errors="replace")]
    assert not hits, hits
