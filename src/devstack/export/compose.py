"""``devstack export compose``: the stack as a Compose file (compose.yaml).

One compose service per devstack service. The image is the one thing devstack
cannot know: each service gets a ``build`` placeholder (the stack's directory,
copied to /app by a Dockerfile the user writes), marked as such. Values are
re-interpolated from stack.toml as written, with each service's address being its
compose service name (``${services.api.url}`` -> ``http://api:5000``) and its own
``${host}`` the container-wide 0.0.0.0; ``${env:VAR}`` becomes compose's ``${VAR}``;
every other ``$`` is doubled so compose passes it through. The addresses, and the
hard-coded loopback URLs rewritten the same way, are ``export.wiring``'s
(``compose_target`` is compose's addressing).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

from devstack.config.durations import format_duration
from devstack.config.interpolate import Context, ServiceRefs, interpolate
from devstack.export.probeprograms import WILDCARDS, node_probe, python_probe, runtime_of
from devstack.export.source import ExportSource, join_env_refs, split_env_refs
from devstack.export.wiring import (
    Target,
    Wiring,
    braced_env_ref,
    names_loopback,
    refs,
    resolve,
    wire,
)
from devstack.export.yaml import Commented, dump
from devstack.spec import ServiceSpec
from devstack.states import Condition, RestartPolicy

APP_DIR = "/app"
# The names `docker compose` looks for with no -f, in its order of preference: it runs
# the first it finds in a directory (and warns about the rest).
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_CONDITIONS = {
    Condition.STARTED: "service_started",
    Condition.HEALTHY: "service_healthy",
    Condition.COMPLETED: "service_completed_successfully",
}


def to_compose(source: ExportSource, out_dir: Path) -> str:
    """The compose.yaml text, with paths relative to ``out_dir`` (where it is written)."""
    document, wiring = compose_document(source, out_dir)
    stack = source.stack
    header = (
        f"Written by `devstack export compose` from {_shown(stack.file, out_dir)}.\n"
        "Fill in each PLACEHOLDER (how the image is built), then: docker compose up\n"
        "Addresses: a service reaches another by its compose name (http://api:5000), and\n"
        "listens on 0.0.0.0 inside its container."
    )
    return dump(document, header + _wiring_summary(wiring))


def compose_document(source: ExportSource, out_dir: Path) -> tuple[dict[str, Any], Wiring]:
    """The compose document (values may be ``Commented``) and the wiring it was built with."""
    stack = source.stack
    wiring = wire(source, compose_target(source))
    checked = {n: _healthcheck(s) for n, s in stack.services.items()}
    services = {
        name: _service(source, spec, out_dir, checked, wiring)
        for name, spec in stack.services.items()
    }
    return {"name": project_name(stack.name), "services": services}, wiring


def _wiring_summary(wiring: Wiring) -> str:
    n = len(wiring.rewrites)
    lines = [
        "Wiring: ${services.NAME.url|host|port} resolved to compose names; "
        + (f"{n} hard-coded loopback URL{'s' if n != 1 else ''}" if n else "no loopback URL"),
        "to a service's port rewritten the same way (each marked below; env files are not",
        "edited: environment, which wins over env_file, sets the new value). Browser-facing",
        "variables (NEXT_PUBLIC_*, VITE_*, ...) keep devstack's local value: a browser",
        "cannot resolve a compose name.",
    ]
    if wiring.findings:
        n = len(wiring.findings)
        lines.append(f"To change by hand: {n} (devstack export --check compose lists them)")
    return "\n" + "\n".join(lines)


def project_name(name: str) -> str:
    """A compose project name: lower case letters, digits, - and _, starting alphanumeric."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return cleaned or "devstack"


def _service(
    source: ExportSource,
    spec: ServiceSpec,
    out_dir: Path,
    checked: dict[str, Any],
    wiring: Wiring,
) -> dict[str, Any]:
    root = source.root
    cwd = spec.cwd.relative_to(root) if spec.cwd.is_relative_to(root) else None
    context = os.path.relpath(root, out_dir)
    out: dict[str, Any] = {
        "build": Commented(
            {"context": context, "dockerfile": "Dockerfile"},
            "PLACEHOLDER: a Dockerfile in the stack's directory that copies it to "
            f"{APP_DIR} and installs what {spec.name} needs (or replace build with image:)",
        ),
        "command": _loopback_note(_command(source, spec)),
        "working_dir": _working_dir(spec, cwd),
    }
    if cwd is None:
        out["working_dir"] = Commented(out["working_dir"], "PLACEHOLDER: outside the stack dir")
    env_files = [os.path.relpath(p, out_dir) for p in spec.env_files]
    if env_files:
        out["env_file"] = env_files
    environment = _environment(spec, wiring)
    if environment:
        out["environment"] = environment
    if spec.port is not None:
        published = f"{spec.port}:{spec.port}"
        where = "on every address of the host, as devstack binds it"
        if spec.host not in WILDCARDS:
            published = f"127.0.0.1:{published}"
            where = "on the host's loopback, as devstack serves it"
        out["ports"] = Commented([published], f"published {where}")
    if spec.profiles:  # compose's own key, with the same meaning (--profile, COMPOSE_PROFILES)
        out["profiles"] = list(spec.profiles)
    depends = _depends_on(spec, checked)
    if depends:
        out["depends_on"] = depends
    if checked[spec.name] is not None:
        out["healthcheck"] = checked[spec.name]
    elif spec.health is not None:
        out["x-devstack-health"] = Commented(
            f"{spec.health.kind} {spec.health.target}",
            "devstack's log probe has no compose equivalent: no healthcheck",
        )
    out["restart"] = _restart(spec)
    out["stop_signal"] = spec.stop_signal.name
    out["stop_grace_period"] = format_duration(spec.stop_timeout)
    return out


