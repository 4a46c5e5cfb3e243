"""Finding the stack definition: ``-f FILE``, else ./stack.toml, else ./Procfile.

Stdlib only and os.path on ``str`` (no pathlib), so the client commands, which need
just the directory, start fast and never import pydantic.
"""

from __future__ import annotations

import os

from devstack.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (client start time)
if TYPE_CHECKING:
    from pathlib import Path

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"


def locate_stack_file(path: str | None, cwd: str) -> str:
    """The absolute, resolved path of the stack definition to use."""
    if path is not None:
        path = os.path.join(cwd, path)  # an absolute ``path`` stays as it is
        if os.path.isdir(path):
            return locate_stack_file(None, path)
        if not os.path.exists(path):
            shown = os.path.normpath(path)
            raise ConfigError.one("no such file", file=shown, hint="check the path given with -f")
        return os.path.realpath(path)
    for name in (STACK_FILE, PROCFILE):
        candidate = os.path.join(cwd, name)
        if os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise ConfigError.one(
        f"no {STACK_FILE} or {PROCFILE} in {os.path.normpath(cwd)}",
        hint=f"create {STACK_FILE} (its format: `devstack docs`), "
        "or `devstack init` from a Procfile",
    )


def find_stack_file(path: str | os.PathLike[str] | None, cwd: Path) -> Path:
    """``locate_stack_file`` as a ``Path``, for the commands that load the stack."""
    from pathlib import Path

    return Path(locate_stack_file(None if path is None else os.fspath(path), os.fspath(cwd)))


def stack_root(path: str | None) -> str:
    """The directory of the stack definition (``-f``, else the working directory's)."""
    return os.path.dirname(locate_stack_file(path, os.getcwd()))


def is_procfile(path: str | os.PathLike[str]) -> bool:
    return os.path.basename(path).startswith(PROCFILE)
