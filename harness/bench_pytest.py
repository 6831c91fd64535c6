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

MARK = "dlh_bench"


def cuda_sync_timer() -> float:
    """``time.perf_counter`` after ``torch.cuda.synchronize()``: wall time of finished work."""
    import torch

    torch.cuda.synchronize()
    return time.perf_counter()


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("dlh_bench", False) or config.getoption("benchmark_only", False))


def _make_test(suite: Any, bench: Any, device: str, dtype: str, batch: int):
    def test(benchmark: Any) -> None:
        from harness import bench as hb

        def skip_if_resource(e: Exception) -> None:
            status = hb.classify(e, device)
            if status in ("oom", "unsupported dtype"):
                pytest.skip(f"{status} on {device} {dtype} batch {batch}: {str(e).splitlines()[0] if str(e) else ''}")

        try:
            w = hb.prepare(suite, bench, device, dtype, batch)
            if not getattr(benchmark, "disabled", False):
                w.step()  # fail fast (and warm up) outside the timer; a disabled run calls it once anyway
        except Exception as e:  # noqa: BLE001
            skip_if_resource(e)
            raise
        benchmark.extra_info.update({"suite": suite.name, "benchmark": bench.id, "workload": bench.workload,
                                     "device": device, "dtype": dtype, "batch": batch, "threads": hb.threads()})
        try:
            benchmark(w.step)  # on CUDA the marker's timer synchronises before each clock read
        except Exception as e:  # noqa: BLE001
            skip_if_resource(e)
            raise

    test.__name__ = f"bench_{bench.id}"
    test.__doc__ = f"{bench.workload} of {suite.name}/{bench.id} on {device} in {dtype}, batch {batch}"
    return test


class BenchmarkItem(pytest.Function):
    """A pytest-benchmark test reported at the benchmark's line of the suite file."""

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, getattr(self, "dlh_line", 1) - 1, self.name


def collect(parent: pytest.Collector, suite: Any) -> Iterator[pytest.Item]:
    """Benchmark items for ``suite`` (nothing unless :func:`enabled`)."""
    if not enabled(parent.config):
        return
    from harness.bench import dtypes_for
    from harness.context import device_available

    for bench in suite.benchmarks:
        for device in bench.devices:
            ok, why = device_available(device)
            for dtype in dtypes_for(bench, device):
                for batch in bench.batch_sizes:
                    name = f"bench_{bench.id}[{device}-{dtype}-b{batch}]"
                    item = BenchmarkItem.from_parent(parent, name=name,
                                                     callobj=_make_test(suite, bench, device, dtype, batch))
                    item.dlh_line = bench.line
                    item.add_marker(getattr(pytest.mark, MARK))
                    opts: dict[str, Any] = {"group": f"{suite.name}/{bench.id} {device} {dtype}"}
                    if device == "cuda":
                        opts["timer"] = cuda_sync_timer
                        item.add_marker(pytest.mark.cuda)
                    item.add_marker(pytest.mark.benchmark(**opts))
                    if not ok:
                        item.add_marker(pytest.mark.skip(reason=why))
                    yield item
