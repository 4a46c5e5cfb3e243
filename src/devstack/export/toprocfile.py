"""``devstack export procfile``: the stack as a Procfile for honcho, foreman or overmind.

Each line runs the service's command in its directory with its own variables
(``cd examples/demo && PORT=5000 exec python3 api.py``); values are resolved, so
``${services.api.url}`` is the local URL. What a Procfile cannot say is returned
as warnings, named per service, for the command to print.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from devstack.checks.command import command_argv, find_venv, resolve, shown
from devstack.config.envfile import read_env_file
from devstack.config.profiles import enabled
from devstack.export.production import dev_server
from devstack.export.secretenv import secret_reason
from devstack.export.source import ExportSource, copies_alike, replica_groups
from devstack.spec import RestartSpec, ServiceSpec


def to_procfile(source: ExportSource) -> tuple[str, list[str]]:
    """The Procfile text and the warnings (what was left out)."""
    lines = [f"# Written by `devstack export procfile` from {source.stack.file}."]
    chosen = enabled(source.stack)
    groups = replica_groups(source.stack)
    for name in chosen:
        spec = source.stack.services[name]
        copies = groups.get(spec.replica_of or "", [])
        if copies and copies_alike(copies):
            if spec.replica == 1:  # one line; the runner's own count makes the copies
                lines.append(_alike_note(spec.replica_of or name, len(copies)))
                lines.append(f"{spec.replica_of}: {_line(source, spec)}")
            continue
        if spec.replica == 1:
            lines.append(
                f"# {spec.replica_of}: replicas = {len(copies)}, one line per copy: each has "
                "values of its own (its port, ${replica})"
            )
        shown = name if spec.replica_of is None else f"{spec.replica_of}_{spec.replica}"
        lines.append(f"{shown}: {_line(source, spec)}")
    left = [n for n in source.stack.services if n not in chosen]
    if left:
        reason = "services no active profile enables (--profile NAME adds them)"
        return "\n".join(lines) + "\n", [f"{reason}: {', '.join(left)}", *lost(source)]
    return "\n".join(lines) + "\n", lost(source)


def _alike_note(name: str, count: int) -> str:
    return (
        f"# {name}: replicas = {count}; run the copies with the runner's count: "
        f"honcho start -c {name}={count}, overmind start -m {name}={count}"
    )


def _line(source: ExportSource, spec: ServiceSpec) -> str:
    parts: list[str] = []
    for path in _secret_env_files(source, spec):  # read by the line's shell, from the root
        parts += ["set -a", "&&", ".", shlex.quote(f"./{_from_root(source, path)}"), "&&"]
        parts += ["set +a", "&&"]
    if spec.cwd != source.root:
        where = (
            spec.cwd.relative_to(source.root) if spec.cwd.is_relative_to(source.root) else spec.cwd
        )
        parts += ["cd", shlex.quote(str(where)), "&&"]
    env = {k: spec.env[k] for k in _env_file_keys(source, spec) if k in spec.env}
    env.update(source.declared_env(spec))
    if spec.port is not None:
        env["PORT"] = str(spec.port)  # honcho would number it 5000, 5100, ...
    parts += [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    if spec.shell:
        command = spec.cmd if not parts else f"exec /bin/sh -c {shlex.quote(spec.cmd)}"
        return " ".join([*parts, command])
    argv = list(spec.argv)
    venv = find_venv(spec)
    found = resolve(spec, argv[0]).path if venv is not None else None
    if found is not None and found.is_relative_to(venv):  # type: ignore[arg-type]
        argv[0] = shown(found, spec.cwd)  # honcho does not activate the virtualenv
    return " ".join([*parts, "exec", shlex.join(argv)])


def _env_file_keys(source: ExportSource, spec: ServiceSpec) -> list[str]:
    """Variables from env files a Procfile runner would not read (all but ./.env), to
    inline: not those of a file that holds a secret (it is read by the shell instead)."""
    keys: list[str] = []
    secret = _secret_env_files(source, spec)
    for path in spec.env_files:
        if path != source.root / ".env" and path not in secret:
            keys += read_env_file(path)
    return keys


def _secret_env_files(source: ExportSource, spec: ServiceSpec) -> list[Path]:
    """The env files (but ./.env) with a secret value: a Procfile is committed, they are
    not, so their values are not copied into it."""
    found = []
    for path in spec.env_files:
        if path == source.root / ".env" or not path.is_relative_to(source.root):
            continue
        try:
            values = read_env_file(path)
        except OSError:
            continue
        if any(secret_reason(k, v) is not None for k, v in values.items()):
            found.append(path)
    return found


def _from_root(source: ExportSource, path: Path) -> str:
    return path.relative_to(source.root).as_posix()


# A lost() line export --check reports as its own finding (kind dev-server), not again.
DEV_SERVERS = (
    "development servers, run as written (devstack export --check procfile: their "
    "production counterparts)"
)


def lost(source: ExportSource) -> list[str]:
    """What this stack uses that a Procfile cannot express, one line each."""
    services = source.stack.services.values()

    def named(pred: Callable[[ServiceSpec], bool]) -> list[str]:
        return list(dict.fromkeys(s.replica_of or s.name for s in services if pred(s)))

    default_stop = {f.name: f.default for f in fields(ServiceSpec) if f.name.startswith("stop_")}

    found: list[tuple[str, list[str]]] = [
        (
            "health probes (a Procfile runner never waits for readiness)",
            named(lambda s: s.health is not None),
        ),
        (
            "depends_on: start order and health gating (all start at once)",
            named(lambda s: bool(s.depends_on)),
        ),
        (
            "restart policies (honcho and foreman stop everything when one process exits)",
            named(lambda s: s.restart != RestartSpec()),
        ),
        (
            "stop_signal / stop_timeout (the runner sends SIGTERM, then SIGKILL on its own clock)",
            named(
                lambda s: (
                    (s.stop_signal, s.stop_timeout)
                    != (default_stop["stop_signal"], default_stop["stop_timeout"])
                )
            ),
        ),
        (
            "preflight checks (check.import, check.cmd, the port and import checks)",
            named(lambda s: True),
        ),
        (
            "env_file other than .env beside the Procfile (values are inlined instead)",
            named(
                lambda s: any(
                    p != source.root / ".env" and p not in _secret_env_files(source, s)
                    for p in s.env_files
                )
            ),
        ),
        (
            "env files with secrets, read by the line's shell (set -a; . FILE), not inlined",
            list(
                dict.fromkeys(
                    _from_root(source, p) for s in services for p in _secret_env_files(source, s)
                )
            ),
        ),
        ("setup steps (run them first: devstack setup)", named(lambda s: s.setup is not None)),
        (
            DEV_SERVERS,
            named(lambda s: dev_server(list(command_argv(s)), s.cwd) is not None),
        ),
        ("watch: restart on edit", named(lambda s: bool(s.watch))),
        (
            "interactive: no terminal to attach to (the runner pipes its output; run it "
            "alone to type into it)",
            named(lambda s: s.interactive),
        ),
    ]
    return [f"{what}: {', '.join(names)}" for what, names in found if names]
