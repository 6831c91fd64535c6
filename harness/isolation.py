"""Run property cases in a worker process, so a crash or a hang costs one case.

A :class:`Worker` is a child Python process (``python -m harness.isolation``) that loads suites
itself (by path and ``--impl`` map) and runs the cases it is sent, one at a time, through
:func:`harness.executor.run_property`. Requests go over the child's stdin and results come back
as JSON lines on a pipe of their own, so whatever an implementation prints cannot corrupt them.
The parent waits for each result with the case's timeout. When the child dies (a segfault,
``os._exit``, the OOM killer) or does not answer in time, the case becomes an ``error`` or
``timeout`` result with the reason, the child is replaced, and the run goes on. ``sys.exit`` and
``KeyboardInterrupt`` raised inside an implementation are caught in the child and are that
case's ``error``.

A plain subprocess rather than multiprocessing: its ``spawn``/``forkserver`` methods re-import
the caller's ``__main__`` (a user's script without a main guard would recurse), and ``fork``
is unsafe in a process that may hold CUDA or torch thread pools.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from harness.cases import PropertyCase
from harness.executor import PropertyResult

DEFAULT_TIMEOUT = 300.0  # seconds per case; the slowest shipped property takes ~10 s on 2 cores
LOAD_TIMEOUT = 300.0  # seconds for a worker to start, import torch and the implementation, load a suite


def serve(result_fd: int) -> None:
    """The child's loop: read ``{"path", "case", "impl", "root"}`` lines from stdin, write one
    result dict per line to ``result_fd``. A request without ``case`` only loads the suite (so
    that starting the worker and importing the implementation never count against a case's
    timeout) and is answered ``{"loaded": true}``."""
    from harness.cases import property_cases
    from harness.executor import crashed, run_property
    from harness.suite import SuiteError, load_suite

    out = os.fdopen(result_fd, "w", encoding="utf-8")
    suites: dict[str, Any] = {}
    for raw in sys.stdin:
        msg = json.loads(raw)
        path = msg["path"]
        try:
            if path not in suites:
                s = load_suite(path, msg["impl"], Path(msg["root"]) if msg["root"] else None)
                suites[path] = {c.id: c for c in property_cases(s)}
            res = run_property(suites[path][msg["case"]]).to_dict() if msg.get("case") else {"loaded": True}
        except SuiteError as e:
            res = {"status": "error", "line": f"suite failed to load in the worker: {e}"}
        except BaseException as e:  # noqa: BLE001 - SystemExit/KeyboardInterrupt from an implementation
            res = {"status": "error", "line": crashed(e)}
        out.write(json.dumps(res, default=str) + "\n")
        out.flush()


class Worker:
    """One child process running cases of suites loaded with ``impl`` (restarted when lost)."""

    def __init__(self, impl: Mapping[str, str] | None = None, root: Path | None = None):
        self.impl = dict(impl or {})
        self.root = str(root) if root else None
        self.proc: subprocess.Popen | None = None
        self.results: Any = None
        self.loaded: set[str] = set()
        self._buf = b""

    def _start(self) -> None:
        r, w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.isolation", str(w)], stdin=subprocess.PIPE,
                                     pass_fds=(w,), env=env, cwd=os.getcwd())
        os.close(w)
        self.results = r
        self._buf = b""
        self.loaded = set()

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            if self.proc.stdin:
                self.proc.stdin.close()
        if self.results is not None:
            os.close(self.results)
        self.proc = self.results = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None and self.proc.stdin:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _read_line(self, deadline: float) -> bytes | None:
        """One result line, or None when the child closed the pipe (died) or the deadline passed."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.results], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.results, 1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def run(self, case: PropertyCase, timeout: float | None = None) -> PropertyResult:
        """Run ``case`` in the child; a lost child or a timeout is the case's result. The timeout
        is ``timeout``, else the suite's ``defaults: timeout:``, else :data:`DEFAULT_TIMEOUT`."""
        timeout = timeout_for(case, timeout)
        if case.skip:
            from harness.executor import run_property

            return run_property(case)
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        path = str((Path(self.root or os.getcwd()) / case.suite.path).resolve())
        if path not in self.loaded:
            problem = self._load(path)
            if problem:
                return case_result(case, "error", problem)
        t0 = time.monotonic()
        msg = {"path": path, "case": case.id, "impl": self.impl, "root": self.root}
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
            line = self._read_line(t0 + timeout)
        except TimeoutError:
            self._kill()
            return case_result(case, "timeout", f"no result after the timeout of {timeout:g} s: the worker was stopped "
                                                f"(set `timeout:` in the suite's defaults or --timeout)",
                               time.monotonic() - t0)
        except (BrokenPipeError, OSError):
            line = None
        seconds = time.monotonic() - t0
        if line is not None:
            return PropertyResult.from_dict(json.loads(line), case, seconds)
        code = self.proc.wait(10)
        self._kill()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return case_result(case, "error", f"the worker process {how} while running this case "
                                          f"(a crash, os._exit or sys.exit inside the implementation?)", seconds)

    def _load(self, path: str) -> str:
        """Have the child load the suite (outside any case's timeout): "" or the problem."""
        assert self.proc is not None and self.proc.stdin is not None
        msg = {"path": path, "case": None, "impl": self.impl, "root": self.root}
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
            line = self._read_line(time.monotonic() + LOAD_TIMEOUT)
        except TimeoutError:
            self._kill()
            return f"the worker did not start or load the suite within {LOAD_TIMEOUT:g} s (an import that hangs?)"
        except (BrokenPipeError, OSError):
            line = None
        if line is None:
            self._kill()
            return "the worker process ended while importing the implementation or loading the suite"
        reply = json.loads(line)
        if not reply.get("loaded"):
            return str(reply.get("line", "the suite did not load in the worker"))
        self.loaded.add(path)
        return ""

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def timeout_for(case: PropertyCase, override: float | None = None) -> float:
    return float(override or getattr(case.suite, "timeout", None) or DEFAULT_TIMEOUT)


def case_result(case: PropertyCase, status: str, line: str, seconds: float = 0.0) -> PropertyResult:
    return PropertyResult(case.nodeid, case.suite.name, case.prop.id, case.check.name, case.device, case.dtype,
                          case.seed, status, line, case.subject_label, case.location, case.marks, seconds)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
