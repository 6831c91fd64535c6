"""The conformance adapters (conformance/): they import, stay short, are declared as well-formed
data, and the findings of running them against their suites are pinned here (each key property
passes or fails as found; see each adapter's docstring and the sweep: harness conformance)."""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.registry import import_target, load_checks
from harness.suite import load_suite
from harness.testing import run_check, subject_from

import conformance
from conformance import ADAPTERS, CIRCULAR

ROOT = Path(__file__).resolve().parents[1]
HAS_PYG = importlib.util.find_spec("torch_geometric") is not None
needs_pyg = pytest.mark.skipif(not HAS_PYG, reason="torch-geometric is not installed (not a project dependency)")
SUITE_PARAMS = {s: load_suite(ROOT / "suites" / f"{s}.yaml").subject.params
                for s in {e["suite"] for e in ADAPTERS}}


def _importable(target: str) -> bool:
    return HAS_PYG or not target.startswith("conformance.pyg_gnn")


def subject(suite: str, target: str, **params):
    return subject_from(target, {**SUITE_PARAMS[suite], **params})


# ---------------------------------------------------------------------------------------------
# the adapters as data
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ADAPTERS, ids=lambda e: f"{e['suite']}-{e['target']}")
def test_adapter_entry_is_well_formed_and_imports(entry):
    assert set(entry) == {"name", "suite", "target", "library"}
    assert (ROOT / "suites" / f"{entry['suite']}.yaml").is_file()
    assert (ROOT / "harness" / "contracts" / f"{entry['suite']}.yaml").is_file()
    assert entry["target"].startswith("conformance.") and entry["library"]
    if not _importable(entry["target"]):
        pytest.skip("torch-geometric is not installed")
    assert import_target(entry["target"], allow_any=True) is not None


