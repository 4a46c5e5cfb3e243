"""The control client: a socket and ``json``, one request and reply per line.

The client commands import this: no asyncio, httpx, pydantic, psutil or watchfiles
(tests/integration/test_control_cli.py checks it); the standard library is fine.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from types import TracebackType

from devstack.control import protocol as p
from devstack.errors import DevstackError, NoStackRunning, UsageError
from devstack.paths import StatePaths, recorded_pid

_READ_SIZE = 1 << 16


class ControlError(DevstackError):
    """The supervisor answered with an error."""


def _raise(reply: p.Reply) -> None:
    error = reply.error or p.ErrorInfo("unknown error")
    if error.kind == p.USAGE:
        raise UsageError(error.message, error.hint)
    raise ControlError(error.message, error.hint)


def is_pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie is not alive (it has exited, and a slow reaper,
    such as a container's PID 1, may leave it unreaped for seconds)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Linux: the state in /proc/PID/stat (after the command's closing parenthesis)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False  # no /proc (macOS), or gone since the kill
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"


class ControlClient:
    """One connection to a running supervisor; several requests may be sent on it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._timeout = sock.gettimeout()  # of a quick request; p.WAITING ones have none
        self._buffer = bytearray()  # received, not yet returned: at most one partial line

    @classmethod
    def connect(cls, paths: StatePaths, timeout: float | None = 30.0) -> ControlClient:
        """Connect to the supervisor whose state folder ``paths`` names; NoStackRunning
        if none answers."""
        root = paths.root
        pid = recorded_pid(paths.pid_file)
        if pid is not None and not is_pid_alive(pid):
            raise NoStackRunning(root)  # a stale socket of a dead supervisor
        location = p.socket_location(paths.dir)
        if not p.fits(location):  # no supervisor listens there: it records a short socket
            raise NoStackRunning(root)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(location)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            sock.close()
            raise NoStackRunning(root) from None
        except PermissionError as exc:
            sock.close()
            raise DevstackError(
                f"cannot reach the stack's control socket: {exc}",
                hint="run devstack as the user who started the stack",
            ) from None
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def close(self) -> None:
        self._sock.close()

    def interrupt(self) -> None:
        """End the connection from another thread: a ``receive`` blocked there returns."""
        with contextlib.suppress(OSError):  # already closed
            self._sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, cmd: str, args: dict[str, object] | None = None) -> None:
        self._sock.settimeout(None if cmd in p.WAITING else self._timeout)
        self._sock.sendall(p.encode_request(p.Request(cmd, args or {})))

    def fileno(self) -> int:
        """The socket, for select(): readable means a reply, or more of one, came."""
        return self._sock.fileno()

    def has_reply(self) -> bool:
        """A whole reply is already received (``receive`` returns it without waiting)."""
        return b"\n" in self._buffer

    def receive(self) -> p.Reply | None:
        """The next reply, or None when the supervisor closed the connection."""
        searched = 0
        while (end := self._buffer.find(b"\n", searched)) < 0:
            searched = len(self._buffer)
            data = self._sock.recv(_READ_SIZE)
            if not data:
                return None  # closed (a partial last line is no reply)
            self._buffer += data
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return p.decode_reply(line)

    def call(self, cmd: str, args: dict[str, object] | None = None) -> object:
        """Send one request and return its result; the error reply raised as an error."""
        self.send(cmd, args)
        reply = self.receive()
        if reply is None:
            raise ControlError("the supervisor closed the connection without answering")
        if not reply.ok:
            _raise(reply)
        return reply.result

    def stream(self, cmd: str, args: dict[str, object] | None = None) -> Iterator[object]:
        """Results of a streaming command until ``{"end": true}`` or the connection closes."""
        self.send(cmd, args)
        while True:
            reply = self.receive()
            if reply is None:
                return
            if not reply.ok:
                _raise(reply)
            if isinstance(reply.result, dict) and reply.result.get("end") is True:
                return
            yield reply.result


def ps_rows(paths: StatePaths) -> list[dict[str, object]] | None:
    """The running stack's ``ps`` rows; None when no supervisor answers."""
    try:
        with ControlClient.connect(paths, timeout=5.0) as client:
            rows = client.call("ps")
    except (NoStackRunning, OSError):
        return None
    assert isinstance(rows, list)
    return rows
