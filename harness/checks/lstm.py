"""Checks for the long short-term memory (suite ``lstm``; notes 004 "LSTM gates", Hochreiter &
Schmidhuber 1997, Gers et al. 2000). The suite also runs the shared ``recurrent_*`` checks of
:mod:`harness.checks.rnn`, whose torch twins, inputs and BPTT oracle these checks reuse.

Oracles: torch.nn.LSTM / LSTMCell with copied weights, run in float64 on the CPU; their autograd
gradients; the gate equations written out here with the subject's weights; torch's documented
initialisation bound 1/√H.
"""
from __future__ import annotations

import math

import torch

from harness.checks.rnn import RECURRENT, bptt, equals_torch, flat, jacobian_h0, sequence_inputs, twin, weights
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, f64, holds
from harness.registry import check


def inputs(subject, case, batch: int, steps: int = 6) -> tuple:
    """Example inputs of the LSTM: x (B, T, D) and the state (h_0, c_0), each (B, H)."""
    return sequence_inputs(subject, case, batch, steps, state_parts=2)


CONTRACT = load_contract("lstm", inputs=inputs)


@check(requires=RECURRENT)
def lstm_equals_torch_lstm(subject, case, batch: int = 3, steps: int = 6, zero_state: bool = False) -> Outcome:
    """The LSTM (gate rows in torch's order i, f, g, o) produces the same outputs (h_1 … h_T) and the
    same final (h_T, c_T) as torch.nn.LSTM(batch_first=True) holding the same (copied) weights, from
    a random or the zero initial state."""
    return equals_torch(subject, case, "lstm", batch, steps, zero_state)


@check(requires=("lstm_cell",))
def lstm_cell_equals_torch_lstmcell(subject, case, batch: int = 5) -> Outcome:
    """One step of the subject's lstm_cell with the model's weights equals torch.nn.LSTMCell with the
    same (copied) weights, for both h′ and c′, and so do the gradients of L = Σ h′ ⊙ R + Σ c′ ⊙ Q (R, Q
    fixed, random) with respect to x, h and c (autograd through both); the model's own one-step method
    ``cell``, where it has one, gives the same step and the same gradients."""
    model = subject.build(case)
    D, H = subject.size("input_size"), subject.size("hidden_size")
    x, h, c = (t.requires_grad_(True) for t in (case.randn(batch, D), case.randn(batch, H), case.randn(batch, H)))
    R, Q = case.randn(batch, H), case.randn(batch, H)
    x64, h64, c64 = (f64(t).detach().requires_grad_(True) for t in (x, h, c))
    want = twin(subject, model, "lstm", cell=True)(x64, (h64, c64))
    want_g = torch.autograd.grad((want[0] * f64(R) + want[1] * f64(Q)).sum(), (x64, h64, c64))
    steps = [("lstm_cell", lambda: flat(subject.fn("lstm_cell")(x, (h, c), *weights(model))))]
    if callable(getattr(model, "cell", None)):
        steps.append(("model.cell", lambda: flat(model.cell(x, (h, c)))))
    outs = []
    for name, step in steps:
        got = step()
        outs += [case.close(f"{name} h′ vs nn.LSTMCell (float64, copied weights)", got[0].detach(), want[0].detach()),
                 case.close(f"{name} c′ vs nn.LSTMCell", got[1].detach(), want[1].detach())]
        if not (got[0].requires_grad and got[1].requires_grad):
            outs.append(holds(f"{name}'s h′ and c′ are differentiable (require grad)", False, "detached output"))
            continue
        g = torch.autograd.grad((got[0] * R + got[1] * Q).sum(), (x, h, c), allow_unused=True)
        for n, gi, wi in zip("xhc", g, want_g):
            outs.append(case.close(f"{name}: ∂L/∂{n} vs nn.LSTMCell's autograd", torch.zeros_like(wi) if gi is None else gi, wi))
    return all_of(outs)


def _gate_run(subject, case, batch: int, steps: int, scale: float):
    """Steps of lstm_cell(return_gates=True) from a random state; yields (x, h, c, new state, gates)."""
    model = subject.build(case)
    H = subject.size("hidden_size")
    cell = subject.fn("lstm_cell")
    x = case.randn(batch, steps, subject.size("input_size")) * scale
    h, c = case.randn(batch, H), case.randn(batch, H)
    out = []
    with torch.no_grad():
        for t in range(steps):
            new, gates = cell(x[:, t], (h, c), *weights(model), return_gates=True)
            out.append((x[:, t], h, c, tuple(new), tuple(gates)))
            h, c = new
    return model, out


