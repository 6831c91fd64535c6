"""Checks for the multilayer perceptron (notes 003; the catalogue (docs/catalogue.md), section A, "MLP").

The subject is an ``nn.Module`` class built from ``sizes`` (and ``activation``,
``output_activation``) that exposes its layers as ``weights[l]`` and ``biases[l]`` (see
:data:`CONTRACT`). Oracles: torch.autograd.gradcheck, an ``nn.Sequential`` of ``nn.Linear`` with
copied weights, autograd (for the hand-written backward pass) and exact counting.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, holds
from harness.registry import check

_TORCH_ACTS = {"linear": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


# The model's own defaults for the activations (its constructor signature in CONTRACT).
DEFAULT_ACTIVATION, DEFAULT_OUTPUT_ACTIVATION = "relu", "linear"


def _inputs(subject, case, batch: int) -> tuple:
    """(x,) with x (batch, sizes[0]) of N(0, 1) draws."""
    return (case.randn(batch, subject.size("sizes")[0]),)


CONTRACT = load_contract("mlp", inputs=_inputs)


def _activations(subject) -> tuple[str, str]:
    return (subject.params.get("activation", DEFAULT_ACTIVATION),
            subject.params.get("output_activation", DEFAULT_OUTPUT_ACTIVATION))


def _sequential(subject, model, case) -> nn.Sequential:
    """nn.Sequential(Linear, act, …, Linear[, out_act]) holding copies of the model's weights."""
    sizes = subject.size("sizes")
    act, out_act = _activations(subject)
    layers: list[nn.Module] = []
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(i, o).to(case.device, case.dtype)
        with torch.no_grad():
            lin.weight.copy_(model.weights[l])
            lin.bias.copy_(model.biases[l])
        layers += [lin, _TORCH_ACTS[act]() if l < len(sizes) - 2 else _TORCH_ACTS[out_act]()]
    return nn.Sequential(*layers)


@check()
def mlp_gradcheck(subject, case, batch: int = 3) -> Outcome:
    """The MLP's analytical gradients with respect to its input and every weight and bias agree with
    finite differences (torch.autograd.gradcheck, float64, eps 1e-6, atol 1e-5, rtol 1e-3)."""
    model = subject.build(case)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    x.requires_grad_(True)

    def fn(x, *ps):
        return torch.func.functional_call(model, dict(zip(names, ps)), (x,))

    try:
        ok = torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"{len(params)} parameter tensors + input"
    except RuntimeError as e:  # gradcheck's report names the input and the worst entry
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), f"gradcheck of the MLP {subject.size('sizes')} (input and parameters)",
                   detail=detail)


@check()
def mlp_parameter_count(subject, case) -> Outcome:
    """An MLP with layer sizes n_0 … n_L has Σ_l (n_{l−1}·n_l + n_l) parameters: one weight per connection
    and one bias per non-input unit, as L weight matrices (n_l, n_{l−1}) and L bias vectors (n_l,)."""
    model = subject.build(case)
    sizes = subject.size("sizes")
    expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    shapes = sorted(tuple(p.shape) for p in model.parameters())
    want = sorted([(o, i) for i, o in zip(sizes[:-1], sizes[1:])] + [(o,) for o in sizes[1:]])
    return all_of(
        exact(f"number of parameters of MLP {sizes}", sum(p.numel() for p in model.parameters()), expected),
        exact("parameter shapes", shapes, want),
    )


@check()
def mlp_equals_sequential(subject, case, batch: int = 16) -> Outcome:
    """The MLP computes exactly what nn.Sequential(nn.Linear, activation, …, nn.Linear) computes with the
    same (copied) weights and biases, on a batch and on a single unbatched sample."""
    model = subject.build(case)
    seq = _sequential(subject, model, case)
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        return all_of(
            case.close(f"MLP {subject.size('sizes')} vs nn.Sequential (batch {batch})", model(x), seq(x)),
            case.close("unbatched sample", model(x[0]), seq(x[0])),
        )


