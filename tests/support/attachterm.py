"""``devstack attach`` run in a real pseudo-terminal, as a user's terminal would run it.

The test holds the master side: it types (``write``) and reads what the user would see
(``read_until``, always with a deadline). ``close`` ends the client if it still runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from support.stackrun import devstack_env


def _controlling_terminal() -> None:
    """Pre-exec: stdin's pty becomes the controlling terminal of the new session."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class InTerminal:
    """``devstack ARGS`` with a pty as its stdin, stdout and stderr; ``controlling``: also
    as the controlling terminal of its session (a foreground job: the pty's Ctrl-C is
    its SIGINT)."""

    def __init__(
        self, root: Path, *args: str, rows: int = 30, cols: int = 100, controlling: bool = False
    ) -> None:
        self.master, slave = os.openpty()
        self.tty = os.ttyname(slave)  # the client's side, to read its modes from
        self.resize(rows, cols, slave)
        self.seen = b""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", *args],
            cwd=root,
            env=devstack_env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_controlling_terminal if controlling else None,
        )
        os.close(slave)

    def resize(self, rows: int, cols: int, fd: int | None = None) -> None:
        """The terminal's new size; the client gets SIGWINCH, as from a terminal window."""
        size = struct.pack("HHHH", rows, cols, 0, 0)
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ, size)
        if fd is None:
            self.proc.send_signal(signal.SIGWINCH)

    def modes(self) -> tuple[bool, bool]:
        """(canonical, echo) of the client's side of the terminal now."""
        fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        try:
            lflag = termios.tcgetattr(fd)[3]
        finally:
            os.close(fd)
        return bool(lflag & termios.ICANON), bool(lflag & termios.ECHO)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, wanted: bytes, timeout: float = 15.0) -> bytes:
        """Everything seen so far, once ``wanted`` appeared after ``self.mark``; fails at the
        deadline with what was seen."""
        start = len(self.seen) if self._mark is None else self._mark
        deadline = time.monotonic() + timeout
        while wanted not in self.seen[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted!r} within {timeout}s; seen: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the client exited and closed the terminal
                    data = b""
                if not data:
                    if wanted in self.seen[start:]:
                        break
                    raise AssertionError(f"terminal closed before {wanted!r}; seen: {self.seen!r}")
                self.seen += data
        self._mark = self.seen.index(wanted, start) + len(wanted)
        return self.seen

    _mark: int | None = None

    def wait(self, timeout: float = 15.0) -> int:
        """The client's exit code, reading its terminal meanwhile (so it never blocks)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"attach still running after {timeout}s: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.master, 65536)
        with contextlib.suppress(OSError):
            while select.select([self.master], [], [], 0.05)[0]:
                data = os.read(self.master, 65536)
                if not data:
                    break
                self.seen += data
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.close(self.master)

    def __enter__(self) -> InTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AttachTerminal(InTerminal):
    """``devstack attach SERVICE`` in a terminal of its own."""

    def __init__(self, root: Path, service: str, rows: int = 30, cols: int = 100) -> None:
        super().__init__(root, "attach", service, rows=rows, cols=cols)
