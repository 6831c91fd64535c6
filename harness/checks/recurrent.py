"""Checks for recurrent and recursive networks (CATALOGUE.md section C: "vanilla RNN, LSTM,
BPTT" and "recursive (tree-structured) network"; notes 004 "Recurrent Neural Networks" and
"LSTM gates", notes 003 "Recursive Neural Networks").

Recurrent protocol (an ``nn.Module`` class built from ``input_size``, ``hidden_size``): single
layer, batch-first, parameters in torch.nn.RNN / torch.nn.LSTM's layout under the names
``weight_ih`` (G·H, D), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh`` (G·H,), G = 1 (tanh RNN)
or 4 (LSTM, gate rows i, f, g, o); ``initial_state(batch, device=, dtype=)``;
``forward(x (B, T, D), state) -> (y (B, T, H), state)`` where the state is h (B, H) or (h, c);
functional cores ``rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh)`` and ``lstm_cell(x, (h, c), W_ih,
W_hh, b_ih, b_hh, return_gates=False)`` (with ``return_gates``: ``((h, c), (i, f, g, o))``).

Recursive protocol (an ``nn.Module`` class built from ``dim``): parameters ``W`` (D, 2D) and
``b`` (D,); ``forward(leaves (N, D) or (B, N, D), tree) -> root``; ``forward_batch(list of
(N_b, D), list of trees) -> (B, D)``; trees are nested pairs of leaf indices; core
``tree_from_parents(parents, n_leaves)``.

Oracles: torch.nn.RNN / LSTM / RNNCell / LSTMCell with copied weights, run in float64 on the CPU;
their autograd gradients; the gate equations and the tree composition written out here with the
subject's weights; the analytic BPTT Jacobian Π diag(1 − h_t²) W_hh; torch.autograd.gradcheck.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from harness.outcome import Outcome, all_of, bound, exact, holds
from harness.registry import check

RECURRENT = ("initial_state",)


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float64)


def _flat(state) -> tuple[torch.Tensor, ...]:
    """A state as a tuple of tensors: h -> (h,); (h, c) -> (h, c)."""
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def _pack(tensors: tuple[torch.Tensor, ...]):
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _sizes(model) -> tuple[int, int, int]:
    """(D, H, G): input size, hidden size, gate blocks."""
    H = model.weight_hh.shape[1]
    return model.weight_ih.shape[1], H, model.weight_ih.shape[0] // H


def _weights(model) -> tuple:
    return model.weight_ih, model.weight_hh, getattr(model, "bias_ih", None), getattr(model, "bias_hh", None)


def _twin(model, kind: str, cell: bool = False) -> nn.Module:
    """torch.nn.{RNN, LSTM}[Cell] on the CPU in float64 holding copies of the model's weights."""
    D, H, _ = _sizes(model)
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
            getattr(ref, name + suffix).copy_(_f64(getattr(model, name)))
    return ref


def _inputs(case, model, batch: int, steps: int, zero_state: bool):
    D, H, G = _sizes(model)
    x = case.randn(batch, steps, D)
    n_state = 2 if G == 4 else 1
    if zero_state:
        state = _flat(model.initial_state(batch, device=case.device, dtype=case.dtype))
    else:
        state = tuple(0.5 * case.randn(batch, H) for _ in range(n_state))
    return x, state


def _twin_run(ref: nn.Module, kind: str, x: torch.Tensor, state: tuple[torch.Tensor, ...]):
    """Run the torch twin on float64 CPU copies; returns (y, final state tuple)."""
    s = tuple(_f64(t).unsqueeze(0) for t in state)  # torch wants (layers, B, H)
    y, hs = ref(_f64(x), s if kind == "lstm" else s[0])
    return y, tuple(t[0] for t in _flat(hs))


def _equals_torch(subject, case, kind: str, batch: int, steps: int, zero_state: bool) -> Outcome:
    model = subject.build(case)
    x, state = _inputs(case, model, batch, steps, zero_state)
    with torch.no_grad():
        y, s = model(x, _pack(state))
        y_ref, s_ref = _twin_run(_twin(model, kind), kind, x, state)
    names = ("h_T", "c_T")
    torch_name = "nn.LSTM" if kind == "lstm" else "nn.RNN(tanh)"
    start = "zero" if zero_state else "random"
    return all_of(
        case.close(f"outputs y (B, T, H) vs {torch_name} (float64, copied weights)", y, y_ref,
                   detail=f"B={batch}, T={steps}, {start} initial state"),
        *[case.close(f"final {n} vs {torch_name}", a, b) for n, a, b in zip(names, _flat(s), s_ref)],
        exact("number of state tensors", len(_flat(s)), len(s_ref)),
    )


