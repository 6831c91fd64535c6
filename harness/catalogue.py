"""Texts generated from the suites, the check registry and the family contracts:
``harness contract SUITE`` (what an implementation must provide), its ``--template`` (an adapter
skeleton to fill in), ``docs/catalogue.md`` (``harness catalogue``: every model and the
properties it must prove) and ``docs/notes.md`` (the same command: every testable item of the
course notes, from ``docs/notes_items.yaml``, with its implementation and checks). Generated,
so they cannot drift from the code; tests check that the committed files are current.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Iterable

from harness import yamlsrc
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


# -- the course notes' items -----------------------------------------------------------------------

NOTES = ("000", "001", "002", "003", "004")
NOTE_KINDS = ("model", "formula", "algorithm", "example", "value")
NOTE_STATUSES = ("covered", "partial", "missing")
_NOTE_REQUIRED = ("id", "note", "section", "item", "kind", "impl", "properties", "status")
_NOTE_OPTIONAL = ("gap", "note_error")
_NOTE_ID = re.compile(r"^(\d{3})-[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class NotesItem:
    """One testable item of the course notes: what it is, what implements it, what checks it."""

    id: str
    note: str
    section: str
    item: str
    kind: str
    impl: tuple[str, ...]
    properties: tuple[str, ...]
    status: str
    gap: str = ""
    note_error: str = ""
    line: int = 0


class NotesItemsError(Exception):
    """Every problem found in the notes items file, one ``path:line: [id] what`` line each."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in problems))


def _impl_problem(target: str) -> str | None:
    """Why ``module:attr`` does not resolve, or None when it imports and exists."""
    if not isinstance(target, str) or target.count(":") != 1:
        return f"impl {target!r} is not 'module:attribute'"
    mod_name, attr = target.split(":")
    try:
        obj = importlib.import_module(mod_name)
    except Exception as e:  # an import that fails in any way is this entry's problem
        return f"impl {target!r}: module {mod_name!r} does not import ({type(e).__name__}: {e})"
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = get_close_matches(part, names, n=1)
            return f"impl {target!r}: {mod_name} has no attribute {part!r}" + (
                f" (did you mean {close[0]!r}?)" if close else "")
        obj = getattr(obj, part)
    return None


