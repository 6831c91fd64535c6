"""Texts generated from the suites, the check registry and the family contracts:
``harness contract SUITE`` (what an implementation must provide), its ``--template`` (an adapter
skeleton to fill in) and ``docs/catalogue.md`` (``harness catalogue``: every model and the
properties it must prove). Generated, so they cannot drift from the code; a test checks that the
committed catalogue is current.
"""
from __future__ import annotations

from typing import Iterable

from harness.contract import Contract
from harness.suite import Suite


def _needed_by(suite: Suite) -> dict[str, list[str]]:
    """provide name -> the property ids whose check requires it."""
    out: dict[str, list[str]] = {}
    for p in suite.properties:
        for r in p.spec.requires:
            out.setdefault(r, []).append(p.id)
    return out


def contract_text(suite: Suite, contract: Contract) -> str:
    """What an implementation must provide for ``suite``, for the terminal."""
    need = _needed_by(suite)
    lines = [f"suite {suite.name}: {suite.title}", f"  reference subject: {suite.subject.target}", "",
             contract.summary, ""]
    kinds = [("function", "Functional cores (looked up in your module: --impl SUITE=pkg.module[:Model])"),
             ("model", "The model (built with the suite's params)"), ("method", "Methods of the built model"),
             ("attribute", "Attributes of the built model")]
    for kind, head in kinds:
        items = [p for p in contract.provides if p.kind == kind]
        if not items:
            continue
        lines.append(head + ":")
        for p in items:
            lines.append(f"  {p.name}{p.signature}")
            if p.shapes:
                lines.append(f"      shapes: {p.shapes}")
            if p.doc:
                lines.append(f"      {p.doc}")
            props = need.get(p.name)
            lines.append("      needed by: " + (", ".join(props) if props else "(no property lists it in requires)"))
        lines.append("")
    if contract.sizes:
        lines.append("Sizes (constructor params; the suite sets them, checks read them):")
        for z in contract.sizes:
            val = suite.subject.params.get(z.name, "(not set)")
            lines.append(f"  {z.name} = {val!r}: {z.doc}")
        lines.append("")
    if contract.conventions:
        lines.append("Conventions:")
        lines += [f"  {k}: {v}" for k, v in contract.conventions.items()]
        lines.append("")
    lines.append(f"Properties ({len(suite.properties)}):")
    for p in suite.properties:
        req = f"  [needs {', '.join(p.spec.requires)}]" if p.spec.requires else ""
        lines.append(f"  {p.id}{req}: {p.spec.statement}")
    return "\n".join(lines) + "\n"


def _doc(p) -> str:
    return " ".join(s for s in (p.doc.rstrip(".") + "." if p.doc else "", f"Shapes: {p.shapes}." if p.shapes else "") if s)


def template(suite: Suite, contract: Contract) -> str:
    """A commented adapter skeleton for ``suite``: one stub per functional core, with its
    signature, shapes and meaning; fill in the bodies by calling your library."""
    out = [f'"""Adapter: my implementation of the {suite.name} family for dlharness.',
           "",
           "Fill in each function with a call into your library; translate the interface only, never the",
           f"math. Then run:  pytest {suite.path} --impl {suite.name}=<this_module>" + ("" if not any(
               p.kind == "model" for p in contract.provides) else ":Model"),
           "Cores you leave as NotImplementedError stubs should be deleted instead: the properties that",
           "need them are then reported as not applicable.",
           ""]
    if contract.conventions:
        out.append("Conventions the checks hold you to:")
        out += [f"- {k}: {v}" for k, v in contract.conventions.items()]
    out += ['"""', "from __future__ import annotations", "", "import torch", "", ""]
    for p in contract.provides:
        if p.kind != "function":
            continue
        out.append(f"def {p.name}{p.signature}:")
        doc = _doc(p)
        out.append(f'    """{doc}"""' if doc else '    """"""')
        out += ["    raise NotImplementedError", "", ""]
    models = [p for p in contract.provides if p.kind in ("model", "method", "attribute")]
    if models:
        model = next((p for p in models if p.kind == "model"), None)
        sig = model.signature if model and model.signature else "(**params)"
        inner = sig.strip()[1:-1]
        out.append("class Model(torch.nn.Module):")
        out.append(f'    """{model.doc if model and model.doc else "The model, built with the suite params."}'
                   + (f" Shapes: {model.shapes}." if model and model.shapes else "") + '"""')
        out += ["", f"    def __init__(self, {inner}):" if inner else "    def __init__(self):",
                "        super().__init__()", "        raise NotImplementedError", ""]
        for p in models:
            if p.kind == "method":
                inner = p.signature.strip()[1:-1] if p.signature else "*args"
                out.append(f"    def {p.name}(self{', ' + inner if inner else ''}):")
                doc = _doc(p)
                out += [f'        """{doc}"""' if doc else '        """"""', "        raise NotImplementedError", ""]
            elif p.kind == "attribute":
                out.append(f"    # attribute {p.name}: {p.shapes} {p.doc}".rstrip())
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def catalogue(suites: Iterable[Suite], contracts: dict[str, Contract]) -> str:
    """``docs/catalogue.md``: every suite's model, contract and properties."""
    suites = sorted(suites, key=lambda s: s.name)
    n_props = sum(len(s.properties) for s in suites)
    lines = ["# Catalogue of models and properties", "",
             "Generated by `harness catalogue` from `suites/`, the check registry and the family contracts; "
             "`tests/test_project.py` fails when it is out of date.", "",
             f"{len(suites)} suites, {n_props} properties.", "",
             "| suite | model | reference | properties |", "|---|---|---|---|"]
    lines += [f"| [{s.name}](#{s.name}) | {s.title} | `{s.subject.target}` | {len(s.properties)} |" for s in suites]
    for s in suites:
        c = contracts.get(s.name)
        lines += ["", f"## {s.name}", "", f"**{s.title}.** Reference: `{s.subject.target}`; suite `{s.path}`.", ""]
        if s.references:
            lines += ["References: " + "; ".join(s.references), ""]
        if c is not None:
            lines += [c.summary, "", "Provides: " + ", ".join(f"`{p.name}{p.signature}`" for p in c.provides), ""]
            if c.sizes:
                lines += ["Sizes: " + ", ".join(f"`{z.name}` ({z.doc})" for z in c.sizes), ""]
        lines += ["| property | check | statement | marks |", "|---|---|---|---|"]
        for p in s.properties:
            stmt = p.spec.statement.replace("|", "\\|")
            lines.append(f"| `{p.id}` | `{p.check}` | {stmt} | {', '.join(p.marks)} |")
    return "\n".join(lines) + "\n"