@check(requires=RECURRENT)
def rnn_equals_torch_rnn(subject, case, batch: int = 3, steps: int = 6, zero_state: bool = False) -> Outcome:
    """A single-layer tanh RNN h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) produces the same
    outputs (h_1 … h_T) and final state h_T as torch.nn.RNN(nonlinearity='tanh', batch_first=True)
    holding the same (copied) weights, from a random or the zero initial state."""
    return _equals_torch(subject, case, "rnn", batch, steps, zero_state)


@check(requires=RECURRENT)
def lstm_equals_torch_lstm(subject, case, batch: int = 3, steps: int = 6, zero_state: bool = False) -> Outcome:
    """The LSTM (gate rows in torch's order i, f, g, o) produces the same outputs (h_1 … h_T) and the
    same final (h_T, c_T) as torch.nn.LSTM(batch_first=True) holding the same (copied) weights, from
    a random or the zero initial state."""
    return _equals_torch(subject, case, "lstm", batch, steps, zero_state)


@check(requires=("rnn_cell",))
def rnn_cell_equals_torch_rnncell(subject, case, batch: int = 5) -> Outcome:
    """One step of the subject's rnn_cell with the model's weights equals torch.nn.RNNCell(tanh) with
    the same (copied) weights: h′ = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    model = subject.build(case)
    D, H, _ = _sizes(model)
    x, h = case.randn(batch, D), case.randn(batch, H)
    with torch.no_grad():
        got = subject.fn("rnn_cell")(x, h, *_weights(model))
        want = _twin(model, "rnn", cell=True)(_f64(x), _f64(h))
    return case.close("rnn_cell(x, h) vs nn.RNNCell (float64, copied weights)", got, want)


@check(requires=("lstm_cell",))
def lstm_cell_equals_torch_lstmcell(subject, case, batch: int = 5) -> Outcome:
    """One step of the subject's lstm_cell with the model's weights equals torch.nn.LSTMCell with the
    same (copied) weights, for both h′ and c′."""
    model = subject.build(case)
    D, H, _ = _sizes(model)
    x, h, c = case.randn(batch, D), case.randn(batch, H), case.randn(batch, H)
    with torch.no_grad():
        got = _flat(subject.fn("lstm_cell")(x, (h, c), *_weights(model)))
        want = _twin(model, "lstm", cell=True)(_f64(x), (_f64(h), _f64(c)))
    return all_of(case.close("lstm_cell h′ vs nn.LSTMCell (float64, copied weights)", got[0], want[0]),
                  case.close("lstm_cell c′ vs nn.LSTMCell", got[1], want[1]))


def _gate_run(subject, case, batch: int, steps: int, scale: float):
    """Steps of lstm_cell(return_gates=True) from a random state; yields (x, h, c, new state, gates)."""
    model = subject.build(case)
    D, H, _ = _sizes(model)
    cell = subject.fn("lstm_cell")
    x = case.randn(batch, steps, D) * scale
    h, c = case.randn(batch, H), case.randn(batch, H)
    out = []
    with torch.no_grad():
        for t in range(steps):
            new, gates = cell(x[:, t], (h, c), *_weights(model), return_gates=True)
            out.append((x[:, t], h, c, tuple(new), tuple(gates)))
            h, c = new
    return model, out


@check(requires=("lstm_cell",))
def lstm_gates_in_unit_interval(subject, case, batch: int = 16, steps: int = 5, scale: float = 3.0) -> Outcome:
    """Every LSTM gate is a sigmoid, so the input, forget and output gates lie strictly inside (0, 1)
    and the candidate g = tanh(·) strictly inside (−1, 1), at every step (inputs N(0, 9))."""
    _, out = _gate_run(subject, case, batch, steps, scale)
    res = []
    for k, name in enumerate(("input gate i", "forget gate f", "candidate g", "output gate o")):
        v = torch.cat([_f64(o[4][k]).flatten() for o in out])
        lo = -1.0 if name.startswith("candidate") else 0.0
        res += [bound(f"min of {name}", float(v.min()), lo, op=">", detail=f"{v.numel()} values"),
                bound(f"max of {name}", float(v.max()), 1.0, op="<", detail=f"{v.numel()} values")]
    spread = float(torch.cat([_f64(o[4][1]).flatten() for o in out]).std())
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
    _, H, _ = _sizes(model)
    W_ih, W_hh, b_ih, b_hh = (None if w is None else _f64(w) for w in _weights(model))
    W = torch.cat([W_hh, W_ih], dim=1)  # notes' W·[h_{t−1}, x_t]: (4H, H + D)
    b = (b_ih if b_ih is not None else 0.0) + (b_hh if b_hh is not None else 0.0)
    res = []
    for t, (x, h, c, new, gates) in enumerate(out):
        z = torch.cat([_f64(h), _f64(x)], dim=1) @ W.T + b
        zi, zf, zg, zo = (z[:, k * H:(k + 1) * H] for k in range(4))
        i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
        c_new = f * _f64(c) + i * g
        h_new = o * torch.tanh(c_new)
        for name, got, want in zip(("i_t", "f_t", "g_t", "o_t"), gates, (i, f, g, o)):
            res.append(case.close(f"step {t}: {name} vs the gate equation", got, want))
        res += [case.close(f"step {t}: c_t vs f⊙c_{{t−1}} + i⊙g", new[1], c_new),
                case.close(f"step {t}: h_t vs o⊙tanh(c_t)", new[0], h_new)]
    return all_of(res)


def _bptt(subject, case, kind: str, batch: int, steps: int) -> Outcome:
    model = subject.build(case)
    x, state = _inputs(case, model, batch, steps, zero_state=False)
    _, H, _ = _sizes(model)
    w_y = case.randn(batch, steps, H)
    w_s = [case.randn(batch, H) for _ in state]
    x = x.clone().requires_grad_(True)
    state = tuple(s.clone().requires_grad_(True) for s in state)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if getattr(model, "bias_ih", None) is not None else [])
    params = [getattr(model, n) for n in names]
    y, s = model(x, _pack(state))
    loss = (w_y * y).sum() + sum((w * t).sum() for w, t in zip(w_s, _flat(s)))
    leaves = [x, *state, *params]
    got = [torch.zeros_like(t) if g is None else g  # a tensor the loss does not reach has gradient 0
           for t, g in zip(leaves, torch.autograd.grad(loss, leaves, allow_unused=True))]

    ref = _twin(model, kind)
    x64 = _f64(x).requires_grad_(True)
    s64 = tuple(_f64(t).unsqueeze(0).requires_grad_(True) for t in state)
    y_ref, s_ref = ref(x64, s64 if kind == "lstm" else s64[0])
    loss_ref = (_f64(w_y) * y_ref).sum() + sum((_f64(w) * t[0]).sum() for w, t in zip(w_s, _flat(s_ref)))
    ref_params = [getattr(ref, n + "_l0") for n in names]
    want = torch.autograd.grad(loss_ref, [x64, *s64, *ref_params])
    labels = ["x", *("h_0", "c_0")[:len(state)], *names]
    torch_name = "nn.LSTM" if kind == "lstm" else "nn.RNN"
    return all_of(case.close(f"∂L/∂{lab} by BPTT through the unrolled loop vs {torch_name}'s gradient", g, w.reshape(g.shape),
                             detail=f"L = Σ w⊙y + Σ w⊙state, T={steps}")
                  for lab, g, w in zip(labels, got, want))


@check(requires=RECURRENT)
def rnn_bptt_matches_torch(subject, case, batch: int = 3, steps: int = 6) -> Outcome:
    """Backpropagation through time is autograd through the unrolled recurrence: the gradients of
    L = Σ w_y ⊙ y + Σ w_h ⊙ h_T with respect to the inputs, the initial state and every weight equal
    those of torch.nn.RNN(tanh) with the same (copied) weights."""
    return _bptt(subject, case, "rnn", batch, steps)


@check(requires=RECURRENT)
def lstm_bptt_matches_torch(subject, case, batch: int = 3, steps: int = 6) -> Outcome:
    """Backpropagation through time in the LSTM: the gradients of L = Σ w_y ⊙ y + Σ w_h ⊙ h_T + Σ w_c ⊙ c_T
    with respect to the inputs, (h_0, c_0) and every weight equal those of torch.nn.LSTM with the same
    (copied) weights."""
    return _bptt(subject, case, "lstm", batch, steps)


def _jacobian_h0(model, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """∂h_T/∂h_0 (H, H) for one sequence (batch 1); other state parts (c_0) held fixed."""
    def hT(h0: torch.Tensor) -> torch.Tensor:
        _, s = model(x, _pack((h0.unsqueeze(0),) + state[1:]))
        return _flat(s)[0][0]
    return torch.autograd.functional.jacobian(hT, state[0][0])


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
    D, H, _ = _sizes(model)
    with torch.no_grad():
        model.weight_hh.mul_(rho / torch.linalg.matrix_norm(model.weight_hh.double(), ord=2).item())
    x, h0 = case.randn(1, Ts[-1], D), 0.5 * case.randn(1, H)
    with torch.no_grad():
        y, _ = model(x, h0)
    W = _f64(model.weight_hh)
    res, logs = [], []
    J_an = torch.eye(H, dtype=torch.float64)
    for t in range(1, Ts[-1] + 1):
        J_an = torch.diag(1 - _f64(y[0, t - 1]) ** 2) @ W @ J_an
        if t in Ts:
            J = _jacobian_h0(model, x[:, :t], (h0,))
            res.append(case.close(f"autograd ∂h_{t}/∂h_0 vs Π diag(1 − h_t²) W_hh", J, J_an))
            n = float(torch.linalg.matrix_norm(_f64(J), ord=2))
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
    D, H, _ = _sizes(model)
    x = case.randn(1, steps, D)
    state = (0.5 * case.randn(1, H), 0.5 * case.randn(1, H))
    norms = {}
    for b_f in (high, low):
        with torch.no_grad():
            model.bias_ih[H:2 * H] = b_f
            model.bias_hh[H:2 * H] = 0.0
        J = _jacobian_h0(model, x, state)
        norms[b_f] = float(torch.linalg.matrix_norm(_f64(J), ord=2))
    hi, lo = norms[high], norms[low]
    ratio = hi / lo if lo > 0 else (math.inf if hi > 0 else math.nan)
    return all_of(
        holds("‖∂h_T/∂h_0‖₂ is finite for both forget biases", math.isfinite(hi) and math.isfinite(lo),
              f"{hi:.3g} and {lo:.3g}"),
        bound(f"‖∂h_{steps}/∂h_0‖₂ with b_f = {high} over that with b_f = {low}", ratio, min_ratio, op=">=",
              detail=f"{hi:.3g} / {lo:.3g}"),
    )


@check(requires=RECURRENT)
def recurrent_state_handover(subject, case, batch: int = 2, steps: int = 8, split: int = 3) -> Outcome:
    """State in, state out: running x_{1..s} from state s_0 and then x_{s+1..T} from the state it returns
    gives the same outputs and final state as running x_{1..T} from s_0 (truncated BPTT splits a
    sequence this way)."""
    model = subject.build(case)
    x, state = _inputs(case, model, batch, steps, zero_state=False)
    with torch.no_grad():
        y, s = model(x, _pack(state))
        y1, s1 = model(x[:, :split], _pack(state))
        y2, s2 = model(x[:, split:], s1)
    return all_of(
        case.close(f"outputs of two runs (T = {split} + {steps - split}) vs one run (T = {steps})", torch.cat([y1, y2], 1), y),
        *[case.close(f"final state part {k} of two runs vs one run", a, b) for k, (a, b) in enumerate(zip(_flat(s2), _flat(s)))],
    )


@check(requires=RECURRENT)
def recurrent_initial_state_is_zero(subject, case, batch: int = 4, steps: int = 3) -> Outcome:
    """initial_state(B, device, dtype) is zero, (B, H) per state tensor, on the requested device and
    dtype; and forward(x) without a state equals forward(x, initial_state(B)) exactly."""
    model = subject.build(case)
    D, H, G = _sizes(model)
    s0 = _flat(model.initial_state(batch, device=case.device, dtype=case.dtype))
    x = case.randn(batch, steps, D)
    with torch.no_grad():
        y_default, s_default = model(x)
        y_zero, s_zero = model(x, _pack(s0))
    return all_of(
        exact("number of state tensors", len(s0), 2 if G == 4 else 1),
        *[exact(f"state part {k}: shape, dtype, device", (tuple(t.shape), t.dtype, t.device.type),
                ((batch, H), case.dtype, torch.device(case.device).type)) for k, t in enumerate(s0)],
        *[exact(f"state part {k} is zero", t, torch.zeros(batch, H)) for k, t in enumerate(s0)],
        exact("forward(x) vs forward(x, initial_state)", y_default, y_zero),
        *[exact(f"final state part {k}: forward(x) vs forward(x, initial_state)", a, b)
          for k, (a, b) in enumerate(zip(_flat(s_default), _flat(s_zero)))],
    )


@check(requires=RECURRENT)
def recurrent_output_is_causal(subject, case, batch: int = 2, steps: int = 6) -> Outcome:
    """The output at step t depends only on inputs up to t: ∂y_t/∂x_s = 0 exactly for s > t, and
    ∂y_t/∂x_t ≠ 0 (autograd, one backward pass per t)."""
    model = subject.build(case)
    x, state = _inputs(case, model, batch, steps, zero_state=False)
    x = x.clone().requires_grad_(True)
    y, _ = model(x, _pack(state))
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
    x, state = _inputs(case, model, batch, steps, zero_state=False)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    n_s = len(state)
    leaves = (x.clone().requires_grad_(True), *(s.clone().requires_grad_(True) for s in state), *params)

    def fn(x, *rest):
        st, ps = rest[:n_s], rest[n_s:]
        y, s = torch.func.functional_call(model, dict(zip(names, ps)), (x, _pack(tuple(st))))
        return (y, *_flat(s))

    try:
        ok = torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"input, {n_s} state tensor(s), {len(params)} parameter tensors"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), "gradcheck of the recurrent model (input, state, parameters)", detail=detail)


# --------------------------------------------------------------------------------------------
# recursive (tree-structured) networks
# --------------------------------------------------------------------------------------------
RECURSIVE = ("forward_batch",)
# Trees over 1 … 6 leaves: one leaf, both bracketings of three, balanced, skewed, mixed.
DEFAULT_TREES = (0, ((0, 1), 2), (0, (1, 2)), ((0, 1), (2, 3)), (((0, 1), 2), 3), ((0, (1, 2)), ((3, 4), 5)))


def _tuple_tree(t):
    return int(t) if isinstance(t, int) else (_tuple_tree(t[0]), _tuple_tree(t[1]))


def _n_leaves(tree) -> int:
    return tree + 1 if isinstance(tree, int) else max(_n_leaves(tree[0]), _n_leaves(tree[1]))


def _manual(tree, leaves: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Oracle: p = tanh(W [c1; c2] + b) written out recursively over the nested tuple (float64)."""
    if isinstance(tree, int):
        return leaves[..., tree, :]
    c1, c2 = _manual(tree[0], leaves, W, b), _manual(tree[1], leaves, W, b)
    z = torch.cat([c1, c2], dim=-1) @ W.T
    return torch.tanh(z + b if b is not None else z)


