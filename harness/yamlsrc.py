"""Safe, total YAML loading that remembers where every key and item came from.

The text is read event by event (PyYAML's parser, which is a state machine: no recursion)
and the data is built here with an explicit stack, so that each value keeps its line and no
input can recurse, expand or construct anything:

- only the plain YAML core types are accepted (map, seq, str, int, float, bool, null): any
  explicit tag (``!!python/object``, ``!custom``) is rejected before anything is constructed,
  so a suite can never build an object or import a module by itself;
- anchors and aliases (``&a``, ``*a``) are refused where they appear, before anything is
  expanded: no alias bomb, no recursive structure;
- nesting is bounded (:data:`MAX_DEPTH`) and so is the size (:data:`MAX_SIZE`);
- mapping keys are strings; a plain value that YAML would read as some other type (a date,
  ``<<``, ``=``) must be quoted; a number that cannot be read (``0x``, 5000 digits) is an error;
- control characters and the YAML-only line breaks (NEL, U+2028, U+2029, a lone CR) are
  refused, so that every reported line is the line an editor shows.

Every problem is a :class:`YamlSourceError` with a 1-based line; nothing else escapes
:func:`load`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_KIND = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "null": "null",
         "timestamp": "date/time", "merge": "merge key (<<)", "value": "value key (=)", "binary": "binary"}

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists a suite may have (the shipped suites use 5)."""

MAX_SIZE = 1_000_000
"""Largest suite, in bytes (and characters): the shipped suites are a few kB."""

BOM = "\ufeff"

# Characters PyYAML's reader refuses (it would raise an unlocated ReaderError), plus the line
# breaks YAML counts but editors and ``grep -n`` do not.
_FORBIDDEN = re.compile("[^\x09\x0A\x0D\x20-\x7E\xA0-\u2027\u202A-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]|\r(?!\n)")


