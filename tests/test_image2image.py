"""The reference image-to-image models beyond the suite's configuration: the PatchGAN receptive fields
Isola et al. report (16, 70 and 286 pixels for 1, 3 and 5 stride-2 layers), the receptive-field and
output-size checks at other depths, style mixing at other depths, and the factory's kinds (the broken
variants are in tests/mutants/image2image.py)."""
from __future__ import annotations

import pytest

import reference_impls.image2image as I
from harness.testing import run_check
from mutants.image2image import MODEL, STYLE


@pytest.mark.parametrize("n_layers,field", [(1, 16), (3, 70), (5, 286)])
def test_patchgan_receptive_fields_of_the_paper(n_layers, field):
    d = I.Pix2Pix(in_channels=3, out_channels=3, hidden=4, n_layers=n_layers).D
    assert I.receptive_field(d.layer_specs()) == field


@pytest.mark.parametrize("n_layers", [1, 3])
def test_patchgan_checks_at_other_depths(n_layers):
    subject = MODEL.with_params(n_layers=n_layers, hidden=4, image_size=32)
    for name in ("patchgan_receptive_field_matches_autograd", "patchgan_output_size_formula"):
        out = run_check(name, subject)
        assert out.passed, out.line()


@pytest.mark.parametrize("layers", [1, 2, 6])
def test_style_mixing_at_other_depths(layers):
    out = run_check("stylegan_mixing_routes_codes", STYLE.with_params(style_layers=layers), dtype="float32")
    assert out.passed, out.line()


def test_factory_kinds():
    assert isinstance(I.build_image2image("pix2pix"), I.Pix2Pix)
    assert isinstance(I.build_image2image("stylegan"), I.StyleMixingGenerator)
    with pytest.raises(ValueError, match="unknown kind"):
        I.build_image2image("cyclegan")
