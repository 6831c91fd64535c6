"""Broken variants of the binary-binary RBM (harness/checks/rbm.py).

The headline: a ``gibbs_step`` that uses W where W^T belongs (``v @ W.T`` for the hidden
pre-activation) runs without a shape error for square W and is rejected numerically, by the
one-step kernel test and by the chain's chi-square test (for non-square W it raises:
tests/test_rbm.py). Several variants are the notes' own typos.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

import reference_impls.rbm as rbm
from harness.testing import broken, patched, replaced

REF = "reference_impls.rbm:RBM"
PARAMS = {"n_visible": 6, "n_hidden": 4}
DIGITS = {"n_visible": 64, "n_hidden": 32}  # load_digits' 64 pixels; n_hidden as the shipped suite's
SQUARE = {"n_visible": 3, "n_hidden": 3}  # check parameters: a W / W^T mix-up runs without a shape error


def _bad(params=PARAMS, **cores):
    return patched(REF, params, **cores)


def gibbs_step_transposed(v, W, a, b, generator=None):
    """W where W^T belongs: p(h|v) = sigma(b + W v) in column form."""
    h = torch.bernoulli(torch.sigmoid(b + v @ W.T), generator=generator)
    return torch.bernoulli(torch.sigmoid(a + h @ W.T), generator=generator), h


def gibbs_step_lazy(v, W, a, b, generator=None):
    """Returns the input state: every distribution is 'stationary' for it."""
    return v, rbm.sample_hiddens(v, W, b, generator)


def mean_hiddens_transposed(v, W, b):
    return torch.sigmoid(b + v @ W.T)


def mean_visibles_notes_typo(h, W, a):
    """Notes 001 write p(v_i=1|.) = sigma(sum_j w_ij v_j + c_i): W, not W^T, and the wrong layer's index."""
    return torch.sigmoid(a + h @ W)


def energy_interaction_sign_flipped(v, h, W, a, b):
    return -(v @ a) - (h @ b) + ((v @ W) * h).sum(-1)


def free_energy_naive_softplus(v, W, a, b):
    """log(1 + e^x): overflows to inf for pre-activations of a few hundred."""
    return -(v @ a) - torch.log(1 + torch.exp(b + v @ W)).sum(-1)


def free_energy_relu(v, W, a, b):
    return -(v @ a) - F.relu(b + v @ W).sum(-1)


def log_partition_naive(W, a, b):
    """log of a plain sum of exponentials: overflows at extreme weights."""
    h = rbm._all_states(W.shape[1], W)
    return torch.log(torch.exp(h @ b + F.softplus(a + h @ W.T).sum(-1)).sum())


def single_site_wrong_threshold(v, h, W, a, b, generator=None, site=None, u=None):
    """x_i = 1[u > p]: a Bernoulli(1 - p) draw."""
    n_v = v.shape[-1]
    x = torch.cat([v, h], -1)
    site, u = rbm._site_and_uniform(x, generator, site, u)
    p = torch.cat([rbm.mean_visibles(h, W, a), rbm.mean_hiddens(v, W, b)], -1).gather(1, site[:, None])
    x = x.scatter(1, site[:, None], (u[:, None] > p).to(x.dtype))
    return x[:, :n_v], x[:, n_v:]


def sample_hiddens_shared_uniform(v, W, b, generator=None):
    """Right marginals, wrong joint law: all hidden units of a row share one uniform."""
    p = rbm.mean_hiddens(v, W, b)
    return (torch.rand(p.shape[0], 1, generator=generator, dtype=p.dtype) < p).to(p.dtype)


def sample_hiddens_global_rng(v, W, b, generator=None):
    return torch.bernoulli(rbm.mean_hiddens(v, W, b))


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


def cd_k_gradient_restarts_at_data(v, W, a, b, k=1, generator=None, v_neg=None):
    """Ignores the persistent chains: PCD degenerates into CD."""
    return rbm.cd_k_gradient(v, W, a, b, k, generator)


def pcd_step_frozen(v, v_persistent, W, a, b, lr, k=1, generator=None):
    """Forgets to apply the update."""
    *_, chain = rbm.cd_k_gradient(v, W, a, b, k, generator, v_neg=v_persistent)
    return W, a, b, chain


def pseudo_likelihood_swapped(v, W, a, b):
    """log sigma(F(v) - F(v~i)): the free energies in the wrong order."""
    n = v.shape[-1]
    flipped = v[:, None, :] + torch.eye(n, dtype=v.dtype) * (1 - 2 * v[:, None, :])
    f = rbm.free_energy(flipped.reshape(-1, n), W, a, b).reshape(len(v), n)
    return F.logsigmoid(rbm.free_energy(v, W, a, b)[:, None] - f).sum(-1)


