"""The `watch` connection's feed (devstack ui): a reader that does not keep up holds at
most one pending entry per service, so the supervisor's cost stays a dict insert."""

from __future__ import annotations

import asyncio

from devstack.control.statefeed import StateFeed


def test_a_slow_reader_gets_each_changed_service_once_in_order_of_change() -> None:
    async def go() -> None:
        feed = StateFeed()
        for _ in range(10_000):  # a flapping service while nobody reads
            feed.offer("api")
            feed.offer("web")
        feed.offer("api")
        assert await feed.get() == ["api", "web"]
        feed.offer("db")
        assert await feed.get() == ["db"]

    asyncio.run(go())


def test_get_waits_for_a_change() -> None:
    async def go() -> None:
        feed = StateFeed()
        waiting = asyncio.ensure_future(feed.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        feed.offer("api")
        assert await asyncio.wait_for(waiting, 5) == ["api"]

    asyncio.run(go())
