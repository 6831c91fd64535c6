"""Run records: JSON files under ``results/runs/``, written atomically, loaded into pandas.

A record is ``{"schema": 1, "kind": "run", "created": ..., "environment": {...},
"suites": {name: {path, sha256, seed, subject}}, "properties": [...], "benchmarks": [...]}``.
``properties`` rows are :meth:`harness.executor.PropertyResult.to_dict`; ``benchmarks`` rows
are :meth:`harness.bench.BenchRow.to_dict`. Writing goes to a temporary file in the same directory and is
renamed into place, so an interrupted run never leaves half a record.

What can be found in a runs directory, and what happens to it:

* ``<label>-<UTC second>-<commit>[-N].json``: a record. :func:`reserve_record_path` creates its
  name exclusively (``O_CREAT | O_EXCL``), as an empty placeholder, adding ``-2``, ``-3``, ...
  (then a random token) when another run took the name in the same second, so concurrent runs
  never overwrite each other; :func:`atomic_write_json` later replaces the placeholder with the
  whole record in one rename (:func:`write_new_record` does both).
* an empty ``*.json``: a placeholder whose run is still going or was killed before it wrote.
  It is not a record and not an error: :func:`load_records` ignores it silently, and deletes it
  once it is older than :data:`PLACEHOLDER_MAX_AGE_S` (:func:`clean_stale`). Deleting a live
  run's placeholder loses nothing: that run's final rename creates the file again, and no other
  run can be given the name meanwhile (it carries a second long past).
* ``.<name>.<random>.tmp``: a write in progress, or one killed before its rename. ``*.json``
  never matches it, so it is never read as a record; it is deleted once older than
  :data:`TMP_MAX_AGE_S` when records are loaded, reserved or written in that directory.
* anything else under ``*.json`` that cannot be read, is not JSON, or does not pass
  :func:`validate_record` (not an object, another schema, a field of the wrong type) is skipped
  with a one-line reason (:class:`SkippedRecord`), which the report names. A record whose
  top-level fields are sound but some of whose rows are not keeps its good rows; the dropped
  rows and why are listed in its ``_dropped`` key.
"""
from __future__ import annotations

import datetime as _dt
import errno
import itertools
import json
import os
import platform
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from harness.context import property_threads

SCHEMA = 1
RUNS_DIR = Path("results") / "runs"
TMP_MAX_AGE_S = 3600.0          # a leftover ``.<name>.<random>.tmp`` older than this is deleted
PLACEHOLDER_MAX_AGE_S = 86400.0  # an empty (reserved, never written) record older than this is deleted
_TMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # what tempfile.mkstemp makes for atomic_write_text


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


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def clean_stale(directory: Path, *, placeholders: bool = True, now: float | None = None,
                tmp_age: float = TMP_MAX_AGE_S, placeholder_age: float = PLACEHOLDER_MAX_AGE_S) -> list[Path]:
    """Delete what killed runs left in ``directory`` and return it: temporary files of
    :func:`atomic_write_text` (``.<name>.<random>.tmp``) last modified more than ``tmp_age``
    seconds ago and, with ``placeholders``, empty ``*.json`` placeholders of
    :func:`reserve_record_path` older than ``placeholder_age``. Never raises (a read-only or
    missing directory is left as it is)."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            age = now - st.st_mtime
            if _TMP_NAME.match(entry.name) and age > tmp_age:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            elif (placeholders and entry.name.endswith(".json") and not entry.name.startswith(".")
                  and st.st_size == 0 and age > placeholder_age and _remove_if_empty(Path(entry.path))):
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _remove_if_empty(path: Path) -> bool:
    """Delete ``path`` if it is (still) an empty placeholder. The file is first renamed aside, so
    a record renamed onto the name at that very moment is never deleted: it is put back."""
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.stale")
    try:
        os.rename(path, aside)
    except OSError:
        return False
    try:
        if os.stat(aside).st_size == 0:
            os.unlink(aside)
            return True
    except OSError:
        pass
    os.replace(aside, path)  # a record arrived in between: put it back
    return False


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory, flushed
    and renamed into place (replacing a placeholder of :func:`reserve_record_path`, or an older
    file, in one step), with an ordinary file's permissions (0666 less the umask). Temporary
    files of killed writes older than :data:`TMP_MAX_AGE_S` in that directory are deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent, placeholders=False)
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


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)


def new_record_path(runs_dir: Path = RUNS_DIR, label: str = "local") -> Path:
    """``results/runs/<label>-<UTC time>-<short commit>.json``; ``label`` names the machine
    kind (``local`` records are git-ignored; commit others with ``git add -f``). Only a name:
    two runs in the same second get the same one; :func:`reserve_record_path` makes it unique."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    commit = _git("rev-parse", "--short", "HEAD") or "nogit"
    return Path(runs_dir) / f"{_safe_label(label)}-{stamp}-{commit}.json"


