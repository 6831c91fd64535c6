"""What a check returns: an Outcome that reads as one line of a proof.

Checks never assert. They build Outcomes with the helpers here and return one (or
:func:`all_of` several); the pytest plugin and ``harness run`` turn them into pass/fail.
Tensors are summarised by shape, dtype and device, never dumped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch


@dataclass(frozen=True)
class Tolerance:
    """``|observed - expected| <= atol + rtol * |expected|`` elementwise; ``source`` says why."""

    atol: float
    rtol: float
    source: str

    def __str__(self) -> str:
        return f"atol {self.atol:.3g} + rtol {self.rtol:.3g} ({self.source})"


@dataclass(frozen=True)
class Outcome:
    """One decided property.

    ``statement`` names what was compared; ``observed``/``expected`` are short texts;
    ``error`` is the measured discrepancy and ``tolerance`` what it was held to (with its
    source); ``detail`` carries test statistics, sample sizes, seeds.
    """

    passed: bool
    statement: str
    observed: str = ""
    expected: str = ""
    error: float | None = None
    tolerance: str = ""
    detail: str = ""

    def line(self) -> str:
        parts = [self.statement]
        if self.observed or self.expected:
            parts.append(f"observed {self.observed} vs expected {self.expected}")
        if self.error is not None:
            rel = "<=" if self.passed else ">"
            parts.append(f"error {self.error:.3g} {rel} {self.tolerance}" if self.tolerance else f"error {self.error:.3g}")
        elif self.tolerance:
            parts.append(self.tolerance)
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "statement": self.statement,
            "observed": self.observed,
            "expected": self.expected,
            "error": self.error,
            "tolerance": self.tolerance,
            "detail": self.detail,
        }


def summarize(x: Any) -> str:
    """A short text for a value: numbers to 6 significant figures, tensors by shape."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 1:
            return summarize(x.item())
        if x.numel() <= 6:
            return "[" + ", ".join(summarize(v) for v in x.detach().flatten().tolist()) + "]"
        return f"tensor(shape={tuple(x.shape)}, {str(x.dtype).replace('torch.', '')}, {x.device})"
    if isinstance(x, np.ndarray):
        return summarize(torch.from_numpy(np.ascontiguousarray(x)))
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    if isinstance(x, (list, tuple)) and len(x) <= 8:
        return "(" + ", ".join(summarize(v) for v in x) + ")"
    return str(x)


