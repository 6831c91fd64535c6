"""Every RBM check passes on reference_impls.rbm and rejects a deliberately broken variant.

The headline: a ``gibbs_step`` that uses W where W^T belongs (``v @ W.T`` for the hidden
pre-activation) fails with a shape error for non-square W and is rejected numerically, by the
one-step kernel test and by the chain's chi-square test, for square W.
"""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import reference_impls.rbm as rbm
from harness.testing import patched, run_check, subject_from

TARGET = "reference_impls.rbm:RBM"
PARAMS = {"n_visible": 6, "n_hidden": 4}


def good():
    return subject_from(TARGET, PARAMS)


def bad(**cores):
    return patched(TARGET, PARAMS, **cores)


# -- broken variants ------------------------------------------------------------------------
def gibbs_step_transposed(v, W, a, b, generator=None):
    """W where W^T belongs: p(h|v) = sigma(b + W v) in column form."""
    h = torch.bernoulli(torch.sigmoid(b + v @ W.T), generator=generator)
    return torch.bernoulli(torch.sigmoid(a + h @ W.T), generator=generator), h


def gibbs_step_lazy(v, W, a, b, generator=None):
    """Returns the input state: every distribution is 'stationary' for it."""
    return v, rbm.sample_hiddens(v, W, b, generator)


def single_site_wrong_threshold(v, h, W, a, b, generator=None, site=None, u=None):
    """x_i = 1[u > p]: a Bernoulli(1 - p) draw."""
    n_v = v.shape[-1]
    x = torch.cat([v, h], -1)
    site, u = rbm._site_and_uniform(x, generator, site, u)
    p = torch.cat([rbm.mean_visibles(h, W, a), rbm.mean_hiddens(v, W, b)], -1).gather(1, site[:, None])
    x = x.scatter(1, site[:, None], (u[:, None] > p).to(x.dtype))
    return x[:, :n_v], x[:, n_v:]


def cd_k_gradient_sign_flipped(v, W, a, b, k=1, generator=None, v_neg=None):
    dW, da, db, chain = rbm.cd_k_gradient(v, W, a, b, k, generator, v_neg)
    return -dW, -da, -db, chain


def cd_k_gradient_one_step_too_many(v, W, a, b, k=1, generator=None, v_neg=None):
    return rbm.cd_k_gradient(v, W, a, b, k + 1, generator, v_neg)


def cd_k_gradient_sampled_negative_hiddens(v, W, a, b, k=1, generator=None, v_neg=None):
    """Negative statistics with sampled h (same expectation, but not the documented estimator)."""
    chain = v if v_neg is None else v_neg
    for _ in range(k):
        chain, _ = rbm.gibbs_step(chain, W, a, b, generator)
    h_pos, h_neg = rbm.mean_hiddens(v, W, b), rbm.sample_hiddens(chain, W, b, generator)
    return (v.T @ h_pos / len(v) - chain.T @ h_neg / len(chain), v.mean(0) - chain.mean(0),
            h_pos.mean(0) - h_neg.mean(0), chain)


def pcd_step_frozen(v, v_persistent, W, a, b, lr, k=1, generator=None):
    """Forgets to apply the update."""
    *_, chain = rbm.cd_k_gradient(v, W, a, b, k, generator, v_neg=v_persistent)
    return W, a, b, chain


class NegatedFreeEnergyRBM(rbm.RBM):
    def forward(self, v):
        return -rbm.free_energy(v, self.W, self.a, self.b)


