"""Broken variants of the loss functions (harness/checks/losses.py); several are the notes' own typos."""
from __future__ import annotations

import torch

from harness.testing import broken, patched
from reference_impls.losses import kl_divergence

REF = "reference_impls.losses"
F = torch.nn.functional


def _reduce(t, reduction):
    return {"mean": t.mean(), "sum": t.sum(), "none": t}[reduction]


def _naive_bce_logits(z, y, reduction="mean"):
    p = torch.sigmoid(z)  # rounds to exactly 0 or 1 at |z| ≳ 37 (float64): log 0 = −inf
    return _reduce(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)), reduction)


def _torch_bce_on_sigmoid(z, y, reduction="mean"):
    return F.binary_cross_entropy(torch.sigmoid(z), y, reduction=reduction)  # clamps log at −100


def unshifted_ce(z, t, reduction="mean"):
    logp = z - torch.logsumexp(z, dim=-1, keepdim=True)
    return _reduce(-logp.gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction)


def detached_lse_ce(z, t, reduction="mean"):
    logp = z - torch.logsumexp(z, dim=-1, keepdim=True).detach()  # right value, gradient −onehot
    return _reduce(-logp.gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction)


def ce_always_mean(z, t, reduction="mean"):
    return F.cross_entropy(z, t, reduction="mean" if reduction == "sum" else reduction)


def _notes_kl(p, q, dim=-1):
    return -(torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim)  # notes 003's leading minus sign


def _naive_kl(p, q, dim=-1):
    return (p * torch.log(p / q)).sum(dim)  # 0 · log 0 = nan


def _bad(**cores):
    return patched(REF, **cores)


# regression_loss_matches_sklearn: (label, loss, broken function)
_REGRESSION = [
    ("mse with the notes' 1/2N", "mse", lambda p, t, reduction="mean": 0.5 * ((p - t) ** 2).mean()),
    ("mae with the notes' 1/2N typo", "mae", lambda p, t, reduction="mean": 0.5 * (p - t).abs().mean()),
    ("msle as the notes' (log ŷ)² typo", "msle", lambda p, t, reduction="mean": torch.log(p).square().mean()),
    ("msle without the +1", "msle",
     lambda p, t, reduction="mean": (torch.log(p + 1e-9) - torch.log(t + 1e-9)).square().mean()),
    ("mape as a fraction, not percent", "mape", lambda p, t, reduction="mean": ((p - t).abs() / t.abs()).mean()),
    ("mape divides by y, not |y| (notes)", "mape", lambda p, t, reduction="mean": (100 * (p - t).abs() / t).mean()),
]

MUTANTS = {
    "regression_loss_matches_sklearn": [
        broken(label, _bad(**{loss: fn}), loss=loss) for label, loss, fn in _REGRESSION
    ],
    "hinge_loss_matches_sklearn": [
        broken("perceptron loss (no margin)",
               _bad(hinge=lambda s, y, reduction="mean": torch.clamp(-y * s, min=0).mean())),
    ],
    "bce_matches_sklearn_log_loss": [
        broken("summed", _bad(
            binary_cross_entropy=lambda p, y, reduction="mean": F.binary_cross_entropy(p, y, reduction="sum"))),
        broken("labels swapped", _bad(
            binary_cross_entropy=lambda p, y, reduction="mean": F.binary_cross_entropy(p, 1 - y))),
    ],
    "bce_with_logits_matches_torch": [
        broken("log of sigmoid", _bad(binary_cross_entropy_with_logits=_naive_bce_logits)),
        broken("torch bce on sigmoid", _bad(binary_cross_entropy_with_logits=_torch_bce_on_sigmoid)),
    ],
    "bce_with_logits_stable_at_extremes": [
        broken(f"{label} {dtype}", _bad(binary_cross_entropy_with_logits=fn), dtype=dtype)
        for label, fn in (("log of sigmoid", _naive_bce_logits), ("torch bce on sigmoid", _torch_bce_on_sigmoid))
        for dtype in ("float32", "float64")
    ],
    "categorical_ce_matches_sklearn_log_loss": [
        broken("the notes' sum over samples",
               _bad(categorical_cross_entropy=lambda p, y, reduction="mean": -torch.xlogy(y, p).sum())),
    ],
    "cross_entropy_matches_torch": [
        broken("unshifted log-softmax float32", _bad(cross_entropy=unshifted_ce), dtype="float32"),
        broken("missing log", _bad(cross_entropy=lambda z, t, reduction="mean": _reduce(
            -torch.softmax(z, -1).gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction))),
    ],
    "nll_loss_matches_torch": [
        broken("sign flipped", _bad(
            nll_loss=lambda lp, t, reduction="mean": -F.nll_loss(lp, t, reduction=reduction))),
        broken("averages over all classes", _bad(
            nll_loss=lambda lp, t, reduction="mean": _reduce(-lp.mean(-1), reduction))),
    ],
    "cross_entropy_gradient_is_softmax_minus_onehot": [
        broken("detached normaliser", _bad(cross_entropy=detached_lse_ce)),
        broken("mean for sum", _bad(cross_entropy=ce_always_mean), reduction="sum"),
    ],
    "discrete_kl_nonnegative": [
        broken(f"the notes' minus sign {dtype}", _bad(kl_divergence=_notes_kl), dtype=dtype)
        for dtype in ("float32", "float64")
    ],
    "discrete_kl_self_zero": [
        broken("nan at zero mass", _bad(kl_divergence=_naive_kl)),
        broken("smoothed log", _bad(
            kl_divergence=lambda p, q, dim=-1: (p * torch.log((p + 1e-6) / (q + 1e-3))).sum(dim))),
    ],
    "discrete_kl_decomposition": [
        broken("entropy in bits", _bad(
            entropy=lambda p, dim=-1: -torch.special.xlog1py(p, p - 1).sum(dim) / torch.log(torch.tensor(2.0)))),
        broken("H(P, Q) + H(P)", _bad(
            kl_divergence=lambda p, q, dim=-1: (-torch.xlogy(p, q) - torch.xlogy(p, p)).sum(dim))),
    ],
    "discrete_kl_asymmetric": [
        broken("symmetrised", _bad(
            kl_divergence=lambda p, q, dim=-1: 0.5 * (kl_divergence(p, q, dim) + kl_divergence(q, p, dim)))),
    ],
    "discrete_kl_matches_scipy": [
        broken("arguments swapped", _bad(kl_divergence=lambda p, q, dim=-1: kl_divergence(q, p, dim))),
    ],
}


