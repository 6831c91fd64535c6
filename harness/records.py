"""Run records: JSON files under ``results/runs/``, written atomically, loaded into pandas.

A record is ``{"schema": 1, "kind": "run", "created": ..., "environment": {...},
"suites": {name: {path, sha256, seed, subject}}, "properties": [...], "benchmarks": [...]}``.
``properties`` rows are :meth:`harness.executor.PropertyResult.to_dict`; ``benchmarks`` rows
are :meth:`harness.bench.BenchRow.to_dict`. Writing goes to a temporary file in the same directory and is
renamed into place, so an interrupted run never leaves half a record. Records are written compact
(:func:`make_record` -> :func:`compact_record`, one row per line: :func:`record_json`): read them
with :func:`load_record` / :func:`load_records`, which give whole rows back.

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
import math
import os
import platform
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, NamedTuple

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

    from harness.context import property_threads  # here, not at the top: reading records needs no torch

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
    """``obj`` as JSON at ``path`` (:func:`atomic_write_text`); a record (:func:`record_json`)
    with one row per line."""
    return atomic_write_text(path, record_json(obj))


def record_json(obj: Any) -> str:
    """JSON text of ``obj``, indented; for a record (an object with ``schema``), each row of
    ``properties`` and ``benchmarks`` on one line without spaces: small, and a diff of two
    records is a diff of rows."""
    if not (isinstance(obj, dict) and "schema" in obj):
        return json.dumps(obj, indent=1, sort_keys=False, default=str)
    items = []
    for k, v in obj.items():
        if k in ("properties", "benchmarks") and isinstance(v, list) and v:
            body = ",\n".join("  " + json.dumps(r, separators=(",", ":"), ensure_ascii=False, default=str) for r in v)
            text = f"[\n{body}\n ]"
        else:
            text = json.dumps(v, indent=1, sort_keys=False, ensure_ascii=False, default=str).replace("\n", "\n ")
        items.append(f" {json.dumps(str(k), ensure_ascii=False)}: {text}")
    return "{\n" + ",\n".join(items) + "\n}"


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
    """A record of ``properties`` and ``benchmarks`` rows, compact (see :func:`compact_record`):
    the outcome text of a row that did not fail is kept short; with ``suites`` (the harness's
    own runners), rows are stored relative to the suites table and to each other, and
    :func:`validate_record` (hence every loader) restores them whole."""
    rec = {
        "schema": SCHEMA,
        "kind": "run",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "suites": suite_info(suites),
        "properties": properties or [],
        "benchmarks": benchmarks or [],
        **extra,
    }
    return compact_record(rec)


# --------------------------------------------------------------------------------------------
# compact records
# --------------------------------------------------------------------------------------------
# A full ``harness run`` is over 1,200 property rows and ~400 benchmark rows. Written whole they
# weigh over 1 MB, mostly the same strings again and again (a pass's statement twice, the
# subject, the nodeid, the skip reason). Two steps bring that to about a quarter (the
# committed full run of 2026-11-24: 914 KB -> 206 KB); only the second needs undoing:
#
# 1. text (every record, :func:`short_property_row`): a row that did not fail (any status but
#    FULL_TEXT) keeps a short outcome -- passed, error to 4 significant digits, tolerance,
#    statement and observed/expected cut to a few words, no detail -- and a line of at most
#    SHORT_LINE characters; seconds keep 3 significant digits (a skipped case: 0). Failures,
#    errors, unexpected passes and timeouts keep their text whole.
# 2. rows (records with a suites table: ``harness run`` / ``harness bench``, whose rows come in
#    case order): the outcome of a row that did not fail keeps its numbers (passed, error,
#    tolerance; its words are the head of its line), benchmark numbers keep 6 significant
#    digits, and the record's ``compact`` key says, per list, how its rows leave out what is
#    restored exactly:
#    ``chains`` ``[key fields, fields]``: a field (``a.b``: key ``b`` of the object ``a``) equal to
#      that of the previous row with the same key values is left out (no key fields: the
#      previous row); chains apply in order, so one may restore the key fields of the next
#      (the suite and property of the row before; the subject, seed, location of the same
#      property on another device or dtype; the reason of the previous skip on the device);
#    ``defaults``: a field equal to its empty value (null, [], "") is left out when no chain
#      speaks for it;
#    ``derive``: a field equal to its template filled from the row and its suite's entry in the
#      suites table is left out (``nodeid``; ``check`` = the property; ``subject`` = the suite's
#      reference implementation -- any other subject is always written out);
#    ``quotients`` ``[field, numerator, denominator]``: a field equal to the quotient of two
#      others, to 6 significant digits, is left out (samples/s = batch / median seconds, ...);
#    ``decimals``: a list of short decimals is written as integers and one exponent
#      (``samples_s``: ``{"e": -8, "m": [3795, ...]}`` for ``[3.795e-05, ...]``).
#    :func:`expand_rows` undoes it (``validate_record`` calls it, so every loader sees whole
#    rows); a list that would not come back exactly is stored whole. Read a record with
#    :func:`load_record`, not with ``json.load``: a compact row lacks what it shares.
FULL_TEXT = frozenset({"failed", "error", "xpassed", "timeout"})
SHORT_LINE = 80        # characters of a line kept for a row that did not fail
SHORT_STATEMENT = 80   # ... of its outcome's statement
SHORT_VALUE = 48       # ... of its outcome's observed / expected
COMPACT_ROWS: dict[str, dict[str, Any]] = {
    "properties": {"chains": [[[], ["suite", "property", "device"]],
                              [["suite", "property"], ["check", "seed", "subject", "location"]],
                              [["suite", "property", "device"], ["status", "marks"]],
                              [["status", "device"], ["line", "seconds"]],
                              [["status"], ["outcome.passed"]],
                              [["device", "dtype"], ["outcome.tolerance"]]],
                   "derive": {"nodeid": "{path}::{property}[{device}-{dtype}]", "check": "{property}",
                              "subject": "{reference}"}},
    "benchmarks": {"chains": [[[], ["suite", "workload", "device", "dtype"]],
                              [["suite", "benchmark", "device"], ["status"]],
                              [["suite", "benchmark"], ["line", "builtin"]],
                              [["device", "dtype"], ["peak_flops_per_s"]],
                              [["status", "device"], ["reason", "threads", "flops_label", "min_run_time", "number_per_run",
                                                      "unstable", "remeasured", "peak_valid"]]],
                   "derive": {"nodeid": "{path}::bench_{benchmark}[{device}-{dtype}-b{batch}]", "subject": "{reference}"},
                   "quotients": [["samples_per_s", "batch", "median_s"], ["achieved_flops_per_s", "flops_per_step", "median_s"],
                                 ["fraction_of_peak", "achieved_flops_per_s", "peak_flops_per_s"]],
                   "decimals": ["samples_s"]},
}
QUOTIENT_DIGITS = 6  # a quotient field is restored as numerator / denominator to this many significant digits
_EMPTY = (None, [], "")
_ABSENT = object()


def _cut(text: Any, n: int) -> Any:
    return text if not isinstance(text, str) or len(text) <= n else text[: n - 1] + "\u2026"


def _sig(x: Any, digits: int) -> Any:
    if isinstance(x, float) and x == x and x not in (float("inf"), float("-inf")) and x != 0.0:
        return float(f"{x:.{digits}g}")
    return x


def short_outcome(o: dict) -> dict:
    """A passing outcome kept short: its numbers (error to 4 significant digits, tolerance,
    other numeric fields), observed/expected and the statement cut to a few words; no detail."""
    out: dict[str, Any] = {}
    for k, v in o.items():
        if k == "detail" or (v in _EMPTY and k not in ("error", "tolerance")):
            continue
        if k == "statement":
            out[k] = _cut(v, SHORT_STATEMENT)
        elif k in ("observed", "expected"):
            out[k] = _cut(v, SHORT_VALUE)
        elif k == "error":
            out[k] = _sig(v, 4)
        elif k == "tolerance" or isinstance(v, (bool, int, float)):
            out[k] = v
    return out


def short_property_row(row: Any) -> Any:
    """``row`` with its text kept short unless it failed (:data:`FULL_TEXT`); seconds to 3
    significant digits (0 for a skipped case). Anything not a row object is returned as it is."""
    if not isinstance(row, dict):
        return row
    r = dict(row)
    if isinstance(r.get("seconds"), float):  # a skipped case did not run: it took no time worth keeping
        r["seconds"] = 0.0 if r.get("status") == "skipped" else _sig(r["seconds"], 3)
    if r.get("status") in FULL_TEXT:
        return r
    if isinstance(r.get("outcome"), dict):
        r["outcome"] = short_outcome(r["outcome"])
    if "line" in r:
        r["line"] = _cut(r["line"], SHORT_LINE)
    return r


def _numbers_only(row: dict) -> dict:
    """A non-failing row's outcome reduced to its numbers (step 2 above)."""
    o = row.get("outcome")
    if row.get("status") in FULL_TEXT or not isinstance(o, dict):
        return row
    return {**row, "outcome": {k: v for k, v in o.items() if k in ("passed", "error", "tolerance")
                               or (isinstance(v, (int, float)) and not isinstance(v, bool))}}


