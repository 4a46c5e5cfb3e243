"""Finding the stack definition: ``-f FILE``, else ./stack.toml, else ./Procfile.

Stdlib only, so commands that need just the location (and the cached resolved
config) never import pydantic.
"""

from __future__ import annotations

from pathlib import Path

from devstack.errors import ConfigError

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"


def find_stack_file(path: Path | None, cwd: Path) -> Path:
    """The absolute path of the stack definition to use."""
    if path is not None:
        path = path if path.is_absolute() else cwd / path
        if path.is_dir():
            return find_stack_file(None, path)
        if not path.exists():
            raise ConfigError.one("no such file", file=path, hint="check the path given with -f")
        return path.resolve()
    for name in (STACK_FILE, PROCFILE):
        candidate = cwd / name
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError.one(
        f"no {STACK_FILE} or {PROCFILE} in {cwd}",
        hint=f"create {STACK_FILE} (see `devstack schema`), or `devstack init` from a Procfile",
    )


def is_procfile(path: Path) -> bool:
    return path.name.startswith(PROCFILE)
