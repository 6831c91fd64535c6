"""Load and validate a YAML suite into frozen dataclasses.

A suite is data: which subject to test, which properties (registered checks) to prove on
which devices and dtypes, and which workloads to time. Every problem found while loading is
one line ``file:line: what is wrong; allowed: ...`` (with a close-match suggestion), raised
together as a :class:`SuiteError`. See ``suites/README.md`` for the schema with examples.
"""
from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Mapping

from harness import yamlsrc
from harness.builtins import BUILTINS
from harness.context import DEVICES, DTYPES
from harness.registry import CheckSpec, Subject, SubjectError, load_checks, resolve_subject

MARKS = ("slow", "statistical", "training")
WORKLOADS = ("forward", "train_step")
INPUT_KINDS = ("normal", "uniform", "bernoulli", "integers")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SuiteError(Exception):
    """One or more located problems in a suite file; ``str()`` is one line per problem."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in problems))

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

    @property
    def contract(self) -> Any:
        """The family contract of this suite (None for a suite no check module declares)."""
        from harness.contract import CONTRACTS

        return CONTRACTS.get(self.name)


def is_suite_file(path: Path) -> bool:
    """A dlharness suite is a .yaml/.yml file with a top-level ``suite:`` key. Other YAML
    files (CI configs, other tools' data) are never touched."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^suite\s*:", head, re.MULTILINE) is not None


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
            self.err(path, f"{what} must be a mapping, got {_tname(m)}")
            return False
        for k in m:
            if k not in allowed:
                hint = _hint(str(k), allowed)
                self.err(path + (k,), f"unknown key {k!r} in {what}{hint}; allowed: {', '.join(allowed)}")
        for k, req in allowed.items():
            if req and k not in m:
                self.err(path, f"{what} is missing required key {k!r}")
        return True

    def typed(self, v: Any, path: tuple, typ: type | tuple, what: str) -> bool:
        ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, float, (int, float)))
        if not ok:
            names = " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))
            self.err(path, f"{what} must be {names}, got {_tname(v)} {v!r}")
        return ok

    def choices(self, v: Any, path: tuple, allowed: tuple | list, what: str) -> tuple[str, ...]:
        items = v if isinstance(v, list) else None
        if items is None:
            self.err(path, f"{what} must be a list, got {_tname(v)} {v!r}; allowed items: {', '.join(allowed)}")
            return ()
        if not items:
            self.err(path, f"{what} must not be empty; allowed items: {', '.join(allowed)}")
        good = []
        for i, item in enumerate(items):
            if item not in allowed:
                self.err(path + (i,), f"{what} has {item!r}{_hint(str(item), allowed)}; allowed: {', '.join(allowed)}")
            else:
                good.append(item)
        if len(set(good)) != len(good):
            self.err(path, f"{what} lists an item twice: {good}")
        return tuple(good)