def _get(row: dict, f: str) -> Any:
    if "." in f:
        a, b = f.split(".", 1)
        sub = row.get(a)
        return sub.get(b, _ABSENT) if isinstance(sub, dict) else _ABSENT
    return row.get(f, _ABSENT)


def _drop(row: dict, f: str) -> None:
    if "." in f:
        a, b = f.split(".", 1)
        row[a] = {k: v for k, v in row[a].items() if k != b}
    else:
        del row[f]


def _put(row: dict, f: str, v: Any) -> None:
    if "." in f:
        a, b = f.split(".", 1)
        if isinstance(row.get(a), dict) and b not in row[a]:
            row[a] = {**row[a], b: v}
    elif f not in row:
        row[f] = v


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _derive(template: str, row: dict, suites: dict) -> str | None:
    """``template`` filled from ``row`` and its suite's entry in the suites table: ``{path}``,
    and ``{reference}``, the label of the suite's reference implementation (only for a suite
    whose subject is its reference: a third-party subject is always written out)."""
    info = suites.get(row.get("suite")) if isinstance(suites, dict) and isinstance(row.get("suite"), str) else None
    values = dict(row)
    values.pop("reference", None)
    values["path"] = info.get("path") if isinstance(info, dict) else None
    if isinstance(info, dict) and info.get("subject_kind") == "reference" and isinstance(info.get("subject"), str):
        values["reference"] = f"{info['subject']} (reference)"
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return None


