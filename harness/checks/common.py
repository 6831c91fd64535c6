"""Common properties: what every model subject must satisfy, whatever its family, without a
suite listing them (as scikit-learn's common checks apply to every estimator).

The loader adds them to every suite whose contract declares a model and example inputs
(:func:`harness.suite.common_properties`); a family opts out of one only with a stated reason
in its contract (``common: {opt_out: {name: reason}}``), and batch independence runs only
where the contract declares it (``common: {batch_independent: true}``). They run on
third-party subjects too. The model is built from the suite's params and fed the contract's
example inputs (batch 8); the "training loss" is Σ mean(t²) over the floating outputs (the
benchmark's ``train_step`` loss), so a parameter the forward pass never reaches shows up.
"""
from __future__ import annotations

import io

import torch

from harness.bench import loss_of
from harness.outcome import Outcome, all_of, exact, holds
from harness.registry import check

BATCH = 8  # rows (or a graph's nodes): enough for every family's example inputs at its sizes
COMMON = ("common_gradient_flow", "common_batch_independence", "common_dtype_device_preserved",
          "common_seed_determinism", "common_state_dict_round_trip")


def _floats(out) -> list[torch.Tensor]:
    from harness.bench import _float_tensors

    return _float_tensors(out)


def _run(model, case, inputs):
    """The forward pass under the case's seeded global RNG (models that sample, e.g. a VAE's
    noise, draw the same numbers every time)."""
    with case.fork_rng():
        return model(*inputs)


def _setup(subject, case):
    """The model built from the case's seed, and the family contract's example inputs."""
    from harness.contract import CONTRACTS

    return subject.build(case), CONTRACTS[case.suite].example_inputs(subject, case, BATCH)


@check()
def common_gradient_flow(subject, case) -> Outcome:
    """Every parameter of the model receives a finite, non-zero gradient from the training loss
    (Σ mean(t²) over the floating outputs of a forward pass in train mode): no parameter is
    detached, unused or frozen by accident."""
    model, inputs = _setup(subject, case)
    model.train()
    loss_of(_run(model, case, inputs)).backward()
    params = list(model.named_parameters())
    none = [n for n, p in params if p.requires_grad and p.grad is None]
    frozen = [n for n, p in params if not p.requires_grad]
    bad = [n for n, p in params if p.grad is not None and not torch.isfinite(p.grad).all()]
    zero = [n for n, p in params if p.grad is not None and torch.isfinite(p.grad).all() and not p.grad.abs().sum() > 0]
    return all_of(
        holds("the model has parameters", bool(params), f"{len(params)} parameters"),
        holds("every parameter requires grad", not frozen, "frozen: " + ", ".join(frozen[:6])),
        holds("every parameter gets a gradient", not none, "no gradient: " + ", ".join(none[:6])),
        holds("every gradient is finite", not bad, "non-finite: " + ", ".join(bad[:6])),
        holds("every gradient is non-zero", not zero, "all-zero gradient: " + ", ".join(zero[:6])),
    )


@check()
def common_batch_independence(subject, case) -> Outcome:
    """In eval mode, row i of every batched output depends only on row i of the inputs: replacing
    row 1 of every batched input (tensors nested in tuples included) by row 2 leaves the outputs
    of every other row unchanged, within the dtype's tolerance (a model that samples per row
    draws the same numbers both times: the RNG is seeded identically)."""
    model, inputs = _setup(subject, case)
    model.eval()
    swapped = tuple(_copy_row(x) for x in inputs)
    with torch.no_grad():
        a, b = _floats(_run(model, case, inputs)), _floats(_run(model, case, swapped))
    outs = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x.dim() and x.shape[0] == BATCH]
    if not outs:
        return holds("an output has the batch as its first axis", False, f"output shapes {[tuple(x.shape) for x in a]}")
    keep = torch.tensor([i for i in range(BATCH) if i != 1])
    return all_of([case.close(f"output {i}, every row but 1 after row 1 of the inputs changed", y[keep], x[keep])
                   for i, x, y in outs])


def _copy_row(x):
    if isinstance(x, (tuple, list)):
        return type(x)(_copy_row(v) for v in x)
    if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == BATCH:
        x = x.clone()
        x[1] = x[2]
    return x


@check()
def common_dtype_device_preserved(subject, case) -> Outcome:
    """A model built in the case's dtype on its device returns every floating output in that dtype
    on that device, and keeps its parameters there."""
    model, inputs = _setup(subject, case)
    outs = _floats(_run(model, case, inputs))
    dev = torch.device(case.device).type
    params = list(model.parameters())
    return all_of(
        holds("the model returns a floating tensor", bool(outs)),
        exact("dtypes of the floating outputs", sorted({str(t.dtype) for t in outs}), [str(case.dtype)]),
        exact("devices of the outputs", sorted({t.device.type for t in outs}), [dev]),
        exact("dtypes of the parameters", sorted({str(p.dtype) for p in params if p.is_floating_point()}) or [str(case.dtype)],
              [str(case.dtype)]),
    )


@check()
def common_seed_determinism(subject, case) -> Outcome:
    """The same seed gives the same model and the same output: two models built from the case's
    seed have equal parameters, and their forward passes on the same inputs, each under the
    same seeded RNG, are bitwise equal."""
    m1, inputs = _setup(subject, case)
    m2 = subject.build(case)
    same_params = all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))
    o1, o2 = _floats(_run(m1, case, inputs)), _floats(_run(m2, case, inputs))
    return all_of(
        holds("two builds from one seed have equal state dicts", same_params),
        holds("their outputs are bitwise equal", len(o1) == len(o2) and all(torch.equal(a, b) for a, b in zip(o1, o2)),
              f"{len(o1)} floating outputs"),
    )


@check()
def common_state_dict_round_trip(subject, case) -> Outcome:
    """``state_dict`` holds the whole model: saved with torch.save and loaded into a model built
    from another seed, it gives bitwise the same outputs."""
    model, inputs = _setup(subject, case)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    other_case = type(case)(case.suite, case.property_id + "/other", case.device, case.dtype, case.seed + 1,
                            case.tolerance)
    other = subject.build(other_case)
    other.load_state_dict(torch.load(buf, weights_only=True))
    o1, o2 = _floats(_run(model, case, inputs)), _floats(_run(other, case, inputs))
    return holds("outputs after the round trip are bitwise equal",
                 len(o1) == len(o2) and all(torch.equal(a, b) for a, b in zip(o1, o2)), f"{len(o1)} floating outputs")
