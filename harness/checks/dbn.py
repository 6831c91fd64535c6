"""Checks for the deep belief network, suite ``dbn``; the interface is :data:`CONTRACT`.

The subject is the DBN model class, built from ``layer_sizes`` and ``n_classes``; its module
provides the pre-training and fine-tuning functions. Every check takes the widths from the
subject's params (:meth:`Subject.size`); the digits check needs layer_sizes[0] = 64 pixels and
n_classes = 10.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds, p_value, within_se
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


@check(requires=("train_rbm",), marks=("statistical",))
def dbn_train_rbm_initialisation(subject, case, init_std: float = 0.01, samples: int = 8, alpha: float = 1e-3) -> Outcome:
    """With zero epochs train_rbm returns the initialisation it trains from: W of shape (layer_sizes[0],
    layer_sizes[1]) with i.i.d. N(0, init_std²) entries (Hinton 2010, section 8: 0.01) and a = b = 0
    exactly. The scale is tested by scipy's chi-square law of sum W² / init_std² (n entries, n degrees
    of freedom, two-sided, alpha 1e-3) and the mean by 5 s.e."""
    from scipy import stats

    n_v, n_h = subject.size("layer_sizes")[:2]
    x = case.rand(samples, n_v)
    W, a, b = subject.fn("train_rbm")(x, n_h, epochs=0, batch_size=samples, lr=0.1, k=1, generator=case.gen())[:3]
    shapes = exact("(W, a, b) shapes", (tuple(W.shape), tuple(a.shape), tuple(b.shape)), ((n_v, n_h), (n_v,), (n_h,)))
    if not shapes.passed:
        return shapes
    w = f64(W).flatten()
    n = w.numel()
    s = float((w ** 2).sum() / init_std ** 2)
    p = 2 * min(float(stats.chi2.cdf(s, n)), float(stats.chi2.sf(s, n)))
    return all_of(shapes,
                  exact("visible bias a = 0", a, torch.zeros(n_v)), exact("hidden bias b = 0", b, torch.zeros(n_h)),
                  within_se("mean of the entries of W", float(w.mean()), 0.0, init_std / n ** 0.5, n),
                  p_value(f"sum W² / {init_std:g}² ~ chi2({n})", s, p, alpha, n, "chi-square (two-sided)",
                          f"sample s.d. {float(w.std()):.4g} vs {init_std:g}"))


@check(requires=("train_rbm",))
def dbn_train_rbm_cd_updates(subject, case, n_visible: int = 6, n_hidden: int = 3, epochs: int = 4, lr: float = 0.5,
                             k: int = 1) -> Outcome:
    """Every update of train_rbm is one CD-k gradient-ascent step (notes 001 (iv), Hinton 2002): trained on one
    grey-level vector x (one mini-batch per epoch), each epoch moves the parameters by
    W += lr (x p(h|x)ᵀ − v p(h|v)ᵀ), a += lr (x − v), b += lr (p(h|x) − p(h|v)), p(h|v) = sigmoid(b + Wᵀv)
    under the parameters before the step, for a binary chain state v: v is read off the visible-bias step,
    v = x − Δa / lr, must be in {0, 1}^n_visible, and then fixes ΔW and Δb (computed here with scipy's expit).
    The steps are observed by training for 0, 1, ..., ``epochs`` epochs from equal generator seeds (a run
    of e epochs is the prefix of a run of e + 1: the randomness is drawn in training order)."""
    from scipy.special import expit

    x = 0.1 + 0.8 * case.rand(1, n_visible)  # grey levels: x itself is never a binary chain state
    runs = [[f64(t) for t in subject.fn("train_rbm")(x, n_hidden, epochs=e, batch_size=1, lr=lr, k=k, generator=case.gen())[:3]]
            for e in range(epochs + 1)]
    x64 = f64(x)
    out = []
    for e, ((W0, a0, b0), (W1, a1, b1)) in enumerate(zip(runs, runs[1:])):
        v = x64 - (a1 - a0) / lr
        vb = v.round().clamp(0, 1)
        out.append(case.close(f"epoch {e + 1}: chain state v = x − Δa / lr is binary", v, vb))
        ph_x, ph_v = (torch.from_numpy(expit((b0 + t @ W0).numpy())) for t in (x64, vb))
        out += [case.close(f"epoch {e + 1}: W step vs lr (x p(h|x)ᵀ − v p(h|v)ᵀ)", W1 - W0, lr * (x64.T @ ph_x - vb.T @ ph_v)),
                case.close(f"epoch {e + 1}: b step vs lr (p(h|x) − p(h|v))", b1 - b0, lr * (ph_x - ph_v)[0])]
    moved = max(float((a1 - a0).abs().max()) for (_, a0, _), (_, a1, _) in zip(runs, runs[1:]))
    return all_of(*out, bound("largest visible-bias step (the chain left x)", moved, 0.0, op=">"))


@check(requires=("finetune",))
def dbn_finetune_is_sgd_with_momentum(subject, case, samples: int = 10, batch_size: int = 4, epochs: int = 3,
                                      lr: float = 0.3, momentum: float = 0.9) -> Outcome:
    """finetune is back-propagation of the mean cross-entropy with SGD with momentum: with a full batch it
    matches torch.optim.SGD(lr, momentum) on torch's F.cross_entropy step for step (an identically built
    model), returning each epoch's loss before its step; and with lr = 0 (nothing moves) the loss it reports
    for an epoch of mini-batches of ``batch_size`` (the last one short) is the mean cross-entropy over all
    samples, whatever the order, and the parameters stay bitwise unchanged."""
    import torch.nn.functional as F

    n_classes = subject.size("n_classes")
    x = case.rand(samples, subject.size("layer_sizes")[0])
    y = torch.arange(samples, device=case.device) % n_classes
    fine = subject.fn("finetune")
    model, ref = subject.build(case), subject.build(case)
    losses = fine(model, x, y, epochs=epochs, batch_size=samples, lr=lr, momentum=momentum, generator=case.gen())
    opt = torch.optim.SGD(ref.parameters(), lr=lr, momentum=momentum)
    want = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = F.cross_entropy(ref(x), y)
        loss.backward()
        opt.step()
        want.append(float(loss.detach()))
    out = [exact("one loss per epoch", len(losses), epochs)]
    if out[0].passed:
        out.append(case.close("full-batch epoch losses vs torch.optim.SGD's", torch.tensor(losses, dtype=torch.float64),
                              torch.tensor(want, dtype=torch.float64)))
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        out.append(case.close(f"{name} after {epochs} full-batch epochs vs torch.optim.SGD(momentum={momentum})", p, q))
    still = subject.build(case)
    with torch.no_grad():
        l0 = float(F.cross_entropy(still(x), y))
    before = [p.detach().clone() for p in still.parameters()]
    flat = fine(still, x, y, epochs=2, batch_size=batch_size, lr=0.0, momentum=momentum, generator=case.gen())
    out.append(exact("lr = 0: one loss per epoch", len(flat), 2))
    if out[-1].passed:
        out.append(case.close(f"lr = 0: epoch loss over mini-batches of {batch_size} vs mean cross-entropy of all {samples}",
                              torch.tensor(flat, dtype=torch.float64), torch.full((2,), l0, dtype=torch.float64)))
    out.append(holds("lr = 0: parameters unchanged", all(torch.equal(p, q) for p, q in zip(still.parameters(), before))))
    return all_of(*out)


@check(requires=("pretrain", "greedy_pretrain", "load_rbms"))
def dbn_pretrain_is_greedy_then_unroll(subject, case, samples: int = 16, epochs: int = 1, batch_size: int = 8) -> Outcome:
    """model.pretrain(x, **kw) is greedy_pretrain(x, layer_sizes[1:], **kw) followed by load_rbms: from
    equal generator seeds it returns bitwise the same RBMs, one per hidden layer with W_l of shape
    (layer_sizes[l], layer_sizes[l+1]), and leaves hidden[l].weight = W_l^T and hidden[l].bias = b_l."""
    sizes = list(subject.size("layer_sizes"))
    (x,) = CONTRACT.example_inputs(subject, case, samples)
    kw = dict(epochs=epochs, batch_size=batch_size, lr=0.1, k=1)
    model = subject.build(case)
    got = list(model.pretrain(x, generator=case.gen(), **kw))
    want = subject.fn("greedy_pretrain")(x, sizes[1:], generator=case.gen(), **kw)
    out = [exact("number of RBMs returned", len(got), len(sizes) - 1)]
    if not out[0].passed or len(want) != len(got):
        return all_of(*out)
    for l, (p, q, layer) in enumerate(zip(got, want, model.hidden)):
        out += [exact(f"RBM {l + 1} W shape", tuple(p[0].shape), (sizes[l], sizes[l + 1])),
                holds(f"RBM {l + 1} equals greedy_pretrain's (W, a, b) bitwise", all(torch.equal(s, t) for s, t in zip(p[:3], q[:3]))),
                exact(f"hidden[{l}].weight == W_{l + 1}^T", layer.weight, p[0].T),
                exact(f"hidden[{l}].bias == b_{l + 1}", layer.bias, p[2])]
    return all_of(*out)


@check(requires=("upward_pass",))
def dbn_upward_pass_is_mean_field_stack(subject, case, batch: int = 5) -> Outcome:
    """upward_pass(x, rbms) returns every layer's hidden probabilities x^(l) = σ(b_l + x^(l−1) W_l),
    x^(0) = x, written out here in float64 for random RBMs of the configured widths; and it is
    differentiable: the gradients of L = Σ_l Σ x^(l) ⊙ R_l (R_l fixed, random) with respect to x and to
    every W_l and b_l equal autograd's through that recomputation."""
    sizes = list(subject.size("layer_sizes"))
    x = case.rand(batch, sizes[0]).requires_grad_(True)
    rbms = [tuple(t.requires_grad_(True) for t in (0.5 * case.randn(n_in, n_out), 0.1 * case.randn(n_in), 0.1 * case.randn(n_out)))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    got = list(subject.fn("upward_pass")(x, rbms))
    leaves = [x] + [t for W, _a, b in rbms for t in (W, b)]
    leaves64 = [f64(t).detach().requires_grad_(True) for t in leaves]
    h, want = leaves64[0], []
    for layer in range(len(rbms)):
        W, b = leaves64[1 + 2 * layer], leaves64[2 + 2 * layer]
        h = 1.0 / (1.0 + torch.exp(-(b + h @ W)))
        want.append(h)
    outs = [exact("number of layers returned", len(got), len(want))]
    if not outs[0].passed:
        return outs[0]
    outs += [case.close(f"x^({i + 1}) vs σ(b + x W) in float64", g.detach(), w.detach()) for i, (g, w) in enumerate(zip(got, want))]
    if not all(g.requires_grad for g in got):
        return all_of(outs + [holds("every returned layer is differentiable (requires grad)", False, "a detached layer")])
    R = [case.randn(*w.shape) for w in want]
    grads = torch.autograd.grad(sum((g * r).sum() for g, r in zip(got, R)), leaves, allow_unused=True)
    ref = torch.autograd.grad(sum((w * f64(r)).sum() for w, r in zip(want, R)), leaves64)
    names = ["x"] + [f"{n}_{l + 1}" for l in range(len(rbms)) for n in ("W", "b")]
    outs += [case.close(f"∂L/∂{n} vs autograd of the recomputation", torch.zeros_like(r) if g is None else g, r)
             for n, g, r in zip(names, grads, ref)]
    return all_of(outs)
