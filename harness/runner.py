"""The Python API: load suites and run their properties without pytest.

>>> from harness.runner import run_suites
>>> results = run_suites(["suites/losses.yaml"])            # doctest: +SKIP
>>> [r.status for r in results]                             # doctest: +SKIP

``harness run`` and the pytest plugin go through the same executor
(:func:`harness.executor.run_property`), so a property means the same thing either way.
"""
from __future__ import annotations

import re
from difflib import get_close_matches
from pathlib import Path
from typing import Callable, Iterable, Mapping

from harness.cases import PropertyCase, property_cases
from harness.executor import PropertyResult, run_property
from harness.suite import Suite, SuiteError, discover, load_suite


class UsageError(ValueError):
    """The command names something that does not exist (a suite for ``--impl``, a path)."""


_NAME_LINE = re.compile(r"^\ufeff?suite\s*:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def declared_name(path: Path) -> str | None:
    """The ``suite:`` name a file declares, read without loading it (also for an invalid suite)."""
    try:
        m = _NAME_LINE.search(Path(path).read_text(encoding="utf-8", errors="replace")[:100_000])
    except OSError:
        return None
    return m.group(1) if m else None


def check_impl_names(impl: Mapping[str, str] | None, names: Iterable[str]) -> None:
    """Every ``--impl SUITE=...`` must name a suite that is being run; else a UsageError that
    lists them (a typo must never quietly test the reference instead)."""
    known = sorted(set(n for n in names if n))
    for name in impl or {}:
        if name not in known:
            hint = get_close_matches(name, known, n=1)
            raise UsageError(f"--impl {name}={impl[name]}: no suite named {name!r} among the suites selected"
                             + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; suites: {', '.join(known) or 'none'}")


def load_all(paths: Iterable[str | Path], impl: Mapping[str, str] | None = None) -> tuple[list[Suite], list[SuiteError]]:
    """Load every suite under ``paths``; bad suites are returned as errors, not raised. Raises
    :class:`UsageError` when ``paths`` select no suite file or ``impl`` names a suite that is not
    among them."""
    paths = list(paths)
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    files = discover(paths)
    if not files:
        raise UsageError(f"no suite files under {', '.join(map(str, paths))} (a suite is a .yaml file with a top-level `suite:` key)")
    check_impl_names(impl, [declared_name(f) for f in files])
    suites, errors = [], []
    for f in files:
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
