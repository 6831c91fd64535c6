"""Broken variants of the autoencoder checks (harness.checks.autoencoders): a copied instead of shared
tied weight, a missing clip, a swapped KL, a contractive penalty that is zero, negated, detached or
averaged, ..."""
from __future__ import annotations

from dataclasses import fields

import torch
from torch import nn

import reference_impls.autoencoders as A
from harness.testing import broken, patched, replaced, subject_from

# the suite's subject params (suites/autoencoders.yaml)
PARAMS = {"kind": "dense", "in_features": 64, "hidden": [16], "activation": "sigmoid", "output_activation": "linear",
          "tied": False, "in_channels": 1, "channels": [8, 16], "kernel_size": 3}
AE = subject_from("reference_impls.autoencoders:build_autoencoder", PARAMS)


def ae(**params):
    return AE.with_params(**params)


def factory(dense=A.Autoencoder, conv=A.ConvAutoencoder):
    """build_autoencoder with broken model classes in place of the reference ones."""

    def build(kind: str = "dense", **p):
        config = A.AutoencoderConfig if kind == "dense" else A.ConvAutoencoderConfig
        own = {f.name for f in fields(config)}
        return (dense if kind == "dense" else conv)(config(**{k: v for k, v in p.items() if k in own}))

    build.__qualname__ = f"build_autoencoder({dense.__name__}, {conv.__name__})"
    return build


# --- broken models -----------------------------------------------------------------------------
class NoCodeActivationAE(A.Autoencoder):
    """Forgets the activation after the last encoder layer."""

    def encode(self, x):
        h = x
        for l, (W, b) in enumerate(zip(self.W_enc, self.b_enc)):
            h = torch.nn.functional.linear(h, W, b)
            h = A.ACTIVATIONS[self.config.activation](h) if l < self.num_layers - 1 else h
        return h


class EncoderOnlyAE(A.Autoencoder):
    def forward(self, x):
        return self.encode(x)


class CopiedTiedAE(A.Autoencoder):
    """'Tied' by copying: the decoder weight is a fresh tensor equal to Wᵀ."""

    def decoder_weight(self, j):
        w = super().decoder_weight(j)
        return w.clone() if self.config.tied else w


class DetachedTiedAE(A.Autoencoder):
    """Tied weight used in the decoder without its gradient."""

    def decoder_weight(self, j):
        w = super().decoder_weight(j)
        return w.detach() if self.config.tied else w


class ExtraDecoderWeightsAE(A.Autoencoder):
    """Keeps a separate decoder weight even when tied (twice the weight count)."""

    def __init__(self, config):
        super().__init__(config)
        if config.tied:
            self.W_dec = nn.ParameterList([nn.Parameter(W.detach().t().clone()) for W in reversed(list(self.W_enc))])


class NoOutputSizeConvAE(A.ConvAutoencoder):
    def forward(self, x):
        h, _ = self.encode(x)
        return self.decode(h, None)


class CodeIgnoredConvAE(A.ConvAutoencoder):
    """The decoder is fed a zero code: the output cannot depend on the input."""

    def forward(self, x):
        h, sizes = self.encode(x)
        return self.decode(0.0 * h, sizes)


class IdentityAE(A.Autoencoder):
    def forward(self, x):
        return x + 0.0 * self.b_dec[-1].sum()


# --- broken cores ------------------------------------------------------------------------------
def rec_mean_not_sum(x, x_hat):
    return (x - x_hat).pow(2).reshape(x.shape[0], -1).mean(-1)


def rec_zero(x, x_hat):
    return 0.0 * A.reconstruction_error(x, x_hat)


def rec_absolute(x, x_hat):
    return (x - x_hat).abs().reshape(x.shape[0], -1).sum(-1)


def l1_without_abs(h, lam):
    return lam * h.reshape(h.shape[0], -1).sum(-1)


def l1_ignores_lambda(h, lam):
    return 0.0 * h.abs().sum(-1)


def kl_sparsity_swapped(h, rho):
    """KL(ρ̂ ‖ ρ) instead of KL(ρ ‖ ρ̂)."""
    rho_hat = h.mean(0)
    return A.bernoulli_kl(rho_hat, torch.full_like(rho_hat, rho)).sum()


def kl_sparsity_feature_mean(h, rho):
    return A.bernoulli_kl(rho, h.mean(1)).sum()


def contractive_no_square(h, W):
    return (h * (1.0 - h)) @ W.pow(2).sum(1)


def contractive_zero(h, W):
    return 0.0 * A.contractive_penalty(h, W)


def contractive_negated(h, W):
    """The penalty with the wrong sign: training rewards a large Jacobian."""
    return -A.contractive_penalty(h, W)


