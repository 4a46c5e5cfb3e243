"""Finding every live process of a service, and signalling only those.

A service is more than its leader: its psutil descendants, the members of its
process group and session, and anything that escaped the tree (``setsid`` and
re-parented to init) but still carries the service's token in its environment.

Every process returned here is a ``psutil.Process`` holding the create time it had
when it was found; ``send`` re-checks that identity before signalling, so a PID
reused by an unrelated program is never hit (gunicorn #371).

psutil and stdlib only: the guardian imports this and must start fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import psutil

# create_time is rounded differently by different readers (JSON, psutil versions).
_CREATE_TIME_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class Anchor:
    """What is known about a leader: enough to find its processes again."""

    pid: int
    create_time: float | None  # None or 0: unknown, the pid itself is never trusted
    pgid: int
    sid: int


def same_time(a: float, b: float) -> bool:
    return abs(a - b) < _CREATE_TIME_TOLERANCE


def _same(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process ``pid`` (perhaps a zombie) if it was created at ``create_time``."""
    if not create_time or pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        return proc if same_time(proc.create_time(), create_time) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def verified(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process ``pid`` if it is alive (not a zombie) and was created at ``create_time``."""
    proc = _same(pid, create_time)
    return proc if proc is not None and is_live(proc) else None


def is_live(proc: psutil.Process) -> bool:
    """Still the same process (create time unchanged) and not a zombie."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def live(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if is_live(p)]


class Row(NamedTuple):
    """One line of the process table, read once per scan."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    create_time: float
    zombie: bool
    cpu: float | None = None  # seconds of CPU so far (user + system); None: not read
    rss: int | None = None  # resident memory, bytes


_PROC = "/proc"
_fast = sys.platform.startswith("linux") and os.path.isdir(_PROC)


def _rows_linux() -> Iterator[Row]:
    # Reading /proc/PID/stat directly is several times cheaper than psutil's
    # per-attribute reads, and stop() scans the whole table every few ms.
    boot = psutil.boot_time()
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir(_PROC):
        if name.isdigit():
            row = _row_linux(name, boot, ticks, page)
            if row is not None:
                yield row


def _row_linux(name: str, boot: float, ticks: int, page: int) -> Row | None:
    try:  # os.read: half the cost of open() and its buffered file object
        fd = os.open(f"{_PROC}/{name}/stat", os.O_RDONLY)
        try:
            data = os.read(fd, 4096)  # one line of ~300 bytes
        finally:
            os.close(fd)
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session ..." where comm may hold spaces and ")".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return Row(
            int(name),
            int(fields[1]),
            int(fields[2]),
            int(fields[3]),
            boot + int(fields[19]) / ticks,
            fields[0] in (b"Z", b"X"),
            (int(fields[11]) + int(fields[12])) / ticks,  # utime + stime
            int(fields[21]) * page,
        )
    except (IndexError, ValueError):
        return None


def _children_linux(pid: int) -> list[int] | None:
    """``pid``'s children from each of its threads' ``children`` file; None when the
    kernel has no such file (built without CONFIG_PROC_CHILDREN)."""
    try:
        tasks = os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return []  # gone meanwhile
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"{_PROC}/{pid}/task/{task}/children", "rb") as f:
                found += map(int, f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{_PROC}/{pid}/task/{task}"):
                continue  # the thread ended
            return None
        except OSError:
            continue
    return found


def trees(pids: Collection[int]) -> dict[int, Row]:
    """The live processes of the trees under ``pids``, as ``table()`` has them: on Linux
    read from those trees alone (``ps`` every few seconds from the dashboard need not
    read every process of the machine), else from the whole table."""
    if not _fast:
        return table()
    boot = psutil.boot_time()
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    rows: dict[int, Row] = {}
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in rows:
            continue
        row = _row_linux(str(pid), boot, ticks, page)
        if row is None or row.zombie:
            continue
        rows[pid] = row
        children = _children_linux(pid)
        if children is None:
            return table()
        todo += children
    return rows


def age(row: Row) -> float:
    """Seconds since ``row``'s process started.

    On Linux from the clock the kernel counts start times on (ticks since boot): the
    boot time in ``create_time`` is whole seconds, which makes a process look up to a
    second older than it is, a large error for one a few seconds old.
    """
    if _fast:
        started = row.create_time - float(psutil.boot_time())  # the scan added this boot time
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    return time.time() - row.create_time


def _rows_psutil() -> Iterator[Row]:
    for proc in psutil.process_iter(["ppid", "create_time", "status"]):
        info = proc.info
        if info["status"] is None or info["create_time"] is None:
            continue
        pgid, sid = _ids(proc.pid)
        zombie = info["status"] == psutil.STATUS_ZOMBIE
        yield Row(proc.pid, info["ppid"] or 0, pgid, sid, info["create_time"], zombie)


def table() -> dict[int, Row]:
    """Every live (non-zombie) process, from one scan; on Linux with ``cpu`` and ``rss``
    (the stat line has them: ``devstack ps`` needs no other read)."""
    return {row.pid: row for row in (_rows_linux() if _fast else _rows_psutil()) if not row.zombie}


def _env_matches(pid: int, wanted: Collection[tuple[str, str]]) -> bool:
    if not wanted:
        return False
    if _fast:
        try:
            with open(f"{_PROC}/{pid}/environ", "rb") as f:
                raw = b"\0" + f.read()
        except OSError:  # gone, or another user's process
            return False
        return any(f"\0{k}={v}\0".encode() in raw + b"\0" for k, v in wanted)
    try:
        env = psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        return False
    return any(env.get(key) == value for key, value in wanted)


def _ids(pid: int) -> tuple[int, int]:
    try:
        return os.getpgid(pid), os.getsid(pid)
    except OSError:
        return -1, -1


def _process(row: Row) -> psutil.Process | None:
    """A psutil handle on ``row``'s process, if the pid still names that process."""
    try:
        proc = psutil.Process(row.pid)
        return proc if same_time(proc.create_time(), row.create_time) else None
    except psutil.Error:
        return None


def find(
    anchors: Collection[Anchor] = (),
    env: Collection[tuple[str, str]] = (),
    *,
    trust_ids: bool = True,
    env_since: float | None = None,
) -> list[psutil.Process]:
    """Every live process belonging to ``anchors`` or carrying one of the ``env`` pairs.

    A process belongs to an anchor when it is the verified leader, or is in the
    leader's process group or session, and every descendant of a process found
    belongs too. Group and session ids are trusted while the leader still exists
    (even as a zombie), or always with ``trust_ids``: the kernel does not reuse a pid
    while it names a live group or session, so within a supervisor's lifetime the
    ids stay ours; after a crash (``trust_ids=False``) only the environment proves
    it. Zombies are skipped; nothing is cached across calls. ``env_since``: the ``env``
    pairs were made then (a spawn's token): an older process cannot carry them, and
    its environment is not read.
    """
    me = os.getpid()
    ours: set[int] = set()
    oldest: dict[int, float] = {}  # group/session id -> the leader's create time
    for anchor in anchors:
        leader = _same(anchor.pid, anchor.create_time)
        if leader is not None or trust_ids:
            oldest[anchor.pgid] = oldest[anchor.sid] = anchor.create_time or 0.0
    rows = {row.pid: row for row in (_rows_linux() if _fast else _rows_psutil())}
    children: dict[int, list[int]] = {}
    for row in rows.values():
        if row.pid == me or row.zombie:
            continue
        children.setdefault(row.ppid, []).append(row.pid)
        # A member is never older than the leader that made its group.
        for ident in (row.pgid, row.sid):
            if ident in oldest and row.create_time >= oldest[ident] - _CREATE_TIME_TOLERANCE:
                ours.add(row.pid)
                break
        else:
            too_old = env_since is not None and row.create_time < env_since - _CREATE_TIME_TOLERANCE
            if not too_old and _env_matches(row.pid, env):
                ours.add(row.pid)
    for anchor in anchors:  # the verified leader itself (its group id may differ)
        lead = rows.get(anchor.pid)
        if lead is None or lead.zombie or not anchor.create_time:
            continue
        if same_time(lead.create_time, anchor.create_time):
            ours.add(lead.pid)
    # Descendants of anything found are ours too (children that cleared their env).
    todo = list(ours)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in ours:
                ours.add(child)
                todo.append(child)
    found = (_process(rows[pid]) for pid in ours)
    return [proc for proc in found if proc is not None]


_pidfd_ok = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")


def send(proc: psutil.Process, sig: int) -> bool:
    """Signal ``proc`` if it is still the process that was found; False if already gone.

    On Linux the pid is pinned with a pidfd before the identity check, so the check
    and the signal concern the same process (no window for PID reuse).
    """
    global _pidfd_ok
    try:
        if _pidfd_ok:
            try:
                fd = os.pidfd_open(proc.pid)
            except OSError as exc:
                if exc.errno == errno.ESRCH:
                    return False
                _pidfd_ok = False  # ENOSYS and friends: old kernel or sandbox
            else:
                try:
                    if not proc.is_running():
                        return False
                    signal.pidfd_send_signal(fd, sig)
                    return True
                finally:
                    os.close(fd)
        proc.send_signal(sig)  # psutil refuses a reused pid (NoSuchProcess)
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError):
        return False  # ESRCH / EPERM: already gone, or not ours to signal


def send_group(pgid: int, members: Iterable[psutil.Process], sig: int) -> bool:
    """``killpg`` only when the group still holds one of ``members`` (verified, live)."""
    if pgid <= 1 or pgid == os.getpgid(0):
        return False
    if not any(_ids(p.pid)[0] == pgid and is_live(p) for p in members):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
        return True
    return False


def describe(proc: psutil.Process) -> str:
    """``pid 123 (python sleeper.py)`` for messages."""
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        cmd = "?"
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    return f"pid {proc.pid} ({cmd})"
