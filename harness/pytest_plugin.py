"""pytest plugin: collect dlharness suites (``suites/*.yaml``) into items.

Installed for every pytest run in the environment (entry point ``pytest11``), so it collects
only YAML files with a top-level ``suite:`` key and leaves every other YAML file alone.

One item per :class:`~harness.cases.PropertyCase`, id ``<property>[<device>-<dtype>]``; the
item runs :func:`harness.executor.run_property` and reports its status (a CUDA case on a
machine without CUDA is skipped with the reason; ``xfail`` is strict). Marks from the suite
become pytest marks. A bad suite becomes one failing item whose report is one line per
problem, and the other suites still run.

Session state (the ``--impl`` map, the rows for ``--dlh-record``) lives on one
:class:`DlhSession` registered in ``pytest_configure`` and reached through ``config.stash``.
Each item hands its result to the controller as a ``dlharness`` user property, so records
written under pytest-xdist carry the same fields (marks, subject, seed) as ``harness run``'s.
"""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.cases import PropertyCase, property_cases, subject_kind
from harness.executor import PropertyResult, run_property
from harness.registry import parse_impl
from harness.runner import applicability
from harness.suite import MARKS, SuiteError, check_unique_names, is_suite_file, load_suite

_HIDE = ("harness/pytest_plugin.py", "harness/executor.py", "/_pytest/", "/pluggy/")
PROPERTY = "dlharness"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dlharness", "dlharness suites")
    g.addoption("--impl", action="append", default=[], metavar="SUITE=pkg.module:Attr",
                help="test a third-party implementation: replace SUITE's subject factory")
    g.addoption("--dlh-record", default=None, metavar="PATH",
                help="also write the property outcomes as a dlharness run record (JSON) to PATH")
    g.addoption("--dlh-bench", action="store_true", default=False,
                help="also collect the suites' benchmarks as pytest-benchmark items (implied by --benchmark-only)")
    g.addoption("--strict-contract", action="store_true", default=False,
                help="a third-party subject lacking a name a property needs is an error, not 'not applicable'")
    g.addoption("--dlh-in-process", action="store_true", default=False,
                help="run third-party subjects in the pytest process (for debugging); by default they run in a "
                     "worker process, so a crash, exit or hang costs one item, not the session")
    g.addoption("--dlh-timeout", type=float, default=None, metavar="S",
                help="seconds a third-party case may run in its worker (default: the suite's, else 300)")


