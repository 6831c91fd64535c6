"""asv benchmarks: one class per suite benchmark, generated from the YAML under ``suites/``.

asv loads this file from the working tree and ``harness`` from the environment it benchmarks
(the installed commit, or the editable tree with ``-E existing:same``). The suites are those of
the working tree (``$DLH_SUITES`` overrides), so history compares the same workloads across
commits.

asv runs with ``"launch_method": "forkserver"`` (``asv.conf.json``): this module is imported
once in asv's fork server and every parameter cell runs in a fork of it. So the import pays,
once, for what each cell would otherwise pay again:

- ``torch._dynamo`` (~1.5 s here): torch's optimizers import it lazily on construction, i.e.
  in the ``setup`` of every ``train_step`` cell. Only imported; nothing is computed before the
  fork (no intra-op thread pool exists in the server to be copied into a child).
- ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (unless set): ``torch.cuda.is_available()``, called while
  the cases are generated, then asks NVML instead of the CUDA runtime, so the server does not
  initialise the CUDA driver before forking and each CUDA cell initialises CUDA in its own
  process (torch's documented fork-safe check; not yet exercised on a GPU machine).
"""
import os
from pathlib import Path

os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

import torch._dynamo  # noqa: E402,F401  (see the docstring: imported once in the fork server)

from harness.asv_suites import generate  # noqa: E402

_SUITES = os.environ.get("DLH_SUITES") or str(Path(__file__).resolve().parents[2] / "suites")
globals().update(generate(_SUITES, module=__name__))