def contractive_detached(h, W):
    """The right value, but no gradient reaches the code or the weight."""
    return A.contractive_penalty(h.detach(), W.detach())


def contractive_mean_not_sum(h, W):
    """‖J‖²_F averaged over its k x d entries: λ scaled down by kd."""
    return A.contractive_penalty(h, W) / (h.shape[1] * W.shape[1])


def kl_sparsity_zero(h, rho):
    return 0.0 * A.kl_sparsity_penalty(h, rho)


def kl_sparsity_negated(h, rho):
    return -A.kl_sparsity_penalty(h, rho)


def kl_sparsity_detached(h, rho):
    return A.kl_sparsity_penalty(h.detach(), rho)


def corrupt_no_clip(x, noise_factor, generator=None, noise=None, clip=True):
    return A.corrupt(x, noise_factor, generator=generator, noise=noise, clip=False)


def corrupt_uniform(x, noise_factor, generator=None, noise=None, clip=True):
    if noise is None:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5
    return A.corrupt(x, noise_factor, noise=noise, clip=clip)


def corrupt_global_rng(x, noise_factor, generator=None, noise=None, clip=True):
    return A.corrupt(x, noise_factor, noise=torch.randn_like(x) if noise is None else noise, clip=clip)


def corrupt_nothing(x, noise_factor, generator=None, noise=None, clip=True):
    return x.clone()


def mask_inverted_dropout(x, p, generator=None, keep=None):
    """Inverted dropout: survivors rescaled by 1/(1 − p)."""
    return A.mask_corrupt(x, p, generator=generator, keep=keep) / (1.0 - p) if p < 1 else x * 0


def mask_keep_prob_swapped(x, p, generator=None, keep=None):
    """p read as the keep probability."""
    return A.mask_corrupt(x, 1.0 - p, generator=generator, keep=keep)


def mask_global_rng(x, p, generator=None, keep=None):
    return A.mask_corrupt(x, p, generator=None, keep=keep)


def mask_per_feature(x, p, generator=None, keep=None):
    """One mask per feature, shared by the whole batch (the fraction is right, only in expectation)."""
    if keep is None:
        keep = (torch.rand(x.shape[1:], generator=generator, device=x.device, dtype=x.dtype) >= p).expand_as(x)
    return A.mask_corrupt(x, p, keep=keep)


def mask_nothing(x, p, generator=None, keep=None):
    return x.clone()


def mask_gaussian_not_zero(x, p, generator=None, keep=None):
    """Removed features replaced by the clipped Gaussian corruption, not zeros."""
    if keep is None:
        keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= p
    return torch.where(keep.to(torch.bool), x, A.corrupt(x, 0.2, generator=generator))


def l1_mean_not_sum(x, x_hat):
    return (x - x_hat).abs().reshape(x.shape[0], -1).mean(-1)


def l1_squared(x, x_hat):
    return A.reconstruction_error(x, x_hat)


def bce_swapped(x, x_hat):
    """Target and reconstruction swapped: −Σ x' log x + (1 − x') log(1 − x)."""
    return A.bce_reconstruction_error(x_hat, x)


def bce_no_complement(x, x_hat):
    """Only the x log x' term."""
    return -(x * torch.log(x_hat).clamp_min(-100.0)).reshape(x.shape[0], -1).sum(-1)


def bce_unclamped(x, x_hat):
    return -(x * torch.log(x_hat) + (1 - x) * torch.log1p(-x_hat)).reshape(x.shape[0], -1).sum(-1)


def l2_half(weights, lam):
    return 0.5 * A.l2_weight_penalty(weights, lam)


def l2_frobenius_not_squared(weights, lam):
    return lam * sum(torch.linalg.matrix_norm(W) for W in weights)


def l2_zero(weights, lam):
    return 0.0 * sum(W.sum() for W in weights)


def l2_detached(weights, lam):
    """The right value, but no gradient reaches the weights."""
    return A.l2_weight_penalty([W.detach() for W in weights], lam) + 0.0 * sum(W.sum() for W in weights)


def maxact_unnormalised(W):
    return W.clone()


def maxact_column_normalised(W):
    return W / torch.linalg.vector_norm(W, dim=0, keepdim=True)


def maxact_minimiser(W):
    return -A.max_activating_inputs(W)


def maxact_global_norm(W):
    return W / torch.linalg.vector_norm(W)


_DAE = {"hidden": [64], "activation": "relu", "output_activation": "sigmoid"}
_CAE = {"hidden": [16], "activation": "sigmoid"}
_KL = {"hidden": [32], "activation": "sigmoid"}

