"""asv benchmarks: one class per suite benchmark, generated from the YAML under ``suites/``.

asv loads this file from the working tree and ``harness`` from the environment it benchmarks
(the installed commit, or the editable tree with ``-E existing:same``). The suites are those of
the working tree (``$DLH_SUITES`` overrides), so history compares the same workloads across
commits.
"""
import os
from pathlib import Path

from harness.asv_suites import generate

_SUITES = os.environ.get("DLH_SUITES") or str(Path(__file__).resolve().parents[2] / "suites")
globals().update(generate(_SUITES, module=__name__))