def _Wb(model):
    b = getattr(model, "b", None)
    return _f64(model.W), (None if b is None else _f64(b))


@check(requires=RECURSIVE)
def recursive_equals_manual_composition(subject, case, trees: list | None = None, batch: int = 3) -> Outcome:
    """The root computed by the recursive network equals the composition p = tanh(W [c1; c2] + b)
    applied by hand bottom-up over the tree (Socher et al. 2011), for every tree given (default: one
    leaf, ((0 1) 2), (0 (1 2)), balanced and skewed trees up to 6 leaves), on one sequence of leaves
    (N, D) and on a batch (B, N, D) sharing the tree; a one-leaf tree returns the leaf."""
    model = subject.build(case)
    D = model.W.shape[0]
    W, b = _Wb(model)
    res = []
    for tree in [_tuple_tree(t) for t in (trees or DEFAULT_TREES)]:
        n = _n_leaves(tree)
        leaves = case.randn(batch, n, D)
        with torch.no_grad():
            got_b = model(leaves, tree)
            got_1 = model(leaves[0], tree)
        want = _manual(tree, _f64(leaves), W, b)
        res += [case.close(f"root of {tree} on (B, N, D) vs manual composition", got_b, want),
                case.close(f"root of {tree} on (N, D) vs manual composition", got_1, want[0])]
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_bracketings_differ(subject, case, min_diff: float = 1e-3) -> Outcome:
    """Structure matters: on random leaves a, b, c the roots of ((a b) c) and (a (b c)) differ (max
    |difference| > 10⁻³), and so do those of (a b) and (b a); each root equals its manual composition."""
    model = subject.build(case)
    D = model.W.shape[0]
    W, b = _Wb(model)
    leaves = case.randn(3, D)
    pairs = [(((0, 1), 2), (0, (1, 2))), ((0, 1), (1, 0))]
    res = []
    with torch.no_grad():
        for t1, t2 in pairs:
            r1, r2 = model(leaves, t1), model(leaves, t2)
            res += [bound(f"max |root{t1} − root{t2}|", float((_f64(r1) - _f64(r2)).abs().max()), min_diff, op=">"),
                    case.close(f"root of {t1} vs manual composition", r1, _manual(t1, _f64(leaves), W, b)),
                    case.close(f"root of {t2} vs manual composition", r2, _manual(t2, _f64(leaves), W, b))]
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_batched_equals_one_by_one(subject, case, trees: list | None = None) -> Outcome:
    """A batch of different trees computed level by level (forward_batch) gives the same roots as
    evaluating each tree on its own, and as the manual composition."""
    model = subject.build(case)
    D = model.W.shape[0]
    W, b = _Wb(model)
    ts = [_tuple_tree(t) for t in (trees or DEFAULT_TREES)]
    leaves = [case.randn(_n_leaves(t), D) for t in ts]
    with torch.no_grad():
        batched = model.forward_batch(leaves, ts)
        single = torch.stack([model(x, t) for x, t in zip(leaves, ts)])
    manual = torch.stack([_manual(t, _f64(x), W, b) for x, t in zip(leaves, ts)])
    return all_of(
        exact("shape of forward_batch roots", tuple(batched.shape), (len(ts), D)),
        case.close(f"forward_batch roots of {len(ts)} different trees vs one-by-one", batched, single),
        case.close("forward_batch roots vs manual composition", batched, manual),
    )


