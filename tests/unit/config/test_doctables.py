"""The key tables of docs/stack-toml.md are generated from the config models: a key,
type, default or description changed in a model and not regenerated fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.doctables import TABLES, split_description, table, update
from devstack.config.model import ServiceModel

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "docs" / "stack-toml.md"


def test_the_reference_tables_are_what_the_models_generate() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert update(text) == text, (
        "the key tables of docs/stack-toml.md are stale: python -m devstack.config.doctables"
    )


def test_every_key_of_every_model_has_a_row() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for model, prefix in TABLES.values():
        for name, info in model.model_fields.items():
            assert f"| `{prefix}{info.alias or name}` |" in text, name


def test_a_stale_table_is_seen() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    stale = text.replace(
        "| `max_restarts` | integer ≥ 0 | `5` |", "| `max_restarts` | integer ≥ 0 | `3` |"
    )
    assert stale != text
    assert update(stale) == text


def test_the_prose_outside_the_regions_is_kept() -> None:
    page = "intro\n<!-- keys:stack:start -->\nOLD TABLE\n<!-- keys:stack:end -->\noutro\n"
    for name in TABLES:
        if name != "stack":
            page += f"<!-- keys:{name}:start --><!-- keys:{name}:end -->\n"
    new = update(page)
    assert new.startswith("intro\n<!-- keys:stack:start -->\n\n| key | type | default | meaning |")
    assert "\n<!-- keys:stack:end -->\noutro\n" in new
    assert "OLD TABLE" not in new


def test_a_page_without_a_region_is_an_error() -> None:
    with pytest.raises(ValueError, match="keys:stack:start"):
        update("no markers here\n")


def test_a_row_shows_key_type_default_and_description() -> None:
    rows = table(ServiceModel).splitlines()
    assert (
        '| `stop_timeout` | duration | `"10s"` | grace period after `stop_signal` before SIGKILL. |'
        in rows
    )
    assert any(r.startswith("| `cmd` | string or array of strings | required |") for r in rows)
    assert any(r.startswith("| `port` | integer 1..65535 | none |") for r in rows)
    # A default the code works out is written at the end of the description.
    assert split_description("its URL. Default: `http://HOST:PORT`") == (
        "its URL.",
        "`http://HOST:PORT`",
    )
    url = next(r for r in rows if r.startswith("| `url` |"))
    assert "| `http://HOST:PORT` when `port` is set, else none |" in url
    depends = next(r for r in rows if r.startswith("| `depends_on` |"))
    assert '`"started"` \\| `"healthy"`' in depends  # pipes escaped in a cell