def _exact_gates(subject, model, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Oracle: one step's gates (i, f, g, o) from notes 004's equations with the model's weights, in
    float64 on the CPU: k = σ(W_k·[h, x] + b_k) for k ∈ {i, f, o}, g = tanh(W_c·[h, x] + b_c), where
    W_k = [weight_hh rows | weight_ih rows] of gate k in torch's order and b_k = b_ih,k + b_hh,k."""
    H = subject.size("hidden_size")
    W_ih, W_hh, b_ih, b_hh = (None if w is None else f64(w) for w in weights(model))
    W = torch.cat([W_hh, W_ih], dim=1)  # notes' W·[h_{t−1}, x_t]: (4H, H + D)
    b = (b_ih if b_ih is not None else 0.0) + (b_hh if b_hh is not None else 0.0)
    z = torch.cat([f64(h), f64(x)], dim=1) @ W.T + b
    zi, zf, zg, zo = (z[:, k * H:(k + 1) * H] for k in range(4))
    return torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)


@check(requires=("lstm_cell",))
def lstm_gates_in_unit_interval(subject, case, batch: int = 16, steps: int = 5, scale: float = 3.0) -> Outcome:
    """Every LSTM gate is a sigmoid, so the input, forget and output gates lie strictly inside (0, 1)
    and the candidate g = tanh(·) strictly inside (−1, 1), at every step (inputs N(0, 9)).

    Strictly, that is, wherever the case's dtype can tell the gate from the bound: a correctly
    rounded float32 tanh(z) is exactly ±1 for |z| > 9.01 and σ(z) exactly 1 for z > 17.3, so a gate
    whose exact value (the gate equations in float64 with the model's weights) lies within 4 ε of
    ±1 (ε the dtype's machine epsilon), or within 4 times the smallest normal number of 0, may
    equal that bound; every gate lies in the closed interval."""
    model, out = _gate_run(subject, case, batch, steps, scale)
    info = torch.finfo(case.dtype)
    exact = [_exact_gates(subject, model, x, h) for x, h, *_ in out]
    res = []
    for k, name in enumerate(("input gate i", "forget gate f", "candidate g", "output gate o")):
        v = torch.cat([f64(o[4][k]).flatten() for o in out])
        e = torch.cat([g[k].flatten() for g in exact])
        lo = -1.0 if name.startswith("candidate") else 0.0
        strict = (e - lo > 4 * (info.eps if lo else info.tiny)) & (1.0 - e > 4 * info.eps)
        n, m = v.numel(), int(strict.sum())
        res += [bound(f"min of {name}", float(v.min()), lo, op=">=", detail=f"{n} values"),
                bound(f"max of {name}", float(v.max()), 1.0, op="<=", detail=f"{n} values")]
        if m:
            res += [bound(f"min of {name} where {case.dtype_name} resolves it from {lo:g}", float(v[strict].min()), lo,
                          op=">", detail=f"{m} of {n} values"),
                    bound(f"max of {name} where {case.dtype_name} resolves it from 1", float(v[strict].max()), 1.0,
                          op="<", detail=f"{m} of {n} values")]
    spread = float(torch.cat([f64(o[4][1]).flatten() for o in out]).std())
    res.append(bound("spread (std) of the forget gate: it is not constant", spread, 0.0, op=">"))
    return all_of(res)


@check(requires=("lstm_cell",))
def lstm_gate_equations(subject, case, batch: int = 6, steps: int = 4, scale: float = 1.0) -> Outcome:
    """The gates and state update follow notes 004 (with biases): for k ∈ {i, f, o},
    k_t = σ(W_k·[h_{t−1}, x_t] + b_k), g_t = tanh(W_c·[h_{t−1}, x_t] + b_c),
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, h_t = o_t ⊙ tanh(c_t), where W_k = [weight_hh rows | weight_ih
    rows] of gate k in torch's order (i, f, g, o) and b_k = b_ih,k + b_hh,k.

    Oracle: the equations written out in float64 on the CPU with the model's weights."""
    model, out = _gate_run(subject, case, batch, steps, scale)
    res = []
    for t, (x, h, c, new, gates) in enumerate(out):
        i, f, g, o = _exact_gates(subject, model, x, h)
        c_new = f * f64(c) + i * g
        h_new = o * torch.tanh(c_new)
        for name, got, want in zip(("i_t", "f_t", "g_t", "o_t"), gates, (i, f, g, o)):
            res.append(case.close(f"step {t}: {name} vs the gate equation", got, want))
        res += [case.close(f"step {t}: c_t vs f⊙c_{{t−1}} + i⊙g", new[1], c_new),
                case.close(f"step {t}: h_t vs o⊙tanh(c_t)", new[0], h_new)]
    return all_of(res)


