"""The lines the log pane keeps, and what it shows of them (pure: no Textual).

The pane keeps the last ``max_lines`` lines of every service together; the log files
keep everything (``devstack logs SVC``). Lines arrive as the control socket's chunks.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

# Colour and cursor escapes a service prints: the pane draws plain text (search and
# filter see what is shown).
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


@dataclass(frozen=True, slots=True)
class Line:
    service: str
    stream: str  # "stdout" | "stderr" | "event" (devstack's own line about the service)
    time: float  # epoch seconds the chunk was read
    text: str  # without its newline

    @property
    def is_event(self) -> bool:
        return self.stream == "event"


def split_chunk(chunk: dict[str, object]) -> list[Line]:
    """A ``logs`` reply's chunk -> its lines (escapes removed)."""
    text = chunk.get("text")
    if not isinstance(text, str):
        return []
    if "\x1b" in text:
        text = _ESCAPES.sub("", text)
    service, stream, when = str(chunk.get("service")), str(chunk.get("stream")), chunk.get("time")
    stamp = float(when) if isinstance(when, int | float) else 0.0
    return [Line(service, stream, stamp, part) for part in text.split("\n")[:-1]]


class LogStore:
    """The last ``max_lines`` lines, oldest first; ``added`` counts every line ever added
    (so a view can tell how many of its lines were dropped from the front)."""

    def __init__(self, max_lines: int = 20_000) -> None:
        self.lines: deque[Line] = deque(maxlen=max_lines)
        self.added = 0

    def add(self, lines: list[Line]) -> None:
        self.lines.extend(lines)
        self.added += len(lines)


@dataclass(frozen=True, slots=True)
class View:
    """Which lines the pane shows: one service's or all, and only those holding
    ``filter`` (case-insensitive) when one is set."""

    service: str | None = None
    filter: str = ""

    def shows(self, line: Line) -> bool:
        if self.service is not None and line.service != self.service:
            return False
        return not self.filter or self.filter.lower() in line.text.lower()


def matches(text: str, term: str) -> list[tuple[int, int]]:
    """Where ``term`` occurs in ``text`` (case-insensitive): (start, end) pairs."""
    if not term:
        return []
    found = []
    lowered, needle = text.lower(), term.lower()
    start = lowered.find(needle)
    while start >= 0:
        found.append((start, start + len(needle)))
        start = lowered.find(needle, start + len(needle))
    return found


def next_match(lines: list[Line], term: str, after: int, backwards: bool = False) -> int | None:
    """The index of the next line holding ``term`` after (or before) index ``after``,
    going round the end; None when no line holds it."""
    count = len(lines)
    if not term or not count:
        return None
    needle = term.lower()
    step = -1 if backwards else 1
    for k in range(1, count + 1):
        i = (after + step * k) % count
        if needle in lines[i].text.lower():
            return i
    return None
