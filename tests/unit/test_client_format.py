"""``devstack logs`` formats lines in the client (which may not import printer.py and
its asyncio): the same colour per service and the same prefix as the live terminal."""

from __future__ import annotations

from devstack.commands.control import _PALETTE, Line, LineFormat
from devstack.printer import PALETTE, colour_of


def test_logs_colours_match_the_live_terminal() -> None:
    assert _PALETTE == PALETTE
    fmt = LineFormat(["api", "frontend-dev", "db"], color=True, timestamps=False)
    for name in ("api", "frontend-dev", "db", "ünïcode"):
        text = fmt.format(Line(name, "stdout", 0.0, "hello"))
        assert text.startswith(f"\x1b[{colour_of(name)}m{name}"), text
        assert text.endswith("| \x1b[0mhello")


def test_events_use_a_star_and_timestamps_come_first() -> None:
    fmt = LineFormat(["api"], color=False, timestamps=True)
    assert fmt.format(Line("api", "event", 1.5, "[healthy]")) == (
        "1970-01-01T00:00:01.500Z api       * [healthy]"
    )
