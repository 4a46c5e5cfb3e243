"""A small YAML writer for what the exporters produce: maps, lists, scalars, comments.

Every string is written double-quoted (non-printable characters, line and
paragraph separators escaped), so no value is ever read back as a number, a boolean,
null or a date: "no", "on", "5000", "1e3" stay strings. Keys are plain only when
they cannot be misread. A ``Commented`` value carries comment lines written above
its key or list item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
# YAML 1.1 words a plain key would be read as (booleans, null).
_RESERVED = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])


@dataclass(frozen=True, slots=True)
class Commented:
    """``value`` with ``comment`` (one or more lines) written above it."""

    value: Any
    comment: str


def dump(data: Mapping[str, Any], header: str = "") -> str:
    """The YAML text of ``data`` (a mapping), after ``header`` written as comment lines."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _mapping(data, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def quote(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped."""
    out = ['"']
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif _printable(ord(ch)):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")  # controls, NEL, separators, surrogates
    out.append('"')
    return "".join(out)


def _printable(code: int) -> bool:
    """YAML's printable set, less U+2028/U+2029 (line breaks inside quotes would fold)."""
    if code in (0x2028, 0x2029):
        return False
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def _key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED:
        return key
    return quote(key)


def _comment(comment: str, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    lines += [f"{pad}# {line}".rstrip() for line in comment.splitlines()]


def _unwrap(value: Any, indent: int, lines: list[str]) -> Any:
    while isinstance(value, Commented):
        _comment(value.comment, indent, lines)
        value = value.value
    return value


def _mapping(data: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, raw in data.items():
        value = _unwrap(raw, indent, lines)
        head = f"{pad}{_key(key)}:"
        if isinstance(value, Mapping) and value:
            lines.append(head)
            _mapping(value, indent + 2, lines)
        elif isinstance(value, Sequence) and not isinstance(value, str) and value:
            lines.append(head)
            _sequence(value, indent + 2, lines)
        else:
            lines.append(f"{head} {_empty_or_scalar(value)}")


def _sequence(items: Sequence[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for raw in items:
        value = _unwrap(raw, indent, lines)
        if isinstance(value, Mapping) and value:
            first = len(lines)
            _mapping(value, indent + 2, lines)
            lines[first] = f"{pad}- " + lines[first][indent + 2 :]
        elif isinstance(value, Sequence) and not isinstance(value, str) and value:
            lines.append(f"{pad}-")
            _sequence(value, indent + 2, lines)
        else:
            lines.append(f"{pad}- {_empty_or_scalar(value)}")


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    return scalar(value)
