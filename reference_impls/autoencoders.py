"""Autoencoders: undercomplete, overcomplete, deep (stacked), tied, sparse, denoising, contractive,
convolutional, written from their definitions.

An autoencoder is an encoder h = f(x) and a decoder x' = g(h) trained to make x' close to x
(notes 002: L(x, x') = ‖x − x'‖²). Undercomplete: code size k < input size d; overcomplete: k > d;
deep: several encoder layers, mirrored by the decoder. Regularised variants add a penalty on the
code: sparse (L1 on h, or the KL-ρ penalty on mean activations), contractive (‖∂h/∂x‖²_F); the
denoising autoencoder reconstructs the clean x from a corrupted x̃.

Shapes: batch first. Dense models take x (B, d) and return x' (B, d) with the code h (B, k);
the convolutional model takes (B, C, H, W) and returns the same shape. Per-sample quantities
(reconstruction error, L1 and contractive penalties) sum over non-batch axes and return (B,);
the KL-ρ penalty is a batch statistic (ρ̂ is a batch mean) and returns a scalar.

Conventions: a tied decoder uses the encoder's weight transposed, *the same tensor* (W_dec = Wᵀ,
shared storage), with its own biases. The hidden ``activation`` follows every encoder layer
(the code included) and every decoder layer but the last, which uses ``output_activation``.
Notes 002 say a sparse penalty makes the model "use only a small subset of the input nodes";
the standard definition (used here) penalises the *hidden* activations.

References
1. Notes 002 ("Autoencoder": tied weights, under/overcomplete, linear autoencoders and PCA,
   sparse (L1 and KL), denoising with noise_factor and clipping, contractive, deep, convolutional);
   notes 003 ("Autoencoders": compression and denoising autoencoders).
2. Baldi, Hornik (1989), "Neural networks and principal component analysis: learning from
   examples without local minima", Neural Networks 2(1).
3. Vincent, Larochelle, Bengio, Manzagol (2008), "Extracting and Composing Robust Features with
   Denoising Autoencoders", ICML.
4. Rifai, Vincent, Muller, Glorot, Bengio (2011), "Contractive Auto-Encoders: Explicit Invariance
   During Feature Extraction", ICML (closed form of ‖J‖²_F for a sigmoid encoder, eq. 7).
5. Ng (2011), "Sparse autoencoder", CS294A lecture notes (the KL-ρ sparsity penalty).
6. Masci, Meier, Cireşan, Schmidhuber (2011), "Stacked Convolutional Auto-Encoders for
   Hierarchical Feature Extraction", ICANN.
7. Notes 002 ("How to train an autoencoder": MSE, L1 or binary cross-entropy reconstruction losses;
   "Regularisation in overcomplete autoencoders": an L2 term; "Visualising autoencoders": the inputs
   that maximally activate each hidden unit); notes 003 ("Denoising autoencoders": "some features are
   removed randomly", Vincent et al.'s masking noise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AutoencoderConfig", "ConvAutoencoderConfig", "Autoencoder", "ConvAutoencoder", "build_autoencoder",
    "reconstruction_error", "l1_activity_penalty", "bernoulli_kl", "kl_sparsity_penalty", "corrupt",
    "contractive_penalty", "ACTIVATIONS", "mask_corrupt", "l1_reconstruction_error", "bce_reconstruction_error",
    "l2_weight_penalty", "max_activating_inputs",
]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}


# --------------------------------------------------------------------------------------------
# functional cores
# --------------------------------------------------------------------------------------------
def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L(x, x') = ‖x − x'‖² per sample (summed over non-batch axes). (B, ...) -> (B,)."""
    return (x - x_hat).pow(2).reshape(x.shape[0], -1).sum(-1)


def l1_activity_penalty(h: torch.Tensor, lam: float) -> torch.Tensor:
    """Ω(h) = λ ‖h‖₁ = λ Σ_j |h_j| per sample. (B, k) -> (B,)."""
    return lam * h.abs().reshape(h.shape[0], -1).sum(-1)


