"""The executable check: is argv[0] there, on the service's PATH with its virtualenv first?

Also says which interpreter a Python console script runs with (its shebang), so the
import check loads the app with the Python that will serve it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from devstack.checks.checkresult import CheckResult
from devstack.checks.provides import listed_in, setup_for
from devstack.checks.shims import CannotTell, behind
from devstack.project.servers import parse_celery, server_of, unwrapped, wrapper_dir
from devstack.project.shellwords import simple_commands
from devstack.project.venv import BIN_DIR, venv_of
from devstack.project.venv import find_venv as venv_in
from devstack.spec import ServiceSpec, StackSpec

# Console scripts -> the pip package that provides them.
_PIP_PACKAGES = {
    "gunicorn": "gunicorn",
    "uvicorn": "uvicorn",
    "hypercorn": "hypercorn",
    "granian": "granian",
    "waitress-serve": "waitress",
    "daphne": "daphne",
    "flask": "flask",
    "celery": "celery",
    "django-admin": "django",
}
# Other tools -> how to get them. pnpm through npm first: `corepack enable` needs a
# registry that serves corepack's signatures (a mirror often does not).
_INSTALL_HINTS = {
    "pnpm": "npm install -g pnpm (or, where the registry serves signatures: corepack enable)",
    "yarn": "npm install -g yarn (or, where the registry serves signatures: corepack enable)",
    "node": "install Node.js (https://nodejs.org, or nvm/fnm)",
    "npm": "install Node.js (https://nodejs.org, or nvm/fnm)",
    "npx": "install Node.js (https://nodejs.org, or nvm/fnm)",
}
_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")
# pip's launcher for a shebang too long for the kernel: `'''exec' "/path/python" "$0" "$@"`.
_SH_EXEC = re.compile("^'''exec' " + r'(?:"(?P<quoted>[^"]+)"|(?P<bare>\S+)) "\$0"')
# Shell words that are not programs: a shell = true command starting so is not checked.
_SHELL_WORDS = {"cd", "exec", "export", "source", ".", "set", "if", "for", "while", "eval"}
_SHELL_WORDS |= {"case", "until", "function", "[[", "trap", "ulimit", "umask", "unset", "wait"}
_SHELL_WORDS |= {"read", "shift", "declare", "local", "readonly", "typeset", "let", "alias"}
# A version name in a manager's "exists in these versions" list ("3.11.7", "pypy3.10-7.3").
_VERSION = re.compile(r"^[\w.+/-]+$")


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where argv[0] was found (``path`` None: nowhere) and where it was looked for."""

    name: str
    path: Path | None
    looked: tuple[str, ...]  # ".venv/bin", "PATH"


def command_argv(spec: ServiceSpec) -> tuple[str, ...]:
    """The program and arguments the user wrote (for shell = true, split like a shell would)."""
    if not spec.shell:
        return spec.argv
    try:
        return tuple(shlex.split(spec.cmd))
    except ValueError:
        return ()


def find_venv(spec: ServiceSpec) -> Path | None:
    """The service's virtualenv: ``venv = ...``, else a .venv/venv in its cwd."""
    return venv_of(spec)


def search_path(spec: ServiceSpec) -> str:
    """PATH as the service will have it, with its virtualenv's bin first."""
    path = spec.env.get("PATH", os.defpath)
    venv = find_venv(spec)
    if venv is None:
        return path
    bin_dir = str(venv / BIN_DIR)
    parts = [p for p in path.split(os.pathsep) if p and p != bin_dir]
    return os.pathsep.join([bin_dir, *parts])


def service_env(spec: ServiceSpec) -> dict[str, str]:
    """The service's environment with its virtualenv active (what checks run with)."""
    env = dict(spec.env)
    env["PATH"] = search_path(spec)
    venv = find_venv(spec)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    return env


def resolve(spec: ServiceSpec, name: str) -> Resolved:
    """Find ``name`` as exec would: relative to cwd if it has a slash, else on the PATH."""
    venv = find_venv(spec)
    looked = (*((shown(venv / BIN_DIR, spec.cwd),) if venv else ()), "PATH")
    if os.sep in name:
        try:
            path = (spec.cwd / name).resolve()
            ok = path.is_file() and os.access(path, os.X_OK)
        except OSError:  # ENAMETOOLONG, ELOOP: no program has this path
            path, ok = spec.cwd / name, False
        return Resolved(name, path if ok else None, (shown(path, spec.cwd),))
    found = shutil.which(name, path=search_path(spec))
    return Resolved(name, Path(found) if found else None, looked)


def shebang_python(spec: ServiceSpec, script: Path) -> Path | None:
    """The Python a script runs with, read from its first lines; None: not a Python script.

    ``#!/path/python``, ``#!/usr/bin/env python3`` (looked up on the service's PATH),
    and pip's form for long paths: ``#!/bin/sh`` then ``'''exec' "/path/python" "$0" "$@"``.
    """
    try:
        with open(script, "rb") as f:
            first, second = f.readline(512), f.readline(1024)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        if not _PYTHON.match(os.path.basename(words[-1])):
            return None  # `#!/usr/bin/env bash`: a shell script (a shim, a wrapper)
        found = shutil.which(words[-1], path=search_path(spec))
        return Path(found) if found else None
    if "python" in os.path.basename(words[0]):
        return Path(words[0])
    exec_line = _SH_EXEC.match(second.decode(errors="replace"))
    if os.path.basename(words[0]) == "sh" and exec_line:
        return Path(exec_line["quoted"] or exec_line["bare"])
    return None


