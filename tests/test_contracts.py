"""Family contracts: every shipped suite has one, every check's ``requires`` is declared in it,
and checks take the subject's sizes from the suite's params: rebuilt with each contract size
set to its ``alt`` value, every fast property of the suite still holds on the CPU."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.cases import property_cases
from harness.contract import for_suite
from harness.context import intra_op_threads, property_threads
from harness.registry import load_checks
from harness.runner import load_all

ROOT = Path(__file__).resolve().parents[1]
SUITES, _ = load_all([ROOT / "suites"])


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_suite_has_a_contract_declaring_every_required_name(suite):
    c = for_suite(suite.name)
    assert c is not None, f"suite {suite.name} has no contract (harness.contract.contract in its check module)"
    checks = load_checks()
    names = {p.name for p in c.provides}
    for prop in suite.properties:
        missing = set(checks[prop.check].requires) - names
        assert not missing, f"{suite.name}/{prop.id}: check {prop.check} requires {sorted(missing)}, not in the contract"


RESIZED = [(s, p) for s in SUITES for p in s.properties
           if (c := for_suite(s.name)) and any(z.alt is not None for z in c.sizes) and "slow" not in p.marks]


@pytest.mark.parametrize("suite,prop", RESIZED, ids=[f"{s.name}-{p.id}" for s, p in RESIZED])
def test_property_holds_at_other_sizes(suite, prop):
    """The subject rebuilt with every contract size at its ``alt`` value (where the property does
    not set that size itself) still satisfies the property: the check followed the params."""
    c = for_suite(suite.name)
    alts = {z.name: z.alt for z in c.sizes if z.alt is not None and z.name not in prop.subject_params}
    case = next(x for x in property_cases(suite) if x.prop is prop and x.device == "cpu")
    with intra_op_threads(property_threads()):
        out = prop.spec.fn(case.subject.with_params(**alts), case.case(), **prop.params)
    if case.xfail:  # a golden case the property must reject (the notes' wrong example): still rejected
        assert not out.passed, f"{suite.name}/{prop.id} with {alts} passed, but is a strict expected failure ({case.xfail})"
    else:
        assert out.passed, f"{suite.name}/{prop.id} with {alts}: {out.line()}"
