"""Nothing is lost: unique record names under concurrency, placeholders and leftover temporary
files never read as records (and cleaned when stale), output paths checked before a run,
malformed records skipped with a reason, and environment variables validated."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import records
from harness.context import EnvError, check_env, env_int, property_threads
from harness.records import (SkippedRecord, atomic_write_json, atomic_write_text, check_output_path, clean_stale,
                             discard_placeholder, frames, load_record, load_records, reserve_path,
                             reserve_record_path, validate_record, write_new_record)

GOOD = {"schema": 1, "kind": "run", "created": "2026-01-01T00:00:00+00:00",
        "environment": {"git_commit": "abc", "cpu": "Fixture CPU", "gpu": None, "torch": "2"},
        "suites": {"tiny": {"title": "Tiny", "subject": "x", "path": "suites/tiny.yaml", "sha256": "0" * 64}},
        "properties": [{"suite": "tiny", "property": "p", "check": "c", "device": "cpu", "dtype": "float64",
                        "status": "passed", "line": "holds", "outcome": {"error": 1e-16, "tolerance": "atol 1"}}],
        "benchmarks": [{"suite": "tiny", "benchmark": "fwd", "workload": "forward", "device": "cpu",
                        "dtype": "float32", "batch": 8, "status": "ok", "median_s": 1e-3, "samples_per_s": 8e3}]}
FROZEN = "local-20260101T000000Z-abc1234.json"


def _frozen_name(monkeypatch) -> None:
    """Every run "starts in the same second" at the same commit."""
    monkeypatch.setattr(records, "new_record_path", lambda runs_dir=records.RUNS_DIR, label="local": Path(runs_dir) / FROZEN)


def _old(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


# --------------------------------------------------------------------------------------------
# unique names
# --------------------------------------------------------------------------------------------
def test_threads_reserving_in_the_same_second_get_different_paths(tmp_path, monkeypatch):
    _frozen_name(monkeypatch)
    n = 16
    barrier = threading.Barrier(n)

    def reserve(_: int) -> Path:
        barrier.wait()
        return reserve_record_path(tmp_path / "runs", "local")

    with ThreadPoolExecutor(n) as pool:
        paths = list(pool.map(reserve, range(n)))
    assert len(set(paths)) == n
    assert all(p.exists() and p.stat().st_size == 0 for p in paths)
    assert sorted(p.name for p in paths) == sorted([FROZEN] + [FROZEN.replace(".json", f"-{i}.json") for i in range(2, n + 1)])


def _reserve_in_child(runs: str) -> str:
    return str(reserve_record_path(Path(runs), "local"))


def test_processes_reserving_in_the_same_second_get_different_paths(tmp_path, monkeypatch):
    _frozen_name(monkeypatch)  # inherited by the forked workers
    runs = tmp_path / "runs"
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        paths = list(pool.map(_reserve_in_child, [str(runs)] * 12))
    assert len(set(paths)) == 12 and len(list(runs.iterdir())) == 12


def test_reserve_falls_back_to_a_random_token(tmp_path):
    first = reserve_path(tmp_path / "r.json", numbered=2)
    second = reserve_path(tmp_path / "r.json", numbered=2)
    third = reserve_path(tmp_path / "r.json", numbered=2)
    assert (first.name, second.name) == ("r.json", "r-2.json")
    assert third.name.startswith("r-") and third.suffix == ".json" and len(third.stem) == len("r-") + 8


def test_placeholder_is_ignored_then_replaced_atomically(tmp_path):
    runs = tmp_path / "runs"
    path = reserve_record_path(runs, "lab el/x")
    assert path.parent == runs and path.name.startswith("lab_el_x-")
    skipped: list[SkippedRecord] = []
    assert load_records(runs, skipped) == [] and skipped == []  # a run in progress: not a record, not an error
    atomic_write_json(path, GOOD)
    [rec] = load_records(runs, skipped)
    assert rec["_file"] == str(path) and skipped == []
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in runs.iterdir()) == [path.name]  # no temporary file left


def test_write_new_record_never_overwrites_and_cleans_up_on_failure(tmp_path, monkeypatch):
    _frozen_name(monkeypatch)
    a = write_new_record({**GOOD, "created": "a"}, tmp_path)
    b = write_new_record({**GOOD, "created": "b"}, tmp_path)
    assert a != b and [r["created"] for r in load_records(tmp_path)] == ["a", "b"]

    class Boom:
        def __str__(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_new_record({**GOOD, "x": Boom()}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name])  # no placeholder, no tmp
    assert not discard_placeholder(a) and a.exists()  # a written record is never discarded


def test_stale_placeholders_are_deleted_fresh_ones_kept(tmp_path):
    fresh = reserve_path(tmp_path / "fresh.json")
    stale = reserve_path(tmp_path / "stale.json")
    _old(stale, records.PLACEHOLDER_MAX_AGE_S + 60)
    written = tmp_path / "old-record.json"
    atomic_write_json(written, GOOD)
    _old(written, records.PLACEHOLDER_MAX_AGE_S + 60)  # old but not empty: a record, kept
    assert [r["_file"] for r in load_records(tmp_path)] == [str(written)]
    assert fresh.exists() and not stale.exists() and written.exists()


# --------------------------------------------------------------------------------------------
# leftover temporary files
# --------------------------------------------------------------------------------------------
def _killed_writer(target: str) -> None:
    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # die after writing, before the rename
    atomic_write_json(Path(target), GOOD)


def test_a_killed_write_leaves_a_tmp_file_that_is_never_a_record(tmp_path):
    target = tmp_path / "runs" / "r.json"
    target.parent.mkdir()
    child = multiprocessing.get_context("fork").Process(target=_killed_writer, args=(str(target),))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    [tmp] = list(target.parent.iterdir())
    assert tmp.name.startswith(".r.json.") and tmp.name.endswith(".tmp") and records._TMP_NAME.match(tmp.name)
    assert json.loads(tmp.read_text())["created"] == GOOD["created"]  # a whole record's text...
    assert not list(target.parent.glob("*.json"))  # ...that the records glob never matches
    skipped: list[SkippedRecord] = []
    assert load_records(target.parent, skipped) == [] and skipped == []
    assert tmp.exists()  # fresh: maybe a write in progress, left alone
    _old(tmp, records.TMP_MAX_AGE_S + 60)
    load_records(target.parent)
    assert not tmp.exists()


def test_stale_tmp_files_are_cleaned_when_writing(tmp_path):
    stale = tmp_path / ".report.html.abcd_123.tmp"
    fresh = tmp_path / ".report.html.zzzz9999.tmp"
    foreign = tmp_path / ".someone-else.tmp"  # not our pattern: never touched
    for f in (stale, fresh, foreign):
        f.write_text("partial")
        _old(f, records.TMP_MAX_AGE_S + 60) if f is not fresh else None
    atomic_write_text(tmp_path / "report.html", "<html></html>")
    assert not stale.exists() and fresh.exists() and foreign.exists()
    assert clean_stale(tmp_path, now=time.time() + records.TMP_MAX_AGE_S + 120) == [fresh]


# --------------------------------------------------------------------------------------------
# output paths
# --------------------------------------------------------------------------------------------
def test_check_output_path_accepts_fine_paths(tmp_path):
    assert check_output_path(tmp_path / "rec.json") is None
    assert check_output_path(tmp_path / "new" / "deeper" / "rec.json") is None
    assert not (tmp_path / "new").exists()  # nothing is created or left behind
    (tmp_path / "old.json").write_text("{}")
    assert check_output_path(str(tmp_path / "old.json")) is None  # replaced atomically later
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_check_output_path_rejects_a_directory(tmp_path):
    why = check_output_path(tmp_path)
    assert why and "is a directory" in why and str(tmp_path) in why and "\n" not in why
    assert "directory" in check_output_path(str(tmp_path / "nothere") + "/")
    assert "empty" in check_output_path("")


def test_check_output_path_rejects_a_file_as_parent(tmp_path):
    (tmp_path / "plain").write_text("x")
    for bad in (tmp_path / "plain" / "rec.json", tmp_path / "plain" / "sub" / "rec.json"):
        why = check_output_path(bad)
        assert why and f"{tmp_path / 'plain'} is not a directory" in why and "\n" not in why


def _as_unprivileged(fn, *args) -> object:
    """``fn(*args)`` in a forked child running as ``nobody`` when we are root (root ignores
    directory permissions), else right here; the result comes back as JSON."""
    if os.geteuid() != 0:
        return fn(*args)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, json.dumps(fn(*args)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return json.loads(out)


def test_check_output_path_rejects_a_read_only_directory():
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="dlh-ro-", dir="/tmp"))  # reachable by an unprivileged child
    ro = base / "ro"
    ro.mkdir()
    base.chmod(0o755)
    ro.chmod(0o555)
    try:
        why, sub = _as_unprivileged(lambda: [check_output_path(ro / "rec.json"), check_output_path(ro / "sub" / "rec.json")])
        assert why == f"cannot write {ro / 'rec.json'}: {ro} is not writable: Permission denied"
        assert sub.startswith(f"cannot write {ro / 'sub' / 'rec.json'}: cannot create {ro / 'sub'} ({ro} is not writable)")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
        shutil.rmtree(base)


def test_check_output_path_reports_an_unwritable_parent(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(records.tempfile, "mkstemp", refuse)
    assert check_output_path(tmp_path / "r.json") == f"cannot write {tmp_path / 'r.json'}: {tmp_path} is not writable: Permission denied"


# --------------------------------------------------------------------------------------------
# malformed records
# --------------------------------------------------------------------------------------------
BAD_RECORDS = {
    "truncated.json": ('{"schema": 1, "created": ', "invalid JSON"),
    "list.json": ("[1, 2]", "not a JSON object but a list"),
    "foreign.json": ('{"name": "package.json-like"}', "no 'schema' key"),
    "schema2.json": ('{"schema": 2, "created": "x"}', "schema 1"),
    "props-str.json": (json.dumps({**GOOD, "properties": "oops"}), "'properties' is a string (\"oops\"), expected a list"),
    "env-null.json": (json.dumps({**GOOD, "environment": None}), "'environment' is null, expected an object"),
    "created-num.json": (json.dumps({**GOOD, "created": 1767225600}), "'created' is an integer (1767225600), expected a string"),
    "no-created.json": (json.dumps({"schema": 1}), "missing 'created'"),
    "commit-num.json": (json.dumps({**GOOD, "environment": {"git_commit": 7}}), "environment.'git_commit' is an integer"),
    "bench-dict.json": (json.dumps({**GOOD, "benchmarks": {"a": 1}}), "'benchmarks' is an object"),
}


def _write_bad(runs: Path) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    for name, (text, _) in BAD_RECORDS.items():
        (runs / name).write_text(text)
    (runs / "latin1.json").write_bytes(b'{"schema": 1, "created": "caf\xe9"}')
    (runs / "dir.json").mkdir()


def test_malformed_records_are_skipped_with_a_reason(tmp_path):
    runs = tmp_path / "runs"
    _write_bad(runs)
    atomic_write_json(runs / "good.json", GOOD)
    skipped: list[SkippedRecord] = []
    recs = load_records(runs, skipped)
    assert [Path(r["_file"]).name for r in recs] == ["good.json"]
    why = {Path(s.file).name: s.reason for s in skipped}
    assert set(why) == set(BAD_RECORDS) | {"latin1.json", "dir.json"}
    for name, (_, reason) in BAD_RECORDS.items():
        assert reason in why[name], (name, why[name])
    assert "not UTF-8" in why["latin1.json"] and "unreadable" in why["dir.json"]
    assert all("\n" not in r for r in why.values())
    assert load_records(runs) == recs  # without a list to report to, still no exception


BAD_ROWS = [
    ("properties", "not a row", "not an object but a string"),
    ("properties", {**GOOD["properties"][0], "status": 3}, "'status' is an integer (3), expected a string"),
    ("properties", {**GOOD["properties"][0], "outcome": {"error": "0.1"}}, "outcome.'error' is a string"),
    ("properties", {k: v for k, v in GOOD["properties"][0].items() if k != "suite"}, "missing 'suite'"),
    ("benchmarks", {**GOOD["benchmarks"][0], "batch": "8"}, "'batch' is a string (\"8\"), expected an integer"),
    ("benchmarks", {**GOOD["benchmarks"][0], "batch": True}, "'batch' is true or false"),
    ("benchmarks", {**GOOD["benchmarks"][0], "median_s": "fast"}, "'median_s' is a string"),
    ("benchmarks", None, "not an object but null"),
]


@pytest.mark.parametrize("key,row,reason", BAD_ROWS)
def test_bad_rows_are_dropped_good_ones_kept(key, row, reason):
    rec = {**GOOD, key: GOOD[key] + [row]}
    clean, dropped = validate_record(rec)
    assert clean is not None and clean[key] == GOOD[key]
    assert len(dropped) == 1 and dropped[0].startswith(f"{key}[1]") and reason in dropped[0], dropped
    P, B = frames([rec])
    assert len(P) == 1 and len(B) == 1


def test_bad_entries_of_suites_and_matmul_peaks_are_dropped():
    rec = {**GOOD, "suites": {**GOOD["suites"], "bad": "x", "worse": {"title": 3}},
           "bench_info": {"matmul_peaks": [{"device": "cpu", "dtype": "float32", "flops_per_s": 1e9},
                                           {"device": "cpu", "dtype": "float64", "flops_per_s": "1 GFLOP/s"}]}}
    clean, dropped = validate_record(rec)
    assert list(clean["suites"]) == ["tiny"] and len(clean["bench_info"]["matmul_peaks"]) == 1
    assert len(dropped) == 3 and any("suites['worse']" in d and "'title' is an integer" in d for d in dropped)
    assert validate_record({**GOOD, "bench_info": {"matmul_peaks": "none"}})[0]["bench_info"]["matmul_peaks"] == []


def test_load_record_keeps_dropped_rows_in_the_record(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({**GOOD, "benchmarks": GOOD["benchmarks"] + [{"suite": 1}]}))
    rec = load_record(f)
    assert rec["_file"] == str(f) and len(rec["benchmarks"]) == 1
    assert rec["_dropped"] == ["benchmarks[1] dropped: 'suite' is an integer (1), expected a string"]


def test_frames_skips_invalid_records_and_has_every_column():
    P, B = frames([{"schema": 1}, "junk", None, {**GOOD, "properties": [{**GOOD["properties"][0], "record": "x"}]}])
    assert len(P) == 1 and len(B) == 1
    assert P["record"].tolist() == [""]  # the record's own columns win over a row's keys
    for col in ("reason", "iqr_s", "builtin_ratio", "peak_mem_bytes", "fraction_of_peak"):
        assert col in B
    assert "check" in P and "error" in P and "tolerance" in P


def test_minimal_record_still_loads(tmp_path):
    """A record with only the required keys is a record (as before)."""
    atomic_write_json(tmp_path / "r.json", {"schema": 1, "created": "t"})
    assert [r["created"] for r in load_records(tmp_path)] == ["t"]


# --------------------------------------------------------------------------------------------
# environment variables
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "2 threads", "0x4"])
def test_bad_dlh_threads_is_a_one_line_env_error(monkeypatch, value):
    monkeypatch.setenv("DLH_THREADS", value)
    with pytest.raises(EnvError) as e:
        property_threads()
    msg = str(e.value)
    assert msg.startswith(f"DLH_THREADS={value!r} is not valid") and "whole number >= 1" in msg and "\n" not in msg
    assert (e.value.name, e.value.value) == ("DLH_THREADS", value) and isinstance(e.value, ValueError)
    with pytest.raises(EnvError):
        check_env()


@pytest.mark.parametrize("value,expected", [(None, 1), ("", 1), ("1", 1), (" 4 ", 4), ("+2", 2)])
def test_good_dlh_threads(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("DLH_THREADS", raising=False)
    else:
        monkeypatch.setenv("DLH_THREADS", value)
    assert property_threads() == expected
    check_env()


def test_env_int_minimum(monkeypatch):
    monkeypatch.setenv("DLH_X", "0")
    assert env_int("DLH_X", 5, minimum=0) == 0
    with pytest.raises(EnvError, match=r"DLH_X='0' is not valid: expected a whole number >= 1 \(unset means 5\)"):
        env_int("DLH_X", 5)


# --------------------------------------------------------------------------------------------
# compact records: short text for what did not fail, rows stored relative to each other
# --------------------------------------------------------------------------------------------
COMMITTED = sorted(p for p in (Path(__file__).resolve().parents[1] / "results" / "runs").glob("*.json")
                   if not p.name.startswith("local-"))  # local-* records are git-ignored, not committed
DETAIL = "a long detail: " + "statistic 0.123 " * 40
SAMPLES = [0.001234, 0.001245, 0.001301, 0.001199, 0.00125, 0.001262]


def _row(prop: str, device: str, dtype: str, status: str, subject: str = "reference_impls.tiny (reference)") -> dict:
    return {"nodeid": f"suites/tiny.yaml::{prop}[{device}-{dtype}]", "suite": "tiny", "property": prop, "check": prop,
            "device": device, "dtype": dtype, "seed": 7, "status": status,
            "line": (f"{prop}: observed 1 vs expected 2; error 0.5 > 1e-10; {DETAIL}" if status == "failed"
                     else "CUDA not available here" if status == "skipped" else f"{prop} holds: error 1e-17; {DETAIL}"),
            "subject": subject, "location": "suites/tiny.yaml:4", "seconds": 0.0123456, "marks": ["cuda"] if device == "cuda" else [],
            "outcome": None if status == "skipped" else
            {"passed": status == "passed", "statement": f"{prop} holds " + "word " * 30, "observed": "o" * 100,
             "expected": "e" * 100, "error": 0.123456789 if status == "failed" else 1.23456789e-17,
             "tolerance": "atol 1e-10 + rtol 1e-10 (float64 default)", "detail": DETAIL}}


def _suite_record() -> dict:
    props = []
    for prop in ("p1", "p2", "p3"):
        for device in ("cpu", "cuda"):
            for dtype in ("float32", "float64"):
                status = "skipped" if device == "cuda" else ("failed" if (prop, dtype) == ("p2", "float64") else "passed")
                props.append(_row(prop, device, dtype, status))
    props.append({**_row("p4", "cpu", "float64", "passed"), "subject": "lib (third-party)", "check": "other_check"})
    bench = [{"suite": "tiny", "benchmark": "fwd", "workload": "forward", "device": "cpu", "dtype": "float32",
              "batch": b, "subject": "reference_impls.tiny (reference)", "nodeid": f"suites/tiny.yaml::bench_fwd[cpu-float32-b{b}]",
              "line": 9, "status": "ok", "reason": "", "median_s": 0.00123456789 * b, "samples_s": SAMPLES,
              "builtin": None, "builtin_ratio_ci": None, "unstable": False, "repeat": 0} for b in (8, 64)]
    return {**GOOD, "suites": {"tiny": {"path": "suites/tiny.yaml", "subject": "reference_impls.tiny"}},
            "properties": props, "benchmarks": bench}


def test_compact_record_round_trips_through_a_file(tmp_path):
    rec = _suite_record()
    compact = records.compact_record(rec)
    assert set(compact["compact"]) == {"properties", "benchmarks"}
    raw = json.loads(records.record_json(compact))
    # the second row: only what differs from the rows before it (its status, line and seconds
    # are the first one's; its tolerance is the first of its dtype)
    assert raw["properties"][1] == {"dtype": "float64",
                                    "outcome": {"error": 1.235e-17, "tolerance": "atol 1e-10 + rtol 1e-10 (float64 default)"}}
    assert raw["benchmarks"][1]["samples_s"] == {"e": -6, "m": [1234, 1245, 1301, 1199, 1250, 1262]}
    path = atomic_write_json(tmp_path / "r.json", compact)
    back = load_record(path)
    assert "_dropped" not in back and "compact" not in back
    props = back["properties"]
    assert len(props) == len(rec["properties"]) and [p["nodeid"] for p in props] == [p["nodeid"] for p in rec["properties"]]
    for got, orig in zip(props, rec["properties"]):
        assert {k: got[k] for k in ("suite", "property", "check", "device", "dtype", "seed", "status", "subject",
                                    "location", "marks")} == {k: orig[k] for k in ("suite", "property", "check", "device",
                                                                                   "dtype", "seed", "status", "subject",
                                                                                   "location", "marks")}
        if orig["status"] == "failed":  # a failure keeps everything, word for word
            assert got == {**orig, "seconds": 0.0123}
        elif orig["status"] == "passed":  # a pass keeps its numbers and a short line
            assert got["outcome"] == {"passed": True, "error": 1.235e-17, "tolerance": orig["outcome"]["tolerance"]}
            assert got["line"] == orig["line"][:records.SHORT_LINE - 1] + "…"
        else:
            assert got["outcome"] is None and got["line"] == orig["line"] and got["seconds"] == 0.0
    assert [b["median_s"] for b in back["benchmarks"]] == [0.00987654, 0.0790123]  # 6 significant digits
    assert [b["nodeid"] for b in back["benchmarks"]] == [b["nodeid"] for b in rec["benchmarks"]]
    assert all(b["builtin"] is None and b["reason"] == "" and b["repeat"] == 0 and b["samples_s"] == SAMPLES
               for b in back["benchmarks"])
    P, B = frames([back])
    assert len(P) == len(props) and set(P["subject"]) == {"reference_impls.tiny (reference)", "lib (third-party)"}


def test_records_without_a_suites_table_keep_whole_rows_with_short_text():
    """The pytest plugin's records (rows in any order, under xdist): text shortened, no row
    left relative to another."""
    rec = records.make_record(properties=[_row("p1", "cpu", "float64", "passed"), _row("p1", "cpu", "float32", "failed")],
                              runner="pytest")
    assert "compact" not in rec
    passed, failed = rec["properties"]
    assert set(passed) == set(_row("p1", "cpu", "float64", "passed"))  # every field is there
    assert passed["outcome"]["statement"].startswith("p1 holds") and len(passed["outcome"]["statement"]) <= 80
    assert len(passed["outcome"]["observed"]) <= 48 and "detail" not in passed["outcome"]
    assert failed["outcome"]["detail"] == DETAIL and failed["line"] == _row("p1", "cpu", "float32", "failed")["line"]


def test_rows_read_later_come_back_whole(tmp_path):
    """Reading many records, the report checks property rows only of the records it shows."""
    path = atomic_write_json(tmp_path / "r.json", records.compact_record(_suite_record()))
    lazy = load_record(path, rows=("benchmarks",))
    assert lazy["_pending"] == ["properties"] and "suite" not in lazy["properties"][1]  # as stored
    assert lazy["benchmarks"] == load_record(path)["benchmarks"]
    whole = records.complete_record(lazy)
    assert "_pending" not in whole and "compact" not in whole and whole["_file"] == str(path)
    assert whole["properties"] == load_record(path)["properties"]
    assert records.complete_record(whole) is whole


@pytest.mark.parametrize("status", ["failed", "error", "xpassed", "timeout"])
def test_failures_keep_their_whole_text(status):
    row = {**_row("p", "cpu", "float64", "failed"), "status": status}
    assert records.short_property_row(row) == {**row, "seconds": 0.0123}


def test_rows_of_uneven_fields_are_stored_whole():
    rec = _suite_record()
    rec["properties"][3] = {k: v for k, v in rec["properties"][3].items() if k != "location"}
    compact = records.compact_record(rec)
    assert set(compact["compact"]) == {"benchmarks"}  # "absent" cannot be said: the property rows stay whole
    back, dropped = validate_record(json.loads(records.record_json(compact)))
    assert not dropped and "location" not in back["properties"][3] and back["properties"][4]["location"]


def test_a_malformed_row_encoding_skips_the_record_with_a_reason(tmp_path):
    compact = records.compact_record(_suite_record())
    (tmp_path / "bad.json").write_text(json.dumps({**compact, "compact": {"properties": {"chains": "x"}}}))
    skipped: list[SkippedRecord] = []
    assert load_records(tmp_path, skipped) == []
    assert skipped[0].reason == "'compact.properties' is not a row encoding this harness reads"


@pytest.mark.skipif(not COMMITTED, reason="no committed record under results/runs")
@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_a_committed_full_run_record_compacts_to_at_most_300_kb(path):
    raw, _ = validate_record(json.loads(path.read_text()))  # whole rows, whichever way it was written
    text = records.record_json(records.compact_record(raw))
    assert len(text.encode()) <= 300_000, len(text.encode())
    back, dropped = validate_record(json.loads(text))
    assert not dropped and len(back["properties"]) == len(raw["properties"])
    expected = [records._numbers_only(records.short_property_row(p)) for p in raw["properties"]]
    assert back["properties"] == expected
