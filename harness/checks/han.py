"""Checks for the han suite: the hierarchical attention network, words -> sentences -> document
(Yang et al. 2016; notes 001).

Oracles: the sentence and document vectors recomputed from the returned weights and annotations,
exact zeros and unchanged outputs under added padding, and held-out accuracy of a trained model.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

PAD = 0  # the contract's padding id, written under the mask (the mask, not the id, decides what is padding)


def _docs(subject, case, batch: int, sentences: int = 4, words: int = 6) -> tuple:
    """Example inputs: random documents (B, S, W) with a random number of real sentences (all of them
    in document 0) and a random number of real words in each, as a prefix mask (B, S, W)."""
    wl = case.randint(1, words + 1, (batch, sentences))
    sl = case.randint(1, sentences + 1, (batch,))
    sl[0] = sentences
    ar_w = torch.arange(words, device=case.device)
    ar_s = torch.arange(sentences, device=case.device)
    mask = (ar_w < wl.unsqueeze(-1)) & (ar_s < sl.unsqueeze(-1)).unsqueeze(-1)
    docs = case.randint(1, subject.size("vocab_size"), (batch, sentences, words)).masked_fill(~mask, PAD)
    return docs, mask


CONTRACT = load_contract("han", inputs=_docs)


@check()
def han_attention_sums_to_one(subject, case, batch: int = 3, sentences: int = 4, words: int = 6) -> Outcome:
    """Both HAN attention levels are distributions: word weights sum to 1 over each real sentence's
    words and sentence weights sum to 1 over each document's real sentences; padding gets weight 0;
    and s_i = Σ_t α_it h_it, v = Σ_i α_i h_i (recomputed from the annotations)."""
    model = subject.build(case)
    docs, mask = _docs(subject, case, batch, sentences, words)
    with torch.no_grad():
        _, tr = model(docs, mask, need_weights=True)
    aw, as_ = f64(tr.word_weights), f64(tr.sentence_weights)
    m = mask.cpu()
    real_s = m.any(-1)
    return all_of(
        bound("min word weight", float(aw.min()), 0.0, op=">="),
        case.close("Σ_t α_it over each real sentence", aw.sum(-1)[real_s], torch.ones(int(real_s.sum()), dtype=torch.float64)),
        exact("word weights on padding", aw[~m], torch.zeros(int((~m).sum()), dtype=torch.float64)),
        bound("min sentence weight", float(as_.min()), 0.0, op=">="),
        case.close("Σ_i α_i over each document", as_.sum(-1), torch.ones(batch, dtype=torch.float64)),
        exact("sentence weights on padded sentences", as_[~real_s], torch.zeros(int((~real_s).sum()), dtype=torch.float64)),
        case.close("sentence vector vs Σ_t α_it h_it", tr.sentence_vectors[real_s.to(case.device)],
                   torch.einsum("bsw,bswh->bsh", aw, f64(tr.word_annotations))[real_s]),
        case.close("document vector vs Σ_i α_i h_i", tr.document, torch.einsum("bs,bsh->bh", as_, f64(tr.sentence_annotations))),
    )


@check()
def han_padding_invariance(subject, case, batch: int = 3, sentences: int = 3, words: int = 5, extra_words: int = 2,
                           extra_sentences: int = 2) -> Outcome:
    """Padding changes nothing: appending masked words to every sentence and masked sentences to every
    document (with arbitrary token ids under the mask) leaves the logits and the attention weights on
    the real words and sentences unchanged."""
    model = subject.build(case)
    docs, mask = _docs(subject, case, batch, sentences, words)
    B, S, W = docs.shape
    big = case.randint(1, subject.size("vocab_size"), (B, S + extra_sentences, W + extra_words))
    big_mask = torch.zeros(B, S + extra_sentences, W + extra_words, dtype=torch.bool, device=case.device)
    big[:, :S, :W], big_mask[:, :S, :W] = docs, mask  # arbitrary ids stay under the mask
    with torch.no_grad():
        y, tr = model(docs, mask, need_weights=True)
        yb, trb = model(big, big_mask, need_weights=True)
    return all_of(
        case.close(f"logits with +{extra_words} padded words, +{extra_sentences} padded sentences", yb, y),
        case.close("word weights on the real words", trb.word_weights[:, :S, :W], tr.word_weights),
        case.close("sentence weights on the real sentences", trb.sentence_weights[:, :S], tr.sentence_weights),
        exact("weights on the added padding", f64(trb.word_weights[:, :, W:]).abs().sum() + f64(trb.sentence_weights[:, S:]).abs().sum(), 0.0),
    )


@check(marks=("slow", "training"))
def han_learns_keyword_task(subject, case, steps: int = 80, batch: int = 32, sentences: int = 4, words: int = 6,
                            lr: float = 0.01, min_accuracy: float = 0.95, eval_size: int = 512) -> Outcome:
    """HAN learns a toy document task: the class is which of two keywords (ids 2 or 3) is hidden at a
    random word of a random sentence among random filler words and padding; held-out accuracy ≥ 95%
    (chance 50%) within the step budget."""
    model = subject.build(case)
    V = subject.size("vocab_size")

    def data(n: int):
        docs, mask = _docs(subject, case, n, sentences, words)
        docs = torch.where(mask, (docs % (V - 4)) + 4, docs)  # fillers 4..V−1
        y = case.randint(0, 2, (n,))
        real_s = mask.any(-1).sum(-1)
        si = (case.rand(n, dtype=torch.float64) * real_s).long()
        wl = mask.sum(-1)[torch.arange(n, device=case.device), si]
        wi = (case.rand(n, dtype=torch.float64) * wl).long()
        docs[torch.arange(n, device=case.device), si, wi] = 2 + y
        return docs, mask, y

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        docs, mask, y = data(batch)
        loss = F.cross_entropy(model(docs, mask), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    docs, mask, y = data(eval_size)
    with torch.no_grad():
        acc = float((model(docs, mask).argmax(-1) == y).double().mean())
    return bound(f"held-out keyword accuracy after {steps} steps", acc, min_accuracy, op=">=",
                 detail=f"final training loss {float(loss.detach()):.4g}; {eval_size} documents")


# ---------------------------------------------------------------------------------------------
# the whole network against its definition, with its own parameters; initialisation
# ---------------------------------------------------------------------------------------------
def gru_cell(sd: dict, prefix: str, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One GRU step written out (torch's gate order r, z, n in ``weight_ih_l0``/``weight_hh_l0``):
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h."""
    gi = sd[f"{prefix}weight_ih_l0"] @ x + sd[f"{prefix}bias_ih_l0"]
    gh = sd[f"{prefix}weight_hh_l0"] @ h + sd[f"{prefix}bias_hh_l0"]
    i_r, i_z, i_n = gi.chunk(3)
    h_r, h_z, h_n = gh.chunk(3)
    r = 1 / (1 + torch.exp(-(i_r + h_r)))
    z = 1 / (1 + torch.exp(-(i_z + h_z)))
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def lstm_cell(sd: dict, prefix: str, x: torch.Tensor, state: tuple) -> tuple:
    """One LSTM step written out (torch's gate order i, f, g, o): c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),
    h' = σ(o) ⊙ tanh(c'). ``state`` is (h, c)."""
    h, c = state
    g = sd[f"{prefix}weight_ih_l0"] @ x + sd[f"{prefix}bias_ih_l0"] + sd[f"{prefix}weight_hh_l0"] @ h + sd[f"{prefix}bias_hh_l0"]
    i, f, gg, o = g.chunk(4)
    sig = lambda u: 1 / (1 + torch.exp(-u))  # noqa: E731
    c2 = sig(f) * c + sig(i) * torch.tanh(gg)
    return sig(o) * torch.tanh(c2), c2


