"""Where a service's value was written: stack.toml, stack.local.toml, a later ``-f`` or
an included file, and its line, for a check's message to name the file to edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack.spec import StackSpec


def where_set(
    stack: StackSpec, service: str, key: tuple[str, ...]
) -> tuple[Path, int | None] | None:
    """The file and line that set ``key`` (``("env", "API_URL")``) in ``service``'s table
    (a copy's: its service's), if one of the stack's files wrote it there."""
    from devstack.config.layers import read_again
    from devstack.errors import ConfigError

    spec = stack.services.get(service)
    if stack.file is None or stack.from_procfile or spec is None:
        return None
    try:
        layered = read_again(stack)
    except ConfigError:
        return None
    table = spec.replica_of or service
    value: Any = layered.data.get("services", {}).get(table, {})
    for part in key:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return layered.where(("services", table, *key))
