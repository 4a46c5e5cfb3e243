"""The port check: is the service's port free where it binds, and if not, who holds it?

The holder is named (pid, user, command line, cwd) and matched against
``.devstack/state.json``: a process recorded there with the same start time is a
stale child of this stack, which the next ``devstack up`` reaps before it starts.

A port written in the command (``--bind``/``--port``/``-p``) that differs from the
declared ``port`` is reported here as a failed check (not a config error), since
the command is only read, never validated, by the config layer.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack.checks.checkresult import CheckResult
from devstack.checks.command import command_argv
from devstack.checks.protocols import speaks
from devstack.errors import DevstackError
from devstack.procs import portowners as ports
from devstack.procs.process import ProcessRecord
from devstack.project.servers import bind_args, command_port, default_port, parse_server
from devstack.spec import ServiceSpec, StackSpec

# psutil's create_time is rounded differently across calls on some systems.
_TIME_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class StaleMatch:
    """A port holder that is a recorded process of this stack (or one of its descendants)."""

    service: str
    record: ProcessRecord


def bind_address(spec: ServiceSpec) -> tuple[str, int | None]:
    """Host and port the service will bind: the command's, else the declared ones."""
    argv = command_argv(spec)
    server = parse_server(argv, spec.env)
    if server is not None:
        return server.host or spec.host, server.port or spec.port
    return spec.host, command_port(argv) or spec.port


def free_now(spec: ServiceSpec) -> bool:
    """Does the port bind right now at an IP address (no resolver, no holder to look up)?

    Then ``check_port`` costs a bind and a few string tests: the supervisor runs it on
    the event loop instead of a thread (a thread hop per service interleaves 40
    services' checks and delays every first spawn).
    """
    host, port = bind_address(spec)
    if port is None:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return ports.is_port_free(port, host)
    except (ValueError, DevstackError):
        return False


def check_port(spec: ServiceSpec, stack: StackSpec) -> CheckResult | None:
    """The port check; None when the service declares no port and the command names none."""
    argv = command_argv(spec)
    written = command_port(argv)
    # A Procfile's ports are numbered for each line (honcho's $PORT), not declared: a
    # command that binds its own port (redis-server --port 6379) is as the user meant.
    declared = None if stack.from_procfile else spec.port
    # Blocking needs a program known to listen; another one's port may be where it connects.
    listens = bool(speaks(spec, stack))
    if written is not None and declared is not None and written != declared:
        return CheckResult(
            spec.name,
            "port",
            "fail" if listens else "warn",
            f"the command binds port {written} but port = {spec.port}",
            (f"command: {spec.cmd}",),
            "use ${port} in cmd (it is " + str(spec.port) + ") or change port",
        )
    server = parse_server(argv, spec.env)
    if server is not None and server.port is None and declared is not None:
        default = default_port(server, spec.env)
        if default is not None and default != spec.port:
            return CheckResult(
                spec.name,
                "port",
                "fail",
                f"{server.server} listens on port {default} by default, but port = {spec.port}",
                (f"command: {spec.cmd}",),
                "add " + shlex.join(bind_args(server.server, spec.host, "${port}")) + " to cmd",
            )
    host, port = bind_address(spec)
    if port is None:
        return None
    guessed = spec.port is None and not listens  # the port is only read off the command
    owner = _declared_by(stack, spec, port) if guessed else None
    if owner is not None:
        return CheckResult(
            spec.name,
            "port",
            "ok",
            f"port {port} in the command is that of service {owner}, which it connects to",
            kind="connects",
        )
    try:
        free = ports.is_port_free(port, host)
    except DevstackError as exc:
        return CheckResult(spec.name, "port", "fail", exc.message, (), exc.hint)
    if free:
        return CheckResult(spec.name, "port", "ok", f"port {port} is free on {host}")
    holders = ports.listeners(port, host)
    holder = holders[0] if holders else ports.UNKNOWN_HOLDER
    details: list[str] = []
    if holder.pid is not None:
        details += [
            f"pid: {holder.pid}",
            f"user: {holder.username or '?'}",
            f"command: {holder.cmdline or holder.name or '?'}",
            f"cwd: {holder.cwd or '?'}",
        ]
    stale = stale_match(stack, holder.pid)
    running = stale is not None and supervisor_alive(stack.state_dir() / "state.json")
    if running and stale is not None and stale.service == spec.name:
        # `devstack check` beside a running stack: the service holds its own port.
        return CheckResult(
            spec.name,
            "port",
            "ok",
            f"port {port} on {host} is served by {spec.name} itself (pid {holder.pid}), "
            "run by this stack's devstack",
        )
    if running and stale is not None:
        details.append(
            f"it is service {stale.service} of this stack, run by a devstack that is still running"
        )
        fix = "devstack down (or devstack restart " + stale.service + ")"
    elif stale is not None:
        details.append(
            f"it is a stale process of this stack (service {stale.service}, recorded in "
            f".devstack/state.json with the same start time)"
        )
        # `up` reaps every process state.json records with a matching start time
        # before it starts anything, so no flag is needed to replace it.
        fix = "devstack up (it ends stale processes of this stack first, checked by start time)"
    else:
        if holder.pid is not None:
            details.append("it is not a process of this stack")
        fix = f"stop it (kill {holder.pid})" if holder.pid else "free the port or change port"
    summary = f"port {port} on {host} is held by {holder.describe()}"
    if guessed:
        # `tool -p N`: devstack does not know that the program listens; it may connect.
        details.append(f"{port} is read off the command; devstack does not know it listens")
        return CheckResult(spec.name, "port", "warn", summary, tuple(details), fix)
    return CheckResult(spec.name, "port", "fail", summary, tuple(details), fix)


def _declared_by(stack: StackSpec, spec: ServiceSpec, port: int) -> str | None:
    """Another service of the stack that declares ``port`` (the one a client reaches)."""
    for other in stack.services.values():
        if other.name != spec.name and other.port == port:
            return other.name
    return None


def stale_match(stack: StackSpec, pid: int | None) -> StaleMatch | None:
    """The state.json record ``pid`` belongs to (itself or an ancestor), checked by start time."""
    if pid is None:
        return None
    records = recorded(stack.state_dir() / "state.json")
    if not records:
        return None
    try:
        proc = psutil.Process(pid)
        chain = [proc, *proc.parents()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    for member in chain:
        for service, rec in records.items():
            try:
                if (
                    member.pid == rec.pid
                    and abs(member.create_time() - rec.create_time) < _TIME_SLACK
                ):
                    return StaleMatch(service, rec)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return None


def supervisor_alive(path: Path) -> bool:
    """Is the supervisor that wrote ``state.json`` still running (same pid and start time)?"""
    try:
        sup = json.loads(path.read_bytes())["supervisor"]
        proc = psutil.Process(int(sup["pid"]))
        return bool(abs(proc.create_time() - float(sup["create_time"])) < _TIME_SLACK)
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return False


def recorded(path: Path) -> dict[str, ProcessRecord]:
    """The process records of ``state.json`` (empty when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_bytes())
        services = data.get("services", {})
    except (OSError, ValueError, AttributeError):
        return {}
    found: dict[str, ProcessRecord] = {}
    if not isinstance(services, dict):
        return found
    for name, raw in services.items():
        try:
            found[str(name)] = ProcessRecord.from_json(raw)
        except (ValueError, TypeError):
            continue
    return found