async def python_of(
    spec: ServiceSpec, program: Path | None, known: Path | CannotTell | None = None
) -> Path | CannotTell | None:
    """The Python that will run the service's command (a shim's real one, asked of its
    manager); ``CannotTell`` when the command is not one devstack can read; None when
    there is no Python at all. A command that is no Python server (``check.import`` set
    on ``./run.sh``) gets the venv's python, else python3 on PATH. ``known``: what the
    executable check already learnt is behind ``program`` (its manager is asked once).
    """
    argv = command_argv(spec)
    env = service_env(spec)
    venv = find_venv(spec)
    if unwrapped(argv) and (server_of(argv) is not None or parse_celery(argv) is not None):
        # uv run / poetry run / pipenv run: the project's environment runs the server or
        # celery (that of the folder `uv run --directory DIR` runs in).
        where = wrapper_dir(argv)
        if where is not None:
            venv = venv_in(spec.cwd / where)
        if venv is None or not (venv / BIN_DIR / "python").exists():
            return CannotTell(f"{argv[0]} run uses an environment devstack does not find")
        return venv / BIN_DIR / "python"
    if program is not None and argv:
        real = known if known is not None else await behind(program, cwd=spec.cwd, env=env)
        if _PYTHON.match(os.path.basename(argv[0])):
            if real == program and os.sep in argv[0]:
                # As written: a venv's python is a symlink to its base interpreter, which
                # run by its real path is outside the venv (without its packages).
                return Path(os.path.abspath(spec.cwd / argv[0]))
            return program if isinstance(real, CannotTell) else real
        if isinstance(real, CannotTell):
            return real
        python = shebang_python(spec, real)
        if python is not None:
            return await _real_python(spec, python, env)
        if server_of(argv) is not None:
            return CannotTell(
                f"{argv[0]} ({real}) is neither a Python interpreter "
                "nor a script whose first line names one"
            )
    if venv is not None and (venv / BIN_DIR / "python").exists():
        return venv / BIN_DIR / "python"
    fallback = shutil.which("python3", path=search_path(spec))
    return await _real_python(spec, Path(fallback), env) if fallback else None


async def _real_python(spec: ServiceSpec, python: Path, env: dict[str, str]) -> Path:
    """``python`` itself, or the interpreter behind it when it is a shim. A shim devstack
    cannot ask still runs Python: the service itself runs through that launcher."""
    real = await behind(python, cwd=spec.cwd, env=env)
    return python if isinstance(real, CannotTell) else real


def check_executable(
    spec: ServiceSpec, stack: StackSpec | None = None
) -> tuple[CheckResult | None, Resolved | None]:
    """The executable check; (None, None) when the command is a shell line not worth guessing.

    ``stack`` lets a missing program point at the setup (a sibling's too) that installs it.
    """
    argv = command_argv(spec)
    if spec.shell:
        # The line's first program, not its first word: `(createdb ... || true) && ...`.
        first = next(simple_commands(argv), [])
        program = "".join(first[:1])
        if any(w.startswith("PATH=") for w in argv) or "$" in program or program[:1] == "-":
            # A PATH of its own, a program in a variable, a prefix's option (nice -n 5
            # prog, env -i prog): not guessed.
            return None, None
        argv = tuple(first)
    return _check_program(spec, argv, "executable", stack)


async def check_shim(
    spec: ServiceSpec, result: CheckResult, found: Path, stack: StackSpec | None = None
) -> tuple[CheckResult, Path | CannotTell]:
    """The executable check of a program found as a version-manager shim, asked of its
    manager; and what is behind ``found`` (itself when it is no shim).

    Blocks only on certainty: a manager of the pyenv family (whose ``exec`` runs its own
    ``which`` and exits as it did) answering status 127 and "PROGRAM: command not found"
    in the service's cwd and env has told exactly how the shim will fail (pyenv:
    ``.python-version`` selects 3.12, flask is installed only for 3.11.7). Any other
    failed answer (asdf's, mise's words, another status) is a warning carrying the
    manager's words; a manager devstack cannot ask, or that does not answer in time, is
    no sign of trouble at all (the shim may well run), so the check stays ok and says so.
    """
    real = await behind(found, cwd=spec.cwd, env=service_env(spec))
    if isinstance(real, Path):
        if real == found:
            return result, real
        return replace(result, summary=f"{result.summary[:-1]}, which runs {real})"), real
    name = found.name
    if not real.said:
        return replace(result, summary=f"{result.summary} (not resolved: {real.why})"), real
    manager = real.manager or "its manager"
    words = (f"`{manager} which {name}` said:", *(f"  {line}" for line in real.said))
    if not real.missing:
        return CheckResult(
            spec.name, "executable", "warn", f"{name} may not run here: {real.why}", words
        ), real
    fix = _shim_fix(spec, name, manager, real.said, stack)
    return CheckResult(
        spec.name,
        "executable",
        "fail",
        f"{name} ({shown(found, spec.cwd)}) is a {manager} shim, and {manager} has no "
        f"{name} for the version selected here",
        (*words, f"to fix: {fix}"),
        fix=fix,
    ), real