def _walk(rows: list, spec: dict, suites: dict, compact: bool) -> list:
    """Compact (``compact``) or expand ``rows`` by ``spec`` (see the notes above): one pass
    over the rows in order, each chain remembering the previous whole row per key. Chains
    apply in order, so that a chain may restore the key fields of a later one (a chain with
    no key fields looks at the previous row)."""
    chains = [(tuple(key), tuple(fields), {}) for key, fields in spec.get("chains", [])]
    defaults = list(spec.get("defaults", {}).items())
    derive = list(spec.get("derive", {}).items())
    quotients = [tuple(q) for q in spec.get("quotients", [])]
    decimals = list(spec.get("decimals", []))
    derived = {f for f, _ in derive} | {q[0] for q in quotients}
    out = []
    for row in rows:
        if not isinstance(row, dict):
            out.append(row)
            continue
        r = dict(row)
        src = row if compact else r  # expanding: key fields as restored so far
        keys = []
        given: set[str] = set()  # fields a chain speaks for (a default or a template never does)
        for key, fields, seen in chains:
            k = tuple(map(src.get, key))
            try:
                prev = seen.get(k)
            except TypeError:  # an unhashable key value (a list): compare it as JSON
                k = tuple(_hashable(v) for v in k)
                prev = seen.get(k)
            keys.append(k)
            if prev is None:
                continue
            for f in fields:
                if f in given:
                    continue
                v = _get(prev, f)
                if v is _ABSENT:
                    continue
                given.add(f)
                if not compact:
                    _put(r, f, v)
                elif _same(_get(row, f), v):
                    _drop(r, f)
        if compact:
            whole = row
            for f, template in derive:
                if f in r and f not in given and _same(_derive(template, row, suites), r[f]):
                    del r[f]
            for f, num, den in quotients:
                if f in r and f not in given and _same(_quotient(row.get(num), row.get(den)), r[f]):
                    del r[f]
            for f in decimals:
                if isinstance(r.get(f), list):
                    r[f] = _to_decimals(r[f])
            for f, v in defaults:
                if f in r and f not in given and f not in derived and _same(r[f], v):
                    del r[f]
        else:
            for f, v in defaults:
                if f not in r and f not in given and f not in derived:
                    r[f] = list(v) if isinstance(v, list) else v
            for f, template in derive:
                if f not in r and f not in given:
                    v = _derive(template, r, suites)
                    if v is not None:
                        r[f] = v
            for f, num, den in quotients:
                if f not in r and f not in given:
                    r[f] = _quotient(r.get(num), r.get(den))
            for f in decimals:
                if isinstance(r.get(f), dict):
                    r[f] = _from_decimals(r[f])
            whole = r
        for (_, _, seen), k in zip(chains, keys):
            seen[k] = whole
        out.append(r)
    return out


