"""Broken variants as data: one module per suite family, each with
``MUTANTS = {check name: [harness.testing.Variant, ...]}`` (see :mod:`harness.testing`)."""
from __future__ import annotations

import importlib
import pkgutil


def all_mutants() -> dict[str, list]:
    """Every family's MUTANTS merged: ``{check: [Variant, ...]}``."""
    out: dict[str, list] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for check, variants in mod.MUTANTS.items():
            out.setdefault(check, []).extend(variants)
    return out
