"""Version-manager shims (pyenv, asdf, mise, rbenv-style): the real program behind one.

A shim is a small script, or a symlink to the manager, that asks the manager which
version the directory selects and execs that. Its shebang (bash) says nothing of
the Python that will serve the app, so the manager is asked as a user would ask it:
``pyenv which flask``, in the service's cwd with its env (the version a shim picks
depends on both: .python-version, PYENV_VERSION, .tool-versions, mise.toml).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.checks.bounded import run_bounded

# Managers whose shims exec "MANAGER exec PROGRAM" (or "mise x") and that answer "which".
MANAGERS = ("pyenv", "asdf", "mise", "rtx", "rbenv", "nodenv", "goenv", "jenv", "plenv")
_MANAGER = "|".join(MANAGERS)
_EXEC = re.compile(
    rf"""\bexec\s+["']?(?P<launcher>[^\s"']*?\b(?P<manager>{_MANAGER}))["']?\s+(?:exec|x)\b"""
)
# `export PYENV_ROOT="/root/.pyenv"`: what the shim sets before it asks its manager.
_EXPORT = re.compile(
    r"""^export\s+(?P<var>[A-Z_]+_ROOT)=["']?(?P<value>[^"'$\s]+)["']?\s*$""", re.M
)
# The managers whose `exec` runs their own `which` first and exits as it did (pyenv-exec:
# PYENV_COMMAND_PATH="$(pyenv-which ...)"): a `which` that says "PROGRAM: command not
# found" with status 127 is the very failure the shim would meet.
_WHICH_IS_EXEC = ("pyenv", "rbenv", "nodenv", "goenv", "jenv", "plenv")
_NOT_FOUND_STATUS = 127
_HEAD_BYTES = 4096
WHICH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class CannotTell:
    """devstack cannot tell which interpreter a command runs with, and why.

    ``said``: the manager's own lines when it answered with a failure; ``missing``:
    its answer is certain to be the shim's own failure (the program does not exist for
    the version selected here), not merely a question devstack could not get answered.
    """

    why: str
    said: tuple[str, ...] = ()
    missing: bool = False
    manager: str | None = None


@dataclass(frozen=True, slots=True)
class Shim:
    """A shim at ``path`` standing for ``program``; ``manager`` None: one devstack cannot ask."""

    path: Path
    program: str
    manager: str | None
    launcher: str | None  # what to run to ask the manager ("/root/.pyenv/libexec/pyenv")
    exports: tuple[tuple[str, str], ...] = ()  # PYENV_ROOT=...: set by the shim itself

    def describe(self) -> str:
        owner = f"a {self.manager} shim" if self.manager else "a version-manager shim"
        return f"{self.program} is {owner} ({self.path})"


def detect(path: Path) -> Shim | None:
    """The shim at ``path``, or None when it is an ordinary program."""
    program = path.name
    real = Path(os.path.realpath(path))
    if real != path and real.name in MANAGERS:  # mise, rtx: shims are symlinks to the manager
        return Shim(path, program, real.name, str(real))
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return None
    if head.startswith(b"#!"):
        found = _EXEC.search(head.decode(errors="replace"))
        if found:
            launcher = found["launcher"]
            text = head.decode(errors="replace")
            exports = tuple((m["var"], m["value"]) for m in _EXPORT.finditer(text))
            return Shim(
                path, program, found["manager"], None if "$" in launcher else launcher, exports
            )
    if path.parent.name == "shims":
        return Shim(path, program, None, None)
    return None


async def behind(
    path: Path, *, cwd: Path, env: Mapping[str, str], timeout: float = WHICH_TIMEOUT
) -> Path | CannotTell:
    """The program ``path`` runs: itself, or what its manager says the shim runs here."""
    shim = detect(path)
    if shim is None:
        return path
    if shim.manager is None:
        return CannotTell(f"{shim.describe()}, of a manager devstack does not know how to ask")
    launcher = shim.launcher
    if launcher is None or (os.sep in launcher and not os.access(launcher, os.X_OK)):
        launcher = shutil.which(shim.manager, path=env.get("PATH", os.defpath))
    if launcher is None:
        return CannotTell(f"{shim.describe()}, and {shim.manager} is not on PATH")
    asked = f"`{shim.manager} which {shim.program}`"
    try:
        # Asked with what the shim exports (its PYENV_ROOT), as the shim itself asks.
        ran = await run_bounded(
            [launcher, "which", shim.program],
            cwd=cwd,
            env={**env, **dict(shim.exports)},
            timeout=timeout,
        )
    except OSError as exc:
        return CannotTell(f"{shim.describe()}, and {asked} could not run: {exc.strerror}")
    if ran.timed_out:
        return CannotTell(f"{shim.describe()}, and {asked} did not answer within {timeout:g}s")
    lines = [ln.strip() for ln in ran.out.decode(errors="replace").splitlines() if ln.strip()]
    if ran.returncode != 0 or not lines:
        said = [ln.strip() for ln in ran.err.decode(errors="replace").splitlines() if ln.strip()]
        answer = f"answered: {said[0]}" if said else f"exited {ran.returncode}"
        missing = (
            shim.manager in _WHICH_IS_EXEC
            and ran.returncode == _NOT_FOUND_STATUS
            and f"{shim.manager}: {shim.program}: command not found" in said
        )
        return CannotTell(
            f"{shim.describe()}, and {asked} {answer}", tuple(said), missing, shim.manager
        )
    real = Path(lines[-1])
    if not real.is_file() or detect(real) is not None:
        return CannotTell(f"{shim.describe()}, and {asked} named {real}, not a program")
    return real