def _quotient(num: Any, den: Any) -> float | None:
    """``num / den`` to :data:`QUOTIENT_DIGITS` significant digits; None unless both are
    numbers and ``den`` is not 0."""
    ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (num, den))
    return _sig(float(num / den), QUOTIENT_DIGITS) if ok and den else None


def _to_decimals(values: list) -> Any:
    """A list of numbers as ``{"e": e, "m": [m, ...]}`` (each value ``m × 10**e``, ``e`` shared:
    ``3.795e-05`` is 3795 at e = -8), when that is shorter and restores every value exactly;
    else the list as it is. For samples rounded to a few significant digits."""
    import decimal

    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return values
    decs = [decimal.Decimal(repr(float(v))) for v in values]
    e = min(d.as_tuple().exponent for d in decs)
    packed = {"e": e, "m": [int(d.scaleb(-e)) for d in decs]}
    if _from_decimals(packed) != [float(v) for v in values] or any(type(v) is not float for v in values):
        return values
    plain, short = json.dumps(values, separators=(",", ":")), json.dumps(packed, separators=(",", ":"))
    return packed if len(short) < len(plain) else values


def _from_decimals(packed: dict) -> Any:
    """The list of :func:`_to_decimals`; the value as it is when it is not such an object."""
    e, m = packed.get("e"), packed.get("m")
    if not (isinstance(e, int) and isinstance(m, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in m)):
        return packed
    return [float(f"{x}e{e}") for x in m]


def _hashable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None))) else json.dumps(v, sort_keys=True, default=str)


