"""Broken variants of the image-to-image checks (harness.checks.image2image): a Gram matrix over the
wrong axes or normalisation, a receptive field without the jumps, a ceil in the output-size formula,
an L2 where pix2pix has L1, a detached generator output, an unmasked or inverted inpainting loss,
an off-by-one crossover, ..."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import reference_impls.image2image as I
from harness.testing import broken, patched, replaced, subject_from

MOD = "reference_impls.image2image"
# the suite's subject params (suites/image2image.yaml)
PARAMS = {"kind": "pix2pix", "in_channels": 3, "out_channels": 3, "hidden": 8, "n_layers": 2, "image_size": 16,
          "w_dim": 8, "style_layers": 4, "style_channels": 8, "resolution": 4}
MODEL = subject_from("reference_impls.image2image:build_image2image", PARAMS)
STYLE = MODEL.with_params(kind="stylegan")


def factory(pix2pix=I.Pix2Pix, stylegan=I.StyleMixingGenerator):
    """build_image2image with broken model classes in place of the reference ones."""

    def build(kind="pix2pix", *, in_channels=3, out_channels=3, hidden=8, n_layers=2, w_dim=8, style_layers=4,
              style_channels=8, resolution=4, image_size=16):
        if kind == "pix2pix":
            return pix2pix(in_channels=in_channels, out_channels=out_channels, hidden=hidden, n_layers=n_layers)
        return stylegan(w_dim=w_dim, style_layers=style_layers, style_channels=style_channels,
                        out_channels=out_channels, resolution=resolution)

    build.__qualname__ = f"build_image2image({pix2pix.__name__}, {stylegan.__name__})"
    return build


# --- Gram matrix and style loss ----------------------------------------------------------------
def gram_hw_norm(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def gram_positions(features):
    """Fᵀ F: the (H·W, H·W) Gram matrix of positions, not of channels."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f.transpose(1, 2) @ f / (c * h * w)


def gram_shifted(features):
    """F · roll(F)ᵀ: products of neighbouring positions (neither symmetric nor layout-free)."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.roll(1, dims=-1).transpose(1, 2) / (c * h * w)


def gram_shifted_symmetrised(features):
    g = gram_shifted(features)
    return (g + g.transpose(1, 2)) / 2


def gram_trace_centred(features):
    g = I.gram_matrix(features)
    c = g.shape[-1]
    return g - g.diagonal(dim1=1, dim2=2).sum(-1)[:, None, None] / c * torch.eye(c, dtype=g.dtype, device=g.device)


def style_loss_mixed_norms(features, style_features):
    d = I.gram_matrix(features) - gram_hw_norm(style_features)
    return 0.25 * d.pow(2).sum(dim=(1, 2)).mean()


def style_loss_with_linear_term(features, style_features):
    """Zero at S = F, but with a non-zero gradient there."""
    d = I.gram_matrix(features) - I.gram_matrix(style_features)
    return 0.25 * d.pow(2).sum(dim=(1, 2)).mean() + d.sum(dim=(1, 2)).mean()


def style_loss_without_quarter(features, style_features):
    d = I.gram_matrix(features) - I.gram_matrix(style_features)
    return d.pow(2).sum(dim=(1, 2)).mean()


def style_loss_mse(features, style_features):
    return F.mse_loss(I.gram_matrix(features), I.gram_matrix(style_features))


def style_loss_detached(features, style_features):
    d = I.gram_matrix(features.detach()) - I.gram_matrix(style_features)
    return 0.25 * d.pow(2).sum(dim=(1, 2)).mean()


# --- receptive field and output size -------------------------------------------------------------
def rf_without_jumps(specs):
    return 1 + sum(k - 1 for k, _s, _p in specs)


def rf_jump_updated_first(specs):
    r, j = 1, 1
    for k, s, _p in specs:
        j *= s
        r += (k - 1) * j
    return r


def out_size_ceil(n, kernel, stride=1, padding=0):
    return -(-(n + 2 * padding - kernel) // stride) + 1


def out_size_single_padding(n, kernel, stride=1, padding=0):
    return (n + padding - kernel) // stride + 1


class FirstStrideMisreported(I.Pix2Pix):
    """layer_specs reports stride 1 for D's first convolution."""

    def layer_specs(self):
        specs = super().layer_specs()
        return [(specs[0][0], 1, specs[0][2])] + specs[1:]


