"""Checks for InfoGAN (suite ``gan_info``, Chen et al. 2016, eq. 4–6): the variational lower bound on
the mutual information between the categorical code and the generated sample, and the Q network
sharing the discriminator's body. The suite also uses ``gan_condition_changes_output`` from
:mod:`harness.checks.gan_conditional` (the code is an input of the generator).

Oracles: ``torch.distributions.Categorical``, ``scipy.stats.entropy``, autograd against the gradient of the bound
written here, the networks replayed with ``F.linear`` and torch's activations on their copied weights; training is judged by
the held-out bound evaluated with ``Categorical`` against the untrained model's and against log K.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness.checks.gan_conditional import linear_layers_run, mlp_outcomes, replay_mlp
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
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


@check(requires=("mutual_information_lower_bound",))
def infogan_mi_bound_gradient(subject, case, batch: int = 32) -> Outcome:
    """L_I = (1/B) Σ_i log softmax(q_i)[c_i] + log K trains Q (and, through x = G(z, c), the generator): its
    gradient with respect to the Q logits is ∂L_I/∂q_ik = (1[k = c_i] − softmax(q_i)_k)/B (the log-softmax
    derivative, written here); autograd of the subject's bound must equal it (a bound cut from the graph trains
    nothing)."""
    K = subject.size("num_codes")
    c = case.randint(0, K, (batch,))
    q = (case.randn(batch, K) * 2).requires_grad_(True)
    val = subject.fn("mutual_information_lower_bound")(q, c)
    (g,) = torch.autograd.grad(val, q, allow_unused=True) if val.requires_grad else (None,)
    q64 = f64(q)
    expected = (F.one_hot(c.cpu().long(), K).to(torch.float64) - torch.softmax(q64, -1)) / batch
    return case.close("∂L_I/∂q vs (onehot(c) − softmax(q))/B", torch.zeros_like(q64) if g is None else g, expected)


@check(requires=("generate", "heads"))
def infogan_networks_match_functional_mlp(subject, case, batch: int = 16, slope: float = 0.2) -> Outcome:
    """InfoGAN's generator is the MLP [z, onehot(c)] -> Linear(latent_dim + K, hidden) -> ReLU -> Linear(hidden,
    hidden) -> ReLU -> Linear(hidden, data_dim), and the shared body Linear(data_dim, hidden) -> LeakyReLU(0.2) ->
    Linear(hidden, hidden) -> LeakyReLU(0.2) feeds the heads Linear(hidden, 1) (D logit) and Linear(hidden, K)
    (Q logits) (the contract's architecture): the nn.Linear layers run (forward hooks) have the weight shapes the
    sizes give, and F.linear, F.relu and F.leaky_relu(·, 0.2) on their copied weights, in float64, reproduce
    G(z, c), the D logits and the Q logits."""
    K, hidden = subject.size("num_codes"), subject.size("hidden")
    latent_dim, data_dim = subject.size("latent_dim"), subject.size("data_dim")
    model = subject.build(case)
    model.eval()
    z, c = CONTRACT.example_inputs(subject, case, batch)
    x = case.randn(batch, data_dim)
    with torch.no_grad():
        gx = model.generate(z, c)
        d, q = model.heads(x)
    onehot = F.one_hot(c.long(), K).to(torch.float64)
    outs = mlp_outcomes("G(z, c)", linear_layers_run(model.generate, z, c), latent_dim + K, hidden, data_dim,
                        torch.cat([f64(z), onehot], -1), F.relu, gx, case)
    layers = linear_layers_run(model.heads, x)
    shapes = [tuple(m.weight.shape) for m in layers]
    want = [(hidden, data_dim), (hidden, hidden)]
    heads = {tuple(m.weight.shape): m for m in layers[2:]}
    ok = shapes[:2] == want and len(layers) == 4 and set(heads) == {(1, hidden), (K, hidden)}
    outs.append(exact("heads: weight shapes of the body's linear layers, then the two heads'",
                      (shapes[:2], sorted(shapes[2:])), (want, sorted([(1, hidden), (K, hidden)]))))
    if ok:
        leaky = lambda t: F.leaky_relu(t, slope)  # noqa: E731
        h = leaky(replay_mlp(layers[:2], x, leaky))
        outs += [case.close("D logits vs replay (body, then the D head)", d, replay_mlp([heads[(1, hidden)]], h, leaky).squeeze(-1)),
                 case.close("Q logits vs replay (body, then the Q head)", q, replay_mlp([heads[(K, hidden)]], h, leaky))]
    return all_of(outs)


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


@check(requires=("generate", "heads", "mutual_information_lower_bound", "discriminator_loss",
                 "generator_loss_nonsaturating"), marks=("slow", "training"))
def infogan_training_raises_mi_bound(subject, case, steps: int = 150, batch: int = 64, eval_n: int = 2000,
                                     lam: float = 2.0, lr: float = 2e-3, reach: float = 0.8,
                                     margin: float = 0.5) -> Outcome:
    """Training InfoGAN (D: J_D − λ L_I, G: J_G − λ L_I, with the subject's losses and bound) on a mixture of K
    well-separated Gaussians raises the mutual-information lower bound toward its maximum H(c) = log K: on held-out
    codes, L_I = E[log Q(c | G(z, c))] + log K, evaluated here with torch.distributions.Categorical, reaches at least
    ``reach``·log K and exceeds the untrained model's value by at least ``margin``·log K.

    The generator's parameters are those G(z, c) depends on (autograd); the rest (the shared body and both heads)
    are the discriminator's and Q's."""
    K, latent_dim, data_dim = subject.size("num_codes"), subject.size("latent_dim"), subject.size("data_dim")
    model = subject.build(case)
    angles = torch.arange(K, dtype=torch.float64) * (2 * math.pi / K)
    centres = torch.zeros(K, data_dim, dtype=torch.float64)
    if data_dim >= 2:
        centres[:, 0], centres[:, 1] = 3 * angles.cos(), 3 * angles.sin()
    else:
        centres[:, 0] = 3 * torch.arange(K, dtype=torch.float64)
    centres = centres.to(case.device, case.dtype)
    probe = model.generate(case.randn(2, latent_dim), torch.zeros(2, dtype=torch.long, device=case.device))
    params = list(model.parameters())
    grads = torch.autograd.grad(probe.sum(), params, allow_unused=True)
    g_params = [p for p, g in zip(params, grads) if g is not None]
    dq_params = [p for p, g in zip(params, grads) if g is None]
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(dq_params, lr=lr, betas=(0.5, 0.999))
    J_D, J_G = subject.fn("discriminator_loss"), subject.fn("generator_loss_nonsaturating")
    L_I = subject.fn("mutual_information_lower_bound")
    H = math.log(K)
    z_eval, c_eval = case.randn(eval_n, latent_dim), case.randint(0, K, (eval_n,))

    def bound_value():
        with torch.no_grad():
            _, q = model.heads(model.generate(z_eval, c_eval))
        return float(torch.distributions.Categorical(logits=f64(q)).log_prob(c_eval.cpu()).mean()) + H

    start = bound_value()
    for _ in range(steps):
        real = centres[case.randint(0, K, (batch,))] + 0.3 * case.randn(batch, data_dim)
        z, c = case.randn(batch, latent_dim), case.randint(0, K, (batch,))
        fake = model.generate(z, c)
        d_real, _ = model.heads(real)
        d_fake, q_fake = model.heads(fake.detach())
        loss_d = J_D(d_real, d_fake) - lam * L_I(q_fake, c)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        z, c = case.randn(batch, latent_dim), case.randint(0, K, (batch,))
        d_fake, q_fake = model.heads(model.generate(z, c))
        loss_g = J_G(d_fake) - lam * L_I(q_fake, c)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    end = bound_value()
    detail = f"L_I {start:.4g} (untrained) -> {end:.4g} after {steps} steps; log K = {H:.4g}, K = {K}"
    return all_of(
        bound("held-out L_I / log K after training", end / H, reach, op=">=", detail=detail),
        bound("(L_I after − L_I before) / log K", (end - start) / H, margin, op=">=", detail=detail),
    )
