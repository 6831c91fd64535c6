"""Names to things: property checks (one decorator) and subjects (model factories).

A check is a function ``fn(subject, case, **params) -> Outcome`` registered with
:func:`check`. Its docstring's first paragraph states the property as a theorem; that text is
what a failure prints. ``requires`` names the functional cores or attributes the subject must
expose (the family's protocol), so a third-party implementation that lacks one is rejected at
collection with the missing names, not with an AttributeError deep inside a check.

Subjects are imported from ``reference_impls.*`` only, unless the command line names an
implementation (``--impl SUITE=pkg.module:Attr``); see :func:`resolve_subject`.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

CHECKS: dict[str, "CheckSpec"] = {}


@dataclass(frozen=True)
class CheckSpec:
    name: str
    fn: Callable[..., Any]
    requires: tuple[str, ...] = ()
    tolerance: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tolerance_why: str = ""
    marks: tuple[str, ...] = ()
    module: str = ""

    @property
    def statement(self) -> str:
        """The property in words: the docstring's first paragraph on one line."""
        doc = inspect.getdoc(self.fn) or self.name
        return " ".join(doc.split("\n\n")[0].split())

    def tolerance_for(self, dtype: str, override: tuple[float, float] | None = None, source: str = "") -> Any:
        """The tolerance layering, in one place: a suite's (or test's) ``override`` first, then
        this check's default for ``dtype``, then the dtype's default."""
        from harness.context import DEFAULT_TOLERANCE
        from harness.outcome import Tolerance

        if override is not None:
            return Tolerance(float(override[0]), float(override[1]), source or "override")
        if dtype in self.tolerance:
            d = self.tolerance[dtype]
            return Tolerance(d.get("atol", 0.0), d.get("rtol", 0.0), f"check default: {self.tolerance_why}")
        return Tolerance(*DEFAULT_TOLERANCE[dtype], f"{dtype} default")

    @property
    def family(self) -> str:
        """The suite family whose module defines the check (``harness.checks.<family>``)."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """Keyword parameters a suite may set under ``with:``."""
        sig = inspect.signature(self.fn)
        return {n: p for n, p in list(sig.parameters.items())[2:] if p.kind is not p.VAR_KEYWORD}


def check(
    name: str | None = None,
    *,
    requires: tuple[str, ...] | list[str] = (),
    tolerance: Mapping[str, Mapping[str, float]] | None = None,
    why: str = "",
    marks: tuple[str, ...] | list[str] = (),
) -> Callable[[Callable], Callable]:
    """Register ``fn(subject, case, **params) -> Outcome`` as a property check.

    ``tolerance`` is the check's own default by dtype name, e.g.
    ``{"float32": {"atol": 1e-5, "rtol": 1e-4}}``; ``why`` says where it comes from.
    """

    def deco(fn: Callable) -> Callable:
        cname = name or fn.__name__
        if cname in CHECKS and CHECKS[cname].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"check {cname!r} registered twice ({CHECKS[cname].module} and {fn.__module__})")
        params = list(inspect.signature(fn).parameters)
        if params[:2] != ["subject", "case"]:
            raise TypeError(f"check {cname!r} must take (subject, case, **params), got {params}")
        if tolerance and not why:
            raise ValueError(f"check {cname!r}: a default tolerance needs a `why`")
        CHECKS[cname] = CheckSpec(cname, fn, tuple(requires), dict(tolerance or {}), why, tuple(marks), fn.__module__)
        return fn

    return deco


_loaded = False


def load_checks() -> dict[str, CheckSpec]:
    """Import every module of :mod:`harness.checks` once; return the registry."""
    global _loaded
    if not _loaded:
        import harness.checks as pkg

        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
        _loaded = True
    return CHECKS


class SubjectError(Exception):
    """The subject named by a suite cannot be imported or does not satisfy its protocol."""


class NotProvided(SubjectError):
    """The subject lacks ``name`` (a core, or a model to build): properties that need it are
    not applicable to a third-party subject."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Subject:
    """What a suite tests: an imported object plus its constructor parameters.

    ``obj`` is a module (a family of functions) or a callable (an ``nn.Module`` class or
    factory). ``namespace`` is where the family's functional cores are looked up: the module
    itself, or the module that defines the class. Checks call :meth:`fn` for cores and
    :meth:`build` for a model.
    """

    target: str
    obj: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    namespace: Any = None
    origin: "Subject | None" = None  # the subject a test variant was derived from

    def __post_init__(self) -> None:
        if self.namespace is None:
            ns = self.obj if isinstance(self.obj, types.ModuleType) else importlib.import_module(self.obj.__module__)
            object.__setattr__(self, "namespace", ns)

    def has(self, name: str) -> bool:
        return hasattr(self.namespace, name) or (not isinstance(self.obj, types.ModuleType) and hasattr(self.obj, name))

    @property
    def kind(self) -> str:
        """``reference`` for the project's own implementations, else ``third-party``."""
        mod = self.target.partition(":")[0]
        return "reference" if mod == "reference_impls" or mod.startswith("reference_impls.") else "third-party"

    def size(self, name: str) -> Any:
        """The size parameter ``name`` (a contract :class:`~harness.contract.Size`) from the
        suite's params. There is no default: a check never guesses a subject's shape."""
        if name not in self.params:
            raise SubjectError(f"subject {self.target}: size parameter {name!r} is not set; "
                               f"give it under the suite's subject params (has: {', '.join(self.params) or 'none'})")
        return self.params[name]

    def with_params(self, **params: Any) -> "Subject":
        """The same subject built with ``params`` overriding its own."""
        return Subject(self.target, self.obj, {**self.params, **params}, self.namespace, self.origin)

    def fn(self, name: str) -> Any:
        """The functional core ``name`` of this family (e.g. ``"gaussian_kl"``), guarded: a call
        that changes a tensor argument in place raises :class:`harness.guard.InputMutated`."""
        from harness.guard import guard

        if hasattr(self.namespace, name):
            return guard(getattr(self.namespace, name), f"{self.target}: {name}")
        if not isinstance(self.obj, types.ModuleType) and hasattr(self.obj, name):
            return guard(getattr(self.obj, name), f"{self.target}: {name}")
        raise NotProvided(f"subject {self.target} has no {name!r}", name)

    def build(self, case: Any = None, **overrides: Any) -> Any:
        """Construct the model from ``params`` (with ``overrides``).

        With a ``case``, parameters are initialised from the case's seed under a forked global
        RNG (nothing leaks out) and the model is moved to the case's device and dtype.
        """
        if isinstance(self.obj, types.ModuleType):
            raise NotProvided(f"subject {self.target} is a module of functions, not a model to build", "model")
        from harness.guard import guard_module

        kwargs = {**self.params, **overrides}
        if case is None:
            return guard_module(self.obj(**kwargs), self.target)
        with case.fork_rng():
            model = self.obj(**kwargs)
        model = model.to(device=case.device, dtype=case.dtype) if hasattr(model, "to") else model
        return guard_module(model, self.target)

    def with_namespace(self, **overrides: Any) -> "Subject":
        """A copy whose cores ``overrides`` replace the family's (for broken-variant tests)."""
        ns = types.SimpleNamespace(**{k: getattr(self.namespace, k) for k in dir(self.namespace) if not k.startswith("__")})
        for k, v in overrides.items():
            setattr(ns, k, v)
        return Subject(self.target + " (patched)", self.obj, self.params, ns, self)

    def with_obj(self, obj: Any, label: str = "") -> "Subject":
        """A copy that builds ``obj`` (e.g. a broken model class) with the same params and cores."""
        name = label or getattr(obj, "__qualname__", repr(obj))
        return Subject(f"{self.target} (replaced by {name})", obj, self.params, self.namespace, self)


