"""Every call into a subject goes through one guard that protects the caller's inputs.

The subject is called with the caller's tensors; a snapshot taken before the call is compared
with them after it. A subject that changed an input in place (``x.relu_()``, ``x.mul_(2)``,
``state["m"] += g``) raises :class:`InputMutated`, which the executor reports as a failure of
its own ("modified its input ... in place"), never as a pass: an oracle computed afterwards on
the changed input would otherwise agree with the wrong answer. Functional cores are guarded by
:meth:`harness.registry.Subject.fn`, built models by a forward pre-hook and hook on the
top-level module (:func:`guard_module`).
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterator

import torch


class InputMutated(Exception):
    """A subject modified one of its inputs in place."""


def _tensors(obj: Any, path: str, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    if depth > 4:
        return
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{path}[{k!r}]", depth + 1)


def snapshot(args: tuple, kwargs: dict) -> list[tuple[str, torch.Tensor, torch.Tensor, tuple]]:
    """``(where, tensor, copy, shape)`` for every tensor in the arguments."""
    out = []
    for where, t in [*_tensors(list(args), "argument "), *_tensors(kwargs, "argument ")]:
        out.append((where.replace("argument [", "argument ").replace("]", "", 1), t, t.detach().clone(), tuple(t.shape)))
    return out


def _same(t: torch.Tensor, copy: torch.Tensor, shape: tuple) -> bool:
    if tuple(t.shape) != shape:
        return False
    d = t.detach()
    if torch.equal(d, copy):
        return True
    if d.is_floating_point() or d.is_complex():  # NaN != NaN: equal where both are NaN
        both_nan = torch.isnan(d) & torch.isnan(copy)
        return bool(torch.equal(torch.where(both_nan, torch.zeros_like(d), d),
                                torch.where(both_nan, torch.zeros_like(copy), copy)))
    return False


def verify(snap: list, who: str) -> None:
    for where, t, copy, shape in snap:
        if not _same(t, copy, shape):
            raise InputMutated(f"{who} modified its input ({where.strip()}, shape {shape}) in place; a subject must "
                               f"leave its inputs unchanged (the oracle would otherwise see the changed values)")


def guard(fn: Callable, who: str) -> Callable:
    """``fn`` wrapped so that changing a tensor argument in place raises :class:`InputMutated`.
    Classes and non-callables are returned as they are."""
    if inspect.isclass(fn) or not callable(fn):
        return fn

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        snap = snapshot(args, kwargs)
        out = fn(*args, **kwargs)
        verify(snap, who)
        return out

    return call


def guard_module(model: Any, who: str) -> Any:
    """Hooks on an ``nn.Module`` that check its forward's tensor inputs are unchanged."""
    if not isinstance(model, torch.nn.Module):
        return model
    pending: list[list] = []

    def before(module: Any, args: tuple, kwargs: dict) -> None:
        pending.append(snapshot(args, kwargs))

    def after(module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        verify(pending.pop(), who)

    model.register_forward_pre_hook(before, with_kwargs=True)
    model.register_forward_hook(after, with_kwargs=True)
    return model
