"""``.devstack/state.json``: every live service process, to reap stale ones after a crash.

    {"supervisor": {"pid": 4100, "create_time": 1732790000.12},
     "stack_id": "9f...", "services": {"backend": {ProcessRecord json}, ...}}

Written atomically (temporary file + rename, mode 0600) on every change, so a
supervisor killed at any moment leaves a complete file. The next ``up`` calls
``reap_stale``, which kills only processes it can prove are ours: a recorded leader
whose create time still matches, and processes carrying the recorded token or stack
id in their environment. A live pid with another create time is a different program
(PID reuse) and is never signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from devstack.errors import DevstackError
from devstack.procs import proctree
from devstack.procs.process import ProcessRecord

log = logging.getLogger(__name__)

_GRACE = 2.0  # between SIGTERM and SIGKILL for stale processes
_KILL_WAIT = 2.0


class StackStillRunning(DevstackError):
    """state.json belongs to a supervisor that is still alive."""


class StateFile:
    """The state of the running supervisor, rewritten whole on each change."""

    def __init__(
        self,
        path: Path,
        stack_id: str | None = None,
        notify: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = path
        self.stack_id = stack_id
        # (text, level): told once when a write fails and once when one works again.
        self._notify = notify
        self.failing: str | None = None  # why the last write failed; None: up to date
        self._services: dict[str, ProcessRecord] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = False
        me = psutil.Process()
        self._supervisor = {"pid": me.pid, "create_time": me.create_time()}

    def record(self, service: str, rec: ProcessRecord) -> None:
        """``service`` now runs as ``rec``; written before this returns (see ``coalesce``)."""
        self._services[service] = rec
        self._changed()

    def forget(self, service: str) -> None:
        """Every process of ``service`` is gone."""
        if self._services.pop(service, None) is not None:
            self._changed()

    def coalesce(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write at most once per turn of ``loop``: 40 services starting together make
        one write, not 40. A crash inside that turn is covered by the guardian; the
        next ``up`` still finds every process through its stack id."""
        self._loop = loop

    def _changed(self) -> None:
        if self._loop is None:
            self._write()
        elif not self._pending:
            self._pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._pending = False
        if self._services or self.path.exists():
            self._write()

    def clear(self) -> None:
        """The stack ended cleanly: remove the file."""
        self._services.clear()
        self._loop = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _write(self) -> None:
        """Write the file whole, or keep the last good one: a failed write (a full disk)
        leaves the previous file in place and is said once, not raised per change."""
        try:
            self._replace()
        except OSError as exc:
            if self.failing is None:
                self.failing = exc.strerror or str(exc)
                log.info("state.json not written: %s", exc)
                self._tell(
                    f"{self.path} not updated: {self.failing}; it keeps the last state "
                    "written (tried again on each change)",
                    "warn",
                )
            return
        if self.failing is not None:
            self.failing = None
            self._tell(f"{self.path} written again", "info")

    def _tell(self, text: str, level: str) -> None:
        if self._notify is not None:
            self._notify(text, level)

    def _replace(self) -> None:
        data = {
            "supervisor": self._supervisor,
            "stack_id": self.stack_id,
            "services": {name: rec.to_json() for name, rec in self._services.items()},
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                # One string by the C encoder: json.dump (chunks) or an indent would
                # encode in Python, on every write while 40 services start.
                f.write(json.dumps(data))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_services(path: Path) -> list[str]:
    """The services ``path`` records a process of (none when it is missing or unreadable)."""
    data = _load(path) or {}
    services = data.get("services")
    return [str(name) for name in services] if isinstance(services, dict) else []


def _check_supervisor(data: dict[str, Any], path: Path) -> None:
    sup = data.get("supervisor")
    if not isinstance(sup, dict):
        return
    pid, created = sup.get("pid"), sup.get("create_time")
    if not isinstance(pid, int) or not isinstance(created, int | float) or pid == os.getpid():
        return
    proc = proctree.verified(pid, float(created))
    if proc is not None:
        raise StackStillRunning(
            f"a devstack supervisor is still running here ({proctree.describe(proc)})",
            hint=f"stop it with `devstack down`, or remove {path} if it is not yours",
        )


def _records(data: dict[str, Any]) -> tuple[dict[str, ProcessRecord], list[str]]:
    services = data.get("services")
    records: dict[str, ProcessRecord] = {}
    notes: list[str] = []
    if not isinstance(services, dict):
        return records, notes
    for name, raw in services.items():
        try:
            records[str(name)] = ProcessRecord.from_json(raw)
        except (ValueError, TypeError, AttributeError):
            notes.append(f"{name}: unreadable record in state.json, ignored")
    return records, notes


def _stale_leader_note(name: str, rec: ProcessRecord) -> str | None:
    """A message when the recorded pid is alive but is now another program."""
    try:
        proc = psutil.Process(rec.pid)
        if proctree.same_time(proc.create_time(), rec.create_time):
            return None
    except psutil.Error:
        return None
    return (
        f"{name}: record was stale: pid {rec.pid} is now another program "
        f"({proctree.describe(proc)}); not signalled"
    )


def _kill(found: dict[int, psutil.Process]) -> None:
    procs = list(found.values())
    for proc in procs:
        proctree.send(proc, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE
    while time.monotonic() < deadline and proctree.live(procs):
        time.sleep(0.02)
    left = proctree.live(procs)
    for proc in left:
        proctree.send(proc, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    while time.monotonic() < deadline and proctree.live(left):
        time.sleep(0.02)


def reap_stale(path: Path) -> list[str]:
    """Kill what a crashed supervisor left behind; lines saying what was done; removes ``path``.

    Raises ``StackStillRunning`` (and leaves the file) if the recorded supervisor is alive.
    """
    data = _load(path)
    if data is None:
        return []
    _check_supervisor(data, path)
    records, lines = _records(data)
    stack_id = data.get("stack_id")
    owner: dict[int, str] = {}
    found: dict[int, psutil.Process] = {}
    for name, rec in records.items():
        note = _stale_leader_note(name, rec)
        if note is not None:
            lines.append(note)
        # trust_ids=False: with the leader gone, its group id proves nothing; the token does.
        for proc in proctree.find([rec.anchor()], [("DEVSTACK_TOKEN", rec.token)], trust_ids=False):
            found.setdefault(proc.pid, proc)
            owner.setdefault(proc.pid, name)
    if isinstance(stack_id, str) and stack_id:
        for proc in proctree.find([], [("DEVSTACK_STACK", stack_id)], trust_ids=False):
            found.setdefault(proc.pid, proc)
            owner.setdefault(proc.pid, "stack")
    if found:
        described = {pid: proctree.describe(proc) for pid, proc in found.items()}
        _kill(found)
        by_service: dict[str, list[str]] = {}
        for pid, text in described.items():
            by_service.setdefault(owner[pid], []).append(text)
        for name, items in by_service.items():
            head = f"{name}: reaped {len(items)} stale process(es) of a previous run: "
            lines.append(head + ", ".join(items))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return lines