ALLOWED_PREFIX = "reference_impls."


def parse_impl(items: Any) -> dict[str, str]:
    """``["SUITE=pkg.module:Attr", ...]`` as ``{suite: target}``; ValueError on a malformed item."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, target = str(item).partition("=")
        if not sep or not name or not target:
            raise ValueError(f"--impl {item!r}: expected SUITE=pkg.module:Attr")
        out[name] = target
    return out


def import_target(target: str, *, allow_any: bool = False) -> Any:
    """Import ``pkg.module`` or ``pkg.module:attr.path``."""
    modname, _, attr = target.partition(":")
    if not allow_any and not (modname == "reference_impls" or modname.startswith(ALLOWED_PREFIX)):
        raise SubjectError(
            f"subject factory {target!r} is outside reference_impls; name a third-party implementation "
            f"on the command line instead (--impl SUITE={target})"
        )
    try:
        obj = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        raise SubjectError(f"cannot import module {modname!r} ({e.msg})") from None
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - SyntaxError, any exception, SystemExit from argparse at import
        what = f"SystemExit({e.code!r})" if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}"
        raise SubjectError(f"importing module {modname!r} failed: {' '.join(what.split())}") from None
    for part in filter(None, attr.split(".")):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            from difflib import get_close_matches

            hint = get_close_matches(part, public, n=1)
            raise SubjectError(
                f"module {modname!r} has no {part!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        obj = getattr(obj, part)
    return obj


def resolve_subject(target: str, params: Mapping[str, Any], *, allow_any: bool = False) -> Subject:
    """The subject ``module[:attr]``; its functional cores come from ``module`` as named, so
    ``--impl vae=mypkg.vae:VAE`` takes ``gaussian_kl`` etc. from ``mypkg.vae`` even when the
    class itself is imported there from elsewhere."""
    obj = import_target(target, allow_any=allow_any)
    return Subject(target, obj, dict(params), importlib.import_module(target.partition(":")[0]))
