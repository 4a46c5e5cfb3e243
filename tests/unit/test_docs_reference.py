"""The stack.toml reference says what the code does: every key the models accept is
documented, none is called unsupported (issue 13: the page ended with "Not supported
yet: `setup` and `setup_inputs`", both implemented)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devstack.config import json_schema

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "stack-toml.md"


def accepted_keys(schema: dict[str, Any]) -> set[str]:
    keys = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        keys |= set(definition.get("properties", {}))
    return keys


_UNSUPPORTED = re.compile(r"not (yet )?(supported|implemented)", re.I)


def unsupported_sections(text: str) -> list[str]:
    """The sections whose heading, and the paragraphs whose text, call something
    unsupported or unimplemented."""
    found = []
    for section in re.split(r"\n(?=#)", text):
        heading = section.split("\n", 1)[0]
        if heading.startswith("#") and _UNSUPPORTED.search(heading):
            found.append(section)
        else:
            found += [p for p in section.split("\n\n") if _UNSUPPORTED.search(p)]
    return found


def test_every_accepted_key_is_documented() -> None:
    text = REFERENCE.read_text()
    missing = [
        key
        for key in sorted(accepted_keys(json_schema()))
        if not re.search(rf"`\[*(?:[\w.]+\.)?{re.escape(key)}\]*`", text)  # `[stack]` too
    ]
    assert missing == []


def test_no_accepted_key_is_called_unsupported() -> None:
    keys = accepted_keys(json_schema())
    claims = [
        (key, block[:200])
        for block in unsupported_sections(REFERENCE.read_text())
        for key in keys
        if f"`{key}`" in block
    ]
    assert claims == []


def test_the_unsupported_check_can_fail() -> None:
    text = "## Not supported yet\n\nThese are not implemented:\n\n- `setup` and `setup_inputs`\n"
    blocks = unsupported_sections(text)
    assert blocks and any("`setup`" in b for b in blocks)


def test_what_it_says_of_env_files_is_what_the_parser_does() -> None:
    from devstack.config.envfile import parse_env

    text = REFERENCE.read_text()
    assert "Lines starting with `export ` are ignored" in text
    assert parse_env("export A=1\nB=2\n") == {"B": "2"}
    assert "(`A=a b` gives `ab`)" in text
    assert parse_env('A=a b\nC="a b"\n') == {"A": "ab", "C": "a b"}
