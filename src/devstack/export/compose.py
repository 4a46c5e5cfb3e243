"""``devstack export compose``: the stack as a Compose file (compose.yaml).

One compose service per devstack service. The image is the one thing devstack
cannot know: each service gets a ``build`` placeholder (the stack's directory,
copied to /app by a Dockerfile the user writes), marked as such. Values are
re-interpolated from stack.toml as written, with each service's address being its
compose service name (``${services.api.url}`` -> ``http://api:5000``) and its own
``${host}`` the container-wide 0.0.0.0; ``${env:VAR}`` becomes compose's ``${VAR}``;
every other ``$`` is doubled so compose passes it through.
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
from devstack.export.source import (
    ExportSource,
    copies_alike,
    join_env_refs,
    replica_groups,
    split_env_refs,
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
    stack = source.stack
    checked = {n: _healthcheck(s) for n, s in stack.services.items()}
    names = compose_names(source)
    services: dict[str, Any] = {}
    for name, spec in stack.services.items():
        if names[name] not in services:
            services[names[name]] = _service(source, spec, out_dir, checked)
    for group, copies in replica_groups(stack).items():
        first = services[names[copies[0].name]]
        if names[copies[0].name] == group:
            # compose's own count: the copies are alike (no port, no value of their own).
            first["deploy"] = Commented(
                {"replicas": len(copies)}, f"replicas = {len(copies)} in stack.toml"
            )
            continue
        for spec in copies:
            services[names[spec.name]] = Commented(
                services[names[spec.name]],
                f"copy {spec.replica} of {group} (replicas = {len(copies)}): a service per "
                "copy, as each has values of its own (its port, ${replica}); deploy.replicas "
                "would run them alike and publish one host port N times",
            )
    header = (
        f"Written by `devstack export compose` from {_shown(stack.file, out_dir)}.\n"
        "Fill in each PLACEHOLDER (how the image is built), then: docker compose up\n"
        "Addresses: a service reaches another by its compose name (http://api:5000), and\n"
        "listens on 0.0.0.0 inside its container."
    )
    return dump({"name": project_name(stack.name), "services": services}, header)


def project_name(name: str) -> str:
    """A compose project name: lower case letters, digits, - and _, starting alphanumeric."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return cleaned or "devstack"


def _service(
    source: ExportSource, spec: ServiceSpec, out_dir: Path, checked: dict[str, Any]
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
    environment = _environment(source, spec)
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
    depends = _depends_on(spec, checked, compose_names(source))
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


def compose_names(source: ExportSource) -> dict[str, str]:
    """Each devstack service's compose service: its own name; a copy (``worker.2``) its
    service's when the copies are alike (compose's ``deploy.replicas`` runs them), else
    ``worker-2`` (a dot would be read as a domain in the compose network)."""
    names = {n: n for n in source.stack.services}
    for group, copies in replica_groups(source.stack).items():
        alike = copies_alike(copies)
        for spec in copies:
            names[spec.name] = group if alike else f"{group}-{spec.replica}"
    return names


def _refs(source: ExportSource, this: str) -> dict[str, ServiceRefs]:
    refs = {}
    names = compose_names(source)
    for name, spec in source.stack.services.items():
        address = names[name]
        url = f"http://{address}:{spec.port}" if spec.port is not None else spec.url
        host = "0.0.0.0" if name == this else address
        refs[name] = ServiceRefs(name, host, spec.port, url)
        if spec.replica == 1:  # ${services.worker.url}: the first copy
            assert spec.replica_of is not None
            refs[spec.replica_of] = ServiceRefs(spec.replica_of, address, spec.port, url)
    return refs


def _text(source: ExportSource, spec: ServiceSpec, text: str, *, shell: bool) -> str:
    """``text`` as written for ``spec``, interpolated for compose (see the module doc)."""
    body, env_refs = split_env_refs(text)
    ctx = Context(
        spec.name, _refs(source, spec.name), source.environ, shell=shell, replica=spec.replica
    )
    return _finish(interpolate(body, ctx), env_refs)


def _finish(value: str, env_refs: list[tuple[str, str | None]]) -> str:
    """Literal ``$`` doubled for compose, then ``${env:VAR}`` put back as compose's ``${VAR}``."""
    return join_env_refs(value.replace("$", "$$"), env_refs, _compose_env_ref)


def _compose_env_ref(var: str, default: str | None) -> str:
    return f"${{{var}}}" if default is None else f"${{{var}:-{default}}}"


def _command(source: ExportSource, spec: ServiceSpec) -> list[str]:
    written = source.written_of(spec)
    if written is None:  # a Procfile line: a shell command, nothing to re-interpolate
        return ["/bin/sh", "-c", spec.cmd.replace("$", "$$")]
    if isinstance(written.cmd, list):
        return [_text(source, spec, part, shell=False) for part in written.cmd]
    if written.shell:
        return ["/bin/sh", "-c", _text(source, spec, written.cmd, shell=True)]
    # Split before re-interpolating, as devstack does, so a substituted value stays one word.
    body, env_refs = split_env_refs(written.cmd)
    ctx = Context(spec.name, _refs(source, spec.name), source.environ, replica=spec.replica)
    return [_finish(word, env_refs) for word in shlex.split(interpolate(body, ctx))]


def _loopback_note(command: list[str]) -> Any:
    """The command, with a warning when it binds loopback (unreachable from outside a container)."""
    if not any(re.search(r"\b(127\.0\.0\.1|localhost)\b", word) for word in command):
        return command
    return Commented(
        command,
        "WARNING: it names 127.0.0.1/localhost; in a container, listen on 0.0.0.0 for the "
        "published port and other services to reach it (write ${host} in stack.toml)",
    )


def _environment(source: ExportSource, spec: ServiceSpec) -> dict[str, str]:
    written = source.written_of(spec)
    env: dict[str, str] = {}
    if written is not None:
        for var, value in written.env.items():
            env[var] = _text(source, spec, value, shell=False)
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


def _depends_on(
    spec: ServiceSpec, checked: dict[str, Any], names: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dep, cond in spec.depends_on.items():
        condition = _CONDITIONS[cond]
        target = names[dep]  # every copy of a service with replicas
        if cond is Condition.HEALTHY and checked.get(dep) is None:
            # devstack counts a service without a probe as healthy once running.
            out[target] = Commented(
                {"condition": "service_started"}, f"{target} has no healthcheck here: started"
            )
            continue
        out[target] = {"condition": condition}
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
