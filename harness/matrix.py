"""The conformance matrix: every shipped adapter (``conformance.ADAPTERS``) run against its
family's suite, beside our reference, into one record (``harness conformance``).

Each cell is one property case of one implementation: ``passed``, ``failed`` (with its
diagnosis), ``error``, ``not_applicable`` (the implementation lacks a name the property needs),
or ``circular``: the property's oracle is the very code under test (the adapter module's
``DLH_CIRCULAR``, see :func:`harness.executor.circular`), so its verdict is kept but not
counted as evidence.
Cases run in a worker process (:mod:`harness.isolation`), so one misbehaving library costs
one cell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from harness.cases import property_cases
from harness.isolation import Worker
from harness.runner import load_all

REFERENCE = "reference"


def adapters() -> list[dict[str, Any]]:
    """The shipped adapters (the optional ``conformance`` package)."""
    from conformance import ADAPTERS

    return list(ADAPTERS)


def run_matrix(suites_dir: Path, entries: Iterable[dict[str, Any]], *, devices: tuple[str, ...] = ("cpu", "cuda"),
               progress: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Rows for the record: one per (implementation, property case) that can run here; each
    suite's reference implementation is run once beside its adapters."""
    rows: list[dict[str, Any]] = []
    done_reference: set[str] = set()
    for entry in entries:
        suite_file = Path(suites_dir) / f"{entry['suite']}.yaml"
        runs = [] if entry["suite"] in done_reference else [(REFERENCE, "", {})]
        done_reference.add(entry["suite"])
        runs.append((entry["name"], entry["target"], {entry["suite"]: entry["target"]}))
        for name, target, impl in runs:
            progress(f"{entry['suite']}: {name}")
            suites, errors = load_all([suite_file], impl)
            if errors:
                rows.append({"implementation": name, "target": target, "suite": entry["suite"], "property": "(suite)",
                             "check": "", "device": "", "dtype": "", "status": "error", "line": str(errors[0]),
                             "library": entry.get("library", "")})
                continue
            with Worker(impl) as worker:
                for case in property_cases(suites[0]):
                    if case.device not in devices or case.skip:
                        continue
                    res = worker.run(case)
                    rows.append({**res.to_dict(), "implementation": name, "target": target or suites[0].subject.target,
                                 "library": entry.get("library", "") if target else "dlharness reference_impls"})
    return rows


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """One line per implementation: counts by status."""
    from collections import Counter, defaultdict

    by: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in rows:
        by[(r["suite"], r["implementation"])][r["status"]] += 1
    return [f"{suite}: {impl}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
            for (suite, impl), c in sorted(by.items())]