# -- the real implementation passes ----------------------------------------------------------
@pytest.mark.parametrize("name,params", [
    ("rbm_energy_definition", {}), ("rbm_free_energy_marginalises_hiddens", {}), ("rbm_free_energy_gradient", {}),
    ("rbm_conditionals_from_joint", {"n_visible": 3, "n_hidden": 3}), ("rbm_log_partition_enumeration", {}),
    ("rbm_block_gibbs_stationary", {"n_visible": 3, "n_hidden": 3}), ("rbm_single_site_detailed_balance", {}),
    ("rbm_gibbs_step_kernel", {}), ("rbm_gibbs_chain_chi_square", {"n_visible": 3, "n_hidden": 3, "scale": 1.5}),
    ("rbm_single_site_chain_chi_square", {}), ("rbm_samplers_match_conditionals", {}),
    ("rbm_sampling_only_through_generator", {}), ("rbm_cd_update_is_statistics_difference", {}),
    ("rbm_cd_expected_gradient", {"k": 2}), ("rbm_cd_raises_loglik", {"method": "pcd"}),
    ("rbm_pseudo_likelihood_definition", {}), ("rbm_pseudo_likelihood_matches_sklearn", {}),
    ("rbm_module_forward_is_free_energy", {}),
])
def test_reference_rbm_passes(name, params):
    out = run_check(name, good(), **params)
    assert out.passed, out.line()


# -- headline: W instead of W^T in gibbs_step -------------------------------------------------
def test_transposed_gibbs_step_fails_loudly_for_non_square_W():
    with pytest.raises(RuntimeError):
        run_check("rbm_gibbs_step_kernel", bad(gibbs_step=gibbs_step_transposed), n_visible=3, n_hidden=2)


def test_gibbs_step_kernel_rejects_transposed_W_when_square():
    assert not run_check("rbm_gibbs_step_kernel", bad(gibbs_step=gibbs_step_transposed), n_visible=3, n_hidden=3).passed


def test_gibbs_chain_rejects_transposed_W_when_square():
    assert not run_check("rbm_gibbs_chain_chi_square", bad(gibbs_step=gibbs_step_transposed),
                         n_visible=3, n_hidden=3, scale=1.5).passed


def test_gibbs_chain_rejects_a_chain_that_does_not_move():
    assert not run_check("rbm_gibbs_chain_chi_square", bad(gibbs_step=gibbs_step_lazy)).passed


def test_stationarity_rejects_transposed_conditional_when_square():
    transposed = lambda v, W, b: torch.sigmoid(b + v @ W.T)  # noqa: E731
    assert not run_check("rbm_block_gibbs_stationary", bad(mean_hiddens=transposed), n_visible=3, n_hidden=3).passed
    assert not run_check("rbm_conditionals_from_joint", bad(mean_hiddens=transposed), n_visible=3, n_hidden=3).passed


def test_notes_typo_visible_conditional_from_visibles_is_rejected():
    """Notes 001 write p(v_i=1|.) = sigma(sum_j w_ij v_j + c_i); with square W that runs and is wrong."""
    typo = lambda h, W, a: torch.sigmoid(a + h @ W)  # noqa: E731  (uses W, not W^T, and the wrong layer's index)
    assert not run_check("rbm_conditionals_from_joint", bad(mean_visibles=typo), n_visible=3, n_hidden=3).passed


# -- every other check ------------------------------------------------------------------------
def test_energy_rejects_sign_flipped_interaction():
    wrong = lambda v, h, W, a, b: -(v @ a) - (h @ b) + ((v @ W) * h).sum(-1)  # noqa: E731
    assert not run_check("rbm_energy_definition", bad(energy=wrong)).passed


def test_free_energy_rejects_naive_softplus_overflow():
    naive = lambda v, W, a, b: -(v @ a) - torch.log(1 + torch.exp(b + v @ W)).sum(-1)  # noqa: E731
    assert run_check("rbm_free_energy_marginalises_hiddens", bad(free_energy=naive), extreme_scale=1.0).passed
    assert not run_check("rbm_free_energy_marginalises_hiddens", bad(free_energy=naive)).passed


def test_free_energy_gradient_rejects_relu_for_softplus():
    wrong = lambda v, W, a, b: -(v @ a) - F.relu(b + v @ W).sum(-1)  # noqa: E731
    assert not run_check("rbm_free_energy_gradient", bad(free_energy=wrong)).passed


def test_log_partition_rejects_naive_sum_of_exponentials():
    def naive(W, a, b):
        h = rbm._all_states(W.shape[1], W)
        return torch.log(torch.exp(h @ b + F.softplus(a + h @ W.T).sum(-1)).sum())

    assert not run_check("rbm_log_partition_enumeration", bad(log_partition=naive)).passed


