"""What a parsed stack.toml may not hold whatever its keys: values nested deeper than
``MAX_DEPTH``, and NUL bytes where a command, path, URL or variable would carry them
(exec and the OS refuse those, so they would fail only at ``up``).

Iterative, so that the walk itself cannot exceed the recursion limit that deep
nesting would, and runs before the models (whose validation recurses) see the data.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32  # tables and arrays inside each other; a real stack.toml uses under 10
# ``include = [...]``: files including files, and all the files one stack reads. A monorepo
# uses two or three levels; the bound stops a runaway chain before it costs anything.
MAX_INCLUDE_DEPTH = 8
MAX_STACK_FILES = 100

# [[smoke]] values that are request or response data, not OS strings: a NUL is fine there.
_DATA_KEYS = frozenset({"json", "json_contains", "body", "body_contains", "body_not_contains"})


def document_problems(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(key path, message) for each value of ``data`` nested too deeply or holding a NUL
    byte; the path is as ``Locator.line_of`` takes it (``("smoke", "[0]", "url")``)."""
    found: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            found.append((_key_of(path[:MAX_DEPTH]), f"nested more than {MAX_DEPTH} levels deep"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if "\0" in key:
                    found.append((path, f"a key holds a NUL byte: {key!r}"))
                    continue
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, f"[{i}]"), item) for i, item in enumerate(value))
        elif isinstance(value, str) and "\0" in value and not _is_data(path):
            found.append(
                (path, "holds a NUL byte (\\u0000), which no command, path or variable can carry")
            )
    found.sort()
    return found


def _is_data(path: tuple[str, ...]) -> bool:
    return len(path) >= 3 and path[0] == "smoke" and path[2] in _DATA_KEYS


def _key_of(path: tuple[str, ...]) -> tuple[str, ...]:
    """``path`` without its trailing array indexes: the key as written in the file."""
    while len(path) > 1 and path[-1].startswith("["):
        path = path[:-1]
    return path
