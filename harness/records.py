"""Run records: JSON files under ``results/runs/``, written atomically, loaded into pandas.

A record is ``{"schema": 1, "kind": "run", "created": ..., "environment": {...},
"suites": {name: {path, sha256, seed, subject}}, "properties": [...], "benchmarks": [...]}``.
``properties`` rows are :meth:`harness.executor.PropertyResult.to_dict`; ``benchmarks`` rows
are :meth:`harness.bench.BenchRow.to_dict`. Writing goes to a temporary file in the same directory and is
renamed into place, so an interrupted run never leaves half a record.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

from harness.context import property_threads

SCHEMA = 1
RUNS_DIR = Path("results") / "runs"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Where a run happened: enough to reproduce it or to explain a difference."""
    import numpy
    import torch

    cuda = torch.cuda.is_available()
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "property_threads": property_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
    }


def suite_info(suites: Iterable[Any]) -> dict[str, Any]:
    from harness.cases import subject_kind

    return {s.name: {"path": s.path, "sha256": s.sha256, "seed": s.seed, "subject": s.subject.target,
                     "subject_kind": subject_kind(s.subject), "title": s.title} for s in suites}


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory, flushed
    and renamed into place, with an ordinary file's permissions (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, default=str))


def new_record_path(runs_dir: Path = RUNS_DIR, label: str = "local") -> Path:
    """``results/runs/<label>-<UTC time>-<short commit>.json``; ``label`` names the machine
    kind (``local`` records are git-ignored; commit others with ``git add -f``)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    commit = _git("rev-parse", "--short", "HEAD") or "nogit"
    return Path(runs_dir) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}-{stamp}-{commit}.json"


def make_record(properties: list[dict] | None = None, benchmarks: list[dict] | None = None,
                suites: Iterable[Any] = (), **extra: Any) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "run",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "suites": suite_info(suites),
        "properties": properties or [],
        "benchmarks": benchmarks or [],
        **extra,
    }


def load_records(runs_dir: Path = RUNS_DIR) -> list[dict[str, Any]]:
    """Every readable record under ``runs_dir``, oldest first. Unreadable files are skipped
    (a record is only ever renamed into place whole, so these are foreign files)."""
    out = []
    for f in sorted(Path(runs_dir).glob("*.json")):
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("schema") == SCHEMA:
            rec["_file"] = str(f)
            out.append(rec)
    return sorted(out, key=lambda r: r.get("created", ""))


def frames(records: list[dict[str, Any]]):
    """``(properties, benchmarks)`` DataFrames over ``records``, one row per case, with the
    record's file, time, commit, CPU and GPU as columns."""
    import pandas as pd

    prop_rows, bench_rows = [], []
    for rec in records:
        env = rec.get("environment", {})
        meta = {"record": Path(rec.get("_file", "")).name, "created": rec.get("created"),
                "commit": (env.get("git_commit") or "")[:10], "cpu": env.get("cpu"), "gpu": env.get("gpu"),
                "torch": env.get("torch")}
        for p in rec.get("properties", []):
            o = p.get("outcome") or {}
            prop_rows.append({**meta, **{k: v for k, v in p.items() if k != "outcome"},
                              "error": o.get("error"), "tolerance": o.get("tolerance")})
        for b in rec.get("benchmarks", []):
            bench_rows.append({**meta, **b})
    return pd.DataFrame(prop_rows), pd.DataFrame(bench_rows)