class YamlSourceError(Exception):
    """A YAML problem located at ``line`` (1-based)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Sourced:
    """Loaded YAML: plain Python data plus the 1-based line of every path in it.

    ``lines[("properties", 2, "with")]`` is the line of that key; ``lines[()]`` is 1.
    """

    data: Any
    lines: dict[tuple, int]

    def line(self, *path: Any) -> int:
        """Line of ``path``, or of its closest located ancestor."""
        p = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p, 1)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def line_of(text: str, index: int) -> int:
    """1-based line of character ``index`` of ``text``."""
    return text.count("\n", 0, max(index, 0)) + 1


def _check_characters(text: str) -> None:
    m = _FORBIDDEN.search(text)
    if m is None:
        return
    ch = m.group()
    line = line_of(text, m.start())
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    if ch == "\r":
        what, esc = "a carriage return (CR) outside a CRLF line end", "\\r"
    elif ch in "\x85\u2028\u2029":
        what, esc = f"the line break U+{ord(ch):04X} (YAML counts it as a new line, editors do not)", f"\\u{ord(ch):04X}"
    else:
        what, esc = f"the control character U+{ord(ch):04X}", (f"\\x{ord(ch):02X}" if ord(ch) < 0x100 else f"\\u{ord(ch):04X}")
    raise YamlSourceError(line, f"column {col}: {what} is not allowed in a suite; allowed: tab, newline and "
                                f"printable text (write it as the escape \"{esc}\" in a double-quoted string)")


def load(text: str) -> Sourced:
    """Parse ``text`` (one YAML document) into :class:`Sourced` data.

    Raises :class:`YamlSourceError` (and nothing else) for any text that is not a plain YAML
    document within the limits above.
    """
    if not isinstance(text, str):
        raise YamlSourceError(1, f"expected text, got {type(text).__name__}")
    if text.startswith(BOM):
        text = text[1:]
    if len(text) > MAX_SIZE:
        raise YamlSourceError(1, f"a suite may be at most {MAX_SIZE} characters, this one has {len(text)}")
    _check_characters(text)
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        return _Builder(loader).document()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        msg = f"YAML syntax error: {e.problem or e.context or 'malformed YAML'}"
        if e.context and e.problem and e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
            msg += f" ({e.context} at line {e.context_mark.line + 1})"
        raise YamlSourceError(line, msg) from None
    except yaml.YAMLError as e:  # pragma: no cover - the reader is pre-checked; unmarked errors are rare
        raise YamlSourceError(1, f"YAML error: {' '.join(str(e).split())}") from None
    finally:
        if loader is not None:
            loader.dispose()


class _Frame:
    """An open mapping or list while its events arrive."""

    __slots__ = ("path", "value", "key", "has_key")

    def __init__(self, path: tuple, value: Any):
        self.path = path
        self.value = value
        self.key: Any = None
        self.has_key = False


class _Builder:
    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.lines: dict[tuple, int] = {}

    def document(self) -> Sourced:
        ld = self.loader
        ld.get_event()  # StreamStart
        if ld.check_event(yaml.StreamEndEvent):
            return Sourced(None, {(): 1})
        ld.get_event()  # DocumentStart
        data = self._root()
        ld.get_event()  # DocumentEnd
        if not ld.check_event(yaml.StreamEndEvent):
            ev = ld.get_event()
            raise YamlSourceError(ev.start_mark.line + 1,
                                  "a suite is a single YAML document; a second document starts here (remove the `---`)")
        return Sourced(data, self.lines)

    def _root(self) -> Any:
        stack: list[_Frame] = []
        while True:
            ev = self.loader.get_event()
            line = ev.start_mark.line + 1
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done = stack.pop()
                if not stack:
                    return done.value
                self._attach(stack[-1], done.value)
                continue
            if isinstance(ev, yaml.AliasEvent):
                raise YamlSourceError(line, f"YAML aliases are not allowed in a suite (*{ev.anchor}); write each value out in full")
            if getattr(ev, "anchor", None) is not None:
                raise YamlSourceError(line, f"YAML aliases are not allowed in a suite (anchor &{ev.anchor}); "
                                            "write each value out in full")
            parent = stack[-1] if stack else None
            if parent is None:
                path: tuple = ()
                self.lines[()] = line
            elif isinstance(parent.value, list):
                path = parent.path + (len(parent.value),)
                self.lines[path] = line
            elif not parent.has_key:
                self._key(parent, ev, line)
                continue
            else:
                path = parent.path + (parent.key,)
            if isinstance(ev, yaml.ScalarEvent):
                value = self._scalar(ev, line)
                if parent is None:
                    return value
                self._attach(parent, value)
                continue
            # a mapping or a list starts
            is_map = isinstance(ev, yaml.MappingStartEvent)
            want = _CORE + ("map" if is_map else "seq")
            tag = ev.tag
            if tag is not None and tag != "!" and tag != want:
                raise YamlSourceError(line, f"YAML tag {short(tag)} is not allowed (plain mappings, lists and scalars only)")
            if len(stack) >= MAX_DEPTH:
                raise YamlSourceError(line, f"mappings and lists are nested more than {MAX_DEPTH} levels deep here; "
                                            f"a suite may nest at most {MAX_DEPTH} levels")
            stack.append(_Frame(path, {} if is_map else []))

    def _attach(self, parent: _Frame, value: Any) -> None:
        if isinstance(parent.value, list):
            parent.value.append(value)
        else:
            parent.value[parent.key] = value
            parent.key, parent.has_key = None, False

    def _key(self, parent: _Frame, ev: yaml.Event, line: int) -> None:
        if not isinstance(ev, yaml.ScalarEvent):
            raise YamlSourceError(line, "a mapping key must be a plain string, not a mapping or a list")
        if ev.tag is None and ev.implicit[0] and self.loader.resolve(yaml.ScalarNode, ev.value, ev.implicit) == _CORE + "merge":
            raise YamlSourceError(line, "YAML merge keys (<<) are not allowed in a suite; write the keys out in full")
        key = self._scalar(ev, line)
        if not isinstance(key, str):
            raise YamlSourceError(line, f"a mapping key must be a string, got {_tname(key)} {short(key)} "
                                        "(quote it if it is a name)")
        kpath = parent.path + (key,)
        if key in parent.value:
            raise YamlSourceError(line, f"duplicate key {short(key)} (first at line {self.lines.get(kpath, '?')})")
        self.lines[kpath] = line
        parent.key, parent.has_key = key, True

    def _scalar(self, ev: yaml.ScalarEvent, line: int) -> Any:
        explicit = ev.tag is not None and ev.tag != "!"
        tag = ev.tag if explicit else self.loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        kind = _KIND.get(tag[len(_CORE):], tag) if tag.startswith(_CORE) else tag
        if tag not in _SCALAR_TAGS:
            if explicit:
                raise YamlSourceError(line, f"YAML tag {short(tag)} is not allowed (plain mappings, lists and scalars only)")
            raise YamlSourceError(line, f"the plain value {short(ev.value)} reads as a YAML {kind}, which a suite does not use; "
                                        f"quote it to make it a string")
        node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except Exception as e:  # noqa: BLE001 - int('') / bool_values['maybe'] / 5000-digit ints
            why = "too many digits" if "digits" in str(e) else f"not a valid {kind}"
            raise YamlSourceError(line, f"{short(ev.value)} cannot be read as a{'n' if kind[:1] in 'aeiou' else ''} {kind} "
                                        f"({why}); quote it if it is text") from None


def _tname(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)
