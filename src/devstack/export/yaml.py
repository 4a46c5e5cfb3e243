"""YAML for the exporters, written by ruamel.yaml (which writes comments).

What this adds to the library: ``Commented`` marks a value with comment lines
written above its key or list item, and two choices. A string is written plain
only when both YAML 1.1 readers (PyYAML, docker-compose v1) and YAML 1.2 readers
read it back as that string: ``no``, ``on``, ``1:20`` and ``0o7`` are quoted. One
holding a NEL, LS or PS line break is double-quoted, where it is escaped (in the
single quotes ruamel would choose, PyYAML reads a NEL back as a space).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.resolver import BaseResolver, implicit_resolvers
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

_INDENT = 2  # a nested mapping's keys, and a list's "- ", under their parent key
_FOLDED = frozenset("\x85\u2028\u2029")


@dataclass(frozen=True, slots=True)
class Commented:
    """``value`` with ``comment`` (one or more lines) written above it."""

    value: Any
    comment: str


class _EitherVersionResolver(BaseResolver):
    """The implicit types of YAML 1.1 and 1.2 together: what matches one is quoted."""

    def __init__(self, version: Any = None, loader: Any = None) -> None:
        super().__init__(loader)


# ruamel's table of implicit types, by YAML version (not in its __all__: pyproject caps
# the version; the round-trip tests fail if it changes shape).
for _versions, _tag, _regexp, _first in implicit_resolvers:
    _EitherVersionResolver.add_implicit_resolver_base(_tag, _regexp, _first)


def dump(data: Mapping[str, Any], header: str = "") -> str:
    """The YAML text of ``data`` (a mapping), after ``header`` written as comment lines."""
    yaml = YAML()
    yaml.Resolver = _EitherVersionResolver
    yaml.indent(mapping=_INDENT, sequence=2 * _INDENT, offset=_INDENT)
    yaml.width = 1 << 16  # never fold a long value (a probe one-liner) across lines
    doc = _node(data, 0)
    if header:
        doc.yaml_set_start_comment(header)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _node(value: Any, column: int) -> Any:
    """``value`` as ruamel's commented containers; ``column`` is where its keys or "- " go."""
    if isinstance(value, Mapping):
        mapping = CommentedMap()
        for key, raw in value.items():
            inner, comment = _unwrap(raw)
            mapping[_node(key, column)] = _node(inner, column + _INDENT)
            if comment:
                mapping.yaml_set_comment_before_after_key(key, before=comment, indent=column)
        return mapping
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = CommentedSeq()
        for index, raw in enumerate(value):
            inner, comment = _unwrap(raw)
            items.append(_node(inner, column + _INDENT))
            if comment:
                items.yaml_set_comment_before_after_key(index, before=comment, indent=column)
        return items
    if isinstance(value, str) and not _FOLDED.isdisjoint(value):
        return DoubleQuotedScalarString(value)
    return value


def _unwrap(value: Any) -> tuple[Any, str]:
    comments = []
    while isinstance(value, Commented):
        comments.append(value.comment)
        value = value.value
    return value, "\n".join(comments)
