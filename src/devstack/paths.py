"""The ``.devstack/`` layout beside stack.toml, created private (0700 / 0600).

Stdlib only, and no dataclasses: client commands import this too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devstack.errors import DevstackError
from devstack.record import Record


class UnsafeStateDir(DevstackError):
    """``.devstack`` exists but is not a private directory of this user."""


class StatePaths(Record):
    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root  # the directory of stack.toml

    @property
    def dir(self) -> Path:
        return self.root / ".devstack"

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

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def prepare(self) -> None:
        """Create ``.devstack/`` (0700) or check that the existing one is safe to use."""
        make_private_dir(self.dir)
        old = os.umask(0o077)
        try:
            self.log_dir.mkdir(exist_ok=True)
        finally:
            os.umask(old)


def make_private_dir(path: Path) -> None:
    """Create ``path`` as 0700 (under umask 077, never wider for an instant), or check
    that the existing one is a private directory of this user."""
    old = os.umask(0o077)
    try:
        path.mkdir()
    except FileExistsError:
        check_private_dir(path)
    finally:
        os.umask(old)


def check_private_dir(path: Path) -> None:
    """Refuse a symlink, a directory of another user, or one others can enter."""
    info = path.lstat()
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