def bernoulli_kl(rho: float | torch.Tensor, rho_hat: torch.Tensor) -> torch.Tensor:
    """KL(Bern(ρ) ‖ Bern(ρ̂)) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)), elementwise (0 < ρ, ρ̂ < 1)."""
    rho = torch.as_tensor(rho, dtype=rho_hat.dtype, device=rho_hat.device)
    return rho * (torch.log(rho) - torch.log(rho_hat)) + (1.0 - rho) * (torch.log1p(-rho) - torch.log1p(-rho_hat))


def kl_sparsity_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Ω = Σ_j KL(ρ ‖ ρ̂_j) = Σ_j ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j)), ρ̂_j = (1/B) Σ_b h_bj.

    Args: h (B, k) with entries in (0, 1) (a sigmoid code); rho the target mean activation.
    Returns a scalar: zero iff every ρ̂_j = ρ.
    """
    rho_hat = h.mean(0)  # (k,)
    return bernoulli_kl(rho, rho_hat).sum()


def corrupt(x: torch.Tensor, noise_factor: float, generator: torch.Generator | None = None,
            noise: torch.Tensor | None = None, clip: bool = True) -> torch.Tensor:
    """x̃ = clip(x + noise_factor · ε, 0, 1) with ε ~ N(0, I) (notes 002's denoising recipe).

    ``noise`` injects ε (same shape as x); otherwise it is drawn from ``generator`` (on the
    generator's device), or torch's global RNG when None. ``clip=False`` keeps x + noise_factor·ε.
    """
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    y = x + noise_factor * noise
    return y.clamp(0.0, 1.0) if clip else y


def mask_corrupt(x: torch.Tensor, p: float, generator: torch.Generator | None = None,
                 keep: torch.Tensor | None = None) -> torch.Tensor:
    """Masking noise (Vincent et al. 2008; notes 003: "some features are removed randomly"):
    x̃ = m ⊙ x with m_i ~ Bernoulli(1 − p) independently per entry, so each feature is zeroed with
    probability p and the surviving features are left *unchanged* (no 1/(1 − p) rescaling: this is
    not inverted dropout).

    ``keep`` injects the 0/1 mask m (same shape as x); otherwise u ~ U[0, 1) is drawn from
    ``generator`` (on x's device; torch's global RNG when None) and m = 1[u ≥ p].
    """
    if keep is None:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        keep = u >= p
    return torch.where(keep.to(torch.bool), x, torch.zeros_like(x))


def l1_reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L(x, x') = ‖x − x'‖₁ = Σ_i |x_i − x'_i| per sample (summed over non-batch axes). (B, ...) -> (B,)."""
    return (x - x_hat).abs().reshape(x.shape[0], -1).sum(-1)


def bce_reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """L(x, x') = −Σ_i [x_i log x'_i + (1 − x_i) log(1 − x'_i)] per sample, for targets x in [0, 1]
    and reconstructions x' in (0, 1) (a sigmoid output). Each log is clamped at −100, as
    torch.nn.functional.binary_cross_entropy does, so x' = 0 or 1 gives a finite loss. (B, ...) -> (B,)."""
    log_p = torch.log(x_hat).clamp_min(-100.0)
    log_q = torch.log1p(-x_hat).clamp_min(-100.0)
    return -(x * log_p + (1.0 - x) * log_q).reshape(x.shape[0], -1).sum(-1)


def l2_weight_penalty(weights, lam: float) -> torch.Tensor:
    """Ω(W) = λ Σ_W ‖W‖²_F = λ Σ_W Σ_ij W_ij² over the given weight tensors (weight decay; notes 002's
    "L2-regularization term" for overcomplete autoencoders; no ½, so ∂Ω/∂W = 2λW). A tensor listed
    twice counts twice: pass each parameter once (a tied weight once). Returns a scalar."""
    weights = list(weights)
    total = weights[0].pow(2).sum()
    for W in weights[1:]:
        total = total + W.pow(2).sum()
    return lam * total


def max_activating_inputs(W: torch.Tensor) -> torch.Tensor:
    """The unit-norm inputs that maximally activate each hidden unit of a layer h = a(Wx + b) with a
    monotone increasing a (sigmoid, tanh, relu): x*_j = argmax_{‖x‖₂ = 1} w_jᵀx = w_j / ‖w_j‖₂
    (Cauchy–Schwarz), w_j the j-th row of W. (k, d) -> (k, d), one input per row."""
    return W / torch.linalg.vector_norm(W, dim=1, keepdim=True)


def contractive_penalty(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """‖J_f(x)‖²_F = Σ_j (h_j (1 − h_j))² Σ_i W_ji² for a sigmoid encoder h = σ(Wx + b).

    Args: h (B, k) the code, W (k, d) the encoder weight. Returns (B,).
    """
    return (h * (1.0 - h)).pow(2) @ W.pow(2).sum(1)


# --------------------------------------------------------------------------------------------
# dense autoencoder (undercomplete / overcomplete / deep / tied)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AutoencoderConfig:
    in_features: int = 64
    hidden: tuple[int, ...] = (16,)      # encoder widths; the last is the code size k
    activation: str = "sigmoid"          # after every encoder layer and every inner decoder layer
    output_activation: str = "linear"    # after the last decoder layer ("sigmoid" for [0, 1] data)
    tied: bool = False                   # decoder weight = encoder weight transposed (shared)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(n) for n in self.hidden))
        if not self.hidden or min(self.hidden) <= 0:
            raise ValueError(f"hidden must list positive widths, got {self.hidden}")
        for a in (self.activation, self.output_activation):
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r}; allowed: {', '.join(ACTIVATIONS)}")


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    """U(−1/√fan_in, 1/√fan_in) initialisation (as torch.nn.Linear's bias)."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class Autoencoder(nn.Module):
    """Dense autoencoder d -> n₁ -> ... -> k -> ... -> n₁ -> d.

    Encoder layer l: h_{l+1} = a(W_l h_l + b_l) with W_l (n_{l+1}, n_l). Decoder layer j mirrors
    encoder layer L−1−j: its weight (n_{L−1−j}, n_{L−j}) is ``W_dec[j]``, or ``W_enc[L−1−j]ᵀ``
    (the same storage) when tied.
    """

    def __init__(self, config: AutoencoderConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else AutoencoderConfig(**kwargs)
        sizes = (cfg.in_features,) + cfg.hidden
        self.sizes = sizes
        self.W_enc = nn.ParameterList([_uniform((n_out, n_in), n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])])
        self.b_enc = nn.ParameterList([_uniform((n_out,), n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])])
        rev = sizes[::-1]
        self.W_dec = nn.ParameterList(
            [] if cfg.tied else [_uniform((n_out, n_in), n_in) for n_in, n_out in zip(rev[:-1], rev[1:])])
        self.b_dec = nn.ParameterList([_uniform((n_out,), n_in) for n_in, n_out in zip(rev[:-1], rev[1:])])

    @property
    def num_layers(self) -> int:
        return len(self.config.hidden)

    def encoder_weight(self, l: int) -> torch.Tensor:
        """W_l, shape (n_{l+1}, n_l)."""
        return self.W_enc[l]

    def decoder_weight(self, j: int) -> torch.Tensor:
        """Decoder layer j's weight, shape (n_{L−1−j}, n_{L−j}); a transposed view of W_{L−1−j} when tied."""
        return self.W_enc[self.num_layers - 1 - j].t() if self.config.tied else self.W_dec[j]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> code h (B, k)."""
        act = ACTIVATIONS[self.config.activation]
        h = x
        for W, b in zip(self.W_enc, self.b_enc):
            h = act(F.linear(h, W, b))
        return h

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """(B, k) -> reconstruction x' (B, d)."""
        act, out = ACTIVATIONS[self.config.activation], ACTIVATIONS[self.config.output_activation]
        y = h
        for j in range(self.num_layers):
            y = F.linear(y, self.decoder_weight(j), self.b_dec[j])
            y = out(y) if j == self.num_layers - 1 else act(y)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# --------------------------------------------------------------------------------------------
# convolutional autoencoder
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvAutoencoderConfig:
    in_channels: int = 1
    channels: tuple[int, ...] = (8, 16)  # encoder conv widths; each conv halves H and W (stride 2)
    kernel_size: int = 3                 # odd; padding (k − 1)/2
    activation: str = "relu"
    output_activation: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        for a in (self.activation, self.output_activation):
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r}; allowed: {', '.join(ACTIVATIONS)}")


class ConvAutoencoder(nn.Module):
    """Conv2d(stride 2) encoder, ConvTranspose2d(stride 2) decoder; output shape = input shape.

    Encoder conv l maps (C_l, H_l, W_l) -> (C_{l+1}, ⌈H_l/2⌉, ⌈W_l/2⌉) (O = ⌊(W − K + 2P)/S⌋ + 1
    with P = (K − 1)/2, S = 2); the decoder's transposed convs are given the encoder's input sizes
    as ``output_size``, so odd sizes round-trip exactly.
    """

    def __init__(self, config: ConvAutoencoderConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else ConvAutoencoderConfig(**kwargs)
        ch = (cfg.in_channels,) + cfg.channels
        k, p = cfg.kernel_size, cfg.kernel_size // 2
        self.enc = nn.ModuleList([nn.Conv2d(a, b, k, stride=2, padding=p) for a, b in zip(ch[:-1], ch[1:])])
        rev = ch[::-1]
        self.dec = nn.ModuleList([nn.ConvTranspose2d(a, b, k, stride=2, padding=p) for a, b in zip(rev[:-1], rev[1:])])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Size]]:
        """(B, C, H, W) -> code (B, C_L, H_L, W_L) and the spatial sizes each conv saw."""
        act = ACTIVATIONS[self.config.activation]
        sizes = []
        for conv in self.enc:
            sizes.append(x.shape[-2:])
            x = act(conv(x))
        return x, sizes

    def decode(self, h: torch.Tensor, sizes: list[torch.Size] | None = None) -> torch.Tensor:
        """Code -> reconstruction; ``sizes`` (from :meth:`encode`) fixes each layer's output size."""
        act, out = ACTIVATIONS[self.config.activation], ACTIVATIONS[self.config.output_activation]
        n = len(self.dec)
        for j, deconv in enumerate(self.dec):
            size = None if sizes is None else list(sizes[n - 1 - j])
            h = deconv(h, output_size=size)
            h = out(h) if j == n - 1 else act(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, sizes = self.encode(x)
        return self.decode(h, sizes)


def build_autoencoder(kind: str = "dense", **params) -> Autoencoder | ConvAutoencoder:
    """The family's factory: ``kind="dense"`` -> :class:`Autoencoder`, ``"conv"`` -> :class:`ConvAutoencoder`.

    Each model takes its own config's fields from ``params``; a field only the other kind has
    (``in_features``, ``hidden``, ``tied`` / ``in_channels``, ``channels``, ``kernel_size``) is
    ignored, so one parameter set can size both kinds. A name neither config has is an error.
    """
    if kind not in _CONFIGS:
        raise ValueError(f"kind must be 'dense' or 'conv', got {kind!r}")
    known = {f.name for c in _CONFIGS.values() for f in fields(c)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"build_autoencoder: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    config = _CONFIGS[kind]
    own = {f.name for f in fields(config)}
    model = Autoencoder if kind == "dense" else ConvAutoencoder
    return model(config(**{k: v for k, v in params.items() if k in own}))


_CONFIGS = {"dense": AutoencoderConfig, "conv": ConvAutoencoderConfig}
