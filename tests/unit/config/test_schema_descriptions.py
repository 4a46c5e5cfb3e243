"""devstack schema: every key of stack.toml has a description (editors show it on hover)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

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


# Issue 16, point 5: what an editor is told of the files of a layered stack.
LOCAL = {"services": {"api": {"port": 5001, "env": {"DEBUG": "1"}}}}  # stack.local.toml
INCLUDED_SMOKE_ONLY = {"smoke": [{"url": "http://127.0.0.1:5000/"}]}  # an included file


def test_the_issue_16_keys_are_described_with_their_bounds() -> None:
    schema = json_schema()
    service = schema["$defs"]["ServiceModel"]["properties"]
    replicas = next(s for s in service["replicas"]["anyOf"] if s.get("type") == "integer")
    assert (replicas["minimum"], replicas["maximum"]) == (1, 64)
    for key in ("replicas", "profiles", "interactive"):
        assert service[key]["description"], key
    assert schema["properties"]["include"]["description"]


def test_a_file_without_services_is_valid_for_an_editor() -> None:
    # Before: "'services' is a required property" on an included file of [[smoke]] only.
    jsonschema.validate(INCLUDED_SMOKE_ONLY, json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(LOCAL, json_schema())  # a stack's service needs its cmd


def test_the_override_schema_takes_a_partial_service() -> None:
    # Before: stack.local.toml changing only a port was "'cmd' is a required property".
    override = json_schema(override=True)
    jsonschema.validate(LOCAL, override)
    jsonschema.validate({}, override)
    for bad in ({"services": {"api": {"replicas": 65}}}, {"services": {"api": {"pot": 1}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, override)
    assert override["title"] == "devstack stack.local.toml (override)"
    assert "required" not in override["$defs"]["ServiceModel"]
