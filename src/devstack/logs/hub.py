"""The log pipeline: pipe bytes -> complete lines -> log file, tail, subscribers, printer.

Everything works on *chunks* (up to 64 KiB of complete lines of one stream of one
service), never on one Python object per line: that is what keeps a chatty service
at well over a million lines per second. A chunk is only ever made of whole lines,
so two services' lines can never be spliced in a file or on the terminal.

    pump(reader)  --LogChunk-->  LogHub.output  --> LogFile  (the record, written first)
                                                --> LogTail  (last N lines, for [failed])
                                                --> subscribers (`logs -f`)
                                                --> Printer  (terminal, never blocks)
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.logs.chunk import LogChunk, make_chunk
from devstack.logs.files import LogFile

if TYPE_CHECKING:
    from devstack.logs.printer import Printer

log = logging.getLogger(__name__)

DEFAULT_MAX_LINE = 1 << 20


def cut_marker(max_line: int) -> bytes:
    return f" [devstack: line cut at {max_line} bytes]".encode()


class LineSplitter:
    """Turns arbitrary pieces of a byte stream into runs of complete lines.

    A line longer than ``max_line`` bytes is cut: its first ``max_line`` bytes are
    delivered with a marker, the rest up to its newline is dropped and counted
    (``cut_lines``, ``dropped_bytes``), so memory stays bounded whatever a child writes.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self.max_line = max_line
        self._marker = cut_marker(max_line)
        self._partial = b""
        self._dropping = False  # inside the dropped rest of a cut line
        self.cut_lines = 0
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> bytes:
        """The complete lines now available (ending in b"\\n"), or b""."""
        if self._dropping:
            newline = data.find(b"\n")
            if newline == -1:
                self.dropped_bytes += len(data)
                return b""
            self.dropped_bytes += newline
            self._dropping = False
            data = data[newline + 1 :]
        last = data.rfind(b"\n")
        if last == -1:
            self._partial += data
            if len(self._partial) > self.max_line:
                return self._cut_partial()
            return b""
        complete = self._partial + data[: last + 1] if self._partial else data[: last + 1]
        self._partial = data[last + 1 :]
        # Cheap test first: a run no longer than max_line cannot hold an overlong line.
        if len(complete) > self.max_line + 1:
            complete = self._cut_long_lines(complete)
        if len(self._partial) > self.max_line:
            complete += self._cut_partial()
        return complete

    @property
    def has_partial(self) -> bool:
        """An unfinished line is held (not one being dropped after a cut)."""
        return bool(self._partial)

    def flush(self) -> bytes:
        """At EOF: the partial last line plus b"\\n", or b""."""
        self._dropping = False
        partial, self._partial = self._partial, b""
        return partial + b"\n" if partial else b""

    def _cut_partial(self) -> bytes:
        head = self._partial[: self.max_line]
        self.dropped_bytes += len(self._partial) - self.max_line
        self.cut_lines += 1
        self._partial = b""
        self._dropping = True
        return head + self._marker + b"\n"

    def _cut_long_lines(self, run: bytes) -> bytes:
        # Rare path (a line longer than max_line inside one run): walk line by line.
        pieces: list[bytes] = []
        start = 0
        end = len(run)
        while start < end:
            newline = run.index(b"\n", start)
            if newline - start > self.max_line:
                pieces.append(run[start : start + self.max_line] + self._marker + b"\n")
                self.cut_lines += 1
                self.dropped_bytes += newline - start - self.max_line
            else:
                pieces.append(run[start : newline + 1])
            start = newline + 1
        return b"".join(pieces)