def compact_record(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` made small (see the notes above :data:`FULL_TEXT`): property text kept short
    unless a row failed; with a suites table, rows stored relative to it and to each other
    under a ``compact`` key that :func:`expand_rows` reads. A record already compact is only
    shortened."""
    rec = dict(rec)
    if isinstance(rec.get("properties"), list):
        rec["properties"] = [short_property_row(r) for r in rec["properties"]]
    suites = rec.get("suites")
    if not suites or not isinstance(suites, dict) or "compact" in rec:
        return rec
    specs: dict[str, Any] = {}
    for key, base in COMPACT_ROWS.items():
        rows = rec.get(key)
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            continue
        names = list(dict.fromkeys(f for r in rows for f in r))
        if any(len(r) != len(names) for r in rows):  # a row lacking a field: "absent" cannot be said
            continue
        if key == "benchmarks":
            rows = [{f: _sig(v, 6) for f, v in r.items()} for r in rows]
        else:
            rows = [_numbers_only(r) for r in rows]
        keyed = {f for k, _ in base["chains"] for f in k}  # a key is left out by chains only
        defaults: dict[str, Any] = {}
        for f in (f for f in names if f not in keyed):
            for r in rows:
                if r[f] in _EMPTY and not isinstance(r[f], bool):
                    defaults.setdefault(f, r[f])
                    break
        top = lambda f: f.split(".", 1)[0]  # noqa: E731
        spec = {"chains": [[k, [f for f in fs if top(f) in names]] for k, fs in base["chains"]
                           if all(f in names for f in k)],
                "defaults": defaults,
                "derive": {f: t for f, t in base["derive"].items() if f in names},
                "quotients": [q for q in base.get("quotients", []) if all(f in names for f in q)]}
        if not spec["quotients"]:
            del spec["quotients"]
        decimals = [f for f in base.get("decimals", []) if f in names]
        if decimals:
            spec["decimals"] = decimals
        spec["chains"] = [c for c in spec["chains"] if c[1]]
        packed = _walk(rows, spec, suites, compact=True)
        if _walk(packed, spec, suites, compact=False) != rows:  # never store what cannot be restored
            continue
        rec[key] = packed
        specs[key] = spec
    if specs:
        rec["compact"] = specs
    return rec


def expand_rows(rec: dict[str, Any], key: str) -> Any:
    """The rows ``rec[key]`` whole again (undoing :func:`compact_record`); as they are when
    the record has no ``compact`` entry for ``key``. Raises ValueError for a malformed one."""
    rows = rec.get(key)
    spec = _row_spec(rec, key)
    if spec is None or not isinstance(rows, list):
        return rows
    return _walk(rows, spec, rec.get("suites") or {}, compact=False)


def _row_spec(rec: dict[str, Any], key: str) -> dict | None:
    """The record's ``compact`` entry for ``key`` (None when it has none); ValueError when it
    is not one this harness reads."""
    spec = rec.get("compact").get(key) if isinstance(rec.get("compact"), dict) else None
    if spec is None:
        return None

    def names(x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(n, str) for n in x)

    chains = spec.get("chains", []) if isinstance(spec, dict) else None
    if not (isinstance(chains, list) and all(isinstance(c, list) and len(c) == 2 and names(c[0]) and names(c[1])
                                             for c in chains)
            and isinstance(spec.get("defaults", {}), dict) and isinstance(spec.get("derive", {}), dict)
            and all(isinstance(t, str) for t in spec.get("derive", {}).values())
            and isinstance(spec.get("quotients", []), list)
            and all(names(q) and len(q) == 3 for q in spec.get("quotients", []))
            and names(spec.get("decimals", []))):
        raise ValueError(f"'compact.{key}' is not a row encoding this harness reads")
    return spec


def complete_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A record read with some row lists left as they are (``validate_record(..., rows=...)``,
    ``load_record(..., rows=...)``), with those rows checked and whole too; ``rec`` itself when
    nothing is pending. Rows dropped now are added to ``_dropped``."""
    pending = rec.get("_pending")
    if not pending:
        return rec
    done, problems = validate_record(rec, rows=tuple(pending))
    if done is None:  # cannot happen: the record passed before; keep what we have
        return rec
    done.pop("_pending", None)  # the other lists were whole already
    for key in ("_file",):
        if key in rec:
            done[key] = rec[key]
    dropped = list(rec.get("_dropped") or []) + problems
    if dropped:
        done["_dropped"] = dropped
    return done


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
    "benchmarks:list runner:str|null invalid_suites:list|null bench_info:dict|null compact:dict|null"
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


_PY_TYPES = {"str": (str,), "int": (int,), "number": (int, float), "bool": (bool,), "dict": (dict,),
             "list": (list,), None: (type(None),)}
_COMPILED: dict[int, tuple[dict, list]] = {}


def _compiled(fields: dict[str, tuple[tuple[Any, ...], bool]]) -> list[tuple[str, frozenset, tuple, bool, bool, tuple]]:
    """``fields`` as ``(key, exact types, Python types, bool allowed, required, kinds)``: what
    :func:`_check` tests with one set lookup per field for what ``json`` makes, else one
    ``isinstance`` (a bool is an int to Python, never to a record)."""
    hit = _COMPILED.get(id(fields))
    if hit is None or hit[0] is not fields:
        rows = []
        for key, (kinds, required) in fields.items():
            types = tuple(t for k in kinds for t in _PY_TYPES[k])
            rows.append((key, frozenset(types) | ({bool} if "bool" in kinds else set()), types, "bool" in kinds,
                         required, kinds))
        hit = _COMPILED[id(fields)] = (fields, rows)
    return hit[1]


def _check(obj: dict, fields: dict[str, tuple[tuple[Any, ...], bool]], where: str = "") -> str | None:
    """The first field of ``obj`` that is missing (when required) or of a kind not allowed."""
    for key, exact, types, bool_ok, required, kinds in _compiled(fields):
        v = obj.get(key, _ABSENT)
        if v.__class__ in exact:
            continue
        if v is _ABSENT:
            if required:
                return f"missing {where}{key!r}"
            continue
        if not isinstance(v, types) or (v.__class__ is bool and not bool_ok):
            allowed = " or ".join(_KIND_WORDS[k] for k in kinds)
            return f"{where}{key!r} is {_what(v)}, expected {allowed}"
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


ROW_LISTS = ("properties", "benchmarks")


def validate_record(rec: Any, rows: Iterable[str] = ROW_LISTS) -> tuple[dict[str, Any] | None, list[str]]:
    """Check ``rec`` against the record schema (the ``*_FIELDS`` tables above).

    Returns ``(None, [reason])`` when the record as a whole is unusable (not an object, another
    schema, a top-level or ``environment`` field of the wrong kind, a ``compact`` entry this
    harness cannot read), else ``(clean, dropped)``: a shallow copy with compact rows whole again
    (:func:`expand_rows`), without the rows (``properties``, ``benchmarks``), ``suites`` entries
    and ``bench_info.matmul_peaks`` entries that fail their schema, and one line per dropped item.

    Only the row lists named in ``rows`` are checked (and made whole); the others are kept as
    they are, named in the clean record's ``_pending`` (with their ``compact`` entry): see
    :func:`complete_record`. Reading many records, rows that may never be shown cost nothing.
    """
    rows = tuple(rows)
    if not isinstance(rec, dict):
        return None, [f"not a JSON object but {_what(rec)}"]
    if "schema" not in rec:
        return None, ["not a dlharness record (no 'schema' key)"]
    if not _is(rec["schema"], "number") or rec["schema"] != SCHEMA:
        return None, [f"'schema' is {_what(rec['schema'])}; this harness reads schema {SCHEMA}"]
    problem = _check(rec, RECORD_FIELDS) or _check(rec.get("environment") or {}, ENVIRONMENT_FIELDS, "environment.")
    if problem:
        return None, [problem]
    clean = {k: v for k, v in rec.items() if k not in ("_file", "_dropped", "compact", "_pending")}
    pending: dict[str, Any] = {}
    for key in ROW_LISTS:  # compact rows whole again (see compact_record)
        try:
            if key in rec and key in rows:
                clean[key] = expand_rows(rec, key)
            elif key in rec:
                pending[key] = _row_spec(rec, key)
        except ValueError as e:
            return None, [str(e)]
    if pending:
        clean["_pending"] = list(pending)
        specs = {k: v for k, v in pending.items() if v is not None}
        if specs:
            clean["compact"] = specs
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
        if key not in rec or key not in rows:
            continue
        good = []
        for i, row in enumerate(clean[key]):
            problem = _row_problem(row, fields, nested)
            if problem:
                dropped.append(f"{key}[{i}]{_row_name(row)} dropped: {problem}")
            else:
                good.append(row)
        clean[key] = good
    return clean, dropped


def load_record(path: Path, skipped: list[SkippedRecord] | None = None,
                rows: Iterable[str] = ROW_LISTS) -> dict[str, Any] | None:
    """The record in ``path``, validated (:func:`validate_record`, with ``_file`` set and, if
    rows were dropped, ``_dropped`` listing them; row lists not in ``rows`` are left for
    :func:`complete_record`), or None: an empty file (a placeholder, see the module doc)
    silently, anything unreadable or invalid with a :class:`SkippedRecord` appended to
    ``skipped``."""
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
    rec, problems = validate_record(raw, rows)
    if rec is None:
        skip(problems[0])
        return None
    rec["_file"] = str(path)
    if problems:
        rec["_dropped"] = problems
    return rec


def load_records(runs_dir: Path = RUNS_DIR, skipped: list[SkippedRecord] | None = None,
                 rows: Iterable[str] = ROW_LISTS) -> list[dict[str, Any]]:
    """Every valid record under ``runs_dir`` (``*.json``), oldest first (:func:`load_record`).
    Empty placeholders are ignored; files that are unreadable, not JSON or not a valid record
    are left out, each with a :class:`SkippedRecord` appended to ``skipped`` when given. Stale
    leftovers of killed runs are deleted first (:func:`clean_stale`)."""
    runs_dir = Path(runs_dir)
    clean_stale(runs_dir)
    out = []
    for f in sorted(runs_dir.glob("*.json")):
        rec = load_record(f, skipped, rows)
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
