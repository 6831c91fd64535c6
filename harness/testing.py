"""Helpers for tests of checks: run one check on a (possibly broken) subject outside a suite.

Every check must be shown to reject a deliberately wrong implementation. In ``tests/``::

    from harness.testing import run_check, subject_from, patched

    def test_softmax_sums_to_one_rejects_unnormalised():
        bad = patched("reference_impls.activations", softmax=lambda x, dim=-1: x.exp())
        assert not run_check("softmax_sums_to_one", bad, dtype="float64").passed

``tests/test_every_check_is_tested.py`` checks that every registered check name appears in a
``run_check("<name>", ...)`` call under ``tests/`` whose result is asserted to fail.
"""
from __future__ import annotations

from typing import Any, Mapping

from harness.context import DEFAULT_TOLERANCE, DTYPES, Case, case_seed, intra_op_threads, property_threads
from harness.outcome import Outcome, Tolerance
from harness.registry import Subject, import_target, load_checks


def subject_from(target: str | Any, params: Mapping[str, Any] | None = None) -> Subject:
    """A Subject from an import string (``reference_impls.vae:VAE``) or an object."""
    obj = import_target(target, allow_any=True) if isinstance(target, str) else target
    name = target if isinstance(target, str) else getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return Subject(name, obj, dict(params or {}))


def patched(target: str | Subject, params: Mapping[str, Any] | None = None, **overrides: Any) -> Subject:
    """The subject ``target`` with some functional cores replaced (broken variants)."""
    s = target if isinstance(target, Subject) else subject_from(target, params)
    return s.with_namespace(**overrides)


def run_check(name: str, subject: Subject | str, *, device: str = "cpu", dtype: str = "float64",
              seed: int = 0, tolerance: tuple[float, float] | None = None, **params: Any) -> Outcome:
    """Run check ``name`` on ``subject`` in one case (default tolerance of the check/dtype)."""
    checks = load_checks()
    spec = checks[name]
    if isinstance(subject, str):
        subject = subject_from(subject)
    if tolerance is not None:
        tol = Tolerance(*tolerance, "test")
    elif dtype in spec.tolerance:
        d = spec.tolerance[dtype]
        tol = Tolerance(d.get("atol", 0.0), d.get("rtol", 0.0), f"check default: {spec.tolerance_why}")
    else:
        tol = Tolerance(*DEFAULT_TOLERANCE[dtype], f"{dtype} default")
    case = Case("test", name, device, DTYPES[dtype], case_seed(seed, "test", name), tol)
    with intra_op_threads(property_threads()):
        return spec.fn(subject, case, **params)
