"""The one executor: a case in, a typed result out, with the status decided here only.

:func:`run_property` turns a :class:`~harness.cases.PropertyCase` into a
:class:`PropertyResult` (``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``,
``xpassed``); :func:`run_bench` turns a :class:`~harness.cases.BenchCase` into a
:class:`BenchRow` (``ok``, ``skipped``, ``oom``, ``unsupported dtype``, ``error: ...``). The
pytest plugin, ``harness run``/``bench``, the pytest-benchmark items and asv are adapters over
these two functions, so a case means the same thing whichever way it is run.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from harness import bench
from harness.bench import BenchRow, bench_row, measure
from harness.cases import BenchCase, PropertyCase, bench_cases
from harness.registry import CheckSpec, Subject
from harness.suite import Suite
from harness.context import Case, intra_op_threads, property_threads
from harness.guard import InputMutated
from harness.outcome import Outcome

BAD = ("failed", "error", "xpassed", "timeout")


@dataclass(frozen=True)
class PropertyResult:
    nodeid: str
    suite: str
    property: str
    check: str
    device: str
    dtype: str
    seed: int
    status: str
    line: str
    subject: str
    location: str
    marks: tuple[str, ...] = ()
    seconds: float = 0.0
    outcome: Outcome | None = None
    exc: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def bad(self) -> bool:
        return self.status in BAD

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], case: PropertyCase, seconds: float | None = None) -> "PropertyResult":
        """A result sent back by a worker process (:mod:`harness.isolation`) for ``case``."""
        out = d.get("outcome")
        return cls(case.nodeid, case.suite.name, case.prop.id, case.check.name, case.device, case.dtype, case.seed,
                   str(d.get("status", "error")), str(d.get("line", "")), case.subject_label, case.location,
                   case.marks, float(d.get("seconds", 0.0) if seconds is None else seconds),
                   Outcome(**out) if isinstance(out, dict) else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid, "suite": self.suite, "property": self.property, "check": self.check,
            "device": self.device, "dtype": self.dtype, "seed": self.seed, "status": self.status,
            "line": self.line, "subject": self.subject, "location": self.location,
            "seconds": round(self.seconds, 6), "marks": list(self.marks),
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }


def crashed(e: BaseException) -> str:
    """The line for an exit or interrupt raised inside an implementation."""
    if isinstance(e, SystemExit):
        return f"the implementation called sys.exit({e.code!r})"
    if isinstance(e, KeyboardInterrupt):
        return "a KeyboardInterrupt was raised inside the implementation"
    return _error_line(e, "")


def _error_line(e: BaseException, device: str) -> str:
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return f"out of memory on {device}: {str(e).splitlines()[0]}"
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def decide(check: CheckSpec, subject: Subject, case: Case, params: Mapping[str, Any]) -> Outcome:
    """Run ``check`` on ``subject`` in ``case``: the Outcome, with a subject that changed its
    inputs in place decided as a failure of its own (other exceptions propagate)."""
    try:
        with intra_op_threads(property_threads()):
            out = check.fn(subject, case, **params)
    except InputMutated as e:
        return Outcome(False, "the subject leaves its inputs unchanged", detail=str(e))
    if not isinstance(out, Outcome):
        raise TypeError(f"check {check.name!r} returned {type(out).__name__}, not an Outcome")
    return out


def lacks(case: PropertyCase, e: Exception) -> str:
    """For a third-party subject, the reason a property is not applicable when ``e`` says the
    subject lacks a name of its family's contract ("" when ``e`` is anything else)."""
    from harness.cases import subject_kind
    from harness.registry import NotProvided

    subject = case.suite.subject
    if isinstance(e, NotImplementedError) and subject_kind(subject) != "reference":
        return f"not applicable: {subject.target} raises NotImplementedError ({e}) for what this property needs"
    if subject_kind(subject) == "reference" or not isinstance(e, (NotProvided, AttributeError)):
        return ""  # our own implementation lacking a name is a bug, reported as an error
    name = getattr(e, "name", None)
    p = case.suite.contract.provide(name) if case.suite.contract is not None and name else None
    if isinstance(e, NotProvided) and name == "model":
        return f"not applicable: needs a model class to build; {subject.target} is a module of functions"
    if p is not None:
        return f"not applicable: needs `{p.name}{p.signature}` ({p.kind}); {subject.target} does not provide it"
    return f"not applicable: {e}" if isinstance(e, NotProvided) else ""


def execute(case: PropertyCase) -> Outcome:
    """Run the case's check and return its Outcome (exceptions propagate)."""
    return decide(case.check, case.subject, case.case(), case.prop.params)


def run_property(case: PropertyCase) -> PropertyResult:
    """Execute and classify one case; an exception (a NaN guard, out-of-memory, a bug) is
    that case's ``error`` and never stops the run."""
    t0 = time.perf_counter()
    outcome: Outcome | None = None
    exc: BaseException | None = None
    if case.skip:
        status, line = "skipped", case.skip
    elif case.prop.not_applicable:
        status, line = "not_applicable", case.prop.not_applicable
    else:
        try:
            outcome = execute(case)
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            missing = lacks(case, e)
            if missing:
                return PropertyResult(case.nodeid, case.suite.name, case.prop.id, case.check.name, case.device,
                                      case.dtype, case.seed, "not_applicable", missing, case.subject_label,
                                      case.location, case.marks, time.perf_counter() - t0)
            exc = e
            status = "xfailed" if case.xfail and not isinstance(e, torch.cuda.OutOfMemoryError) else "error"
            line = _error_line(e, case.device)
        else:
            if case.xfail:
                status = "xpassed" if outcome.passed else "xfailed"
                line = (f"unexpectedly passed (strict xfail: {case.xfail}): " if outcome.passed
                        else f"expected failure ({case.xfail}): ") + outcome.line()
            else:
                status, line = ("passed" if outcome.passed else "failed"), outcome.line()
    why = circular(case)
    if why and status in ("passed", "failed"):
        status, line = "circular", f"circular ({why}); verdict {status}: {line}"
    return PropertyResult(case.nodeid, case.suite.name, case.prop.id, case.check.name, case.device, case.dtype,
                          case.seed, status, line, case.subject_label, case.location, case.marks,
                          time.perf_counter() - t0, outcome, exc)


