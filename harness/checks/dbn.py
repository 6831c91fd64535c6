"""Checks for the deep belief network, suite ``dbn``; the interface is :data:`CONTRACT`.

The subject is the DBN model class, built from ``layer_sizes`` and ``n_classes``; its module
provides the pre-training and fine-tuning functions. Every check takes the widths from the
subject's params (:meth:`Subject.size`); the digits check needs layer_sizes[0] = 64 pixels and
n_classes = 10.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64
from harness.registry import SubjectError, check

DIGITS_PIXELS, DIGITS_CLASSES = 64, 10  # sklearn.datasets.load_digits: 8x8 images of 10 digits


def _inputs(subject, case, batch: int) -> tuple:
    """x (B, layer_sizes[0]), uniform on [0, 1) (pixel intensities)."""
    return (case.rand(batch, subject.size("layer_sizes")[0]),)


CONTRACT = load_contract("dbn", inputs=_inputs)


@check(requires=("greedy_pretrain", "train_rbm"))
def dbn_greedy_layer_inputs(subject, case, samples: int = 64, epochs: int = 2) -> Outcome:
    """Greedy pre-training trains RBM 1 on the data and RBM l+1 on the hidden probabilities
    sigma(b_l + x^(l) W_l) of the trained RBM l (read off by wrapping train_layer), each with
    W of shape (input width, n_hidden), and returns exactly the RBMs it trained."""
    sizes = list(subject.size("layer_sizes"))
    hidden_sizes = sizes[1:]
    seen: list[torch.Tensor] = []
    made: list = []
    inner = subject.fn("train_rbm")

    def spy(data, n_hidden, **kw):
        seen.append(data.detach().clone())
        p = inner(data, n_hidden, **kw)
        made.append(p)
        return p

    (x,) = CONTRACT.example_inputs(subject, case, samples)
    rbms = subject.fn("greedy_pretrain")(x, hidden_sizes, epochs=epochs, batch_size=16, lr=0.1, k=1,
                                         generator=case.gen(), train_layer=spy)
    out = [exact("number of layers trained", len(seen), len(hidden_sizes)),
           exact("number of RBMs returned", len(rbms), len(hidden_sizes))]
    if len(seen) != len(hidden_sizes) or len(rbms) != len(hidden_sizes):
        return all_of(*out)
    out.append(exact("layer 1 trained on the data itself", seen[0], x))
    for l, (p, q) in enumerate(zip(rbms, made)):
        out += [exact(f"RBM {l + 1} returned is the RBM trained", bool(all(torch.equal(s, t) for s, t in zip(p[:3], q[:3]))), True),
                exact(f"RBM {l + 1} W shape", tuple(p[0].shape), (sizes[l], sizes[l + 1]))]
    for l in range(len(hidden_sizes) - 1):
        W, b = f64(rbms[l][0]), f64(rbms[l][2])
        want = torch.sigmoid(b + f64(seen[l]) @ W)
        out.append(case.close(f"layer {l + 2} input = p(h=1 | layer {l + 1} input) under trained RBM {l + 1}", seen[l + 1], want))
    return all_of(*out)


@check(requires=("load_rbms", "features"))
def dbn_unroll_initialises_mlp(subject, case, batch: int = 16) -> Outcome:
    """Unrolling copies each RBM into the MLP exactly: hidden[l].weight == W_l^T and
    hidden[l].bias == b_l (bitwise), so features(x) is the mean-field up-pass
    sigma(... sigma(x W_1 + b_1) ... W_L + b_L) and model(x) = head(features(x))."""
    model = subject.build(case)
    sizes = subject.size("layer_sizes")
    rbms = [(case.randn(i, o), case.randn(i), case.randn(o)) for i, o in zip(sizes[:-1], sizes[1:])]
    model.load_rbms(rbms)
    out = []
    for l, (layer, (W, a, b)) in enumerate(zip(model.hidden, rbms)):
        out += [exact(f"hidden[{l}].weight == W_{l + 1}^T", layer.weight, W.T),
                exact(f"hidden[{l}].bias == b_{l + 1} (hidden bias)", layer.bias, b)]
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    h = f64(x)
    for W, _, b in rbms:
        h = torch.sigmoid(h @ f64(W) + f64(b))
    feats = model.features(x)
    logits = model(x)
    head = torch.nn.functional.linear(h, f64(model.head.weight), f64(model.head.bias))
    out += [exact("model(x).shape", tuple(logits.shape), (batch, subject.size("n_classes"))),
            case.close("features(x) vs the up-pass of the RBMs", feats, h),
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

    sizes = list(subject.size("layer_sizes"))
    if sizes[0] != DIGITS_PIXELS or subject.size("n_classes") != DIGITS_CLASSES:
        raise SubjectError(f"dbn_finetune_digits_accuracy needs layer_sizes[0] = {DIGITS_PIXELS} (pixels) and n_classes = "
                           f"{DIGITS_CLASSES} (load_digits); the subject has {sizes[0]} and {subject.size('n_classes')}: "
                           f"set them under the property's params")
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=test_size, stratify=y, random_state=case.seed % 2**31)
    model = subject.build(case)
    g = case.gen()
    xtr, ytr_t = case.tensor(Xtr), torch.as_tensor(ytr, device=case.device)
    rbms = subject.fn("greedy_pretrain")(xtr, sizes[1:], epochs=pretrain_epochs, batch_size=batch_size,
                                         lr=pretrain_lr, k=1, generator=g)
    model.load_rbms(rbms)
    subject.fn("finetune")(model, xtr, ytr_t, epochs=finetune_epochs, batch_size=batch_size, lr=finetune_lr, generator=g)
    with torch.no_grad():
        pred = model(case.tensor(Xte)).argmax(-1).cpu().numpy()
    acc = float(accuracy_score(yte, pred))
    return bound("held-out digits accuracy (sklearn.metrics.accuracy_score)", acc, threshold, op=">=",
                 source="catalogue", detail=f"{len(yte)} test images; layers {sizes}")