@check(requires=RECURSIVE + ("tree_from_parents",))
def recursive_parent_pointers(subject, case) -> Outcome:
    """The parent-pointer encoding (leaves 0 … n−1, internal nodes after, parent −1 at the root,
    children ordered by their smallest leaf index) describes the same tree as the nested tuple: for
    hand-written pairs tree_from_parents returns the nested tuple and the roots are the same."""
    model = subject.build(case)
    D = model.W.shape[0]
    known = [
        ([4, 4, 5, 5, 6, 6, -1], 4, ((0, 1), (2, 3))),
        ([3, 3, 4, 4, -1], 3, ((0, 1), 2)),
        ([4, 3, 3, 4, -1], 3, (0, (1, 2))),
        ([5, 5, 6, 7, 8, 6, 7, 8, -1], 5, ((((0, 1), 2), 3), 4)),
        ([8, 5, 5, 6, 7, 6, 7, 8, -1], 5, (0, (((1, 2), 3), 4))),
        ([5, 8, 8, 7, 6, -1, 5, 6, 7], 5, (0, (((1, 2), 3), 4))),  # internal nodes numbered top-down
        ([6, 6, 5, 5, 8, 7, 7, 8, -1], 5, (((0, 1), (2, 3)), 4)),  # right subtree merged first
        ([-1], 1, 0),
    ]
    f = subject.fn("tree_from_parents")
    res = []
    for parents, n, tree in known:
        got = f(parents, n)
        res.append(exact(f"tree_from_parents({parents})", _tuple_tree(got), tree))
        leaves = case.randn(n, D)
        with torch.no_grad():
            res.append(exact(f"root via parent pointers vs via {tree}", model(leaves, got), model(leaves, tree)))
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_gradcheck(subject, case, tree: list | None = None) -> Outcome:
    """The recursive network's gradients with respect to the leaves, W and b agree with finite
    differences (torch.autograd.gradcheck, float64, eps 1e-6, atol 1e-5, rtol 1e-3) on a 5-leaf tree."""
    model = subject.build(case)
    D = model.W.shape[0]
    t = _tuple_tree(tree) if tree is not None else ((0, (1, 2)), (3, 4))
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    leaves = case.randn(_n_leaves(t), D).requires_grad_(True)

    def fn(x, *ps):
        return torch.func.functional_call(model, dict(zip(names, ps)), (x, t))

    try:
        ok = torch.autograd.gradcheck(fn, (leaves, *params), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"tree {t}, leaves ({leaves.shape[0]}, {D}), {len(params)} parameter tensors"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), "gradcheck of the recursive network (leaves, W, b)", detail=detail)
