"""``LineBudget``: what a rate-bounded follower (the dashboard) gets of the live lines.

A screen cannot show tens of thousands of lines a second; sending them all costs the
supervisor a JSON encoding of each and the reader a parse. A follower that asks for a
rate gets, per service, at most ``rate`` lines a second over time, with a burst
allowance (a traceback or a request's log comes whole), and of a flood the newest
lines; the lines left out are counted, and the log files keep them all. The rate
never leaves devstack's own event lines out: they are few, and they are what a reader
must not miss.
"""

from __future__ import annotations

from devstack.logs.chunk import LogChunk


def _tail(chunk: LogChunk, n: int) -> LogChunk:
    """The last ``n`` lines of ``chunk`` (``n`` < its lines), split only that far."""
    parts = chunk.text.rsplit("\n", n + 1)  # [head, line1, ..., lineN, ""]
    return LogChunk(chunk.service, chunk.stream, "\n".join(parts[1:]), chunk.time, n)


def newest_lines(chunks: list[LogChunk], room: dict[str, int]) -> tuple[list[LogChunk], int]:
    """Of ``chunks`` (in order), each service's newest ``room[service]`` output lines
    and all event lines, in their order; and how many lines were left out. ``room``
    is lowered by what is kept."""
    kept: list[LogChunk] = []
    skipped = 0
    for chunk in reversed(chunks):
        if chunk.stream == "event":
            kept.append(chunk)
            continue
        left = room.get(chunk.service, 0)
        if chunk.lines <= left:
            kept.append(chunk)
            room[chunk.service] = left - chunk.lines
        elif left > 0:
            kept.append(_tail(chunk, left))
            room[chunk.service] = 0
            skipped += chunk.lines - left
        else:
            skipped += chunk.lines
    kept.reverse()
    return kept, skipped


class LineBudget:
    """A token bucket per service: ``rate`` lines a second, at most ``burst`` saved."""

    def __init__(self, rate: int, burst: int) -> None:
        self.rate = rate
        self.burst = max(burst, rate)
        self._room: dict[str, float] = {}
        self._last: float | None = None

    def take(self, chunks: list[LogChunk], now: float) -> tuple[list[LogChunk], int]:
        """What of ``chunks`` may be sent at ``now`` (seconds, any monotonic clock), and
        how many lines are left out."""
        earned = 0.0 if self._last is None else (now - self._last) * self.rate
        self._last = now
        for name, left in self._room.items():
            self._room[name] = min(self.burst, left + earned)
        for chunk in chunks:
            self._room.setdefault(chunk.service, float(self.burst))
        room = {name: int(left) for name, left in self._room.items()}
        kept, skipped = newest_lines(chunks, room)
        for name, left in room.items():  # what was used, keeping the fractions
            self._room[name] -= int(self._room[name]) - left
        return kept, skipped