def test_single_site_detailed_balance_rejects_inverted_threshold():
    assert not run_check("rbm_single_site_detailed_balance", bad(single_site_gibbs_step=single_site_wrong_threshold)).passed


def test_single_site_chain_rejects_inverted_threshold():
    assert not run_check("rbm_single_site_chain_chi_square", bad(single_site_gibbs_step=single_site_wrong_threshold)).passed


def test_samplers_reject_one_shared_uniform_per_row():
    """Right marginals, wrong joint law: all hidden units share one uniform."""
    def shared(v, W, b, generator=None):
        p = rbm.mean_hiddens(v, W, b)
        return (torch.rand(p.shape[0], 1, generator=generator, dtype=p.dtype) < p).to(p.dtype)

    assert not run_check("rbm_samplers_match_conditionals", bad(sample_hiddens=shared)).passed


def test_generator_discipline_rejects_global_rng():
    global_rng = lambda v, W, b, generator=None: torch.bernoulli(rbm.mean_hiddens(v, W, b))  # noqa: E731
    assert not run_check("rbm_sampling_only_through_generator", bad(sample_hiddens=global_rng)).passed


def test_cd_update_rejects_sign_flip_and_sampled_negative_hiddens():
    assert not run_check("rbm_cd_update_is_statistics_difference", bad(cd_k_gradient=cd_k_gradient_sign_flipped)).passed
    assert not run_check("rbm_cd_update_is_statistics_difference",
                         bad(cd_k_gradient=cd_k_gradient_sampled_negative_hiddens)).passed
    assert not run_check("rbm_cd_update_is_statistics_difference", bad(pcd_step=pcd_step_frozen)).passed


def test_cd_expected_gradient_rejects_off_by_one_k():
    assert not run_check("rbm_cd_expected_gradient", bad(cd_k_gradient=cd_k_gradient_one_step_too_many), k=1).passed


def test_pcd_expected_gradient_rejects_chains_restarted_at_the_data():
    restart = lambda v, W, a, b, k=1, generator=None, v_neg=None: rbm.cd_k_gradient(v, W, a, b, k, generator)  # noqa: E731
    assert not run_check("rbm_cd_expected_gradient", bad(cd_k_gradient=restart), persistent=True).passed


def test_cd_training_rejects_sign_flipped_gradient():
    assert not run_check("rbm_cd_raises_loglik", bad(cd_k_gradient=cd_k_gradient_sign_flipped)).passed


def test_pseudo_likelihood_rejects_swapped_free_energies():
    def swapped(v, W, a, b):
        n = v.shape[-1]
        flipped = v[:, None, :] + torch.eye(n, dtype=v.dtype) * (1 - 2 * v[:, None, :])
        f = rbm.free_energy(flipped.reshape(-1, n), W, a, b).reshape(len(v), n)
        return F.logsigmoid(rbm.free_energy(v, W, a, b)[:, None] - f).sum(-1)

    assert not run_check("rbm_pseudo_likelihood_definition", bad(pseudo_likelihood=swapped)).passed


def test_pseudo_likelihood_vs_sklearn_rejects_mean_over_units():
    mean = lambda v, W, a, b: rbm.pseudo_likelihood(v, W, a, b) / v.shape[-1]  # noqa: E731
    assert not run_check("rbm_pseudo_likelihood_matches_sklearn", bad(pseudo_likelihood=mean)).passed


def test_digits_training_matches_sklearn_and_rejects_a_frozen_update():
    out = run_check("rbm_digits_pseudo_likelihood_vs_sklearn", good(), dtype="float32")
    assert out.passed, out.line()
    assert not run_check("rbm_digits_pseudo_likelihood_vs_sklearn", bad(pcd_step=pcd_step_frozen), dtype="float32").passed


def test_module_forward_rejects_negated_free_energy():
    assert not run_check("rbm_module_forward_is_free_energy", subject_from(NegatedFreeEnergyRBM, PARAMS)).passed
