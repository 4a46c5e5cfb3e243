"""The ``.devstack/`` layout beside stack.toml, created private (0700 / 0600).

Stdlib only, no dataclasses and no pathlib at import: client commands import this.
``StateLayout`` is the layout as ``str`` (what the client reads); ``StatePaths`` is the
same layout as ``Path`` for the supervisor side, which reads and writes these files.
"""

from __future__ import annotations

import os
import stat

from devstack.errors import DevstackError
from devstack.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (client start time)
if TYPE_CHECKING:
    from pathlib import Path


class UnsafeStateDir(DevstackError):
    """``.devstack`` exists but is not a private directory of this user."""


class StateLayout(Record):
    """Where each file is, as ``str`` (os.path: the client never imports pathlib)."""

    __slots__ = ("dir", "log_dir", "pid_file", "root", "socket", "spec_cache", "state_file")

    def __init__(self, root: str) -> None:
        self.root = root  # the directory of stack.toml
        self.dir = os.path.join(root, ".devstack")
        self.state_file = os.path.join(self.dir, "state.json")
        self.pid_file = os.path.join(self.dir, "supervisor.pid")
        self.socket = os.path.join(self.dir, "devstack.sock")
        self.log_dir = os.path.join(self.dir, "logs")
        self.spec_cache = os.path.join(self.dir, "spec-cache.json")  # devstack.speccache

    def log_file(self, service: str) -> str:
        return os.path.join(self.log_dir, f"{service}.log")


def _path(text: str) -> Path:
    from pathlib import Path  # imported by the supervisor side only

    return Path(text)


class StatePaths(Record):
    """``StateLayout`` as ``Path`` objects, for the supervisor side."""

    __slots__ = ("layout", "root")

    def __init__(self, root: Path) -> None:
        self.root = root  # the directory of stack.toml
        self.layout = StateLayout(os.fspath(root))

    @property
    def dir(self) -> Path:
        return _path(self.layout.dir)

    @property
    def state_file(self) -> Path:
        return _path(self.layout.state_file)

    @property
    def pid_file(self) -> Path:
        return _path(self.layout.pid_file)

    @property
    def socket(self) -> Path:
        return _path(self.layout.socket)

    @property
    def log_dir(self) -> Path:
        return _path(self.layout.log_dir)

    @property
    def spec_cache(self) -> Path:
        return _path(self.layout.spec_cache)

    def log_file(self, service: str) -> Path:
        return _path(self.layout.log_file(service))

    def prepare(self) -> None:
        """Create ``.devstack/`` (0700) or check that the existing one is safe to use."""
        make_private_dir(self.layout.dir)
        old = os.umask(0o077)
        try:
            os.makedirs(self.layout.log_dir, exist_ok=True)
        finally:
            os.umask(old)


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
