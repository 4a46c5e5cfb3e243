"""``devstack export systemd``: one .service unit per service and a .target for the stack.

honcho's systemd exporter is not used: its template hard-codes ``Restart=always``
and ``KillMode=process`` (a service's children outlive it), has no ``After=`` /
``Requires=``, and quotes ``Environment=`` values for a shell, which systemd does
not parse (``K='a b'`` is two words there); it also needs jinja2. Units here:

- ``After=`` + ``Requires=`` from depends_on; a dependency waited on for
  "healthy" gets an ``ExecStartPost=`` that polls its probe, so it counts as
  started (and its dependents start) only once it answers, as under devstack.
  "completed" makes the dependency ``Type=oneshot``.
- ``ExecStartPre=`` runs ``devstack check SVC``; ``KillMode=mixed`` (stop_mode
  "main") or ``control-group`` ("group"), ``KillSignal=`` / ``TimeoutStopSec=``
  from stop_signal / stop_timeout;
  ``Restart=`` / ``RestartSec=`` / ``StartLimitBurst=`` from the policy.
- Values are quoted the systemd way: ``%`` doubled everywhere, ``$`` doubled in
  command lines, C-style escapes inside double quotes.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

from devstack.checks.command import find_venv, resolve
from devstack.config.durations import format_duration
from devstack.config.profiles import enabled
from devstack.export.probeprograms import python_probe
from devstack.export.source import ExportSource, copies_alike, replica_groups
from devstack.spec import ServiceSpec, StackSpec
from devstack.states import Condition, RestartPolicy

_INSTANCE = "DEVSTACKINSTANCE"  # in a template's text, where %i goes (a safe word: not quoted)
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_RESTART = {
    RestartPolicy.NO: "no",
    RestartPolicy.ON_FAILURE: "on-failure",
    RestartPolicy.ALWAYS: "always",
}


def unit_prefix(stack_name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stack_name).strip("-")
    return cleaned or "devstack"


def to_systemd(source: ExportSource, devstack: list[str] | None = None) -> dict[str, str]:
    """``{file name: unit text}``: ``PREFIX-SVC.service`` for each service, ``PREFIX.target``.

    ``devstack`` is the command line that runs devstack (default: this one's).
    """
    stack = source.stack
    prefix = unit_prefix(stack.name)
    devstack = devstack or devstack_command()
    waited = {
        d
        for s in stack.services.values()
        for d, c in s.depends_on.items()
        if c is Condition.HEALTHY
    }
    completed = {
        d
        for s in stack.services.values()
        for d, c in s.depends_on.items()
        if c is Condition.COMPLETED
    }
    units: dict[str, str] = {}
    unit_of = unit_names(stack, prefix)
    for name, spec in stack.services.items():
        flags = {"wait": name in waited, "oneshot": name in completed}
        if unit_of[name].endswith(f"@{spec.replica}.service"):
            if spec.replica == 1:  # one template for the alike copies: PREFIX-worker@.service
                assert spec.replica_of is not None
                template = replace(spec, name=f"{spec.replica_of}.{_INSTANCE}")
                text = _service_unit(source, template, unit_of, devstack, **flags)
                units[f"{prefix}-{spec.replica_of}@.service"] = text.replace(_INSTANCE, "%i")
            continue
        units[unit_of[name]] = _service_unit(source, spec, unit_of, devstack, **flags)
    # The services the active profiles leave out have units, started by name.
    wants = " ".join(unit_of[n] for n in enabled(stack))
    units[f"{prefix}.target"] = "\n".join(
        [
            _header(source),
            "[Unit]",
            f"Description=devstack stack {_escape(stack.name)}",
            f"Wants={wants}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
    return units


def unit_names(stack: StackSpec, prefix: str) -> dict[str, str]:
    """Each service's unit: ``PREFIX-NAME.service``; the copies of a service with replicas
    that are alike (no port, no value of their own) instances of one template,
    ``PREFIX-worker@1.service``; other copies a unit each, ``PREFIX-worker.2.service``."""
    names = {n: f"{prefix}-{n}.service" for n in stack.services}
    for group, copies in replica_groups(stack).items():
        if copies_alike(copies):
            names.update({c.name: f"{prefix}-{group}@{c.replica}.service" for c in copies})
    return names


def devstack_command() -> list[str]:
    """This devstack: its console script beside the interpreter, else ``python -m devstack``."""
    script = Path(sys.executable).parent / "devstack"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "devstack"]


def _header(source: ExportSource) -> str:
    return f"# Written by `devstack export systemd` from {source.stack.file}."


def _service_unit(
    source: ExportSource,
    spec: ServiceSpec,
    unit_of: dict[str, str],
    devstack: list[str],
    *,
    wait: bool,
    oneshot: bool,
) -> str:
    prefix = unit_prefix(source.stack.name)
    deps = " ".join(dict.fromkeys(unit_of[d] for d in spec.depends_on))
    r = spec.restart
    lines = [_header(source)]
    if spec.name.endswith(_INSTANCE):
        lines.append(
            f"# The copies of {spec.replica_of} (replicas): start copy N as "
            f"{prefix}-{spec.replica_of}@N.service; {prefix}.target starts them all."
        )
    elif spec.replica_of is not None:
        lines.append(
            f"# Copy {spec.replica} of {spec.replica_of} (replicas): a unit per copy, not a "
            f"template {spec.replica_of}@.service, as each copy has values of its own "
            "(its port, ${replica}) that a template's %i cannot give."
        )
    lines += [
        "[Unit]",
        f"Description={_escape(spec.name)} ({_escape(source.stack.name)}, devstack)",
        f"PartOf={prefix}.target",
    ]
    if deps:
        lines += [f"After={deps}", f"Requires={deps}"]
    # devstack's max_restarts consecutive restarts, then failed.
    lines += [
        f"StartLimitBurst={r.max_restarts + 1}",
        "StartLimitIntervalSec="
        f"{format_duration(max(r.reset_after, r.backoff) * (r.max_restarts + 1))}",
    ]
    lines += ["", "[Service]", f"Type={'oneshot' if oneshot else 'exec'}"]
    lines.append(f"WorkingDirectory={_escape(str(spec.cwd))}")
    lines += [f"EnvironmentFile={_escape(str(p))}" for p in spec.env_files]
    lines += [f"Environment={_quote(f'{k}={v}')}" for k, v in _environment(source, spec).items()]
    check = [*devstack, "check", "-f", str(source.stack.file), spec.name]
    lines.append(f"ExecStartPre={_command_line(check)}")
    lines.append(f"ExecStart={_command_line(_argv(spec))}")
    health = spec.health
    program = python_probe(health, wait=True) if wait and health and not oneshot else None
    if health is not None and program is not None:
        lines.append(f"ExecStartPost={_command_line([sys.executable, '-c', program])}")
        lines.append(f"TimeoutStartSec={format_duration(health.start_period)}")
    policy = _RESTART[r.policy]
    if oneshot and policy == "always":
        policy = "on-failure"  # systemd refuses Restart=always for Type=oneshot
    lines += [
        f"Restart={policy}",
        f"RestartSec={format_duration(r.backoff)}",
        # systemd's "mixed" is stop_mode "main": the signal to the main process alone,
        # SIGKILL to what is left after TimeoutStopSec.
        f"KillMode={'mixed' if spec.stop_mode == 'main' else 'control-group'}",
        f"KillSignal={spec.stop_signal.name}",
        f"TimeoutStopSec={format_duration(spec.stop_timeout)}",
        "",
        "[Install]",
        f"WantedBy={prefix}.target",
        "",
    ]
    return "\n".join(lines)


def _argv(spec: ServiceSpec) -> list[str]:
    """The command with its program as an absolute path (virtualenv first, as devstack runs it)."""
    argv = list(spec.argv)
    if not argv[0].startswith("/"):
        found = resolve(spec, argv[0]).path
        if found is not None:
            argv[0] = str(found)
    return argv


def _environment(source: ExportSource, spec: ServiceSpec) -> dict[str, str]:
    env = source.declared_env(spec)
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    venv = find_venv(spec)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _escape(text: str) -> str:
    """A value where systemd expands specifiers: ``%`` doubled, no newline."""
    return text.replace("%", "%%").replace("\n", " ")


def _quote(word: str, *, command: bool = False) -> str:
    """One word for systemd: as is when safe, else double-quoted with C escapes."""
    word = word.replace("%", "%%")
    if command:
        word = word.replace("$", "$$")
    if _SAFE_WORD.fullmatch(word):
        return word
    escaped = (
        word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _command_line(argv: list[str]) -> str:
    return " ".join(_quote(w, command=True) for w in argv)
