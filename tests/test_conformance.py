"""Anyone's implementation, not only ours: --impl is validated, partial implementations run
against the shipped suites with no hand-cut YAML (what they lack is not applicable, with the
reason), failures name their subject and their likely cause, and a contract's template, once
filled in, passes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.cases import property_cases
from harness.executor import run_property
from harness.runner import UsageError, load_all

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"

PARTIAL_RBM = '''
"""Only the free energy and a model; a conditional with the hidden bias missing from its signature."""
import torch

def free_energy(v, W, a, b):
    return -(v @ a) - torch.nn.functional.softplus(b + v @ W).sum(-1)

def mean_hiddens(v, W):
    return torch.sigmoid(v @ W)

class RBM(torch.nn.Module):
    def __init__(self, n_visible, n_hidden, init_std=0.01):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(n_visible, n_hidden) * init_std)
        self.a = torch.nn.Parameter(torch.zeros(n_visible))
        self.b = torch.nn.Parameter(torch.zeros(n_hidden))

    def forward(self, v):
        return free_energy(v, self.W, self.a, self.b)
'''

PARTIAL_VAE = '''
"""Only the KL term of a VAE, as a library of losses would ship it (no model)."""
import torch

def gaussian_kl(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
'''

HALF_MISSING = '''
"""A contrastive loss without its ½ (a real bug in public code)."""
import torch

def contrastive_loss(d, y, margin=1.0, reduction="mean"):
    y = y.to(d.dtype)
    per = y * d.pow(2) + (1 - y) * torch.clamp(margin - d, min=0).pow(2)
    return {"mean": per.mean, "sum": per.sum}.get(reduction, lambda: per)()
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    for name, src in {"partial_rbm": PARTIAL_RBM, "partial_vae": PARTIAL_VAE, "half_contrastive": HALF_MISSING}.items():
        (tmp_path / f"{name}.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _results(suite: str, impl: str) -> list:
    suites, errors = load_all([SUITES / f"{suite}.yaml"], {suite: impl})
    assert not errors, errors
    return [run_property(c) for c in property_cases(suites[0]) if c.device == "cpu"]


def test_partial_rbm_runs_what_it_provides(third_party):
    res = _results("rbm", "partial_rbm:RBM")
    by = {r.property: r for r in res}
    assert by["rbm_free_energy_marginalises_hiddens"].status == "passed"
    assert by["rbm_module_forward_is_free_energy"].status == "passed"
    na = by["rbm_energy_definition"]
    assert na.status == "not_applicable" and "needs `energy(v, h, W, a, b)`; partial_rbm:RBM does not provide it" in na.line
    sig = by["rbm_conditionals_nonsquare"]
    assert sig.status == "not_applicable" and "provides mean_hiddens(v, W)" in sig.line  # checked against the signature
    assert {r.status for r in res} == {"passed", "not_applicable"}
    assert all(r.subject == "partial_rbm:RBM (third-party)" for r in res)


def test_partial_vae_without_a_model(third_party):
    res = _results("vae", "partial_vae")
    by = {r.property: r.status for r in res}
    assert by["vae_gaussian_kl_matches_torch"] == "passed" and by["vae_gaussian_kl_monte_carlo"] == "passed"
    assert by["vae_forward_composes"] == "not_applicable"  # needs a model: this is a module of functions
    assert "failed" not in by.values() and "error" not in by.values()


def test_missing_half_is_diagnosed_and_names_its_subject(third_party, pytester):
    res = _results("siamese", "half_contrastive")
    failed = [r for r in res if r.status == "failed"]
    assert failed and all(r.subject == "half_contrastive (third-party)" for r in failed)
    assert any("2 × expected everywhere: a constant factor (a missing ½?)" in r.line for r in failed)
    assert not [r for r in res if r.status == "error"], [r.line for r in res if r.status == "error"]
    # the same through pytest: the failure names the subject and the diagnosis
    pytester.syspathinsert(third_party)
    r = pytester.runpytest(str(SUITES / "siamese.yaml"), "--impl", "siamese=half_contrastive", "-k", "reductions and cpu")
    out = r.stdout.str()
    assert "subject: half_contrastive (third-party)" in out and "a missing ½?" in out
    assert "dlharness: suite siamese: subject half_contrastive (third-party)" in out


def test_strict_contract_makes_a_missing_name_an_error(third_party):
    suites, errors = load_all([SUITES / "rbm.yaml"], {"rbm": "partial_rbm:RBM"}, strict=True)
    assert not suites and "needs `energy(v, h, W, a, b)`" in str(errors[0]) and "--strict-contract" in str(errors[0])


def test_impl_naming_no_suite_is_a_usage_error(capsys, pytester):
    with pytest.raises(UsageError, match=r"no suite named 'nosuchsuite'.*suites: vae"):
        load_all([SUITES / "vae.yaml"], {"nosuchsuite": "pkg:X"})
    with pytest.raises(SystemExit) as e:
        cli.main(["run", str(SUITES / "vae.yaml"), "--impl", "vea=pkg:X", "--no-bench", "--no-report"])
    assert e.value.code == 2 and "did you mean 'vae'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", str(SUITES / "vae.yaml"), "--impl", "nosuchsuite=pkg:X"])
    assert e.value.code == 2
    r = pytester.runpytest(str(SUITES / "vae.yaml"), "--impl", "nosuchsuite=pkg:X")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "no suite named 'nosuchsuite' among the suites selected; suites: vae" in r.stderr.str()


@pytest.mark.parametrize("body", [
    "raise SyntaxError('bad')\n", "import argparse; argparse.ArgumentParser().parse_args(['--nope'])\n",
    "1/0\n", "def broken(:\n",
])
def test_an_implementation_that_fails_to_import_is_one_failing_item(tmp_path, pytester, body):
    pytester.makepyfile(badimport=body)
    pytester.syspathinsert()
    r = pytester.runpytest(str(SUITES / "vae.yaml"), str(SUITES / "activations.yaml"), "--impl", "vae=badimport", "-q",
                           "-m", "not cuda")
    outcomes = r.parseoutcomes()
    from harness.cases import property_cases
    from harness.suite import load_suite

    activations = sum(c.device == "cpu" for c in property_cases(load_suite(SUITES / "activations.yaml")))
    assert outcomes["failed"] == 1 and outcomes["passed"] == activations  # the vae suite is one item; activations all run
    assert "importing module 'badimport' failed" in r.stdout.str() or "cannot import" in r.stdout.str()


def test_filled_in_template_passes(tmp_path, monkeypatch):
    """`harness contract activations --template`, its stubs filled with calls into torch (the
    interface translated, not the math), runs the shipped suite: what is filled in passes, what
    is deleted is not applicable."""
    out = tmp_path / "myact.py"
    assert cli.main(["contract", "activations", "--template", "--out", str(out), "--suites", str(SUITES)]) == 0
    text = out.read_text()
    assert "def softmax(x, dim=-1):" in text and "raise NotImplementedError" in text
    fills = {"softmax(x, dim=-1)": "return torch.softmax(x, dim)", "relu(x)": "return torch.relu(x)",
             "sigmoid(x)": "return torch.sigmoid(x)", "tanh(x)": "return torch.tanh(x)"}
    kept = []
    for block in text.split("\n\n\n"):
        head = next((k for k in fills if f"def {k}:" in block), None)
        if head:
            kept.append(block.replace("raise NotImplementedError", fills[head]))
        elif "def " not in block:
            kept.append(block)
    out.write_text("\n\n\n".join(kept) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = _results("activations", "myact")
    by = {}
    for r in res:
        by.setdefault(r.status, []).append(r.property)
    assert set(by) == {"passed", "not_applicable"}, {k: v for k, v in by.items() if k not in ("passed", "not_applicable")}
    assert {"softmax_sums_to_one", "tanh_is_rescaled_sigmoid", "relu_worked_example"} <= set(by["passed"])


def test_contract_command_prints_signatures_and_needs(capsys):
    assert cli.main(["contract", "rbm", "--suites", str(SUITES)]) == 0
    out = capsys.readouterr().out
    assert "gibbs_step(v, W, a, b, generator=None)" in out and "needed by:" in out and "Conventions:" in out
