"""Validate stack.toml in a child forked the moment `devstack up` starts.

Validating a changed stack.toml (the config package's imports and the resolution:
~100-130 ms in a fresh process; pydantic only when the file is invalid) would add
~40 ms to the parent's path after its own imports. The child starts on it at once,
while the parent parses its arguments, looks for a running stack, checks the config
cache and imports the supervisor: the two overlap on two cores, and the child is
done before the parent needs it. On a cache miss the parent sends the
stack file's path; the child validates it and writes the cache, which the parent then
reads. On a hit, or for anything but a foreground `up` of a stack.toml, the child is
killed unused.

When the cache already holds the stack (the usual `up`), the entry point finds that
out before forking anything, for a plain command line (``begin``): no child is made,
and ``_load`` takes the spec it read (``take_cached``).

The child never prints. When it fails (a bad config, no fork, an unwritable cache) the
parent validates by itself, so errors are reported exactly as without it. Stdlib only;
fork only while the process has one thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import NoReturn

    from devstack.spec import StackSpec


def keep_validated(file: Path, cache: Path) -> StackSpec:
    """``file`` through the config models, the result kept in ``cache``; the spec."""
    from devstack import speccache
    from devstack.config import load_stack
    from devstack.paths import StatePaths

    stack = load_stack(file, Path.cwd())
    StatePaths.of_stack(stack).prepare()
    speccache.save(cache, file, os.environ, stack)
    return stack


class EarlyValidator:
    """The parent's handle on the validating child."""

    def __init__(self, pid: int, to_child: int) -> None:
        self._pid: int | None = pid
        self._to_child = to_child

    @classmethod
    def start(cls) -> None:
        """Fork the child for ``take`` to find (the program's entry point does this)."""
        early = cls.fork()
        if early is not None:
            _STARTED.append(early)

    @classmethod
    def take(cls) -> EarlyValidator | None:
        """The child ``start`` forked, once; None when there is none."""
        return _STARTED.pop() if _STARTED else None

    @classmethod
    def fork(cls) -> EarlyValidator | None:
        """Fork the child (it starts importing the config models); None when fork fails."""
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:
            os.close(write_end)
            _child(read_end)
        os.close(read_end)
        early = cls(pid, write_end)
        # However the parent ends (a usage error, Ctrl-C), the child ends with it.
        atexit.register(early.discard)
        return early

    def validate(self, file: Path, cache: Path, meanwhile: Callable[[], None]) -> bool:
        """Hand ``file`` to the child, run ``meanwhile`` here, then wait for the child:
        True when it validated ``file`` and wrote ``cache``."""
        sent = False
        with contextlib.suppress(OSError):  # a child that already died: EPIPE
            os.write(self._to_child, os.fsencode(f"{file}\0{cache}"))
            sent = True
        self._close_pipe()
        try:
            meanwhile()
        finally:  # also on Ctrl-C (the child, in the same process group, got it too)
            status = self._reap()
        return sent and status == 0

    def discard(self) -> None:
        """The child is not needed (a cache hit, a detached or already running stack):
        end it now, before it spends a core on imports nobody will use."""
        self._close_pipe()
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()

    def _close_pipe(self) -> None:
        if self._to_child >= 0:
            os.close(self._to_child)
            self._to_child = -1

    def _reap(self) -> int:
        # The pid is forgotten only once reaped: a Ctrl-C that interrupts the wait
        # leaves it to discard() at exit (SIGKILL, then this again), not a zombie.
        if self._pid is None:
            return -1
        try:
            _, status = os.waitpid(self._pid, 0)
        except ChildProcessError:
            self._pid = None
            return -1
        self._pid = None
        return os.waitstatus_to_exitcode(status)


_STARTED: list[EarlyValidator] = []  # what start() forked, until take()
_CACHED: list[tuple[str, StackSpec]] = []  # (stack file, its cached spec) found by begin()

# `up` options that change neither which file is read nor whether it is validated here.
_PLAIN_FLAGS = frozenset({"--no-color", "--no-setup", "--watch", "--no-watch"})


def begin(args: list[str]) -> None:
    """For `devstack up ARGS` as the program: keep the stack's cached spec when the
    config cache has it, else fork the validating child. Only a plain command line
    (service names and the flags above) is looked up here; with ``-f``, ``-d`` or
    anything argparse alone can read, the child is forked and the CLI decides."""
    if all(a in _PLAIN_FLAGS or not a.startswith("-") for a in args):
        from devstack import speccache
        from devstack.errors import DevstackError
        from devstack.paths import StateLayout
        from devstack.stackfile import is_procfile, locate_stack_file

        try:
            file = locate_stack_file(None, os.getcwd())
        except (DevstackError, OSError):
            file = None  # the CLI says why, the same way it always does
        if file is not None and not is_procfile(file):
            cache = StateLayout.of_file(file).spec_cache
            spec = speccache.load(Path(cache), Path(file), os.environ)
            if spec is not None:
                _CACHED.append((file, spec))
                return
    EarlyValidator.start()


def take_cached(file: Path) -> StackSpec | None:
    """The spec ``begin`` read from the cache for ``file``, once; None otherwise."""
    if _CACHED and _CACHED[-1][0] == str(file):
        return _CACHED.pop()[1]
    return None


def _child(from_parent: int) -> NoReturn:
    """Import the config models, then validate the file the parent names (if it names
    one: a closed pipe means it will not). Never returns, never runs the parent's
    cleanup, prints nothing: the exit code is the whole answer."""
    code = 1
    try:
        # Nothing to say, and no hold on the parent's pipes: a caller waiting for
        # their end (a test, `$(devstack up ...)`) waits for the parent alone.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        import devstack.config  # noqa: F401  (the point of the child: ~100 ms here)

        message = _read_all(from_parent)
        if message:
            file, cache = os.fsdecode(message).split("\0")
            keep_validated(Path(file), Path(cache))
            code = 0
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
