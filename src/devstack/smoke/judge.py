"""Whether an answer is what a ``[[smoke]]`` entry expects (pure)."""

from __future__ import annotations

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
    return found


def body_excerpt(body: str, limit: int = 200) -> str:
    """The body on one line, cut to ``limit`` characters (for failure details)."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