@check(requires=("mlp_backward",))
def mlp_backprop_equals_autograd(subject, case, batch: int = 8) -> Outcome:
    """The backpropagation recursion δ_{l−1} = (δ_l W_l) ⊙ f′(z_{l−1}), ∂L/∂W_l = δ_lᵀ a_{l−1},
    ∂L/∂b_l = Σ δ_l gives the same gradients as autograd for L = Σ y ⊙ G (G random)."""
    model = subject.build(case)
    sizes = subject.size("sizes")
    act, out_act = _activations(subject)
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    x.requires_grad_(True)
    G = case.randn(batch, sizes[-1])
    Ws, bs = list(model.weights), list(model.biases)
    auto = torch.autograd.grad((model(x) * G).sum(), [*Ws, *bs, x])
    gW, gb, gx = subject.fn("mlp_backward")(x.detach(), [w.detach() for w in Ws], [b.detach() for b in bs], G,
                                            act, out_act)
    L = len(Ws)
    return all_of(
        [case.close(f"∂L/∂W_{l + 1}", gW[l], auto[l]) for l in range(L)],
        [case.close(f"∂L/∂b_{l + 1}", gb[l], auto[L + l]) for l in range(L)],
        case.close("∂L/∂x", gx, auto[-1]),
    )


@check()
def mlp_batch_rows_independent(subject, case, batch: int = 10) -> Outcome:
    """Rows of a batch are processed independently: MLP(X)[i] = MLP(X[i:i+1]) for every i."""
    model = subject.build(case)
    (X,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        whole = model(X)
        rows = torch.cat([model(X[i:i + 1]) for i in range(batch)])
    return case.close("MLP(X) vs row-by-row", whole, rows)


@check(marks=("slow", "training"))
def mlp_fits_xor(subject, case, steps: int = 300, lr: float = 0.05) -> Outcome:
    """A one-hidden-layer MLP fits XOR (4 points, not linearly separable) to 100% accuracy within a fixed
    budget of full-batch Adam steps on the logistic loss (fixed seed).

    The task fixes the subject's input and output widths: sizes = [2, …, 1].
    """
    sizes = subject.size("sizes")
    if sizes[0] != 2 or sizes[-1] != 1:
        raise ValueError(f"mlp_fits_xor needs sizes [2, ..., 1] (two inputs, one logit), got {sizes}")
    model = subject.build(case)
    X = case.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = case.tensor([0.0, 1.0, 1.0, 0.0])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(X).reshape(-1), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = model(X).reshape(-1)
    acc = float(((logits > 0).to(y.dtype) == y).to(torch.float64).mean())
    return bound(f"XOR accuracy after {steps} Adam steps (lr {lr})", acc, 1.0, op=">=",
                 detail=f"final loss {float(loss.detach()):.4g}; logits {[round(v, 3) for v in logits.tolist()]}")


@check(requires=("parameter_count",))
def mlp_parameter_count_helper(subject, case, extra: list = [[1, 1], [7, 2], [3, 4, 5, 6, 7, 8, 1], [784, 128, 10]]) -> Outcome:  # noqa: B006
    """parameter_count(sizes) equals the number of parameters of the MLP built with those sizes (counted
    with Module.parameters()) and of nn.Sequential(nn.Linear, …) with the same widths, Σ_l (n_{l−1}·n_l + n_l),
    for the subject's sizes and a few others (a single layer, a deep narrow net, 784-128-10)."""
    count = subject.fn("parameter_count")
    out = []
    for sizes in [list(subject.size("sizes"))] + [list(s) for s in extra]:
        model = subject.build(case, sizes=sizes)
        seq = nn.Sequential(*[nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])])
        counted = sum(p.numel() for p in model.parameters())
        out += [exact(f"parameter_count({sizes}) vs the built MLP's parameters", count(sizes), counted),
                exact(f"parameter_count({sizes}) vs nn.Sequential of nn.Linear", count(sizes),
                      sum(p.numel() for p in seq.parameters()))]
    return all_of(out)


