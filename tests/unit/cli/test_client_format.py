"""``devstack logs`` formats lines as the live terminal does: the same colour per
service and the same prefix."""

from __future__ import annotations

from devstack.cli.logs import LineFormat
from devstack.logs.files import LogLine
from devstack.logs.printer import colour_of


def test_logs_colours_match_the_live_terminal() -> None:
    fmt = LineFormat(["api", "frontend-dev", "db"], color=True, timestamps=False)
    for name in ("api", "frontend-dev", "db", "ünïcode"):
        text = fmt.format(LogLine(name, "stdout", 0.0, "hello"))
        assert text.startswith(f"\x1b[{colour_of(name)}m{name}"), text
        assert text.endswith("| \x1b[0mhello")


def test_events_use_a_star_and_timestamps_come_first() -> None:
    fmt = LineFormat(["api"], color=False, timestamps=True)
    assert fmt.format(LogLine("api", "event", 1.5, "[healthy]")) == (
        "1970-01-01T00:00:01.500Z api       * [healthy]"
    )
