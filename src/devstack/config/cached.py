"""The stack a command works on: from the spec cache when nothing it came from
changed, else through the loader (and into the cache)."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.config import speccache
from devstack.config.load import load_stack
from devstack.paths import StatePaths
from devstack.spec import StackSpec
from devstack.stackfile import find_stack_file, is_procfile


def load_for_command(file: str | os.PathLike[str] | None, *, cached: bool = False) -> StackSpec:
    """The resolved stack of ``file`` (``--file``, else ./stack.toml, ./Procfile).

    With ``cached``, a stack.toml is read from ``.devstack/spec-cache.json`` when the
    cache holds it, and a miss is kept there (the state folder made as `up` makes it).
    """
    cwd = Path.cwd()
    found = find_stack_file(file, cwd)
    if not cached or is_procfile(found):
        return load_stack(found, cwd)
    return load_through_cache(found, cwd, StatePaths.of_file(found).spec_cache)


def load_through_cache(file: Path, cwd: Path, cache: Path) -> StackSpec:
    """``file``'s stack from ``cache`` when nothing it came from changed, else loaded
    (validated) and kept there, the state folder made as `up` makes it."""
    hit = speccache.load(cache, file, os.environ)
    if hit is not None:
        return hit
    stack = load_stack(file, cwd)
    StatePaths.of_stack(stack).prepare()
    speccache.save(cache, file, os.environ, stack)
    return stack
