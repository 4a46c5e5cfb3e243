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
from collections.abc import Collection, Iterable
from dataclasses import dataclass

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


def _env_matches(proc: psutil.Process, wanted: Collection[tuple[str, str]]) -> bool:
    if not wanted:
        return False
    try:
        env = proc.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False
    return any(env.get(key) == value for key, value in wanted)


def _ids(pid: int) -> tuple[int, int]:
    try:
        return os.getpgid(pid), os.getsid(pid)
    except OSError:
        return -1, -1


def find(
    anchors: Collection[Anchor] = (),
    env: Collection[tuple[str, str]] = (),
    *,
    trust_ids: bool = True,
) -> list[psutil.Process]:
    """Every live process belonging to ``anchors`` or carrying one of the ``env`` pairs.

    A process belongs to an anchor when it is the verified leader, or is in the
    leader's process group or session (only while the leader is verified, or with
    ``trust_ids``: the kernel does not reuse a pid while it names a live group), and
    every descendant of a process found is included too. Zombies are skipped;
    nothing is cached across calls.
    """
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    groups: set[int] = set()
    sessions: set[int] = set()
    oldest: dict[int, float] = {}
    for anchor in anchors:
        leader = _same(anchor.pid, anchor.create_time)
        if leader is not None and is_live(leader):
            found[leader.pid] = leader
        # A leader that still exists (even as a zombie) holds its group and session ids.
        if leader is not None or trust_ids:
            groups.add(anchor.pgid)
            sessions.add(anchor.sid)
            oldest[anchor.pgid] = oldest[anchor.sid] = anchor.create_time or 0.0
    parents: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["ppid", "create_time", "status"]):
        info = proc.info
        if proc.pid == me or info["status"] in (None, psutil.STATUS_ZOMBIE):
            continue
        parents.setdefault(info["ppid"] or 0, []).append(proc)
        if proc.pid in found:
            continue
        pgid, sid = _ids(proc.pid)
        for ident in (pgid, sid):
            # A member is never older than the leader that made the group.
            if (ident in groups or ident in sessions) and (info["create_time"] or 0.0) >= (
                oldest[ident] - _CREATE_TIME_TOLERANCE
            ):
                found[proc.pid] = proc
                break
        else:
            if _env_matches(proc, env):
                found[proc.pid] = proc
    # Descendants of anything found are ours too (children that cleared their env).
    todo = list(found.values())
    while todo:
        for child in parents.get(todo.pop().pid, ()):
            if child.pid not in found and child.pid != me:
                found[child.pid] = child
                todo.append(child)
    return list(found.values())


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
