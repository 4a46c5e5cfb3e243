"""The only terminal writer: aligned, coloured, whole lines, and it never blocks a service.

Formats (``NAME`` padded to the longest service name, at least 8 = ``devstack``)::

    backend   | a line the service printed            service output
    backend   * [start] pid 4121                      devstack's own event about a service
    backend   *   continuation of a multi-line event  (same prefix, text aligned)
    devstack  * stopping the stack                    stack-level message

The ``*`` separator makes devstack's lines visible without colour. With colour, each
name has a stable colour (a hash of the name, not its position) and an event's
``[tag]`` is bold and coloured by level. Escapes a service prints pass through.

``output()`` only appends to a queue bounded in bytes; one daemon thread owns the
file descriptor and writes large batches. When the terminal is slower than the
services, new service output is dropped and counted, and a
``[N lines not shown, see: devstack logs SVC]`` event is printed once there is room.
Events and messages are never dropped.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO, TextIO, cast

if TYPE_CHECKING:
    import asyncio  # `devstack logs` formats lines here and must not import asyncio

    from devstack.logs.chunk import LogChunk

STACK_NAME = "devstack"
RESET = "\x1b[0m"
BOLD = "\x1b[1m"
# Distinct, readable on dark and light backgrounds; red is kept for errors.
PALETTE = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
LEVEL_COLOURS = {"info": "", "ok": "32", "warn": "33", "error": "31"}


def colour_of(name: str) -> str:
    """The SGR code of a name's colour: stable across runs (crc32, not hash())."""
    return PALETTE[zlib.crc32(name.encode("utf-8", "replace")) % len(PALETTE)]


def colour_enabled(fd: int | None, requested: bool | None) -> bool:
    """NO_COLOR (any non-empty value) always wins; else the request; else is fd a TTY."""
    if os.environ.get("NO_COLOR"):
        return False
    if requested is not None:
        return requested
    return fd is not None and os.isatty(fd)


class LineFormatter:
    """Pure formatting of chunks, events and messages into terminal text."""

    def __init__(self, names: Sequence[str], color: bool) -> None:
        self.width = max([len(STACK_NAME), *(len(n) for n in names)])
        self.color = color
        self._prefixes: dict[tuple[str, str], str] = {}

    def prefix(self, name: str, sep: str) -> str:
        key = (name, sep)
        found = self._prefixes.get(key)
        if found is None:
            plain = f"{name.ljust(self.width)}  {sep} "
            if self.color:
                code = "1" if name == STACK_NAME and sep == "*" else colour_of(name)
                found = f"\x1b[{code}m{plain}{RESET}"
            else:
                found = plain
            self._prefixes[key] = found
        return found

    def output(self, chunk: LogChunk) -> str:
        """A chunk of complete lines, each behind its service's prefix: one replace per chunk."""
        prefix = self.prefix(chunk.service, "|")
        return prefix + chunk.text[:-1].replace("\n", "\n" + prefix) + "\n"

    def event(self, name: str, text: str, level: str = "info") -> str:
        prefix = self.prefix(name, "*")
        lines = text.rstrip("\n").split("\n")
        lines[0] = self._style_head(lines[0], level)
        return prefix + ("\n" + prefix).join(lines) + "\n"

    def message(self, text: str, level: str = "info") -> str:
        return self.event(STACK_NAME, text, level)

    def _style_head(self, line: str, level: str) -> str:
        if not self.color:
            return line
        code = LEVEL_COLOURS.get(level, "")
        style = f"\x1b[1;{code}m" if code else BOLD
        end = line.find("]") + 1 if line.startswith("[") else 0
        if end > 0:
            return f"{style}{line[:end]}{RESET}{line[end:]}"
        # No [tag]: a warning or error is coloured whole, an info line left plain.
        return f"{style}{line}{RESET}" if code else line


