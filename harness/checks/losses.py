"""Checks for loss functions (notes 003 "Loss functions"; the catalogue (docs/catalogue.md), section A).

The subject is a module of functions in torch's argument order ``loss(prediction, target,
reduction)`` (see :data:`CONTRACT`). Oracles: scikit-learn's metrics, torch.nn.functional and
scipy.stats in float64, autograd, and closed forms.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, f64, grads, holds
from harness.registry import check

_SKLEARN_METRIC = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "msle": "mean_squared_log_error",
    "mape": "mean_absolute_percentage_error",
}



CONTRACT = load_contract("losses")


def _distributions(case, rows: int, classes: int, scale: float = 2.0, zeros: bool = False) -> torch.Tensor:
    """(rows, classes) probability vectors: softmax of N(0, scale²) logits, normalised in float64
    then cast; with ``zeros`` about 30% of the entries outside column 0 are set exactly to 0
    (rows 1, 4, 7, ... are left without zeros) and the rows renormalised."""
    p = torch.softmax(case.randn(rows, classes, dtype=torch.float64) * scale, dim=-1)
    if zeros:
        mask = case.rand(rows, classes, dtype=torch.float64) < 0.3
        mask[1::3] = False
        mask[:, 0] = False  # keep at least one positive entry per row
        p = torch.where(mask, torch.zeros_like(p), p)
        p = p / p.sum(-1, keepdim=True)
    return p.to(case.dtype)


# -- regression -------------------------------------------------------------------------------
@check()
def regression_loss_matches_sklearn(subject, case, loss: str, n: int = 64, outputs: int = 3) -> Outcome:
    """The subject's regression loss (mse, mae, msle or mape) over an (N, M) batch equals
    scikit-learn's metric (mean_squared_error, mean_absolute_error, mean_squared_log_error,
    100 × mean_absolute_percentage_error), which averages over all N·M elements.

    Targets: for mse, mae and mape ±(0.5 + 5u), u ~ U(0, 1), predictions N(0, 9); for msle both
    U(0, 6) (its logs need values > −1).
    """
    import sklearn.metrics as skm

    if loss not in _SKLEARN_METRIC:
        raise ValueError(f"loss must be one of {', '.join(_SKLEARN_METRIC)}, got {loss!r}")
    if loss == "msle":
        y_true, y_pred = case.rand(n, outputs) * 6, case.rand(n, outputs) * 6
    else:
        sign = case.bernoulli(0.5, n, outputs) * 2 - 1
        y_true, y_pred = sign * (0.5 + 5 * case.rand(n, outputs)), case.randn(n, outputs) * 3
    got = subject.fn(loss)(y_pred, y_true)
    ref = getattr(skm, _SKLEARN_METRIC[loss])(f64(y_true).numpy(), f64(y_pred).numpy())
    ref = 100.0 * ref if loss == "mape" else ref
    return case.close(f"{loss} vs sklearn.metrics.{_SKLEARN_METRIC[loss]}" + (" × 100" if loss == "mape" else ""),
                      got, float(ref), detail=f"N={n}, M={outputs}")


# -- classification ---------------------------------------------------------------------------
@check(requires=("hinge",))
def hinge_loss_matches_sklearn(subject, case, n: int = 200, scale: float = 2.0) -> Outcome:
    """For labels y ∈ {−1, +1} and real scores s, the hinge loss (1/N) Σ max(0, 1 − y·s) equals
    sklearn.metrics.hinge_loss(y, s)."""
    from sklearn.metrics import hinge_loss

    y = case.bernoulli(0.5, n) * 2 - 1
    s = case.randn(n) * scale
    return case.close("hinge(s, y) vs sklearn.metrics.hinge_loss", subject.fn("hinge")(s, y),
                      float(hinge_loss(f64(y).numpy().astype(int), f64(s).numpy())), detail=f"N={n}, labels ±1")


@check(requires=("binary_cross_entropy",))
def bce_matches_sklearn_log_loss(subject, case, n: int = 200) -> Outcome:
    """For probabilities p ∈ (0, 1) and labels y ∈ {0, 1}, the logistic loss
    −(1/N) Σ [y log p + (1 − y) log(1 − p)] equals sklearn.metrics.log_loss(y, p)."""
    from sklearn.metrics import log_loss

    y = case.bernoulli(0.5, n)
    p = 1e-3 + (1 - 2e-3) * case.rand(n)
    return case.close("binary_cross_entropy(p, y) vs sklearn.metrics.log_loss",
                      subject.fn("binary_cross_entropy")(p, y),
                      float(log_loss(f64(y).numpy().astype(int), f64(p).numpy(), labels=[0, 1])), detail=f"N={n}")


@check(requires=("binary_cross_entropy_with_logits",))
def bce_with_logits_matches_torch(subject, case, n: int = 200, scale: float = 4.0) -> Outcome:
    """softplus(z) − y·z, elementwise and averaged, equals
    torch.nn.functional.binary_cross_entropy_with_logits (float64) on N(0, 16) logits and on
    z ∈ {±100, ±1e4} with both labels."""
    F = torch.nn.functional
    ext = case.tensor([100.0, -100.0, 1e4, -1e4] * 2)
    z = torch.cat([case.randn(n) * scale, ext])
    y = torch.cat([case.bernoulli(0.5, n), case.tensor([0.0] * 4 + [1.0] * 4)])
    f = subject.fn("binary_cross_entropy_with_logits")
    z64, y64 = f64(z), f64(y)
    return all_of(
        case.close("bce_with_logits elementwise vs torch", f(z, y, reduction="none"),
                   F.binary_cross_entropy_with_logits(z64, y64, reduction="none")),
        case.close("bce_with_logits mean vs torch", f(z, y), F.binary_cross_entropy_with_logits(z64, y64)),
    )


@check(requires=("binary_cross_entropy_with_logits",))
def bce_with_logits_stable_at_extremes(subject, case) -> Outcome:
    """At logits z = ±100 and ±1e4 the logistic loss equals its closed form
    ℓ(z, y) = [y = 0]·max(z, 0) + [y = 1]·max(−z, 0) + log(1 + e^(−|z|)) (finite, e.g. 100 for a
    confident wrong answer at |z| = 100) and its autograd gradient equals σ(z) − y."""
    zs = [100.0, -100.0, 1e4, -1e4]
    z = case.tensor(zs * 2).requires_grad_(True)
    ys = [0.0] * 4 + [1.0] * 4
    y = case.tensor(ys)
    loss = subject.fn("binary_cross_entropy_with_logits")(z, y, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), z)
    expected = [(max(zi, 0.0) if yi == 0 else max(-zi, 0.0)) + math.log1p(math.exp(-abs(zi)))
                for zi, yi in zip(zs * 2, ys)]
    return all_of(
        holds("loss and gradient finite at |z| ∈ {100, 1e4}", bool(torch.isfinite(loss).all() and torch.isfinite(g).all()),
              f"loss {loss.detach().tolist()}, grad {g.tolist()}"),
        case.close("bce_with_logits(±100, ±1e4) vs closed form", loss, torch.tensor(expected, dtype=torch.float64)),
        case.close("autograd ∂ℓ/∂z vs σ(z) − y", g, torch.sigmoid(f64(z)) - f64(y)),
    )


@check(requires=("categorical_cross_entropy",))
def categorical_ce_matches_sklearn_log_loss(subject, case, n: int = 100, classes: int = 5) -> Outcome:
    """For (N, K) probability rows P and one-hot targets Y, −(1/N) Σ_i Σ_j y_ij log p_ij equals
    sklearn.metrics.log_loss(labels, P)."""
    from sklearn.metrics import log_loss

    p = _distributions(case, n, classes)
    t = case.randint(0, classes, (n,))
    y = torch.nn.functional.one_hot(t, classes).to(case.dtype)
    p64 = f64(p).numpy()
    p64 = p64 / p64.sum(axis=1, keepdims=True)  # sklearn insists on rows summing to 1 in float64
    return case.close("categorical_cross_entropy(P, Y) vs sklearn.metrics.log_loss",
                      subject.fn("categorical_cross_entropy")(p, y),
                      float(log_loss(t.cpu().numpy(), p64, labels=list(range(classes)))), detail=f"N={n}, K={classes}")


@check(requires=("cross_entropy",))
def cross_entropy_matches_torch(subject, case, n: int = 64, classes: int = 7, scale: float = 3.0) -> Outcome:
    """Multiclass cross-entropy from logits, per sample, summed and averaged, equals
    torch.nn.functional.cross_entropy (float64), including rows with logits ±1e4."""
    F = torch.nn.functional
    ext = case.tensor([[1e4, -1e4] + [0.0] * (classes - 2), [-1e4] * classes, [1e4] * (classes - 1) + [-1e4]])
    z = torch.cat([case.randn(n, classes) * scale, ext, ext])
    t = case.randint(0, classes, (n + 2 * len(ext),))
    t[n:n + 3] = 0
    t[n + 3:] = classes - 1
    f = subject.fn("cross_entropy")
    z64, t64 = f64(z), t.cpu()
    return all_of(case.close(f"cross_entropy reduction={r} vs torch", f(z, t, reduction=r),
                             F.cross_entropy(z64, t64, reduction=r)) for r in ("none", "sum", "mean"))


@check(requires=("nll_loss",))
def nll_loss_matches_torch(subject, case, n: int = 64, classes: int = 7) -> Outcome:
    """Negative log-likelihood −log p_{i, t_i} of (N, K) log-probabilities, per sample, summed and
    averaged, equals torch.nn.functional.nll_loss (float64)."""
    F = torch.nn.functional
    logp = torch.log_softmax(case.randn(n, classes, dtype=torch.float64) * 2, dim=-1).to(case.dtype)
    t = case.randint(0, classes, (n,))
    f = subject.fn("nll_loss")
    return all_of(case.close(f"nll_loss reduction={r} vs torch", f(logp, t, reduction=r),
                             F.nll_loss(f64(logp), t.cpu(), reduction=r)) for r in ("none", "sum", "mean"))


@check(requires=("cross_entropy",))
def cross_entropy_gradient_is_softmax_minus_onehot(subject, case, reduction: str = "mean", n: int = 32,
                                                   classes: int = 6, scale: float = 3.0) -> Outcome:
    """∂CE/∂z = softmax(z) − onehot(t) per sample, divided by N for the mean over the batch.

    Oracle: autograd through the subject's cross_entropy against torch.softmax and
    torch.nn.functional.one_hot in float64.
    """
    z = (case.randn(n, classes) * scale).requires_grad_(True)
    t = case.randint(0, classes, (n,))
    (g,) = torch.autograd.grad(subject.fn("cross_entropy")(z, t, reduction=reduction), z)
    expected = torch.softmax(f64(z), dim=-1) - torch.nn.functional.one_hot(t.cpu(), classes).double()
    if reduction == "mean":
        expected = expected / n
    return case.close(f"autograd ∂CE/∂z (reduction={reduction}) vs (softmax − onehot)" + (" / N" if reduction == "mean" else ""),
                      g, expected, detail=f"N={n}, K={classes}")


# -- discrete KL divergence -------------------------------------------------------------------
@check(requires=("kl_divergence",))
def discrete_kl_nonnegative(subject, case, rows: int = 200, classes: int = 8) -> Outcome:
    """Gibbs' inequality: D_KL(P‖Q) ≥ 0 for all distributions P, Q (here random pairs, pairs with
    zeros in P, and near-equal pairs Q = P + tiny perturbation, where D_KL is ~1e-6)."""
    p = _distributions(case, rows, classes, zeros=True)
    q = _distributions(case, rows, classes)
    near = torch.softmax(torch.log(q.double()) + 1e-3 * case.randn(rows, classes, dtype=torch.float64), -1).to(case.dtype)
    kl = subject.fn("kl_divergence")
    values = torch.cat([kl(p, q), kl(q, near), kl(near, q)])
    slack = case.tolerance.atol
    return bound("min over pairs of D_KL(P‖Q)", float(values.min()), -slack, op=">=",
                 source=f"rounding slack atol {slack:g} ({case.tolerance.source})",
                 detail=f"{values.numel()} pairs, K={classes}; min of the near-equal pairs {float(values[rows:].min()):.3g}")


@check(requires=("kl_divergence",))
def discrete_kl_self_zero(subject, case, rows: int = 50, classes: int = 8) -> Outcome:
    """D_KL(P‖P) = 0 for every distribution P, including P with zero entries (0·log 0 = 0)."""
    p = _distributions(case, rows, classes, zeros=True)
    return case.close("D_KL(P‖P)", subject.fn("kl_divergence")(p, p), torch.zeros(rows, dtype=torch.float64),
                      detail=f"{rows} distributions over {classes} outcomes, {int((p == 0).sum())} zero entries")


@check(requires=("kl_divergence", "entropy", "discrete_cross_entropy"))
def discrete_kl_decomposition(subject, case, rows: int = 50, classes: int = 8) -> Outcome:
    """D_KL(P‖Q) = H(P, Q) − H(P): the subject's KL equals its cross-entropy minus its entropy,
    and its H(P) equals scipy.stats.entropy(P) and its H(P, Q) equals −Σ p log q (numpy, float64)."""
    from scipy.stats import entropy as sp_entropy

    p = _distributions(case, rows, classes, zeros=True)
    q = _distributions(case, rows, classes)
    kl, h, hpq = subject.fn("kl_divergence")(p, q), subject.fn("entropy")(p), subject.fn("discrete_cross_entropy")(p, q)
    pn, qn = f64(p).numpy(), f64(q).numpy()
    with np.errstate(divide="ignore"):
        cross = -np.where(pn > 0, pn * np.log(qn), 0.0).sum(axis=1)
    return all_of(
        case.close("D_KL(P‖Q) vs H(P, Q) − H(P)", kl, f64(hpq) - f64(h)),
        case.close("H(P) vs scipy.stats.entropy(P)", h, sp_entropy(pn, axis=1)),
        case.close("H(P, Q) vs −Σ p log q (numpy)", hpq, cross),
    )


@check(requires=("kl_divergence",))
def discrete_kl_asymmetric(subject, case) -> Outcome:
    """KL divergence is not symmetric: for P = (0.9, 0.1) and Q = (0.5, 0.5),
    D_KL(P‖Q) = 0.9 ln 1.8 + 0.1 ln 0.2 ≈ 0.368 but D_KL(Q‖P) = 0.5 ln(5/9) + 0.5 ln 5 ≈ 0.511."""
    p, q = case.tensor([0.9, 0.1]), case.tensor([0.5, 0.5])
    kl = subject.fn("kl_divergence")
    pq, qp = kl(p, q), kl(q, p)
    return all_of(
        case.close("D_KL(P‖Q)", pq, 0.9 * math.log(1.8) + 0.1 * math.log(0.2)),
        case.close("D_KL(Q‖P)", qp, 0.5 * math.log(5 / 9) + 0.5 * math.log(5)),
        bound("|D_KL(P‖Q) − D_KL(Q‖P)|", abs(float(pq) - float(qp)), 0.1, op=">",
              detail="closed forms differ by 0.143"),
    )


@check(requires=("kl_divergence",))
def discrete_kl_matches_scipy(subject, case, rows: int = 100, classes: int = 10) -> Outcome:
    """D_KL(P‖Q) = Σ p log(p/q) equals scipy.stats.entropy(P, Q) row by row, also when P has zeros."""
    from scipy.stats import entropy as sp_entropy

    p = _distributions(case, rows, classes, zeros=True)
    q = _distributions(case, rows, classes, scale=1.0)
    return case.close("kl_divergence(P, Q) vs scipy.stats.entropy(P, Q)", subject.fn("kl_divergence")(p, q),
                      sp_entropy(f64(p).numpy(), f64(q).numpy(), axis=1), detail=f"{rows} pairs over {classes} outcomes")


# Notes 004, "Image Classification task": the classifier's output for the input image over the classes
# Lincoln, Washington, Jefferson, Obama.
NOTES_CLASSES = ("Lincoln", "Washington", "Jefferson", "Obama")
NOTES_OUTPUT = (0.8, 0.1, 0.05, 0.05)


@check(requires=("categorical_cross_entropy", "nll_loss", "cross_entropy"))
def classification_notes_output_example(subject, case, shift: float = 2.0) -> Outcome:
    """Notes 004's image-classification example: the classifier outputs 0.8, 0.1, 0.05, 0.05 for Lincoln,
    Washington, Jefferson and Obama. These are a probability vector (each in (0, 1), summing to 1 by
    math.fsum); the prediction is its argmax, Lincoln; and the multiclass cross-entropy of the output
    for true class k is −ln p_k (math.log): −ln 0.8 ≈ 0.2231 nats for Lincoln, −ln 0.1 ≈ 2.3026 for
    Washington, −ln 0.05 ≈ 2.9957 for Jefferson and Obama. The loss is checked three ways, per label
    (reduction "none") and averaged over the four labels: categorical_cross_entropy on the
    probabilities and one-hot targets, nll_loss on their logarithms, and cross_entropy on the logits
    log p + c (softmax recovers p because p sums to 1). The notes' text does not name the image's
    true class: every label is checked."""
    p = torch.tensor(NOTES_OUTPUT, dtype=torch.float64)
    k = len(p)
    probs = case.tensor(p.expand(k, k))  # one row per candidate true class
    labels = torch.arange(k, device=case.device)
    onehot = case.tensor(torch.eye(k, dtype=torch.float64))
    want = torch.tensor([-math.log(v) for v in NOTES_OUTPUT], dtype=torch.float64)
    ce = subject.fn("categorical_cross_entropy")(probs, onehot, reduction="none")
    nll = subject.fn("nll_loss")(probs.log(), labels, reduction="none")
    logits = probs.log() + shift
    xent = subject.fn("cross_entropy")(logits, labels, reduction="none")
    pred = NOTES_CLASSES[int(torch.argmax(p))]
    return all_of(
        holds("the notes' outputs lie in (0, 1)", bool(((p > 0) & (p < 1)).all()), f"{list(NOTES_OUTPUT)}"),
        case.close("the notes' outputs sum to 1 (math.fsum)", math.fsum(NOTES_OUTPUT), 1.0),
        holds("the prediction (argmax) is Lincoln", pred == "Lincoln", f"argmax: {pred}"),
        case.close("categorical cross-entropy per true class vs −ln p_k", ce, want,
                   detail="classes " + ", ".join(NOTES_CLASSES)),
        case.close("nll_loss(log p) per true class vs −ln p_k", nll, want),
        case.close(f"cross_entropy(log p + {shift:g}) per true class vs −ln p_k", xent, want),
        case.close("cross-entropy for Lincoln vs −ln 0.8", ce[0], -math.log(0.8)),
        case.close("cross_entropy averaged over the four labels", subject.fn("cross_entropy")(logits, labels), want.mean()),
    )


# -- gradients ------------------------------------------------------------------------------------
def _gradient_case(case, loss: str, n: int, k: int):
    """(inputs, the subject's call on them, the closed-form gradients in float64) for ``loss``: the
    averaged loss for the regression and classification losses (over all n·k elements, or over the n
    samples for the class losses), ⟨c, loss⟩ for a random cotangent c for the per-distribution ones."""
    if loss in ("mse", "mae", "mape"):
        sign = case.bernoulli(0.5, n, k) * 2 - 1
        a, b = case.randn(n, k) * 3, sign * (0.5 + 5 * case.rand(n, k))
    elif loss == "msle":
        a, b = case.rand(n, k) * 6, case.rand(n, k) * 6
    elif loss == "hinge":
        a, b = case.randn(n, k) * 2, case.bernoulli(0.5, n, k) * 2 - 1
    elif loss in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        a = 0.02 + 0.96 * case.rand(n, k) if loss == "binary_cross_entropy" else case.randn(n, k) * 3
        b = case.rand(n, k)  # soft labels in [0, 1]
    elif loss in ("nll_loss", "categorical_cross_entropy"):
        a = _distributions(case, n, k)
        t = case.randint(0, k, (n,))
        a = a.log() if loss == "nll_loss" else a
        b = t if loss == "nll_loss" else torch.nn.functional.one_hot(t, k).to(case.dtype)
    else:  # entropy, discrete_cross_entropy, kl_divergence
        a, b = _distributions(case, n, k), _distributions(case, n, k)
    A, B = f64(a), f64(b)
    N = A.numel() if loss in ("mse", "mae", "msle", "mape", "hinge", "binary_cross_entropy",
                              "binary_cross_entropy_with_logits") else n
    c = case.randn(n)
    C = f64(c)[:, None]
    formulas = {
        "mse": lambda: [2 * (A - B) / N, -2 * (A - B) / N],
        "mae": lambda: [torch.sign(A - B) / N, -torch.sign(A - B) / N],
        "msle": lambda: [2 * (torch.log1p(A) - torch.log1p(B)) / ((1 + A) * N),
                         -2 * (torch.log1p(A) - torch.log1p(B)) / ((1 + B) * N)],
        "mape": lambda: [100 * torch.sign(A - B) / (B.abs() * N), None],
        "hinge": lambda: [-B * (1 - A * B > 0).double() / N, None],
        "binary_cross_entropy": lambda: [(A - B) / (A * (1 - A) * N), (torch.log1p(-A) - torch.log(A)) / N],
        "binary_cross_entropy_with_logits": lambda: [(torch.sigmoid(A) - B) / N, -A / N],
        "nll_loss": lambda: [-torch.nn.functional.one_hot(b.cpu(), k).double() / N, None],
        "categorical_cross_entropy": lambda: [-B / (A * N), -torch.log(A) / N],
        "entropy": lambda: [-C * (torch.log(A) + 1), None],
        "discrete_cross_entropy": lambda: [-C * B / A, -C * torch.log(A)],
        "kl_divergence": lambda: [-C * B / A, C * (torch.log(B) - torch.log(A) + 1)],
    }
    if loss not in formulas:
        raise ValueError(f"loss must be one of {', '.join(formulas)}, got {loss!r}")
    want = formulas[loss]()
    # the distribution functions take (p, q) and return one value per row: the cotangent weights the rows
    a.requires_grad_(True)
    diff = [a] + ([b.requires_grad_(True)] if want[1] is not None else [])
    if loss == "entropy":
        call = lambda f: (f(a) * c).sum()  # noqa: E731
        diff, want = [a], [want[0]]
    elif loss in ("discrete_cross_entropy", "kl_divergence"):
        call = lambda f: (f(b, a) * c).sum()  # noqa: E731  f(P, Q) with Q = a, P = b: ∂/∂q first
    else:
        call = lambda f: f(a, b)  # noqa: E731
        want = [w for w in want if w is not None]
    return diff, call, want


@check()
def loss_gradient_matches_closed_form(subject, case, loss: str, n: int = 24, k: int = 5) -> Outcome:
    """Autograd through the subject's loss gives the textbook gradient, w.r.t. the prediction and (where
    the loss is differentiable in it) the target, for the mean over the batch (N = all elements for the
    elementwise losses, the n samples for the class losses):
    mse 2(ŷ − y)/N; mae sign(ŷ − y)/N; msle 2(log(1+ŷ) − log(1+y))/((1+ŷ)N); mape 100·sign(ŷ − y)/(|y|N);
    hinge −y·[1 − y·s > 0]/N; binary cross-entropy (p − y)/(p(1 − p)N) and log((1 − p)/p)/N in y; with
    logits (σ(z) − y)/N and −z/N; nll −onehot(t)/N; categorical cross-entropy −y/(pN) and −log p/N; and,
    per distribution with a cotangent c over rows, ∂H(P)/∂p = −c(log p + 1), ∂H(P, Q)/∂q = −c·p/q,
    ∂H(P, Q)/∂p = −c·log q, ∂D(P‖Q)/∂q = −c·p/q, ∂D(P‖Q)/∂p = c(log(p/q) + 1).

    Inputs avoid the kinks (ŷ ≠ y, y·s ≠ 1 almost surely); float64 oracles from the formulas above.
    """
    diff, call, want = _gradient_case(case, loss, n, k)
    names = ["the prediction", "the target"] if loss not in ("discrete_cross_entropy", "kl_divergence") else ["q", "p"]
    got = grads(call(subject.fn(loss)), diff)
    outs = []
    for name, g, w in zip(names, got, want):
        if g is None:
            outs.append(holds(f"autograd ∂{loss}/∂({name}) exists", False,
                              "no gradient: the loss does not depend on this input in autograd's graph"))
        else:
            outs.append(case.close(f"autograd ∂{loss}/∂({name}) vs the closed form", g, w, detail=f"n={n}, k={k}"))
    return all_of(outs)
