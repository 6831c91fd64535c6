"""Every check passes on the reference and rejects each of its declared broken variants
(``tests/mutants/<family>.py``). The reference run and the variant run use the same keyword
arguments, so a variant fails for what it breaks, not for a different case."""
from __future__ import annotations

import pytest

from harness.testing import run_check
from mutants import all_mutants

MUTANTS = all_mutants()
PAIRS = [(check, v) for check in sorted(MUTANTS) for v in MUTANTS[check]]

def _key(check, v):
    ref = v.reference
    return (check, ref.target, repr(sorted(ref.params.items())), repr(sorted(v.kwargs.items())))


REFERENCES = sorted({_key(check, v): v for check, v in PAIRS}.items())


def _ids(pairs):
    return [f"{check}-{v.label}" for check, v in pairs]


@pytest.mark.parametrize("check,variant", [(k[0], v) for k, v in REFERENCES],
                         ids=[f"{k[0]}-ref{i}" for i, (k, _) in enumerate(REFERENCES)])
def test_reference_passes(check, variant):
    out = run_check(check, variant.reference, **variant.kwargs)
    assert out.passed, out.line()


@pytest.mark.parametrize("check,variant", PAIRS, ids=_ids(PAIRS))
def test_variant_is_rejected(check, variant):
    out = run_check(check, variant.subject, **variant.kwargs)
    assert not out.passed, f"{variant.label}: {out.line()}"
