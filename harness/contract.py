"""Family contracts: what an implementation must provide for a suite's checks to run on it.

Each suite family's contract is a data file, ``harness/contracts/<family>.yaml``, loaded and
validated into a :class:`Contract` by the family's check module (``CONTRACT =
load_contract("rbm", inputs=_inputs)``), which adds the one part that is code: how to build
example inputs. Data rather than Python declarations because the contract is read by people
writing adapters (``harness contract SUITE``) and by tools, and 26 contracts of the same shape
written as nested constructor calls were the largest block of repetition in the package. A
contract names

- the functional cores and methods, each with its signature and the shapes it takes and
  returns (:class:`Provide`);
- the constructor parameters that set the model's sizes (:class:`Size`): checks read sizes
  with :meth:`Subject.size`, from the suite's ``params``, never from a literal default, so a
  subject built with other params is tested at its own shapes;
- the conventions (label meaning, reduction, sign, gate order) in words;
- how to build example inputs for a case (``inputs(subject, case, batch) -> tuple``), in the
  spirit of PyTorch's ``ModuleInput``.

A check's ``requires=`` names must be provides of the contract of every suite that uses it
(the loader reports a suite whose check needs a name its contract does not declare), and
``harness contract SUITE`` prints a contract for a user writing an adapter.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

CONTRACTS: dict[str, "Contract"] = {}
KINDS = ("function", "method", "model", "attribute")


@dataclass(frozen=True)
class Provide:
    """One name an implementation provides.

    ``kind``: ``function`` (a functional core in the family module), ``method`` (on the built
    model), ``model`` (the subject itself, called or built), ``attribute`` (a value on the
    model). ``signature`` is a Python parameter list without ``self``, e.g.
    ``"(v, W, a, b, generator=None)"``; ``shapes`` says what goes in and comes out, e.g.
    ``"v (B, V) -> (v' (B, V), h (B, H))"``.
    """

    name: str
    signature: str = ""
    shapes: str = ""
    kind: str = "function"
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"provide {self.name!r}: kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.signature:
            self.parameters()  # a malformed signature is a bug in the contract: fail at import

    def call(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """How the checks call it: ``(positional, keyword-only required, optional)`` names."""
        if not self.signature:
            return (), (), ()
        fn = ast.parse(f"def f{self.signature}: pass").body[0]
        a = fn.args  # type: ignore[attr-defined]
        pos = [p.arg for p in a.posonlyargs + a.args]
        positional = tuple(pos[: len(pos) - len(a.defaults)])
        kw_required = tuple(k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None)
        required, optional = self.parameters()
        return positional, kw_required, optional

    def parameters(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(required, optional)`` parameter names of :attr:`signature`."""
        if not self.signature:
            return (), ()
        try:
            fn = ast.parse(f"def f{self.signature}: pass").body[0]
        except SyntaxError as e:
            raise ValueError(f"provide {self.name!r}: signature {self.signature!r} is not a parameter list ({e.msg})") from None
        a = fn.args  # type: ignore[attr-defined]
        pos = [p.arg for p in a.posonlyargs + a.args]
        n_opt = len(a.defaults)
        required = pos[: len(pos) - n_opt] + [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
        optional = pos[len(pos) - n_opt:] + [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        return tuple(required), tuple(optional)

    def __str__(self) -> str:
        return f"{self.name}{self.signature}" + (f" -> {self.shapes}" if self.shapes else "")


@dataclass(frozen=True)
class Size:
    """A constructor parameter that sets a shape. ``alt`` is another valid value: the project's
    tests rebuild the subject with it and check that every property still holds."""

    name: str
    doc: str
    alt: Any = None


@dataclass(frozen=True)
class Contract:
    suites: tuple[str, ...]
    summary: str
    provides: tuple[Provide, ...] = ()
    sizes: tuple[Size, ...] = ()
    conventions: Mapping[str, str] = field(default_factory=dict)
    inputs: Callable[..., tuple] | None = None
    module: str = ""
    batch_independent: bool = False  # rows of the batch never interact (common_batch_independence)
    opt_out: Mapping[str, str] = field(default_factory=dict)  # common property -> why it does not apply

    @property
    def has_model(self) -> bool:
        return self.inputs is not None and any(p.kind == "model" for p in self.provides)

    def __post_init__(self) -> None:
        names = [p.name for p in self.provides]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"contract for {self.suites}: {sorted(dup)} declared twice")

    def provide(self, name: str) -> Provide | None:
        return next((p for p in self.provides if p.name == name), None)

    def example_inputs(self, subject: Any, case: Any, batch: int) -> tuple:
        """Example inputs for ``subject`` at ``batch``, on the case's device and dtype."""
        if self.inputs is None:
            raise NotImplementedError(f"the contract of {', '.join(self.suites)} declares no example inputs")
        return tuple(self.inputs(subject, case, batch))


CONTRACT_DIR = Path(__file__).resolve().parent / "contracts"
_PROVIDE_KEYS = {"name", "kind", "signature", "shapes", "doc"}
_SIZE_KEYS = {"name", "doc", "alt"}


def load_contract(family: str, inputs: Callable[..., tuple] | None = None) -> Contract:
    """Read ``contracts/<family>.yaml``, validate it, bind ``inputs`` and register it."""
    import yaml

    path = CONTRACT_DIR / f"{family}.yaml"
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = f"{path.name}"
    unknown = set(d) - {"suites", "summary", "provides", "sizes", "conventions", "common"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    provides = []
    for p in d.get("provides", []):
        if set(p) - _PROVIDE_KEYS or "name" not in p:
            raise ValueError(f"{where}: provide {p.get('name')!r} has keys {sorted(p)}; allowed: {sorted(_PROVIDE_KEYS)}")
        provides.append(Provide(**p))
    sizes = []
    for z in d.get("sizes", []):
        if set(z) - _SIZE_KEYS or "name" not in z:
            raise ValueError(f"{where}: size {z.get('name')!r} has keys {sorted(z)}; allowed: {sorted(_SIZE_KEYS)}")
        sizes.append(Size(z["name"], z.get("doc", ""), z.get("alt")))
    common = d.get("common") or {}
    if set(common) - {"batch_independent", "opt_out"}:
        raise ValueError(f"{where}: common has keys {sorted(common)}; allowed: batch_independent, opt_out")
    opt_out = dict(common.get("opt_out") or {})
    if any(not isinstance(v, str) or len(v) < 20 for v in opt_out.values()):
        raise ValueError(f"{where}: every common opt_out needs a stated reason")
    return contract(Contract(tuple(d["suites"]), d["summary"], tuple(provides), tuple(sizes),
                             dict(d.get("conventions") or {}), inputs, f"harness.checks.{family}",
                             bool(common.get("batch_independent", False)), opt_out))


def contract(c: Contract) -> Contract:
    """Register ``c`` for each of its suites (called at import of a check module)."""
    import inspect

    module = c.module or inspect.stack()[1].frame.f_globals.get("__name__", "")
    c = Contract(c.suites, c.summary, c.provides, c.sizes, dict(c.conventions), c.inputs, module,
                 c.batch_independent, dict(c.opt_out))
    for s in c.suites:
        if s in CONTRACTS and CONTRACTS[s].module != module:
            raise ValueError(f"suite {s!r} has two contracts ({CONTRACTS[s].module} and {module})")
        CONTRACTS[s] = c
    return c


def for_suite(name: str) -> Contract | None:
    """The contract of suite ``name`` (checks are loaded first)."""
    from harness.registry import load_checks

    load_checks()
    return CONTRACTS.get(name)