async def pump(
    reader: asyncio.StreamReader,
    service: str,
    stream: str,
    sink: Callable[[LogChunk], None],
    chunk_size: int = 65536,
) -> None:
    """Read until EOF in chunks (reader.read(chunk_size), never readline), split, decode
    with errors="replace", call sink once per chunk of complete lines; at EOF deliver the
    partial last line.
    """
    # readline() raises past its limit and then clears its buffer: silent loss.
    splitter = LineSplitter()
    read = reader.read
    while True:
        data = await read(chunk_size)
        if not data:
            break
        complete = splitter.feed(data)
        if complete:
            sink(
                LogChunk(
                    service,
                    stream,
                    complete.decode("utf-8", "replace"),
                    time.time(),
                    complete.count(b"\n"),
                )
            )
    tail = splitter.flush()
    if tail:
        sink(LogChunk(service, stream, tail.decode("utf-8", "replace"), time.time(), 1))
    if splitter.cut_lines:
        log.info(
            "%s %s: %d overlong lines cut, %d bytes dropped",
            service,
            stream,
            splitter.cut_lines,
            splitter.dropped_bytes,
        )


TERMINAL_QUIET = 0.25  # a terminal's unfinished line (a prompt) is logged after this quiet


async def pump_terminal(
    reader: asyncio.StreamReader,
    service: str,
    sink: Callable[[LogChunk], None],
    quiet: float = TERMINAL_QUIET,
    chunk_size: int = 65536,
) -> None:
    """``pump`` for the master side of a pseudo-terminal (one stream, logged as stdout).

    The terminal's line discipline writes each newline as ``\\r\\n``: that is one line
    (nothing else is stripped: a lone ``\\r`` or an escape sequence stays). An unfinished
    line that stays so for ``quiet`` seconds is delivered as a line of its own, so a
    prompt such as ``(Pdb) `` is seen while the program waits for input.
    """
    splitter = LineSplitter()
    held = b""  # a final b"\\r" whose b"\\n" may come with the next read

    def deliver(complete: bytes) -> None:
        if complete:
            text = complete.decode("utf-8", "replace")
            sink(LogChunk(service, "stdout", text, time.time(), complete.count(b"\n")))

    while True:
        pending = held or splitter.has_partial
        try:
            if pending:
                data = await asyncio.wait_for(reader.read(chunk_size), quiet)
            else:
                data = await reader.read(chunk_size)
        except TimeoutError:  # quiet: the unfinished line is shown as it is
            splitter.feed(held)
            held = b""
            deliver(splitter.flush())
            continue
        if not data:
            break
        data = held + data
        held = b"\r" if data.endswith(b"\r") else b""
        if held:
            data = data[:-1]
        deliver(splitter.feed(data.replace(b"\r\n", b"\n")))
    splitter.feed(held)
    deliver(splitter.flush())


class LogTail:
    """Per service, the last ``max_lines`` lines, kept as chunks (split only when read)."""

    def __init__(self, max_lines: int = 1000) -> None:
        self.max_lines = max_lines
        self._chunks: dict[str, deque[LogChunk]] = {}
        self._counts: dict[str, int] = {}

    def add(self, chunk: LogChunk) -> None:
        chunks = self._chunks.setdefault(chunk.service, deque())
        chunks.append(chunk)
        count = self._counts.get(chunk.service, 0) + chunk.lines
        # Drop whole old chunks while the rest still holds max_lines lines.
        while len(chunks) > 1 and count - chunks[0].lines >= self.max_lines:
            count -= chunks.popleft().lines
        self._counts[chunk.service] = count

    def chunks(self, service: str) -> list[LogChunk]:
        """What is kept of ``service``, oldest first (the same objects subscribers got)."""
        return list(self._chunks.get(service, ()))

    def last(self, service: str, n: int = 20, *, events: bool = True) -> list[str]:
        """The last ``n`` lines (at most ``max_lines``) of ``service``, without newlines.

        ``events=False``: the service's own output only, without devstack's event lines.
        """
        n = min(n, self.max_lines)
        if n <= 0:
            return []
        found: list[str] = []
        for chunk in reversed(self._chunks.get(service, ())):
            if not events and chunk.stream == "event":
                continue
            lines = chunk.text.split("\n")[:-1]  # text ends in "\n"
            found[:0] = lines[-(n - len(found)) :]
            if len(found) >= n:
                break
        return found