def _tname(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


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
            return
        if ann is bool and not isinstance(value, bool) or ann is not bool and (
                not isinstance(value, ann) or isinstance(value, bool)):
            v.err(path, f"parameter {param.name!r} of check {check!r} must be {ann.__name__}, got {_tname(value)} {value!r}")


def _shown(p: Path, root: Path | None) -> str:
    try:
        return str(p.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(p)


def _read(p: Path, shown: str) -> tuple[bytes, yamlsrc.Sourced]:
    """The file's bytes and its located YAML data, or a SuiteError at the offending line."""
    raw = p.read_bytes()
    try:
        return raw, yamlsrc.load(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SuiteError(shown, [(1, f"not UTF-8 text ({e.reason})")]) from None
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


def _defaults(v: _V, defaults: Any) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """``(devices, dtypes, seed)`` every property starts from."""
    devices: tuple[str, ...] = DEVICES
    dtypes: tuple[str, ...] = ("float64",)
    seed = 0
    if v.keys(defaults, ("defaults",), {"devices": False, "dtypes": False, "seed": False}, "defaults"):
        if "devices" in defaults:
            devices = v.choices(defaults["devices"], ("defaults", "devices"), DEVICES, "defaults.devices")
        if "dtypes" in defaults:
            dtypes = v.choices(defaults["dtypes"], ("defaults", "dtypes"), tuple(DTYPES), "defaults.dtypes")
        if "seed" in defaults and v.typed(defaults["seed"], ("defaults", "seed"), int, "defaults.seed"):
            seed = defaults["seed"]
            if seed < 0:
                v.err(("defaults", "seed"), f"defaults.seed must be >= 0, got {seed}")
    return devices, dtypes, seed


def _subject(v: _V, sub: Any, name: Any, impl: Mapping[str, str] | None) -> Subject | None:
    """The suite's subject: its own factory, or the third-party target ``impl`` names for it."""
    if sub is None or not v.keys(sub, ("subject",), {"factory": True, "params": False}, "subject"):
        return None
    params = sub.get("params", {})
    v.typed(params, ("subject", "params"), dict, "subject.params")
    target = sub.get("factory")
    allow_any = False
    if isinstance(name, str) and impl and name in impl:
        target, allow_any = impl[name], True
    if v.typed(target, ("subject", "factory"), str, "subject.factory"):
        try:
            return resolve_subject(target, params if isinstance(params, dict) else {}, allow_any=allow_any)
        except SubjectError as e:
            v.err(("subject", "factory"), str(e))
    return None


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
                    if not x >= 0 or x == float("inf"):
                        v.err(tp + (kk,), f"tolerance.{dt}.{kk} must be a finite number >= 0, got {x}")
                    nums[kk] = float(x)
            tol[dt] = (nums.get("atol", 0.0), nums.get("rtol", 0.0))
    return tol, str(why)


def _xfail(v: _V, x: Any, at: tuple, devices: tuple[str, ...], dtypes: tuple[str, ...]) -> Xfail | None:
    if not v.keys(x, at, {"reason": True, "devices": True, "dtypes": True}, "xfail"):
        return None
    reason = x.get("reason", "")
    if "reason" in x and (not isinstance(reason, str) or not reason.strip()):
        v.err(at + ("reason",), "xfail.reason must say why the property is expected to fail")
    xd = v.choices(x["devices"], at + ("devices",), devices, "xfail.devices") if "devices" in x else ()
    xt = v.choices(x["dtypes"], at + ("dtypes",), dtypes, "xfail.dtypes") if "dtypes" in x else ()
    return Xfail(str(reason), xd, xt)


def _property(v: _V, pr: Any, i: int, checks: Mapping[str, CheckSpec], seen: dict[str, int],
              defaults: tuple[tuple[str, ...], tuple[str, ...]], subject: Subject | None) -> Property | None:
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
    v.typed(sparams, at + ("params",), dict, "params")
    dev_default, dt_default = defaults
    devices = v.choices(pr["devices"], at + ("devices",), dev_default, "devices") if "devices" in pr else dev_default
    dtypes = v.choices(pr["dtypes"], at + ("dtypes",), tuple(DTYPES), "dtypes") if "dtypes" in pr else dt_default
    tol, why = _tolerance(v, pr["tolerance"], at + ("tolerance",)) if "tolerance" in pr else ({}, "")
    marks = v.choices(pr["marks"], at + ("marks",), MARKS, "marks") if "marks" in pr else ()
    xfail = _xfail(v, pr["xfail"], at + ("xfail",), devices, dtypes) if "xfail" in pr else None
    if subject is not None:
        missing = [r for r in spec.requires if not subject.has(r)]
        if missing:
            v.err(at + ("check",), f"check {cname!r} needs {', '.join(missing)} from the subject, which {subject.target} does not provide")
    return Property(str(pid), cname, v.src.line(*at), dict(with_) if isinstance(with_, dict) else {},
                    dict(sparams) if isinstance(sparams, dict) else {}, devices, dtypes, tol, why,
                    tuple(sorted(set(marks) | set(spec.marks))), xfail, spec)


def load_suite(path: str | Path, impl: Mapping[str, str] | None = None, root: Path | None = None) -> Suite:
    """Load, validate and resolve one suite file.

    ``impl`` maps a suite name to a third-party subject (``pkg.module:Attr``) that replaces the
    suite's own factory. ``path`` is shown relative to ``root`` (default: the current dir).
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
    subject = _subject(v, d.get("subject"), name, impl)
    checks = load_checks()
    plist = d.get("properties")
    if v.typed(plist, ("properties",), list, "properties") and not plist:
        v.err(("properties",), "properties must list at least one property")
    seen: dict[str, int] = {}
    props = [p for i, pr in enumerate(plist if isinstance(plist, list) else [])
             if (p := _property(v, pr, i, checks, seen, (dev_default, dt_default), subject)) is not None]
    benches = _benchmarks(v, d.get("benchmarks", []), dev_default)
    if v.problems or subject is None:
        raise SuiteError(shown, v.problems or [(src.line("subject"), "suite has no usable subject")])
    return Suite(name, title, shown, hashlib.sha256(raw).hexdigest(), tuple(refs), subject, seed,
                 tuple(props), tuple(benches))


def _benchmarks(v: _V, blist: Any, dev_default: tuple[str, ...]) -> list[Benchmark]:
    out: list[Benchmark] = []
    if not v.typed(blist, ("benchmarks",), list, "benchmarks"):
        return out
    keys = {"workload": True, "id": False, "batch_sizes": True, "devices": False, "dtypes": False,
            "inputs": True, "call": False, "params": False, "builtin": False, "builtin_params": False}
    seen: set[str] = set()
    for i, b in enumerate(blist):
        at = ("benchmarks", i)
        if not v.keys(b, at, keys, f"benchmark #{i + 1}"):
            continue
        wl = b.get("workload")
        if v.typed(wl, at + ("workload",), str, "workload") and wl not in WORKLOADS:
            v.err(at + ("workload",), f"unknown workload {wl!r}{_hint(wl, WORKLOADS)}; allowed: {', '.join(WORKLOADS)}")
        bid = b.get("id", f"{b.get('call') or 'model'}_{wl}")
        if bid in seen:
            v.err(at, f"benchmark id {bid!r} is used twice; give one an `id:`")
        seen.add(bid)
        sizes = b.get("batch_sizes", [])
        if v.typed(sizes, at + ("batch_sizes",), list, "batch_sizes"):
            if not sizes:
                v.err(at + ("batch_sizes",), "batch_sizes must list at least one size")
            for j, s in enumerate(sizes):
                if v.typed(s, at + ("batch_sizes", j), int, "each batch size") and s <= 0:
                    v.err(at + ("batch_sizes", j), f"batch size must be a positive integer, got {s}")
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
                if v.typed(shape, ip + ("shape",), list, "input shape (per sample, batch excluded)"):
                    for k, n in enumerate(shape):
                        if v.typed(n, ip + ("shape", k), int, "each input dimension") and n <= 0:
                            v.err(ip + ("shape", k), f"input dimension must be positive, got {n}")
                kind = spec.get("kind", "normal")
                if kind not in INPUT_KINDS:
                    v.err(ip + ("kind",), f"unknown input kind {kind!r}{_hint(str(kind), INPUT_KINDS)}; allowed: {', '.join(INPUT_KINDS)}")
                high = spec.get("high", 2)
                if v.typed(high, ip + ("high",), int, "input high") and high < 1:
                    v.err(ip + ("high",), f"input high must be >= 1, got {high}")
                if isinstance(shape, list) and all(isinstance(n, int) for n in shape):
                    inputs.append(InputSpec(tuple(shape), str(kind), int(high) if isinstance(high, int) else 2))
        call = b.get("call")
        if call is not None:
            v.typed(call, at + ("call",), str, "call")
        params = b.get("params", {})
        v.typed(params, at + ("params",), dict, "params")
        builtin = b.get("builtin")
        if builtin is not None and v.typed(builtin, at + ("builtin",), str, "builtin"):
            if builtin not in BUILTINS:
                v.err(at + ("builtin",), f"unknown builtin comparator {builtin!r}{_hint(builtin, BUILTINS)}; allowed: {', '.join(sorted(BUILTINS))}")
        bparams = b.get("builtin_params", {})
        v.typed(bparams, at + ("builtin_params",), dict, "builtin_params")
        out.append(Benchmark(str(bid), str(wl), v.src.line(*at), tuple(s for s in sizes if isinstance(s, int)) if isinstance(sizes, list) else (),
                             devices, dtypes, tuple(inputs), call, dict(params) if isinstance(params, dict) else {},
                             builtin, dict(bparams) if isinstance(bparams, dict) else {}))
    return out


def discover(paths: list[str | Path]) -> list[Path]:
    """Suite files under ``paths`` (files or directories), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(f for f in sorted(p.rglob("*.y*ml")) if is_suite_file(f))
        elif is_suite_file(p):
            found.append(p)
    return found
