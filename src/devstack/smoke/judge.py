"""Whether an answer is what a ``[[smoke]]`` entry expects (pure)."""

from __future__ import annotations

import json
from typing import Any

from devstack.smoke.result import expected_text
from devstack.spec import SmokeSpec


def status_ok(spec: SmokeSpec, status: int) -> bool:
    return status in spec.expect_status if spec.expect_status else 200 <= status < 300


def failures(spec: SmokeSpec, status: int | None, body: str, error: str | None) -> list[str]:
    """What is wrong with the answer, one line each (empty: it passed)."""
    if status is None:
        return [f"no answer: {error or 'unknown error'}"]
    found: list[str] = []
    if not status_ok(spec, status):
        found.append(f"status {status}, expected {expected_text(spec.expect_status)}")
    found += [f"body lacks {text!r}" for text in spec.body_contains if text not in body]
    found += [f"body contains {text!r}" for text in spec.body_not_contains if text in body]
    if spec.json_contains is not None:
        found += json_mismatches(json.loads(spec.json_contains), body)
    return found


def json_mismatches(wanted: dict[str, Any], body: str) -> list[str]:
    """How the JSON ``body`` fails to include ``wanted`` (keys and values; tables nested)."""
    try:
        got = json.loads(body)
    except ValueError:
        return ["body is not JSON"]
    return _missing(wanted, got, "")


def _missing(wanted: dict[str, Any], got: object, where: str) -> list[str]:
    if not isinstance(got, dict):
        return [f"body JSON{where} is not an object"]
    found: list[str] = []
    for key, value in wanted.items():
        path = f"{where}.{key}"
        if key not in got:
            found.append(f"body JSON has no {path[1:]}")
        elif isinstance(value, dict):
            found += _missing(value, got[key], path)
        elif got[key] != value or isinstance(got[key], bool) != isinstance(value, bool):
            shown = json.dumps(got[key])
            found.append(f"body JSON {path[1:]} is {shown}, expected {json.dumps(value)}")
    return found


def body_excerpt(body: str, limit: int = 200) -> str:
    """The body on one line, cut to ``limit`` characters (for failure details)."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
