"""``LogChunk``: the unit every part of the log pipeline passes on (pure data).

Its own module so the hub, the files, the printer and the control protocol share it
without importing one another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

STREAMS = ("stdout", "stderr", "event")


@dataclass(frozen=True, slots=True)
class LogChunk:
    """One or more complete lines read at once from one stream of one service."""

    service: str
    stream: str  # "stdout" | "stderr" | "event" (devstack's own lines about the service)
    text: str  # one or more complete lines, each ending in "\n"
    time: float  # time.time() when read
    lines: int  # number of lines in text


def make_chunk(service: str, stream: str, text: str, when: float | None = None) -> LogChunk:
    """A chunk from text that may lack its final newline (events, tests)."""
    if not text.endswith("\n"):
        text += "\n"
    return LogChunk(service, stream, text, time.time() if when is None else when, text.count("\n"))
