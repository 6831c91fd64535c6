"""Broken variants of the NTM checks (harness/checks/ntm.py). Headline ones: a circular shift
that turns the wrong way (or does not wrap), a content addressing by raw dot product instead of
cosine, add-before-erase, sharpening without renormalisation, pytorch-ntm's all-zero initial
weighting, and a memory that forgets."""
from __future__ import annotations

import dataclasses

import torch

import reference_impls.ntm as ref
from harness.testing import broken, patched, replaced, subject_from

CORES = subject_from("reference_impls.ntm")
PARAMS = {"input_size": 9, "output_size": 8, "controller_size": 32, "memory_rows": 16, "memory_width": 8,
          "read_heads": 2, "shift_range": 1, "controller": "lstm"}
NTM = subject_from("reference_impls.ntm:NTM", PARAMS)
NTM_MLP = subject_from("reference_impls.ntm:NTM", {**PARAMS, "controller": "mlp"})
SMALL = subject_from("reference_impls.ntm:NTM", {**PARAMS, "controller_size": 8, "memory_rows": 6, "memory_width": 4})
COPY = subject_from("reference_impls.ntm:NTM", {**PARAMS, "controller": "mlp", "controller_size": 128,
                                                "memory_rows": 8, "memory_width": 6, "read_heads": 1})


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
    feed-forward controller nothing carries across time, so the recall-phase outputs (blank
    inputs) cannot depend on the sequence and the bit error stays at chance."""

    def step(self, x, state):
        y, new = super().step(x, state)
        return y, dataclasses.replace(new, memory=state.memory, reads=torch.zeros_like(new.reads))


class SigmoidAddNTM(ref.NTM):
    """The add vector through a sigmoid (a ∈ (0, 1)) instead of tanh: writes can never subtract."""

    def step(self, x, state):
        c = self.config
        wp = self.write_head(self._h(x, state)[0])
        y, new = super().step(x, state)
        add_tanh = torch.tanh(wp[:, self.n_addr + c.memory_width:])
        add_sig = torch.sigmoid(wp[:, self.n_addr + c.memory_width:])
        w = new.write_weights.unsqueeze(-1)
        return y, dataclasses.replace(new, memory=new.memory + w * (add_sig - add_tanh).unsqueeze(1))

    def _h(self, x, state):
        inp = torch.cat([x, state.reads.reshape(x.shape[0], -1)], dim=-1)
        if self.config.controller == "lstm":
            return self.controller(inp, state.controller)
        return torch.tanh(self.controller(inp)), ()


class ReluStrengthNTM(ref.NTM):
    """Key strength β = relu(·) and γ = 1 + relu(·) instead of softplus."""

    def _split(self, p):
        k, b, g, s, gm = torch.split(p, [self.config.memory_width, 1, 1, 2 * self.config.shift_range + 1, 1], dim=-1)
        return k, torch.relu(b), torch.sigmoid(g), torch.softmax(s, dim=-1), 1 + torch.relu(gm)


class DetachedKeyNTM(ref.NTM):
    """The heads' keys are detached: no gradient reaches the key rows of the heads."""

    def _split(self, p):
        k, *rest = super()._split(p)
        return (k.detach(), *rest)


class DetachedMemoryNTM(ref.NTM):
    """Truncated BPTT through the memory: the memory handed to the next step is detached."""

    def step(self, x, state):
        y, new = super().step(x, state)
        return y, dataclasses.replace(new, memory=new.memory.detach())


class StrictShiftRangeNTM(ref.NTM):
    """Refuses 2K + 1 = N (demands 2K + 1 < N)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if 2 * self.config.shift_range + 1 >= self.config.memory_rows:
            raise ValueError("2 * shift_range + 1 must be smaller than memory_rows")


def _cores(**overrides):
    return patched(CORES, **overrides)


MUTANTS = {
    "ntm_weightings_are_distributions": [
        broken("interpolation without (1 − g)", _cores(interpolate=unnormalised_interpolate)),
        broken("sharpening without renormalisation", _cores(sharpen=unnormalised_sharpen)),
        broken("zero-padded (not circular) shift", _cores(circular_shift=zero_padded_shift)),
    ],
    "ntm_content_addressing_matches_cosine_softmax": [
        broken("dot product instead of cosine", _cores(content_addressing=dot_product_addressing)),
    ],
    "ntm_large_beta_selects_most_similar": [
        broken("key strength β ignored", _cores(content_addressing=beta_ignored_addressing)),
    ],
    "ntm_interpolation_gate": [
        broken("g gates w_prev instead of w_c", _cores(interpolate=swapped_gate_interpolate)),
    ],
    "ntm_shift_moves_one_hot": [
        broken("shift turns the other way", _cores(circular_shift=reversed_shift)),
        broken("zero-padded (not circular) shift", _cores(circular_shift=zero_padded_shift)),
    ],
    "ntm_circular_shift_matches_roll": [
        broken("shift turns the other way", _cores(circular_shift=reversed_shift)),
        broken("zero-padded (not circular) shift", _cores(circular_shift=zero_padded_shift)),
    ],
    "ntm_sharpen_limits": [
        broken("softmax(γ w) instead of w^γ / Σ w^γ", _cores(sharpen=softmax_sharpen)),
        broken("sharpening without renormalisation", _cores(sharpen=unnormalised_sharpen)),
    ],
    "ntm_address_chain_order": [
        broken("sharpen before shift", _cores(address=sharpen_then_shift_address)),
        broken("interpolate last", _cores(address=interpolate_last_address)),
    ],
    "ntm_read_is_weighted_sum": [
        broken("mean of the rows", _cores(read=mean_read)),
        broken("weights scaled by N", _cores(read=unnormalised_read)),
    ],
    "ntm_write_erase_then_add": [
        broken("add before erase", _cores(write=add_then_erase)),
        broken("writes the input memory in place", _cores(write=in_place_write)),
    ],
    "ntm_addressing_gradcheck": [
        broken("key detached in address", _cores(address=key_detached_address)),
    ],
    "ntm_model_weightings_are_distributions": [
        broken("all-zero initial weightings", replaced(NTM, ZeroInitialWeights)),
    ],
    "ntm_state_is_explicit": [
        broken("last state kept on the model", replaced(NTM, StatefulNTM)),
        broken("batch mean added to the outputs", replaced(NTM, BatchCoupledNTM)),
        broken("last state kept on the model (MLP controller)", replaced(NTM_MLP, StatefulNTM)),
    ],
    "ntm_copy_task": [
        broken("memory forgets every write", replaced(COPY, ForgetfulNTM)),
    ],
    "ntm_step_matches_equations": [
        broken("add vector through a sigmoid", replaced(NTM, SigmoidAddNTM)),
        broken("β and γ through relu, not softplus", replaced(NTM, ReluStrengthNTM)),
    ],
    "ntm_model_gradient_matches_finite_differences": [
        broken("keys detached", replaced(SMALL, DetachedKeyNTM)),
        broken("memory detached between steps", replaced(SMALL, DetachedMemoryNTM)),
    ],
    "ntm_shift_range_fits_memory": [
        broken("refuses 2K + 1 = N", replaced(NTM, StrictShiftRangeNTM)),
    ],
}
