"""Unit test of the DCGAN checks' layer tracer (the variants are in tests/mutants/dcgan.py)."""
from __future__ import annotations

import torch

import reference_impls.dcgan as dcgan
from harness.checks.dcgan import _leaf_trace


def test_trace_sees_every_layer():
    # guard for the architecture checks: a forward hook fires once per leaf module in execution order
    m = dcgan.DCGAN(latent_dim=100, channels=1, image_size=16, features=8).eval()
    trace = _leaf_trace(m.generator, torch.randn(2, 100))
    assert [type(t[0]).__name__ for t in trace][:3] == ["Linear", "BatchNorm2d", "ReLU"]
