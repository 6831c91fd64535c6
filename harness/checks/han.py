"""Checks for the han suite: the hierarchical attention network, words -> sentences -> document
(Yang et al. 2016; notes 001).

Oracles: the sentence and document vectors recomputed from the returned weights and annotations,
exact zeros and unchanged outputs under added padding, and held-out accuracy of a trained model.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64
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
