"""Finding the stack definition: ``-f FILE``, else ./stack.toml, else ./Procfile.

Stdlib only: the client commands, which need just the directory, import this.
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack.errors import ConfigError

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"
# Bytes. A real stack.toml or Procfile is a few KiB; this bounds a read of /dev/zero.
MAX_STACK_FILE = 1024 * 1024


def find_stack_file(path: str | os.PathLike[str] | None, cwd: str | os.PathLike[str]) -> Path:
    """The absolute, resolved path of the stack definition to use."""
    cwd = os.fspath(cwd)
    if path is not None:
        given = os.path.join(cwd, path)  # an absolute ``path`` stays as it is
        if os.path.isdir(given):
            return find_stack_file(None, given)
        if not os.path.exists(given):
            shown = os.path.normpath(given)
            raise ConfigError.one("no such file", file=shown, hint="check the path given with -f")
        return Path(os.path.realpath(given))
    for name in (STACK_FILE, PROCFILE):
        candidate = os.path.join(cwd, name)
        if os.path.isfile(candidate):
            return Path(os.path.realpath(candidate))
    raise ConfigError.one(
        f"no {STACK_FILE} or {PROCFILE} in {os.path.normpath(cwd)}",
        hint=f"create {STACK_FILE} (its format: `devstack docs`), "
        "or `devstack init` from a Procfile",
    )


def is_procfile(path: str | os.PathLike[str]) -> bool:
    return os.path.basename(path).startswith(PROCFILE)
