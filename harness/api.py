"""The Python API for library authors, in the spirit of scikit-learn's ``check_estimator`` and
``parametrize_with_checks``:

>>> import harness
>>> df = harness.check_implementation("mypkg.vae:VAE", suite="vae")      # doctest: +SKIP
>>> df[df.status == "failed"][["property", "dtype", "line"]]             # doctest: +SKIP

and, in the library's own test suite::

    from harness import parametrize_with_checks

    @parametrize_with_checks("mypkg.vae:VAE", suite="vae")
    def test_vae_conforms(dlh_case):
        dlh_case.check()

Both use the suites shipped with the package (:func:`suites_dir`), so they work from an
installed wheel, outside this repository.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from harness.cases import PropertyCase, property_cases
from harness.executor import run_property
from harness.runner import UsageError, load_all


def suites_dir() -> Path:
    """The suites shipped with the package (``harness/suites``, the repository's ``suites/``)."""
    return (Path(__file__).resolve().parent / "suites").resolve()


def default_suites() -> Path:
    """``./suites`` in a checkout (or any directory that has one), else the shipped suites."""
    return Path("suites") if Path("suites").is_dir() else suites_dir()


def _cases(target: str, suite: str, devices: Iterable[str], strict: bool) -> list[PropertyCase]:
    path = suites_dir() / f"{suite}.yaml"
    if not path.is_file():
        from difflib import get_close_matches

        names = sorted(p.stem for p in suites_dir().glob("*.yaml"))
        hint = get_close_matches(suite, names, n=1)
        raise UsageError(f"no suite named {suite!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + f"; suites: {', '.join(names)}")
    suites, errors = load_all([path], {suite: target}, strict)
    if errors:
        raise errors[0]
    return [c for c in property_cases(suites[0]) if c.device in tuple(devices)]


def check_implementation(target: str, suite: str, *, devices: Iterable[str] = ("cpu", "cuda"),
                         strict: bool = False) -> Any:
    """Run every property of ``suite`` against ``target`` (``pkg.module[:Attr]``) and return a
    pandas DataFrame, one row per case: property, check, device, dtype, status (passed, failed,
    error, not_applicable, circular, skipped), the one-line reason, seed and subject."""
    import pandas as pd

    rows = [run_property(c).to_dict() for c in _cases(target, suite, devices, strict)]
    df = pd.DataFrame(rows)
    return df.drop(columns=["outcome"]) if "outcome" in df else df


@dataclass(frozen=True)
class CheckCall:
    """One case for a library's own test: ``check()`` passes, fails with the full report, or
    skips (not applicable, or a device that is not here)."""

    case: PropertyCase

    def check(self) -> None:
        import pytest

        res = run_property(self.case)
        if res.status in ("skipped", "not_applicable"):
            pytest.skip(res.line)
        if res.status not in ("passed", "xfailed", "circular"):
            pytest.fail(f"{self.case.location} {self.case.id} {res.status.upper()}\n"
                        f"  property: {self.case.check.statement}\n  subject: {res.subject}\n  {res.line}\n"
                        f"  seed {res.seed}", pytrace=False)

    def __repr__(self) -> str:
        return self.case.id


def parametrize_with_checks(target: str, suite: str, *, devices: Iterable[str] = ("cpu", "cuda"),
                            strict: bool = False) -> Any:
    """A ``pytest.mark.parametrize`` over every case of ``suite`` for ``target``; the test takes
    ``dlh_case`` and calls ``dlh_case.check()``."""
    import pytest

    calls = [CheckCall(c) for c in _cases(target, suite, devices, strict)]
    return pytest.mark.parametrize("dlh_case", calls, ids=[c.case.id for c in calls])
