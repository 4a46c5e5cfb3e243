"""``devstack export compose``: the stack as a Compose file (compose.yaml).

One compose service per devstack service. A well-known server (Redis, Postgres...,
recognised from its command: export/images.py) runs its official image, with the
image's own healthcheck and a named volume for its data. A Python or Node service
is built from a Dockerfile generated beside compose.yaml (export/dockerfile.py),
and a dev server runs as its production counterpart (export/production.py). Any
other service keeps a ``build`` placeholder, marked as such. Values are
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.config.durations import format_duration
from devstack.config.interpolate import Context, ServiceRefs, interpolate
from devstack.export.dockerfile import Dockerfile, dockerfile_for, in_image, runtime_of_service
from devstack.export.images import Image, image_for
from devstack.export.probeprograms import WILDCARDS, node_probe, python_probe, runtime_of
from devstack.export.production import Production, production
from devstack.export.secretenv import mask_passwords
from devstack.export.source import (
    ExportSource,
    copies_alike,
    join_env_refs,
    replica_groups,
    split_env_refs,
)
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
from devstack.spec import HealthSpec, ServiceSpec
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


@dataclass(frozen=True, slots=True)
class Build:
    """How one service's container comes to be: an official image, a generated
    Dockerfile, or neither (a placeholder); and its production command, if any."""

    image: Image | None = None
    dockerfile: Dockerfile | None = None
    production: Production | None = None
    command: list[str] | None = None  # a built service's command, when it differs
    notes: tuple[str, ...] = ()  # why it differs (the comment on command)


@dataclass(frozen=True, slots=True)
class ComposeExport:
    text: str  # compose.yaml
    files: dict[str, str] = field(default_factory=dict)  # written beside it: Dockerfiles
    notes: list[str] = field(default_factory=list)  # for stderr: "svc: what was not kept"


def to_compose(source: ExportSource, out_dir: Path) -> str:
    """The compose.yaml text, with paths relative to ``out_dir`` (where it is written)."""
    return export_compose(source, out_dir).text


def export_compose(source: ExportSource, out_dir: Path) -> ComposeExport:
    """compose.yaml, the Dockerfiles it builds from (beside it in ``out_dir``) and the
    notes on what the move changes or cannot express."""
    stack = source.stack
    document, wiring, builds = compose_document(source, out_dir)
    header = (
        f"Written by `devstack export compose` from {_shown(stack.file, out_dir)}.\n"
        "Well-known servers run their official image (tag pinned: check it); Python and\n"
        "Node services build from the Dockerfile.NAME written beside this file; dev servers\n"
        "run as their production counterpart (a comment says so). Fill in any PLACEHOLDER,\n"
        "then: docker compose up --build\n"
        "Addresses: a service reaches another by its compose name (http://api:5000), and\n"
        "listens on 0.0.0.0 inside its container."
    )
    files: dict[str, str] = {}
    notes: list[str] = []
    for name, build in builds.items():
        if build.dockerfile is not None and build.dockerfile.name not in files:
            files[build.dockerfile.name] = build.dockerfile.text
            files[f"{build.dockerfile.name}.dockerignore"] = build.dockerfile.ignore
            notes += [f"{name}: {note}" for note in build.dockerfile.notes]
        if build.image is not None:
            notes += [f"{name}: {note}" for note in build.image.notes]
        notes += [f"{name}: {note}" for note in build.notes]
        spec = stack.services[name]
        notes += [f"{name}: {note}" for _v, note in kept_out(spec, wiring).values()]
    return ComposeExport(dump(document, header + _wiring_summary(wiring)), files, notes)


def compose_document(
    source: ExportSource, out_dir: Path
) -> tuple[dict[str, Any], Wiring, dict[str, Build]]:
    """The compose document (values may be ``Commented``), the wiring it was built with
    and how each service's container comes to be."""
    stack = source.stack
    wiring = wire(source, compose_target(source))
    builds = {n: build_of(source, s, _command(source, s)) for n, s in stack.services.items()}
    checked = {n: _healthcheck(s, builds[n].image) for n, s in stack.services.items()}
    names = compose_names(source)
    services: dict[str, Any] = {}
    for name, spec in stack.services.items():
        if names[name] not in services:
            services[names[name]] = _service(source, spec, out_dir, checked, wiring, builds[name])
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
    document: dict[str, Any] = {"name": project_name(stack.name), "services": services}
    volumes: dict[str, Any] = {
        _volume(n): {} for n, b in builds.items() if b.image and b.image.data
    }
    if volumes:
        document["volumes"] = volumes
    return document, wiring, builds


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