@check(requires=RECURRENT)
def lstm_bptt_matches_torch(subject, case, batch: int = 3, steps: int = 6) -> Outcome:
    """Backpropagation through time in the LSTM: the gradients of L = Σ w_y ⊙ y + Σ w_h ⊙ h_T + Σ w_c ⊙ c_T
    with respect to the inputs, (h_0, c_0) and every weight equal those of torch.nn.LSTM with the same
    (copied) weights."""
    return bptt(subject, case, "lstm", batch, steps)


@check(requires=RECURRENT)
def lstm_forget_bias_keeps_gradient(subject, case, steps: int = 50, high: float = 5.0, low: float = -math.inf,
                                    min_ratio: float = 1e3) -> Outcome:
    """An LSTM whose forget gate is held open (forget bias b_f = 5, f ≈ σ(5) ≈ 0.993) carries the gradient
    ∂h_T/∂h_0 across T = 50 steps through the cell state c_t = f ⊙ c_{t−1} + …: its spectral norm is
    orders of magnitude larger (ratio ≥ 10³) than the same LSTM's with a low forget bias (default
    b_f = −∞, i.e. f = 0, a gated RNN without memory), whose gradient vanishes as in a vanilla RNN
    (Gers et al. 2000; Jozefowicz et al. 2015).

    b_f is set in torch's layout: bias_ih rows H..2H (the forget gate) to b_f, bias_hh's to 0."""
    model = subject.build(case)
    H = subject.size("hidden_size")
    x, state = inputs(subject, case, 1, steps)
    norms = {}
    for b_f in (high, low):
        with torch.no_grad():
            model.bias_ih[H:2 * H] = b_f
            model.bias_hh[H:2 * H] = 0.0
        J = jacobian_h0(model, x, state)
        norms[b_f] = float(torch.linalg.matrix_norm(f64(J), ord=2))
    hi, lo = norms[high], norms[low]
    ratio = hi / lo if lo > 0 else (math.inf if hi > 0 else math.nan)
    return all_of(
        holds("‖∂h_T/∂h_0‖₂ is finite for both forget biases", math.isfinite(hi) and math.isfinite(lo),
              f"{hi:.3g} and {lo:.3g}"),
        bound(f"‖∂h_{steps}/∂h_0‖₂ with b_f = {high} over that with b_f = {low}", ratio, min_ratio, op=">=",
              detail=f"{hi:.3g} / {lo:.3g}"),
    )


@check(requires=RECURRENT)
def lstm_forget_bias_init(subject, case, forget_bias: float = 1.0) -> Outcome:
    """An LSTM built with ``forget_bias`` = b_f starts with the forget gate's bias at b_f
    (Jozefowicz et al. 2015): the sum of rows H..2H of bias_ih and bias_hh (torch's gate order
    i, f, g, o; only the sum matters) equals b_f, while the other gates' bias rows keep torch's
    initialisation in [−1/√H, 1/√H] and are not constant."""
    model = subject.build(case, forget_bias=forget_bias)
    H = subject.size("hidden_size")
    b = f64(model.bias_ih) + f64(model.bias_hh)
    f_rows = b[H:2 * H]
    others = torch.cat([f64(model.bias_ih), f64(model.bias_hh)]).reshape(2, 4, H)[:, [0, 2, 3]].flatten()
    return all_of(
        case.close(f"bias_ih + bias_hh, forget-gate rows H..2H, vs b_f = {forget_bias:g}",
                   f_rows, torch.full((H,), forget_bias, dtype=torch.float64)),
        bound("max |bias entry| of the other gates (i, g, o)", float(others.abs().max()), 1.0 / math.sqrt(H), op="<=",
              source=f"1/√H, H = {H}"),
        bound("spread (std) of the other gates' bias entries", float(others.std()), 0.0, op=">"),
    )