def _shim_fix(
    spec: ServiceSpec, name: str, manager: str, said: Sequence[str], stack: StackSpec | None
) -> str:
    """Select a version that has ``name``, install it into the selected one, or a venv."""
    versions: list[str] = []
    listing = next((i for i, line in enumerate(said) if "exists in these" in line), None)
    for line in said[listing + 1 :] if listing is not None else ():
        if not _VERSION.match(line):
            break
        versions.append(line)
    ways = [f"{manager} local {versions[0]} (in {spec.cwd})"] if versions else []
    package = _PIP_PACKAGES.get(name)
    if manager == "pyenv" and package is not None:
        ways.append(f"install it into the selected version: pyenv exec pip install {package}")
        ways.append(f"use the project's venv: {install_hint(spec, name, stack)}")
    else:
        ways.append(f"install {name} into the version selected here")
    return ", or ".join(ways)


def check_setup_executable(spec: ServiceSpec) -> CheckResult | None:
    """The setup line's program (``pnpm`` of ``pnpm install``), found as the command's is;
    None when there is no setup or it starts with a shell word (``cd x && ...``)."""
    if spec.setup is None:
        return None
    try:
        argv = tuple(shlex.split(spec.setup))
    except ValueError:
        return None
    return _check_program(spec, argv, "setup")[0]


def _check_program(
    spec: ServiceSpec, argv: Sequence[str], check: str, stack: StackSpec | None = None
) -> tuple[CheckResult | None, Resolved | None]:
    if not argv or "=" in argv[0] or argv[0] in _SHELL_WORDS:
        return None, None
    name = argv[0]
    found = resolve(spec, name)
    if found.path is not None:
        return CheckResult(
            spec.name, check, "ok", f"{name} found ({shown(found.path, spec.cwd)})"
        ), found
    summary = f"{name}: not found (looked in {', '.join(found.looked)})"
    below = _venv_below(spec, name) if os.sep not in name else None
    if below is not None:
        # Installed, in a folder's venv the service does not use (run from the project's
        # root, the venv in backend/): installing it again would make a second venv.
        where = os.path.relpath(below, spec.cwd)
        there = f"{shown(below / BIN_DIR / name, spec.cwd)} exists"
        return CheckResult(
            spec.name,
            check,
            "fail",
            summary,
            details=(f"{there}, in a virtualenv the service does not use (none in its cwd)",),
            fix=f'set venv = "{where}" in [services.{spec.name}]',
            kind="wrong-cwd",
        ), found
    fix = install_hint(spec, name, stack)
    return CheckResult(
        spec.name, check, "fail", summary, details=(f"to install it: {fix}",), fix=fix
    ), found


def _venv_below(spec: ServiceSpec, name: str) -> Path | None:
    """A virtualenv in a subfolder of the service's cwd (``backend/.venv``) that has the
    program ``name``, when the service has no venv of its own."""
    if find_venv(spec) is not None:
        return None
    try:
        folders = sorted(e.path for e in os.scandir(spec.cwd) if e.is_dir() and e.name[0] != ".")
    except OSError:
        return None
    for folder in folders:
        venv = venv_in(Path(folder))
        if venv is not None and os.access(venv / BIN_DIR / name, os.X_OK):
            return venv
    return None


def install_hint(spec: ServiceSpec, name: str, stack: StackSpec | None = None) -> str:
    """How to get ``name``: the setup that installs it (``stack`` given: the service's
    own or a sibling's), its requirements into the venv, pip, a tool's installer, PATH."""
    base = os.path.basename(name)
    package = _PIP_PACKAGES.get(base)
    requirements = listed_in(spec.cwd, package or base, stack.root if stack else None)
    if package is None and requirements is None:
        return _INSTALL_HINTS.get(
            base, f"install {base}, or add the directory that holds it to PATH"
        )
    setup = setup_for(spec, stack) if stack is not None else None
    if setup is not None:
        return setup.fix(base)
    venv = find_venv(spec)
    if venv is None and spec.setup is not None:
        # `devstack check` before the first `up`: the setup step makes the venv.
        return f"devstack setup {spec.name} (runs its setup step: {spec.setup})"
    what = f"-r {os.path.relpath(requirements, spec.cwd)}" if requirements else package
    if venv is None:
        return (
            f"python -m venv .venv && .venv/bin/pip install {what} "
            f"(in {spec.cwd}; devstack uses a .venv it finds there)"
        )
    return f"{shown(venv / BIN_DIR / 'pip', spec.cwd)} install {what}"


def shown(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when it is inside it (".venv/bin/gunicorn")."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)