class PaddingMisreported(I.Pix2Pix):
    """layer_specs reports padding 0 for D's last convolution."""

    def layer_specs(self):
        specs = super().layer_specs()
        return specs[:-1] + [(specs[-1][0], specs[-1][1], 0)]


class Dilated(I.Pix2Pix):
    """D's third convolution is dilated (its field is wider than its kernel says)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        conv = self.D.convs[2]
        conv.dilation, conv.padding = (2, 2), (3, 3)


# --- pix2pix -----------------------------------------------------------------------------------
def _adv(logits):
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def p2p_l2(D, x, fake, target, lam=100.0):
    return _adv(D(x, fake)) + lam * (fake - target).pow(2).mean()


def p2p_lambda_on_gan(D, x, fake, target, lam=100.0):
    return lam * _adv(D(x, fake)) + (fake - target).abs().mean()


def p2p_saturating(D, x, fake, target, lam=100.0):
    return -F.softplus(D(x, fake)).mean() + lam * (fake - target).abs().mean()


def p2p_unconditioned(D, x, fake, target, lam=100.0):
    return _adv(D(torch.zeros_like(x), fake)) + lam * (fake - target).abs().mean()


def p2p_detached(D, x, fake, target, lam=100.0):
    return _adv(D(x, fake.detach())) + lam * (fake - target).abs().mean()


def p2p_huber(D, x, fake, target, lam=100.0):
    return _adv(D(x, fake)) + lam * F.smooth_l1_loss(fake, target)


# --- inpainting --------------------------------------------------------------------------------
def l2_unmasked(pred, target, mask):
    return (target - pred).pow(2).flatten(1).sum(-1).mean()


def l2_inverted(pred, target, mask):
    return I.masked_l2(pred, target, 1 - mask)


def l2_mask_on_pred_only(pred, target, mask):
    return (target - mask * pred).pow(2).flatten(1).sum(-1).mean()


def l2_mean_over_mask(pred, target, mask):
    d = mask * (target - pred)
    return d.pow(2).sum() / mask.expand_as(d).sum()


def inpaint_raw_pred(D, x, pred, mask, lam_rec=0.999, lam_adv=0.001):
    return lam_rec * I.masked_l2(pred, x, mask) + lam_adv * _adv(D((1 - mask) * x, pred))


def inpaint_full_condition(D, x, pred, mask, lam_rec=0.999, lam_adv=0.001):
    """D conditioned on the whole image x: the missing region leaks into the condition."""
    return lam_rec * I.masked_l2(pred, x, mask) + lam_adv * _adv(D(x, mask * pred + (1 - mask) * x))


def inpaint_weights_swapped(D, x, pred, mask, lam_rec=0.999, lam_adv=0.001):
    return I.inpainting_loss(D, x, pred, mask, lam_adv, lam_rec)


# --- style mixing ------------------------------------------------------------------------------
def mix_off_by_one(w1, w2, crossover, n_layers):
    return I.mix_codes(w1, w2, crossover + 1, n_layers)


class OffByOneMixing(I.StyleMixingGenerator):
    """Layers l ≤ c get w1."""

    def forward(self, w1, w2=None, crossover=None):
        L = len(self.layers)
        if w2 is None:
            return super().forward(w1)
        c = L // 2 if crossover is None else crossover
        return self.synthesis(I.mix_codes(w1, w2, c + 1, L))


class SwappedMixing(I.StyleMixingGenerator):
    """Layers before the crossover get w2, after it w1."""

    def forward(self, w1, w2=None, crossover=None):
        return super().forward(w1) if w2 is None else super().forward(w2, w1, crossover)


class FirstCodeEverywhere(I.StyleMixingGenerator):
    """synthesis modulates every layer with ws[:, 0]."""

    def synthesis(self, ws):
        return super().synthesis(ws[:, :1].expand_as(ws))


MUTANTS = {
    "style_gram_matches_einsum": [
        broken("normalised by H·W only", patched(MOD, gram_matrix=gram_hw_norm)),
        broken("Gram of positions (Fᵀ F)", patched(MOD, gram_matrix=gram_positions)),
        broken("normalised by H·W only (float32)", patched(MOD, gram_matrix=gram_hw_norm), dtype="float32"),
    ],
    "style_gram_symmetric_psd": [
        broken("products with shifted positions", patched(MOD, gram_matrix=gram_shifted)),
        broken("trace-centred", patched(MOD, gram_matrix=gram_trace_centred)),
    ],
    "style_gram_spatial_permutation_invariant": [
        broken("symmetrised neighbour products", patched(MOD, gram_matrix=gram_shifted_symmetrised)),
        broken("products with shifted positions (float32)", patched(MOD, gram_matrix=gram_shifted), dtype="float32"),
    ],
    "style_loss_zero_on_itself": [
        broken("style Gram normalised differently", patched(MOD, style_loss=style_loss_mixed_norms)),
        broken("linear term: zero value, non-zero gradient", patched(MOD, style_loss=style_loss_with_linear_term)),
    ],
    "style_loss_gradient_closed_form": [
        broken("missing ¼", patched(MOD, style_loss=style_loss_without_quarter)),
        broken("mean over C² entries (MSE)", patched(MOD, style_loss=style_loss_mse)),
        broken("features detached", patched(MOD, style_loss=style_loss_detached)),
    ],
    "patchgan_receptive_field_matches_autograd": [
        broken("no jumps: 1 + Σ(k − 1)", patched(MODEL, receptive_field=rf_without_jumps)),
        broken("jump updated before the layer", patched(MODEL, receptive_field=rf_jump_updated_first)),
        broken("first stride misreported", replaced(MODEL, factory(pix2pix=FirstStrideMisreported))),
        broken("dilated conv", replaced(MODEL, factory(pix2pix=Dilated))),
    ],
    "patchgan_output_size_formula": [
        broken("ceil for floor", patched(MODEL, conv_output_size=out_size_ceil)),
        broken("padding counted once", patched(MODEL, conv_output_size=out_size_single_padding)),
        broken("padding misreported", replaced(MODEL, factory(pix2pix=PaddingMisreported))),
    ],
    "pix2pix_generator_objective_closed_form": [
        broken("L2 for L1", patched(MODEL, pix2pix_generator_loss=p2p_l2)),
        broken("λ on the GAN term", patched(MODEL, pix2pix_generator_loss=p2p_lambda_on_gan)),
        broken("saturating GAN term", patched(MODEL, pix2pix_generator_loss=p2p_saturating)),
        broken("D not conditioned on x", patched(MODEL, pix2pix_generator_loss=p2p_unconditioned)),
        broken("L2 for L1 (float32)", patched(MODEL, pix2pix_generator_loss=p2p_l2), dtype="float32"),
    ],
    "pix2pix_generator_gradient_is_sum_of_terms": [
        broken("G(x) detached in the GAN term", patched(MODEL, pix2pix_generator_loss=p2p_detached)),
        broken("smooth L1 for L1", patched(MODEL, pix2pix_generator_loss=p2p_huber)),
    ],
    "inpainting_masked_l2_ignores_known_pixels": [
        broken("unmasked L2", patched(MOD, masked_l2=l2_unmasked)),
        broken("mask inverted", patched(MOD, masked_l2=l2_inverted)),
        broken("mask on the prediction only", patched(MOD, masked_l2=l2_mask_on_pred_only)),
        broken("unmasked L2 (float32)", patched(MOD, masked_l2=l2_unmasked), dtype="float32"),
    ],
    "inpainting_masked_l2_closed_form": [
        broken("mean over the masked entries", patched(MOD, masked_l2=l2_mean_over_mask)),
        broken("mask inverted", patched(MOD, masked_l2=l2_inverted)),
    ],
    "inpainting_joint_loss_closed_form": [
        broken("D sees the raw prediction", patched(MOD, inpainting_loss=inpaint_raw_pred)),
        broken("D conditioned on the whole image", patched(MOD, inpainting_loss=inpaint_full_condition)),
        broken("weights swapped", patched(MOD, inpainting_loss=inpaint_weights_swapped)),
    ],
    "stylegan_mixing_routes_codes": [
        broken("off-by-one crossover", replaced(STYLE, factory(stylegan=OffByOneMixing))),
        broken("w1 and w2 swapped", replaced(STYLE, factory(stylegan=SwappedMixing))),
        broken("every layer reads the first code", replaced(STYLE, factory(stylegan=FirstCodeEverywhere))),
        broken("mix_codes off by one", patched(STYLE, mix_codes=mix_off_by_one)),
        broken("off-by-one crossover (float32)", replaced(STYLE, factory(stylegan=OffByOneMixing)), dtype="float32"),
    ],
}


# --- architectures, gradients through the composites -----------------------------------------------
class _ActAfterLastD(I.PatchDiscriminator):
    """LeakyReLU after the last convolution too (the logits are rectified)."""

    def forward(self, x, y):
        return F.leaky_relu(super().forward(x, y), 0.2)


class LogitsRectified(I.Pix2Pix):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        d = _ActAfterLastD.__new__(_ActAfterLastD)
        d.__dict__ = self.D.__dict__
        self.D = d


class LastStrideTwo(I.Pix2Pix):
    """D's last convolution has stride 2 (and reports it)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.D.convs[-1].stride = (2, 2)