def load_notes_items(path: str | Path, suites: Iterable[Suite]) -> list[NotesItem]:
    """Read and validate the notes items file (``docs/notes_items.yaml``) against ``suites``.

    The YAML is read by :func:`harness.yamlsrc.load` (PyYAML's SafeLoader, plain types only, with
    lines). Raises :class:`NotesItemsError` listing every problem: a missing or unknown key, a
    duplicated id, an unknown note, kind or status, items out of note order, an ``impl`` target that
    does not import or does not exist, a property ``SUITE/PROPERTY_ID`` that no suite has, or a
    status its properties contradict (covered/partial with no property, missing with some).
    """
    path = Path(path)
    try:
        src = yamlsrc.load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise NotesItemsError(str(path), [(1, f"cannot read: {e}")]) from None
    except yamlsrc.YamlSourceError as e:
        raise NotesItemsError(str(path), [(e.line, e.message)]) from None
    known = {f"{s.name}/{p.id}" for s in suites for p in s.properties}
    data = src.data
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise NotesItemsError(str(path), [(1, "expected a mapping with a list 'items'")])
    problems: list[tuple[int, str]] = []
    items: list[NotesItem] = []
    seen: dict[str, int] = {}
    last_note = NOTES[0]
    impl_cache: dict[str, str | None] = {}
    for i, raw in enumerate(data["items"]):
        line = src.line("items", i)
        if not isinstance(raw, dict):
            problems.append((line, f"item {i}: expected a mapping, got {type(raw).__name__}"))
            continue
        iid = raw.get("id", f"item {i}")
        where = f"[{iid}]"
        bad = len(problems)
        for k in _NOTE_REQUIRED:
            if k not in raw:
                problems.append((line, f"{where} missing key {k!r}"))
        for k in raw:
            if k not in _NOTE_REQUIRED + _NOTE_OPTIONAL:
                close = get_close_matches(str(k), _NOTE_REQUIRED + _NOTE_OPTIONAL, n=1)
                problems.append((src.line("items", i, k), f"{where} unknown key {k!r}; allowed: "
                                 f"{', '.join(_NOTE_REQUIRED + _NOTE_OPTIONAL)}"
                                 + (f" (did you mean {close[0]!r}?)" if close else "")))
        for k in ("id", "note", "section", "item", "kind", "status") + _NOTE_OPTIONAL:
            if k in raw and not (isinstance(raw[k], str) and raw[k].strip()):
                problems.append((src.line("items", i, k), f"{where} {k!r} must be a non-empty string"))
        for k in ("impl", "properties"):
            if k in raw and not (isinstance(raw[k], list) and all(isinstance(x, str) for x in raw[k])):
                problems.append((src.line("items", i, k), f"{where} {k!r} must be a list of strings"))
        if len(problems) > bad:
            continue
        m = _NOTE_ID.match(iid)
        if not m:
            problems.append((line, f"{where} id must be NNN-slug (the note number, then lower-case words joined by -)"))
        elif m.group(1) != raw["note"]:
            problems.append((line, f"{where} id starts with {m.group(1)!r} but note is {raw['note']!r}"))
        if iid in seen:
            problems.append((line, f"{where} duplicated id (first at line {seen[iid]})"))
        seen.setdefault(iid, line)
        if raw["note"] not in NOTES:
            problems.append((src.line("items", i, "note"), f"{where} note {raw['note']!r}; allowed: {', '.join(NOTES)}"))
        elif raw["note"] < last_note:
            problems.append((src.line("items", i, "note"), f"{where} note {raw['note']} after note {last_note}: "
                             "items must be in note order"))
        else:
            last_note = raw["note"]
        if raw["kind"] not in NOTE_KINDS:
            problems.append((src.line("items", i, "kind"), f"{where} kind {raw['kind']!r}; allowed: {', '.join(NOTE_KINDS)}"))
        if raw["status"] not in NOTE_STATUSES:
            problems.append((src.line("items", i, "status"),
                             f"{where} status {raw['status']!r}; allowed: {', '.join(NOTE_STATUSES)}"))
        elif raw["status"] == "missing" and raw["properties"]:
            problems.append((src.line("items", i, "status"), f"{where} status missing but properties are listed"))
        elif raw["status"] != "missing" and not raw["properties"]:
            problems.append((src.line("items", i, "status"), f"{where} status {raw['status']} needs at least one property"))
        if raw["status"] in ("partial", "missing") and not raw.get("gap"):
            problems.append((src.line("items", i, "status"), f"{where} status {raw['status']} needs a 'gap' (what is not checked)"))
        for j, t in enumerate(raw["impl"]):
            if t not in impl_cache:
                impl_cache[t] = _impl_problem(t)
            if impl_cache[t]:
                problems.append((src.line("items", i, "impl", j), f"{where} {impl_cache[t]}"))
        for j, p in enumerate(raw["properties"]):
            if p not in known:
                close = get_close_matches(p, sorted(known), n=1)
                problems.append((src.line("items", i, "properties", j), f"{where} property {p!r} is in no suite "
                                 "(SUITE/PROPERTY_ID)" + (f"; did you mean {close[0]!r}?" if close else "")))
        for k in ("impl", "properties"):
            dup = sorted({x for x in raw[k] if raw[k].count(x) > 1})
            if dup:
                problems.append((src.line("items", i, k), f"{where} {k} lists {', '.join(dup)} twice"))
        items.append(NotesItem(id=iid, note=raw["note"], section=raw["section"], item=raw["item"], kind=raw["kind"],
                               impl=tuple(raw["impl"]), properties=tuple(raw["properties"]), status=raw["status"],
                               gap=raw.get("gap", ""), note_error=raw.get("note_error", ""), line=line))
    if problems:
        raise NotesItemsError(str(path), problems)
    return items


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def notes_catalogue(items: list[NotesItem], catalogue_file: str = "catalogue.md") -> str:
    """``docs/notes.md``: every testable item of the notes, its implementation and its checks."""
    n = len(items)
    count = {(s, note): sum(1 for it in items if it.status == s and it.note == note)
             for s in NOTE_STATUSES for note in NOTES}
    lines = ["# The course notes, item by item", "",
             "Generated by `harness catalogue` from `docs/notes_items.yaml` (validated against the suites and "
             "`reference_impls`); `tests/test_catalogue.py` fails when it is out of date. Every testable item of "
             "Notes 000 ... 004 (models, formulas, algorithms, worked examples, concrete values), in note order: "
             "the reference implementation that provides it, the suite properties that check it (linked to "
             f"their suite in [the catalogue]({catalogue_file})), whether they cover it, and what the notes get "
             "wrong.", ""]
    tot = {s: sum(count[s, note] for note in NOTES) for s in NOTE_STATUSES}
    errors = [it for it in items if it.note_error]
    lines += [f"{n} items: {tot['covered']} covered, {tot['partial']} partial, {tot['missing']} missing; "
              f"{len(errors)} note errors.", "",
              "| note | items | covered | partial | missing | note errors |", "|---|---|---|---|---|---|"]
    for note in NOTES:
        k = sum(1 for it in items if it.note == note)
        e = sum(1 for it in errors if it.note == note)
        lines.append(f"| [Notes {note}](#notes-{note}) | {k} | {count['covered', note]} | {count['partial', note]} | "
                     f"{count['missing', note]} | {e} |")
    lines.append(f"| all | {n} | {tot['covered']} | {tot['partial']} | {tot['missing']} | {len(errors)} |")
    lines += ["", "| kind | items | covered | partial | missing |", "|---|---|---|---|---|"]
    for kind in NOTE_KINDS:
        ks = [it for it in items if it.kind == kind]
        lines.append(f"| {kind} | {len(ks)} | " + " | ".join(
            str(sum(1 for it in ks if it.status == s)) for s in NOTE_STATUSES) + " |")
    mark = {"covered": "covered", "partial": "**partial**", "missing": "**missing**"}
    for note in NOTES:
        ns = [it for it in items if it.note == note]
        lines += ["", f"## Notes {note}", "", "| id | section | item | kind | implementation | properties | status | "
                  "gap / note error |", "|---|---|---|---|---|---|---|---|"]
        for it in ns:
            impl = "<br>".join(f"`{t}`" for t in it.impl) or "-"
            props = "<br>".join(f"[`{p}`]({catalogue_file}#{p.split('/')[0]})" for p in it.properties) or "-"
            notes = "<br>".join(x for x in (_cell(it.gap), f"**Note error:** {_cell(it.note_error)}" if it.note_error
                                            else "") if x) or ""
            lines.append(f"| `{it.id}` | {_cell(it.section)} | {_cell(it.item)} | {it.kind} | {impl} | {props} | "
                         f"{mark[it.status]} | {notes} |")
    lines += ["", "## Gaps", "", "Items no property checks, or checks only in part:", ""]
    for s in ("missing", "partial"):
        for it in items:
            if it.status == s:
                lines.append(f"- `{it.id}` ({s}, {it.kind}): {_cell(it.item)}. {_cell(it.gap)}")
    lines += ["", "## Note errors", "", "Where the notes differ from the standard definition (the reference "
              "implementations and the checks follow the standard one):", ""]
    lines += [f"- `{it.id}` (Notes {it.note}: {_cell(it.section)}): {_cell(it.note_error)}" for it in errors]
    return "\n".join(lines) + "\n"