def reserve_path(path: Path, *, numbered: int = 99) -> Path:
    """Create ``path`` exclusively (``O_CREAT | O_EXCL``) as an empty placeholder and return it;
    when it exists, the first free one of ``<stem>-2<suffix>`` ... ``<stem>-<numbered><suffix>``,
    then ``<stem>-<random hex><suffix>``. Two callers (threads or processes) never get the same
    path. The parent directory is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, suffix = path.stem, path.suffix
    candidates = itertools.chain(
        [path], (path.with_name(f"{stem}-{i}{suffix}") for i in range(2, numbered + 1)),
        (path.with_name(f"{stem}-{secrets.token_hex(4)}{suffix}") for _ in range(100)))
    for cand in candidates:
        try:
            fd = os.open(cand, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return cand
    raise FileExistsError(f"no free name left next to {path}")


def reserve_record_path(runs_dir: Path = RUNS_DIR, label: str = "local") -> Path:
    """A new record's path (:func:`new_record_path`), made unique by creating it exclusively as
    an empty placeholder (:func:`reserve_path`): ``<label>-<UTC second>-<commit>.json``, or
    ``...-2.json``, ``...-3.json``, ... when other runs took that name in the same second. Write
    the record there with :func:`atomic_write_json`; :func:`load_records` ignores the placeholder
    until then (see the module doc for one left by a killed run)."""
    clean_stale(Path(runs_dir))
    return reserve_path(new_record_path(runs_dir, label))


def discard_placeholder(path: Path) -> bool:
    """Delete ``path`` if it is still an empty placeholder (a run that reserved it and then
    failed before writing); a written record is never touched. True if deleted."""
    try:
        if Path(path).stat().st_size != 0:
            return False
    except OSError:
        return False
    return _remove_if_empty(Path(path))


def write_new_record(rec: dict[str, Any], runs_dir: Path = RUNS_DIR, label: str = "local") -> Path:
    """Reserve a unique record path under ``runs_dir`` and write ``rec`` there atomically; if
    the write fails, the placeholder is removed again. Returns the path."""
    path = reserve_record_path(runs_dir, label)
    try:
        return atomic_write_json(path, rec)
    except BaseException:
        discard_placeholder(path)
        raise


def check_output_path(path: str | os.PathLike[str]) -> str | None:
    """None when a file can be written at ``path`` the way :func:`atomic_write_text` writes it,
    else a one-line reason. Call it before a run, so that a bad ``--out`` fails in a second
    instead of after the run. It checks that ``path`` is not a directory (nor another
    non-regular file), that its parent is a directory or can be created (no ancestor is a
    regular file), and that it is writable, by creating and removing a temporary file in the
    parent (or a temporary directory in the nearest existing ancestor); nothing is left behind."""
    text = os.fspath(path)
    if not str(text).strip():
        return "the output path is empty"
    p = Path(text)
    if str(text).endswith(("/", os.sep)) and not p.is_file():
        return f"{text} names a directory; give a file name"
    try:
        if p.is_dir():
            return f"{p} is a directory; give a file name inside it"
        if p.exists() and not p.is_file():
            return f"{p} exists and is not a regular file"
        parent = p.parent
        anc = parent
        while not anc.exists() and anc.parent != anc:
            anc = anc.parent
        if not anc.is_dir():
            return f"cannot write {p}: {anc} is not a directory"
        try:
            name_max = os.pathconf(anc, "PC_NAME_MAX")
        except (OSError, ValueError):
            name_max = 255
        if len(os.fsencode(f".{p.name}.12345678.tmp")) > name_max:  # the temporary file's name
            return f"cannot write {p}: the file name is too long ({len(os.fsencode(p.name))} bytes)"
    except OSError as e:
        return f"cannot write {p}: {e.strerror or e}"
    try:
        if anc == parent:
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
            os.close(fd)
            os.unlink(tmp)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".dlh-check-", dir=anc))
    except OSError as e:
        denied = e.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        where = f"{anc} is not writable" if denied else f"cannot create a file in {anc}"
        what = where if anc == parent else f"cannot create {parent} ({where})"
        return f"cannot write {p}: {what}: {e.strerror or e}"
    return None


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


# --------------------------------------------------------------------------------------------
# validating and loading
# --------------------------------------------------------------------------------------------
# Record schema, one table per level: ``"field:kind|kind"``, ``!`` marks a required field. Kinds:
# str, int, number (int or float, never bool), bool, dict, list, null. Only fields the report
# reads are checked; others pass.
def _schema(spec: str) -> dict[str, tuple[tuple[Any, ...], bool]]:
    out = {}
    for item in spec.split():
        name, _, kinds = item.partition(":")
        out[name] = (tuple(None if k == "null" else k for k in kinds.rstrip("!").split("|")), kinds.endswith("!"))
    return out


RECORD_FIELDS = _schema(
    "created:str! kind:str|null environment:dict suites:dict|null properties:list "
    "benchmarks:list runner:str|null invalid_suites:list|null bench_info:dict|null"
)
ENVIRONMENT_FIELDS = _schema(
    "git_commit:str|null git_dirty:bool|null cpu:str|null gpu:str|null torch:str|null"
)
SUITE_FIELDS = _schema(
    "title:str|null subject:str|null path:str|null sha256:str|null"
)
MATMUL_PEAK_FIELDS = _schema(
    "device:str! dtype:str! flops_per_s:number|null"
)
PROPERTY_FIELDS = _schema(
    "suite:str! property:str! device:str! dtype:str! status:str! check:str|null line:str|null "
    "outcome:dict|null"
)
OUTCOME_FIELDS = _schema(
    "error:number|null tolerance:str|null"
)
BENCHMARK_FIELDS = _schema(
    "suite:str! benchmark:str! workload:str! device:str! dtype:str! batch:int! status:str! "
    "reason:str|null median_s:number|null iqr_s:number|null samples_per_s:number|null "
    "flops_per_step:number|null fraction_of_peak:number|null peak_mem_bytes:number|null "
    "builtin:str|null builtin_ratio:number|null builtin_status:str|null"
)
_KIND_WORDS = {"str": "a string", "int": "an integer", "number": "a number", "bool": "true or false",
               "dict": "an object", "list": "a list", None: "null"}


class SkippedRecord(NamedTuple):
    """A file under the runs directory that is not used, and why (one line)."""

    file: str
    reason: str


def _is(v: Any, kind: Any) -> bool:
    if kind is None:
        return v is None
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "dict":
        return isinstance(v, dict)
    if kind == "list":
        return isinstance(v, list)
    raise ValueError(kind)


def _what(v: Any) -> str:
    """``a string ('abc')``, ``a number (3)``, ``null``: the JSON kind of ``v`` and a short repr."""
    if v is None:
        return "null"
    kind = next(k for k in ("bool", "str", "int", "number", "dict", "list", "") if not k or _is(v, k))
    text = json.dumps(v, default=str)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{_KIND_WORDS.get(kind, type(v).__name__)} ({text})"


def _check(obj: dict, fields: dict[str, tuple[tuple[Any, ...], bool]], where: str = "") -> str | None:
    """The first field of ``obj`` that is missing (when required) or of a kind not allowed."""
    for key, (kinds, required) in fields.items():
        if key not in obj:
            if required:
                return f"missing {where}{key!r}"
            continue
        if not any(_is(obj[key], k) for k in kinds):
            allowed = " or ".join(_KIND_WORDS[k] for k in kinds)
            return f"{where}{key!r} is {_what(obj[key])}, expected {allowed}"
    return None


def _row_problem(row: Any, fields: dict, nested: dict[str, dict] | None = None) -> str | None:
    if not isinstance(row, dict):
        return f"not an object but {_what(row)}"
    problem = _check(row, fields)
    for key, sub in (nested or {}).items():
        if problem is None and isinstance(row.get(key), dict):
            problem = _check(row[key], sub, f"{key}.")
    return problem


def _row_name(row: Any) -> str:
    if not isinstance(row, dict):
        return ""
    parts = [row.get(k) for k in ("suite", "property", "benchmark", "device", "dtype") if isinstance(row.get(k), str)]
    if _is(row.get("batch"), "int"):
        parts.append(f"b{row['batch']}")
    text = " ".join(parts)
    return f" ({text[:60]})" if text else ""


def validate_record(rec: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """Check ``rec`` against the record schema (the ``*_FIELDS`` tables above).

    Returns ``(None, [reason])`` when the record as a whole is unusable (not an object, another
    schema, a top-level or ``environment`` field of the wrong kind), else ``(clean, dropped)``:
    a shallow copy without the rows (``properties``, ``benchmarks``), ``suites`` entries and
    ``bench_info.matmul_peaks`` entries that fail their schema, and one line per dropped item.
    """
    if not isinstance(rec, dict):
        return None, [f"not a JSON object but {_what(rec)}"]
    if "schema" not in rec:
        return None, ["not a dlharness record (no 'schema' key)"]
    if not _is(rec["schema"], "number") or rec["schema"] != SCHEMA:
        return None, [f"'schema' is {_what(rec['schema'])}; this harness reads schema {SCHEMA}"]
    problem = _check(rec, RECORD_FIELDS) or _check(rec.get("environment") or {}, ENVIRONMENT_FIELDS, "environment.")
    if problem:
        return None, [problem]
    clean = {k: v for k, v in rec.items() if k not in ("_file", "_dropped")}
    dropped: list[str] = []
    if rec.get("suites"):
        suites = {}
        for name, info in rec["suites"].items():
            problem = _row_problem(info, SUITE_FIELDS)
            if problem:
                dropped.append(f"suites[{name!r}] dropped: {problem}")
            else:
                suites[name] = info
        clean["suites"] = suites
    info = rec.get("bench_info")
    if isinstance(info, dict) and "matmul_peaks" in info:
        peaks = info["matmul_peaks"]
        if not isinstance(peaks, list):
            dropped.append(f"bench_info.matmul_peaks dropped: it is {_what(peaks)}, expected a list")
            peaks = []
        good = []
        for i, pk in enumerate(peaks):
            problem = _row_problem(pk, MATMUL_PEAK_FIELDS)
            if problem:
                dropped.append(f"bench_info.matmul_peaks[{i}] dropped: {problem}")
            else:
                good.append(pk)
        clean["bench_info"] = {**info, "matmul_peaks": good}
    for key, fields, nested in (("properties", PROPERTY_FIELDS, {"outcome": OUTCOME_FIELDS}),
                                ("benchmarks", BENCHMARK_FIELDS, None)):
        if key not in rec:
            continue
        good = []
        for i, row in enumerate(rec[key]):
            problem = _row_problem(row, fields, nested)
            if problem:
                dropped.append(f"{key}[{i}]{_row_name(row)} dropped: {problem}")
            else:
                good.append(row)
        clean[key] = good
    return clean, dropped


def load_record(path: Path, skipped: list[SkippedRecord] | None = None) -> dict[str, Any] | None:
    """The record in ``path``, validated (:func:`validate_record`, with ``_file`` set and, if
    rows were dropped, ``_dropped`` listing them), or None: an empty file (a placeholder, see
    the module doc) silently, anything unreadable or invalid with a :class:`SkippedRecord`
    appended to ``skipped``."""
    path = Path(path)

    def skip(reason: str) -> None:
        if skipped is not None:
            skipped.append(SkippedRecord(str(path), reason))

    try:
        data = path.read_bytes()
    except OSError as e:
        skip(f"unreadable: {e.strerror or e}")
        return None
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        skip(f"not UTF-8 text (byte {e.start})")
        return None
    try:
        raw = json.loads(text)
    except ValueError as e:
        skip(f"invalid JSON: {e}")
        return None
    except RecursionError:
        skip("invalid JSON: nested too deeply")
        return None
    rec, problems = validate_record(raw)
    if rec is None:
        skip(problems[0])
        return None
    rec["_file"] = str(path)
    if problems:
        rec["_dropped"] = problems
    return rec


def load_records(runs_dir: Path = RUNS_DIR, skipped: list[SkippedRecord] | None = None) -> list[dict[str, Any]]:
    """Every valid record under ``runs_dir`` (``*.json``), oldest first (:func:`load_record`).
    Empty placeholders are ignored; files that are unreadable, not JSON or not a valid record
    are left out, each with a :class:`SkippedRecord` appended to ``skipped`` when given. Stale
    leftovers of killed runs are deleted first (:func:`clean_stale`)."""
    runs_dir = Path(runs_dir)
    clean_stale(runs_dir)
    out = []
    for f in sorted(runs_dir.glob("*.json")):
        rec = load_record(f, skipped)
        if rec is not None:
            out.append(rec)
    return sorted(out, key=lambda r: r["created"])


def frames(records: list[dict[str, Any]]):
    """``(properties, benchmarks)`` DataFrames over ``records``, one row per case, with the
    record's file, time, commit, CPU and GPU as columns. Records are validated again
    (:func:`validate_record`): invalid ones and invalid rows are left out, and every column the
    schema names exists (missing values are None)."""
    import pandas as pd

    prop_rows, bench_rows = [], []
    for raw in records:
        rec, _ = validate_record(raw)
        if rec is None:
            continue
        env = rec.get("environment") or {}
        meta = {"record": Path(raw.get("_file") or "").name, "created": rec.get("created"),
                "commit": (env.get("git_commit") or "")[:10], "cpu": env.get("cpu"), "gpu": env.get("gpu"),
                "torch": env.get("torch")}
        for p in rec.get("properties", []):
            o = p.get("outcome") or {}
            # the record's columns win over a row's keys of the same name (order kept: meta first)
            prop_rows.append({**meta, **{k: v for k, v in p.items() if k != "outcome"}, **meta,
                              "error": o.get("error"), "tolerance": o.get("tolerance")})
        for b in rec.get("benchmarks", []):
            bench_rows.append({**meta, **b, **meta})

    def frame(rows: list[dict], fields: dict) -> Any:
        df = pd.DataFrame(rows)
        if rows:
            for col in fields:
                if col not in df:
                    df[col] = None
        return df

    prop_fields = {k: v for k, v in PROPERTY_FIELDS.items() if k != "outcome"}
    return frame(prop_rows, prop_fields), frame(bench_rows, BENCHMARK_FIELDS)