def _gru_run(sd: dict, prefix: str, xs: list) -> list:
    h = torch.zeros(sd[f"{prefix}weight_hh_l0"].shape[1], dtype=torch.float64)
    out = []
    for x in xs:
        h = gru_cell(sd, prefix, x, h)
        out.append(h)
    return out


def _han_oracle(sd: dict, docs: torch.Tensor, mask: torch.Tensor):
    """Yang et al. 2.2 written out per document in float64: embeddings, a bidirectional GRU over each
    sentence's real words (backward direction over the reversed real words), u_it = tanh(W_w h_it + b_w),
    α_it = softmax_t(u_itᵀ u_w), s_i = Σ_t α_it h_it; the same over the real sentences with W_s, b_s, u_s;
    logits = W_c v + b_c. Returns (logits (B, C), word weights (B, S, W), sentence weights (B, S))."""
    B, S, W = docs.shape

    def bigru(prefix, xs):
        f = _gru_run(sd, prefix + ".fwd.", xs)
        b = _gru_run(sd, prefix + ".bwd.", xs[::-1])[::-1]
        return [torch.cat([x, y]) for x, y in zip(f, b)]

    def attend(hs, proj, u):
        e = torch.stack([torch.dot(torch.tanh(sd[proj + ".weight"] @ h + sd[proj + ".bias"]), sd[u]) for h in hs])
        a = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
        return sum(a_ * h for a_, h in zip(a, hs)), a

    zero = torch.zeros((), dtype=torch.float64)
    logits, word_w, sent_w = [], [], []
    for b in range(B):
        sents, ww = [], [[zero] * W for _ in range(S)]
        real = [i for i in range(S) if bool(mask[b, i].any())]
        for i in real:
            L = int(mask[b, i].sum())
            hs = bigru("word_rnn", [sd["embed.weight"][int(docs[b, i, t])] for t in range(L)])
            s, a = attend(hs, "word_proj", "u_w")
            sents.append(s)
            ww[i][:L] = list(a)
        hs = bigru("sentence_rnn", sents)
        v, a_s = attend(hs, "sentence_proj", "u_s")
        sw = [zero] * S
        sw[:len(real)] = list(a_s)
        logits.append(sd["classifier.weight"] @ v + sd["classifier.bias"])
        word_w.append(torch.stack([torch.stack(r) for r in ww]))
        sent_w.append(torch.stack(sw))
    return torch.stack(logits), torch.stack(word_w), torch.stack(sent_w)