def build_of(source: ExportSource, spec: ServiceSpec, command: list[str]) -> Build:
    """How ``spec``'s container comes to be on an engine (compose, Kubernetes), from its
    ``command`` as the target writes it."""
    image = image_for(command, spec.port, spec.env)
    if image is not None:
        return Build(image=image)
    prod = production(command, port=spec.port, cwd=spec.cwd, env=spec.env)
    run = prod.command if prod is not None else command
    notes = [prod.note] if prod is not None else []
    runtime = prod.runtime if prod is not None else runtime_of_service(command, spec.cwd)
    if runtime == "python":
        run, changed = in_image(run)
        notes += changed
    # The copies of a service with replicas share one (each copy's command overrides CMD).
    name = spec.replica_of or spec.name
    dockerfile = dockerfile_for(
        name, command, spec.cwd, source.root, spec.setup, prod, run, _server_paths(source)
    )
    if dockerfile is None:
        return Build()
    return Build(None, dockerfile, prod, run if notes else None, tuple(notes))


def _server_paths(source: ExportSource) -> list[str]:
    """The data (and socket) paths inside the stack's directory that its local servers
    use (`postgres -D .pgdata`): the build context holds them, the images must not."""
    found: list[str] = []
    for spec in source.stack.services.values():
        image = image_for(list(spec.argv), spec.port, spec.env)
        for path in image.paths if image is not None else ():
            full = Path(os.path.normpath(spec.cwd / path))
            if full != source.root and full.is_relative_to(source.root):
                found.append(full.relative_to(source.root).as_posix())
    return found


def _pinned(image: Image) -> str:
    tag = image.image.rpartition(":")[2]
    return f"major version {tag} pinned" if tag.isdigit() else f"release {tag} pinned"


def _volume(name: str) -> str:
    return f"{name}-data"


def _service(
    source: ExportSource,
    spec: ServiceSpec,
    out_dir: Path,
    checked: dict[str, Any],
    wiring: Wiring,
    build: Build,
) -> dict[str, Any]:
    root = source.root
    cwd = spec.cwd.relative_to(root) if spec.cwd.is_relative_to(root) else None
    context = os.path.relpath(root, out_dir)
    image = build.image
    out: dict[str, Any]
    if image is not None:
        out = {
            "image": Commented(
                image.image,
                "\n".join([f"official image of {image.server}, {_pinned(image)}", *image.notes]),
            ),
            "command": image.command,
        }
        if image.data:
            out["volumes"] = [f"{_volume(spec.name)}:{image.data}"]
    else:
        if build.dockerfile is not None:
            dockerfile = os.path.relpath(out_dir / build.dockerfile.name, root)
            notes = "".join(f"\nNOT RUN: {n}" for n in build.dockerfile.notes)
            out = {
                "build": Commented(
                    {"context": context, "dockerfile": dockerfile},
                    f"generated: {build.dockerfile.name} ({build.dockerfile.runtime}){notes}",
                )
            }
        else:
            out = {
                "build": Commented(
                    {"context": context, "dockerfile": "Dockerfile"},
                    "PLACEHOLDER: a Dockerfile in the stack's directory that copies it to "
                    f"{APP_DIR} and installs what {spec.name} needs (or replace build with "
                    "image:)",
                )
            }
        command = _command(source, spec)
        if build.command is not None:
            out["command"] = Commented(build.command, "\n".join(build.notes))
        else:
            out["command"] = _loopback_note(command)
        out["working_dir"] = _working_dir(spec, cwd)
        if cwd is None:
            out["working_dir"] = Commented(out["working_dir"], "PLACEHOLDER: outside the stack dir")
    env_files = [os.path.relpath(p, out_dir) for p in spec.env_files]
    if env_files:
        out["env_file"] = env_files
    environment = _environment(spec, wiring, python=image is None)
    if image is not None and image.environment:
        environment = {**image.environment, **environment}
    if environment:
        out["environment"] = environment
    if spec.port is not None:
        published = f"{spec.port}:{spec.port}"
        where = "on every address of the host, as devstack binds it"
        if spec.host not in WILDCARDS:
            published = f"127.0.0.1:{published}"
            where = "on the host's loopback, as devstack serves it"
        out["ports"] = Commented([published], f"published {where}")
    if spec.interactive:
        out["stdin_open"] = Commented(
            True, "interactive = true: `docker compose attach` types into it, as devstack attach"
        )
        out["tty"] = True
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


