"""pytest plugin: collect dlharness suites (``suites/*.yaml``) into items.

Installed for every pytest run in the environment (entry point ``pytest11``), so it collects
only YAML files with a top-level ``suite:`` key and leaves every other YAML file alone.

One item per property x device x dtype, id ``<property>[<device>-<dtype>]``. CUDA items on a
machine without CUDA are skipped with the reason; marks from the suite become pytest marks;
``xfail`` is strict. A bad suite becomes one failing item whose report is one line per problem,
and the other suites still run.
"""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.suite import MARKS, CaseSpec, SuiteError, is_suite_file, load_suite

_HIDE = ("harness/pytest_plugin.py", "harness/runner.py", "/_pytest/", "/pluggy/")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dlharness", "dlharness suites")
    g.addoption("--impl", action="append", default=[], metavar="SUITE=pkg.module:Attr",
                help="test a third-party implementation: replace SUITE's subject factory")
    g.addoption("--dlh-record", default=None, metavar="PATH",
                help="also write the property outcomes as a dlharness run record (JSON) to PATH")
    g.addoption("--dlh-bench", action="store_true", default=False,
                help="also collect the suites' benchmarks as pytest-benchmark items (implied by --benchmark-only)")


def pytest_configure(config: pytest.Config) -> None:
    for m in MARKS + ("cuda", "dlh_bench"):
        config.addinivalue_line("markers", f"{m}: dlharness suite mark")
    config._dlh_rows = []  # type: ignore[attr-defined]


def _impl_map(config: pytest.Config) -> dict[str, str]:
    out = {}
    for item in config.getoption("impl") or []:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise pytest.UsageError(f"--impl {item!r}: expected SUITE=pkg.module:Attr")
        out[name] = target
    return out


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_file(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            suite = load_suite(self.path, _impl_map(self.config), root=self.config.rootpath)
        except SuiteError as e:
            yield SuiteErrorItem.from_parent(self, name="suite", error=e)
            return
        for spec in suite.cases():
            item = PropertyItem.from_parent(self, name=spec.id, spec=spec)
            for m in spec.marks:
                item.add_marker(getattr(pytest.mark, m))
            if spec.skip:
                item.add_marker(pytest.mark.skip(reason=spec.skip))
            if spec.xfail:
                item.add_marker(pytest.mark.xfail(reason=spec.xfail, strict=True, raises=PropertyFailure))
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
    def __init__(self, *, spec: CaseSpec, **kw: Any):
        super().__init__(**kw)
        self.spec = spec

    def runtest(self) -> None:
        from harness.runner import execute

        spec = self.spec
        outcome = execute(spec)
        self.user_properties.append(("dlharness", {**outcome.to_dict(), "suite": spec.suite.name,
                                                   "check": spec.prop.check, "seed": spec.case().seed}))
        if not outcome.passed:
            raise PropertyFailure(self._report(outcome.line()))

    def _report(self, body: str, verdict: str = "FAILED") -> str:
        spec, case = self.spec, self.spec.case()
        check = spec.suite.checks[spec.prop.check]
        impl = " ".join(f"--impl {k}={v}" for k, v in _impl_map(self.config).items())
        return "\n".join([
            f"{spec.suite.path}:{spec.prop.line} {spec.id} {verdict}",
            f"  property: {check.statement}",
            f"  {body}",
            f"  seed {case.seed} (suite seed {spec.suite.seed} + crc32('{spec.suite.name}/{spec.prop.id}'))",
            f"  repro: pytest \"{spec.nodeid}\"" + (f" {impl}" if impl else ""),
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
        return self.path, self.spec.prop.line - 1, self.spec.id


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect property outcomes for ``--dlh-record`` (reports reach the controller under xdist)."""
    rows = getattr(_config, "_dlh_rows", None) if _config else None
    if rows is None or "::" not in report.nodeid or not report.nodeid.split("::")[0].endswith((".yaml", ".yml")):
        return
    if report.when == "call" or (report.when == "setup" and report.skipped):
        outcome = dict(report.user_properties).get("dlharness")
        status = report.outcome
        if hasattr(report, "wasxfail"):
            status = "xfailed" if report.skipped else "xpassed"
        elif report.failed and outcome is None:
            status = "error"
        line = outcome and (outcome.get("statement", "") + "") or ""
        if report.skipped and not hasattr(report, "wasxfail"):
            line = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        rows.append({"nodeid": report.nodeid, "status": status, "seconds": round(report.duration, 6),
                     "line": line, "outcome": outcome})


_config: pytest.Config | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _config
    _config = session.config


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("dlh_record", None)
    rows = getattr(session.config, "_dlh_rows", [])
    if path and rows and not hasattr(session.config, "workerinput"):
        from harness.records import write_properties_record

        write_properties_record(rows, path=Path(path))