@check()
def han_matches_definition(subject, case, batch: int = 2, sentences: int = 3, words: int = 4) -> Outcome:
    """HAN is Yang et al.'s definition (2.2) with its own parameters (copied from its state dict:
    ``embed``, ``word_rnn.{fwd,bwd}``, ``word_proj``, ``u_w``, ``sentence_rnn.{fwd,bwd}``,
    ``sentence_proj``, ``u_s``, ``classifier``): GRU steps written out, bidirectional over the real
    words of each sentence, u_it = tanh(W_w h_it + b_w), α_it = softmax over the real words of
    u_itᵀ u_w, s_i = Σ_t α_it h_it, the same over the real sentences, logits = W_c v + b_c; recomputed
    per document in float64. Logits and both levels of weights agree, and the gradients of
    L = Σ logits ⊙ R (R fixed, random) with respect to every parameter equal autograd's through the
    recomputation."""
    model = subject.build(case)
    docs, mask = _docs(subject, case, batch, sentences, words)
    R = case.randn(batch, subject.size("num_classes"))
    sd = {n: f64(x).requires_grad_(True) for n, x in model.state_dict().items()}
    ref_logits, ref_ww, ref_sw = _han_oracle(sd, docs.cpu(), mask.cpu())
    logits, tr = model(docs, mask, need_weights=True)
    outs = [case.close("logits vs Yang et al. 2.2 recomputed with the model's parameters", logits.detach(), ref_logits.detach()),
            case.close("word weights α_it", tr.word_weights.detach(), ref_ww.detach()),
            case.close("sentence weights α_i", tr.sentence_weights.detach(), ref_sw.detach())]
    params = dict(model.named_parameters())
    if not logits.requires_grad:
        return all_of(outs + [holds("logits are differentiable (require grad)", False, "logits.requires_grad is False")])
    grads = torch.autograd.grad((logits * R).sum(), list(params.values()), allow_unused=True)
    ref_grads = torch.autograd.grad((ref_logits * f64(R)).sum(), [sd[n] for n in params], allow_unused=True)
    for n, g, rg in zip(params, grads, ref_grads):
        rg = torch.zeros(params[n].shape, dtype=torch.float64) if rg is None else rg
        g = torch.zeros(params[n].shape, dtype=torch.float64) if g is None else g
        outs.append(case.close(f"∂L/∂{n} vs autograd of the float64 recomputation", g, rg))
    return all_of(outs)


@check()
def han_context_vector_init(subject, case, attention_dim: int = 256, lo: float = 0.7, hi: float = 1.3) -> Outcome:
    """The word and sentence context vectors start as N(0, 1/A) draws, A = ``attention_dim`` (so
    u_itᵀ u starts with unit-order variance): built with A = 256, A · mean(u²) over the 2A entries of
    u_w and u_s lies in [0.7, 1.3] (its sampling s.d. is √(2/512) ≈ 0.06, so about ±5 s.d.), and
    mean(u) is within 5 s.d. of 0, |mean(u)| ≤ 5/√(2A·A)."""
    import math

    model = subject.build(case, attention_dim=attention_dim)
    sd = model.state_dict()
    u = torch.cat([f64(sd["u_w"]).flatten(), f64(sd["u_s"]).flatten()])
    A = attention_dim
    return all_of(
        exact("shapes of u_w and u_s", (tuple(sd["u_w"].shape), tuple(sd["u_s"].shape)), ((A,), (A,))),
        bound(f"A · mean(u²) over u_w and u_s (≥ {lo})", float(A * u.square().mean()), lo, op=">="),
        bound(f"A · mean(u²) over u_w and u_s (≤ {hi})", float(A * u.square().mean()), hi, op="<="),
        bound("|mean(u)| (≤ 5 s.d. = 5/√(2A·A))", float(u.mean().abs()), 5 / math.sqrt(2 * A * A)),
    )
