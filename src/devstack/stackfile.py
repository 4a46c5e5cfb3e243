"""Finding the stack definition: ``-f FILE``, else ./stack.toml, else ./Procfile; and its
layers: every ``-f`` given (later wins), else ./stack.toml with ./stack.local.toml over it.

Stdlib only: the client commands, which need just the directory, import this.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from devstack.errors import ConfigError

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"
# Personal values merged over stack.toml when no -f is given (as compose's override file).
LOCAL_FILE = "stack.local.toml"
# Bytes. A real stack.toml or Procfile is a few KiB; this bounds a read of /dev/zero.
MAX_STACK_FILE = 1024 * 1024
# Folders above a stack.toml searched for the one that includes it (the include depth limit).
_INCLUDER_LEVELS = 8


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


FileArg = str | os.PathLike[str]


def find_layers(paths: Sequence[FileArg] | None, cwd: FileArg) -> tuple[Path, ...]:
    """The files to merge, first to last (later wins): each ``-f`` given, or with none
    ./stack.toml and, when it exists, ./stack.local.toml (a Procfile stands alone)."""
    if paths:
        files = tuple(find_stack_file(p, cwd) for p in paths)
        if len(files) > 1 and any(is_procfile(f) for f in files):
            shown = next(f for f in files if is_procfile(f))
            raise ConfigError.one(
                "a Procfile cannot be layered with other files",
                file=shown,
                hint="give -f several times with stack.toml files only",
            )
        return files
    file = find_stack_file(None, cwd)
    local = os.path.join(os.fspath(cwd), LOCAL_FILE)
    if is_procfile(file) or not os.path.lexists(local):
        return (file,)
    return file, Path(os.path.realpath(local))


def given_files(file: FileArg | Sequence[FileArg] | None) -> tuple[FileArg, ...]:
    """``--file`` as parsed (None, one path, or the repeated option's list) as a tuple."""
    if file is None:
        return ()
    if isinstance(file, str | os.PathLike):
        return (file,)
    return tuple(file)


def _includes(candidate: Path, file: Path) -> bool:
    """Whether the stack file ``candidate`` lists ``file`` in its ``include``."""
    import tomllib  # only on an error's path: the client commands do not pay for it

    try:
        if not candidate.is_file() or candidate.stat().st_size > MAX_STACK_FILE:
            return False
        include = tomllib.loads(candidate.read_text(encoding="utf-8")).get("include")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    if not isinstance(include, list):
        return False
    here = candidate.parent
    return any(isinstance(i, str) and (here / i).resolve() == file for i in include)


def included_by(file: FileArg) -> Path | None:
    """The top stack.toml, in a folder above ``file``, that includes it (directly or
    through another included file), else None. Read only to explain an error: a
    command run in a monorepo's part reads that part's stack.toml alone."""
    current = Path(file).resolve()
    top = None
    for _ in range(_INCLUDER_LEVELS):
        for folder in list(current.parents)[1 : _INCLUDER_LEVELS + 1]:
            candidate = folder / STACK_FILE
            if _includes(candidate, current):
                current = top = candidate
                break
        else:
            return top
    return top