class Printer:
    """Writes formatted lines to a terminal (or any fd) from one daemon thread."""

    def __init__(
        self,
        names: Sequence[str],
        out: int | BinaryIO | None = None,
        color: bool | None = None,
        max_queue_bytes: int = 32 * 2**20,
    ) -> None:
        self._fd: int | None
        self._file: BinaryIO | None = None
        if out is None:
            self._fd, self._file = _stdout()
        elif isinstance(out, int):
            self._fd = out
        else:
            self._fd, self._file = _fd_of(out)
        self.format = LineFormatter(names, colour_enabled(self._fd, color))
        self.max_queue_bytes = max_queue_bytes
        self._pending: deque[bytes] = deque()
        self._queued = 0  # bytes accepted and not yet written
        self._dropped: dict[str, int] = {}  # lines not shown, per service
        self.dropped_total = 0
        self._cond = threading.Condition()
        self._wake_due = False  # the writer will take the queue: no new wakeup needed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._closing = False
        self._closed = False
        self.broken = False  # the output went away (EPIPE, closed fd): keep draining, no writes
        self.error: OSError | None = None
        self._cut = False  # a failed write (ENOSPC) left the output inside a line
        self._write: Callable[[bytes], None] = (
            self._write_fd if self._file is None else self._write_file
        )
        self._thread = threading.Thread(target=self._run, name="devstack-printer", daemon=True)
        self._thread.start()

    # -- the caller's side: never blocks on the output -------------------------------------

    def defer_wakeups(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the writer once per iteration of ``loop`` (in its thread) instead of once
        per line: 40 services starting print ~120 events, and each wakeup of the writer
        thread is two context switches and a GIL handoff taken from the supervisor."""
        self._loop, self._loop_thread = loop, threading.get_ident()

    def output(self, chunk: LogChunk) -> None:
        """Queue a chunk of service output; dropped and counted if the queue is full."""
        data = self.format.output(chunk).encode("utf-8", "replace")
        with self._cond:
            if self._closed:
                return
            if self._queued + len(data) > self.max_queue_bytes:
                self._dropped[chunk.service] = self._dropped.get(chunk.service, 0) + chunk.lines
                self.dropped_total += chunk.lines
                return
            if chunk.service in self._dropped:
                self._put_marker(chunk.service)
            self._put(data)

    def event(self, service: str, text: str, level: str = "info") -> None:
        """devstack's line about a service (level: info | ok | warn | error); never dropped."""
        self._put_always(self.format.event(service, text, level))

    def message(self, text: str, level: str = "info") -> None:
        """A stack-level line; never dropped."""
        self._put_always(self.format.message(text, level))

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop the writer."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        with self._cond:
            self._closed = True

    def _put_always(self, text: str) -> None:
        with self._cond:
            if not self._closed:
                self._put(text.encode("utf-8", "replace"))

    def _put(self, data: bytes) -> None:
        self._pending.append(data)
        self._queued += len(data)
        if self._wake_due:
            return
        self._wake_due = True
        loop = self._loop
        if loop is not None and threading.get_ident() == self._loop_thread and loop.is_running():
            loop.call_soon(self._wake)
        else:
            self._cond.notify()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _put_marker(self, service: str) -> None:
        count = self._dropped.pop(service)
        noun = "line" if count == 1 else "lines"
        text = f"[{count} {noun} not shown, see: devstack logs {service}]"
        self._put(self.format.event(service, text, "warn").encode("utf-8", "replace"))

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if self._dropped:
                        # Room again (everything written): say what was not shown.
                        for service in list(self._dropped):
                            self._put_marker(service)
                    elif self._closing:
                        return
                    else:
                        self._cond.wait()
                batch = b"".join(self._pending)
                self._pending.clear()
                self._wake_due = False
            if not self.broken:
                self._write(batch)
            with self._cond:
                self._queued -= len(batch)

    def _write_fd(self, data: bytes) -> None:
        fd = -1 if self._fd is None else self._fd
        if self._cut:  # the last batch stopped inside a line: end it first
            data = b"\n" + data
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
                self._cut = False
            except BlockingIOError:
                # A non-blocking stdout (set by someone else): wait until writable.
                select.select([], [fd], [], 1.0)
                continue
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    # A full disk under a file (`up -d`'s supervisor.log): this batch is
                    # lost, the next ones are tried; never the output gone for good.
                    done = len(data) - len(view)
                    self._cut = self._cut or (done > 0 and data[done - 1] != 0x0A)
                    self.error = exc
                    return
                # EPIPE, EBADF, EIO (terminal gone)...: stop writing, keep draining.
                self.broken = True
                self.error = exc
                return
            view = view[written:]

    def _write_file(self, data: bytes) -> None:
        try:
            if self._file is not None:
                self._file.write(data)
                self._file.flush()
        except (OSError, ValueError):  # ValueError: the file object was closed
            self.broken = True


def _fd_of(out: BinaryIO) -> tuple[int | None, BinaryIO | None]:
    """Write to the file descriptor under ``out`` when it has one, else through ``out``."""
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        return None, out
    out.flush()
    return fd, None


def _stdout() -> tuple[int | None, BinaryIO | None]:
    """sys.stdout's fd; or, when it has none (replaced by a test harness), its text stream."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return None, cast(BinaryIO, _TextOut(sys.stdout))
    sys.stdout.flush()
    return fd, None


class _TextOut:
    """Bytes in, text out: for a sys.stdout without a file descriptor."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        self._stream.write(data.decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()
