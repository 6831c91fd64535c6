"""The course notes' items (docs/notes_items.yaml): they validate against the suites and
reference_impls, the validator rejects what it must, and docs/notes.md is what `harness catalogue`
generates from them."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalogue import NOTES, NotesItemsError, load_notes_items, notes_catalogue
from harness.runner import load_all

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT / "docs" / "notes_items.yaml"


@pytest.fixture(scope="module")
def suites():
    suites, errors = load_all([ROOT / "suites"])
    assert not errors, "\n".join(map(str, errors))
    return suites


def test_notes_items_validate(suites):
    """Every impl target imports, every property exists in a suite, ids are unique, note order holds."""
    items = load_notes_items(ITEMS, suites)
    assert {it.note for it in items} == set(NOTES), "every note has items"
    assert [it.note for it in items] == sorted(it.note for it in items)


def test_notes_doc_is_current(suites):
    want = notes_catalogue(load_notes_items(ITEMS, suites))
    have = (ROOT / "docs" / "notes.md").read_text(encoding="utf-8")
    assert have == want, "docs/notes.md is out of date: run `harness catalogue`"


GOOD = """\
  - id: "000-a"
    note: "000"
    section: "S"
    item: "x"
    kind: formula
    impl: ["reference_impls.activations:relu"]
    properties: ["activations/relu_matches_torch"]
    status: covered
"""


def _problems(tmp_path, suites, body: str) -> str:
    f = tmp_path / "items.yaml"
    f.write_text("items:\n" + body, encoding="utf-8")
    with pytest.raises(NotesItemsError) as e:
        load_notes_items(f, suites)
    return str(e.value)


def test_good_item_loads(tmp_path, suites):
    f = tmp_path / "items.yaml"
    f.write_text("items:\n" + GOOD, encoding="utf-8")
    (it,) = load_notes_items(f, suites)
    assert it.impl == ("reference_impls.activations:relu",) and it.line == 2


@pytest.mark.parametrize("edit, message", [
    (("reference_impls.activations:relu", "reference_impls.activations:rleu"), "has no attribute 'rleu' (did you mean 'relu'?)"),
    (("reference_impls.activations:relu", "reference_impls.nope:relu"), "module 'reference_impls.nope' does not import"),
    (("reference_impls.activations:relu", "reference_impls.activations.relu"), "is not 'module:attribute'"),
    (("activations/relu_matches_torch", "activations/relu_matches_trch"), "is in no suite"),
    (("activations/relu_matches_torch", "relu_matches_torch"), "is in no suite"),
    (("kind: formula", "kind: theorem"), "kind 'theorem'; allowed"),
    (("status: covered", "status: missing"), "status missing but properties are listed"),
    (('note: "000"', 'note: "001"'), "id starts with '000' but note is '001'"),
    (('note: "000"', 'note: "009"'), "note '009'; allowed"),
    (("kind: formula", "kind: formula\n    notes_error: x"), "unknown key 'notes_error'"),
    (('    section: "S"\n', ""), "missing key 'section'"),
])
def test_bad_items_are_rejected(tmp_path, suites, edit, message):
    old, new = edit
    assert old in GOOD
    assert message in _problems(tmp_path, suites, GOOD.replace(old, new, 1))


def test_duplicate_ids_and_order_are_rejected(tmp_path, suites):
    assert "duplicated id (first at line 2)" in _problems(tmp_path, suites, GOOD + GOOD)
    later = GOOD.replace('"000-a"', '"001-b"').replace('note: "000"', 'note: "001"')
    assert "note 000 after note 001" in _problems(tmp_path, suites, later + GOOD)


def test_partial_needs_a_gap_and_a_property(tmp_path, suites):
    text = _problems(tmp_path, suites, GOOD.replace("status: covered", "status: partial")
                     .replace('["activations/relu_matches_torch"]', "[]"))
    assert "status partial needs at least one property" in text and "needs a 'gap'" in text


def test_unsafe_yaml_is_refused(tmp_path, suites):
    """The file is read with the project's safe loader: no tags, no aliases."""
    assert "tag" in _problems(tmp_path, suites, GOOD.replace("kind: formula", "kind: !!python/name:os.system formula"))