class ReluD(I.Pix2Pix):
    """ReLU where D has LeakyReLU 0.2."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        convs = self.D.convs

        def forward(x, y):
            h = torch.cat([x, y], dim=1)
            for i, conv in enumerate(convs):
                h = conv(h)
                if i < len(convs) - 1:
                    h = F.relu(h)
            return h

        self.D.forward = forward


class _UNetVariant(I.UNetGenerator):
    act_down, act_up, act_out, skip = (lambda h: F.leaky_relu(h, 0.2)), F.relu, torch.tanh, True

    def forward(self, x):
        d1 = type(self).act_down(self.down1(x))
        d2 = type(self).act_down(self.down2(d1))
        u1 = type(self).act_up(self.up1(d2))
        return type(self).act_out(self.up2(torch.cat([u1, d1] if type(self).skip else [d1, u1], dim=1)))


def _pix2pix_with(unet):
    class P(I.Pix2Pix):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            g = unet.__new__(unet)
            g.__dict__ = self.G.__dict__
            self.G = g

    P.__name__ = f"Pix2Pix_{unet.__name__}"
    return P


class UNetReluDown(_UNetVariant):
    act_down = F.relu


class UNetSigmoidOut(_UNetVariant):
    act_out = torch.sigmoid


class UNetSkipSwapped(_UNetVariant):
    skip = False


class FakeLogitsDetached(I.Pix2Pix):
    """D(x, G(x)) computed on a detached G(x): the adversarial term cannot train G."""

    def forward(self, x, y):
        fake = self.G(x)
        return fake, self.D(x, fake.detach()), self.D(x, y)


class FakeLogitsOnY(I.Pix2Pix):
    """The second output is D(x, y) (the real pair), not D(x, G(x))."""

    def forward(self, x, y):
        return self.G(x), self.D(x, y), self.D(x, y)


def inpaint_detached(D, x, pred, mask, lam_rec=0.999, lam_adv=0.001):
    return I.inpainting_loss(D, x, pred, mask, lam_rec, lam_adv).detach()


def inpaint_adv_on_raw_pred(D, x, pred, mask, lam_rec=0.999, lam_adv=0.001):
    """Same value, but the GAN term's gradient reaches the known pixels (completed image not masked in backward)."""
    completed = mask * pred + (1 - mask) * x
    completed = completed.detach() + (pred - pred.detach())
    adv = _adv(D((1 - mask) * x, completed))
    return lam_rec * I.masked_l2(pred, x, mask) + lam_adv * adv