MUTANTS = {
    "ae_forward_matches_torch_layers": [
        broken("no activation on the code", replaced(AE, factory(NoCodeActivationAE))),
        broken("no activation on the code (deep)", replaced(ae(hidden=[32, 16]), factory(NoCodeActivationAE))),
    ],
    "ae_code_and_output_shapes": [broken("forward returns the code", replaced(AE, factory(EncoderOnlyAE)))],
    "ae_parameter_count": [
        broken("tied with its own decoder weights", replaced(ae(tied=True), factory(ExtraDecoderWeightsAE)))],
    "ae_tied_weights_shared": [
        broken("tied by copying", replaced(AE, factory(CopiedTiedAE))),
        broken("tied with its own decoder weights", replaced(AE, factory(ExtraDecoderWeightsAE))),
    ],
    "ae_tied_gradient_sums_both_uses": [broken("tied use detached", replaced(AE, factory(DetachedTiedAE)))],
    "ae_conv_output_shape": [
        broken("decoder without output_size", replaced(ae(kind="conv"), factory(conv=NoOutputSizeConvAE)))],
    "ae_reconstruction_error_matches_torch": [
        broken("mean, not sum", patched(AE, reconstruction_error=rec_mean_not_sum))],
    "ae_l1_activity_penalty": [broken("no abs", patched(AE, l1_activity_penalty=l1_without_abs))],
    "ae_kl_sparsity_penalty_closed_form": [
        broken("KL(ρ̂ ‖ ρ)", patched(AE, kl_sparsity_penalty=kl_sparsity_swapped))],
    "ae_kl_sparsity_zero_at_target": [
        broken("mean over features", patched(AE, kl_sparsity_penalty=kl_sparsity_feature_mean))],
    "ae_contractive_penalty_matches_jacobian": [
        broken("no square", patched(ae(hidden=[16], activation="sigmoid"), contractive_penalty=contractive_no_square))],
    "ae_corrupt_formula": [broken("no clip", patched(AE, corrupt=corrupt_no_clip))],
    "ae_corrupt_noise_moments": [broken("uniform noise", patched(AE, corrupt=corrupt_uniform))],
    "ae_corrupt_uses_generator": [broken("global RNG", patched(AE, corrupt=corrupt_global_rng))],
    "ae_mask_corrupt_fraction": [
        broken("p is the keep probability", patched(AE, mask_corrupt=mask_keep_prob_swapped), p=0.3),
        broken("one mask per feature, shared by the batch", patched(AE, mask_corrupt=mask_per_feature)),
    ],
    "ae_mask_corrupt_keeps_survivors": [
        broken("inverted dropout (rescaled survivors)", patched(AE, mask_corrupt=mask_inverted_dropout)),
        broken("removed features get Gaussian noise", patched(AE, mask_corrupt=mask_gaussian_not_zero)),
    ],
    "ae_mask_corrupt_uses_generator": [
        broken("global RNG", patched(AE, mask_corrupt=mask_global_rng)),
    ],
    "ae_l1_reconstruction_matches_torch": [
        broken("mean, not sum", patched(AE, l1_reconstruction_error=l1_mean_not_sum)),
        broken("squared error", patched(AE, l1_reconstruction_error=l1_squared)),
    ],
    "ae_bce_reconstruction_matches_torch": [
        broken("target and reconstruction swapped", patched(AE, bce_reconstruction_error=bce_swapped)),
        broken("no (1 − x) log(1 − x') term", patched(AE, bce_reconstruction_error=bce_no_complement)),
        broken("logs not clamped", patched(AE, bce_reconstruction_error=bce_unclamped)),
    ],
    "ae_l2_weight_penalty": [
        broken("½λΣ‖W‖²", patched(AE, l2_weight_penalty=l2_half)),
        broken("Frobenius norm, not squared", patched(AE, l2_weight_penalty=l2_frobenius_not_squared)),
        broken("detached weights", patched(AE, l2_weight_penalty=l2_detached)),
    ],
    "ae_l2_penalty_rules_out_identity": [
        broken("zero penalty", patched(ae(hidden=[96], activation="linear"), l2_weight_penalty=l2_zero)),
        broken("detached weights", patched(ae(hidden=[96], activation="linear"), l2_weight_penalty=l2_detached)),
    ],
    "ae_max_activating_input": [
        broken("rows not normalised", patched(AE, max_activating_inputs=maxact_unnormalised)),
        broken("columns normalised", patched(ae(hidden=[64]), max_activating_inputs=maxact_column_normalised)),
        broken("the minimiser −w/‖w‖", patched(AE, max_activating_inputs=maxact_minimiser)),
        broken("divided by ‖W‖_F", patched(AE, max_activating_inputs=maxact_global_norm)),
    ],
    # trained properties: the smallest budgets at which the reference passes (the old per-variant tests' max_iter=100
    # and steps=5/30 were too small for it); the broken variants fail by a wide margin
    "ae_linear_spans_pca_subspace": [
        broken("trained on absolute error",
               patched(ae(hidden=[4], activation="linear"), reconstruction_error=rec_absolute), max_iter=200)],
    "ae_sparsity_rises_with_lambda": [
        broken("penalty ignores λ",
               patched(ae(hidden=[32], activation="relu"), l1_activity_penalty=l1_ignores_lambda), steps=30)],
    "ae_denoising_beats_identity": [
        broken("identity model", replaced(ae(**_DAE), factory(IdentityAE)), steps=120),
        broken("no noise", patched(ae(**_DAE), corrupt=corrupt_nothing), steps=120),
    ],
    "ae_contractive_training_shrinks_jacobian": [
        broken("zero penalty", patched(ae(**_CAE), contractive_penalty=contractive_zero)),
        broken("penalty with the wrong sign", patched(ae(**_CAE), contractive_penalty=contractive_negated)),
        broken("detached penalty", patched(ae(**_CAE), contractive_penalty=contractive_detached)),
        broken("mean over J's entries (λ/kd)", patched(ae(**_CAE), contractive_penalty=contractive_mean_not_sum)),
    ],
    "ae_masking_denoising_beats_plain": [
        broken("identity model", replaced(ae(**_DAE), factory(IdentityAE))),
        broken("no masking", patched(ae(**_DAE), mask_corrupt=mask_nothing)),
    ],
    "ae_conv_training_beats_mean_image": [
        broken("decoder ignores the code", replaced(ae(kind="conv"), factory(conv=CodeIgnoredConvAE))),
        broken("trained on a zero loss", patched(ae(kind="conv"), reconstruction_error=rec_zero)),
    ],
    "ae_kl_sparsity_training_reaches_target": [
        broken("zero penalty", patched(ae(**_KL), kl_sparsity_penalty=kl_sparsity_zero)),
        broken("penalty with the wrong sign", patched(ae(**_KL), kl_sparsity_penalty=kl_sparsity_negated)),
        broken("detached penalty", patched(ae(**_KL), kl_sparsity_penalty=kl_sparsity_detached)),
    ],
}


