"""Checks for the vanilla (Elman) tanh RNN (suite ``rnn``; notes 004 "Recurrent Neural Networks"),
and the ``recurrent_*`` checks of the state-in/state-out API, which are shared by the ``rnn`` and
``lstm`` suites: they work on any model of either contract (the number of state tensors follows
the gate blocks, G = 1 for the RNN and 4 for the LSTM). The LSTM's own checks are in
:mod:`harness.checks.lstm`, which reuses this module's torch twins, inputs and BPTT oracle.

Oracles: torch.nn.RNN / LSTM / RNNCell / LSTMCell with copied weights, run in float64 on the CPU;
their autograd gradients; the analytic BPTT Jacobian Π diag(1 − h_t²) W_hh;
torch.autograd.gradcheck; torch's documented initialisation U(−1/√H, 1/√H) (Kolmogorov–Smirnov,
scipy.stats.kstest); the empty sequence (no step at all).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, p_value
from harness.registry import check

RECURRENT = ("initial_state",)


def sequence_inputs(subject, case, batch: int, steps: int, state_parts: int) -> tuple:
    """x (B, T, D) ~ N(0, 1) and a random initial state, each part (B, H) ~ N(0, 1/4): h_0 for
    ``state_parts`` = 1 (RNN), (h_0, c_0) for 2 (LSTM)."""
    x = case.randn(batch, steps, subject.size("input_size"))
    state = tuple(0.5 * case.randn(batch, subject.size("hidden_size")) for _ in range(state_parts))
    return x, pack(state)


def inputs(subject, case, batch: int, steps: int = 6) -> tuple:
    """Example inputs of the RNN: x (B, T, D) and h_0 (B, H)."""
    return sequence_inputs(subject, case, batch, steps, state_parts=1)


CONTRACT = load_contract("rnn", inputs=inputs)


def flat(state) -> tuple[torch.Tensor, ...]:
    """A state as a tuple of tensors: h -> (h,); (h, c) -> (h, c)."""
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def pack(tensors: tuple[torch.Tensor, ...]):
    """The inverse of :func:`flat`: (h,) -> h; (h, c) -> (h, c)."""
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _state_parts(subject, model) -> int:
    """Number of state tensors: 2 (h, c) for an LSTM (G = 4 gate blocks of H rows), else 1."""
    return 2 if model.weight_ih.shape[0] == 4 * subject.size("hidden_size") else 1


def weights(model) -> tuple:
    return model.weight_ih, model.weight_hh, getattr(model, "bias_ih", None), getattr(model, "bias_hh", None)


def twin(subject, model, kind: str, cell: bool = False) -> nn.Module:
    """torch.nn.{RNN, LSTM}[Cell] on the CPU in float64 holding copies of the model's weights."""
    D, H = subject.size("input_size"), subject.size("hidden_size")
    bias = getattr(model, "bias_ih", None) is not None
    if cell:
        ref = nn.LSTMCell(D, H, bias=bias) if kind == "lstm" else nn.RNNCell(D, H, bias=bias, nonlinearity="tanh")
        suffix = ""
    else:
        ref = (nn.LSTM(D, H, bias=bias, batch_first=True) if kind == "lstm"
               else nn.RNN(D, H, nonlinearity="tanh", bias=bias, batch_first=True))
        suffix = "_l0"
    ref = ref.double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ()):
            getattr(ref, name + suffix).copy_(f64(getattr(model, name)))
    return ref


def _twin_run(ref: nn.Module, kind: str, x: torch.Tensor, state: tuple[torch.Tensor, ...]):
    """Run the torch twin on float64 CPU copies; returns (y, final state tuple)."""
    s = tuple(f64(t).unsqueeze(0) for t in state)  # torch wants (layers, B, H)
    y, hs = ref(f64(x), s if kind == "lstm" else s[0])
    return y, tuple(t[0] for t in flat(hs))