class LogSubscription(asyncio.Queue[LogChunk]):
    """A bounded queue of chunks for one follower; when full the oldest chunk goes."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.dropped_chunks = 0
        self.dropped_lines = 0

    def offer(self, chunk: LogChunk) -> None:
        if self.full():
            old = self.get_nowait()
            self.dropped_chunks += 1
            self.dropped_lines += old.lines
        self.put_nowait(chunk)


def _last_lines(chunks: list[LogChunk], n: int) -> list[LogChunk]:
    """The shortest tail of ``chunks`` holding ``n`` lines, its first chunk cut to fit."""
    if n <= 0:
        return []
    kept: list[LogChunk] = []
    count = 0
    for chunk in reversed(chunks):
        if count >= n:
            break
        if count + chunk.lines > n:
            lines = chunk.text.splitlines(keepends=True)[-(n - count) :]
            if lines:
                kept.append(
                    LogChunk(chunk.service, chunk.stream, "".join(lines), chunk.time, len(lines))
                )
            break
        kept.append(chunk)
        count += chunk.lines
    kept.reverse()
    return kept


def max_bytes_from_env() -> int:
    """DEVSTACK_LOG_MAX_BYTES: rotate the per-service log files at this size (default 10 MiB)."""
    raw = os.environ.get("DEVSTACK_LOG_MAX_BYTES") or ""
    if not raw:
        return 10 * 2**20
    if not raw.isdigit() or int(raw) == 0:
        from devstack.errors import UsageError

        raise UsageError(
            f"DEVSTACK_LOG_MAX_BYTES={raw!r} is not a size in bytes",
            hint="set it to a positive whole number of bytes (e.g. 10485760), or unset it",
        )
    return int(raw)


_RETRY = 1.0  # seconds between attempts to write a paused log file


@dataclass(slots=True)
class _Paused:
    """A log file whose last write failed."""

    path: Path
    reason: str  # "No space left on device"
    since: float  # epoch seconds
    retry_at: float  # on the hub's clock
    lost: int  # lines not written

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.since))
        noun = "line" if self.lost == 1 else "lines"
        return f"disabled since {since}: {self.reason} ({self.lost} {noun} not written)"

    def resumed_text(self) -> str:
        noun = "line" if self.lost == 1 else "lines"
        return (
            f"[log file] written again; {self.lost} {noun} not written while it failed "
            f"({self.reason})"
        )


class LogHub:
    """The single fan-out the supervisor talks to. Used from the event loop's thread."""

    def __init__(
        self,
        printer: Printer | None,
        log_dir: Path | None,
        tail_lines: int = 1000,
        max_bytes: int = 10 * 2**20,
        backups: int = 3,
        subscriber_chunks: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        print_output: bool = True,
    ) -> None:
        self._printer = printer
        self._print_output = print_output  # False: the printer gets events and messages only
        self._log_dir = log_dir
        self._max_bytes = max_bytes
        self._backups = backups
        self._files: dict[str, LogFile] = {}
        self._paused: dict[str, _Paused] = {}  # service -> why its file is not written
        self._clock = clock
        self._tail = LogTail(tail_lines)
        self._subscribers: list[LogSubscription] = []
        self._subscriber_chunks = subscriber_chunks
        self._closed = False

    def _to_file(self, chunk: LogChunk) -> None:
        """Append ``chunk`` to its service's file. A failed write (a full disk) pauses
        that file: lines are counted, not written, and the write is tried again at most
        every ``_RETRY`` seconds, so a full disk costs a clock read per chunk."""
        if self._log_dir is None:
            return
        name = chunk.service
        paused = self._paused.get(name)
        if paused is not None and self._clock() < paused.retry_at:
            paused.lost += chunk.lines
            return
        notice: LogChunk | None = None
        try:
            file = self._files.get(name)
            if file is None:
                file = LogFile(self._log_dir / f"{name}.log", self._max_bytes, self._backups)
                self._files[name] = file
            if paused is not None:  # the gap is said in the file itself
                notice = make_chunk(name, "event", paused.resumed_text())
                file.write(notice)
            file.write(chunk)
        except OSError as exc:
            self._pause(name, exc, chunk.lines)
            return
        if paused is not None and notice is not None:
            del self._paused[name]
            log.info("log file of %s written again", name)
            self._share(notice)
            if self._printer is not None:
                self._printer.event(name, notice.text[:-1], "ok")

    def _pause(self, name: str, exc: OSError, lines: int) -> None:
        paused = self._paused.get(name)
        if paused is not None:
            paused.retry_at = self._clock() + _RETRY
            paused.lost += lines
            return
        assert self._log_dir is not None
        path = self._log_dir / f"{name}.log"
        reason = exc.strerror or str(exc)
        self._paused[name] = _Paused(path, reason, time.time(), self._clock() + _RETRY, lines)
        # Said once (the terminal, `logs -f`, the tail), never into the failing file;
        # the diagnostic log at info: a warning would print a second, raw line.
        log.info("log file of %s disabled: %s", name, exc)
        text = (
            f"[log file] disabled: {path}: {reason}; output is not written to it until "
            "writing works again (tried every second)"
        )
        self._share(make_chunk(name, "event", text))
        if self._printer is not None:
            self._printer.event(name, text, "warn")

    def file_problem(self, service: str) -> str | None:
        """Why ``service``'s log file is not written now (for ``ps``), or None."""
        paused = self._paused.get(service)
        return None if paused is None else paused.describe()

    def _share(self, chunk: LogChunk) -> None:
        self._tail.add(chunk)
        for queue in self._subscribers:
            queue.offer(chunk)

    def _record(self, chunk: LogChunk) -> None:
        self._to_file(chunk)
        self._share(chunk)

    def output(self, chunk: LogChunk) -> None:
        """A service's output: file first (it is the record), then tail, then printer."""
        if self._closed:
            return
        self._record(chunk)
        if self._printer is not None and self._print_output:
            self._printer.output(chunk)

    def event(self, service: str, text: str, level: str = "info") -> None:
        """devstack's own line about a service, e.g. "[start] pid 4121"."""
        if self._closed:
            return
        self._record(make_chunk(service, "event", text))
        if self._printer is not None:
            self._printer.event(service, text, level)

    def message(self, text: str, level: str = "info") -> None:
        """A stack-level line (no service): printer only."""
        if self._printer is not None and not self._closed:
            self._printer.message(text, level)

    def last_lines(self, service: str, n: int = 20, *, events: bool = True) -> list[str]:
        return self._tail.last(service, n, events=events)

    def history(
        self, names: Sequence[str], n: int | None = None, since: float | None = None
    ) -> list[LogChunk]:
        """Kept chunks of ``names`` merged in time order: at most the last ``n`` lines of
        each, none older than ``since`` (epoch seconds). Untrimmed chunks are the very
        objects subscribers received, so a follower can drop them by identity."""
        merged: list[LogChunk] = []
        for name in names:
            chunks = [c for c in self._tail.chunks(name) if since is None or c.time >= since]
            if n is not None:
                chunks = _last_lines(chunks, n)
            merged += chunks
        merged.sort(key=lambda c: c.time)  # stable: a service's own order is kept
        return merged

    def subscribe(self) -> LogSubscription:
        queue = LogSubscription(self._subscriber_chunks)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LogChunk]) -> None:
        self._subscribers = [q for q in self._subscribers if q is not queue]

    def close(self) -> None:
        """Close the files, then the printer (which drains what it holds)."""
        if self._closed:
            return
        self._closed = True
        for file in self._files.values():
            file.close()
        self._files.clear()
        if self._printer is not None:
            self._printer.close()
