"""Helpers for tests of checks: run one check on a (possibly broken) subject outside a suite,
and declare each check's broken variants as data.

Every check must be shown to reject a deliberately wrong implementation. A family's variants
live in ``tests/mutants/<family>.py`` as ``MUTANTS = {check name: [Variant, ...]}``::

    from harness.testing import broken, patched

    MUTANTS = {
        "softmax_sums_to_one": [
            broken("unnormalised exp", patched("reference_impls.activations", softmax=lambda x, dim=-1: x.exp())),
        ],
    }

``tests/test_mutants.py`` runs every check on each variant's reference subject (it must pass)
and on the variant (it must fail), with the same keyword arguments; ``tests/test_project.py``
checks that the keys cover the whole registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from harness.context import DTYPES, Case, case_seed
from harness.executor import decide
from harness.outcome import Outcome
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


def replaced(target: str | Subject, obj: Any, params: Mapping[str, Any] | None = None) -> Subject:
    """The subject ``target`` building ``obj`` (e.g. a broken model class) instead, with the same
    params and functional cores."""
    s = target if isinstance(target, Subject) else subject_from(target, params)
    return s.with_obj(obj)


@dataclass(frozen=True)
class Variant:
    """A broken implementation of one check's subject: ``subject`` must fail the check where
    ``reference`` passes, both run with ``kwargs`` (device, dtype, seed, tolerance, check params)."""

    label: str
    subject: Subject
    reference: Subject
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # pytest ids
        return self.label


def broken(label: str, subject: Subject, reference: Subject | str | None = None, **kwargs: Any) -> Variant:
    """A :class:`Variant`; its reference defaults to the subject it was derived from
    (:func:`patched` / :func:`replaced`)."""
    if isinstance(reference, str):
        reference = subject_from(reference, subject.params)
    ref = reference or subject.origin
    if ref is None:
        raise ValueError(f"variant {label!r}: give a reference subject (the variant was not derived from one)")
    return Variant(label, subject, ref, dict(kwargs))


def run_check(name: str, subject: Subject | str, *, device: str = "cpu", dtype: str = "float64",
              seed: int = 0, tolerance: tuple[float, float] | None = None, suite: str = "test",
              **params: Any) -> Outcome:
    """Run check ``name`` on ``subject`` in one case (default tolerance of the check/dtype);
    ``suite`` names the family for checks that read its contract (the common properties)."""
    spec = load_checks()[name]
    if isinstance(subject, str):
        subject = subject_from(subject)
    tol = spec.tolerance_for(dtype, tolerance, "test")
    case = Case(suite, name, device, DTYPES[dtype], case_seed(seed, "test", name), tol)
    return decide(spec, subject, case, params)
