"""Checks for the conditional GAN (suite ``gan_conditional``, Mirza & Osindero 2014): the label is an
input of the generator and of the discriminator (whose loss trains the discriminator only), each
sample is conditioned on its own label, and training moves every class-conditional p_g(x | y)
toward p_data(x | y).

``gan_condition_changes_output`` is shared with the InfoGAN suite (``gan_info``), whose
categorical code plays the label's part.

Oracles: ``scipy.stats.wasserstein_distance``; torch's BCE-with-logits on the model's own logits; autograd
(gradient routing); permutation and relabelling identities; the networks replayed with ``F.linear`` and torch's
activations on the traced layers' copied weights (:func:`linear_layers_run`, :func:`replay_mlp`, shared with
the CycleGAN and InfoGAN checks).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check


def _inputs(subject, case, batch: int) -> tuple:
    """Noise z (batch, latent_dim) ~ N(0, I) and labels y (batch,) uniform in [0, num_classes)."""
    z = case.randn(batch, subject.size("latent_dim"))
    return z, case.randint(0, subject.size("num_classes"), (batch,))


CONTRACT = load_contract("gan_conditional", inputs=_inputs)


def linear_layers_run(fn: Callable, *inputs: torch.Tensor) -> list[nn.Linear]:
    """The nn.Linear layers that ``fn(*inputs)`` runs, in execution order (forward hooks, no_grad)."""
    ran: list[nn.Linear] = []
    owner = getattr(fn, "__self__", fn)
    modules = [m for m in owner.modules() if isinstance(m, nn.Linear)] if isinstance(owner, nn.Module) else []
    handles = [m.register_forward_hook(lambda mod, i, o: ran.append(mod)) for m in modules]
    try:
        with torch.no_grad():
            fn(*inputs)
    finally:
        for h in handles:
            h.remove()
    return ran


def replay_mlp(layers: list[nn.Linear], h: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """F.linear with each layer's weights copied to float64, ``act`` between layers, none after the last."""
    h = f64(h)
    for i, lin in enumerate(layers):
        h = F.linear(h, f64(lin.weight.detach()), None if lin.bias is None else f64(lin.bias.detach()))
        if i < len(layers) - 1:
            h = act(h)
    return h


def mlp_outcomes(name: str, layers: list[nn.Linear], n_in: int, hidden: int, n_out: int, h: torch.Tensor,
                 act: Callable[[torch.Tensor], torch.Tensor], observed: torch.Tensor, case) -> list[Outcome]:
    """The layer shapes of a two-hidden-layer MLP n_in -> hidden -> hidden -> n_out, and its output replayed
    with torch's functional ops on the copied weights vs the network's own output."""
    shapes = [tuple(m.weight.shape) for m in layers]
    want = [(hidden, n_in), (hidden, hidden), (n_out, hidden)]
    out = [exact(f"{name}: weight shapes of the linear layers run, in order", shapes, want)]
    if shapes == want:
        out.append(case.close(f"{name} vs F.linear/activation replay on the copied weights", observed,
                              replay_mlp(layers, h, act).reshape(observed.shape)))
    return out


@check(requires=("generate", "discriminate"))
def cgan_networks_match_functional_mlp(subject, case, batch: int = 16, slope: float = 0.2) -> Outcome:
    """The conditional generator is the MLP [z, onehot(y)] -> Linear(latent_dim + K, hidden) -> ReLU ->
    Linear(hidden, hidden) -> ReLU -> Linear(hidden, data_dim), and the conditional discriminator the MLP
    [x, onehot(y)] -> Linear(data_dim + K, hidden) -> LeakyReLU(0.2) -> Linear(hidden, hidden) -> LeakyReLU(0.2) ->
    Linear(hidden, 1) (the contract's architecture, Radford et al. 2016's activations): the nn.Linear layers each
    network runs (forward hooks) have the weight shapes the sizes give, and F.linear, F.relu and
    F.leaky_relu(·, 0.2) on those layers' copied weights, applied in float64 to the one-hot concatenation built
    here, reproduce G(z | y) and D(x | y)."""
    K, hidden = subject.size("num_classes"), subject.size("hidden")
    latent_dim, data_dim = subject.size("latent_dim"), subject.size("data_dim")
    model = subject.build(case)
    model.eval()
    z, y = CONTRACT.example_inputs(subject, case, batch)
    x = case.randn(batch, data_dim)
    onehot = F.one_hot(y.long(), K).to(torch.float64)
    with torch.no_grad():
        gx, dl = model.generate(z, y), model.discriminate(x, y)
    g_layers = linear_layers_run(model.generate, z, y)
    d_layers = linear_layers_run(model.discriminate, x, y)
    return all_of(
        mlp_outcomes("G(z | y)", g_layers, latent_dim + K, hidden, data_dim, torch.cat([f64(z), onehot], -1),
                     F.relu, gx, case)
        + mlp_outcomes("D(x | y)", d_layers, data_dim + K, hidden, 1, torch.cat([f64(x), onehot], -1),
                       lambda t: F.leaky_relu(t, slope), dl, case)
    )


