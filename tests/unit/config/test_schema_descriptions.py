"""devstack schema: every key of stack.toml has a description (editors show it on hover)."""

from __future__ import annotations

from typing import Any

from devstack.config import json_schema


def undescribed(schema: dict[str, Any]) -> list[str]:
    missing = []
    tables = {"(root)": schema, **schema.get("$defs", {})}
    for table, definition in tables.items():
        if "description" not in definition:
            missing.append(table)
        for key, prop in definition.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{table}.{key}")
    return missing


def test_every_key_has_a_description() -> None:
    schema = json_schema()
    assert undescribed(schema) == []
    assert len(schema["$defs"]) >= 3


def test_the_check_can_fail() -> None:
    schema = {
        "description": "x",
        "properties": {"a": {"description": "y"}, "b": {"type": "string"}},
    }
    assert undescribed(schema) == ["(root).b"]
