"""Duration strings: accepted forms and the rejections that name the units."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from devstack.config.durations import format_duration, parse_duration
from devstack.config.model import Duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h1m1s", 3661.0),
        ("0s", 0.0),
        ("1s500ms", 1.5),
    ],
)
def test_accepted(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a duration"),
        ("5", "not a duration"),
        ("-1s", "negative"),
        ("5 sec", "not a duration"),
        ("5sec", "not a duration"),
        ("2d", "not a duration"),
        (" 2s", "not a duration"),
        ("30s1m", "largest first"),
        ("1s1s", "largest first"),
        (".5s", "not a duration"),
    ],
)
def test_rejected_with_units_named(text: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert why in str(info.value)
    assert "ms, s, m or h" in str(info.value)


class _Model(BaseModel):
    d: Duration


def test_field_rejects_toml_numbers() -> None:
    for value in (5, 1.5, True):
        with pytest.raises(ValidationError, match="has no unit"):
            _Model.model_validate({"d": value})
    assert _Model.model_validate({"d": "2s"}).d == 2.0


def test_schema_is_a_string_pattern() -> None:
    schema = _Model.model_json_schema()["properties"]["d"]
    assert schema["type"] == "string"
    assert "pattern" in schema


@pytest.mark.parametrize("seconds", [0.25, 0.5, 1.0, 2.5, 60.0, 0.0])
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
