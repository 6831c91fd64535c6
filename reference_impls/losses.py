"""Loss functions of the course notes (regression, classification, reconstruction).

Argument order follows torch: ``loss(prediction, target, reduction="mean")``, where
``reduction`` is ``"mean"`` (over every element, or every sample for the class losses),
``"sum"`` or ``"none"``. Shapes: the regression losses, :func:`hinge` and the binary losses
are elementwise on any shape; :func:`nll_loss` and :func:`cross_entropy` take (N, K) scores
and (N,) integer class indices; :func:`categorical_cross_entropy` takes (N, K) probabilities
and (N, K) one-hot (or soft) targets; :func:`entropy`, :func:`discrete_cross_entropy` and
:func:`kl_divergence` reduce probability vectors along ``dim`` (default the last axis) and
return one value per distribution. All logarithms are natural (nats).

Where the notes differ from the standard definitions (the standard one is implemented):

* MSE: notes 003 give both (1/N)Σ_i(ŷ_i − y_i)² and (1/2N)Σ_iΣ_j(ŷ_ij − y_ij)²; :func:`mse`
  averages over all N·M elements without the ½ (scikit-learn's ``mean_squared_error``).
* MAE: notes 003 write (1/2N)ΣΣ|ŷ − y|; the ½ is a typo carried over from the MSE line.
* MSLE: notes 003 write (1/N)ΣΣ(log ŷ_ij)², which ignores the target; the standard loss is
  mean (log(1 + ŷ) − log(1 + y))².
* MAPE: notes 003 divide by y_ij; the standard form divides by |y_ij| (here floored at the
  dtype's machine epsilon, as scikit-learn does). It is returned in percent (×100, as in the
  notes); scikit-learn's ``mean_absolute_percentage_error`` returns the fraction.
* Logistic loss: notes 003 print the likelihood Π ŷ^y (1 − ŷ)^(1−y) as "L"; the loss is its
  negative log, averaged over samples here (the notes' NLL line sums).
* KL divergence: notes 003 write D_KL(Y‖Ŷ) = −Σ Y log(Y/Ŷ); the leading minus sign is a typo
  (it would make D_KL ≤ 0). Standard: D_KL(P‖Q) = Σ p log(p/q) ≥ 0.

Conventions: :func:`hinge` takes labels in {−1, +1} (notes 003: "categorized as −1 or 1") and
real-valued scores; the binary cross-entropies take labels in {0, 1} (or soft labels in [0, 1]).
0·log 0 is taken as 0 throughout (``torch.xlogy``).

References
1. Notes 003, "Loss functions": regression (MSE, MAE, MSLE, MAPE), classification (hinge,
   logistic, negative log-likelihood, multiclass cross-entropy), reconstruction (KL divergence).
2. Kullback, Leibler (1951), "On Information and Sufficiency".
3. Cover, Thomas (2006), "Elements of Information Theory", 2nd ed., section 2.3 (relative
   entropy) and theorem 2.6.3 (information inequality, D(p‖q) ≥ 0).
"""
from __future__ import annotations

import torch

