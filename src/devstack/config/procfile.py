"""A Procfile as a stack: one service per ``name: command`` line, as honcho runs it.

Each process type gets ``shell = true`` (Procfiles rely on shell expansion), the
Procfile's directory as cwd, the variables of a ``.env`` beside it, the ``.venv`` (or
``venv``) beside it activated as for stack.toml's services, no probe and
``restart = on-failure``. Ports are numbered like foreman and honcho: PORT from
``.env`` (else devstack's environment, else 5000) for the first type, +100 for each
next one; the service's ``port`` is set to it, without an implied probe (a worker
need not listen). Unlike honcho, a line that is neither blank, a ``#`` comment nor
``name: command`` is an error with its line number, and so is a repeated name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from honcho.environ import PROCFILE_LINE

from devstack.config.envfile import merge_env, read_env_file
from devstack.config.regularfile import read_regular_file
from devstack.errors import ConfigError, ConfigProblem
from devstack.paths import resolve_state_dir
from devstack.project.venv import activate, find_venv
from devstack.spec import RestartSpec, ServiceSpec, StackSpec
from devstack.stackfile import MAX_STACK_FILE

DEFAULT_PORT = 5000
PORT_STEP = 100


def parse_procfile(text: str, file: Path | None = None) -> dict[str, tuple[str, int]]:
    """``{name: (command, line number)}`` in file order; ConfigError on a bad line."""
    entries: dict[str, tuple[str, int]] = {}
    problems: list[ConfigProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PROCFILE_LINE.match(stripped)
        if match is None:
            problems.append(
                ConfigProblem(
                    file,
                    number,
                    None,
                    f"cannot read this line: {_clip(stripped)!r}",
                    hint="each line is `name: command`; names use letters, digits, - and _",
                )
            )
            continue
        name, command = match.group(1), match.group(2).strip()
        if "\0" in command:  # exec refuses it: say so now, not at `up`
            problems.append(ConfigProblem(file, number, name, "the command holds a NUL byte"))
            continue
        if name in entries:
            first = entries[name][1]
            problems.append(
                ConfigProblem(
                    file,
                    number,
                    name,
                    f"process type {name!r} repeats line {first}",
                    hint="rename one of them",
                )
            )
            continue
        entries[name] = (command, number)
    if problems:
        raise ConfigError(problems)
    if not entries:
        raise ConfigError.one(
            "the Procfile declares no process",
            file=file,
            hint="add a line like `web: python app.py`",
        )
    return entries


def read_procfile(path: Path) -> dict[str, tuple[str, int]]:
    """:func:`parse_procfile` of the file at ``path``."""
    try:
        text = read_regular_file(path, MAX_STACK_FILE).decode("utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError.one(f"cannot read the Procfile: {exc.strerror}", file=path) from None
    return parse_procfile(text, path)


def load_procfile(path: Path, environ: Mapping[str, str] | None = None) -> StackSpec:
    """The stack a Procfile describes (see the module docstring)."""
    base = dict(os.environ if environ is None else environ)
    path = path.resolve()
    root = path.parent
    entries = read_procfile(path)

    dotenv, env_files, port = procfile_env(root, base, path)
    # As for stack.toml (and as the checks find it): a venv beside it is activated.
    venv = find_venv(root)

    services: dict[str, ServiceSpec] = {}
    for index, (name, (command, _line)) in enumerate(entries.items()):
        own_port = port + PORT_STEP * index
        valid_port = own_port if 1 <= own_port <= 65535 else None
        env = merge_env(base, [dotenv], valid_port)
        if venv is not None:
            activate(env, venv)
        services[name] = ServiceSpec(
            name=name,
            cmd=command,
            argv=("/bin/sh", "-c", command),
            cwd=root,
            env=env,
            port=valid_port,
            url=None,
            shell=True,
            restart=RestartSpec(),
            env_files=env_files,
            venv=venv,
        )
    state = Path(resolve_state_dir(os.fspath(root), None, base))
    return StackSpec(
        name=root.name, root=root, file=path, services=services, from_procfile=True, state=state
    )


def procfile_env(
    root: Path, environ: Mapping[str, str], procfile: Path
) -> tuple[dict[str, str], tuple[Path, ...], int]:
    """The ``.env`` beside a Procfile (its variables, the file if any) and the first PORT,
    as honcho takes it: ``.env``'s PORT, else the environment's, else 5000."""
    dotenv_path = root / ".env"
    dotenv: dict[str, str] = {}
    env_files: tuple[Path, ...] = ()
    if dotenv_path.is_file():
        try:
            dotenv = read_env_file(dotenv_path)
        except OSError as exc:
            raise ConfigError.one(f"cannot read: {exc.strerror}", file=dotenv_path) from None
        env_files = (dotenv_path,)
    port_text = dotenv.get("PORT", environ.get("PORT", str(DEFAULT_PORT)))
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError.one(
            f"PORT is {port_text!r}, not a number",
            file=dotenv_path if "PORT" in dotenv else procfile,
            key_path="PORT",
        ) from None
    return dotenv, env_files, port


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