@pytest.mark.parametrize("module", sorted({e["target"].partition(":")[0] for e in ADAPTERS}))
def test_adapter_modules_are_short(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    assert len(path.read_text().splitlines()) < 120, f"{path.name}: an adapter translates, it does not re-implement"


def test_circular_is_well_formed():
    checks = load_checks()
    targets = {e["target"] for e in ADAPTERS}
    assert set(CIRCULAR) == targets
    for target, props in CIRCULAR.items():
        suites = {e["suite"] for e in ADAPTERS if e["target"] == target}
        used = {p.check for s in suites for p in load_suite(ROOT / "suites" / f"{s}.yaml").properties}
        for name, reason in props.items():
            assert name in checks, f"{target}: unknown check {name!r}"
            assert name in used, f"{target}: {name!r} is not a property of {sorted(suites)}"
            assert isinstance(reason, str) and 20 < len(reason) and "\n" not in reason


def test_the_shipped_rnn_suite_runs_on_torch_rnn_with_circular_properties_marked():
    from harness.cases import property_cases
    from harness.executor import run_property
    from harness.runner import load_all

    suites, errors = load_all([ROOT / "suites" / "rnn.yaml"], {"rnn": "conformance.torch_rnn:RNN"})
    assert not errors
    rows = [run_property(c) for c in property_cases(suites[0]) if c.device == "cpu"]
    circ = {r.check for r in rows if r.status == "circular"}
    assert circ == set(CIRCULAR["conformance.torch_rnn:RNN"])
    # a finding, not an adapter bug: torch.nn.RNN refuses a length-0 sequence (the reference returns
    # an empty output and the initial state)
    empty = [r for r in rows if r.check == "recurrent_empty_sequence"]
    assert empty and all(r.status == "error" and "sequence length to be larger than 0" in r.line for r in empty)
    assert all(r.status == "passed" for r in rows if r.check not in circ and r not in empty), \
        [r.line for r in rows if r.status != "passed"]
    assert all("verdict passed" in r.line for r in rows if r.status == "circular")


# ---------------------------------------------------------------------------------------------
# torch.nn.RNN / nn.LSTM
# ---------------------------------------------------------------------------------------------
RNN, LSTM = "conformance.torch_rnn:RNN", "conformance.torch_lstm:LSTM"


def test_torch_rnn_passes_the_non_circular_properties():
    s = subject("rnn", RNN)
    assert run_check("rnn_equals_torch_rnn", s, dtype="float32").passed  # circular, but the layout translation holds
    assert run_check("recurrent_gradcheck", s).passed  # parameters reach the recurrence through functional_call
    assert run_check("rnn_vanishing_gradient", subject("rnn", RNN, input_size=3, hidden_size=8)).passed
    assert run_check("recurrent_state_handover", s).passed


def test_torch_lstm_passes_and_exposes_no_gates():
    s = subject("lstm", LSTM, hidden_size=8)
    assert run_check("lstm_forget_bias_keeps_gradient", s).passed
    assert run_check("lstm_cell_equals_torch_lstmcell", s).passed
    with pytest.raises(NotImplementedError, match="gate"):
        run_check("lstm_gate_equations", s)


# ---------------------------------------------------------------------------------------------
# torch attention and transformer layers
# ---------------------------------------------------------------------------------------------
ATT, TRF = "conformance.torch_attention:make_attention", "conformance.torch_transformer:make_model"


def test_sdpa_gives_a_fully_masked_query_zero_weights():
    assert run_check("attention_masked_weights_exactly_zero", subject("attention", ATT, kind="scaled_dot")).passed


def test_multihead_attention_gives_a_fully_masked_query_nan():
    out = run_check("attention_masked_weights_exactly_zero", subject("attention", ATT))
    assert not out.passed and "no allowed key" in out.line() and "nan" in out.line()


def test_multihead_attention_is_nan_or_zero_depending_on_need_weights():
    """The finding behind the failure: the same nn.MultiheadAttention call gives 0 (sdpa path)
    with need_weights=False and NaN (explicit softmax) with need_weights=True."""
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    x = torch.randn(1, 3, 8, dtype=torch.float64)
    blocked = torch.zeros(3, 3, dtype=torch.bool)
    blocked[0] = True  # query 0 may see no key
    fast, _ = mha(x, x, x, attn_mask=blocked, need_weights=False)
    slow, w = mha(x, x, x, attn_mask=blocked, need_weights=True)
    assert torch.equal(fast[0, 0], torch.zeros(8, dtype=torch.float64))
    assert torch.isnan(slow[0, 0]).all() and torch.isnan(w[0, 0]).all()
    assert torch.allclose(fast[0, 1:], slow[0, 1:])


def test_torch_attention_lacks_the_other_kinds():
    with pytest.raises(NotImplementedError):
        run_check("attention_weights_sum_to_one", subject("attention", ATT, kind="additive"))
    assert run_check("causal_attention_no_future_gradient", subject("attention", ATT)).passed


def test_torch_transformer_layers():
    assert run_check("transformer_encoder_layer_matches_torch", subject("transformer", TRF, model="encoder_layer"),
                     masking="padding").passed
    assert run_check("transformer_no_future_leakage", subject("transformer", TRF, model="decoder_layer")).passed
    with pytest.raises(NotImplementedError):
        run_check("transformer_no_future_leakage", subject("transformer", TRF))


# ---------------------------------------------------------------------------------------------
# torch.distributions
# ---------------------------------------------------------------------------------------------
DIST = "conformance.torch_distributions"


def test_distributions_vae_cores():
    s = subject_from(DIST)
    assert run_check("vae_gaussian_kl_monte_carlo", s, samples=20000).passed
    assert run_check("vae_gaussian_kl_strict_minimum", s).passed
    assert run_check("vae_reparameterize_uses_generator", s).passed  # forked global RNG seeded from the generator
    assert run_check("vae_elbo_tight_at_exact_posterior", s).passed


def test_distributions_losses_and_the_float32_categorical_rounding():
    s = subject_from(DIST)
    assert run_check("discrete_kl_matches_scipy", s, dtype="float32").passed
    assert run_check("bce_with_logits_stable_at_extremes", s, dtype="float32").passed
    assert run_check("cross_entropy_matches_torch", s).passed
    out = run_check("cross_entropy_matches_torch", s, dtype="float32")
    assert not out.passed and "reduction=none" in out.line()
    # the cause: Categorical normalises logits as logits − logsumexp, rounded at |logits| = 1e4
    from torch.distributions import Categorical

    got = -Categorical(logits=torch.full((1, 7), -1e4)).log_prob(torch.tensor([0]))
    assert abs(float(got) - math.log(7)) > 1e-4
    assert abs(float(torch.nn.functional.cross_entropy(torch.full((1, 7), -1e4), torch.tensor([0]))) - math.log(7)) < 1e-6


# ---------------------------------------------------------------------------------------------
# scikit-learn BernoulliRBM
# ---------------------------------------------------------------------------------------------
RBM = "conformance.sklearn_rbm:RBM"


def _toy(seed=1, V=6, H=4, B=32):
    g = torch.Generator().manual_seed(seed)
    W, a, b = (torch.randn(*s, generator=g, dtype=torch.float64) * 0.5 for s in ((V, H), (V,), (H,)))
    v = torch.bernoulli(torch.full((B, V), 0.5, dtype=torch.float64), generator=g)
    return W, a, b, v


def test_sklearn_rbm_agrees_on_conditionals_and_chains():
    s = subject("rbm", RBM)
    assert run_check("rbm_conditionals_from_joint", s, n_visible=3, n_hidden=3).passed
    assert run_check("rbm_block_gibbs_stationary", s).passed
    assert run_check("rbm_gibbs_step_kernel", s).passed
    assert run_check("rbm_free_energy_marginalises_hiddens", s).passed
    assert run_check("rbm_module_forward_is_free_energy", subject("rbm", RBM, n_hidden=4)).passed


def test_sklearn_rbm_convention_differences():
    s = subject("rbm", RBM)
    assert not run_check("rbm_pseudo_likelihood_definition", s).passed  # one random unit, not the sum
    with pytest.raises(RuntimeError, match="does not require grad"):
        run_check("rbm_free_energy_gradient", s)  # numpy: nothing to differentiate


def test_sklearn_pcd_scales_the_negative_phase_by_chains_over_batch():
    """sklearn's _fit divides both phases by the positive batch size: with B' persistent chains
    and B data rows the update is lr·(pos − (B'/B)·neg), not lr·(pos − neg)."""
    from conformance import sklearn_rbm as S
    from harness.checks.rbm import _stats

    assert not run_check("rbm_cd_update_is_statistics_difference", subject("rbm", RBM)).passed
    W, a, b, v = _toy()
    chains = v[:16]
    W2, a2, b2, vk = S.pcd_step(v, chains, W, a, b, 0.05, k=2, generator=torch.Generator().manual_seed(0))
    pos, neg = _stats(v, W, b), _stats(vk, W, b)
    for f, close in ((16 / 32, True), (1.0, False)):
        want = (W + 0.05 * (pos[0] - f * neg[0]), a + 0.05 * (pos[1] - f * neg[1]), b + 0.05 * (pos[2] - f * neg[2]))
        assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip((W2, a2, b2), want)) is close