class DlhSession:
    """Per-session state of the plugin (one per ``pytest.Config``)."""

    def __init__(self, config: pytest.Config):
        from harness.context import EnvError, check_env
        from harness.records import check_output_path

        self.config = config
        try:
            self.impl = parse_impl(config.getoption("impl"))
            check_env()
        except (ValueError, EnvError) as e:
            raise pytest.UsageError(str(e)) from None
        self.record = config.getoption("dlh_record")
        why = check_output_path(self.record) if self.record else None
        if why:
            raise pytest.UsageError(f"--dlh-record {self.record}: {why}")
        self.rows: list[dict] = []
        self.names: set[str] = set()  # every suite name collected (loaded or not), for --impl
        self.by_name: dict[str, Any] = {}  # suite name -> the first suite loaded with it
        self.strict = bool(config.getoption("strict_contract"))
        self.subjects: dict[str, str] = {}  # suite -> subject label
        self.in_process = bool(config.getoption("dlh_in_process"))
        self.timeout = config.getoption("dlh_timeout")
        self._worker: Any = None

    def run(self, case: PropertyCase) -> PropertyResult:
        """Reference subjects run in this process; third-party ones in a worker process unless
        ``--dlh-in-process`` (see :mod:`harness.isolation`)."""
        if self.in_process or subject_kind(case.suite.subject) == "reference":
            return run_property(case)
        if self._worker is None:
            from harness.isolation import Worker

            self._worker = Worker(self.impl, root=self.config.rootpath)
        return self._worker.run(case, self.timeout)

    def repro_options(self) -> str:
        return " ".join(f"--impl {k}={v}" for k, v in self.impl.items())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each item's result row (reports reach the controller under xdist)."""
        for name, value in report.user_properties:
            if name == PROPERTY and report.when == "call":
                self.rows.append(value)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from harness.runner import UsageError, check_impl_names

        if self.names:
            try:
                check_impl_names(self.impl, self.names)
            except UsageError as e:
                raise pytest.UsageError(str(e)) from None

    def pytest_report_collectionfinish(self, config: pytest.Config, start_path: Any, items: Any) -> list[str]:
        """The header names each suite's subject: the reference, or the third-party target."""
        return [f"dlharness: suite {name}: subject {label}" for name, label in sorted(self.subjects.items())]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Per suite: how many properties applied to the subject and how many of those passed."""
        if self.rows:
            terminalreporter.write_sep("-", "dlharness: properties per suite")
            for line in applicability(self.rows):
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._worker is not None:
            self._worker.close()
        if self.record and self.rows and not hasattr(self.config, "workerinput"):
            from harness.records import atomic_write_json, make_record

            atomic_write_json(Path(self.record), make_record(properties=self.rows, runner="pytest"))


SESSION = pytest.StashKey[DlhSession]()




def pytest_configure(config: pytest.Config) -> None:
    for m in MARKS + ("cuda", "dlh_bench"):
        config.addinivalue_line("markers", f"{m}: dlharness suite mark")
    state = DlhSession(config)
    config.stash[SESSION] = state
    config.pluginmanager.register(state, "dlharness-session")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_file(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.cases import subject_label
        from harness.runner import declared_name

        state = self.config.stash[SESSION]
        state.names.add(declared_name(self.path) or "")
        try:
            suite = load_suite(self.path, state.impl, root=self.config.rootpath, strict=state.strict)
            dup = check_unique_names([state.by_name.setdefault(suite.name, suite), suite])
            if dup:
                raise dup[0]
        except SuiteError as e:
            yield SuiteErrorItem.from_parent(self, name="suite", error=e)
            return
        state.subjects[suite.name] = subject_label(suite.subject)
        for case in property_cases(suite):
            item = PropertyItem.from_parent(self, name=case.id, case=case)
            for m in case.marks:
                item.add_marker(getattr(pytest.mark, m))
            yield item
        from harness.bench_pytest import collect as collect_benchmarks

        yield from collect_benchmarks(self, suite)


class PropertyFailure(Exception):
    """A property that did not hold; its message is the whole failure report."""


class SuiteErrorItem(pytest.Item):
    def __init__(self, *, error: SuiteError, **kw: Any):
        super().__init__(**kw)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(self.error)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.error.line - 1, f"{self.error.path}: invalid suite"


class PropertyItem(pytest.Item):
    def __init__(self, *, case: PropertyCase, **kw: Any):
        super().__init__(**kw)
        self.case = case

    def runtest(self) -> None:
        res = self.config.stash[SESSION].run(self.case)
        self.user_properties.append((PROPERTY, res.to_dict()))
        if res.status in ("skipped", "not_applicable"):  # reported at the suite file's line, as a skip mark is
            raise pytest.skip.Exception(res.line, _use_item_location=True)
        if res.status == "xfailed":
            pytest.xfail(res.line)
        if res.status == "error" and res.exc is not None:
            raise res.exc
        if res.status in ("failed", "xpassed", "timeout", "error"):
            verdict = {"xpassed": f"XPASS(strict) {self.case.xfail}", "failed": "FAILED"}.get(res.status, res.status.upper())
            raise PropertyFailure(self._report(res.line, verdict))

    def _report(self, body: str, verdict: str) -> str:
        case = self.case
        extra = self.config.stash[SESSION].repro_options()
        return "\n".join([
            f"{case.location} {case.id} {verdict}",
            f"  property: {case.check.statement}",
            f"  subject: {case.subject_label}",
            f"  {body}",
            f"  seed {case.seed} (suite seed {case.suite.seed} + crc32('{case.suite.name}/{case.prop.id}'))",
            f"  repro: pytest \"{case.nodeid}\"" + (f" {extra}" if extra else ""),
        ])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PropertyFailure):
            return str(excinfo.value)
        if self.config.getoption("verbose") > 0:
            return str(super().repr_failure(excinfo, style=style))
        frames = [f for f in traceback.extract_tb(excinfo.tb) if not any(h in f.filename.replace("\\", "/") for h in _HIDE)]
        where = "".join(traceback.format_list(frames[-4:])).rstrip()
        body = f"{excinfo.typename}: {excinfo.value}\n{where}\n  (-v shows the full traceback)"
        return self._report(body, verdict="ERROR")

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.prop.line - 1, self.case.id
