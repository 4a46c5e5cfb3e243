"""The pseudo-terminal of an ``interactive`` service, and who is attached to it.

The service's leader gets the pty's slave side as stdin, stdout, stderr and as the
controlling terminal of its session (so pdb, readline and Ctrl-C typed through
``devstack attach`` work as in a terminal). The supervisor keeps the master side:

    master --raw bytes--> output (StreamReader, for the log pump)
                      --> screen (the last bytes, replayed to a new attach)
                      --> the attachment, if any (one at a time: the latest wins)
    attachment keys --> master

Reading the master after the last slave holder exited fails with EIO on Linux (EOF
elsewhere): both end the output.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import termios

_SCREEN_BYTES = 64 * 1024  # raw output kept for the next attach
_ATTACH_QUEUE = 4096  # chunks of output an attached client may fall behind by
_PENDING_KEYS = 1 << 20  # keys held for a service that does not read them, at most
DEFAULT_SIZE = (24, 80)  # rows, columns until a client says its own


def open_pty(rows: int = DEFAULT_SIZE[0], cols: int = DEFAULT_SIZE[1]) -> tuple[int, int]:
    """(master, slave) file descriptors of a new pseudo-terminal of ``rows`` x ``cols``."""
    master, slave = os.openpty()
    set_size(slave, rows, cols)
    return master, slave


def set_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ: the terminal's size; the foreground group gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def take_controlling_terminal(fd: int = 0) -> None:
    """In the child, after setsid: ``fd``'s terminal becomes the session's controlling one."""
    request = getattr(termios, "TIOCSCTTY", None)
    if request is not None:
        fcntl.ioctl(fd, request, 0)
    else:  # without the ioctl, opening the device makes it so (System V)
        os.close(os.open(os.ttyname(fd), os.O_RDWR))


def last_screen(data: bytes, rows: int, *, whole: bool = True) -> bytes:
    """The tail of ``data`` holding its last ``rows`` lines, starting at a line's start
    (never in the middle of an earlier line's escape sequence). ``whole``: ``data`` is
    all the output there was (not the cut end of more)."""
    if rows <= 0 or not data:
        return b""
    start = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(rows):
        found = data.rfind(b"\n", 0, start)
        if found < 0:  # fewer lines than rows
            return data if whole else data[data.find(b"\n") + 1 :]
        start = found
    return data[start + 1 :]


class Attachment:
    """One client's connection to a terminal: output in ``queue`` (None: it ended, see
    ``reason``), keys through ``write``, its window through ``resize``."""

    def __init__(self, terminal: Terminal, screen: bytes) -> None:
        self._terminal = terminal
        self.screen = screen  # what the service showed last, for the client to see first
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.reason: str | None = None
        self.dropped = 0  # output chunks not queued (a client that stopped reading)

    def offer(self, data: bytes) -> None:
        if self.reason is not None:
            return
        if self.queue.qsize() >= _ATTACH_QUEUE:
            self.dropped += 1  # never block or grow without bound: the log keeps it all
            return
        self.queue.put_nowait(data)

    def end(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.queue.put_nowait(None)

    @property
    def is_current(self) -> bool:
        return self.reason is None and self._terminal.attachment is self

    def write(self, data: bytes) -> None:
        if self.is_current:
            self._terminal.write(data)

    def resize(self, rows: int, cols: int) -> None:
        if self.is_current:
            self._terminal.resize(rows, cols)

    def detach(self) -> None:
        """The client left; the service goes on."""
        self.end("detached")
        if self._terminal.attachment is self:
            self._terminal.attachment = None


class _MasterProtocol(asyncio.Protocol):
    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal

    def data_received(self, data: bytes) -> None:
        self._terminal.received(data)

    def eof_received(self) -> bool | None:
        self._terminal.ended()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        # EIO: every holder of the slave side is gone, the usual end of a pty.
        self._terminal.ended()


class Terminal:
    """The master side of a service's pty, read on the event loop."""

    def __init__(self, master: int) -> None:
        self._fd = master
        self.output = asyncio.StreamReader(limit=2**16)
        self._screen = bytearray()
        self._cut = False  # the start of the output is no longer kept
        self._pending = bytearray()  # keys its terminal could not take yet
        self._writing = False  # waiting until it can (add_writer)
        self.attachment: Attachment | None = None
        self._transport: asyncio.ReadTransport | None = None
        self.closed = False

    async def start(self) -> None:
        """Begin reading the master (it becomes non-blocking)."""
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self._fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: _MasterProtocol(self), pipe)
        self._transport = transport
        # A log pump that falls behind pauses the reading: the service waits, as on a pipe.
        self.output.set_transport(transport)

    def received(self, data: bytes) -> None:
        self.output.feed_data(data)
        self._screen += data
        if len(self._screen) > 2 * _SCREEN_BYTES:
            del self._screen[:-_SCREEN_BYTES]
            self._cut = True
        if self.attachment is not None:
            self.attachment.offer(data)

    def ended(self) -> None:
        if self.closed:
            return
        self._stop_writing()
        self._pending.clear()
        self.closed = True
        self.output.feed_eof()
        if self.attachment is not None:
            self.attachment.end("its process ended")
            self.attachment = None

    def attach(self, rows: int | None = None) -> Attachment:
        """A new attachment (the current one, if any, is told it was taken over), with
        the last ``rows`` lines of output as its screen."""
        kept = bytes(self._screen[-_SCREEN_BYTES:])
        whole = len(kept) == len(self._screen) and not self._cut
        screen = last_screen(kept, rows or DEFAULT_SIZE[0], whole=whole)
        attachment = Attachment(self, screen)
        if self.closed:
            attachment.end("its process ended")
            return attachment
        if self.attachment is not None:
            self.attachment.end("another `devstack attach` took over")
        self.attachment = attachment
        return attachment

    def write(self, data: bytes) -> None:
        """Keys to the service. What its terminal cannot take now (a paste larger than
        its input queue, a program that does not read) waits here, up to a bound."""
        if self.closed:
            return
        if self._pending:
            if len(self._pending) + len(data) <= _PENDING_KEYS:
                self._pending += data
            return
        self._pending = bytearray(data)
        self._flush()

    def _flush(self) -> None:
        while self._pending and not self.closed:
            try:
                written = os.write(self._fd, self._pending)
            except BlockingIOError:
                if not self._writing:
                    asyncio.get_running_loop().add_writer(self._fd, self._flush)
                    self._writing = True
                return
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EBADF):
                    raise
                self._pending.clear()
                break
            del self._pending[:written]
        self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                asyncio.get_running_loop().remove_writer(self._fd)

    def resize(self, rows: int, cols: int) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                set_size(self._fd, rows, cols)

    def close(self) -> None:
        """Stop reading and close the master (the service, if alive, gets SIGHUP)."""
        self.ended()  # first: no writer left registered on the descriptor
        if self._transport is not None:
            self._transport.close()
        else:
            with contextlib.suppress(OSError):
                os.close(self._fd)
