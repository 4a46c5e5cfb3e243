"""A virtualenv whose interpreter is gone: named as such, with the command that makes it again.

A venv's ``bin/python`` is a link to the Python it was made with (or a copy that finds
its standard library through ``home`` in ``pyvenv.cfg``); its scripts start with
``#!/path/.venv/bin/python``. When that Python is removed (a Homebrew or pyenv upgrade)
or the folder is moved, every program in it fails to start ("bad interpreter"), and
``python`` on the PATH silently falls through to another interpreter. Certain, so the
executable check fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack.checks.bounded import run_bounded
from devstack.checks.checkresult import CheckResult
from devstack.checks.command import Resolved, command_argv, service_env, shebang_python, shown
from devstack.project.venv import BIN_DIR, venv_of
from devstack.spec import ServiceSpec, StackSpec

_PYTHONS = ("python", "python3")


async def check_venv(
    spec: ServiceSpec,
    exe: CheckResult | None,
    resolved: Resolved | None,
    stack: StackSpec | None,
    timeout: float = 10.0,
) -> CheckResult | None:
    """``exe`` (the executable check's result), or a failure when the service runs from a
    virtualenv that cannot start any more."""
    venv = venv_of(spec)
    python = _venv_python(spec, venv, resolved) if venv is not None else None
    if venv is None or python is None:
        return exe
    program = shown(resolved.path, spec.cwd) if resolved and resolved.path else str(python)
    why = await _broken(spec, venv, python, program, timeout)
    if why is None:
        return exe
    where = shown(venv, spec.cwd)
    fix = _recreate(spec, stack, venv)
    made = _made_with(venv)
    details = (why, *((f"it was made with Python {made}",) if made else ()))
    return CheckResult(
        spec.name,
        "executable",
        "fail",
        f"the virtualenv {where} is broken: its Python is gone",
        details,
        fix,
        kind="broken-venv",
    )


def _venv_python(spec: ServiceSpec, venv: Path, resolved: Resolved | None) -> Path | None:
    """The venv's interpreter the command starts: a venv script's ``#!`` line, or its
    ``python``; None when the command does not run on the venv's Python."""
    argv = command_argv(spec)
    if not argv:
        return None
    name = os.path.basename(argv[0])
    bin_dir = venv / BIN_DIR
    if _is_python(name) and os.sep not in argv[0] and os.path.lexists(bin_dir / name):
        # Even when a link to a removed Python, PATH going on to another one: the venv's.
        return bin_dir / name
    if os.sep in argv[0]:  # `.venv/bin/python app.py`, not resolved through its link
        path = spec.cwd / argv[0]
        if path.parent.resolve() != bin_dir.resolve() or not os.path.lexists(path):
            return None
        return path if _is_python(name) else shebang_python(spec, path)
    if resolved is None or resolved.path is None:
        return None
    if resolved.path.parent not in (bin_dir, bin_dir.resolve()):
        return None
    return resolved.path if _is_python(name) else shebang_python(spec, resolved.path)


def _is_python(program: str) -> bool:
    return os.path.basename(program).startswith(_PYTHONS)


async def _broken(
    spec: ServiceSpec, venv: Path, python: Path, program: str, timeout: float
) -> str | None:
    """Why ``python`` (the venv's, as the command names it) cannot start, or None when it
    can, or devstack cannot tell."""
    if not python.exists():
        if os.path.islink(python):
            target = os.path.realpath(python)
            return f"{shown(python, spec.cwd)} is a link to {target}, which no longer exists"
        if python.parent != venv / BIN_DIR:
            return (
                f"{program} starts with #!{python}, which does not exist "
                "(the virtualenv was moved or renamed since it was made)"
            )
        return f"{shown(python, spec.cwd)} does not exist"
    home = _config(venv).get("home")
    if home and not Path(home).is_dir() and python.parent == venv / BIN_DIR:
        # A copied interpreter finds its standard library through home: ask it to start.
        ran = await run_bounded(
            [str(python), "-c", ""], cwd=spec.cwd, env=service_env(spec), timeout=timeout
        )
        if ran.returncode not in (0, None):
            said = ran.err.decode(errors="replace").strip().splitlines()
            return (
                f"pyvenv.cfg names home = {home}, which no longer exists; "
                f"{shown(python, spec.cwd)} exits {ran.returncode}"
                + (f": {said[-1]}" if said else "")
            )
    return None


def _config(venv: Path) -> dict[str, str]:
    try:
        lines = (venv / "pyvenv.cfg").read_text(errors="replace").splitlines()
    except OSError:
        return {}
    pairs = (line.partition("=") for line in lines)
    return {k.strip(): v.strip() for k, sep, v in pairs if sep}


def _made_with(venv: Path) -> str | None:
    config = _config(venv)
    return config.get("version_info") or config.get("version")


def _recreate(spec: ServiceSpec, stack: StackSpec | None, venv: Path) -> str:
    """Remove and make the venv again: through the setup step (after venv, when the
    setup only installs into it), else venv and the install its declared dependencies
    need."""
    from devstack.checks.declared import install_command, manifests
    from devstack.checks.provides import setup_for

    where = shown(venv, spec.cwd)
    setup = setup_for(spec, stack)
    make = f"python3 -m venv --clear {where}"
    if setup is not None:
        # One line run where devstack runs (beside stack.toml), so the venv's path is
        # from there. A setup that only installs into the venv (`.venv/bin/pip install
        # ...`, as `devstack init` writes) fails once it is removed: make it first.
        there = shown(venv, stack.root) if stack is not None else where
        first_step = f"rm -rf {there}" if setup.makes_venv else f"python3 -m venv --clear {there}"
        return f"{first_step} && devstack setup {setup.service} --force"
    found = manifests(spec.cwd, stack.root if stack else None)
    python = shown(venv / BIN_DIR / "python", spec.cwd)
    first = next(iter(found.declarations.values()), None)
    if first is None:
        return make
    install = install_command(first, python, spec.cwd)
    if install.startswith("uv sync"):
        return f"rm -rf {where} && {install}"
    return f"{make} && {install}"
