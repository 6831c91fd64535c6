"""Load and validate a YAML suite into frozen dataclasses.

A suite is data: which subject to test, which properties (registered checks) to prove on
which devices and dtypes, and which workloads to time. Every problem found while loading is
one line ``file:line: what is wrong; allowed: ...`` (with a close-match suggestion), raised
together as a :class:`SuiteError`. See ``suites/README.md`` for the schema with examples.
"""
from __future__ import annotations

import hashlib
import inspect
import math
import os
import re
import stat
import types
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness import yamlsrc
from harness.builtins import BUILTINS
from harness.contract import CONTRACTS
from harness.context import DEVICES, DTYPES
from harness.registry import CheckSpec, Subject, SubjectError, load_checks, resolve_subject

MARKS = ("slow", "statistical", "training")
WORKLOADS = ("forward", "train_step")
INPUT_KINDS = ("normal", "uniform", "bernoulli", "integers")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SUITE_KEY = re.compile(r"^suite\s*:", re.MULTILINE)
_FACTORY_MODULE = re.compile(r"^reference_impls(\.[A-Za-z_][A-Za-z0-9_]*)?$")
MAX_SEED = 2**32 - 1
MAX_EXTENT = 2**31 - 1   # a batch size or an input dimension (an int32 index)
MAX_INT = 2**63 - 1      # an integer parameter (an int64)