def pseudo_likelihood_mean_over_units(v, W, a, b):
    return rbm.pseudo_likelihood(v, W, a, b) / v.shape[-1]


class NegatedFreeEnergyRBM(rbm.RBM):
    def forward(self, v):
        return -rbm.free_energy(v, self.W, self.a, self.b)


MUTANTS = {
    "rbm_energy_definition": [
        broken("interaction term with + sign", _bad(energy=energy_interaction_sign_flipped)),
    ],
    "rbm_free_energy_marginalises_hiddens": [
        broken("naive log(1 + e^x) overflows", _bad(free_energy=free_energy_naive_softplus)),
    ],
    "rbm_free_energy_gradient": [
        broken("relu for softplus", _bad(free_energy=free_energy_relu)),
    ],
    "rbm_conditionals_from_joint": [
        broken("mean_hiddens with W^T, square W", _bad(mean_hiddens=mean_hiddens_transposed), **SQUARE),
        broken("notes 001 typo: visible conditional from W, not W^T", _bad(mean_visibles=mean_visibles_notes_typo),
               **SQUARE),
    ],
    "rbm_log_partition_enumeration": [
        broken("naive log-sum-exp overflows", _bad(log_partition=log_partition_naive)),
    ],
    "rbm_block_gibbs_stationary": [
        broken("mean_hiddens with W^T, square W", _bad(mean_hiddens=mean_hiddens_transposed), **SQUARE),
    ],
    "rbm_single_site_detailed_balance": [
        broken("x_i = 1[u > p]", _bad(single_site_gibbs_step=single_site_wrong_threshold)),
    ],
    "rbm_gibbs_step_kernel": [
        broken("gibbs_step with W^T, square W", _bad(gibbs_step=gibbs_step_transposed), **SQUARE),
    ],
    "rbm_gibbs_chain_chi_square": [
        broken("gibbs_step with W^T, square W", _bad(gibbs_step=gibbs_step_transposed), **SQUARE, scale=1.5),
        broken("chain that does not move", _bad(gibbs_step=gibbs_step_lazy)),
    ],
    "rbm_single_site_chain_chi_square": [
        broken("x_i = 1[u > p]", _bad(single_site_gibbs_step=single_site_wrong_threshold)),
    ],
    "rbm_samplers_match_conditionals": [
        broken("one shared uniform per row", _bad(sample_hiddens=sample_hiddens_shared_uniform)),
    ],
    "rbm_sampling_only_through_generator": [
        broken("sample_hiddens from the global RNG", _bad(sample_hiddens=sample_hiddens_global_rng)),
    ],
    "rbm_cd_update_is_statistics_difference": [
        broken("CD gradient sign flipped", _bad(cd_k_gradient=cd_k_gradient_sign_flipped)),
        broken("sampled negative hiddens", _bad(cd_k_gradient=cd_k_gradient_sampled_negative_hiddens)),
        broken("pcd_step never updates", _bad(pcd_step=pcd_step_frozen)),
    ],
    "rbm_cd_expected_gradient": [
        broken("CD-1 runs 2 steps", _bad(cd_k_gradient=cd_k_gradient_one_step_too_many), k=1),
        # at scale 1 the chain has nearly mixed after 2 steps: CD-2 and CD-3 agree within the test's power
        broken("CD-2 runs 3 steps", _bad(cd_k_gradient=cd_k_gradient_one_step_too_many), k=2, scale=2.0),
        broken("PCD chains restarted at the data", _bad(cd_k_gradient=cd_k_gradient_restarts_at_data), persistent=True),
    ],
    "rbm_cd_raises_loglik": [
        broken("CD gradient sign flipped", _bad(cd_k_gradient=cd_k_gradient_sign_flipped)),
        broken("pcd_step never updates", _bad(pcd_step=pcd_step_frozen), method="pcd"),
    ],
    "rbm_pseudo_likelihood_definition": [
        broken("free energies swapped", _bad(pseudo_likelihood=pseudo_likelihood_swapped)),
    ],
    "rbm_pseudo_likelihood_matches_sklearn": [
        broken("mean over units, not sum", _bad(pseudo_likelihood=pseudo_likelihood_mean_over_units)),
    ],
    "rbm_digits_pseudo_likelihood_vs_sklearn": [
        broken("pcd_step never updates", _bad(DIGITS, pcd_step=pcd_step_frozen), dtype="float32"),
    ],
    "rbm_module_forward_is_free_energy": [
        broken("forward returns -F(v)", replaced(REF, NegatedFreeEnergyRBM, PARAMS)),
    ],
}


