"""asv benchmarks generated from the suites' ``benchmarks:`` sections.

``asv.conf.json`` points ``benchmark_dir`` at ``harness/asv_bench``, whose one module calls
:func:`generate` with the working tree's ``suites/`` directory. Each suite benchmark becomes one
class ``<suite>__<benchmark id>`` with

- ``params`` = (``device-dtype``, batch size) and ``time_step(device_dtype, batch)``: seconds
  per forward or training step (lower is better), the workload of :mod:`harness.bench`, one
  cell per :class:`~harness.cases.BenchCase`. A case that cannot run here (no CUDA) raises
  ``NotImplementedError`` with its reason in ``setup``, which asv shows as n/a: the same skip
  as in every other runner;
- a memoised ``setup``: asv-runner >= 0.3 calls ``setup()`` before every timed call, so the model
  and inputs are built once per parameter set and cached in this process (one per parameter
  cell, forked from asv's server, which imported the benchmarks: ``harness/asv_bench/suites.py``);
  an out-of-memory error or an unsupported dtype raises ``NotImplementedError`` (asv shows n/a);
- an explicit ``version`` (a hash of the benchmark's definition): generated classes share
  source code, so asv's default source-hash version would not notice a changed benchmark;
- on CUDA ``time_step`` synchronises before returning, so asv's clock sees finished work.

asv's machine record has no GPU field: :func:`machine_name` (``python -m harness.asv_suites
--machine-name``) gives ``<host>-<gpu or cpu>`` to pass to ``asv machine --machine``.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

_CACHE: dict[Any, Any] = {}
VERSION_SALT = "dlh-asv-3"  # bump when the workload semantics or the parameter layout change


def machine_name() -> str:
    """``<hostname>-<GPU name or cpu>``, lower-case, safe for a file name."""
    gpu = "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return re.sub(r"[^a-z0-9_.-]+", "-", f"{platform.node()}-{gpu}".lower()).strip("-")


def benchmark_version(suite: Any, bench: Any) -> str:
    spec = {"salt": VERSION_SALT, "subject": suite.subject.target, "params": dict(suite.subject.params),
            "workload": bench.workload, "inputs": [vars(i) if hasattr(i, "__dict__") else repr(i) for i in bench.inputs],
            "call": bench.call, "bench_params": dict(bench.params), "seed": suite.seed}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _class_for(suite: Any, bench: Any) -> type:
    from harness import bench as hb
    from harness.cases import bench_cases

    cases = {(f"{c.device}-{c.dtype}", c.batch): c for c in bench_cases(suite) if c.bench is bench}
    targets = list(dict.fromkeys(k[0] for k in cases))

    class Generated:
        params = [targets, list(bench.batch_sizes)]
        param_names = ["device_dtype", "batch"]
        version = benchmark_version(suite, bench)
        timeout = 300.0
        warmup_time = 0.1
        sample_time = 0.02
        repeat = (1, 10, 5.0)
        pretty_name = f"{suite.name}/{bench.id} ({bench.workload}) s/step"

        def setup(self, device_dtype: str, batch: int) -> None:
            case = cases[(device_dtype, batch)]
            if case.skip:
                raise NotImplementedError(case.skip)  # asv shows n/a: the same skip as everywhere
            key = (suite.name, bench.id, device_dtype, batch)
            if key not in _CACHE:
                try:
                    w = hb.prepare(case)
                    w.step()
                    if case.device == "cuda":
                        import torch

                        torch.cuda.synchronize()
                except Exception as e:  # noqa: BLE001
                    status = hb.classify(e, case.device)
                    if status in ("oom", "unsupported dtype"):
                        _CACHE[key] = NotImplementedError(f"{status}: {e}")
                    else:
                        raise
                else:
                    _CACHE[key] = w
            w = _CACHE[key]
            if isinstance(w, NotImplementedError):
                raise w
            self.step = w.step
            self.cuda = case.device == "cuda"

        def time_step(self, device_dtype: str, batch: int) -> None:
            self.step()
            if self.cuda:
                import torch

                torch.cuda.synchronize()

    name = re.sub(r"\W", "_", f"{suite.name}__{bench.id}")
    Generated.__name__ = Generated.__qualname__ = name
    return Generated


def generate(suites_dir: str | Path | None = None, module: str | None = None) -> dict[str, type]:
    """``{class name: asv benchmark class}`` for every benchmark of every valid suite under
    ``suites_dir`` (default ``$DLH_SUITES`` or ``./suites``). Invalid suites are reported on
    stderr and left out."""
    from harness.runner import load_all

    path = Path(suites_dir or os.environ.get("DLH_SUITES") or "suites")
    suites, errors = load_all([path])
    for e in errors:
        print(f"dlharness asv: skipping invalid suite: {e}", file=sys.stderr)
    out: dict[str, type] = {}
    for s in suites:
        for b in s.benchmarks:
            cls = _class_for(s, b)
            if module:
                cls.__module__ = module
            out[cls.__name__] = cls
    return out


if __name__ == "__main__":  # pragma: no cover
    if "--machine-name" in sys.argv[1:]:
        print(machine_name())
    else:
        for n, c in generate().items():
            print(n, c.version, c.params)