def test_sklearn_rbm_gibbs_step_is_sklearns_gibbs_and_generator_seeded():
    from sklearn.neural_network import BernoulliRBM

    from conformance import sklearn_rbm as S

    W, a, b, v = _toy()
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(7)))
    rbm = BernoulliRBM(n_components=4, random_state=seed)
    rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_ = W.T.numpy(), a.numpy(), b.numpy()
    v1, _ = S.gibbs_step(v, W, a, b, generator=torch.Generator().manual_seed(7))
    assert np.array_equal(v1.numpy(), rbm.gibbs(v.numpy()))  # the same RandomState stream as sklearn's gibbs
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    draws = [S.sample_hiddens(v, W, b, generator=torch.Generator().manual_seed(k)) for k in (3, 3, 4)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    assert torch.equal(torch_state, torch.get_rng_state()) and np.array_equal(np_state, np.random.get_state()[1])


# ---------------------------------------------------------------------------------------------
# PyTorch Geometric
# ---------------------------------------------------------------------------------------------
PYG = "conformance.pyg_gnn:GNN"


@needs_pyg
def test_pyg_passes_the_gnn_properties():
    s = subject("gnn", PYG)
    assert run_check("gnn_sum_aggregation_is_adjacency_product", s).passed
    assert run_check("gnn_aggregate_matches_loop", s, reduce="max").passed
    assert run_check("gnn_layer_gradcheck", s, aggr="mean").passed
    assert run_check("gnn_receptive_field_k_hops", subject("gnn", PYG, layers=3, aggr="max")).passed
    assert run_check("gnn_batched_equals_one_by_one", subject("gnn", PYG, readout="mean"), task="graph").passed


@needs_pyg
def test_pyg_graphconv_max_applies_the_weight_after_the_max():
    """PyG's GraphConv is W_msg·max_j x_j (documented: x′_i = W₁x_i + W₂ ⊕_j x_j), the contract's
    max_j W_msg x_j; equal for sum and mean (linearity), not for max. No property exercises it."""
    from conformance import pyg_gnn as P
    from reference_impls import gnn as R

    g = torch.Generator().manual_seed(0)
    x, Ws, Wm, b = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((6, 3), (2, 3), (2, 3), (2,)))
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 1], [1, 2, 3, 4, 5, 0, 0]])
    for aggr in ("sum", "mean"):
        assert torch.allclose(P.graph_conv(x, ei, Ws, Wm, b, aggr), R.graph_conv(x, ei, Ws, Wm, b, aggr))
    pyg = P.graph_conv(x, ei, Ws, Wm, b, "max")
    assert not torch.allclose(pyg, R.graph_conv(x, ei, Ws, Wm, b, "max"))
    assert torch.allclose(pyg, x @ Ws.T + P.aggregate(x[ei[0]], ei[1], 6, "max") @ Wm.T + b)
