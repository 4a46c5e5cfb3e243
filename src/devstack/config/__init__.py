"""stack.toml (or a Procfile) in, a resolved ``devstack.spec.StackSpec`` out.

The only package that imports pydantic, and only when it reads a stack.toml or
prints its schema (``devstack schema``); a spec-cache hit (``devstack.config.speccache``)
needs none of it. The runtime consumes the frozen specs.
"""

from __future__ import annotations

from typing import Any

from devstack.config.cached import load_for_command
from devstack.config.load import load_stack
from devstack.config.problems import dump_resolved


def json_schema(*, override: bool = False) -> dict[str, Any]:
    """The JSON Schema of stack.toml (``devstack schema``); ``override``: of stack.local.toml."""
    from devstack.config.model import json_schema as from_models

    return from_models(override=override)


__all__ = ["dump_resolved", "json_schema", "load_for_command", "load_stack"]
