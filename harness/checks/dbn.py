"""Checks for the deep belief network (CATALOGUE.md section D, row "deep belief network").

Protocol: the subject is the DBN model class, built from ``layer_sizes`` and ``n_classes``; it has
``hidden`` (a sequence of ``nn.Linear``, layer l mapping sizes[l] -> sizes[l+1]), ``head``,
``features(x)`` (top hidden layer), ``load_rbms(rbms)`` (unroll) and ``forward(x)`` (logits).
Its module provides ``train_rbm(data, n_hidden, *, epochs, batch_size, lr, k, generator) ->
(W, a, b)`` (W of shape (n_visible, n_hidden)), ``greedy_pretrain(x, hidden_sizes, *, epochs,
batch_size, lr, k, generator, train_layer)`` and ``finetune(model, x, y, *, epochs,
batch_size, lr, generator)``.
"""
from __future__ import annotations

import torch

from harness.outcome import Outcome, all_of, bound, exact, holds
from harness.registry import check


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().double()


@check(requires=("greedy_pretrain", "train_rbm"))
def dbn_greedy_layer_inputs(subject, case, hidden_sizes: list = [8, 6, 4], n_in: int = 12, samples: int = 64,
                            epochs: int = 2) -> Outcome:
    """Greedy pre-training trains RBM 1 on the data and RBM l+1 on the hidden probabilities
    sigma(b_l + x^(l) W_l) of the trained RBM l (read off by wrapping train_layer), each with
    W of shape (input width, n_hidden), and returns exactly the RBMs it trained."""
    seen: list[torch.Tensor] = []
    made: list = []
    inner = subject.fn("train_rbm")

    def spy(data, n_hidden, **kw):
        seen.append(data.detach().clone())
        p = inner(data, n_hidden, **kw)
        made.append(p)
        return p

    x = case.rand(samples, n_in)
    rbms = subject.fn("greedy_pretrain")(x, list(hidden_sizes), epochs=epochs, batch_size=16, lr=0.1, k=1,
                                         generator=case.gen(), train_layer=spy)
    out = [exact("number of layers trained", len(seen), len(hidden_sizes)),
           exact("number of RBMs returned", len(rbms), len(hidden_sizes))]
    if len(seen) != len(hidden_sizes) or len(rbms) != len(hidden_sizes):
        return all_of(*out)
    out.append(exact("layer 1 trained on the data itself", seen[0], x))
    widths = [n_in, *hidden_sizes]
    for l, (p, q) in enumerate(zip(rbms, made)):
        out += [exact(f"RBM {l + 1} returned is the RBM trained", bool(all(torch.equal(s, t) for s, t in zip(p[:3], q[:3]))), True),
                exact(f"RBM {l + 1} W shape", tuple(p[0].shape), (widths[l], widths[l + 1]))]
    for l in range(len(hidden_sizes) - 1):
        W, b = _f64(rbms[l][0]), _f64(rbms[l][2])
        want = torch.sigmoid(b + _f64(seen[l]) @ W)
        out.append(case.close(f"layer {l + 2} input = p(h=1 | layer {l + 1} input) under trained RBM {l + 1}", seen[l + 1], want))
    return all_of(*out)


@check(requires=("load_rbms", "features"))
def dbn_unroll_initialises_mlp(subject, case, batch: int = 16) -> Outcome:
    """Unrolling copies each RBM into the MLP exactly: hidden[l].weight == W_l^T and
    hidden[l].bias == b_l (bitwise), so features(x) is the mean-field up-pass
    sigma(... sigma(x W_1 + b_1) ... W_L + b_L) and model(x) = head(features(x))."""
    model = subject.build(case)
    sizes = model.config.layer_sizes
    rbms = [(case.randn(i, o), case.randn(i), case.randn(o)) for i, o in zip(sizes[:-1], sizes[1:])]
    model.load_rbms(rbms)
    out = []
    for l, (layer, (W, a, b)) in enumerate(zip(model.hidden, rbms)):
        out += [exact(f"hidden[{l}].weight == W_{l + 1}^T", layer.weight, W.T),
                exact(f"hidden[{l}].bias == b_{l + 1} (hidden bias)", layer.bias, b)]
    x = case.rand(batch, sizes[0])
    h = _f64(x)
    for W, _, b in rbms:
        h = torch.sigmoid(h @ _f64(W) + _f64(b))
    feats = model.features(x)
    logits = model(x)
    head = torch.nn.functional.linear(h, _f64(model.head.weight), _f64(model.head.bias))
    out += [case.close("features(x) vs the up-pass of the RBMs", feats, h),
            case.close("model(x) vs head(up-pass)", logits, head)]
    return all_of(*out)


@check(requires=("greedy_pretrain", "finetune", "load_rbms"), marks=("slow", "training"))
def dbn_finetune_digits_accuracy(subject, case, threshold: float = 0.9, pretrain_epochs: int = 10, pretrain_lr: float = 0.3,
                                 finetune_epochs: int = 15, finetune_lr: float = 0.5, batch_size: int = 64,
                                 test_size: float = 0.25) -> Outcome:
    """Greedy pre-training (CD-1) on load_digits (pixels / 16), unrolling and fine-tuning by
    back-propagation (SGD with momentum, cross-entropy) reach held-out accuracy >= 0.9
    (stratified 25% split, fixed seeds, 10 + 15 epochs)."""
    from sklearn.datasets import load_digits
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=test_size, stratify=y, random_state=case.seed % 2**31)
    model = subject.build(case)
    g = case.gen()
    xtr, ytr_t = case.tensor(Xtr), torch.as_tensor(ytr, device=case.device)
    rbms = subject.fn("greedy_pretrain")(xtr, list(model.config.layer_sizes[1:]), epochs=pretrain_epochs, batch_size=batch_size,
                                         lr=pretrain_lr, k=1, generator=g)
    model.load_rbms(rbms)
    subject.fn("finetune")(model, xtr, ytr_t, epochs=finetune_epochs, batch_size=batch_size, lr=finetune_lr, generator=g)
    with torch.no_grad():
        pred = model(case.tensor(Xte)).argmax(-1).cpu().numpy()
    acc = float(accuracy_score(yte, pred))
    return all_of(holds("the model is a classifier over 10 digits", model.config.n_classes == 10),
                  bound("held-out digits accuracy (sklearn.metrics.accuracy_score)", acc, threshold, op=">=",
                        source="catalogue", detail=f"{len(yte)} test images; layers {model.config.layer_sizes}"))
