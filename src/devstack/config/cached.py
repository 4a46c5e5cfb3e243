"""The stack a command works on: from the spec cache when nothing it came from
changed, else through the loader (and into the cache)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from devstack.config import speccache
from devstack.config.load import load_stack
from devstack.paths import StatePaths
from devstack.spec import StackSpec
from devstack.stackfile import FileArg, find_layers, given_files, is_procfile


def load_for_command(
    file: FileArg | Sequence[FileArg] | None, *, cached: bool = False
) -> StackSpec:
    """The resolved stack of ``file`` (``--file``, given once or more; else ./stack.toml
    with ./stack.local.toml over it, else ./Procfile).

    With ``cached``, a stack.toml is read from ``.devstack/spec-cache.json`` when the
    cache holds it, and a miss is kept there (the state folder made as `up` makes it).
    """
    cwd = Path.cwd()
    given = tuple(Path(cwd, f) for f in given_files(file))
    found = find_layers(given, cwd)
    if not cached or is_procfile(found[0]):
        return load_stack(given, cwd)
    return load_through_cache(given, cwd, StatePaths.of_file(found[0]).spec_cache)


def load_through_cache(given: Sequence[Path], cwd: Path, cache: Path) -> StackSpec:
    """The stack of the ``given`` files (none: found in ``cwd``) from ``cache`` when
    nothing it came from changed, else loaded (validated) and kept there, the state
    folder made as `up` makes it."""
    layers = find_layers(given, cwd)
    hit = speccache.load(cache, layers, os.environ)
    if hit is not None:
        return hit
    stack = load_stack(given, cwd)
    StatePaths.of_stack(stack).prepare()
    speccache.save(cache, layers, os.environ, stack)
    return stack
