"""Every NTM check passes on reference_impls.ntm and rejects a deliberately broken variant.

Headline broken variants: a circular shift that turns the wrong way (or does not wrap), a
content addressing by raw dot product instead of cosine, add-before-erase, sharpening without
renormalisation, pytorch-ntm's all-zero initial weighting, and a memory that forgets.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

import reference_impls.ntm as ref
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

MOD = "reference_impls.ntm"
PARAMS = {"input_size": 9, "output_size": 8, "controller_size": 32, "memory_rows": 16, "memory_width": 8,
          "read_heads": 2, "shift_range": 1, "controller": "lstm"}
COPY_PARAMS = {**PARAMS, "controller": "mlp", "controller_size": 128, "memory_rows": 8, "memory_width": 6,
               "read_heads": 1}


def model(cls=ref.NTM, **params):
    return Subject(cls.__name__, cls, {**PARAMS, **params}, ref)


# --- broken cores --------------------------------------------------------------------------
def dot_product_addressing(memory, key, beta):
    """Similarity without the norms (u·v, not cosine)."""
    return torch.softmax(ref._col(beta, memory[..., 0]) * torch.einsum("bnw,bw->bn", memory, key), dim=-1)


def beta_ignored_addressing(memory, key, beta):
    return ref.content_addressing(memory, key, 1.0)


def unnormalised_interpolate(w_c, w_prev, g):
    return ref._col(g, w_c) * w_c + w_prev


def swapped_gate_interpolate(w_c, w_prev, g):
    return ref.interpolate(w_prev, w_c, g)


def reversed_shift(w, s):
    """The other direction: +d moves weight to row i − d."""
    return ref.circular_shift(w, s.flip(-1))


def zero_padded_shift(w, s):
    """Not circular: weight shifted past either end is lost."""
    K = (s.shape[-1] - 1) // 2
    padded = torch.nn.functional.pad(w, (K, K))
    n = w.shape[-1]
    return sum(s[:, K + d, None] * padded[:, K - d: K - d + n] for d in range(-K, K + 1))


def unnormalised_sharpen(w, gamma):
    return w ** ref._col(gamma, w)


def softmax_sharpen(w, gamma):
    """softmax(γ w) instead of w^γ / Σ w^γ."""
    return torch.softmax(ref._col(gamma, w) * w, dim=-1)


def sharpen_then_shift_address(memory, key, beta, g, s, gamma, w_prev):
    w = ref.interpolate(ref.content_addressing(memory, key, beta), w_prev, g)
    return ref.circular_shift(ref.sharpen(w, gamma), s)


def interpolate_last_address(memory, key, beta, g, s, gamma, w_prev):
    w = ref.sharpen(ref.circular_shift(ref.content_addressing(memory, key, beta), s), gamma)
    return ref.interpolate(w, w_prev, g)


def mean_read(memory, w):
    return memory.mean(1)


def unnormalised_read(memory, w):
    return torch.einsum("bn,bnw->bw", w * w.shape[-1], memory)


def add_then_erase(memory, w, erase, add):
    w = w.unsqueeze(-1)
    return (memory + w * add.unsqueeze(1)) * (1 - w * erase.unsqueeze(1))


def in_place_write(memory, w, erase, add):
    memory.mul_(1 - w.unsqueeze(-1) * erase.unsqueeze(1)).add_(w.unsqueeze(-1) * add.unsqueeze(1))
    return memory


def key_detached_address(memory, key, beta, g, s, gamma, w_prev):
    """The key's gradient is cut (a stray .detach())."""
    return ref.address(memory, key.detach(), beta, g, s, gamma, w_prev)


# --- broken models -------------------------------------------------------------------------
class ZeroInitialWeights(ref.NTM):
    """pytorch-ntm's start: all-zero read/write weightings (not distributions)."""

    def initial_state(self, batch, device=None, dtype=None):
        st = super().initial_state(batch, device, dtype)
        return dataclasses.replace(st, read_weights=torch.zeros_like(st.read_weights),
                                   write_weights=torch.zeros_like(st.write_weights))


class StatefulNTM(ref.NTM):
    """Keeps the last state on self and resumes from it when no state is passed."""

    def forward(self, x, state=None):
        last = getattr(self, "_last", None)
        if state is None and last is not None and last.memory.shape[0] == x.shape[0]:
            state = last
        y, st = super().forward(x, state)
        self._last = st
        return y, st


class BatchCoupledNTM(ref.NTM):
    """Initial memory shared across the batch through a batch mean of the input (leaks samples)."""

    def forward(self, x, state=None):
        y, st = super().forward(x, state)
        return y + x.mean(0, keepdim=True)[..., : y.shape[-1]], st


class ForgetfulNTM(ref.NTM):
    """Memory never keeps what is written and the read vector is reset each step: with a
    feed-forward controller nothing carries across time."""

    def step(self, x, state):
        y, new = super().step(x, state)
        return y, dataclasses.replace(new, memory=state.memory, reads=torch.zeros_like(new.reads))


