"""``devstack export --check``: what would not survive the move to a target, no file written.

For compose, read from the document the export would write (so what the exporter
learns to express, an image, a production command, stops being reported by itself)
and from the wiring: loopback URLs it cannot rewrite, browser-facing URLs, a command
that binds loopback, a dev server run as production, a setup step nothing runs, a
service with no image (a placeholder build). systemd and a Procfile run on the same
machine (loopback stays loopback): dev servers and setup steps, and for a Procfile
what it cannot express, as notes. ``breaks`` findings make the check fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devstack.checks.command import command_argv
from devstack.export.compose import compose_document, compose_names
from devstack.export.devservers import PRODUCTION, dev_server
from devstack.export.source import ExportSource
from devstack.export.toprocfile import lost
from devstack.export.wiring import Finding, names_loopback
from devstack.export.yaml import Commented
from devstack.spec import ServiceSpec

TARGETS = ("compose", "systemd", "procfile")
STACK = "(stack)"  # the service named by a finding about the whole stack


def check_handover(source: ExportSource, target: str, out_dir: Path) -> list[Finding]:
    """What would not work as written once ``source`` runs on ``target``, in the stack's
    order of services (the whole stack's last)."""
    order = {name: i for i, name in enumerate(source.stack.services)}
    found = _compose(source, out_dir) if target == "compose" else _same_machine(source, target)
    return sorted(found, key=lambda f: order.get(f.service, len(order)))


def _same_machine(source: ExportSource, target: str) -> list[Finding]:
    found: list[Finding] = []
    for spec in source.stack.services.values():
        found += _dev_server(spec, None, target)
        if spec.setup is not None:
            found.append(_setup(spec, target, "run it on the machine first: devstack setup"))
    if target == "procfile":
        found += [
            Finding(STACK, "not-expressed", line, None, breaks=False)
            for line in lost(source)
            if not line.startswith("setup steps")
        ]
    return found


def _compose(source: ExportSource, out_dir: Path) -> list[Finding]:
    document, wiring, _ = compose_document(source, out_dir)
    names = compose_names(source)
    found = list(wiring.findings)
    for name, spec in source.stack.services.items():
        service = document["services"][names[name]]
        if isinstance(service, Commented):  # a copy of a service with replicas
            service = service.value
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
        if spec.setup is not None and placeholder:
            found.append(_setup(spec, "compose", "make it a RUN step of the image's Dockerfile"))
        command = _plain(service.get("command"))
        found += _dev_server(spec, command, "compose")
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


def _is_placeholder(build: Any) -> bool:
    return isinstance(build, Commented) and "PLACEHOLDER" in build.comment


def _plain(command: Any) -> list[str]:
    """A compose command as the container runs it (``$$`` is compose's ``$``)."""
    if isinstance(command, Commented):
        command = command.value
    if isinstance(command, str):
        return ["/bin/sh", "-c", command.replace("$$", "$")]
    return [str(word).replace("$$", "$") for word in command or []]


def _dev_server(spec: ServiceSpec, command: list[str] | None, target: str) -> list[Finding]:
    """A dev server the target would run (``command``: the target's, else the service's)."""
    found = dev_server(command if command is not None else command_argv(spec), spec.cwd)
    if found is None:
        return []
    counterpart = PRODUCTION.get(found, "the server it is meant to run in production")
    return [
        Finding(
            spec.name,
            "dev-server",
            f"`{found}` is a development server: {target} would run it as the production "
            "server (reloader, debug mode, unoptimised build)",
            f"run its production counterpart: {counterpart}",
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
