"""Run properties without pytest: the Python API behind ``harness run`` and the plugin.

>>> from harness.runner import run_suites
>>> results = run_suites(["suites/losses.yaml"])            # doctest: +SKIP
>>> [r.status for r in results]                             # doctest: +SKIP

Both the pytest items and ``harness run`` call :func:`execute`, so a property means the same
thing whichever way it is run.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch

from harness.context import intra_op_threads, property_threads
from harness.outcome import Outcome
from harness.suite import CaseSpec, Suite, SuiteError, discover, load_suite

STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass(frozen=True)
class CaseResult:
    nodeid: str
    suite: str
    property: str
    check: str
    device: str
    dtype: str
    seed: int
    status: str
    line: str
    outcome: Outcome | None
    seconds: float
    marks: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "nodeid": self.nodeid, "suite": self.suite, "property": self.property, "check": self.check,
            "device": self.device, "dtype": self.dtype, "seed": self.seed, "status": self.status,
            "line": self.line, "seconds": round(self.seconds, 6), "marks": list(self.marks),
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }


def execute(spec: CaseSpec) -> Outcome:
    """Run one case's check and return its Outcome (exceptions propagate)."""
    check = spec.suite.checks[spec.prop.check]
    with intra_op_threads(property_threads()):
        out = check.fn(spec.subject(), spec.case(), **spec.prop.params)
    if not isinstance(out, Outcome):
        raise TypeError(f"check {check.name!r} returned {type(out).__name__}, not an Outcome")
    return out


def repro(spec: CaseSpec) -> str:
    return f'pytest "{spec.nodeid}"'


def run_case(spec: CaseSpec) -> CaseResult:
    """Execute and classify one case; an exception (a NaN guard, out-of-memory, a bug) is
    recorded as that case's ``error`` and never stops the run."""
    t0 = time.perf_counter()
    outcome: Outcome | None = None
    if spec.skip:
        status, line = "skipped", spec.skip
    else:
        try:
            outcome = execute(spec)
            ok = outcome.passed
            if spec.xfail:
                status = "xpassed" if ok else "xfailed"
                line = ("unexpectedly passed (strict xfail: " + spec.xfail + "): " if ok else f"expected failure ({spec.xfail}): ") + outcome.line()
            else:
                status, line = ("passed" if ok else "failed"), outcome.line()
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            if isinstance(e, torch.cuda.OutOfMemoryError):
                status, line = "error", f"out of memory on {spec.device}: {str(e).splitlines()[0]}"
            else:
                frame = traceback.extract_tb(e.__traceback__)[-1]
                status = "xfailed" if spec.xfail else "error"
                line = f"{type(e).__name__}: {e} (at {Path(frame.filename).name}:{frame.lineno})"
    case = spec.case()
    return CaseResult(spec.nodeid, spec.suite.name, spec.prop.id, spec.prop.check, spec.device, spec.dtype,
                      case.seed, status, line, outcome, time.perf_counter() - t0, spec.marks)


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
               select: Callable[[CaseSpec], bool] | None = None,
               progress: Callable[[Iterable[CaseSpec]], Iterable[CaseSpec]] | None = None) -> list[CaseResult]:
    """Run every selected case of the suites under ``paths`` and return the results.

    Suites that fail to load raise their :class:`SuiteError` (use :func:`load_all` to keep
    going past them).
    """
    suites, errors = load_all(paths, impl)
    if errors:
        raise errors[0]
    specs = [c for s in suites for c in s.cases() if select is None or select(c)]
    return [run_case(c) for c in (progress(specs) if progress else specs)]