class SuiteError(Exception):
    """One or more located problems in a suite file; ``str()`` is one line per problem."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path = path
        # one line per problem, whatever text a message quotes (str.splitlines' line breaks)
        self.problems = [(int(line), " ".join(str(msg).splitlines())) for line, msg in problems]
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in self.problems))

    @property
    def line(self) -> int:
        return self.problems[0][0]


@dataclass(frozen=True)
class Xfail:
    reason: str
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]

    def matches(self, device: str, dtype: str) -> bool:
        return device in self.devices and dtype in self.dtypes


@dataclass(frozen=True)
class Property:
    id: str
    check: str
    line: int
    params: Mapping[str, Any]
    subject_params: Mapping[str, Any]
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    tolerance: Mapping[str, tuple[float, float]]
    tolerance_why: str
    marks: tuple[str, ...]
    xfail: Xfail | None
    spec: CheckSpec = field(repr=False, compare=False)
    not_applicable: str = ""  # why the third-party subject cannot be held to this property


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    kind: str = "normal"
    high: int = 2


@dataclass(frozen=True)
class Benchmark:
    id: str
    workload: str
    line: int
    batch_sizes: tuple[int, ...]
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    inputs: tuple[InputSpec, ...]
    call: str | None
    params: Mapping[str, Any]
    builtin: str | None
    builtin_params: Mapping[str, Any]


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    path: str
    sha256: str
    references: tuple[str, ...]
    subject: Subject
    seed: int
    properties: tuple[Property, ...]
    benchmarks: tuple[Benchmark, ...]
    line: int = field(default=1, compare=False, repr=False)  # line of the `suite:` key
    timeout: float | None = None  # defaults.timeout: seconds per case in a worker

    @property
    def contract(self) -> Any:
        """The family contract of this suite (None for a suite no check module declares)."""
        from harness.contract import CONTRACTS

        return CONTRACTS.get(self.name)


def is_suite_file(path: Path) -> bool:
    """A dlharness suite is a regular .yaml/.yml file with a top-level ``suite:`` key (after an
    optional UTF-8 byte order mark). Other YAML files (CI configs, other tools' data) are never
    touched, and only regular files are opened: a FIFO, socket or device named ``*.yaml`` is
    skipped, never read (reading a FIFO would block)."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        head = _read_regular(path, yamlsrc.MAX_SIZE)
    except (OSError, _NotRegular):
        return False
    text = head.decode("utf-8", errors="replace")
    if text.startswith(yamlsrc.BOM):
        text = text[1:]
    return _SUITE_KEY.search(text) is not None


class _NotRegular(Exception):
    """The path is not a regular file (``kind`` says what it is)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def _read_regular(p: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``p``: :class:`_NotRegular` for anything
    else (checked with ``stat`` before opening, and again on the open descriptor), OSError when
    it cannot be read. Opened non-blocking, so even a file swapped for a FIFO cannot hang."""
    st = os.stat(p)
    if not stat.S_ISREG(st.st_mode):
        raise _NotRegular(_file_kind(st.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(p, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _NotRegular(_file_kind(mode))
        chunks, n = [], 0
        while n <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
class _V:
    """Problem accumulator for one file."""

    def __init__(self, src: yamlsrc.Sourced):
        self.src = src
        self.problems: list[tuple[int, str]] = []

    def err(self, path: tuple, msg: str) -> None:
        self.problems.append((self.src.line(*path), msg))

    def keys(self, m: Any, path: tuple, allowed: dict[str, bool], what: str) -> bool:
        """``allowed``: key -> required. Report unknown and missing keys."""
        if not isinstance(m, dict):
            self.err(path, f"{what} must be a mapping, got {_got(m)}; allowed keys: {', '.join(allowed)}")
            return False
        for k in m:
            if k not in allowed:
                hint = _hint(str(k), allowed)
                self.err(path + (k,), f"unknown key {_short(k)} in {what}{hint}; allowed: {', '.join(allowed)}")
        for k, req in allowed.items():
            if req and k not in m:
                self.err(path, f"{what} is missing required key {k!r}")
        return True

    def typed(self, v: Any, path: tuple, typ: type | tuple, what: str) -> bool:
        ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, float, (int, float)))
        if not ok:
            names = " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))
            self.err(path, f"{what} must be {names}, got {_got(v)}")
        return ok

    def integer(self, v: Any, path: tuple, what: str, low: int, high: int) -> bool:
        """``v`` is an int (not a bool) with ``low <= v <= high``."""
        if not self.typed(v, path, int, what):
            return False
        if not low <= v <= high:
            self.err(path, f"{what} must be an integer from {low} to {high}, got {_short(v)}")
            return False
        return True

    def identifier_keys(self, m: Any, path: tuple, what: str) -> bool:
        """``m`` is a mapping whose keys are identifiers (they become keyword arguments)."""
        if not self.typed(m, path, dict, what):
            return False
        ok = True
        for k in m:
            if not _NAME.match(k):
                self.err(path + (k,), f"{what} key {_short(k)} must be an identifier (letters, digits, _): "
                                      "it is passed as a keyword argument")
                ok = False
        return ok

    def choices(self, v: Any, path: tuple, allowed: tuple | list, what: str) -> tuple[str, ...]:
        items = v if isinstance(v, list) else None
        if items is None:
            self.err(path, f"{what} must be a list, got {_got(v)}; allowed items: {', '.join(allowed)}")
            return ()
        if not items:
            self.err(path, f"{what} must not be empty; allowed items: {', '.join(allowed)}")
        good = []
        for i, item in enumerate(items):
            if item not in allowed:
                self.err(path + (i,), f"{what} has {_short(item)}{_hint(str(item), allowed)}; allowed: {', '.join(allowed)}")
            else:
                good.append(item)
        if len(set(good)) != len(good):
            self.err(path, f"{what} lists an item twice: {good}")
        return tuple(good)


def _tname(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


_short = yamlsrc.short


def _got(v: Any) -> str:
    """``a list [1, 2]``, ``null``: a value's kind and (cut) text, for "got ..." messages."""
    return "null" if v is None else f"{_tname(v)} {_short(v)}"


def _hint(word: str, allowed: Any) -> str:
    m = get_close_matches(word, [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {m[0]!r}?)" if m else ""


def _check_param_type(v: _V, value: Any, param: inspect.Parameter, path: tuple, check: str) -> None:
    """Check a ``with:`` value against the annotation of the check's parameter."""
    ann = param.annotation
    if isinstance(ann, str):
        ann = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}.get(ann.split("|")[0].strip().split("[")[0], None)
    if ann in (int, float, bool, str, list, dict):
        if ann is float and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                v.err(path, f"parameter {param.name!r} of check {check!r} must be a number from {-MAX_INT} to {MAX_INT}, got {_short(value)}")
            return
        if ann is bool and not isinstance(value, bool) or ann is not bool and (
                not isinstance(value, ann) or isinstance(value, bool)):
            v.err(path, f"parameter {param.name!r} of check {check!r} must be {ann.__name__}, got {_got(value)}")
        elif ann is float and not math.isfinite(value):
            v.err(path, f"parameter {param.name!r} of check {check!r} must be a finite number, got {value}")
        elif ann is int and abs(value) > MAX_INT:
            v.err(path, f"parameter {param.name!r} of check {check!r} must be an integer from {-MAX_INT} to {MAX_INT}, got {_short(value)}")


def _shown(p: Path, root: Path | None) -> str:
    try:
        return str(p.resolve().relative_to((root or Path.cwd()).resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return str(p)


def _read(p: Path, shown: str) -> tuple[bytes, yamlsrc.Sourced]:
    """The file's bytes and its located YAML data, or a SuiteError at the offending line.

    Only a regular file of at most :data:`yamlsrc.MAX_SIZE` bytes is read; a UTF-8 byte order
    mark is skipped; a byte that is not UTF-8 is reported at its own line."""
    try:
        raw = _read_regular(p, yamlsrc.MAX_SIZE)
    except _NotRegular as e:
        raise SuiteError(shown, [(1, f"a suite must be a regular file, this is {e.kind}")]) from None
    except OSError as e:
        raise SuiteError(shown, [(1, f"cannot read the suite: {e.strerror or e}")]) from None
    if len(raw) > yamlsrc.MAX_SIZE:
        raise SuiteError(shown, [(1, f"the file is larger than {yamlsrc.MAX_SIZE} bytes; a suite is a small YAML file "
                                     "(the shipped ones are a few kB)")])
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        col = e.start - (body.rfind(b"\n", 0, e.start) + 1) + 1
        utf16 = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SuiteError(shown, [(line, f"not UTF-8 text: byte 0x{body[e.start]:02x} at column {col} ({e.reason}){utf16}; "
                                        "save the suite as UTF-8")]) from None
    try:
        return raw, yamlsrc.load(text)
    except yamlsrc.YamlSourceError as e:
        raise SuiteError(shown, [(e.line, e.message)]) from None


def _header(v: _V, d: dict) -> tuple[Any, str, list]:
    """``suite``, ``title`` and ``references``."""
    name = d.get("suite")
    if v.typed(name, ("suite",), str, "suite") and not _NAME.match(name):
        v.err(("suite",), f"suite name {name!r} must be an identifier (letters, digits, _)")
    title = d.get("title", "")
    v.typed(title, ("title",), str, "title")
    refs = d.get("references", [])
    if v.typed(refs, ("references",), list, "references"):
        for i, r in enumerate(refs):
            v.typed(r, ("references", i), str, "each reference")
    return name, title, refs if isinstance(refs, list) else []


MAX_TIMEOUT = 86_400.0


def _timeout(v: _V, defaults: Any) -> float | None:
    """``defaults.timeout``: seconds a case may run in its worker before it is stopped."""
    if not isinstance(defaults, dict) or "timeout" not in defaults:
        return None
    t = defaults["timeout"]
    if v.typed(t, ("defaults", "timeout"), (int, float), "defaults.timeout"):
        if not (0 < t <= MAX_TIMEOUT):
            v.err(("defaults", "timeout"), f"defaults.timeout must be seconds in (0, {MAX_TIMEOUT:g}], got {_short(t)}")
        else:
            return float(t)
    return None


def _defaults(v: _V, defaults: Any) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """``(devices, dtypes, seed)`` every property starts from."""
    devices: tuple[str, ...] = DEVICES
    dtypes: tuple[str, ...] = ("float64",)
    seed = 0
    if v.keys(defaults, ("defaults",), {"devices": False, "dtypes": False, "seed": False, "timeout": False},
              "defaults"):
        if "devices" in defaults:
            devices = v.choices(defaults["devices"], ("defaults", "devices"), DEVICES, "defaults.devices")
        if "dtypes" in defaults:
            dtypes = v.choices(defaults["dtypes"], ("defaults", "dtypes"), tuple(DTYPES), "defaults.dtypes")
        if "seed" in defaults and v.typed(defaults["seed"], ("defaults", "seed"), int, "defaults.seed"):
            seed = defaults["seed"]
            if seed < 0:
                v.err(("defaults", "seed"), f"defaults.seed must be >= 0, got {seed}")
            elif seed > MAX_SEED:
                v.err(("defaults", "seed"), f"defaults.seed must be at most {MAX_SEED}, got {_short(seed)}")
            if not 0 <= seed <= MAX_SEED:
                seed = 0
    return devices, dtypes, seed


_FACTORY_RULE = ("subject.factory must name a class or function defined in a reference_impls module ({}); "
                 "name third-party implementations on the command line (--impl SUITE=pkg.module:Attr)")


def _safe_factory(target: str) -> str | None:
    """What is wrong with a suite's own ``subject.factory`` string, before anything is
    imported (None when it may be imported): the module must be ``reference_impls`` or
    ``reference_impls.<name>``, the attribute one plain, non-dunder name. An attribute chain
    (``reference_impls.rbm:torch.os.system``) could reach any module, so it is refused."""
    modname, sep, attr = target.partition(":")
    if not _FACTORY_MODULE.match(modname) or "__" in modname:
        return f"module {_short(modname)} is not reference_impls or reference_impls.<name>"
    if sep and not _NAME.match(attr):
        return (f"{_short(attr)} is not one plain name" + (" (an attribute chain may reach other modules)" if "." in attr else ""))
    if attr.startswith("__"):
        return f"{_short(attr)} is a dunder name, not a class or function"
    return None


def _safe_factory_object(target: str, obj: Any) -> str | None:
    """What is wrong with the object a suite's own factory resolved to (None when fine): a
    class or function whose ``__module__`` is the named module, or the named module itself
    when the target has no attribute part."""
    modname, _, attr = target.partition(":")
    if isinstance(obj, types.ModuleType):
        if not attr and obj.__name__ == modname:
            return None
        return f"{modname}:{attr} is the module {_short(obj.__name__)}, not a class or function defined in {modname}"
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return f"{modname}:{attr} is a {type(obj).__name__} object, not a class or function"
    defined_in = getattr(obj, "__module__", None)
    if defined_in != modname:
        return f"{modname}:{attr} is defined in {_short(defined_in)}, not in {modname}"
    return None


def _subject(v: _V, d: dict, name: Any, impl: Mapping[str, str] | None) -> Subject | None:
    """The suite's subject: its own factory, or the third-party target ``impl`` names for it.

    The suite's own factory is checked by :func:`_safe_factory` before it is imported and by
    :func:`_safe_factory_object` after; a command-line target (``impl``) may be anything."""
    if "subject" not in d:
        return None  # reported as a missing key
    sub = d["subject"]
    if not v.keys(sub, ("subject",), {"factory": True, "params": False}, "subject"):
        return None
    at = ("subject", "factory")
    params = sub.get("params", {})
    v.identifier_keys(params, ("subject", "params"), "subject.params")
    params = params if isinstance(params, dict) else {}
    target = sub.get("factory")
    own_ok = "factory" in sub and v.typed(target, at, str, "subject.factory")
    if own_ok and (problem := _safe_factory(target)):
        v.err(at, _FACTORY_RULE.format(problem))
        own_ok = False
    allow_any = isinstance(name, str) and bool(impl) and name in impl
    if allow_any:
        target = impl[name]
    elif not own_ok:
        return None
    label = f"--impl {name}={target}" if allow_any else f"subject factory {target!r}"
    try:
        subject = resolve_subject(target, params, allow_any=allow_any)
    except SubjectError as e:
        v.err(at, (f"{label}: " if allow_any else "") + str(e))
        return None
    except Exception as e:  # noqa: BLE001 - an import that fails in any other way is a located problem too
        v.err(at, f"{label}: importing it failed with {type(e).__name__}: {_short(str(e), 200)}")
        return None
    if not allow_any and (problem := _safe_factory_object(target, subject.obj)):
        v.err(at, _FACTORY_RULE.format(problem))
        return None
    return subject


_PROPERTY_KEYS = {"check": True, "id": False, "with": False, "params": False, "devices": False, "dtypes": False,
                  "tolerance": False, "marks": False, "xfail": False}


def _check_params(v: _V, with_: Any, at: tuple, spec: CheckSpec) -> None:
    """``with:`` against the check's keyword parameters and their annotations."""
    if not v.typed(with_, at + ("with",), dict, "with"):
        return
    allowed = spec.parameters
    for k, val in with_.items():
        if k not in allowed:
            v.err(at + ("with", k), f"check {spec.name!r} takes no parameter {k!r}{_hint(str(k), allowed)}; allowed: {', '.join(allowed) or '(none)'}")
        else:
            _check_param_type(v, val, allowed[k], at + ("with", k), spec.name)
    for k, prm in allowed.items():
        if prm.default is inspect.Parameter.empty and k not in with_:
            v.err(at, f"check {spec.name!r} needs parameter {k!r} under `with:`")


def _tolerance(v: _V, t: Any, at: tuple) -> tuple[dict[str, tuple[float, float]], str]:
    """A property's ``tolerance:`` override: ``({dtype: (atol, rtol)}, why)``."""
    tol: dict[str, tuple[float, float]] = {}
    if not v.keys(t, at, {**{k: False for k in DTYPES}, "why": True}, "tolerance"):
        return tol, ""
    why = t.get("why", "")
    if "why" in t and (not isinstance(why, str) or not why.strip()):
        v.err(at + ("why",), "tolerance.why must say where the tolerance comes from")
    for dt, val in t.items():
        if dt == "why" or dt not in DTYPES:
            continue
        tp = at + (dt,)
        if v.keys(val, tp, {"atol": False, "rtol": False}, f"tolerance.{dt}"):
            nums = {}
            for kk in ("atol", "rtol"):
                x = val.get(kk, 0.0)
                if v.typed(x, tp + (kk,), (int, float), f"tolerance.{dt}.{kk}"):
                    fx = _finite(x)
                    if fx is None or fx < 0:
                        v.err(tp + (kk,), f"tolerance.{dt}.{kk} must be a finite number >= 0, got {_short(x)}")
                    else:
                        nums[kk] = fx
            tol[dt] = (nums.get("atol", 0.0), nums.get("rtol", 0.0))
    return tol, str(why)


def _finite(x: int | float) -> float | None:
    """``float(x)`` when it is finite, else None (NaN, inf, an int too large for a float)."""
    try:
        f = float(x)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _xfail(v: _V, x: Any, at: tuple, devices: tuple[str, ...], dtypes: tuple[str, ...]) -> Xfail | None:
    if not v.keys(x, at, {"reason": True, "devices": True, "dtypes": True}, "xfail"):
        return None
    reason = x.get("reason", "")
    if "reason" in x and (not isinstance(reason, str) or not reason.strip()):
        v.err(at + ("reason",), "xfail.reason must say why the property is expected to fail")
    xd = v.choices(x["devices"], at + ("devices",), devices, "xfail.devices") if "devices" in x else ()
    xt = v.choices(x["dtypes"], at + ("dtypes",), dtypes, "xfail.dtypes") if "dtypes" in x else ()
    return Xfail(str(reason), xd, xt)


def _not_provided(subject: Subject, names: Iterable[str], contract: Any) -> list[str]:
    """For each required name the subject lacks, or provides with a signature the contract's
    calls cannot bind to, the reason in words."""
    out = []
    for name in names:
        p = contract.provide(name) if contract is not None else None
        want = f"`{name}{p.signature}`" if p is not None and p.signature else f"`{name}`"
        if not _has(subject, name):
            out.append(f"needs {want}; {subject.target} does not provide it")
            continue
        if p is None or p.kind not in ("function", "method") or not p.signature:
            continue
        why = _signature_mismatch(subject, name, p)
        if why:
            out.append(f"needs {want}; {subject.target} provides {why}")
    return out


def _signature_mismatch(subject: Subject, name: str, p: Any) -> str:
    """How the subject's ``name`` fails to accept the contract's call, or ""."""
    try:
        fn = subject.namespace.__dict__.get(name) if hasattr(subject.namespace, "__dict__") else None
        fn = fn if fn is not None else getattr(subject.namespace, name, None) or getattr(subject.obj, name)
        sig = inspect.signature(fn)
    except (TypeError, ValueError, AttributeError):
        return ""  # builtins and C functions without a signature: decided at run time
    positional, kw_required, optional = p.call()
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls") and p.kind == "method":
        params = params[1:]
        sig = sig.replace(parameters=params)
    try:
        sig.bind(*positional, **{k: None for k in kw_required})
    except TypeError:
        return f"{name}{sig}, which does not take the contract's call {name}{p.signature}"
    takes_kwargs = any(q.kind is q.VAR_KEYWORD for q in params)
    missing = [o for o in optional if o not in sig.parameters and not takes_kwargs]
    if missing:
        return f"{name}{sig}, which has no keyword {', '.join(missing)}"
    return ""


def _property(v: _V, pr: Any, i: int, checks: Mapping[str, CheckSpec], seen: dict[str, int],
              defaults: tuple[tuple[str, ...], tuple[str, ...]], subject: Subject | None,
              strict: bool = False) -> Property | None:
    """Property #i, validated against its check; None where it cannot be built."""
    at = ("properties", i)
    if not v.keys(pr, at, _PROPERTY_KEYS, f"property #{i + 1}"):
        return None
    cname = pr.get("check")
    if not v.typed(cname, at + ("check",), str, "check"):
        return None
    spec = checks.get(cname)
    if spec is None:
        v.err(at + ("check",), f"unknown check {cname!r}{_hint(cname, checks)}; see `harness list` for the {len(checks)} registered checks")
        return None
    pid = pr.get("id", cname)
    if v.typed(pid, at + ("id",), str, "id") and not _NAME.match(pid):
        v.err(at + ("id",), f"property id {pid!r} must be an identifier (letters, digits, _)")
    if isinstance(pid, str) and pid in seen:
        v.err(at, f"property id {pid!r} is used twice (first at line {seen[pid]}); give one an `id:`")
    if isinstance(pid, str):
        seen[pid] = v.src.line(*at)
    with_ = pr.get("with", {})
    _check_params(v, with_, at, spec)
    sparams = pr.get("params", {})
    v.identifier_keys(sparams, at + ("params",), "params")
    dev_default, dt_default = defaults
    devices = v.choices(pr["devices"], at + ("devices",), dev_default, "devices") if "devices" in pr else dev_default
    dtypes = v.choices(pr["dtypes"], at + ("dtypes",), tuple(DTYPES), "dtypes") if "dtypes" in pr else dt_default
    tol, why = _tolerance(v, pr["tolerance"], at + ("tolerance",)) if "tolerance" in pr else ({}, "")
    marks = v.choices(pr["marks"], at + ("marks",), MARKS, "marks") if "marks" in pr else ()
    xfail = _xfail(v, pr["xfail"], at + ("xfail",), devices, dtypes) if "xfail" in pr else None
    not_applicable = ""
    if subject is not None:
        missing = _not_provided(subject, spec.requires, CONTRACTS.get(str(v.src.data.get("suite"))))
        if missing and (strict or subject.kind == "reference"):
            v.err(at + ("check",), f"check {cname!r} " + "; ".join(missing) + (" (--strict-contract)" if strict else ""))
        elif missing:
            not_applicable = "not applicable: " + "; ".join(missing)
    return Property(str(pid), cname, v.src.line(*at), dict(with_) if isinstance(with_, dict) else {},
                    dict(sparams) if isinstance(sparams, dict) else {}, devices, dtypes, tol, why,
                    tuple(sorted(set(marks) | set(spec.marks))), xfail, spec, not_applicable)


def common_properties(name: Any, props: list[Property], checks: Mapping[str, CheckSpec],
                      defaults: tuple[tuple[str, ...], tuple[str, ...]], line: int) -> list[Property]:
    """The common properties (:mod:`harness.checks.common`) every model suite gets without
    listing them, on the suite's default devices in float64, less the contract's stated
    opt-outs; batch independence only where the contract declares it."""
    from harness.checks.common import COMMON

    contract = CONTRACTS.get(name) if isinstance(name, str) else None
    if contract is None or not contract.has_model:
        return []
    listed = {p.id for p in props}
    out = []
    for cname in COMMON:
        if cname in contract.opt_out or cname in listed or (cname == "common_batch_independence"
                                                            and not contract.batch_independent):
            continue
        out.append(Property(cname, cname, line, {}, {}, defaults[0], ("float64",), {}, "", (), None, checks[cname]))
    return out


def load_suite(path: str | Path, impl: Mapping[str, str] | None = None, root: Path | None = None,
               strict: bool = False) -> Suite:
    """Load, validate and resolve one suite file.

    ``impl`` maps a suite name to a third-party subject (``pkg.module:Attr``) that replaces the
    suite's own factory. ``path`` is shown relative to ``root`` (default: the current dir). A
    property whose contract names (``requires``) a third-party subject lacks, or provides with
    an incompatible signature, is *not applicable* (run as such, with the reason); with
    ``strict`` (``--strict-contract``) it is a located error instead, as it always is for our
    own reference implementations.
    """
    p = Path(path)
    shown = _shown(p, root)
    raw, src = _read(p, shown)
    v = _V(src)
    d = src.data
    if not v.keys(d, (), {"suite": True, "title": True, "references": False, "subject": True,
                           "defaults": False, "properties": True, "benchmarks": False}, "suite"):
        raise SuiteError(shown, v.problems)
    name, title, refs = _header(v, d)
    dev_default, dt_default, seed = _defaults(v, d.get("defaults", {}))
    timeout = _timeout(v, d.get("defaults", {}))
    subject = _subject(v, d, name, impl)
    checks = load_checks()
    plist = d.get("properties")
    if v.typed(plist, ("properties",), list, "properties") and not plist:
        v.err(("properties",), "properties must list at least one property")
    seen: dict[str, int] = {}
    props = [p for i, pr in enumerate(plist if isinstance(plist, list) else [])
             if (p := _property(v, pr, i, checks, seen, (dev_default, dt_default), subject, strict)) is not None]
    props += common_properties(name, props, checks, (dev_default, dt_default), src.line("suite"))
    benches = _benchmarks(v, d.get("benchmarks", []), dev_default, subject)
    if v.problems or subject is None:
        raise SuiteError(shown, v.problems or [(src.line("subject"), "suite has no usable subject")])
    return Suite(name, title, shown, hashlib.sha256(raw).hexdigest(), tuple(refs), subject, seed,
                 tuple(props), tuple(benches), src.line("suite"), timeout)


def check_unique_names(suites: Iterable[Suite]) -> list[SuiteError]:
    """One located :class:`SuiteError` for each suite whose ``suite:`` name an earlier suite
    (in the order given) already uses, at the second file's ``suite:`` line, naming the
    first file. Suite names must be unique: they key seeds, records and ``--impl``. The same
    file listed twice (same path) is not a clash."""
    first: dict[str, Suite] = {}
    errors: list[SuiteError] = []
    for s in suites:
        f = first.setdefault(s.name, s)
        if f is not s and f.path != s.path:
            errors.append(SuiteError(s.path, [(s.line, f"suite name {s.name!r} is already used by {f.path}:{f.line}; "
                                                        "suite names must be unique (rename one)")]))
    return errors


def _benchmarks(v: _V, blist: Any, dev_default: tuple[str, ...], subject: Subject | None = None) -> list[Benchmark]:
    out: list[Benchmark] = []
    if not v.typed(blist, ("benchmarks",), list, "benchmarks"):
        return out
    keys = {"workload": True, "id": False, "batch_sizes": True, "devices": False, "dtypes": False,
            "inputs": True, "call": False, "params": False, "builtin": False, "builtin_params": False}
    seen: dict[str, int] = {}
    for i, b in enumerate(blist):
        at = ("benchmarks", i)
        if not v.keys(b, at, keys, f"benchmark #{i + 1}"):
            continue
        wl = b.get("workload")
        if v.typed(wl, at + ("workload",), str, "workload") and wl not in WORKLOADS:
            v.err(at + ("workload",), f"unknown workload {_short(wl)}{_hint(wl, WORKLOADS)}; allowed: {', '.join(WORKLOADS)}")
        call = b.get("call")
        call_ok = call is None or _call(v, call, at + ("call",), subject)
        if "id" in b:
            bid = b["id"]
            if v.typed(bid, at + ("id",), str, "benchmark id") and not _NAME.match(bid):
                v.err(at + ("id",), f"benchmark id {_short(bid)} must be an identifier (letters, digits, _)")
        else:
            bid = f"{call if call and call_ok else 'model'}_{wl if isinstance(wl, str) else 'workload'}"
        bid = bid if isinstance(bid, str) else _short(bid)
        if bid in seen:
            v.err(at, f"benchmark id {bid!r} is used twice (first at line {seen[bid]}); give one an `id:`")
        else:
            seen[bid] = v.src.line(*at)
        sizes = b.get("batch_sizes", [])
        if v.typed(sizes, at + ("batch_sizes",), list, "batch_sizes"):
            if not sizes:
                v.err(at + ("batch_sizes",), "batch_sizes must list at least one size")
            for j, sz in enumerate(sizes):
                if v.typed(sz, at + ("batch_sizes", j), int, "each batch size") and not 0 < sz <= MAX_EXTENT:
                    v.err(at + ("batch_sizes", j), f"batch size must be a positive integer of at most {MAX_EXTENT}, got {_short(sz)}")
        devices = v.choices(b["devices"], at + ("devices",), DEVICES, "devices") if "devices" in b else dev_default
        dtypes = v.choices(b["dtypes"], at + ("dtypes",), tuple(DTYPES), "dtypes") if "dtypes" in b else ("float32",)
        inputs: list[InputSpec] = []
        ilist = b.get("inputs", [])
        if v.typed(ilist, at + ("inputs",), list, "inputs"):
            for j, spec in enumerate(ilist):
                ip = at + ("inputs", j)
                if not v.keys(spec, ip, {"shape": True, "kind": False, "high": False}, "input"):
                    continue
                shape = spec.get("shape", [])
                shape_ok = v.typed(shape, ip + ("shape",), list, "input shape (per sample, batch excluded)")
                if shape_ok:
                    for k, n in enumerate(shape):
                        if not v.typed(n, ip + ("shape", k), int, "each input dimension"):
                            shape_ok = False
                        elif not 0 < n <= MAX_EXTENT:
                            v.err(ip + ("shape", k), f"input dimension must be a positive integer of at most {MAX_EXTENT}, got {_short(n)}")
                            shape_ok = False
                kind = spec.get("kind", "normal")
                if not isinstance(kind, str) or kind not in INPUT_KINDS:
                    v.err(ip + ("kind",), f"unknown input kind {_short(kind)}{_hint(str(kind), INPUT_KINDS)}; allowed: {', '.join(INPUT_KINDS)}")
                high = spec.get("high", 2)
                if v.typed(high, ip + ("high",), int, "input high") and not 1 <= high <= MAX_INT:
                    v.err(ip + ("high",), f"input high must be an integer from 1 to {MAX_INT}, got {_short(high)}")
                if shape_ok:
                    inputs.append(InputSpec(tuple(shape), str(kind), high if isinstance(high, int) and not isinstance(high, bool) else 2))
        params = b.get("params", {})
        v.identifier_keys(params, at + ("params",), "params")
        builtin = b.get("builtin")
        if builtin is not None and v.typed(builtin, at + ("builtin",), str, "builtin"):
            if builtin not in BUILTINS:
                v.err(at + ("builtin",), f"unknown builtin comparator {_short(builtin)}{_hint(builtin, BUILTINS)}; allowed: {', '.join(sorted(BUILTINS))}")
        bparams = b.get("builtin_params", {})
        v.identifier_keys(bparams, at + ("builtin_params",), "builtin_params")
        out.append(Benchmark(bid, str(wl), v.src.line(*at),
                             tuple(s for s in sizes if isinstance(s, int)) if isinstance(sizes, list) else (),
                             devices, dtypes, tuple(inputs), call if isinstance(call, str) else None,
                             dict(params) if isinstance(params, dict) else {},
                             builtin if isinstance(builtin, str) else None, dict(bparams) if isinstance(bparams, dict) else {}))
    return out


def _has(subject: Subject, name: str) -> bool:
    """``subject.has(name)``, False where a third-party namespace's ``__getattr__`` raises."""
    try:
        return bool(subject.has(name))
    except Exception:  # noqa: BLE001
        return False


def _callable_attr(subject: Subject, name: str) -> bool:
    """The subject provides ``name`` (where ``Subject.fn`` looks) and it is callable."""
    try:
        if not subject.has(name):
            return False
        where = subject.namespace if hasattr(subject.namespace, name) else subject.obj
        return callable(getattr(where, name))
    except Exception:  # noqa: BLE001 - a third-party namespace whose __getattr__ raises
        return False


def _call(v: _V, call: Any, at: tuple, subject: Subject | None) -> bool:
    """A benchmark's ``call:``: a function the subject provides (``Subject.has``), which is what
    ``harness bench`` will time (``subject.fn(call)``)."""
    if not v.typed(call, at, str, "call"):
        return False
    if not _NAME.match(call) or call.startswith("__"):
        v.err(at, f"call {_short(call)} must be the name of a function of the subject (an identifier, not a dunder)")
        return False
    if subject is None or subject.kind == "third-party":
        return True  # the subject's own problem is reported; a third-party lack is "not applicable"
    if not _callable_attr(subject, call):
        names = set(dir(subject.namespace)) | (set() if isinstance(subject.obj, types.ModuleType) else set(dir(subject.obj)))
        public = sorted(n for n in names if not n.startswith("_"))
        v.err(at, f"unknown call {call!r}: subject {subject.target} has no function {call!r}{_hint(call, public)}; "
                  "call names a function of the subject's module to time")
        return False
    return True


def discover(paths: list[str | Path]) -> list[Path]:
    """Suite files under ``paths`` (files or directories), sorted within each directory, each
    file once. Directories are walked without following symlinked directories (no symlink
    loop can trap the walk, no recursion however deep the tree) and only regular files are
    opened (see :func:`is_suite_file`)."""
    found: list[Path] = []
    seen: set[str] = set()
    for p in map(Path, paths):
        candidates = _yaml_files(p) if p.is_dir() else [p]
        for f in candidates:
            if is_suite_file(f):
                key = os.path.realpath(f)
                if key not in seen:
                    seen.add(key)
                    found.append(f)
    return found


def _yaml_files(top: Path) -> list[Path]:
    """``*.yaml``/``*.yml`` entries under ``top``, sorted; unreadable directories are skipped."""
    out: list[Path] = []
    stack = [str(top)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith((".yaml", ".yml")):
                    out.append(Path(e.path))
            except OSError:
                continue
    return sorted(out)