# --- the exact gradient, notes 001's estimator, reconstruction -----------------------------------
def exact_gradient_sign_flipped(v, W, a, b):
    return tuple(-g for g in rbm.exact_gradient(v, W, a, b))


def exact_gradient_data_term_only(v, W, a, b):
    """Forgets the model expectation E_p(v,h)[v h^T] (the term enumeration exists for)."""
    h = rbm.mean_hiddens(v, W, b)
    return v.T @ h / len(v), v.mean(0), h.mean(0)


def exact_gradient_unnormalised_model(v, W, a, b):
    """Model term weighted by e^(-F(v)) without dividing by Z."""
    vs = rbm._all_states(W.shape[0], W)
    p = torch.exp(-rbm.free_energy(vs, W, a, b))
    hv, h = rbm.mean_hiddens(vs, W, b), rbm.mean_hiddens(v, W, b)
    return (v.T @ h / len(v) - (vs * p[:, None]).T @ hv, v.mean(0) - p @ vs, h.mean(0) - p @ hv)


def log_likelihood_without_log_z(v, W, a, b):
    return -rbm.free_energy(v, W, a, b)


def gibbs_gradient_from_data(v, W, a, b, k=1, r=1, generator=None, v_init=None):
    """Chains started at the data (CD-like), not at random."""
    return rbm.gibbs_gradient(v, W, a, b, k, r, generator, v if v_init is None else v_init)


def gibbs_gradient_no_burn_in(v, W, a, b, k=1, r=1, generator=None, v_init=None):
    """Averages v^(1), ..., v^(r): the k burn-in steps skipped."""
    return rbm.gibbs_gradient(v, W, a, b, 0, r, generator, v_init)


def gibbs_gradient_last_state_only(v, W, a, b, k=1, r=1, generator=None, v_init=None):
    """Negative statistics from v^(k+r) alone (r copies of it): no average over r states."""
    dW, da, db, S = rbm.gibbs_gradient(v, W, a, b, k + r - 1, 1, generator, v_init)
    return dW, da, db, S.expand(r, -1, -1)


def gibbs_gradient_sign_flipped(v, W, a, b, k=1, r=1, generator=None, v_init=None):
    dW, da, db, S = rbm.gibbs_gradient(v, W, a, b, k, r, generator, v_init)
    return -dW, -da, -db, S


def cd_k_gradient_always_one_step(v, W, a, b, k=1, generator=None, v_neg=None):
    return rbm.cd_k_gradient(v, W, a, b, 1, generator, v_neg)


class SampledReconstructionRBM(rbm.RBM):
    """Reconstructs from a sampled hidden state (global RNG), not from p(h=1|v)."""

    def reconstruct(self, v):
        return rbm.mean_visibles(rbm.sample_hiddens(v, self.W, self.b), self.W, self.a)


class PreSigmoidReconstructionRBM(rbm.RBM):
    def reconstruct(self, v):
        return self.a + rbm.mean_hiddens(v, self.W, self.b) @ self.W.T


MUTANTS.update({
    "rbm_exact_gradient_matches_autograd": [
        broken("exact gradient sign flipped", _bad(exact_gradient=exact_gradient_sign_flipped)),
        broken("model expectation forgotten", _bad(exact_gradient=exact_gradient_data_term_only)),
        broken("model term not divided by Z", _bad(exact_gradient=exact_gradient_unnormalised_model)),
        broken("log_likelihood without log Z", _bad(log_likelihood=log_likelihood_without_log_z)),
        broken("exact gradient sign flipped (float32)", _bad(exact_gradient=exact_gradient_sign_flipped), dtype="float32"),
    ],
    "rbm_gibbs_gradient_expectation": [
        broken("chains start at the data", _bad(gibbs_gradient=gibbs_gradient_from_data), k=0, r=1),
        broken("burn-in skipped", _bad(gibbs_gradient=gibbs_gradient_no_burn_in), k=3, r=2),
        broken("last state only, no average over r", _bad(gibbs_gradient=gibbs_gradient_last_state_only), k=0, r=3),
        broken("sign flipped", _bad(gibbs_gradient=gibbs_gradient_sign_flipped)),
    ],
    "rbm_sampled_gradient_approaches_exact": [
        broken("notes' estimator, sign flipped", _bad(gibbs_gradient=gibbs_gradient_sign_flipped)),
        broken("notes' estimator without the average over r", _bad(gibbs_gradient=gibbs_gradient_last_state_only)),
        broken("CD-k that always runs one step", _bad(cd_k_gradient=cd_k_gradient_always_one_step), method="cd",
               settings=[[1, 1], [4, 1], [16, 1]]),
    ],
    "rbm_reconstruct_is_mean_field": [
        broken("sampled hiddens", replaced(REF, SampledReconstructionRBM, PARAMS)),
        broken("no sigmoid on the visible side", replaced(REF, PreSigmoidReconstructionRBM, PARAMS)),
    ],
})


