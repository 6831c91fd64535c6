"""Safe YAML loading that remembers where every key and item came from.

PyYAML's safe loader composes a node tree whose nodes carry their source marks; we walk
that tree ourselves so that each value keeps its line. Only the plain YAML core types are
accepted (map, seq, str, int, float, bool, null): any explicit tag (``!!python/object``,
``!custom``) is rejected before anything is constructed, so a suite can never build an
object or import a module by itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}


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


def load(text: str) -> Sourced:
    """Parse ``text`` (one YAML document) into :class:`Sourced` data."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else 1
            raise YamlSourceError(line, f"YAML syntax error: {e.problem or e}") from None
        except yaml.YAMLError as e:  # pragma: no cover - unmarked errors are rare
            raise YamlSourceError(1, f"YAML error: {e}") from None
        if node is None:
            return Sourced(None, {(): 1})
        lines: dict[tuple, int] = {(): node.start_mark.line + 1}
        data = _walk(loader, node, (), lines)
        return Sourced(data, lines)
    finally:
        loader.dispose()


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: tuple, lines: dict) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        if node.tag != _CORE + "map":
            raise YamlSourceError(line, f"YAML tag {node.tag!r} is not allowed (plain mappings, lists and scalars only)")
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == _CORE + "merge":
                raise YamlSourceError(knode.start_mark.line + 1, "YAML merge keys (<<) are not allowed")
            key = _walk(loader, knode, path + ("<key>",), {})
            kline = knode.start_mark.line + 1
            if isinstance(key, (dict, list)):
                raise YamlSourceError(kline, "a mapping key must be a plain scalar")
            if key in out:
                raise YamlSourceError(kline, f"duplicate key {key!r} (first at line {lines[path + (key,)]})")
            lines[path + (key,)] = kline
            out[key] = _walk(loader, vnode, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _CORE + "seq":
            raise YamlSourceError(line, f"YAML tag {node.tag!r} is not allowed (plain mappings, lists and scalars only)")
        items = []
        for i, child in enumerate(node.value):
            lines[path + (i,)] = child.start_mark.line + 1
            items.append(_walk(loader, child, path + (i,), lines))
        return items
    if node.tag not in _SCALAR_TAGS:
        raise YamlSourceError(line, f"YAML tag {node.tag!r} is not allowed (plain mappings, lists and scalars only)")
    return loader.construct_object(node, deep=True)
