"""The state folder's layout (``.devstack/`` beside stack.toml), created private (0700 / 0600).

Where it is: ``$DEVSTACK_STATE_DIR``, else ``[stack] state_dir``, else ``.devstack``;
a relative path is relative to the directory of stack.toml (``resolve_state_dir``).
Stdlib only: the client commands import this.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.errors import EXIT_USAGE, DevstackError
from devstack.stackfile import is_procfile

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devstack.spec import StackSpec


STATE_DIR_ENV = "DEVSTACK_STATE_DIR"
DEFAULT_STATE_DIR = ".devstack"
# Written into a state folder devstack makes or uses: git, and every tool that honours
# .gitignore (Tailwind v4's scanner, bundlers' watchers, ripgrep), leaves it alone.
GITIGNORE = "# Created by devstack: its state and logs are no part of the project.\n*\n"


class UnsafeStateDir(DevstackError):
    """The state folder (or a path in it) is not what devstack can safely use: exit 2,
    the user has to move something out of the way."""

    exit_code = EXIT_USAGE


def resolve_state_dir(root: str, configured: str | None, environ: Mapping[str, str]) -> str:
    """The state folder of the stack in ``root``: ``$DEVSTACK_STATE_DIR``, else
    ``configured`` (``[stack] state_dir``), else ``.devstack``; relative to ``root``."""
    chosen = environ.get(STATE_DIR_ENV) or configured or DEFAULT_STATE_DIR
    return os.path.normpath(os.path.join(root, os.path.expanduser(chosen)))


def configured_state_dir(stack_file: str | os.PathLike[str]) -> str | None:
    """``[stack] state_dir`` of ``stack_file`` as written, for the commands that do not
    load the stack (ps, logs, down...); None for a Procfile, an unreadable file, or a
    value that is not a string (loading the stack reports that one)."""
    if is_procfile(stack_file):
        return None
    try:
        with open(stack_file, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"state_dir" not in data:
        return None  # the usual case: no TOML parse on the client's path
    import tomllib

    try:
        table = tomllib.loads(data.decode("utf-8")).get("stack")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    value = table.get("state_dir") if isinstance(table, dict) else None
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class StatePaths:
    """Where each file of a stack's state is: ``state_dir``, else ``ROOT/.devstack``."""

    root: Path  # the directory of stack.toml
    state_dir: Path | None = None

    @classmethod
    def of_file(cls, stack_file: str | os.PathLike[str]) -> StatePaths:
        """The layout of the stack in ``stack_file`` (an absolute path), before it is loaded."""
        root = os.path.dirname(os.fspath(stack_file))
        state_dir = resolve_state_dir(root, configured_state_dir(stack_file), os.environ)
        return cls(Path(root), Path(state_dir))

    @classmethod
    def of_stack(cls, stack: StackSpec) -> StatePaths:
        """The layout of a loaded stack (its state folder resolved by the loader)."""
        return cls(stack.root, stack.state_dir())

    @property
    def dir(self) -> Path:
        return self.root / DEFAULT_STATE_DIR if self.state_dir is None else self.state_dir

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def pid_file(self) -> Path:
        return self.dir / "supervisor.pid"

    @property
    def socket(self) -> Path:
        return self.dir / "devstack.sock"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def spec_cache(self) -> Path:
        return self.dir / "spec-cache.json"  # devstack.config.speccache

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def prepare(self) -> None:
        """Create the state folder (0700, its parents as usual) with its ``.gitignore``,
        or check that the existing one is safe to use (and give it the ``.gitignore``)."""
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        make_private_dir(self.dir)
        old = os.umask(0o077)
        try:
            with contextlib.suppress(FileExistsError):  # its kind is checked below
                self.log_dir.mkdir()
            self._check_kinds()
            made = write_gitignore(self.dir)
        finally:
            os.umask(old)
        if made:  # a new folder, or one of an earlier devstack: once per folder
            from devstack.gitexclude import exclude_from_git

            exclude_from_git(str(self.dir))

    def _check_kinds(self) -> None:
        """Refuse a path of the state folder that is of the wrong kind (``logs`` a file,
        ``state.json`` a directory): later it would fail deep inside a write."""
        folders = {self.log_dir: "the services' log files", self.dir / "setup": "setup records"}
        files = {
            self.state_file: "the running processes",
            self.pid_file: "the supervisor's pid",
            self.dir / "supervisor.log": "the output of `up -d`",
            self.spec_cache: "the parsed stack.toml",
            self.dir / ".gitignore": "what git should ignore",
            self.socket: "the control socket",
        }
        for path, is_dir in [*((f, True) for f in folders), *((f, False) for f in files)]:
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode) != is_dir:
                kind = "is not a directory" if is_dir else "is a directory"
                purpose = folders[path] if is_dir else files[path]
                raise UnsafeStateDir(
                    f"{path} {kind}; devstack keeps {purpose} there",
                    hint=f"remove it (rm -r {path}) and run the command again",
                )


def write_gitignore(state_dir: str | os.PathLike[str]) -> bool:
    """``.gitignore`` of ``*`` in ``state_dir`` unless it has one (the user's stays);
    True when it was written."""
    path = os.path.join(state_dir, ".gitignore")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(GITIGNORE)
    return True


def recorded_pid(pid_file: str | os.PathLike[str]) -> int | None:
    """The supervisor's pid from its pid file (``PID CREATE_TIME``), if readable."""
    try:
        with open(pid_file, encoding="utf-8") as f:
            words = f.read().split()
        return int(words[0]) if words else None
    except (OSError, ValueError):
        return None


def make_private_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` as 0700 (under umask 077, never wider for an instant), or check
    that the existing one is a private directory of this user."""
    old = os.umask(0o077)
    try:
        os.mkdir(path)
    except FileExistsError:
        check_private_dir(path)
    finally:
        os.umask(old)


def check_private_dir(path: str | os.PathLike[str]) -> None:
    """Refuse a symlink, a directory of another user, or one others can enter."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeStateDir(
            f"{path} is a symbolic link; devstack keeps its socket and state there",
            hint=f"remove it (rm {path}) and run the command again",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateDir(f"{path} exists and is not a directory", hint=f"remove {path}")
    if info.st_uid != os.getuid():
        raise UnsafeStateDir(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})",
            hint=f"remove it or run devstack as its owner: sudo rm -r {path}",
        )
    if info.st_mode & 0o077:
        raise UnsafeStateDir(
            f"{path} has mode {stat.S_IMODE(info.st_mode):o}; "
            "others could reach the stack's socket",
            hint=f"chmod 700 {path}",
        )
