"""The key tables of docs/stack-toml.md, generated from the models.

Each table sits between ``<!-- keys:NAME:start -->`` and ``<!-- keys:NAME:end -->``
in the page; ``update`` rewrites those regions and leaves the prose alone. A row is
a field of the model: its key, its type (from the JSON Schema), its default (as
written in stack.toml) and its description. A description that ends in
``Default: TEXT`` shows TEXT as the default (for defaults the code works out,
such as "the folder name of stack.toml").

Regenerate after changing a model: ``python -m devstack.config.doctables``
(a test fails while the page is stale).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devstack.config.durations import PATTERN
from devstack.config.model import (
    CheckModel,
    HealthModel,
    ServiceModel,
    SmokeModel,
    StackFile,
    StackTable,
)

# The region's name in the page -> the model, and the prefix of its keys there.
TABLES: dict[str, tuple[type[BaseModel], str]] = {
    "stack": (StackTable, ""),
    "service": (ServiceModel, ""),
    "health": (HealthModel, ""),
    "check": (CheckModel, "check."),
    "smoke": (SmokeModel, ""),
}
PAGE = Path("docs") / "stack-toml.md"

_DEFAULT = re.compile(r"\s*Default: (.*)$", re.DOTALL)
_HEADER = "| key | type | default | meaning |\n|---|---|---|---|"


def split_description(description: str) -> tuple[str, str | None]:
    """The meaning, and the default a ``Default: ...`` ending gives (or None)."""
    match = _DEFAULT.search(description)
    if match is None:
        return description, None
    return description[: match.start()], match.group(1)


def table(model: type[BaseModel], prefix: str = "") -> str:
    """The markdown table of ``model``'s keys."""
    schema = StackFile.model_json_schema()["$defs"][model.__name__]
    rows = [_HEADER]
    for name, info in model.model_fields.items():
        key = info.alias or name
        prop = schema["properties"][key]
        meaning, shown = split_description(info.description or "")
        if shown is None:
            shown = (
                "required"
                if info.is_required()
                else _default(prop, info.get_default(call_default_factory=True))
            )
        cells = [f"`{prefix}{key}`", _type(prop), _cell(shown), _cell(meaning)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    """``text`` fit for a table cell: one line, its pipes escaped."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(text.split()))


def _default(prop: dict[str, Any], value: Any) -> str:
    value = prop.get("default", value)  # the schema has durations and signals as written
    if value is None:
        return "none"
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
            if value
            else "{}"
        )
    return json.dumps(value)


def _type(prop: dict[str, Any]) -> str:
    """What a value of this schema is, in words."""
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    if "$ref" in prop:
        return "table"
    if "const" in prop:
        return f"`{_toml(prop['const'])}`"
    if "enum" in prop and len(prop["enum"]) > 8:  # stop_signal's names: the meaning lists them
        return "string"
    if "enum" in prop:
        return " \\| ".join(f"`{_toml(v)}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "string":
        if prop.get("pattern") == PATTERN:
            return "duration"
        return "string (non-empty)" if prop.get("minLength") else "string"
    if kind == "integer":
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None:
            return f"integer {low}..{high}"
        return f"integer ≥ {low}" if low is not None else "integer"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        return "array of " + _plural(_type(prop["items"]))
    if kind == "object":
        values = prop.get("additionalProperties")
        if isinstance(values, dict):
            return f"table of string → {_type(values)}"
        return "table"
    return "any TOML value"


def _plural(kind: str) -> str:
    first, _, rest = kind.partition(" ")
    if first.startswith("`"):
        return kind
    return f"{first}s {rest}".rstrip()


def update(text: str) -> str:
    """``text`` (the page) with every key table regenerated."""
    for name, (model, prefix) in TABLES.items():
        start, end = f"<!-- keys:{name}:start -->", f"<!-- keys:{name}:end -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"no {start} ... {end} region in the page")
        generated = f"{start}\n\n{table(model, prefix)}\n\n{end}"
        text = text[: found.start()] + generated + text[found.end() :]
    return text


def main(argv: list[str]) -> int:
    """Rewrite the page (default: docs/stack-toml.md under the current directory)."""
    page = Path(argv[0]) if argv else PAGE
    old = page.read_text(encoding="utf-8")
    new = update(old)
    if new != old:
        page.write_text(new, encoding="utf-8")
    print(f"{page}: {'updated' if new != old else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
