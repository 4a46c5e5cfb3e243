"""stack.toml (or a Procfile) in, a resolved ``devstack.spec.StackSpec`` out.

The only package that imports pydantic, and only when it must: for an invalid
stack.toml (to explain it), for ``devstack schema``, and for a valid file that
``shape.read`` is unsure of. The runtime consumes the frozen specs.

Importing one module of the package (``config.durations``, for ``logs --since``)
does not load the rest: the names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.config.cached import load_for_command
    from devstack.config.load import load_stack
    from devstack.config.report import dump_resolved

_HOMES = {
    "load_stack": "devstack.config.load",
    "load_for_command": "devstack.config.cached",
    "dump_resolved": "devstack.config.report",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of stack.toml (``devstack schema``)."""
    from devstack.config.model import json_schema as from_models

    return from_models()


__all__ = ["dump_resolved", "json_schema", "load_for_command", "load_stack"]
