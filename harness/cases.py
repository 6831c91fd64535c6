"""A suite expanded, once, into the typed cases every runner executes.

:func:`property_cases` gives one :class:`PropertyCase` per property x device x dtype, and
:func:`bench_cases` one :class:`BenchCase` per benchmark x device x dtype x batch size. Each case
carries everything needed to run and to report it: its resolved check (or benchmark), device,
dtype, seed, marks, skip reason, nodeid, ``file:line`` and the subject it tests. The pytest
plugin, ``harness run``, ``harness bench``, the pytest-benchmark items and asv all iterate these;
none of them expands a suite or decides what is skipped on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from harness.context import DTYPES, Case, case_seed, device_available
from harness.outcome import Tolerance
from harness.registry import CheckSpec, Subject
from harness.suite import Benchmark, Property, Suite

LOW_PRECISION = ("bfloat16", "float16")


def subject_kind(subject: Subject) -> str:
    return subject.kind


def subject_label(subject: Subject) -> str:
    return f"{subject.target} ({subject.kind})"


class _Located:
    """What every case says about where it comes from (given ``suite`` and ``id``, and the
    suite item it expands: ``prop`` or ``bench``, whose ``line`` it reports)."""

    suite: Suite

    @property
    def line(self) -> int:
        item = getattr(self, "prop", None) or getattr(self, "bench")
        return item.line

    @property
    def nodeid(self) -> str:
        return f"{self.suite.path}::{self.id}"  # type: ignore[attr-defined]

    @property
    def location(self) -> str:
        return f"{self.suite.path}:{self.line}"  # type: ignore[attr-defined]

    @property
    def subject_label(self) -> str:
        return subject_label(self.suite.subject)


@dataclass(frozen=True)
class PropertyCase(_Located):
    """One property on one device in one dtype."""

    suite: Suite
    prop: Property
    device: str
    dtype: str
    skip: str = ""  # why it cannot run here ("" when it can)

    @property
    def check(self) -> CheckSpec:
        return self.prop.spec

    @property
    def id(self) -> str:
        return f"{self.prop.id}[{self.device}-{self.dtype}]"

    @property
    def seed(self) -> int:
        return case_seed(self.suite.seed, self.suite.name, self.prop.id)

    @property
    def marks(self) -> tuple[str, ...]:
        return self.prop.marks + (("cuda",) if self.device == "cuda" else ())

    @property
    def xfail(self) -> str:
        x = self.prop.xfail
        return x.reason if x and x.matches(self.device, self.dtype) else ""

    @cached_property
    def subject(self) -> Subject:
        """The suite's subject with this property's ``params`` applied."""
        s = self.suite.subject
        return s.with_params(**self.prop.subject_params) if self.prop.subject_params else s

    def tolerance(self) -> Tolerance:
        override = self.prop.tolerance.get(self.dtype)
        return self.check.tolerance_for(self.dtype, override, f"{self.location}: {self.prop.tolerance_why}")

    def case(self) -> Case:
        return Case(self.suite.name, self.prop.id, self.device, DTYPES[self.dtype], self.seed, self.tolerance())


@dataclass(frozen=True)
class BenchCase(_Located):
    """One benchmark on one device, in one dtype, at one batch size."""

    suite: Suite
    bench: Benchmark
    device: str
    dtype: str
    batch: int
    skip: str = ""

    @property
    def id(self) -> str:
        return f"bench_{self.bench.id}[{self.device}-{self.dtype}-b{self.batch}]"

    @property
    def seed(self) -> int:
        return case_seed(self.suite.seed, self.suite.name, f"bench/{self.bench.id}")

    @property
    def marks(self) -> tuple[str, ...]:
        return ("dlh_bench",) + (("cuda",) if self.device == "cuda" else ())

    @property
    def subject(self) -> Subject:
        return self.suite.subject


def property_cases(suite: Suite) -> list[PropertyCase]:
    out = []
    for prop in suite.properties:
        for device in prop.devices:
            ok, why = device_available(device)
            out.extend(PropertyCase(suite, prop, device, dtype, "" if ok else why) for dtype in prop.dtypes)
    return out


def bench_dtypes(bench: Benchmark, device: str) -> list[str]:
    """Dtype policy: CUDA runs every listed dtype; the CPU runs float32/float64, and low
    precision only for benchmarks whose ``devices`` leave out CUDA (asked for explicitly)."""
    if device == "cpu" and "cuda" in bench.devices:
        return [d for d in bench.dtypes if d not in LOW_PRECISION]
    return list(bench.dtypes)


def bench_cases(suite: Suite, quick: bool = False, select: str | None = None) -> list[BenchCase]:
    """Every benchmark row of ``suite`` (``quick``: smallest batch only; ``select``: only
    benchmarks whose ``suite/id`` contains the text). An absent device gives rows skipped
    with the reason, never silently dropped rows."""
    out = []
    for b in suite.benchmarks:
        if select and select not in f"{suite.name}/{b.id}":
            continue
        sizes = [min(b.batch_sizes)] if quick else list(b.batch_sizes)
        lacks = _bench_lacks(suite.subject, b)
        for dev in b.devices:
            ok, why = device_available(dev)
            for dt in bench_dtypes(b, dev):
                out.extend(BenchCase(suite, b, dev, dt, bs, lacks or ("" if ok else why)) for bs in sizes)
    return out


def _bench_lacks(subject: Subject, b: Benchmark) -> str:
    """Why a third-party subject cannot run benchmark ``b`` ("" when it can)."""
    import types

    if b.call and not subject.has(b.call):
        return f"not applicable: {subject.target} has no {b.call!r} to time"
    if not b.call and isinstance(subject.obj, types.ModuleType):
        return f"not applicable: {subject.target} is a module of functions, with no model to time"
    return ""
