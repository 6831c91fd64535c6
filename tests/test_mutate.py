"""The mutation sampler (tools/mutate.py): which changes it makes, that a mutant really runs, and
that a module's suites judge it."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("dlh_mutate", ROOT / "tools" / "mutate.py")
M = importlib.util.module_from_spec(_spec)
sys.modules["dlh_mutate"] = M
_spec.loader.exec_module(M)

SRC = '''
import torch

EPS = 1e-8
SCALE = 2.0

def f(x, k=3):
    """doc 5"""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k + 1}")
    y = torch.tanh(x) * SCALE + x.sum() - torch.sqrt(x.exp()).mean()
    return -y / (k + EPS), x.log()
'''


def _by_op(cands):
    out = {}
    for c in cands:
        out.setdefault(c.op, []).append((c.original, c.replacement))
    return out


def test_every_operator_class_is_generated():
    ops = _by_op(M.candidates("toy", SRC))
    assert set(ops) == set(M.OPERATORS)
    assert ("torch.tanh(x)", "torch.sigmoid(x)") in ops["activation"]
    assert ("x.sum()", "x.mean()") in ops["reduction"]
    assert ("torch.sqrt(x.exp())", "x.exp()") in ops["drop_fn"] and ("x.exp()", "x") in ops["drop_fn"]
    assert ("k < 0", "k <= 0") in ops["compare"]
    assert ("-y", "y") in ops["sign"]
    assert ("2.0", "4.0") in ops["constant"]
    assert ("x.log()", f"{M.DETACH_HELPER}(x.log())") in ops["detach"]
    assert any(r.startswith("y + x") or "SCALE - x.sum()" in r for _, r in ops["arith"])


def test_defaults_raises_docstrings_and_epsilons_are_not_mutated():
    originals = {c.original for c in M.candidates("toy", SRC)}
    assert "3" not in originals                 # the default k=3
    assert "1e-08" not in originals and "1e-8" not in originals
    assert not any("must be" in o for o in originals) and "k + 1" not in originals
    assert "5" not in originals


def test_ids_are_stable_and_unique():
    a, b = M.candidates("toy", SRC), M.candidates("toy", "\n\n" + SRC)
    assert [c.id for c in a] == [c.id for c in b]            # moving code does not rename a mutant
    assert len({c.id for c in a}) == len(a)


def test_sample_takes_operators_round_robin_and_is_deterministic():
    cands = M.candidates("toy", SRC)
    s = M.sample(cands, len(M.OPERATORS))
    assert {m.op for m in s} == set(M.OPERATORS)
    assert [m.id for m in s] == [m.id for m in M.sample(list(reversed(cands)), len(M.OPERATORS))]
    assert len(M.sample(cands, None)) == len(cands)


def _run(code):
    mod = types.ModuleType("toy")
    mod.__dict__[M.DETACH_HELPER] = M._DetachProbe()
    exec(code, mod.__dict__)
    return mod


def test_each_mutant_compiles_and_changes_only_its_node():
    import torch

    x = torch.tensor([0.5, 1.5], dtype=torch.float64)
    ref = _run(compile(SRC, "toy.py", "exec")).f(x)
    for m in M.candidates("toy", SRC):
        out = _run(M.mutated_code(m, SRC, "toy.py")).f(x)
        if m.op == "detach":
            assert all(torch.equal(a, b) for a, b in zip(out, ref)), m.describe()
        elif m.original not in ("0", "k < 0"):  # the guard is not reached with k = 3
            assert not all(torch.equal(a, b) for a, b in zip(out, ref)), m.describe()


def test_detach_mutant_cuts_the_graph():
    import torch

    (m,) = [c for c in M.candidates("toy", SRC) if c.op == "detach" and "x.log()" in c.original]
    x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    assert not _run(M.mutated_code(m, SRC, "toy.py")).f(x)[1].requires_grad


def test_equivalents_file_lines_have_reasons_and_name_real_candidates():
    eq = M.load_equivalents()
    ids = {c.id for mod in M.modules([]) for c in M.candidates(mod, (ROOT / "reference_impls" / f"{mod}.py").read_text())}
    stale = sorted(set(eq) - ids)
    assert not stale, f"tools/mutation_equivalents.txt names mutants that no longer exist: {stale}"
    assert all(len(why.split()) >= 4 for why in eq.values())


def test_unknown_module_is_refused():
    with pytest.raises(SystemExit, match="unknown module"):
        M.modules(["nope"])


@pytest.mark.slow
def test_a_small_run_kills_mutants_of_a_module():
    """End to end, in its own process (the tool forks after importing torch)."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "mutate.py"), "losses", "-n", "6", "-j", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("losses")]
    assert rows, r.stdout + r.stderr
    cases, mutants, killed = map(int, rows[0][1:4])
    assert cases > 0 and mutants == 6 and killed >= 4, r.stdout
