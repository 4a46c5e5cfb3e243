"""``StateFeed``: the services whose state changed, for one ``watch`` connection.

A set of names, not a queue of events: however slowly the client reads, it holds at
most one entry per service, and telling it costs the supervisor a dict insert. The
reader gets each changed service once, with its state as it is when sent.
"""

from __future__ import annotations

import asyncio


class StateFeed:
    def __init__(self) -> None:
        self._pending: dict[str, None] = {}  # insertion order: the order of the changes
        self._ready = asyncio.Event()

    def offer(self, name: str) -> None:
        self._pending[name] = None
        self._ready.set()

    async def get(self) -> list[str]:
        """The services that changed since the last call (waits for at least one)."""
        await self._ready.wait()
        self._ready.clear()
        names, self._pending = list(self._pending), {}
        return names
