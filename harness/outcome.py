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


def close(statement: str, observed: Any, expected: Any, tol: Tolerance, detail: str = "") -> Outcome:
    """Elementwise ``|observed - expected| <= atol + rtol |expected|`` (compared in float64)."""
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
    extra = "; ".join(s for s in (where, detail) if s)
    obs = summarize(observed) if o.numel() <= 6 else summarize(o if not isinstance(observed, torch.Tensor) else observed)
    exp = summarize(expected) if e.numel() <= 6 else summarize(e if not isinstance(expected, torch.Tensor) else expected)
    return Outcome(passed, statement, obs, exp, err, f"{tol.atol:.3g} + {tol.rtol:.3g}|expected| ({tol.source})", extra)


def exact(statement: str, observed: Any, expected: Any, detail: str = "") -> Outcome:
    """Exact equality (shapes, integers, sizes, booleans, bitwise-equal tensors)."""
    if isinstance(observed, torch.Tensor) or isinstance(expected, torch.Tensor):
        o, e = f64(observed), f64(expected)
        ok = o.shape == e.shape and bool(torch.equal(o, e))
        err = float((o - e).abs().max()) if ok is False and o.shape == e.shape and o.numel() else None
        return Outcome(ok, statement, summarize(observed), summarize(expected), err, "exact" if err is not None else "", detail)
    return Outcome(observed == expected, statement, summarize(observed), summarize(expected), detail=detail)


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