def f64(x: Any) -> torch.Tensor:
    """``x`` (tensor, array or number) as a detached float64 CPU tensor: where oracles compute."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _within(a: torch.Tensor, b: torch.Tensor, tol: Tolerance) -> bool:
    return bool(((a - b).abs() <= tol.atol + tol.rtol * b.abs()).all())


def diagnose(o: torch.Tensor, e: torch.Tensor, tol: Tolerance, dtype: str | None = None,
             alternatives: dict[str, Any] | None = None) -> str:
    """The likely cause of a failed comparison, when the observed values show one, else "".

    Each diagnosis is a relation that holds, within the comparison's own tolerance, at every
    element: observed = c·expected (a constant factor, e.g. 2: "a missing ½?"), = −expected
    (a sign flip), = expected + s (a constant shift), = expectedᵀ (a transposition), the same
    values in other positions (swapped labels, arguments or axes), or an error at the float32
    rounding level in a float64 run. ``alternatives`` are named known-bug oracles a check
    computed (e.g. the loss with its labels swapped); one that the observed values match is
    reported by name. Nothing is guessed: no relation, no diagnosis.
    """
    if o.shape != e.shape or not o.numel() or not (torch.isfinite(o).all() and torch.isfinite(e).all()):
        return ""
    for name, alt in (alternatives or {}).items():
        a = f64(alt)
        if a.shape == o.shape and _within(o, a, tol):
            return f"diagnosis: the observed values match {name}"
    big = e.abs() > max(tol.atol, 1e-300) * 10
    if int(big.sum()) >= 2:
        ratio = o[big] / e[big]
        c = float(ratio.median())
        if c != 0 and abs(c - 1) > 1e-6 and _within(o, c * e, tol):
            if abs(c + 1) < 1e-9:
                return "diagnosis: observed = −expected everywhere (a sign flip?)"
            hint = {2.0: " (a missing ½?)", 0.5: " (an extra ½, or a missing factor 2?)"}.get(round(c, 3), "")
            inv = 1 / c
            if not hint and abs(inv - round(inv)) < 1e-6 and round(inv) >= 2:
                hint = f" (divided by {round(inv)}: a mean where a sum belongs, or a division by a size?)"
            elif not hint and abs(c - round(c)) < 1e-6 and round(c) >= 2:
                hint = f" (multiplied by {round(c)}: a sum where a mean belongs?)"
            return f"diagnosis: observed = {c:.4g} × expected everywhere: a constant factor{hint}"
    if o.numel() >= 2:
        shift = float((o - e).median())
        if abs(shift) > tol.atol and _within(o, e + shift, tol):
            return f"diagnosis: observed = expected {'+' if shift > 0 else '−'} {abs(shift):.4g} everywhere: a constant shift"
    if o.dim() >= 2 and o.shape[-1] == o.shape[-2] and o.shape[-1] > 1 and _within(o, e.transpose(-1, -2), tol):
        return "diagnosis: observed is the transpose of expected (the last two axes swapped)"
    if o.numel() >= 2 and _within(o.flatten().sort().values, e.flatten().sort().values, tol):
        return ("diagnosis: the right values in the wrong positions (swapped labels, arguments or axes, "
                "or a permutation?)")
    if dtype == "float64":
        rel = float(((o - e).abs() / e.abs().clamp(min=1e-300)).max())
        eps32 = float(torch.finfo(torch.float32).eps)
        if eps32 / 64 <= rel <= eps32 * 16:
            return (f"diagnosis: relative error {rel:.2g}, at float32's rounding level (eps {eps32:.2g}) in a float64 "
                    "run: a float32 computation, constant or table?")
    return ""


def close(statement: str, observed: Any, expected: Any, tol: Tolerance, detail: str = "",
          dtype: str | None = None, alternatives: dict[str, Any] | None = None) -> Outcome:
    """Elementwise ``|observed - expected| <= atol + rtol |expected|`` (compared in float64); a
    failure carries a :func:`diagnose` line where the evidence shows a cause."""
    o, e = f64(observed), f64(expected)
    if o.shape != e.shape:
        try:
            o, e = torch.broadcast_tensors(o, e)
        except RuntimeError:
            return Outcome(False, statement, f"shape {tuple(o.shape)}", f"shape {tuple(e.shape)}", detail="shapes differ")
    if not torch.isfinite(o).all() and not torch.equal(torch.isfinite(o), torch.isfinite(e)):
        bad = int((~torch.isfinite(o)).sum())
        return Outcome(False, statement, summarize(observed), summarize(expected),
                       detail=f"{bad} non-finite value(s) in observed" + (f"; {detail}" if detail else ""))
    finite = torch.isfinite(e)
    if not torch.equal(o[~finite], e[~finite]):
        return Outcome(False, statement, summarize(observed), summarize(expected), detail="non-finite values differ")
    diff = (o - e).abs().where(finite, torch.zeros_like(o))
    allowed = tol.atol + tol.rtol * e.abs().where(finite, torch.zeros_like(e))
    excess = diff - allowed
    worst = int(torch.argmax(excess)) if excess.numel() else 0
    err = float(diff.flatten()[worst]) if diff.numel() else 0.0
    passed = bool((excess <= 0).all())
    where = ""
    if o.numel() > 1:
        idx = np.unravel_index(worst, tuple(o.shape))
        where = f"worst at index {tuple(int(i) for i in idx)}: {o.flatten()[worst].item():.6g} vs {e.flatten()[worst].item():.6g}"
    why = "" if passed else diagnose(o, e, tol, dtype, alternatives)
    extra = "; ".join(s for s in (why, where, detail) if s)
    obs = summarize(observed) if o.numel() <= 6 else summarize(o if not isinstance(observed, torch.Tensor) else observed)
    exp = summarize(expected) if e.numel() <= 6 else summarize(e if not isinstance(expected, torch.Tensor) else expected)
    return Outcome(passed, statement, obs, exp, err, f"{tol.atol:.3g} + {tol.rtol:.3g}|expected| ({tol.source})", extra)


def _off_by_one(observed: Any, expected: Any) -> str:
    """Sizes (ints or tuples of ints) that differ by exactly one, named."""
    def ints(x: Any) -> tuple | None:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            return (int(x),)
        if isinstance(x, (tuple, list, torch.Size)) and x and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in x):
            return tuple(int(v) for v in x)
        return None

    o, e = ints(observed), ints(expected)
    if o is None or e is None or len(o) != len(e):
        return ""
    diff = [(i, a - b) for i, (a, b) in enumerate(zip(o, e)) if a != b]
    if diff and all(abs(d) == 1 for _, d in diff):
        where = "" if len(o) == 1 else " in position " + ", ".join(str(i) for i, _ in diff)
        return f"diagnosis: off by one{where} ({'+' if diff[0][1] > 0 else '−'}1: a floor, padding or fence-post error?)"
    return ""


def exact(statement: str, observed: Any, expected: Any, detail: str = "") -> Outcome:
    """Exact equality (shapes, integers, sizes, booleans, bitwise-equal tensors)."""
    if isinstance(observed, torch.Tensor) or isinstance(expected, torch.Tensor):
        o, e = f64(observed), f64(expected)
        ok = o.shape == e.shape and bool(torch.equal(o, e))
        err = float((o - e).abs().max()) if ok is False and o.shape == e.shape and o.numel() else None
        why = "" if ok else diagnose(o, e, Tolerance(0.0, 0.0, "exact"))
        return Outcome(ok, statement, summarize(observed), summarize(expected), err, "exact" if err is not None else "",
                       "; ".join(x for x in (why, detail) if x))
    ok = observed == expected
    ok = bool(ok) if isinstance(ok, (bool, np.bool_)) else False
    why = "" if ok else _off_by_one(observed, expected)
    return Outcome(ok, statement, summarize(observed), summarize(expected), detail="; ".join(x for x in (why, detail) if x))


def holds(statement: str, condition: bool, detail: str = "") -> Outcome:
    """A predicate that either holds or not; ``detail`` gives the evidence."""
    return Outcome(bool(condition), statement, detail=detail)


def bound(statement: str, value: float, limit: float, *, op: str = "<=", source: str = "", detail: str = "") -> Outcome:
    """``value op limit`` for op in <=, <, >=, >."""
    ok = {"<=": value <= limit, "<": value < limit, ">=": value >= limit, ">": value > limit}[op]
    return Outcome(bool(ok), statement, summarize(value), f"{op} {summarize(limit)}",
                   tolerance=source, detail=detail)


def within_se(statement: str, estimate: float, expected: float, se: float, n: int, k: float = 5.0,
              detail: str = "") -> Outcome:
    """Monte Carlo check: ``|estimate - expected| <= k * se`` (k = 5: false alarm < 6e-7 if normal)."""
    err = abs(float(estimate) - float(expected))
    limit = k * float(se)
    ok = err <= limit and math.isfinite(err)
    two_sided = math.erfc(k / math.sqrt(2.0))
    return Outcome(ok, statement, summarize(estimate), summarize(expected), err,
                   f"{k:g} s.e. = {limit:.3g} (s.e. {float(se):.3g}, n={n}, false-alarm rate {two_sided:.1e})", detail)


def p_value(statement: str, statistic: float, p: float, alpha: float, n: int, test: str, detail: str = "") -> Outcome:
    """Hypothesis test: passes when ``p >= alpha`` (alpha is the false-alarm rate)."""
    ok = bool(p >= alpha) and math.isfinite(p)
    return Outcome(ok, statement, f"{test} statistic {statistic:.4g}, p = {p:.3g}", f"p >= alpha = {alpha:g}",
                   detail=f"n={n}" + (f"; {detail}" if detail else ""))


def all_of(*outcomes: Outcome | Iterable[Outcome]) -> Outcome:
    """Combine several outcomes: passes iff all pass; reports the first failure (or a summary)."""
    flat: list[Outcome] = []
    for o in outcomes:
        flat.extend([o] if isinstance(o, Outcome) else list(o))
    if not flat:
        raise ValueError("all_of() needs at least one outcome")
    for o in flat:
        if not o.passed:
            n = len(flat)
            return Outcome(False, o.statement, o.observed, o.expected, o.error, o.tolerance,
                           "; ".join(s for s in (o.detail, f"sub-check {flat.index(o) + 1} of {n}" if n > 1 else "") if s))
    if len(flat) == 1:
        return flat[0]
    errs = [o.error for o in flat if o.error is not None]
    return Outcome(True, f"{len(flat)} sub-checks: " + "; ".join(o.statement for o in flat[:3]) + ("; ..." if len(flat) > 3 else ""),
                   error=max(errs) if errs else None, tolerance=flat[0].tolerance if errs else "",
                   detail="all hold")


def grads(out: torch.Tensor, inputs: list) -> list:
    """torch.autograd.grad of the scalar ``out`` with respect to ``inputs``, None for an input the
    output does not reach (a cut graph is the subject's failure, not the check's error)."""
    if not out.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad(out, inputs, allow_unused=True))


def grad_close(case: Any, statement: str, g: torch.Tensor | None, ref: torch.Tensor, detail: str = "") -> Outcome:
    """``case.close`` of a gradient from :func:`grads`; a missing one (None) fails with that reason."""
    if g is None:
        return holds(statement, False, "no gradient: the output does not depend on this input in autograd's graph")
    return case.close(statement, g, ref, detail=detail)


def build_rejected(subject: Any, **overrides: Any) -> bool:
    """Whether building ``subject`` with these params raises ValueError (an invalid configuration)."""
    try:
        subject.build(None, **overrides)
    except ValueError:
        return True
    return False