@check(requires=("parameter_count",))
def mlp_notes_dense_example(subject, case, in_features: int = 10, batch: int = 32) -> Outcome:
    """Notes 004's Keras example, Sequential([Input(shape=x_train.shape[1:]), Dense(16, activation='relu'),
    Dense(1, activation='sigmoid')]), compiled with a binary cross-entropy: as an MLP with sizes
    [n, 16, 1], relu hidden and sigmoid output, it has W₁ (16, n), b₁ (16,), W₂ (1, 16), b₂ (1,), so
    16n + 16 + 16 + 1 = 16n + 33 parameters (parameter_count agrees), and maps a (B, n) batch to
    (B, 1) probabilities in (0, 1), equal to nn.Sequential(Linear(n, 16), ReLU(), Linear(16, 1),
    Sigmoid()) with the same weights. The notes leave n (the data's width) open: ``in_features``."""
    sizes = [in_features, 16, 1]
    model = subject.build(case, sizes=sizes, activation="relu", output_activation="sigmoid")
    shapes = [tuple(w.shape) for w in model.weights] + [tuple(b.shape) for b in model.biases]
    seq = nn.Sequential(nn.Linear(in_features, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid()).to(case.device, case.dtype)
    with torch.no_grad():
        for lin, W, b in zip((seq[0], seq[2]), model.weights, model.biases):
            lin.weight.copy_(W)
            lin.bias.copy_(b)
    x = case.randn(batch, in_features)
    with torch.no_grad():
        y = model(x)
        want = seq(x)
    return all_of(
        exact("shapes of W₁, W₂, b₁, b₂", shapes, [(16, in_features), (1, 16), (16,), (1,)]),
        exact(f"parameters of Dense(16, relu) -> Dense(1, sigmoid) on {in_features} inputs",
              sum(p.numel() for p in model.parameters()), 16 * in_features + 33),
        exact("parameter_count([n, 16, 1])", subject.fn("parameter_count")(sizes), 16 * in_features + 33),
        exact("output shape", tuple(y.shape), (batch, 1)),
        holds("outputs are probabilities in [0, 1]", bool(((y >= 0) & (y <= 1)).all())),
        case.close("vs nn.Sequential(Linear, ReLU, Linear, Sigmoid), copied weights", y, want),
    )


@check(marks=("statistical",))
def mlp_init_uniform(subject, case, alpha: float = 1e-3) -> Outcome:
    """nn.Linear's default initialisation: every entry of W_l (n_l, n_{l−1}) and b_l (n_l,) is drawn from
    U(−1/√n_{l−1}, 1/√n_{l−1}) (n_{l−1} = the layer's fan-in). Every entry lies in that interval, and a
    Kolmogorov–Smirnov test (scipy.stats.kstest) of each W_l and each b_l, divided by 1/√n_{l−1}, against
    U(−1, 1) does not reject at α = 1e-3 (the false-alarm rate of each test)."""
    import math

    from scipy.stats import kstest

    from harness.outcome import f64, p_value

    model = subject.build(case)
    sizes = subject.size("sizes")
    out = []
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        limit = 1.0 / math.sqrt(sizes[l])
        for name, t in ((f"W_{l + 1}", W), (f"b_{l + 1}", b)):
            v = f64(t).flatten()
            r = kstest((v / limit).numpy(), "uniform", args=(-1.0, 2.0))
            out += [bound(f"max |entry| of {name}", float(v.abs().max()), limit, source=f"1/√n_in, n_in = {sizes[l]}"),
                    p_value(f"{name} ~ U(−1/√n_in, 1/√n_in)", r.statistic, r.pvalue, alpha, v.numel(), "KS")]
    return all_of(out)


@check(requires=("mlp_backward",))
def mlp_backprop_at_relu_kinks(subject, case, batch: int = 6) -> Outcome:
    """At a ReLU kink (a pre-activation exactly 0) backpropagation uses torch's convention relu′(0) = 0:
    with hidden units whose weights and bias are zero (z = 0 exactly for every sample), mlp_backward's
    ∂L/∂W_l, ∂L/∂b_l and ∂L/∂x for L = Σ y ⊙ G equal autograd's through nn.Sequential(nn.Linear, nn.ReLU,
    …) with the same weights."""
    sizes = subject.size("sizes")
    model = subject.build(case, activation="relu")
    Ws = [w.detach().clone() for w in model.weights]
    bs = [b.detach().clone() for b in model.biases]
    for l in range(len(Ws) - 1):  # every hidden layer: its first half of units are dead at exactly z = 0
        k = max(1, Ws[l].shape[0] // 2)
        Ws[l][:k] = 0.0
        bs[l][:k] = 0.0
    layers: list[nn.Module] = []
    for l, (W, b) in enumerate(zip(Ws, bs)):
        lin = nn.Linear(W.shape[1], W.shape[0]).to(case.device, case.dtype)
        with torch.no_grad():
            lin.weight.copy_(W)
            lin.bias.copy_(b)
        layers += [lin] + ([nn.ReLU()] if l < len(Ws) - 1 else [])
    seq = nn.Sequential(*layers)
    x = case.randn(batch, sizes[0]).requires_grad_(True)
    G = case.randn(batch, sizes[-1])
    lins = [m for m in seq if isinstance(m, nn.Linear)]
    auto = torch.autograd.grad((seq(x) * G).sum(), [m.weight for m in lins] + [m.bias for m in lins] + [x])
    gW, gb, gx = subject.fn("mlp_backward")(x.detach(), Ws, bs, G, "relu", "linear")
    L = len(Ws)
    return all_of(
        [case.close(f"∂L/∂W_{l + 1} (ReLU kinks)", gW[l], auto[l]) for l in range(L)],
        [case.close(f"∂L/∂b_{l + 1} (ReLU kinks)", gb[l], auto[L + l]) for l in range(L)],
        case.close("∂L/∂x (ReLU kinks)", gx, auto[-1]),
    )


@check(requires=("mlp_backward",))
def mlp_backward_is_differentiable(subject, case, batch: int = 3) -> Outcome:
    """The hand-written backward pass is itself a differentiable function (double backpropagation, e.g. a
    gradient penalty): the derivatives of mlp_backward's outputs (∂L/∂W_l, ∂L/∂b_l, ∂L/∂x) with respect to
    x, every W_l, b_l and ∂L/∂y agree with finite differences (torch.autograd.gradcheck, float64, eps 1e-6,
    atol 1e-5, rtol 1e-3). Needs a smooth hidden activation (the suite's)."""
    if case.dtype != torch.float64:
        return holds("gradcheck needs float64", False, f"got {case.dtype}")
    model = subject.build(case)
    sizes = subject.size("sizes")
    act, out_act = _activations(subject)
    Ws = [w.detach().clone().requires_grad_(True) for w in model.weights]
    bs = [b.detach().clone().requires_grad_(True) for b in model.biases]
    x = case.randn(batch, sizes[0]).requires_grad_(True)
    G = case.randn(batch, sizes[-1]).requires_grad_(True)
    L = len(Ws)
    back = subject.fn("mlp_backward")

    def fn(x, G, *ps):
        gW, gb, gx = back(x, list(ps[:L]), list(ps[L:]), G, act, out_act)
        return (*gW, *gb, gx)

    outs = fn(x, G, *Ws, *bs)
    cut = [i for i, t in enumerate(outs) if not t.requires_grad]  # gradcheck skips such outputs
    try:
        ok = torch.autograd.gradcheck(fn, (x, G, *Ws, *bs), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"{2 * L} parameter tensors, x and ∂L/∂y"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return all_of(
        holds("every output of mlp_backward is attached to the graph (requires grad)", not cut,
              f"detached outputs (gW_1..gW_L, gb_1..gb_L, gx order): {cut}"),
        holds(f"gradcheck of mlp_backward for the MLP {sizes} ({act})", bool(ok), detail),
    )


@check(requires=("MLPConfig",))
def mlp_config_sizes(subject, case, valid: list = [[7, 2], [5, 16, 8, 3], [3, 4, 5, 6, 7, 8, 1]],  # noqa: B006
                     invalid: list = [[5], [], [5, 0, 3], [0, 4], [4, -2], [3, 4, 0]]) -> Outcome:  # noqa: B006
    """MLPConfig(sizes) describes a network of L = len(sizes) − 1 layers (n_layers) with Σ_l (n_{l−1}·n_l + n_l)
    parameters (n_params, the count of the MLP built with those sizes), and rejects with ValueError
    sizes that do not describe a network: fewer than two widths or a width ≤ 0 (a width of 0 would
    build empty layers silently)."""
    Config = subject.fn("MLPConfig")
    out = []
    for sizes in valid:
        c = Config(tuple(sizes))
        model = subject.build(case, sizes=sizes)
        out += [exact(f"MLPConfig({sizes}).n_layers", c.n_layers, len(sizes) - 1),
                exact(f"MLPConfig({sizes}).n_layers vs the built MLP's weight matrices", c.n_layers, len(model.weights)),
                exact(f"MLPConfig({sizes}).n_params vs the built MLP's parameters", c.n_params,
                      sum(p.numel() for p in model.parameters())),
                exact(f"MLPConfig({sizes}).n_params vs Σ (n_in·n_out + n_out)", c.n_params,
                      sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))]
    accepted = []
    for sizes in invalid:
        try:
            Config(tuple(sizes))
            accepted.append(sizes)
        except ValueError:
            pass
    out.append(holds("MLPConfig rejects fewer than two widths or a width ≤ 0 (ValueError)", not accepted,
                     f"accepted: {accepted}" if accepted else f"{len(invalid)} invalid sizes rejected"))
    return all_of(out)