# --- the notes' classifier output 0.8 / 0.1 / 0.05 / 0.05 -------------------------------------------
def categorical_ce_log2(probs, y, reduction="mean"):
    """Bits where the contract says nats."""
    return _reduce(-(y * torch.log2(probs)).sum(-1), reduction)


def nll_without_minus(log_probs, target, reduction="mean"):
    return _reduce(log_probs.gather(-1, target.long().unsqueeze(-1)).squeeze(-1), reduction)


def ce_mean_over_classes(z, t, reduction="mean"):
    """−(1/K) Σ_j log softmax(z)_j: every class counted, the target ignored."""
    return _reduce(-torch.log_softmax(z, -1).mean(-1), reduction)


def ce_unnormalised(z, t, reduction="mean"):
    """−z_t: the log-sum-exp forgotten (right only when the logits are already log-probabilities)."""
    return _reduce(-z.gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction)


MUTANTS["classification_notes_output_example"] = [
    broken("categorical cross-entropy in bits", _bad(categorical_cross_entropy=categorical_ce_log2)),
    broken("nll_loss without its minus sign", _bad(nll_loss=nll_without_minus)),
    broken("cross-entropy averaged over the classes", _bad(cross_entropy=ce_mean_over_classes)),
    broken("cross-entropy without log-sum-exp", _bad(cross_entropy=ce_unnormalised)),
    broken("categorical cross-entropy in bits (float32)", _bad(categorical_cross_entropy=categorical_ce_log2),
           dtype="float32"),
]


# --- autograd gradients (loss_gradient_matches_closed_form) -------------------------------------------
def _value_only(fn):
    """Right values, cut from the graph."""
    return lambda *a, **k: fn(*a, **k).detach()


def _msle_straight_through(y_pred, y_true, reduction="mean"):
    """Right values, the gradient of mse instead."""
    val = (torch.log1p(y_pred) - torch.log1p(y_true)).square()
    proxy = (y_pred - y_true).square()
    return _reduce(proxy + (val - proxy).detach(), reduction)


def _kl_q_detached(p, q, dim=-1):
    return (torch.xlogy(p, p) - torch.xlogy(p, q.detach())).sum(dim)


def _entropy_p_held(p, dim=-1):
    """Right value; the factor p of p·log p held fixed, so the gradient is −1, not −(log p + 1)."""
    return -(p.detach() * torch.log(p)).sum(dim)


def _hinge_no_margin_grad(s, y, reduction="mean"):
    val = torch.clamp(1.0 - y * s, min=0.0)
    return _reduce(val.detach() + 0 * s, reduction)


from reference_impls import losses as _L  # noqa: E402

_GRADIENT = [
    ("mape detached", "mape", _value_only(_L.mape)),
    ("categorical cross-entropy detached", "categorical_cross_entropy", _value_only(_L.categorical_cross_entropy)),
    ("discrete cross-entropy detached", "discrete_cross_entropy", _value_only(_L.discrete_cross_entropy)),
    ("msle with mse's gradient", "msle", _msle_straight_through),
    ("kl with q detached", "kl_divergence", _kl_q_detached),
    ("entropy with the factor p held fixed", "entropy", _entropy_p_held),
    ("hinge with zero gradient", "hinge", _hinge_no_margin_grad),
    ("mse summed, not averaged", "mse", lambda p, t, reduction="mean": ((p - t) ** 2).sum()),
    ("bce with logits, the −y·z term detached", "binary_cross_entropy_with_logits",
     lambda z, y, reduction="mean": _reduce(z.clamp(min=0) - y * z.detach() + torch.log1p(torch.exp(-z.abs())), reduction)),
]

MUTANTS["loss_gradient_matches_closed_form"] = [
    broken(label, _bad(**{loss: fn}), loss=loss) for label, loss, fn in _GRADIENT
]