def equals_torch(subject, case, kind: str, batch: int, steps: int, zero_state: bool) -> Outcome:
    """The model's outputs and final state vs torch.nn.{RNN, LSTM} with copied weights."""
    model = subject.build(case)
    x, state = sequence_inputs(subject, case, batch, steps, 2 if kind == "lstm" else 1)
    if zero_state:
        state = model.initial_state(batch, device=case.device, dtype=case.dtype)
    with torch.no_grad():
        y, s = model(x, state)
        y_ref, s_ref = _twin_run(twin(subject, model, kind), kind, x, flat(state))
    names = ("h_T", "c_T")
    torch_name = "nn.LSTM" if kind == "lstm" else "nn.RNN(tanh)"
    start = "zero" if zero_state else "random"
    return all_of(
        case.close(f"outputs y (B, T, H) vs {torch_name} (float64, copied weights)", y, y_ref,
                   detail=f"B={batch}, T={steps}, {start} initial state"),
        *[case.close(f"final {n} vs {torch_name}", a, b) for n, a, b in zip(names, flat(s), s_ref)],
        exact("number of state tensors", len(flat(s)), len(s_ref)),
    )


def bptt(subject, case, kind: str, batch: int, steps: int) -> Outcome:
    """Gradients of L = Σ w_y ⊙ y + Σ w ⊙ final state through the model vs through the torch twin."""
    model = subject.build(case)
    x, state = sequence_inputs(subject, case, batch, steps, 2 if kind == "lstm" else 1)
    state = flat(state)
    w_y = case.randn(batch, steps, subject.size("hidden_size"))
    w_s = [case.randn(*s.shape) for s in state]
    x = x.clone().requires_grad_(True)
    state = tuple(s.clone().requires_grad_(True) for s in state)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if getattr(model, "bias_ih", None) is not None else [])
    params = [getattr(model, n) for n in names]
    y, s = model(x, pack(state))
    loss = (w_y * y).sum() + sum((w * t).sum() for w, t in zip(w_s, flat(s)))
    leaves = [x, *state, *params]
    got = [torch.zeros_like(t) if g is None else g  # a tensor the loss does not reach has gradient 0
           for t, g in zip(leaves, torch.autograd.grad(loss, leaves, allow_unused=True))]

    ref = twin(subject, model, kind)
    x64 = f64(x).requires_grad_(True)
    s64 = tuple(f64(t).unsqueeze(0).requires_grad_(True) for t in state)
    y_ref, s_ref = ref(x64, s64 if kind == "lstm" else s64[0])
    loss_ref = (f64(w_y) * y_ref).sum() + sum((f64(w) * t[0]).sum() for w, t in zip(w_s, flat(s_ref)))
    ref_params = [getattr(ref, n + "_l0") for n in names]
    want = torch.autograd.grad(loss_ref, [x64, *s64, *ref_params])
    labels = ["x", *("h_0", "c_0")[:len(state)], *names]
    torch_name = "nn.LSTM" if kind == "lstm" else "nn.RNN"
    return all_of(case.close(f"∂L/∂{lab} by BPTT through the unrolled loop vs {torch_name}'s gradient", g, w.reshape(g.shape),
                             detail=f"L = Σ w⊙y + Σ w⊙state, T={steps}")
                  for lab, g, w in zip(labels, got, want))