# --- convolutional model vs torch.nn; invalid configurations -----------------------------------------
CONV = AE.with_params(kind="conv")


def conv_padding_k(kind="dense", **params):
    """Padding K instead of (K − 1)/2 (the decoder's output_size still restores the shape)."""
    model = A.build_autoencoder(kind, **params)
    for m in list(model.enc) + list(model.dec):
        m.padding = (m.kernel_size[0], m.kernel_size[1])
    return model


class ConvDetachedForward(A.ConvAutoencoder):
    def forward(self, x):
        return super().forward(x).detach()


def conv_detached_forward(kind="dense", **params):
    own = {f.name for f in fields(A.ConvAutoencoderConfig)}
    return ConvDetachedForward(A.ConvAutoencoderConfig(**{k: v for k, v in params.items() if k in own}))


class ConvTanhInside(A.ConvAutoencoder):
    """tanh between layers whatever the configured activation."""

    def encode(self, x):
        sizes = []
        for conv in self.enc:
            sizes.append(x.shape[-2:])
            x = torch.tanh(conv(x))
        return x, sizes


def conv_tanh_inside(kind="dense", **params):
    own = {f.name for f in fields(A.ConvAutoencoderConfig)}
    return ConvTanhInside(A.ConvAutoencoderConfig(**{k: v for k, v in params.items() if k in own}))


def clamps_widths(kind="dense", **params):
    """Silently repairs a zero or negative width (and an empty layer list) instead of rejecting it."""
    if "hidden" in params:
        params["hidden"] = [max(1, int(h)) for h in params["hidden"]] or [1]
    return A.build_autoencoder(kind, **params)


def rounds_kernel_up(kind="dense", **params):
    """Accepts an even kernel size by rounding it up to the next odd one."""
    if "kernel_size" in params:
        params["kernel_size"] = int(params["kernel_size"]) | 1
    return A.build_autoencoder(kind, **params)


MUTANTS["ae_conv_matches_torch_layers"] = [
    broken("padding K, not (K − 1)/2", replaced(CONV, conv_padding_k)),
    broken("detached reconstruction", replaced(CONV, conv_detached_forward)),
    broken("tanh inside, configured ReLU", replaced(CONV, conv_tanh_inside)),
]
MUTANTS["ae_config_rejects_invalid"] = [
    broken("zero width repaired", replaced(AE, clamps_widths)),
    broken("even kernel repaired", replaced(AE, rounds_kernel_up)),
]
