"""stack.toml (or a Procfile) in, a resolved ``devstack.spec.StackSpec`` out.

The only package that imports pydantic; the runtime consumes the frozen specs.
"""

from __future__ import annotations

from devstack.config.load import load_stack
from devstack.config.model import json_schema
from devstack.config.report import dump_resolved

__all__ = ["dump_resolved", "json_schema", "load_stack"]
