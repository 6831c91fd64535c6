"""Checks for the Neural Turing Machine (suite ``ntm``; course notes 000; Graves, Wayne, Danihelka
2014): the addressing chain content -> interpolate -> shift -> sharpen, reading and writing, and
the model with its explicit state.

The functional cores take any memory size: their checks draw memories, weightings and shift
distributions of their own sizes (the ``rows``, ``width``, ``shift_range`` check parameters
size that test data); the model checks use the subject's sizes from the suite's params.

Oracles: torch.nn.functional.cosine_similarity + torch.softmax, torch.roll, explicit loops over
rows, exact algebra (one-hot weightings), torch.autograd.gradcheck, and a learned copy task.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, holds
from harness.registry import check

_CORES = ("content_addressing", "interpolate", "circular_shift", "sharpen", "address", "read", "write")


def inputs(subject, case, batch: int, steps: int = 6) -> tuple:
    """Example inputs of the model: random bit sequences x (B, T, input_size), Bernoulli(1/2)."""
    return (case.bernoulli(0.5, batch, steps, subject.size("input_size")),)


CONTRACT = load_contract("ntm", inputs=inputs)


def _distribution(case, name: str, w: torch.Tensor) -> list[Outcome]:
    """w ≥ 0 everywhere, finite, and each row sums to 1."""
    w64 = f64(w)
    return [
        holds(f"{name} is finite", bool(torch.isfinite(w64).all()), f"{int((~torch.isfinite(w64)).sum())} non-finite"),
        bound(f"min entry of {name}", float(w64.min()), 0.0, op=">="),
        case.close(f"row sums of {name}", w64.sum(-1), torch.ones(w64.shape[:-1], dtype=torch.float64)),
    ]


def _addressing_inputs(case, B: int, N: int, W: int, K: int):
    """Random memory, key, β ∈ [0, 20), g ∈ [0, 1), s and w_prev random distributions, γ ∈ [1, 6)."""
    M = case.randn(B, N, W)
    k = case.randn(B, W)
    beta = case.rand(B) * 20
    g = case.rand(B)
    s = torch.softmax(case.randn(B, 2 * K + 1) * 2, dim=-1)
    gamma = 1 + case.rand(B) * 5
    w_prev = torch.softmax(case.randn(B, N) * 3, dim=-1)
    return M, k, beta, g, s, gamma, w_prev


# ---------------------------------------------------------------------------------------------
# addressing
# ---------------------------------------------------------------------------------------------
@check(requires=_CORES)
def ntm_weightings_are_distributions(subject, case, batch: int = 16, rows: int = 12, width: int = 5,
                                     shift_range: int = 2) -> Outcome:
    """Every addressing stage maps distributions to distributions: the content weighting, the
    interpolation, the circular shift, the sharpening and the whole chain each return w ≥ 0 with
    Σ_i w(i) = 1, on random inputs and at the extremes β = 10⁴, γ = 100, g ∈ {0, 1}."""
    f = subject.fn
    M, k, beta, g, s, gamma, w_prev = _addressing_inputs(case, batch, rows, width, shift_range)
    beta[:2], gamma[:2], g[:2] = 1e4, 100.0, case.tensor([0.0, 1.0])
    w_c = f("content_addressing")(M, k, beta)
    w_g = f("interpolate")(w_c, w_prev, g)
    w_s = f("circular_shift")(w_g, s)
    w = f("sharpen")(w_s, gamma)
    chain = f("address")(M, k, beta, g, s, gamma, w_prev)
    return all_of(_distribution(case, "content weighting w_c", w_c) + _distribution(case, "interpolated w_g", w_g)
                  + _distribution(case, "shifted w̃", w_s) + _distribution(case, "sharpened w", w)
                  + _distribution(case, "address(...)", chain))


@check(requires=("content_addressing",))
def ntm_content_addressing_matches_cosine_softmax(subject, case, batch: int = 8, rows: int = 10, width: int = 6) -> Outcome:
    """w_c = softmax_i(β · cos(k, M_i)) equals torch.softmax of β times
    torch.nn.functional.cosine_similarity (float64 on the CPU), including a zero memory row
    (similarity 0, not nan) and β = 0 (uniform weighting)."""
    M, k = case.randn(batch, rows, width), case.randn(batch, width)
    M[:, 3] = 0.0
    beta = case.rand(batch) * 10
    beta[0] = 0.0
    w = subject.fn("content_addressing")(M, k, beta)
    cos = torch.nn.functional.cosine_similarity(f64(k)[:, None, :], f64(M), dim=-1)
    expected = torch.softmax(f64(beta)[:, None] * cos, dim=-1)
    return all_of(
        case.close("content_addressing vs softmax(β · F.cosine_similarity)", w, expected),
        case.close("β = 0 gives the uniform weighting", f64(w)[0], torch.full((rows,), 1.0 / rows, dtype=torch.float64)),
    )


@check(requires=("content_addressing",))
def ntm_large_beta_selects_most_similar(subject, case, batch: int = 8, rows: int = 16, width: int = 8,
                                        beta: float = 500.0) -> Outcome:
    """A large key strength focuses the content weighting on the most similar row: with Δ the
    gap between the best and second-best cosine similarity (F.cosine_similarity),
    argmax w_c = argmax cos and 1 − max w_c ≤ (N − 1) · exp(−β Δ)."""
    M, k = case.randn(batch, rows, width), case.randn(batch, width)
    target = case.randint(0, rows, (batch,))
    M[torch.arange(batch, device=M.device), target] = k + 0.05 * case.randn(batch, width)   # one row close to the key
    w = f64(subject.fn("content_addressing")(M, k, case.tensor([beta] * batch)))
    cos = torch.nn.functional.cosine_similarity(f64(k)[:, None, :], f64(M), dim=-1)
    top2 = cos.topk(2, dim=-1).values
    gap = top2[:, 0] - top2[:, 1]
    allowed = (rows - 1) * torch.exp(-beta * gap)
    return all_of(
        exact("argmax of w_c vs argmax of cosine similarity", w.argmax(-1), cos.argmax(-1)),
        bound("max over the batch of (1 − max w_c) − (N − 1)exp(−βΔ)", float((1 - w.max(-1).values - allowed).max()),
              float(case.tolerance.atol), detail=f"β = {beta:g}, smallest gap Δ = {float(gap.min()):.3g}"),
        bound("smallest max w_c", float(w.max(-1).values.min()), 0.999, op=">"),
    )


@check(requires=("interpolate",))
def ntm_interpolation_gate(subject, case, batch: int = 8, rows: int = 10) -> Outcome:
    """w_g = g w_c + (1 − g) w_prev: g = 1 returns the content weighting, g = 0 the previous
    weighting (exactly), and an intermediate g the convex combination (explicit formula)."""
    interp = subject.fn("interpolate")
    w_c = torch.softmax(case.randn(batch, rows), -1)
    w_p = torch.softmax(case.randn(batch, rows), -1)
    g = case.rand(batch)
    ones, zeros = torch.ones_like(g), torch.zeros_like(g)
    expected = f64(g)[:, None] * f64(w_c) + (1 - f64(g))[:, None] * f64(w_p)
    return all_of(
        exact("interpolate(w_c, w_prev, g = 1) vs w_c", interp(w_c, w_p, ones), w_c),
        exact("interpolate(w_c, w_prev, g = 0) vs w_prev", interp(w_c, w_p, zeros), w_p),
        case.close("interpolate vs g w_c + (1 − g) w_prev", interp(w_c, w_p, g), expected),
    )


@check(requires=("circular_shift",))
def ntm_shift_moves_one_hot(subject, case, rows: int = 9, shift_range: int = 2) -> Outcome:
    """A shift distribution concentrated on offset d moves a one-hot weighting on row j to row
    (j + d) mod N, for every j and every d in −K..K: circular_shift(e_j, δ_d) = torch.roll(e_j, d)
    exactly (positive d moves toward higher row indices, wrapping around)."""
    shift = subject.fn("circular_shift")
    K = shift_range
    eye = torch.eye(rows, dtype=case.dtype, device=case.device)               # row j: e_j
    outs = []
    for d in range(-K, K + 1):
        s = torch.zeros(rows, 2 * K + 1, dtype=case.dtype, device=case.device)
        s[:, K + d] = 1.0
        outs.append(exact(f"circular_shift(e_j, δ_{d:+d}) vs torch.roll(e_j, {d:+d}) for all j",
                          shift(eye, s), torch.roll(f64(eye), d, dims=-1)))
    return all_of(outs)


@check(requires=("circular_shift",))
def ntm_circular_shift_matches_roll(subject, case, batch: int = 8, rows: int = 11, shift_range: int = 3) -> Outcome:
    """For any weighting w and shift distribution s over −K..K, circular_shift(w, s) equals the
    mixture of rolls Σ_d s(d) · torch.roll(w, d) (eq. 8, w̃(i) = Σ_j w(j) s(i − j))."""
    K = shift_range
    w = torch.softmax(case.randn(batch, rows) * 2, -1)
    s = torch.softmax(case.randn(batch, 2 * K + 1) * 2, -1)
    w64, s64 = f64(w), f64(s)
    expected = sum(s64[:, K + d, None] * torch.roll(w64, d, dims=-1) for d in range(-K, K + 1))
    return case.close("circular_shift(w, s) vs Σ_d s(d) torch.roll(w, d)", subject.fn("circular_shift")(w, s), expected)


@check(requires=("sharpen",))
def ntm_sharpen_limits(subject, case, batch: int = 8, rows: int = 10, gamma_large: float = 1e4) -> Outcome:
    """Sharpening w^γ / Σ w^γ: γ = 1 is the identity; an intermediate γ equals the explicit
    power formula; a large γ gives the one-hot vector on argmax w (w is a random permutation of
    1, 2, ..., N normalised, so the runner-up is at most (1 − 1/N) of the top and
    (1 − 1/N)^10⁴ underflows)."""
    sh = subject.fn("sharpen")
    # distinct entries: a random permutation of 1, 2, ..., rows (relative gap ≥ 1/rows), normalised
    ranks = torch.stack([torch.randperm(rows, generator=case.generator) for _ in range(batch)]).double() + 1
    w = case.tensor(ranks / ranks.sum(-1, keepdim=True))
    w64 = f64(w)
    gamma = 1 + case.rand(batch) * 4
    powered = w64 ** f64(gamma)[:, None]
    one_hot = torch.nn.functional.one_hot(w64.argmax(-1), rows).double()
    return all_of(
        case.close("sharpen(w, γ = 1) vs w", sh(w, torch.ones(batch, dtype=case.dtype, device=case.device)), w64),
        case.close("sharpen(w, γ) vs w^γ / Σ w^γ", sh(w, gamma), powered / powered.sum(-1, keepdim=True)),
        case.close(f"sharpen(w, γ = {gamma_large:g}) vs one-hot(argmax w)", sh(w, case.tensor([gamma_large] * batch)), one_hot),
    )


# ---------------------------------------------------------------------------------------------
# reading and writing
# ---------------------------------------------------------------------------------------------
@check(requires=("read",))
def ntm_read_is_weighted_sum(subject, case, batch: int = 4, rows: int = 7, width: int = 5) -> Outcome:
    """r = Σ_i w(i) M_i: a random weighting gives the weighted row sum (loop over rows), and a
    one-hot weighting on row j reads row j exactly."""
    rd = subject.fn("read")
    M = case.randn(batch, rows, width)
    w = torch.softmax(case.randn(batch, rows), -1)
    M64, w64 = f64(M), f64(w)
    expected = sum(w64[:, i, None] * M64[:, i] for i in range(rows))
    j = case.randint(0, rows, (batch,))
    onehot = torch.nn.functional.one_hot(j, rows).to(case.dtype)
    return all_of(
        case.close("read(M, w) vs Σ_i w(i) M_i", rd(M, w), expected),
        exact("read(M, one-hot on row j) vs M_j", rd(M, onehot), M64[torch.arange(batch), j.cpu()]),
    )


@check(requires=("write",))
def ntm_write_erase_then_add(subject, case, batch: int = 4, rows: int = 7, width: int = 5) -> Outcome:
    """Writing with a one-hot weighting on row j, erase vector 1 and add vector v sets M_j = v
    and leaves every other row bitwise unchanged; a general write equals the explicit
    M_i ⊙ (1 − w(i) e) + w(i) a row by row; and the input memory is not modified."""
    wr = subject.fn("write")
    M = case.randn(batch, rows, width)
    before = M.clone()
    j = case.randint(0, rows, (batch,))
    onehot = torch.nn.functional.one_hot(j, rows).to(case.dtype)
    v = case.randn(batch, width)
    out = f64(wr(M, onehot, torch.ones_like(v), v))
    b = torch.arange(batch)
    others = torch.ones(batch, rows, dtype=torch.bool)
    others[b, j.cpu()] = False
    w = torch.softmax(case.randn(batch, rows), -1)
    e, a = case.rand(batch, width), case.randn(batch, width)
    M64, w64, e64, a64 = f64(M), f64(w), f64(e), f64(a)
    expected = torch.stack([M64[:, i] * (1 - w64[:, i, None] * e64) + w64[:, i, None] * a64 for i in range(rows)], 1)
    general = wr(M, w, e, a)
    return all_of(
        exact("row j after erase 1, add v (one-hot on j) vs v", out[b, j.cpu()], f64(v)),
        exact("other rows after a one-hot write vs before", out[others], M64[others]),
        case.close("write(M, w, e, a) vs M_i ⊙ (1 − w(i) e) + w(i) a", general, expected),
        exact("input memory after write vs before (not modified in place)", M, before),
    )


@check(requires=_CORES)
def ntm_address_chain_order(subject, case, batch: int = 6, rows: int = 9, width: int = 4) -> Outcome:
    """The chain is content -> interpolate -> shift -> sharpen: with g = 1, s = δ_0, γ = 1,
    address(...) is the content weighting softmax(β cos) (F.cosine_similarity); with g = 0,
    s = δ_{+1}, γ = 1 it is torch.roll(w_prev, 1); with g = 0, s = δ_0 and γ = 3 it is
    w_prev³ / Σ w_prev³; and with g = 0, a spread-out s and γ = 3 it is v³ / Σ v³ for
    v = Σ_d s(d) torch.roll(w_prev, d) (sharpening after, not before, the shift)."""
    addr = subject.fn("address")
    M, k = case.randn(batch, rows, width), case.randn(batch, width)
    beta = case.rand(batch) * 5
    w_prev = torch.softmax(case.randn(batch, rows), -1)
    one, zero = torch.ones(batch, dtype=case.dtype, device=case.device), torch.zeros(batch, dtype=case.dtype, device=case.device)
    s0 = case.tensor([[0.0, 1.0, 0.0]] * batch)
    s1 = case.tensor([[0.0, 0.0, 1.0]] * batch)
    cos = torch.nn.functional.cosine_similarity(f64(k)[:, None, :], f64(M), dim=-1)
    wp = f64(w_prev)
    s_mix = torch.softmax(case.randn(batch, 3), -1)
    v = sum(f64(s_mix)[:, 1 + d, None] * torch.roll(wp, d, dims=-1) for d in (-1, 0, 1))
    return all_of(
        case.close("address with g = 1, s = δ_0, γ = 1 vs softmax(β cos)", addr(M, k, beta, one, s0, one, w_prev),
                   torch.softmax(f64(beta)[:, None] * cos, -1)),
        case.close("address with g = 0, s = δ_+1, γ = 1 vs torch.roll(w_prev, 1)", addr(M, k, beta, zero, s1, one, w_prev),
                   torch.roll(wp, 1, dims=-1)),
        case.close("address with g = 0, s = δ_0, γ = 3 vs w_prev³ / Σ w_prev³", addr(M, k, beta, zero, s0, 3 * one, w_prev),
                   wp ** 3 / (wp ** 3).sum(-1, keepdim=True)),
        case.close("address with g = 0, spread s, γ = 3 vs (Σ_d s(d) roll(w_prev, d))³ normalised",
                   addr(M, k, beta, zero, s_mix, 3 * one, w_prev), v ** 3 / (v ** 3).sum(-1, keepdim=True)),
    )


@check(requires=("address", "read", "write"))
def ntm_addressing_gradcheck(subject, case, batch: int = 2, rows: int = 6, width: int = 3) -> Outcome:
    """The addressing chain, read and write are differentiable with correct gradients:
    torch.autograd.gradcheck (float64 finite differences) of read(write(M, address(M, k, β, g,
    s, γ, w_prev), e, a), address(...)) with respect to M, k, β, g, s, γ, w_prev, e and a."""
    if case.dtype != torch.float64:
        return holds("gradcheck needs float64", False, f"got {case.dtype}")
    f = subject.fn
    M, k, beta, g, s, gamma, w_prev = _addressing_inputs(case, batch, rows, width, 1)
    beta = beta / 4 + 0.5
    e, a = case.rand(batch, width), case.randn(batch, width)
    args = tuple(t.clone().requires_grad_(True) for t in (M, k, beta, g, s, gamma, w_prev, e, a))

    def fn(M, k, beta, g, s, gamma, w_prev, e, a):
        w = f("address")(M, k, beta, g, s, gamma, w_prev)
        M2 = f("write")(M, w, e, a)
        return f("read")(M2, f("address")(M2, k, beta, g, s, gamma, w))

    try:
        ok = torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-4, raise_exception=True)
        detail = "gradcheck eps 1e-6, atol 1e-6, rtol 1e-4 (torch defaults are eps 1e-6, atol 1e-5, rtol 1e-3)"
    except RuntimeError as err:
        ok, detail = False, str(err).splitlines()[0][:300]
    return holds("autograd gradients of address -> write -> read match finite differences", ok, detail)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
@check(requires=("initial_state", "step"))
def ntm_model_weightings_are_distributions(subject, case, batch: int = 4, steps: int = 6) -> Outcome:
    """Running the NTM on random bit sequences, every read and write weighting at every step
    (and the initial ones) is a distribution over memory rows, and the memory keeps its shape
    (B, N, W)."""
    model = subject.build(case)
    (x,) = inputs(subject, case, batch, steps)
    state = model.initial_state(batch, device=case.device, dtype=case.dtype)
    outs = _distribution(case, "initial read weights", state.read_weights) + _distribution(case, "initial write weights", state.write_weights)
    mem_shape = (batch, subject.size("memory_rows"), subject.size("memory_width"))
    outs.append(exact("initial memory shape", tuple(state.memory.shape), mem_shape))
    with torch.no_grad():
        for t in range(steps):
            _, state = model.step(x[:, t], state)
            outs += _distribution(case, f"read weights at t = {t}", state.read_weights)
            outs += _distribution(case, f"write weights at t = {t}", state.write_weights)
    outs.append(exact("memory shape after the sequence", tuple(state.memory.shape), mem_shape))
    return all_of(outs)


@check(requires=("initial_state", "step"))
def ntm_state_is_explicit(subject, case, batch: int = 3, steps: int = 8) -> Outcome:
    """The NTM keeps no hidden state: model(x) equals stepping model.step through x from
    initial_state; running x in two halves and passing the state between them equals one pass;
    calling the model twice on the same input gives bitwise the same output; and the rows of a
    batch do not interact (each sample alone gives its own output)."""
    model = subject.build(case)
    (x,) = inputs(subject, case, batch, steps)
    with torch.no_grad():
        y, _ = model(x)
        y_again, _ = model(x)
        state = model.initial_state(batch, device=case.device, dtype=case.dtype)
        ys = []
        for t in range(steps):
            yt, state = model.step(x[:, t], state)
            ys.append(yt)
        h = steps // 2
        y1, st = model(x[:, :h])
        y2, _ = model(x[:, h:], st)
        single = torch.cat([model(x[b: b + 1])[0] for b in range(batch)])
    return all_of(
        exact("model(x) twice", y_again, y),
        case.close("model(x) vs model.step over t from initial_state", y, f64(torch.stack(ys, 1))),
        case.close("model(x) vs model(x[:, :T/2]) then model(x[:, T/2:], state)", y, f64(torch.cat([y1, y2], 1))),
        case.close("model(x) vs each sample run alone", y, f64(single)),
    )


@check(requires=("initial_state", "step"), marks=("slow", "training"))
def ntm_copy_task(subject, case, bits: int = 4, length: int = 4, steps: int = 250, batch: int = 32,
                  lr: float = 0.01, clip: float = 1.0, eval_sequences: int = 500, max_bit_error: float = 0.01) -> Outcome:
    """Trained with Adam on the copy task (Graves et al. 2014, section 4.1: a sequence of
    ``length`` random ``bits``-bit vectors, a delimiter on an extra channel, then blank inputs
    while the model must emit the sequence), the NTM reproduces held-out random sequences with a
    bit error rate below 1 % within the fixed step budget (BCE with logits, gradient norm
    clipped). Logits > 0 are read as 1.

    The task sets the model's input_size (bits + 1) and output_size (bits); its other sizes are
    the subject's."""
    model = subject.build(case, input_size=bits + 1, output_size=bits)
    gen = case.generator

    def task(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        seq = torch.bernoulli(torch.full((n, length, bits), 0.5, dtype=torch.float64), generator=gen)
        x = torch.zeros(n, 2 * length + 1, bits + 1, dtype=torch.float64)
        x[:, :length, :bits] = seq
        x[:, length, bits] = 1.0                        # delimiter
        return case.tensor(x), case.tensor(seq)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        x, seq = task(batch)
        y, _ = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(y[:, length + 1:], seq)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    x, seq = task(eval_sequences)
    with torch.no_grad():
        y, _ = model(x)
    wrong = int(((y[:, length + 1:] > 0).to(seq.dtype) != seq).sum())
    total = seq.numel()
    return bound(f"bit error rate on {eval_sequences} held-out copy sequences", wrong / total, max_bit_error, op="<",
                 detail=f"{wrong} of {total} bits wrong; {steps} Adam steps of batch {batch}, lr {lr:g}, "
                        f"length {length}, {bits} bits; final training loss {float(loss.detach()):.4g}")


# ---------------------------------------------------------------------------------------------
# the model against the equations, its gradient, its configuration
# ---------------------------------------------------------------------------------------------
def _oracle_address(M, k, beta, g, s, gamma, w_prev):
    """Graves et al. eqs. 5-9 written out (float64): softmax(β cos) (F.cosine_similarity), g-interpolation,
    the mixture of torch.roll over −K..K, then w^γ / Σ w^γ."""
    K = (s.shape[-1] - 1) // 2
    cos = torch.nn.functional.cosine_similarity(k[:, None, :], M, dim=-1)
    w = g * torch.softmax(beta * cos, -1) + (1 - g) * w_prev
    w = sum(s[:, K + d, None] * torch.roll(w, d, dims=-1) for d in range(-K, K + 1))
    w = w ** gamma
    return w / w.sum(-1, keepdim=True)


def _oracle_heads(p, W: int, S: int):
    """Raw head outputs [k, β, g, s, γ] -> k, softplus β, σ(g), softmax s, 1 + softplus γ (columns)."""
    sp = torch.nn.functional.softplus
    k, beta, g, s, gamma = p[:, :W], p[:, W:W + 1], p[:, W + 1:W + 2], p[:, W + 2:W + 2 + S], p[:, W + 2 + S:W + 3 + S]
    return k, sp(beta), torch.sigmoid(g), torch.softmax(s, -1), 1 + sp(gamma)


@check(requires=("initial_state", "step"))
def ntm_step_matches_equations(subject, case, batch: int = 3, steps: int = 5) -> Outcome:
    """Each step of the NTM is Graves et al.'s (2014, section 3) with the model's own weights: the
    controller reads [x_t, r_{t−1}]; the write head's outputs [k, β, g, s, γ, e, a] are activated as
    k, softplus, σ, softmax, 1 + softplus, σ, tanh; the write weighting addresses M_{t−1} (content,
    interpolation, shift, sharpening) and M_t = M_{t−1} ⊙ (1 − w e) + w a; each read head addresses
    M_t and reads r = Σ_i w(i) M_i; y_t = out([h_t, r_t]). Logits, memory and every weighting at
    every step equal this oracle, started from memory_init, one-hot weightings on row 0, zero reads
    and a zero controller state.

    Oracle: the equations written out in float64 on the CPU (F.cosine_similarity, torch.roll,
    explicit LSTM gates i, f, g, o) with the model's weights."""
    model = subject.build(case)
    N, W, R = subject.size("memory_rows"), subject.size("memory_width"), subject.size("read_heads")
    S = 2 * subject.size("shift_range") + 1
    n_addr = W + 3 + S
    (x,) = inputs(subject, case, batch, steps)
    lin = {n: (f64(getattr(model, n).weight), f64(getattr(model, n).bias)) for n in ("write_head", "read_head", "out")}
    ctrl = model.controller
    lstm = isinstance(ctrl, torch.nn.LSTMCell)
    H = (ctrl.hidden_size if lstm else ctrl.out_features)
    M = f64(model.memory_init).expand(batch, -1, -1)
    one_hot = torch.zeros(batch, N, dtype=torch.float64)
    one_hot[:, 0] = 1.0
    w_w, w_r = one_hot, [one_hot] * R
    r = torch.zeros(batch, R * W, dtype=torch.float64)
    h = c = torch.zeros(batch, H, dtype=torch.float64)
    state = model.initial_state(batch, device=case.device, dtype=case.dtype)
    res = []
    with torch.no_grad():
        for t in range(steps):
            y, state = model.step(x[:, t], state)
            inp = torch.cat([f64(x[:, t]), r], -1)
            if lstm:
                z = inp @ f64(ctrl.weight_ih).T + f64(ctrl.bias_ih) + h @ f64(ctrl.weight_hh).T + f64(ctrl.bias_hh)
                zi, zf, zg, zo = z.chunk(4, -1)
                c = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
                h = torch.sigmoid(zo) * torch.tanh(c)
            else:
                h = torch.tanh(inp @ f64(ctrl.weight).T + f64(ctrl.bias))
            wp = h @ lin["write_head"][0].T + lin["write_head"][1]
            k, beta, g, s, gamma = _oracle_heads(wp[:, :n_addr], W, S)
            e, a = torch.sigmoid(wp[:, n_addr:n_addr + W]), torch.tanh(wp[:, n_addr + W:])
            w_w = _oracle_address(M, k, beta, g, s, gamma, w_w)
            M = M * (1 - w_w[:, :, None] * e[:, None, :]) + w_w[:, :, None] * a[:, None, :]
            rp = h @ lin["read_head"][0].T + lin["read_head"][1]
            w_r = [_oracle_address(M, *_oracle_heads(rp[:, j * n_addr:(j + 1) * n_addr], W, S), w_r[j]) for j in range(R)]
            r = torch.cat([torch.einsum("bn,bnw->bw", w, M) for w in w_r], -1)
            y_want = torch.cat([h, r], -1) @ lin["out"][0].T + lin["out"][1]
            res += [case.close(f"step {t}: logits y_t vs the equations", y, y_want),
                    case.close(f"step {t}: memory M_t vs M_(t−1) ⊙ (1 − w e) + w a", state.memory, M),
                    case.close(f"step {t}: write weighting vs the addressing equations", state.write_weights, w_w),
                    case.close(f"step {t}: read weightings (B, R, N) vs the addressing equations", state.read_weights,
                               torch.stack(w_r, 1))]
    return all_of(res)


@check(requires=("initial_state", "step"))
def ntm_model_gradient_matches_finite_differences(subject, case, batch: int = 2, steps: int = 4,
                                                  eps: float = 1e-6) -> Outcome:
    """Backpropagation through the whole NTM (controller, heads, addressing, memory, across time)
    is correct: for L = Σ_t Σ w_t ⊙ y_t (fixed random w) and every parameter tensor P and the input
    x, the autograd directional derivative ⟨∂L/∂P, v⟩ along a random direction v equals the
    central difference (L(P + εv) − L(P − εv)) / 2ε (float64, ε = 1e-6: truncation error O(ε²),
    rounding error O(1e-16 |L| / ε) ≈ 1e-10 |L|; tolerance atol 1e-7 + rtol 1e-6)."""
    if case.dtype != torch.float64:
        return holds("finite differences need float64", False, f"got {case.dtype}")
    model = subject.build(case)
    x = case.rand(batch, steps, subject.size("input_size"))
    w_y = case.randn(batch, steps, subject.size("output_size"))

    def loss(inp):
        return (model(inp)[0] * w_y).sum()

    tol = Tolerance(1e-7, 1e-6, f"central difference, ε = {eps:g}: O(ε²) truncation, O(1e-16 |L| / ε) rounding")
    named = [("x", x)] + [(n, p) for n, p in model.named_parameters()]
    x.requires_grad_(True)
    grads = torch.autograd.grad(loss(x), [t for _, t in named], allow_unused=True)
    res = []
    for (name, t), g in zip(named, grads):
        v = case.randn(*t.shape)
        got = float((g * v).sum()) if g is not None else 0.0
        with torch.no_grad():
            t.add_(eps * v)
            up = float(loss(x))
            t.sub_(2 * eps * v)
            down = float(loss(x))
            t.add_(eps * v)
        fd = (up - down) / (2 * eps)
        res.append(case.close(f"⟨∂L/∂{name}, v⟩ by autograd vs the central difference", torch.tensor(got, dtype=torch.float64),
                              torch.tensor(fd, dtype=torch.float64), detail=f"T = {steps}", tol=tol))
    return all_of(res)


@check(requires=("initial_state", "step"))
def ntm_shift_range_fits_memory(subject, case, shift_ranges: list | None = None) -> Outcome:
    """A circular shift over −K..K needs 2K + 1 ≤ N distinct offsets: the model builds and runs
    (weightings stay distributions) with memory_rows N = 2K + 1, and refuses to be built with
    N = 2K (the two extreme shifts would coincide)."""
    res = []
    for K in shift_ranges or [1, 2]:
        try:
            model = subject.build(case, memory_rows=2 * K + 1, shift_range=K)
        except Exception as e:  # noqa: BLE001 - reported as the failure
            res.append(holds(f"building with shift_range K = {K} and memory_rows 2K + 1 = {2 * K + 1} succeeds", False,
                             f"{type(e).__name__}: {str(e)[:100]}"))
            continue
        (x,) = inputs(subject, case, 2, 3)
        with torch.no_grad():
            _, st = model(x)
        res += _distribution(case, f"write weighting after 3 steps, N = 2K + 1 = {2 * K + 1}", st.write_weights)
        try:
            subject.build(case, memory_rows=2 * K, shift_range=K)
            ok, why = False, "built"
        except Exception as e:  # noqa: BLE001 - any error is a refusal
            ok, why = True, f"{type(e).__name__}: {str(e)[:100]}"
        res.append(holds(f"building with shift_range K = {K} and memory_rows 2K = {2 * K} raises", ok, why))
    return all_of(res)