# --- the reference passes ------------------------------------------------------------------
CORE_CHECKS = ["ntm_weightings_are_distributions", "ntm_content_addressing_matches_cosine_softmax",
               "ntm_large_beta_selects_most_similar", "ntm_interpolation_gate", "ntm_shift_moves_one_hot",
               "ntm_circular_shift_matches_roll", "ntm_sharpen_limits", "ntm_read_is_weighted_sum",
               "ntm_write_erase_then_add", "ntm_address_chain_order"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CORE_CHECKS)
def test_reference_cores_pass(name, dtype):
    out = run_check(name, MOD, dtype=dtype)
    assert out.passed, out.line()


def test_reference_gradcheck_passes():
    out = run_check("ntm_addressing_gradcheck", MOD)
    assert out.passed, out.line()


@pytest.mark.parametrize("controller", ["lstm", "mlp"])
@pytest.mark.parametrize("name", ["ntm_model_weightings_are_distributions", "ntm_state_is_explicit"])
def test_reference_model_passes(name, controller):
    out = run_check(name, model(controller=controller))
    assert out.passed, out.line()


def test_copy_task_reference_passes():
    out = run_check("ntm_copy_task", subject_from("reference_impls.ntm:NTM", COPY_PARAMS))
    assert out.passed, out.line()


def test_copy_task_rejects_forgetful_memory():
    """With a memory that forgets, the outputs during the recall phase (blank inputs) cannot
    depend on the sequence at all, so no step budget helps: a short run already shows the bit
    error at chance (~50 %), not merely above 1 %."""
    out = run_check("ntm_copy_task", Subject("forgetful", ForgetfulNTM, COPY_PARAMS, ref), steps=25)
    assert not run_check("ntm_copy_task", Subject("forgetful", ForgetfulNTM, COPY_PARAMS, ref), steps=25).passed
    assert float(out.observed) > 0.4, out.line()


# --- broken cores are rejected ---------------------------------------------------------------
def test_distributions_reject_unnormalised_stages():
    assert not run_check("ntm_weightings_are_distributions", patched(MOD, interpolate=unnormalised_interpolate)).passed
    assert not run_check("ntm_weightings_are_distributions", patched(MOD, sharpen=unnormalised_sharpen)).passed
    assert not run_check("ntm_weightings_are_distributions", patched(MOD, circular_shift=zero_padded_shift)).passed


def test_content_addressing_rejects_dot_product():
    assert not run_check("ntm_content_addressing_matches_cosine_softmax", patched(MOD, content_addressing=dot_product_addressing)).passed


def test_large_beta_rejects_ignored_beta():
    assert not run_check("ntm_large_beta_selects_most_similar", patched(MOD, content_addressing=beta_ignored_addressing)).passed


def test_interpolation_rejects_swapped_gate():
    assert not run_check("ntm_interpolation_gate", patched(MOD, interpolate=swapped_gate_interpolate)).passed


def test_shift_rejects_wrong_direction_and_no_wrap():
    assert not run_check("ntm_shift_moves_one_hot", patched(MOD, circular_shift=reversed_shift)).passed
    assert not run_check("ntm_shift_moves_one_hot", patched(MOD, circular_shift=zero_padded_shift)).passed
    assert not run_check("ntm_circular_shift_matches_roll", patched(MOD, circular_shift=reversed_shift)).passed
    assert not run_check("ntm_circular_shift_matches_roll", patched(MOD, circular_shift=zero_padded_shift)).passed


def test_sharpen_rejects_softmax_and_missing_normalisation():
    assert not run_check("ntm_sharpen_limits", patched(MOD, sharpen=softmax_sharpen)).passed
    assert not run_check("ntm_sharpen_limits", patched(MOD, sharpen=unnormalised_sharpen)).passed


def test_chain_order_rejects_reordered_chains():
    assert not run_check("ntm_address_chain_order", patched(MOD, address=sharpen_then_shift_address)).passed
    assert not run_check("ntm_address_chain_order", patched(MOD, address=interpolate_last_address)).passed


def test_read_rejects_unweighted_reads():
    assert not run_check("ntm_read_is_weighted_sum", patched(MOD, read=mean_read)).passed
    assert not run_check("ntm_read_is_weighted_sum", patched(MOD, read=unnormalised_read)).passed


def test_write_rejects_add_before_erase_and_in_place():
    assert not run_check("ntm_write_erase_then_add", patched(MOD, write=add_then_erase)).passed
    assert not run_check("ntm_write_erase_then_add", patched(MOD, write=in_place_write)).passed


def test_gradcheck_rejects_detached_key():
    assert not run_check("ntm_addressing_gradcheck", patched(MOD, address=key_detached_address)).passed


# --- broken models are rejected ----------------------------------------------------------------
def test_model_distributions_reject_zero_initial_weights():
    assert not run_check("ntm_model_weightings_are_distributions", model(ZeroInitialWeights)).passed


def test_explicit_state_rejects_hidden_state_and_batch_coupling():
    assert not run_check("ntm_state_is_explicit", model(StatefulNTM)).passed
    assert not run_check("ntm_state_is_explicit", model(BatchCoupledNTM)).passed