def circular(case: PropertyCase) -> str:
    """Why the case's property is circular for its subject ("" when it is evidence): a
    third-party module declares ``DLH_CIRCULAR = {check name: reason}`` for the properties
    whose oracle is its own code (torch checked against torch). Such a verdict is kept but is
    not counted as a pass or a failure."""
    table = getattr(case.suite.subject.namespace, "DLH_CIRCULAR", None)
    return str(table.get(case.check.name, "")) if isinstance(table, dict) else ""


def run_bench(case: BenchCase, **kw: Any) -> BenchRow:
    """Measure one benchmark case (see :func:`harness.bench.measure`); a case that cannot run
    here is a ``skipped`` row with the reason."""
    if case.skip:
        return bench_row(case, status="skipped", reason=case.skip, repeat=kw.get("repeat", 0))
    return measure(case, **kw)


def run_benchmarks(suites: Iterable[Suite], quick: bool = False, *, repeat: int = 1, select: str | None = None,
                 min_run_time: float | None = None, progress: bool | None = None) -> tuple[list[BenchRow], dict]:
    """Measure every benchmark case of ``suites``: ``(rows, extra)`` where ``extra`` goes into
    the run record (``bench_info``: timer settings, measured matmul peaks, notes). Cases that
    cannot run here are rows skipped with their reason.

    The matmul peak of a device and dtype is measured before its first row, again before every
    :data:`~harness.bench.PEAK_EVERY`-th row of it and at the end, so the peak is measured
    under the same load as the rows; the run's maximum is every row's peak (a peak is a
    maximum: a measurement taken while the machine was busy would inflate every fraction), and
    a row still above it is flagged (:func:`harness.bench.apply_peak`)."""
    mrt = min_run_time if min_run_time is not None else (bench.QUICK_MIN_RUN_TIME if quick else bench.MIN_RUN_TIME)
    todo = [c for s in suites for c in bench_cases(s, quick, select)]
    t0 = time.perf_counter()
    load_start = bench.load_average()
    peaks: dict[tuple[str, str], list[dict]] = {}
    since: dict[tuple[str, str], int] = {}
    items = [(r, c) for r in range(repeat) for c in todo]
    try:
        from tqdm import tqdm

        bar = tqdm(items, unit="row", disable=(not progress) if progress is not None else None,
                   dynamic_ncols=True, leave=False)
    except ImportError:  # pragma: no cover
        bar = items
    rows: list[BenchRow] = []
    for r, c in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(c.nodeid[-60:], refresh=False)
        key = (c.device, c.dtype)
        if not c.skip:
            if key not in peaks or since[key] >= bench.PEAK_EVERY:
                peaks.setdefault(key, []).append({**bench.matmul_peak(*key, mrt), "before_row": len(rows)})
                since[key] = 0
            since[key] += 1
        rows.append(run_bench(c, min_run_time=mrt, repeat=r))
    for key, taken in peaks.items():
        taken.append({**bench.matmul_peak(*key, mrt), "before_row": None})
    best = {key: max(taken, key=lambda p: p.get("flops_per_s") or 0.0) for key, taken in peaks.items()}
    for row in rows:
        if row.status == "ok":
            bench.apply_peak(row, best.get((row.device, row.dtype), {}).get("flops_per_s"))
    extra = {"bench_info": {
        "timer": "torch.utils.benchmark.Timer.blocked_autorange (median and IQR over blocks; CUDA synchronised); "
                 "noisy rows measured again; ours and the built-in interleaved",
        "min_run_time": mrt, "quick": quick, "repeat": repeat, "threads": bench.threads(),
        "spread_threshold": bench.SPREAD_THRESHOLD,
        "remeasure": {"max_extra": bench.MAX_REMEASURE, "cap_x_min_run_time": bench.REMEASURE_CAP,
                      "min_runs": bench.MIN_RUNS},
        "builtin_ratio": {"rounds": bench.ABAB_ROUNDS, "turn_x_min_run_time": round(bench.ABAB_TURN, 4),
                          "order": "AB BA AB ... (A = ours)",
                          "ratio": "median(ours) / median(built-in), pooled samples",
                          "ci": f"{bench.CI_LEVEL:.0%} Student-t interval of the per-round log ratios, "
                                "centred on log(ratio)"},
        "samples": f"samples_s: seconds per call of each timed block, 4 significant digits; more than "
                   f"{bench.SAMPLES_MAX}: their 61 quantiles at i/60",
        "flops_label": bench.FLOPS_LABEL, "peak_memory": bench.PEAK_MEMORY_NOTE,
        "dtype_policy": "CUDA: every listed dtype; CPU: float32/float64, low precision only for CPU-only benchmarks",
        "peak_rule": f"fastest block of an n x n matmul; measured before the first and every {bench.PEAK_EVERY}th "
                     "row of its device/dtype and at the end; the maximum is the peak; a row above it has "
                     "peak_valid=false and no fraction",
        # one entry per device/dtype (the run's maximum), every measurement under "measurements"
        "matmul_peaks": [{**best[key], "measurements": taken} for key, taken in peaks.items()],
        "load_start": load_start, "load_end": bench.load_average(),
        "seconds": round(time.perf_counter() - t0, 3),
    }}
    return rows, extra