@check()
def gan_condition_changes_output(subject, case, batch: int = 16, condition_size: str = "num_classes") -> Outcome:
    """For the same noise z, every pair of different labels (codes) y ≠ y′ gives a different generator output
    G(z, y) ≠ G(z, y′) for every sample, while the same (z, y) gives the same output (the condition is an input of
    G, not ignored).

    ``condition_size`` names the size parameter giving the number of labels K: ``num_classes`` for a conditional
    GAN, ``num_codes`` for InfoGAN's categorical code. ``model(z, y)[0]`` is the generator's output."""
    K = subject.size(condition_size)
    model = subject.build(case)
    z = case.randn(batch, subject.size("latent_dim"))
    with torch.no_grad():
        outs = [f64(model(z, torch.full((batch,), k, dtype=torch.long, device=case.device))[0]) for k in range(K)]
        again = f64(model(z, torch.zeros(batch, dtype=torch.long, device=case.device))[0])
    min_gap = min(float((outs[a] - outs[b]).abs().flatten(1).amax(1).min()) for a in range(K) for b in range(a + 1, K))
    return all_of(
        bound("min over samples and label pairs of max |G(z, y) − G(z, y′)|", min_gap, 0.0, op=">", detail=f"K = {K}"),
        exact("G(z, y) computed twice", again, outs[0]),
    )


@check()
def cgan_conditioning_is_per_sample(subject, case, batch: int = 12) -> Outcome:
    """The conditional generator treats each (z_i, y_i) independently: permuting the batch permutes the outputs, and
    changing one sample's label changes only that sample's output (autograd-free, float64)."""
    model = subject.build(case)
    z, y = CONTRACT.example_inputs(subject, case, batch)
    perm = torch.randperm(batch, generator=case.generator).to(case.device)
    y2 = y.clone()
    y2[0] = (y[0] + 1) % subject.size("num_classes")
    with torch.no_grad():
        x = model(z, y)[0]
        xp = model(z[perm], y[perm])[0]
        x2 = model(z, y2)[0]
    return all_of(
        case.close("G(z[π], y[π]) vs G(z, y)[π]", xp, f64(x)[perm.cpu()]),
        case.close("rows 1.. after relabelling sample 0", x2[1:], f64(x[1:])),
        bound("change of sample 0 after relabelling", float((f64(x2[0]) - f64(x[0])).abs().max()), 0.0, op=">"),
    )


def _split_parameters(model, case, latent_dim: int):
    """(G's parameters, the discriminator's): G's are those the output of G(z | y) depends on
    (autograd), the rest are the discriminator's (the contract's convention)."""
    probe = model.generate(case.randn(2, latent_dim), torch.zeros(2, dtype=torch.long, device=case.device))
    params = list(model.named_parameters())
    grads = torch.autograd.grad(probe.sum(), [p for _, p in params], allow_unused=True)
    g = [(n, p) for (n, p), gr in zip(params, grads) if gr is not None]
    d = [(n, p) for (n, p), gr in zip(params, grads) if gr is None]
    return g, d


