"""A foreground ``devstack up``'s terminal input, to the stack's one interactive service.

The terminal stays as it is (cooked: the user edits a line, Enter sends it, Ctrl-C
still stops the stack); each line typed goes to the service's pseudo-terminal, whose
output comes back through the printer as usual. Only while ``up`` is the terminal's
foreground job: a background read would stop it (SIGTTIN).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from devstack.runtime.service import Service


def is_foreground(fd: int) -> bool:
    """``fd`` is a terminal whose foreground process group is ours."""
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


class StdinForward:
    def __init__(self, service: Service, fd: int = 0) -> None:
        self.service = service
        self._fd = fd
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._fd, self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    def _readable(self) -> None:
        if not is_foreground(self._fd):  # sent to the background: reading would stop us
            self.close()
            return
        try:
            data = os.read(self._fd, 4096)
        except OSError:
            data = b""
        if not data:  # Ctrl-D, or the terminal went away
            self.close()
            return
        process = self.service.process
        if process is not None and process.terminal is not None:
            with contextlib.suppress(OSError):
                process.terminal.write(data)
