"""Checks for InfoGAN (suite ``gan_info``, Chen et al. 2016, eq. 4–6): the variational lower bound on
the mutual information between the categorical code and the generated sample, and the Q network
sharing the discriminator's body. The suite also uses ``gan_condition_changes_output`` from
:mod:`harness.checks.gan_conditional` (the code is an input of the generator).

Oracles: ``torch.distributions.Categorical``, ``scipy.stats.entropy``, autograd.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, f64, holds
from harness.registry import check


def _inputs(subject, case, batch: int) -> tuple:
    """Noise z (batch, latent_dim) ~ N(0, I) and codes c (batch,) uniform in [0, num_codes)."""
    z = case.randn(batch, subject.size("latent_dim"))
    return z, case.randint(0, subject.size("num_codes"), (batch,))


CONTRACT = load_contract("gan_info", inputs=_inputs)


@check(requires=("mutual_information_lower_bound",))
def infogan_mi_bound_at_most_entropy(subject, case, batch: int = 64) -> Outcome:
    """The InfoGAN bound L_I = E[log Q(c|x)] + H(c) equals torch.distributions.Categorical's mean log-probability
    plus H(c) = log K (scipy.stats.entropy of the uniform code); L_I ≤ log K, with equality when Q recovers c exactly,
    and L_I = 0 when Q ignores x (uniform). K is the subject's num_codes."""
    from scipy.stats import entropy

    K = subject.size("num_codes")
    Li = subject.fn("mutual_information_lower_bound")
    c = case.randint(0, K, (batch,))
    q = case.randn(batch, K) * 2
    H = float(entropy([1.0 / K] * K))
    oracle = torch.distributions.Categorical(logits=f64(q)).log_prob(c.cpu()).mean() + H
    perfect = F.one_hot(c, K).to(case.dtype) * 80.0
    uniform = torch.zeros(batch, K, dtype=case.dtype, device=case.device)
    val = Li(q, c)
    return all_of(
        case.close("L_I vs Categorical log_prob mean + log K", val, oracle),
        bound("L_I − log K", float(val) - H, 0.0, op="<="),
        case.close("L_I when Q recovers c", Li(perfect, c), H),
        case.close("L_I when Q is uniform", Li(uniform, c), 0.0),
    )


@check(requires=("heads",))
def infogan_q_shares_discriminator_body(subject, case, batch: int = 8) -> Outcome:
    """InfoGAN's Q network shares the discriminator's body: some parameters receive gradient from both the D logit
    and the Q logits, while each head's own parameters receive gradient from its output only."""
    model = subject.build(case)
    x = case.randn(batch, subject.size("data_dim"))
    d, q = model.heads(x)
    params = dict(model.named_parameters())
    gd = torch.autograd.grad(d.sum(), list(params.values()), allow_unused=True, retain_graph=True)
    gq = torch.autograd.grad(q.sum(), list(params.values()), allow_unused=True)
    nz = lambda g: g is not None and bool(g.abs().sum() > 0)  # noqa: E731
    from_d = {n for n, g in zip(params, gd) if nz(g)}
    from_q = {n for n, g in zip(params, gq) if nz(g)}
    shared, only_d, only_q = from_d & from_q, from_d - from_q, from_q - from_d
    return all_of(
        holds("parameters trained by both D and Q (shared body)", bool(shared), f"{sorted(shared)}"),
        holds("D head parameters not reached by Q", bool(only_d), f"{sorted(only_d)}"),
        holds("Q head parameters not reached by D", bool(only_q), f"{sorted(only_q)}"),
    )