@check(requires=("discriminate", "conditional_discriminator_loss"))
def cgan_discriminator_conditioned(subject, case, batch: int = 16, alpha: float = 0.9) -> Outcome:
    """The conditional discriminator D(x | y) depends on the label: for the same x every pair of labels y ≠ y′ gives
    different logits for every sample (the same (x, y) twice gives the same logits); its loss equals
    BCE(D(x | y), 1) + BCE(D(G(z | y) | y), 0) (torch's binary_cross_entropy_with_logits on the model's own logits,
    fakes paired with the real labels; with real target α under one-sided label smoothing); and that loss trains
    the discriminator only: every parameter G(z | y) depends on gets no gradient (None or zero), while the
    discriminator's gradient is non-zero."""
    K, latent_dim = subject.size("num_classes"), subject.size("latent_dim")
    model = subject.build(case)
    x = case.randn(batch, subject.size("data_dim"))
    z, y = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        logits = [f64(model.discriminate(x, torch.full((batch,), k, dtype=torch.long, device=case.device)))
                  for k in range(K)]
        again = f64(model.discriminate(x, torch.zeros(batch, dtype=torch.long, device=case.device)))
        real_l, fake_l = f64(model.discriminate(x, y)), f64(model.discriminate(model.generate(z, y), y))
    min_gap = min(float((logits[a] - logits[b]).abs().min()) for a in range(K) for b in range(a + 1, K))

    def bce(l, t):
        return F.binary_cross_entropy_with_logits(l, torch.full_like(l, float(t)))

    J = subject.fn("conditional_discriminator_loss")
    g_params, d_params = _split_parameters(model, case, latent_dim)
    model.zero_grad(set_to_none=True)
    loss = J(model, x, y, z)
    loss.backward()
    with torch.no_grad():
        smoothed = J(model, x, y, z, real_label=alpha)
    reached_g = [n for n, p in g_params if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    d_norm = sum(float(p.grad.abs().sum()) for _, p in d_params if p.grad is not None)
    return all_of(
        bound("min over samples and label pairs of |D(x | y) − D(x | y′)|", min_gap, 0.0, op=">", detail=f"K = {K}"),
        exact("D(x | y) computed twice", again, logits[0]),
        case.close("J_D vs BCE(D(x | y), 1) + BCE(D(G(z | y) | y), 0)", loss, bce(real_l, 1) + bce(fake_l, 0)),
        case.close("J_D(real_label = α) vs BCE(D(x | y), α) + BCE(D(G(z | y) | y), 0)", smoothed,
                   bce(real_l, alpha) + bce(fake_l, 0)),
        holds("the discriminator's loss reaches none of G's parameters", not reached_g and bool(g_params),
              f"G parameters with a gradient: {reached_g[:6]}; {len(g_params)} G parameters"),
        bound("|∇_D J_D|₁", d_norm, 0.0, op=">"),
    )


@check(requires=("generate", "discriminate", "discriminator_loss", "generator_loss_nonsaturating"),
       marks=("slow", "training"))
def cgan_learns_class_conditionals(subject, case, steps: int = 300, batch: int = 64, eval_n: int = 1000) -> Outcome:
    """A conditional GAN trained on 1-D data whose class-k mean is 2 + 3k (σ = 0.5) moves each class-conditional
    p_g(x | y) toward p_data(x | y): the Wasserstein-1 distance (scipy.stats.wasserstein_distance) of every class at
    least halves within the step budget.

    The subject is built with data_dim = 1 (the property is about 1-D data); its other sizes are the suite's."""
    from scipy.stats import wasserstein_distance

    subject = subject.with_params(data_dim=1)
    model = subject.build(case)
    K, latent_dim = subject.size("num_classes"), subject.size("latent_dim")
    # G's parameters are those its output depends on; the discriminator's are the rest
    probe = model.generate(case.randn(2, latent_dim), torch.zeros(2, dtype=torch.long, device=case.device))
    grads = torch.autograd.grad(probe.sum(), list(model.parameters()), allow_unused=True)
    g_params = [p for p, g in zip(model.parameters(), grads) if g is not None]
    d_params = [p for p, g in zip(model.parameters(), grads) if g is None]
    opt_d = torch.optim.Adam(d_params, lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g_params, lr=2e-3, betas=(0.5, 0.999))
    J_D = subject.fn("discriminator_loss")
    J_G = subject.fn("generator_loss_nonsaturating")
    z_eval = case.randn(eval_n, latent_dim)
    data_eval = [(case.randn(eval_n) * 0.5 + 2 + 3 * k).cpu().numpy() for k in range(K)]

    def w1s():
        with torch.no_grad():
            return [wasserstein_distance(
                f64(model.generate(z_eval, torch.full((eval_n,), k, dtype=torch.long, device=case.device))).flatten().numpy(),
                data_eval[k]) for k in range(K)]

    start = w1s()
    for _ in range(steps):
        y = case.randint(0, K, (batch,))
        real = case.randn(batch, 1) * 0.5 + 2 + 3 * y.unsqueeze(1).to(case.dtype)
        fake = model.generate(case.randn(batch, latent_dim), y)
        loss_d = J_D(model.discriminate(real, y), model.discriminate(fake.detach(), y))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        y = case.randint(0, K, (batch,))
        loss_g = J_G(model.discriminate(model.generate(case.randn(batch, latent_dim), y), y))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    end = w1s()
    return bound("max over classes of W1 after / W1 before", max(e / s for s, e in zip(start, end)), 0.5, op="<=",
                 detail="W1 per class: " + ", ".join(f"{s:.3g}->{e:.3g}" for s, e in zip(start, end)))