__all__ = [
    "mse", "mae", "msle", "mape", "hinge", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "nll_loss", "cross_entropy", "categorical_cross_entropy", "entropy", "discrete_cross_entropy",
    "kl_divergence", "reduce_loss", "LOSSES",
]


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a loss reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per element/sample)."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# -- regression -------------------------------------------------------------------------------
def mse(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: (1/(N·M)) Σ_ij (ŷ_ij − y_ij)²."""
    return reduce_loss((y_pred - y_true).square(), reduction)


def mae(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error: (1/(N·M)) Σ_ij |ŷ_ij − y_ij| (notes 003's extra ½ is a typo)."""
    return reduce_loss((y_pred - y_true).abs(), reduction)


def msle(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared log error: (1/(N·M)) Σ_ij (log(1 + ŷ_ij) − log(1 + y_ij))², for ŷ, y > −1.

    Notes 003 print (log ŷ_ij)², a typo that drops the target; this is the standard definition.
    """
    return reduce_loss((torch.log1p(y_pred) - torch.log1p(y_true)).square(), reduction)


def mape(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute percentage error in percent: (100/(N·M)) Σ_ij |ŷ_ij − y_ij| / max(|y_ij|, ε).

    ε is the dtype's machine epsilon (scikit-learn's guard against y = 0). Notes 003 divide by
    y_ij, not |y_ij|; a negative target would then give a negative "error".
    """
    eps = torch.finfo(y_true.dtype).eps
    return reduce_loss(100.0 * (y_pred - y_true).abs() / y_true.abs().clamp(min=eps), reduction)


# -- classification ---------------------------------------------------------------------------
def hinge(scores: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Hinge loss for labels y ∈ {−1, +1}: (1/N) Σ_i max(0, 1 − y_i · ŷ_i), ŷ a real score."""
    return reduce_loss(torch.clamp(1.0 - y * scores, min=0.0), reduction)


def binary_cross_entropy(p: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Logistic loss on probabilities: −[y log p + (1 − y) log(1 − p)], y ∈ {0, 1} (or [0, 1]).

    The negative log of notes 003's Bernoulli likelihood p^y (1 − p)^(1−y); 0·log 0 = 0.
    Prefer :func:`binary_cross_entropy_with_logits` when the model outputs a logit.
    """
    return reduce_loss(-(torch.xlogy(y, p) + torch.xlogy(1.0 - y, 1.0 - p)), reduction)


def binary_cross_entropy_with_logits(z: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Logistic loss on a logit z (p = σ(z)): −[y log σ(z) + (1 − y) log σ(−z)] = softplus(z) − y·z,
    evaluated as max(z, 0) − y·z + log1p(e^(−|z|)): finite for any z (no σ(z) that rounds to 0 or 1).
    """
    return reduce_loss(z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs())), reduction)


def nll_loss(log_probs: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood of class indices: −(1/N) Σ_i log p_{i, t_i}, log_probs (N, K), target (N,)."""
    return reduce_loss(-log_probs.gather(-1, target.long().unsqueeze(-1)).squeeze(-1), reduction)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Multiclass cross-entropy from logits: −(1/N) Σ_i log softmax(z_i)_{t_i}
    = (1/N) Σ_i (logsumexp(z_i) − z_{i, t_i}). Its gradient is (softmax(z) − onehot(t)) / N.

    The max is subtracted before anything else: z_i − logsumexp(z) computed directly loses
    about ulp(max|z|) (5e-4 at |z| = 1e4 in float32); (z_i − m) − log Σ_j e^(z_j − m) does not.
    """
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()  # z − max z: the loss does not depend on the shift
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))
    return nll_loss(log_probs, target, reduction)


def categorical_cross_entropy(probs: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Notes 003's M-class logistic loss: −(1/N) Σ_i Σ_j y_ij log ŷ_ij, probs and y of shape (N, M)
    (the notes sum over i; this averages, as scikit-learn's log_loss does)."""
    return reduce_loss(-torch.xlogy(y, probs).sum(dim=-1), reduction)


# -- distributions ----------------------------------------------------------------------------
def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy H(P) = −Σ_i p_i log p_i (nats), with 0·log 0 = 0."""
    return -torch.xlogy(p, p).sum(dim=dim)


def discrete_cross_entropy(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Cross-entropy H(P, Q) = −Σ_i p_i log q_i (nats), with 0·log q = 0."""
    return -torch.xlogy(p, q).sum(dim=dim)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """D_KL(P‖Q) = Σ_i p_i log(p_i / q_i) = H(P, Q) − H(P) ≥ 0, with 0·log(0/q) = 0.

    Notes 003 print a leading minus sign (−Σ Y log(Y/Ŷ)); that is a typo: the divergence is
    non-negative and zero iff P = Q. Infinite where p_i > 0 = q_i.
    """
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=dim)


LOSSES = {
    "mse": mse, "mae": mae, "msle": msle, "mape": mape, "hinge": hinge,
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "nll_loss": nll_loss, "cross_entropy": cross_entropy, "categorical_cross_entropy": categorical_cross_entropy,
}
