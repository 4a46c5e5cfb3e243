"""The quiet default once healthy: which tick sends the http request (injected clock)."""

from __future__ import annotations

from devstack.runtime.cadence import full_probe_due


def ticks(seconds: float, interval: float, http_every: float | None) -> list[float]:
    """The times (from healthy at 0) at which the http request is sent over ``seconds``."""
    sent, last = [], 0.0
    for n in range(1, int(seconds / interval) + 1):
        # Ticks wake a little late or early on a real loop.
        now = n * interval + (0.003 if n % 2 else -0.003)
        if full_probe_due(now, last, interval=interval, http_every=http_every, failing=False):
            sent.append(round(now))
            last = now
    return sent


def test_quiet_default_sends_the_request_every_30s_not_every_5s() -> None:
    assert ticks(120, 5.0, 30.0) == [30, 60, 90, 120]
    assert ticks(25, 5.0, 30.0) == []


def test_an_explicit_interval_keeps_the_request_at_every_tick() -> None:
    assert ticks(20, 5.0, None) == [5, 10, 15, 20]


def test_a_failing_probe_is_probed_in_full_at_every_tick() -> None:
    assert full_probe_due(10.0, 5.0, interval=5.0, http_every=30.0, failing=True)
    assert not full_probe_due(10.0, 5.0, interval=5.0, http_every=30.0, failing=False)