def jacobian_h0(model, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """∂h_T/∂h_0 (H, H) for one sequence (batch 1); other state parts (c_0) held fixed."""
    def hT(h0: torch.Tensor) -> torch.Tensor:
        _, s = model(x, pack((h0.unsqueeze(0),) + state[1:]))
        return flat(s)[0][0]
    return torch.autograd.functional.jacobian(hT, state[0][0])


@check(requires=RECURRENT)
def rnn_equals_torch_rnn(subject, case, batch: int = 3, steps: int = 6, zero_state: bool = False) -> Outcome:
    """A single-layer tanh RNN h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) produces the same
    outputs (h_1 … h_T) and final state h_T as torch.nn.RNN(nonlinearity='tanh', batch_first=True)
    holding the same (copied) weights, from a random or the zero initial state."""
    return equals_torch(subject, case, "rnn", batch, steps, zero_state)


@check(requires=("rnn_cell",))
def rnn_cell_equals_torch_rnncell(subject, case, batch: int = 5) -> Outcome:
    """One step of the subject's rnn_cell with the model's weights equals torch.nn.RNNCell(tanh) with
    the same (copied) weights: h′ = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    model = subject.build(case)
    x, h = case.randn(batch, subject.size("input_size")), case.randn(batch, subject.size("hidden_size"))
    with torch.no_grad():
        got = subject.fn("rnn_cell")(x, h, *weights(model))
        want = twin(subject, model, "rnn", cell=True)(f64(x), f64(h))
    return case.close("rnn_cell(x, h) vs nn.RNNCell (float64, copied weights)", got, want)


@check(requires=RECURRENT)
def rnn_bptt_matches_torch(subject, case, batch: int = 3, steps: int = 6) -> Outcome:
    """Backpropagation through time is autograd through the unrolled recurrence: the gradients of
    L = Σ w_y ⊙ y + Σ w_h ⊙ h_T with respect to the inputs, the initial state and every weight equal
    those of torch.nn.RNN(tanh) with the same (copied) weights."""
    return bptt(subject, case, "rnn", batch, steps)


@check(requires=RECURRENT)
def rnn_vanishing_gradient(subject, case, rho: float = 0.9, lengths: list | None = None) -> Outcome:
    """For a tanh RNN, ∂h_T/∂h_0 = Π_{t=T..1} diag(1 − h_t²) W_hh, so with ‖W_hh‖₂ = ρ < 1 the gradient
    vanishes geometrically: ‖∂h_T/∂h_S‖₂ ≤ ρ^(T−S), hence log‖∂h_T/∂h_0‖₂ ≤ T log ρ, it strictly
    decreases in T, and its least-squares slope in T is at most log ρ (Bengio et al. 1994; Pascanu
    et al. 2013; notes 004 "vanishing gradient over time").

    W_hh is rescaled to spectral norm ρ. Oracles: the analytic product above, built from the
    model's hidden states, against autograd's Jacobian; the bounds follow from ‖diag(1 − h²)‖ ≤ 1."""
    Ts = sorted(lengths or [1, 2, 4, 8, 16, 32])
    model = subject.build(case)
    H = subject.size("hidden_size")
    with torch.no_grad():
        model.weight_hh.mul_(rho / torch.linalg.matrix_norm(model.weight_hh.double(), ord=2).item())
    x, h0 = inputs(subject, case, 1, Ts[-1])
    with torch.no_grad():
        y, _ = model(x, h0)
    W = f64(model.weight_hh)
    res, logs = [], []
    J_an = torch.eye(H, dtype=torch.float64)
    for t in range(1, Ts[-1] + 1):
        J_an = torch.diag(1 - f64(y[0, t - 1]) ** 2) @ W @ J_an
        if t in Ts:
            J = jacobian_h0(model, x[:, :t], (h0,))
            res.append(case.close(f"autograd ∂h_{t}/∂h_0 vs Π diag(1 − h_t²) W_hh", J, J_an))
            n = float(torch.linalg.matrix_norm(f64(J), ord=2))
            logs.append(math.log(n) if n > 0 else -math.inf)
    slack = 1e-9  # relative rounding of a float64 spectral norm, as a log
    prev_T, prev_log = 0, 0.0  # ∂h_0/∂h_0 = I
    for T, lg in zip(Ts, logs):
        res.append(bound(f"log‖∂h_{T}/∂h_0‖₂ − log‖∂h_{prev_T}/∂h_0‖₂", lg - prev_log, (T - prev_T) * math.log(rho) + slack,
                         source=f"({T}−{prev_T})·log ρ, ρ = ‖W_hh‖₂ = {rho}"))
        prev_T, prev_log = T, lg
    t_arr = torch.tensor(Ts, dtype=torch.float64)
    l_arr = torch.tensor(logs, dtype=torch.float64)
    slope = float(((t_arr - t_arr.mean()) * (l_arr - l_arr.mean())).sum() / ((t_arr - t_arr.mean()) ** 2).sum())
    res.append(bound("least-squares slope of log‖∂h_T/∂h_0‖₂ in T", slope, math.log(rho) + slack,
                     source=f"log ρ = {math.log(rho):.4g}",
                     detail="T = " + ", ".join(f"{T}: {lg:.3g}" for T, lg in zip(Ts, logs))))
    return all_of(res)


# --------------------------------------------------------------------------------------------
# the state-in/state-out API: shared by the rnn and lstm suites
# --------------------------------------------------------------------------------------------
@check(requires=RECURRENT)
def recurrent_state_handover(subject, case, batch: int = 2, steps: int = 8, split: int = 3) -> Outcome:
    """State in, state out: running x_{1..s} from state s_0 and then x_{s+1..T} from the state it returns
    gives the same outputs and final state as running x_{1..T} from s_0 (truncated BPTT splits a
    sequence this way)."""
    model = subject.build(case)
    x, state = sequence_inputs(subject, case, batch, steps, _state_parts(subject, model))
    with torch.no_grad():
        y, s = model(x, state)
        y1, s1 = model(x[:, :split], state)
        y2, s2 = model(x[:, split:], s1)
    return all_of(
        case.close(f"outputs of two runs (T = {split} + {steps - split}) vs one run (T = {steps})", torch.cat([y1, y2], 1), y),
        *[case.close(f"final state part {k} of two runs vs one run", a, b) for k, (a, b) in enumerate(zip(flat(s2), flat(s)))],
    )


@check(requires=RECURRENT)
def recurrent_initial_state_is_zero(subject, case, batch: int = 4, steps: int = 3) -> Outcome:
    """initial_state(B, device, dtype) is zero, (B, H) per state tensor, on the requested device and
    dtype; and forward(x) without a state equals forward(x, initial_state(B)) exactly."""
    model = subject.build(case)
    H = subject.size("hidden_size")
    s0 = flat(model.initial_state(batch, device=case.device, dtype=case.dtype))
    x = case.randn(batch, steps, subject.size("input_size"))
    with torch.no_grad():
        y_default, s_default = model(x)
        y_zero, s_zero = model(x, pack(s0))
    return all_of(
        exact("number of state tensors", len(s0), _state_parts(subject, model)),
        *[exact(f"state part {k}: shape, dtype, device", (tuple(t.shape), t.dtype, t.device.type),
                ((batch, H), case.dtype, torch.device(case.device).type)) for k, t in enumerate(s0)],
        *[exact(f"state part {k} is zero", t, torch.zeros(batch, H)) for k, t in enumerate(s0)],
        exact("forward(x) vs forward(x, initial_state)", y_default, y_zero),
        *[exact(f"final state part {k}: forward(x) vs forward(x, initial_state)", a, b)
          for k, (a, b) in enumerate(zip(flat(s_default), flat(s_zero)))],
    )


@check(requires=RECURRENT)
def recurrent_output_is_causal(subject, case, batch: int = 2, steps: int = 6) -> Outcome:
    """The output at step t depends only on inputs up to t: ∂y_t/∂x_s = 0 exactly for s > t, and
    ∂y_t/∂x_t ≠ 0 (autograd, one backward pass per t)."""
    model = subject.build(case)
    x, state = sequence_inputs(subject, case, batch, steps, _state_parts(subject, model))
    x = x.clone().requires_grad_(True)
    y, _ = model(x, state)
    res = []
    for t in range(steps):
        (g,) = torch.autograd.grad(y[:, t].sum(), x, retain_graph=True)
        future = g[:, t + 1:]
        res.append(exact(f"∂y_{t}/∂x_s for s > {t}", future, torch.zeros_like(future)))
        res.append(bound(f"max |∂y_{t}/∂x_{t}|", float(g[:, t].abs().max()), 0.0, op=">"))
    return all_of(res)


@check(requires=RECURRENT)
def recurrent_gradcheck(subject, case, batch: int = 2, steps: int = 4) -> Outcome:
    """The recurrent model's gradients with respect to its inputs, initial state and every weight
    agree with finite differences (torch.autograd.gradcheck, float64, eps 1e-6, atol 1e-5, rtol 1e-3)."""
    model = subject.build(case)
    x, state = sequence_inputs(subject, case, batch, steps, _state_parts(subject, model))
    state = flat(state)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    n_s = len(state)
    leaves = (x.clone().requires_grad_(True), *(s.clone().requires_grad_(True) for s in state), *params)

    def fn(x, *rest):
        st, ps = rest[:n_s], rest[n_s:]
        y, s = torch.func.functional_call(model, dict(zip(names, ps)), (x, pack(tuple(st))))
        return (y, *flat(s))

    try:
        ok = torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"input, {n_s} state tensor(s), {len(params)} parameter tensors"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), "gradcheck of the recurrent model (input, state, parameters)", detail=detail)


@check(requires=RECURRENT)
def recurrent_empty_sequence(subject, case, batch: int = 3) -> Outcome:
    """A sequence of length T = 0 takes no step: the outputs are an empty (B, 0, H) tensor and the
    final state is the initial state, bitwise, from a random state and from the default (zero)
    state."""
    model = subject.build(case)
    H = subject.size("hidden_size")
    x, state = sequence_inputs(subject, case, batch, 0, _state_parts(subject, model))
    with torch.no_grad():
        y, s = model(x, state)
        y0, s0 = model(x)
    zeros = tuple(torch.zeros(batch, H) for _ in flat(s0))
    return all_of(
        exact("shape of y for T = 0 (random state)", tuple(y.shape), (batch, 0, H)),
        exact("shape of y for T = 0 (default state)", tuple(y0.shape), (batch, 0, H)),
        exact("number of state tensors returned", len(flat(s)), len(flat(state))),
        *[exact(f"final state part {k} vs the initial state (T = 0)", a, b) for k, (a, b) in enumerate(zip(flat(s), flat(state)))],
        *[exact(f"final state part {k} from the default state vs zero (T = 0)", a, b) for k, (a, b) in enumerate(zip(flat(s0), zeros))],
    )


@check(requires=RECURRENT, marks=("statistical",))
def recurrent_init_uniform(subject, case, alpha: float = 1e-3) -> Outcome:
    """torch.nn.RNN / torch.nn.LSTM's initialisation (their documentation): every entry of
    weight_ih, weight_hh, bias_ih and bias_hh is drawn from U(−1/√H, 1/√H), H = hidden_size. Every
    entry lies in [−1/√H, 1/√H], and a Kolmogorov–Smirnov test (scipy.stats.kstest) of each tensor
    against that uniform does not reject at α = 1e-3 (the false-alarm rate of each test)."""
    from scipy.stats import kstest

    model = subject.build(case)
    H = subject.size("hidden_size")
    b = 1.0 / math.sqrt(H)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if getattr(model, "bias_ih", None) is not None else [])
    res = []
    for n in names:
        v = f64(getattr(model, n)).flatten()
        r = kstest(v.numpy(), "uniform", args=(-b, 2 * b))
        res += [bound(f"max |{n}|", float(v.abs().max()), b, op="<=", source=f"1/√H, H = {H}"),
                p_value(f"{n} ~ U(−1/√H, 1/√H)", r.statistic, r.pvalue, alpha, v.numel(), "KS")]
    return all_of(res)
