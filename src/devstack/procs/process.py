"""Spawning, stopping and reaping one service process and everything it starts.

Spawn: ``start_new_session`` (a group and session of its own), ``stdin`` from
/dev/null, pipes for output, a random ``DEVSTACK_TOKEN`` in the environment (how a
process that escaped the tree is still found), SIGINT/SIGQUIT reset to default and,
on Linux, a parent-death SIGKILL on the leader.

Stop, mode "main" (a service's default): signal the leader alone and wait for it to
exit, so a server that stops its own workers (Celery, gunicorn, uvicorn) can let them
finish; once it is gone, signal what is left of its tree and give that a short grace.
Mode "group" (a setup step's; a terminal's Ctrl-C): signal the leader, its group (only
while it holds a verified member), then every other member, at once. Either way: wait
until *no member* is alive, not just the leader (process-compose #520); SIGKILL what
outlives the timeout; always reap the leader.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked exits, so spawn only from
the event-loop thread, which lives as long as the supervisor. It is set by
util-linux's ``setpriv --pdeathsig KILL`` exec'd in front of the command (so the
spawn can use vfork), or, where setpriv is missing or SIGINT/SIGQUIT arrive ignored,
by a Python pre-exec step that also checks ``getppid()`` and resets those signals.
Through setpriv there is no ``getppid()`` check: a supervisor that dies in the
microseconds between vfork and prctl leaves that child to the guardian.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import psutil

from devstack.errors import DevstackError
from devstack.procs import proctree, reaper
from devstack.procs.terminal import Terminal, open_pty, take_controlling_terminal
from devstack.spec import StopMode

_PR_SET_PDEATHSIG = 1
_KILL_WAIT = 2.0  # after SIGKILL, how long to wait for the kernel to finish the job
_CLOSE_WAIT = 0.5  # once all are gone, for asyncio to see EOF on the pipes
# Mode "main": once the leader exited, the most what it left behind gets before SIGKILL.
# Short: the main process is gone, so the service is down; what lingers is a worker on
# its way out or the child of a wrapper that did not forward the signal.
_LINGER = 2.0
_PIPE_LIMIT = 2**16


class SpawnError(DevstackError):
    """A service's command could not be started (not found, not executable, bad cwd)."""


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """What state.json keeps and the guardian watches: enough to find a tree again."""

    pid: int
    pgid: int
    sid: int
    create_time: float  # 0.0 when it could not be read (the pid is then never trusted)
    token: str  # DEVSTACK_TOKEN of this spawn

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "pgid": self.pgid,
            "sid": self.sid,
            "create_time": self.create_time,
            "token": self.token,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> ProcessRecord:
        """Parse a record; ValueError when a field is missing or has the wrong type."""
        missing = [k for k in ("pid", "pgid", "sid", "create_time", "token") if k not in d]
        if missing:
            raise ValueError(f"process record without {missing[0]!r}")
        pid, pgid, sid = d["pid"], d["pgid"], d["sid"]
        create_time, token = d["create_time"], d["token"]
        if not (_is_int(pid) and _is_int(pgid) and _is_int(sid)):
            raise ValueError(f"process record with a non-integer pid: {dict(d)!r}")
        if not isinstance(create_time, int | float) or not isinstance(token, str):
            raise ValueError(f"process record with a bad create_time or token: {dict(d)!r}")
        return cls(pid, pgid, sid, float(create_time), token)

    def anchor(self) -> proctree.Anchor:
        return proctree.Anchor(self.pid, self.create_time, self.pgid, self.sid)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a leader ended: an exit code, or the signal that killed it."""

    code: int | None
    signal: int | None

    @classmethod
    def from_returncode(cls, rc: int) -> ExitStatus:
        """asyncio/subprocess convention: a negative return code is ``-signal``."""
        if rc < 0:
            return cls(code=None, signal=-rc)
        return cls(code=rc, signal=None)

    @property
    def ok(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exit {self.code}"


@dataclass(frozen=True, slots=True)
class StopResult:
    killed: bool  # SIGKILL was needed (something outlived the stop timeout)
    signalled: int  # how many processes got the stop signal
    duration: float
    survivors: tuple[int, ...] = field(default=())  # alive even after SIGKILL (D state): pids
    lingered: bool = False  # mode "main": SIGKILL went to what outlived the leader's exit


def _resolve_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up in the parent: the child must not load anything."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


_prctl = _resolve_prctl()
# util-linux's setpriv sets the parent-death signal and execs the command: a C
# launcher, so the spawn can use vfork instead of fork + a Python pre-exec step (which
# copies the supervisor's page tables and runs Python in the child).
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _child_setup(parent: int, *, terminal: bool = False) -> Callable[[], None]:
    """The pre-exec step, run in the child between fork and exec (after setsid).

    ``terminal``: stdin is a pty's slave, to become the new session's controlling terminal.
    """
    prctl = _prctl

    def setup() -> None:
        if terminal:
            take_controlling_terminal(0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the supervisor died before the line above
                os._exit(1)
        # A background job of a non-interactive shell inherits SIGINT ignored, and
        # exec keeps SIG_IGN (restore_signals does not cover these two).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)

    return setup


def _launch_argv(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> list[str] | None:
    """argv through setpriv (fast path), or None when the Python pre-exec step is needed.

    The pre-exec step is needed when setpriv is missing, or when SIGINT or SIGQUIT is
    inherited as ignored: a handled signal is reset by exec, an ignored one is not.
    (The supervisor handles both, so its children take the fast path.)
    """
    if _SETPRIV is None:
        return None
    if any(signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGINT, signal.SIGQUIT)):
        return None
    # Without the pre-exec step a missing executable would be setpriv's exit 127:
    # find it first, with the child's PATH, so the error stays a SpawnError.
    name = argv[0]
    if "/" in name:
        found = (cwd / name) if not os.path.isabs(name) else Path(name)
        if not found.exists():
            raise _spawn_error(name, FileNotFoundError(errno.ENOENT, "not found"))
        if found.is_dir() or not os.access(found, os.X_OK):
            raise _spawn_error(name, PermissionError(errno.EACCES, "permission denied"))
    elif shutil.which(name, path=env.get("PATH", os.defpath)) is None:
        raise _spawn_error(name, FileNotFoundError(errno.ENOENT, "not found"))
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]


_SPAWN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _spawn_lock(loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
    """One spawn at a time on ``loop``, each to its end (pipes connected).

    asyncio's subprocess_exec forks, then connects the pipes over a few loop turns.
    When 20 services start together, those turns also run the other services' spawns
    (each fork is slow while the starting interpreters saturate the cores), so every
    spawn returned only after the whole burst: the first service was announced, and
    its probing began, only once the last was spawned. In turn, each spawn is done (and
    its probe running) right after it began, and the burst takes no longer.
    """
    lock = _SPAWN_LOCKS.get(loop)
    if lock is None:
        lock = _SPAWN_LOCKS[loop] = asyncio.Lock()
    return lock


def _check_loop_thread() -> None:
    # Programming invariant: forks happen on the loop thread, which outlives every
    # service; a fork from a short-lived thread would SIGKILL the leader when that
    # thread exits (PR_SET_PDEATHSIG is per thread).
    loop = asyncio.get_running_loop()
    owner = getattr(loop, "_thread_id", None)
    assert owner is None or owner == threading.get_ident(), "spawn() off the event-loop thread"


def _spawn_error(argv0: str, exc: OSError) -> SpawnError:
    if isinstance(exc, FileNotFoundError):
        return SpawnError(
            f"{argv0}: not found", hint="check the command, or that it is on PATH or in the venv"
        )
    if isinstance(exc, PermissionError):
        return SpawnError(f"{argv0}: permission denied", hint=f"is it executable? chmod +x {argv0}")
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return SpawnError(f"{argv0}: {reason.lower()}")


class _LeaderProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's stream protocol, plus a future resolved when the *leader* exits.

    ``asyncio.subprocess.Process.wait()`` also waits for every pipe to close, which
    never happens while an escaped grandchild holds stdout: a supervisor must see
    the leader's exit on its own.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[int] = loop.create_future()
        self._transport_ref: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(transport, asyncio.SubprocessTransport):
            self._transport_ref = transport

    def process_exited(self) -> None:
        super().process_exited()
        rc = self._transport_ref.get_returncode() if self._transport_ref else None
        if not self.exited.done():
            self.exited.set_result(255 if rc is None else rc)


class ServiceProcess:
    """One spawn of a service: its leader (an asyncio child) and everything it started."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        protocol: _LeaderProtocol,
        record: ProcessRecord,
        stop_mode: StopMode = "group",
        terminal: Terminal | None = None,
    ) -> None:
        self._proc = proc
        self.stop_mode: StopMode = stop_mode
        self._exited = protocol.exited
        self.record = record
        self.pid = proc.pid
        # An interactive service's output is its terminal's (stdout and stderr are one
        # stream there); its stderr reader is empty.
        self.terminal = terminal
        if terminal is not None:
            self.stdout = terminal.output
            self.stderr = asyncio.StreamReader()
            self.stderr.feed_eof()
        else:
            assert proc.stdout is not None and proc.stderr is not None
            self.stdout = proc.stdout
            self.stderr = proc.stderr
        self._status: ExitStatus | None = None
        self._stop_lock = asyncio.Lock()

    async def wait(self) -> ExitStatus:
        """The leader's exit (asyncio reaps it and keeps its true exit code).

        Returns as soon as the leader is reaped, even while something else still
        holds its output pipes.
        """
        if self._status is None:
            rc = await asyncio.shield(self._exited)
            reaper.release(self.pid)
            self._status = ExitStatus.from_returncode(rc)
        return self._status

    @property
    def exit_status(self) -> ExitStatus | None:
        """The leader's exit, once ``wait`` has seen it."""
        return self._status

    def members(self) -> list[psutil.Process]:
        """Every live (non-zombie) process of this service, each verified by create time.

        The leader, its descendants, its group and session, and whatever carries
        this spawn's token in its environment. Scans the process table each call.
        """
        return proctree.find(
            [self.record.anchor()],
            [("DEVSTACK_TOKEN", self.record.token)],
            trust_ids=True,
            env_since=self.record.create_time or None,  # the token is as old as the leader
        )

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> StopResult:
        """Stop every member, SIGKILL at ``timeout`` at the latest; returns once none is alive.

        ``stop_mode`` "group": ``sig`` to every member at once. "main": ``sig`` to the
        leader alone; once it exited (within ``timeout``), ``sig`` to what is left, SIGKILL
        after ``_LINGER`` (or at ``timeout``, if sooner). Concurrent calls run one after
        the other; a later one finds nothing left.
        """
        async with self._stop_lock:
            if self.stop_mode == "main":
                return await self._stop_main(sig, timeout)
            return await self._stop_group(sig, timeout)

    async def _stop_group(self, sig: int, timeout: float) -> StopResult:
        started = time.monotonic()
        signalled = self._signal_members(sig, set())
        left = await self._wait_gone(started + timeout, signalled, sig)
        return await self._finish(started, left, signalled)

    async def _stop_main(self, sig: int, timeout: float) -> StopResult:
        started = time.monotonic()
        deadline = started + timeout
        signalled: set[int] = set()
        if not self._exited.done():
            # Not yet reaped, so the pid is still the leader's; verified all the same.
            leader = proctree.verified(self.pid, self.record.create_time)
            if leader is not None and proctree.send(leader, sig):
                signalled.add(leader.pid)
            await asyncio.wait([self._exited], timeout=max(0.0, deadline - time.monotonic()))
        if not self._exited.done():
            return await self._finish(started, self.members(), signalled)
        # The leader is gone: what it left (workers on their way out, the child of a
        # wrapper that does not forward signals) gets ``sig`` and a short grace.
        self._signal_members(sig, signalled)
        linger = min(deadline, time.monotonic() + _LINGER)
        left = await self._wait_gone(linger, signalled, sig)
        return await self._finish(started, left, signalled, lingered=bool(left))

    def _signal_members(self, sig: int, signalled: set[int]) -> set[int]:
        """``sig`` to the leader, its group, then every other member; adds to ``signalled``."""
        members = self.members()
        leader = next((p for p in members if p.pid == self.pid), None)
        if leader is not None and proctree.send(leader, sig):
            signalled.add(leader.pid)
        if proctree.send_group(self.record.pgid, members, sig):
            signalled.update(p.pid for p in members if _pgid(p.pid) == self.record.pgid)
        for proc in members:
            if proc.pid not in signalled and proctree.send(proc, sig):
                signalled.add(proc.pid)
        return signalled

    async def _finish(
        self,
        started: float,
        left: list[psutil.Process],
        signalled: set[int],
        *,
        lingered: bool = False,
    ) -> StopResult:
        """SIGKILL ``left`` (what outlived the grace), then reap the leader."""
        killed = False
        if left:
            killed = True
            for proc in left:
                proctree.send(proc, signal.SIGKILL)
            kill_sent = {p.pid for p in left}  # late joiners get SIGKILL too
            left = await self._wait_gone(time.monotonic() + _KILL_WAIT, kill_sent, signal.SIGKILL)
        if not left:
            # Everything is dead: let asyncio reap the leader and see EOF on the pipes, so
            # the transport closes (bounded: a reader that stopped reading pauses them).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), timeout=_CLOSE_WAIT)
        if self._status is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), timeout=_KILL_WAIT)
        return StopResult(
            killed=killed,
            signalled=len(signalled),
            duration=time.monotonic() - started,
            survivors=tuple(p.pid for p in left),
            lingered=lingered,
        )

    async def _wait_gone(
        self, deadline: float, signalled: set[int], sig: int
    ) -> list[psutil.Process]:
        """Poll until no member is alive or ``deadline``; what is still alive.

        A process that joins the tree while we wait (forked in a TERM handler) gets
        ``sig`` too.
        """
        interval = 0.02
        # Every member seen so far, checked again by identity: one that is dying is no
        # longer recognised by its token (its environment is gone with its memory) yet
        # is not a zombie either; "stopped" waits for it too.
        seen: dict[int, psutil.Process] = {}
        while True:
            if not self._exited.done():
                # The leader is usually the last to go and its exit wakes us at once: wait
                # for it (at most one interval) before scanning the process table (costly)
                # and polling (a restart should not wait out a whole interval).
                pause = max(0.0, min(interval, deadline - time.monotonic()))
                await asyncio.wait([self._exited], timeout=pause)
            members = self.members()
            seen.update((p.pid, p) for p in members)
            known = {p.pid for p in members}
            members += [p for pid, p in seen.items() if pid not in known and proctree.is_live(p)]
            if not members:
                return []
            for proc in members:
                if proc.pid not in signalled and proctree.send(proc, sig):
                    signalled.add(proc.pid)
            now = time.monotonic()
            if now >= deadline:
                return members
            if self._exited.done():
                await asyncio.sleep(min(interval, deadline - now))
            interval = min(interval * 1.5, 0.25)

    def kill(self) -> None:
        """SIGKILL every member now (second Ctrl-C); ``stop`` or ``wait`` still reaps."""
        members = self.members()
        proctree.send_group(self.record.pgid, members, signal.SIGKILL)
        for proc in members:
            proctree.send(proc, signal.SIGKILL)


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def use_pidfd_child_watcher(loop: asyncio.AbstractEventLoop) -> bool:
    """On Python 3.11 + Linux, wait for children through pidfds instead of a thread each.

    asyncio 3.11's default ThreadedChildWatcher starts a thread per child (a large part
    of a spawn on a loaded machine); 3.12+ uses pidfds by default. Waiting stays by
    explicit pid either way, so the orphan reaper never steals an exit status.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # kernel older than 5.3
        return False
    watcher = asyncio.PidfdChildWatcher()
    asyncio.set_child_watcher(watcher)
    watcher.attach_loop(loop)
    return True


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    service: str,
    stack_id: str,
    stop_mode: StopMode = "group",
    interactive: bool = False,
) -> ServiceProcess:
    """Start ``argv`` as a service leader in a session of its own, to be stopped the
    ``stop_mode`` way (a service's is its spec's; a setup step is a "group", like a
    command in a terminal). ``interactive``: in a pseudo-terminal (``ServiceProcess.terminal``)
    instead of with stdin closed and pipes.

    Call it from the event-loop thread only (see the module docstring). Raises
    ``SpawnError`` when the command or the working directory is unusable.
    """
    _check_loop_thread()
    if not argv:
        raise SpawnError(f"{service}: empty command")
    if not Path(cwd).is_dir():
        raise SpawnError(
            f"{service}: working directory {cwd} does not exist", hint="check `cwd` in stack.toml"
        )
    token = os.urandom(16).hex()  # secrets.token_hex's bytes; secrets imports hmac, OpenSSL
    child_env = dict(env)
    child_env.update(DEVSTACK_SERVICE=service, DEVSTACK_STACK=stack_id, DEVSTACK_TOKEN=token)
    # A terminal needs the pre-exec step (setpriv cannot take a controlling terminal).
    launch = None if interactive else _launch_argv(argv, Path(cwd), child_env)
    loop = asyncio.get_running_loop()
    master: int | None = None
    stdin: int = subprocess.DEVNULL
    stdout: int = subprocess.PIPE
    if interactive:
        master, stdin = open_pty()
        stdout = stdin
    try:
        async with _spawn_lock(loop):
            transport, protocol = await loop.subprocess_exec(
                lambda: _LeaderProtocol(limit=_PIPE_LIMIT, loop=loop),
                *(launch or argv),
                cwd=cwd,
                env=child_env,
                stdin=stdin,
                stdout=stdout,
                stderr=stdout,
                start_new_session=True,
                close_fds=True,
                preexec_fn=None if launch else _child_setup(os.getpid(), terminal=interactive),
            )
    except OSError as exc:
        _close_pty(master, stdin)
        raise _spawn_error(argv[0], exc) from None
    except subprocess.SubprocessError as exc:  # the pre-exec step failed in the child
        _close_pty(master, stdin)
        raise SpawnError(f"{argv[0]}: could not be started ({exc})") from None
    terminal = None
    if master is not None:
        os.close(stdin)  # the child holds the slave now; the master sees EIO once it is gone
        terminal = Terminal(master)
        await terminal.start()
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    reaper.claim(proc.pid)
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        create_time = 0.0  # already exited and reaped: nothing left to find by pid
    record = ProcessRecord(
        pid=proc.pid, pgid=proc.pid, sid=proc.pid, create_time=create_time, token=token
    )
    return ServiceProcess(proc, protocol, record, stop_mode, terminal)


def _close_pty(master: int | None, slave: int) -> None:
    if master is not None:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)
