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
from harness.suite import Suite, SuiteError, check_unique_names, discover, load_suite


class UsageError(ValueError):
    """The command names something that does not exist (a suite for ``--impl``, a path)."""


_NAME_LINE = re.compile(r"^\ufeff?suite\s*:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def declared_name(path: Path) -> str | None:
    """The ``suite:`` name a file declares, read without loading it (also for an invalid suite)."""
    try:
        with open(path, "rb") as f:
            m = _NAME_LINE.search(f.read(100_000).decode("utf-8", errors="replace"))
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


def load_all(paths: Iterable[str | Path], impl: Mapping[str, str] | None = None,
             strict: bool = False) -> tuple[list[Suite], list[SuiteError]]:
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
            suites.append(load_suite(f, impl, strict=strict))
        except SuiteError as e:
            errors.append(e)
    dups = check_unique_names(suites)  # names key seeds, records and --impl: they must be unique
    clash = {e.path for e in dups}
    return [s for s in suites if s.path not in clash], errors + dups


def run_suites(paths: Iterable[str | Path] = ("suites",), *, impl: Mapping[str, str] | None = None,
               strict: bool = False,
               select: Callable[[PropertyCase], bool] | None = None,
               progress: Callable[[Iterable[PropertyCase]], Iterable[PropertyCase]] | None = None) -> list[PropertyResult]:
    """Run every selected property case of the suites under ``paths`` and return the results.

    Suites that fail to load raise their :class:`SuiteError` (use :func:`load_all` to keep
    going past them).
    """
    suites, errors = load_all(paths, impl, strict)
    if errors:
        raise errors[0]
    cases = [c for s in suites for c in property_cases(s) if select is None or select(c)]
    return [run_property(c) for c in (progress(cases) if progress else cases)]


def applicability(rows: list[dict]) -> list[str]:
    """``"rbm [subject]: 9 of 38 properties applicable, 9 passed"`` per suite (cases that cannot
    run here, e.g. CUDA on a CPU machine, are counted apart)."""
    from collections import defaultdict

    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r.get("suite", ""), r.get("subject", ""))].append(r)
    out = []
    for (suite, subject), rs in sorted(by.items()):
        ran = [r for r in rs if r["status"] not in ("skipped", "not_applicable")]
        na = sum(r["status"] == "not_applicable" for r in rs)
        here = sum(r["status"] == "skipped" for r in rs)
        good = sum(r["status"] in ("passed", "xfailed") for r in ran)
        out.append(f"{suite} [{subject}]: {len(ran)} of {len(rs) - here} cases applicable, {good} passed"
                   + (f", {na} not applicable" if na else "") + (f" ({here} cannot run here)" if here else ""))
    return out
