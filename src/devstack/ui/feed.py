"""The dashboard's connections to the supervisor, each read in a thread of its own.

Two streams stay open: ``watch`` (each service's state as it changes) and ``logs -f``
with a ``rate``: the supervisor sends at most one reply a tick, with at most
``LOG_RATE`` lines a second of each service (the newest) and the count of the lines it
left out, so a flood costs neither side a JSON object per chunk. The log reader never
waits for the screen: it moves lines into an inbox bounded in lines, and when the
screen falls behind the oldest waiting lines are skipped and counted. Skipped lines
are counted wherever they are left out; the log files keep every line.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from devstack.control.client import ControlClient
from devstack.errors import DevstackError
from devstack.paths import StatePaths
from devstack.ui.logstore import Line, split_chunk

HISTORY_LINES = 2000  # scrollback asked of the supervisor at the start, per service
# Lines a second per service the supervisor sends the pane over time (bursts of ten
# seconds' worth come whole; of a flood the newest, the rest counted as skipped): more
# than anyone reads, far less than a flood.
LOG_RATE = 200


class LogInbox:
    """Lines read from the socket and not yet drawn; thread-safe, bounded."""

    def __init__(self, max_lines: int = 50_000) -> None:
        self._lines: deque[Line] = deque()
        self._max = max_lines
        self._lock = threading.Lock()
        self.skipped = 0  # lines the dashboard never showed (here or at the supervisor)

    def put(self, lines: list[Line]) -> None:
        with self._lock:
            self._lines.extend(lines)
            over = len(self._lines) - self._max
            if over > 0:
                for _ in range(over):
                    self._lines.popleft()
                self.skipped += over

    def count_dropped(self, n: int) -> None:
        with self._lock:
            self.skipped += n

    def take(self) -> list[Line]:
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
        return lines


class Streams:
    """The open stream connections; ``close`` ends them from the screen's thread."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self._clients: list[ControlClient] = []
        self._lock = threading.Lock()
        self.closed = False

    def connect(self) -> ControlClient:
        # No reply timeout: a stream may be quiet for hours.
        client = ControlClient.connect(self.paths, timeout=None)
        with self._lock:
            self._clients.append(client)
            if self.closed:
                client.interrupt()
        return client

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for client in self._clients:
                client.interrupt()


def follow_logs(streams: Streams, inbox: LogInbox) -> str:
    """Read ``logs -f`` (with the supervisor's history first) into ``inbox`` until the
    connection ends; why it ended."""
    try:
        with streams.connect() as client:
            request: dict[str, object] = {"n": HISTORY_LINES, "follow": True, "rate": LOG_RATE}
            for result in client.stream("logs", request):
                if not isinstance(result, dict):
                    continue
                chunk = result.get("chunk")  # the history
                if isinstance(chunk, dict):
                    inbox.put(split_chunk(chunk))
                chunks = result.get("chunks")  # one tick of the live lines
                if isinstance(chunks, list):
                    inbox.put([ln for c in chunks if isinstance(c, dict) for ln in split_chunk(c)])
                skipped = result.get("skipped")
                if isinstance(skipped, int) and skipped:
                    inbox.count_dropped(skipped)
    except (DevstackError, OSError) as exc:
        return f"log stream ended: {exc}"
    return "the stack stopped"


def watch_states(streams: Streams, on_rows: Callable[[list[dict[str, object]]], None]) -> str:
    """Call ``on_rows`` with each state row the supervisor sends (all of them first)
    until the connection ends; why it ended."""
    try:
        with streams.connect() as client:
            for result in client.stream("watch"):
                if not isinstance(result, dict):
                    continue
                rows = result.get("states")
                if isinstance(rows, list):
                    on_rows(rows)
                row = result.get("state")
                if isinstance(row, dict):
                    on_rows([row])
    except (DevstackError, OSError) as exc:
        return f"state stream ended: {exc}"
    return "the stack stopped"


def history(paths: StatePaths, name: str) -> list[Line]:
    """What the supervisor keeps of ``name``'s log (its own lines among them)."""
    lines: list[Line] = []
    with ControlClient.connect(paths, timeout=10.0) as client:
        for result in client.stream("logs", {"names": [name]}):
            chunk = result.get("chunk") if isinstance(result, dict) else None
            if isinstance(chunk, dict):
                lines += split_chunk(chunk)
    return lines


def call(paths: StatePaths, cmd: str, args: dict[str, object] | None = None) -> object:
    """One request on a connection of its own (restart and stop wait for the outcome)."""
    with ControlClient.connect(paths, timeout=10.0) as client:
        return client.call(cmd, args)
