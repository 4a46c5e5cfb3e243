"""What a rate-bounded follower (the dashboard) gets of the live lines (logs/thinning.py)."""

from __future__ import annotations

from devstack.logs.chunk import LogChunk, make_chunk
from devstack.logs.thinning import LineBudget, newest_lines


def _chunk(service: str, first: int, count: int) -> LogChunk:
    text = "".join(f"{service} {i}\n" for i in range(first, first + count))
    return LogChunk(service, "stdout", text, 1.0, count)


def test_each_service_keeps_its_newest_lines_and_events_are_never_left_out() -> None:
    chunks = [
        _chunk("api", 0, 5),
        make_chunk("api", "event", "[crashed] exit 1"),
        _chunk("web", 0, 2),
        _chunk("api", 5, 5),
    ]
    room = {"api": 7, "web": 10}
    kept, skipped = newest_lines(chunks, room)
    assert "".join(c.text for c in kept) == (
        "api 3\napi 4\n[crashed] exit 1\nweb 0\nweb 1\napi 5\napi 6\napi 7\napi 8\napi 9\n"
    )
    assert [c.lines for c in kept] == [2, 1, 2, 5]
    assert skipped == 3
    assert room == {"api": 0, "web": 8}


def test_a_service_with_no_room_is_all_skipped() -> None:
    kept, skipped = newest_lines([_chunk("api", 0, 4)], {})
    assert kept == [] and skipped == 4


def test_the_budget_lets_a_burst_through_then_holds_a_flood_to_the_rate() -> None:
    budget = LineBudget(rate=100, burst=1000)
    kept, skipped = budget.take([_chunk("api", 0, 800)], now=0.0)  # a traceback: whole
    assert sum(c.lines for c in kept) == 800 and skipped == 0
    # 200 lines of room left; a flood of 10,000 lines in the next tenth of a second
    kept, skipped = budget.take([_chunk("api", 800, 10_000)], now=0.1)
    assert sum(c.lines for c in kept) == 210 and skipped == 10_000 - 210
    assert kept[-1].text.endswith("api 10799\n")  # the newest
    # a second later: a second's worth of rate
    kept, skipped = budget.take([_chunk("api", 0, 5000)], now=1.1)
    assert sum(c.lines for c in kept) == 100 and skipped == 4900


def test_quiet_time_refills_the_budget_up_to_the_burst_only() -> None:
    budget = LineBudget(rate=10, burst=50)
    budget.take([_chunk("api", 0, 50)], now=0.0)
    kept, skipped = budget.take([_chunk("api", 0, 500)], now=3600.0)
    assert sum(c.lines for c in kept) == 50 and skipped == 450
