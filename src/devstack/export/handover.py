"""``devstack export --check``: what would not survive the move to a target, no file written.

For compose and Kubernetes, read from what the export would write (so what the
exporter learns to express, an image, a production command, a setup step as a build
step, stops being reported by itself) and from the wiring: loopback URLs it cannot
rewrite, browser-facing URLs and proxy configs (breaks); a command that binds
loopback, a dev server the export could not replace, a setup step nothing runs, a
service with no image (a PLACEHOLDER build) (breaks); a dev server exported as its
production counterpart and every other note the export prints on stderr (notes).
systemd and a Procfile run on the same machine (loopback stays loopback): dev
servers and setup steps, and for a Procfile what it cannot express, as notes.
``breaks`` findings make the check fail. A finding of a stack.toml key (the command's
bind, a setup step) names the file and line that wrote it; the copies of a service with
replicas that break alike are said once, by the service's name.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devstack.checks.command import command_argv
from devstack.checks.written import where_set
from devstack.export.compose import Build, compose_document, compose_names
from devstack.export.images import initialisation
from devstack.export.kubernetes import kube_target, to_kubernetes
from devstack.export.production import FIXES, Production, dev_server
from devstack.export.source import ExportSource, replica_groups
from devstack.export.toprocfile import DEV_SERVERS, lost
from devstack.export.wiring import Finding, names_loopback, wire
from devstack.export.yaml import Commented
from devstack.spec import ServiceSpec

TARGETS = ("compose", "kubernetes", "systemd", "procfile")
STACK = "(stack)"  # the service named by a finding about the whole stack


def check_handover(source: ExportSource, target: str, out_dir: Path) -> list[Finding]:
    """What would not work as written once ``source`` runs on ``target``, in the stack's
    order of services (the whole stack's last)."""
    order: dict[str, int] = {}
    for i, spec in enumerate(source.stack.services.values()):
        order.setdefault(spec.name, i)
        order.setdefault(spec.replica_of or spec.name, i)
    if target == "compose":
        found = _compose(source, out_dir)
    elif target == "kubernetes":
        found = _kubernetes(source, out_dir)
    else:
        found = _same_machine(source, target)
    found = _once_per_service(source, [_written(source, f) for f in found])
    return sorted(found, key=lambda f: order.get(f.service, len(order)))


# The stack.toml key a finding of each kind is about (its file and line are the fix's place).
_KEYS = {"loopback-bind": ("cmd",), "dev-server": ("cmd",), "setup-dropped": ("setup",)}


def _written(source: ExportSource, finding: Finding) -> Finding:
    """``finding`` with the file and line of its stack.toml key, when it has none."""
    key = _KEYS.get(finding.kind)
    if key is None or finding.file is not None:
        return finding
    written = where_set(source.stack, finding.service, key)
    if written is None:
        return finding
    file = os.path.relpath(written[0], source.root)
    return dataclasses.replace(finding, file=file, line=written[1])


def _once_per_service(source: ExportSource, found: list[Finding]) -> list[Finding]:
    """The copies' findings said once, by the service's name, when every copy has it (a
    finding of a written key: the same key whatever the copy's port in the summary)."""
    groups = replica_groups(source.stack)
    alike: dict[tuple[object, ...], list[Finding]] = {}
    out: list[Finding] = []
    for finding in found:
        spec = source.stack.services.get(finding.service)
        if spec is None or spec.replica_of is None:
            out.append(finding)
            continue
        said = None if finding.file is not None else finding.summary
        key = (spec.replica_of, finding.kind, said, finding.fix, finding.file, finding.line)
        alike.setdefault(key, []).append(finding)
    for (group, *_), findings in alike.items():
        if len({f.service for f in findings}) == len(groups[str(group)]):
            out.append(dataclasses.replace(findings[0], service=str(group)))
        else:
            out += findings
    return out


def _same_machine(source: ExportSource, target: str) -> list[Finding]:
    found: list[Finding] = []
    for spec in source.stack.services.values():
        found += _dev_server(spec, None, list(command_argv(spec)), target)
        if spec.setup is not None:
            found.append(_setup(spec, target, "run it on the machine first: devstack setup"))
    if target == "procfile":
        found += [
            Finding(STACK, "not-expressed", line, None, breaks=False)
            for line in lost(source)
            if not line.startswith(("setup steps", DEV_SERVERS))
        ]
    return found


def _compose(source: ExportSource, out_dir: Path) -> list[Finding]:
    document, wiring, builds = compose_document(source, out_dir)
    names = compose_names(source)
    found = list(wiring.findings)
    for name, spec in source.stack.services.items():
        service = document["services"][names[name]]
        if isinstance(service, Commented):  # a copy of a service with replicas
            service = service.value
        build = builds[name]
        placeholder = "image" not in service and _is_placeholder(service.get("build"))
        if placeholder:
            found.append(
                Finding(
                    name,
                    "no-image",
                    "no image known: compose would build a PLACEHOLDER Dockerfile "
                    "(the stack's directory copied to /app) that does not exist yet",
                    "write that Dockerfile, or replace build: with image: in the export",
                )
            )
        found += _built(spec, build, placeholder, "compose")
        command = _plain(service.get("command"))
        found += _dev_server(spec, build.production, command, "compose")
        if names_loopback(command):
            found.append(
                Finding(
                    name,
                    "loopback-bind",
                    f"its command names 127.0.0.1/localhost ({' '.join(command)}): in a "
                    "container, nothing else (other services, the published port) reaches it",
                    'listen on ${host} in stack.toml (compose gives it 0.0.0.0), e.g. "--bind '
                    '${host}:${port}"',
                )
            )
        if "x-devstack-health" in service:
            found.append(
                Finding(
                    name,
                    "no-healthcheck",
                    "its log probe has no compose equivalent: no healthcheck, and services "
                    "waiting for it to be healthy wait for it to be started",
                    "use health.http, health.tcp or health.cmd",
                    breaks=False,
                )
            )
    return found


def _kubernetes(source: ExportSource, out_dir: Path) -> list[Finding]:
    """The Kubernetes export's notes (what it prints on stderr) as findings: those it
    records as breaking (no image, a dropped setup step, a dev server it could not
    replace, a loopback bind) break; a dev server run as its production counterpart and
    the rest are notes. And the wiring's findings, as for compose."""
    export = to_kubernetes(source, out_dir)
    found = list(wire(source, kube_target(source)).findings)
    for name, notes in export.notes.items():
        for note in notes:
            kind, fix, breaks = export.kinds.get((name, note), ("not-expressed", None, False))
            if note.startswith("health.log"):
                kind = "no-healthcheck"
            found.append(Finding(name, kind, note, fix, breaks=breaks))
    return found


def _built(spec: ServiceSpec, build: Build, placeholder: bool, target: str) -> list[Finding]:
    """What the image (official or generated) changes or cannot express: its setup
    steps no build step runs (breaks), the rest of the export's notes (notes)."""
    found: list[Finding] = []
    name = spec.name
    init = None
    if spec.setup is not None and build.image is not None:
        init = initialisation(build.image, spec.setup, spec.env)
    if init is not None and init.missing is None:
        found.append(Finding(name, "changed", init.note, None, breaks=False))
    elif spec.setup is not None and (placeholder or build.image is not None):
        fix = "make it a RUN step of the image's Dockerfile"
        if build.image is not None:
            fix = f"run it against the {build.image.server} container once it is up"
        found.append(_setup(spec, target, init.missing if init and init.missing else fix))
    if build.dockerfile is not None:
        dockerfile = build.dockerfile.name
        for command in build.dockerfile.dropped:
            found.append(
                Finding(
                    name,
                    "setup-dropped",
                    f"its setup step `{command}` is not run by {target}: {dockerfile} "
                    "cannot express it (a NOT RUN comment there)",
                    "run it where it can reach what it needs: a migration as a one-off "
                    "service or the image's entrypoint; a build step as a RUN line",
                )
            )
        dropped = tuple(f"setup step `{c}`" for c in build.dockerfile.dropped)
        for note in build.dockerfile.notes:
            if not note.startswith(dropped or ("\0",)):
                found.append(Finding(name, "not-expressed", note, None, breaks=False))
    notes = list(build.image.notes) if build.image is not None else []
    notes += [n for n in build.notes if build.production is None or n != build.production.note]
    found += [Finding(name, "changed", note, None, breaks=False) for note in notes]
    return found


def _is_placeholder(build: Any) -> bool:
    return isinstance(build, Commented) and "PLACEHOLDER" in build.comment


def _plain(command: Any) -> list[str]:
    """A compose command as the container runs it (``$$`` is compose's ``$``)."""
    if isinstance(command, Commented):
        command = command.value
    if isinstance(command, str):
        return ["/bin/sh", "-c", command.replace("$$", "$")]
    return [str(word).replace("$$", "$") for word in command or []]


def _dev_server(
    spec: ServiceSpec, production: Production | None, command: list[str], target: str
) -> list[Finding]:
    """A dev server: a note when the export runs its production counterpart instead
    (``production``), a break when ``command`` (what the target would run) still is one."""
    if production is not None:
        return [
            Finding(
                spec.name,
                "dev-server",
                f"`{production.dev}` is a development server: {target} runs its production "
                f"counterpart instead, `{shlex.join(production.command)}`",
                None,
                breaks=False,
            )
        ]
    found = dev_server(command, spec.cwd)
    if found is None:
        return []
    return [
        Finding(
            spec.name,
            "dev-server",
            f"`{found}` is a development server: {target} would run it as the production "
            "server (reloader, debug mode, unoptimised build)",
            f"run its production counterpart: {FIXES[found]}",
        )
    ]


def _setup(spec: ServiceSpec, target: str, fix: str) -> Finding:
    return Finding(
        spec.name,
        "setup-dropped",
        f"its setup step (`{spec.setup}`) is not run by {target}: devstack runs it before "
        "the first start",
        fix,
    )


def render(findings: Iterable[Finding], title: str) -> str:
    """One screen: ``title``, then the findings grouped by service, each with its fix."""
    by_service: dict[str, list[Finding]] = {}
    for finding in findings:
        by_service.setdefault(finding.service, []).append(finding)
    lines = [title]
    for service, items in by_service.items():
        lines.append(f"  {service}")
        for f in sorted(items, key=lambda f: not f.breaks):
            lines.append(f"    {'break' if f.breaks else 'note '}  {f.summary}")
            if f.file is not None and f.file not in f.summary:
                lines.append(f"           written at {f.file}" + (f":{f.line}" if f.line else ""))
            if f.fix:
                lines.append(f"           fix: {f.fix}")
    return "\n".join(lines) + "\n"


def title(findings: list[Finding], target: str) -> str:
    breaks = sum(f.breaks for f in findings)
    notes = len(findings) - breaks
    if not findings:
        return f"{target}: nothing found that would not survive the move"
    return (
        f"{target}: {breaks} thing{'s' if breaks != 1 else ''} would break after the move, "
        f"{notes} note{'s' if notes != 1 else ''}"
    )