def mix_detached(w1, w2, crossover, n_layers):
    return I.mix_codes(w1, w2, crossover, n_layers).detach()


def mix_w2_only_grad(w1, w2, crossover, n_layers):
    """Right codes; the gradient to w1 stopped."""
    return I.mix_codes(w1.detach(), w2, crossover, n_layers)


class _StyledVariant(I.StyledConv):
    eps, act = 1e-5, staticmethod(lambda h: F.leaky_relu(h, 0.2))

    def forward(self, x, w):
        h = self.conv(x)
        h = (h - h.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(h.var(dim=(2, 3), keepdim=True, unbiased=False)
                                                               + type(self).eps)
        scale, bias = self.affine(w).chunk(2, dim=-1)
        return type(self).act((1 + scale[..., None, None]) * h + bias[..., None, None])


class StyledEps1e3(_StyledVariant):
    eps = 1e-3


class StyledRelu(_StyledVariant):
    act = staticmethod(F.relu)


class StyledUnbiasedVar(I.StyledConv):
    def forward(self, x, w):
        h = self.conv(x)
        h = (h - h.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(h.var(dim=(2, 3), keepdim=True) + 1e-5)
        scale, bias = self.affine(w).chunk(2, dim=-1)
        return F.leaky_relu((1 + scale[..., None, None]) * h + bias[..., None, None], 0.2)


def _style_with(layer_cls):
    class G(I.StyleMixingGenerator):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            for m in self.layers:
                m.__class__ = layer_cls

    G.__name__ = f"StyleMixing_{layer_cls.__name__}"
    return G


MUTANTS.update({
    "patchgan_discriminator_matches_functional": [
        broken("logits rectified", replaced(MODEL, factory(pix2pix=LogitsRectified))),
        broken("last conv stride 2", replaced(MODEL, factory(pix2pix=LastStrideTwo))),
        broken("ReLU in D", replaced(MODEL, factory(pix2pix=ReluD))),
    ],
    "pix2pix_unet_matches_functional": [
        broken("ReLU on the way down", replaced(MODEL, factory(pix2pix=_pix2pix_with(UNetReluDown)))),
        broken("sigmoid output", replaced(MODEL, factory(pix2pix=_pix2pix_with(UNetSigmoidOut)))),
        broken("skip concatenated first", replaced(MODEL, factory(pix2pix=_pix2pix_with(UNetSkipSwapped)))),
        broken("sigmoid output (float32)", replaced(MODEL, factory(pix2pix=_pix2pix_with(UNetSigmoidOut))),
               dtype="float32"),
    ],
    "pix2pix_forward_composes_g_and_d": [
        broken("fake logits on a detached G(x)", replaced(MODEL, factory(pix2pix=FakeLogitsDetached))),
        broken("second output on the real pair", replaced(MODEL, factory(pix2pix=FakeLogitsOnY))),
    ],
    "inpainting_joint_loss_gradient": [
        broken("loss detached", patched(MOD, PARAMS, inpainting_loss=inpaint_detached)),
        broken("GAN gradient reaches the known pixels", patched(MOD, PARAMS, inpainting_loss=inpaint_adv_on_raw_pred)),
        broken("weights swapped", patched(MOD, PARAMS, inpainting_loss=inpaint_weights_swapped)),
    ],
    "stylegan_mix_codes_gradient": [
        broken("mixed codes detached", patched(STYLE, mix_codes=mix_detached)),
        broken("no gradient to w1", patched(STYLE, mix_codes=mix_w2_only_grad)),
        broken("off-by-one crossover", patched(STYLE, mix_codes=mix_off_by_one)),
    ],
    "stylegan_styled_layers_match_functional": [
        broken("ε = 1e-3", replaced(STYLE, factory(stylegan=_style_with(StyledEps1e3)))),
        broken("ReLU after AdaIN", replaced(STYLE, factory(stylegan=_style_with(StyledRelu)))),
        broken("unbiased variance", replaced(STYLE, factory(stylegan=_style_with(StyledUnbiasedVar)))),
    ],
})
