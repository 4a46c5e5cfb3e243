"""Durations as users write them: "250ms", "2s", "1.5s", "1m", "1h", "1m30s".

Accepted units are ``ms``, ``s``, ``m`` and ``h``; parts may be combined from the
largest unit down ("1h30m", "1m30s"). Rejected, with a message naming the units:
bare numbers (TOML ``5`` or the string "5": the unit is never guessed), negative
values, empty strings, spaces ("5 s") and other units ("2d", "5sec"). A stack for
local development never needs days, and "d" is too easily read as something else.
"""

from __future__ import annotations

import re
from typing import Any

UNITS: dict[str, float] = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
ACCEPTED = 'a number with a unit: ms, s, m or h (e.g. "250ms", "2s", "1.5s", "1m30s")'

_PART = r"(\d+(?:\.\d+)?)(ms|h|m|s)"
_WHOLE = re.compile(rf"(?:{_PART})+")
_PARTS = re.compile(_PART)
PATTERN = rf"^(?:{_PART})+$"

# Order in which parts must appear: "1m30s", not "30s1m".
_RANK = {"h": 0, "m": 1, "s": 2, "ms": 3}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError with the accepted forms when it is not a duration."""
    if not isinstance(text, str):
        raise ValueError(f"expected a string, got {type(text).__name__}; write {ACCEPTED}")
    if text.strip().startswith("-"):
        raise ValueError(f"{text!r} is negative; durations are {ACCEPTED}")
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration; write {ACCEPTED}")
    total = 0.0
    last_rank = -1
    for number, unit in _PARTS.findall(text):
        rank = _RANK[unit]
        if rank <= last_rank:
            raise ValueError(
                f'{text!r}: write each unit once, largest first (e.g. "1m30s"); {ACCEPTED}'
            )
        last_rank = rank
        total += float(number) * UNITS[unit]
    return total


def format_duration(seconds: float) -> str:
    """A short string that :func:`parse_duration` reads back (for ``devstack config``)."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def duration_value(value: Any) -> float:
    """A TOML value as seconds: only a duration string will do."""
    if isinstance(value, int | float):  # bool too: it is an int
        # A TOML number: the unit would be a guess.
        raise ValueError(f"{value!r} has no unit; write {ACCEPTED}")
    return parse_duration(value)
