"""pytest-benchmark items generated from the suites' ``benchmarks:`` sections.

Collected only when asked for (``--dlh-bench`` or ``--benchmark-only``), so a plain ``pytest``
stays fast. One item per benchmark x device x dtype x batch size, id
``bench_<id>[<device>-<dtype>-b<batch>]``, marked ``dlh_bench``; each is a ``pytest.Function``
that takes pytest-benchmark's ``benchmark`` fixture, so every pytest-benchmark option works
(``--benchmark-disable`` runs each step once as a smoke test, ``--benchmark-json``, ...).

The workload is :func:`harness.bench.prepare`, the same one ``harness bench`` and asv
time. CUDA items get a timer that synchronises the device before reading the clock (the
default ``time.perf_counter`` would time only the kernel launches). CUDA items on a machine
without CUDA are skipped with the reason; an out-of-memory error or an unsupported dtype skips
the item with that reason (``harness bench`` records them as the row's status).
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from harness.cases import BenchCase, bench_cases
from harness.suite import Suite

def cuda_sync_timer() -> float:
    """``time.perf_counter`` after ``torch.cuda.synchronize()``: wall time of finished work."""
    import torch

    torch.cuda.synchronize()
    return time.perf_counter()


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("dlh_bench", False) or config.getoption("benchmark_only", False))


def _make_test(case: BenchCase):
    def test(benchmark: Any) -> None:
        from harness import bench as hb

        def skip_if_resource(e: Exception) -> None:
            status = hb.classify(e, case.device)
            if status in ("oom", "unsupported dtype"):
                pytest.skip(f"{status} on {case.device} {case.dtype} batch {case.batch}: {str(e).splitlines()[0] if str(e) else ''}")

        try:
            w = hb.prepare(case)
            if not getattr(benchmark, "disabled", False):
                w.step()  # fail fast (and warm up) outside the timer; a disabled run calls it once anyway
        except Exception as e:  # noqa: BLE001
            skip_if_resource(e)
            raise
        benchmark.extra_info.update({"suite": case.suite.name, "benchmark": case.bench.id, "workload": case.bench.workload,
                                     "device": case.device, "dtype": case.dtype, "batch": case.batch,
                                     "threads": hb.threads(), "subject": case.subject_label})
        try:
            benchmark(w.step)  # on CUDA the marker's timer synchronises before each clock read
        except Exception as e:  # noqa: BLE001
            skip_if_resource(e)
            raise

    test.__name__ = f"bench_{case.bench.id}"
    test.__doc__ = f"{case.bench.workload} of {case.suite.name}/{case.bench.id} on {case.device} in {case.dtype}, batch {case.batch}"
    return test


class BenchmarkItem(pytest.Function):
    """A pytest-benchmark test reported at the benchmark's line of the suite file."""

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, getattr(self, "dlh_line", 1) - 1, self.name


def collect(parent: pytest.Collector, suite: Suite) -> Iterator[pytest.Item]:
    """Benchmark items for ``suite`` (nothing unless :func:`enabled`): one per
    :class:`~harness.cases.BenchCase`, skipped with its reason where it cannot run."""
    if not enabled(parent.config):
        return
    for case in bench_cases(suite):
        item = BenchmarkItem.from_parent(parent, name=case.id, callobj=_make_test(case))
        item.dlh_line = case.bench.line
        for m in case.marks:
            item.add_marker(getattr(pytest.mark, m))
        opts: dict[str, Any] = {"group": f"{suite.name}/{case.bench.id} {case.device} {case.dtype}"}
        if case.device == "cuda":
            opts["timer"] = cuda_sync_timer
        item.add_marker(pytest.mark.benchmark(**opts))
        if case.skip:
            item.add_marker(pytest.mark.skip(reason=case.skip))
        yield item