def compose_target(source: ExportSource) -> Target:
    """How compose addresses a service: its compose name, and the port it declares (the
    command listens on it inside the container too)."""
    services = source.stack.services
    names = compose_names(source)
    return Target(
        "compose", lambda name: (names.get(name, name), services[name].port), "0.0.0.0", _escape
    )


def _escape(text: str) -> str:
    return text.replace("$", "$$")


def _refs(source: ExportSource, this: str) -> dict[str, ServiceRefs]:
    return refs(source, compose_target(source), this)


def _text(source: ExportSource, spec: ServiceSpec, text: str, *, shell: bool) -> str:
    """``text`` as written for ``spec``, interpolated for compose (see the module doc)."""
    return resolve(source, compose_target(source), spec.name, text, shell=shell)


def _finish(value: str, env_refs: list[tuple[str, str | None]]) -> str:
    """Literal ``$`` doubled for compose, then ``${env:VAR}`` put back as compose's ``${VAR}``."""
    return join_env_refs(_escape(value), env_refs, braced_env_ref)


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
    if not names_loopback(command):
        return command
    return Commented(
        command,
        "WARNING: it names 127.0.0.1/localhost; in a container, listen on 0.0.0.0 for the "
        "published port and other services to reach it (write ${host} in stack.toml)",
    )


def _environment(spec: ServiceSpec, wiring: Wiring, *, python: bool = True) -> dict[str, Any]:
    wired = wiring.services[spec.name]
    env: dict[str, Any] = {
        var: Commented(value, wired.notes[var]) if var in wired.notes else value
        for var, value in wired.env.items()
    }
    for var, (value, _note) in kept_out(spec, wiring).items():
        env[var] = Commented(value, wired.notes[var]) if var in wired.notes else value
    if spec.port is not None:
        env["PORT"] = str(spec.port)
    if python:  # an official image's server is no Python program
        env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def kept_out(spec: ServiceSpec, wiring: Wiring) -> dict[str, tuple[str, str]]:
    """The env-file values rewritten for compose that hold a password: var -> (the value
    with the password a compose variable the deployer sets, the note saying so). The env
    file stays out of git; compose.yaml does not."""
    out = {}
    for rewrite in wiring.services[spec.name].rewrites:
        if rewrite.where.startswith("stack.toml") or not _has_password(rewrite.value):
            continue
        var, file = rewrite.var, rewrite.where.rpartition(":")[0]
        variable = f"{var}_PASSWORD"
        value = mask_passwords(rewrite.value, f"${{{variable}:?the password of {var} in {file}}}")
        note = (
            f"{var}'s password ({rewrite.where}) is not copied into compose.yaml: set "
            f"{variable} where docker compose runs (its shell, or a .env beside compose.yaml)"
        )
        out[var] = (value, note)
    return out


def _has_password(value: str) -> bool:
    return mask_passwords(value) != value


def _healthcheck(spec: ServiceSpec, image: Image | None = None) -> Any:
    h = spec.health
    if image is not None:
        return _image_healthcheck(spec, image)
    if h is None or h.kind == "log":
        return None
    timing = _timing(h)
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


def _timing(h: HealthSpec) -> dict[str, Any]:
    return {
        "interval": format_duration(h.interval),
        "timeout": format_duration(h.timeout),
        "retries": h.retries,
        "start_period": format_duration(h.start_period),
    }


def _image_healthcheck(spec: ServiceSpec, image: Image) -> Any:
    """The image's own health command, on stack.toml's probe timing (its defaults when
    the service has no probe)."""
    h = spec.health or HealthSpec(kind="tcp", target=f"127.0.0.1:{image.port}", timeout=5.0)
    test = ["CMD", *image.healthcheck]
    why = f"the {image.image} image's own check"
    if spec.health is not None:
        why += f", on the timing of devstack's {spec.health.kind} probe"
    return Commented({"test": test, **_timing(h)}, why)


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