# --- saturated units, gradients through the steps and estimators, the module's conditionals -----------
def single_site_le(v, h, W, a, b, generator=None, site=None, u=None):
    """x_i = 1[u <= p]: at u = 0 a unit of probability 0 is switched on."""
    n_v = v.shape[-1]
    x = torch.cat([v, h], dim=-1)
    site, u = rbm._site_and_uniform(x, generator, site, u)
    p_all = torch.cat([rbm.mean_visibles(h, W, a), rbm.mean_hiddens(v, W, b)], dim=-1)
    x = x.scatter(1, site[:, None], (u[:, None] <= p_all.gather(1, site[:, None])).to(x.dtype))
    return x[:, :n_v], x[:, n_v:]


def single_site_detached(v, h, W, a, b, generator=None, site=None, u=None):
    v2, h2 = rbm.single_site_gibbs_step(v, h, W, a, b, generator, site, u)
    return v2.detach(), h2.detach()


def single_site_soft(v, h, W, a, b, generator=None, site=None, u=None):
    """Writes the sample as s + p - p.detach() (a straight-through estimator): a gradient to (W, a, b)."""
    n_v = v.shape[-1]
    x = torch.cat([v, h], dim=-1)
    site, u = rbm._site_and_uniform(x, generator, site, u)
    p = torch.cat([rbm.mean_visibles(h, W, a), rbm.mean_hiddens(v, W, b)], dim=-1).gather(1, site[:, None])
    s = (u[:, None] < p).to(x.dtype)
    x = x.scatter(1, site[:, None], s + p - p.detach())
    return x[:, :n_v], x[:, n_v:]


def cd_detached(v, W, a, b, k=1, generator=None, v_neg=None):
    return tuple(t.detach() for t in rbm.cd_k_gradient(v, W, a, b, k, generator, v_neg))


def pcd_hidden_bias_detached(v, v_persistent, W, a, b, lr, k=1, generator=None):
    W2, a2, b2, chain = rbm.pcd_step(v, v_persistent, W, a, b, lr, k, generator)
    return W2, a2, b2.detach(), chain


def gibbs_gradient_da_detached(v, W, a, b, k=1, r=1, generator=None, v_init=None):
    dW, da, db, S = rbm.gibbs_gradient(v, W, a, b, k, r, generator, v_init)
    return dW, da.detach(), db, S


class DetachedVisiblesRBM(rbm.RBM):
    def mean_visibles(self, h):
        return super().mean_visibles(h).detach()


class FrozenHiddensRBM(rbm.RBM):
    def mean_hiddens(self, v):
        return rbm.mean_hiddens(v, self.W.detach(), self.b)  # no gradient to W from the hidden conditional


MUTANTS.update({
    "rbm_single_site_saturated_units": [
        broken("1[u <= p] (u = 0 switches a p = 0 unit on)", _bad(single_site_gibbs_step=single_site_le)),
    ],
    "rbm_steps_and_estimators_differentiable": [
        broken("single-site step detached", _bad(single_site_gibbs_step=single_site_detached)),
        broken("single-site step straight-through to (W, a, b)", _bad(single_site_gibbs_step=single_site_soft)),
        broken("CD-k estimate detached", _bad(cd_k_gradient=cd_detached)),
        broken("PCD hidden bias detached", _bad(pcd_step=pcd_hidden_bias_detached)),
        broken("gibbs_gradient da detached", _bad(gibbs_gradient=gibbs_gradient_da_detached)),
    ],
    "rbm_module_conditionals_differentiable": [
        broken("mean_visibles detached", replaced(REF, DetachedVisiblesRBM, PARAMS)),
        broken("mean_hiddens without a gradient to W", replaced(REF, FrozenHiddensRBM, PARAMS)),
    ],
})
