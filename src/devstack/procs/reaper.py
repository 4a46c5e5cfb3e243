"""Linux child-subreaper support: adopted orphans come back to us and are reaped.

As a subreaper (``PR_SET_CHILD_SUBREAPER``), the grandchildren a service abandons
are re-parented to devstack instead of init, so the tree stays findable; when they
exit they are our zombies. They must be reaped *by explicit pid*: a blanket
``waitpid(-1)`` would also collect asyncio's own children and asyncio would then
report "Unknown child process pid N, will report returncode 255".

A child is reaped only when it is not one asyncio waits for (``own_pids()`` plus
every pid ``claim``ed by ``devstack.procs.process`` and ``devstack.procs.guardian``) and it was
already a zombie on the previous scan, at least ``_MIN_ZOMBIE_AGE`` earlier: asyncio
reaps its own children at once, so a zombie that lingers is an orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import psutil

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_MIN_ZOMBIE_AGE = 0.1
_RESCAN_DELAY = 0.15

# Pids of children some asyncio code waits for; never reaped here.
_claimed: set[int] = set()


def claim(pid: int) -> None:
    """``pid`` is a child asyncio will reap: leave its exit status alone."""
    _claimed.add(pid)


def release(pid: int) -> None:
    _claimed.discard(pid)


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    if result != 0:
        log.debug("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d", ctypes.get_errno())
        return False
    return True


class OrphanReaper:
    """Reaps adopted orphans by explicit pid, on SIGCHLD (coalesced) and rescans."""

    def __init__(self, own_pids: Callable[[], set[int]]) -> None:
        self._own_pids = own_pids
        self._zombies: dict[int, float] = {}  # pid -> when first seen as a zombie
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.TimerHandle | asyncio.Handle | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Scan on every SIGCHLD (asyncio's default child watchers do not use SIGCHLD)."""
        self._loop = loop
        loop.add_signal_handler(signal.SIGCHLD, self._schedule, 0.0)
        self._schedule(0.0)  # orphans adopted before we were installed

    def _schedule(self, delay: float) -> None:
        if self._loop is None or self._pending is not None:
            return  # a scan is already due: SIGCHLDs are coalesced
        if delay <= 0:
            self._pending = self._loop.call_soon(self._run)
        else:
            self._pending = self._loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._pending = None
        self.scan()
        if self._zombies:  # seen once; reap them on the next pass
            self._schedule(_RESCAN_DELAY)

    def scan(self) -> int:
        """Reap children that were already zombies on the previous scan; how many were reaped."""
        now = time.monotonic()
        keep = self._own_pids() | _claimed
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return 0
        zombies: dict[int, float] = {}
        reaped = 0
        for child in children:
            if child.pid in keep:
                continue
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    continue
            except psutil.NoSuchProcess:
                continue
            first_seen = self._zombies.get(child.pid)
            if first_seen is None or now - first_seen < _MIN_ZOMBIE_AGE:
                zombies[child.pid] = now if first_seen is None else first_seen
                continue
            try:
                pid, _status = os.waitpid(child.pid, os.WNOHANG)
            except ChildProcessError:
                continue  # someone else reaped it
            if pid:
                reaped += 1
                log.debug("reaped orphan pid %d", pid)
            else:
                zombies[child.pid] = first_seen
        self._zombies = zombies
        return reaped

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._loop is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None
