"""YAML through ruamel.yaml: what it writes, PyYAML (YAML 1.1) reads back exactly."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from devstack.export.yaml import Commented, dump

TRICKY = [
    "no",
    "on",
    "yes",
    "y",
    "Off",
    "5000",
    "1.0",
    "1e3",
    "0o7",
    "0x1F",
    "1:20",  # YAML 1.1 reads a sexagesimal int (80)
    "8080:50",
    "2024-01-01",
    "~",
    "null",
    "",
    " x ",
    ":",
    "a: b",
    "a:",
    "#c",
    "x #c",
    "${VAR}",
    "$$HOME",
    "line\nbreak",
    "nel\x85ls\u2028ps\u2029",  # single-quoted, a reader would fold them to spaces
    "tab\t",
    'quote"s',
    "it's",
    "back\\slash",
    "é ü 中",
    "- item",
    "[1]",
    "{a}",
    "*a",
    "&a",
    "!tag",
    "%x",
    "@x",
    "<<",
    "---",
]


def test_tricky_strings_stay_strings() -> None:
    data = {"services": {"s": {"list": TRICKY, **{f"k{i}": v for i, v in enumerate(TRICKY)}}}}
    assert yaml.safe_load(dump(data)) == data


def test_keys_that_would_be_misread_are_quoted() -> None:
    data = {
        "no": 1,
        "on": {"yes": True},
        "5000": None,
        "a b": [],
        "x-y.z": {},
        **{k: k for k in TRICKY},
    }
    text = dump(data)
    assert yaml.safe_load(text) == data
    assert "x-y.z: {}" in text  # plain where nothing misreads it


def test_comments_above_keys_and_items() -> None:
    data = {"a": Commented({"b": Commented(1, "one\ntwo")}, "top"), "c": [Commented("d", "item")]}
    text = dump(data, header="first\nsecond")
    assert text.startswith("# first\n# second\n")
    assert "# top\na:\n  # one\n  # two\n  b: 1\n" in text
    assert "  # item\n  - d\n" in text
    assert yaml.safe_load(text) == {"a": {"b": 1}, "c": ["d"]}


scalars = st.one_of(st.text(), st.integers(), st.booleans(), st.none())
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), values, max_size=5))
def test_round_trip(data: dict[str, Any]) -> None:
    assert yaml.safe_load(dump(data)) == data
