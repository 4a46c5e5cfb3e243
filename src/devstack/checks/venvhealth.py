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
from devstack.checks.declared import install_command, manifests
from devstack.checks.provides import setup_for
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
    if venv is None or not _runs_from(spec, venv, resolved):
        return exe
    why = await _broken(spec, venv, resolved, timeout)
    if why is None:
        return exe
    where = shown(venv, spec.cwd)
    fix = _recreate(spec, stack, venv)
    made = _made_with(venv)
    details = (why, *((f"it was made with Python {made}",) if made else ()), f"to fix: {fix}")
    return CheckResult(
        spec.name,
        "executable",
        "fail",
        f"the virtualenv {where} is broken: its Python is gone",
        details,
        fix,
        kind="broken-venv",
    )


def _runs_from(spec: ServiceSpec, venv: Path, resolved: Resolved | None) -> bool:
    """The command is a program of the venv, or a ``python`` its bin would have answered."""
    argv = command_argv(spec)
    if not argv:
        return False
    bin_dir = venv / BIN_DIR
    if resolved is not None and resolved.path is not None:
        return resolved.path.parent in (bin_dir, bin_dir.resolve()) or _is_python(argv[0])
    return os.path.lexists(bin_dir / os.path.basename(argv[0])) or _is_python(argv[0])


def _is_python(program: str) -> bool:
    return os.path.basename(program).startswith(_PYTHONS)


async def _broken(
    spec: ServiceSpec, venv: Path, resolved: Resolved | None, timeout: float
) -> str | None:
    """Why the venv cannot start, or None when it can (or devstack cannot tell)."""
    where = shown(venv, spec.cwd)
    python = venv / BIN_DIR / "python"
    if not os.path.lexists(python):
        python = venv / BIN_DIR / "python3"
    if os.path.islink(python) and not python.exists():
        target = os.path.realpath(python)
        return f"{shown(python, spec.cwd)} is a link to {target}, which no longer exists"
    if not os.path.lexists(python):
        return f"{where} has no {BIN_DIR}/python"
    if resolved is not None and resolved.path is not None and resolved.path.parent == python.parent:
        wanted = shebang_python(spec, resolved.path)
        if wanted is not None and not os.path.lexists(wanted):
            return (
                f"{shown(resolved.path, spec.cwd)} starts with #!{wanted}, which does not "
                f"exist (the virtualenv was moved or renamed since it was made)"
            )
    home = _config(venv).get("home")
    if home and not Path(home).is_dir():
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
    """Remove and make the venv again: through the setup step that makes it, else venv
    and the install its declared dependencies need."""
    where = shown(venv, spec.cwd)
    setup = setup_for(spec, stack)
    if setup is not None:
        return f"rm -rf {where} && devstack setup {setup.service} --force"
    found = manifests(spec.cwd, stack.root if stack else None)
    python = shown(venv / BIN_DIR / "python", spec.cwd)
    make = f"python3 -m venv --clear {where}"
    first = next(iter(found.declarations.values()), None)
    if first is None:
        return make
    install = install_command(first, python, spec.cwd)
    if install.startswith("uv sync"):
        return f"rm -rf {where} && {install}"
    return f"{make} && {install}"
