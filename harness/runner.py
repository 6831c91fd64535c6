"""The Python API: load suites and run their properties without pytest.

>>> from harness.runner import run_suites
>>> results = run_suites(["suites/losses.yaml"])            # doctest: +SKIP
>>> [r.status for r in results]                             # doctest: +SKIP

``harness run`` and the pytest plugin go through the same executor
(:func:`harness.executor.run_property`), so a property means the same thing either way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping

from harness.cases import PropertyCase, property_cases
from harness.executor import PropertyResult, run_property
from harness.suite import Suite, SuiteError, discover, load_suite


def load_all(paths: Iterable[str | Path], impl: Mapping[str, str] | None = None) -> tuple[list[Suite], list[SuiteError]]:
    """Load every suite under ``paths``; bad suites are returned as errors, not raised."""
    suites, errors = [], []
    for f in discover(list(paths)):
        try:
            suites.append(load_suite(f, impl))
        except SuiteError as e:
            errors.append(e)
    return suites, errors


def run_suites(paths: Iterable[str | Path] = ("suites",), *, impl: Mapping[str, str] | None = None,
               select: Callable[[PropertyCase], bool] | None = None,
               progress: Callable[[Iterable[PropertyCase]], Iterable[PropertyCase]] | None = None) -> list[PropertyResult]:
    """Run every selected property case of the suites under ``paths`` and return the results.

    Suites that fail to load raise their :class:`SuiteError` (use :func:`load_all` to keep
    going past them).
    """
    suites, errors = load_all(paths, impl)
    if errors:
        raise errors[0]
    cases = [c for s in suites for c in property_cases(s) if select is None or select(c)]
    return [run_property(c) for c in (progress(cases) if progress else cases)]