def _working_dir(spec: ServiceSpec, cwd: Path | None) -> str:
    if cwd is None:
        return str(spec.cwd)
    return APP_DIR if str(cwd) == "." else f"{APP_DIR}/{cwd.as_posix()}"


def compose_target(source: ExportSource) -> Target:
    """How compose addresses a service: its compose name, and the port it declares (the
    command listens on it inside the container too)."""
    services = source.stack.services
    return Target("compose", lambda name: (name, services[name].port), "0.0.0.0", _escape)


def _escape(text: str) -> str:
    return text.replace("$", "$$")


def _refs(source: ExportSource, this: str) -> dict[str, ServiceRefs]:
    return refs(source, compose_target(source), this)


def _text(source: ExportSource, name: str, text: str, *, shell: bool) -> str:
    """``text`` as written for ``name``, interpolated for compose (see the module doc)."""
    return resolve(source, compose_target(source), name, text, shell=shell)


def _finish(value: str, env_refs: list[tuple[str, str | None]]) -> str:
    """Literal ``$`` doubled for compose, then ``${env:VAR}`` put back as compose's ``${VAR}``."""
    return join_env_refs(_escape(value), env_refs, braced_env_ref)


def _command(source: ExportSource, spec: ServiceSpec) -> list[str]:
    written = source.written.get(spec.name)
    if written is None:  # a Procfile line: a shell command, nothing to re-interpolate
        return ["/bin/sh", "-c", spec.cmd.replace("$", "$$")]
    if isinstance(written.cmd, list):
        return [_text(source, spec.name, part, shell=False) for part in written.cmd]
    if written.shell:
        return ["/bin/sh", "-c", _text(source, spec.name, written.cmd, shell=True)]
    # Split before re-interpolating, as devstack does, so a substituted value stays one word.
    body, env_refs = split_env_refs(written.cmd)
    ctx = Context(spec.name, _refs(source, spec.name), source.environ)
    return [_finish(word, env_refs) for word in shlex.split(interpolate(body, ctx))]


def _loopback_note(command: list[str]) -> Any:
    """The command, with a warning when it binds loopback (unreachable from outside a container)."""
    if not names_loopback(command):
        return command
    return Commented(
        command,
        "WARNING: it names 127.0.0.1/localhost; in a container, listen on 0.0.0.0 for the "
        "published port and other services to reach it (write ${host} in stack.toml)",
    )


def _environment(spec: ServiceSpec, wiring: Wiring) -> dict[str, Any]:
    wired = wiring.services[spec.name]
    env: dict[str, Any] = {
        var: Commented(value, wired.notes[var]) if var in wired.notes else value
        for var, value in wired.env.items()
    }
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _healthcheck(spec: ServiceSpec) -> Any:
    h = spec.health
    if h is None or h.kind == "log":
        return None
    timing = {
        "interval": format_duration(h.interval),
        "timeout": format_duration(h.timeout),
        "retries": h.retries,
        "start_period": format_duration(h.start_period),
    }
    if h.kind == "cmd":
        test = ["CMD", *(w.replace("$", "$$") for w in shlex.split(h.target))]
        return Commented({"test": test, **timing}, f"devstack's cmd probe: {h.target}")
    runtime = runtime_of(spec.argv)
    program = node_probe(h) if runtime == "node" else python_probe(h)
    assert program is not None  # http and tcp have both forms
    exe = ["node", "-e"] if runtime == "node" else ["python3", "-c"]
    what = f"GET {h.target}" if h.kind == "http" else f"tcp connect to {h.target}"
    alt = f'; with curl: ["CMD", "curl", "-fsS", "{h.target}"]' if h.kind == "http" else ""
    note = f"devstack's {h.kind} probe ({what}) as a {exe[0]} one-liner: the image needs {exe[0]}"
    return Commented({"test": ["CMD", *exe, program.replace("$", "$$")], **timing}, note + alt)


def _depends_on(spec: ServiceSpec, checked: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dep, cond in spec.depends_on.items():
        condition = _CONDITIONS[cond]
        if cond is Condition.HEALTHY and checked.get(dep) is None:
            # devstack counts a service without a probe as healthy once running.
            out[dep] = Commented(
                {"condition": "service_started"}, f"{dep} has no healthcheck here: started"
            )
            continue
        out[dep] = {"condition": condition}
    return out


def _restart(spec: ServiceSpec) -> str:
    policy = spec.restart.policy
    if policy is RestartPolicy.NO or spec.restart.max_restarts == 0:
        return "no"
    if policy is RestartPolicy.ALWAYS:
        return "always"
    return f"on-failure:{spec.restart.max_restarts}"


def _shown(path: Path | None, out_dir: Path) -> str:
    return os.path.relpath(path, out_dir) if path is not None else "the stack"
