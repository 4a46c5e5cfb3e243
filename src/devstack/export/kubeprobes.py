"""devstack's health probes as Kubernetes probes, and "healthy" as an init container.

- ``health`` -> a startupProbe (every second, Kubernetes' shortest period, for
  ``start_period``), a readinessProbe (``interval``, ``timeout``, ``retries``) and,
  only with ``restart_on_unhealthy``, a livenessProbe: without it devstack marks an
  unhealthy service and leaves it running, which is what readiness alone does.
  http -> httpGet, tcp -> tcpSocket, cmd -> exec; a log probe has no counterpart.
- ``depends_on = { dep = "healthy" }`` -> a busybox init container polling dep's
  Service: a Service sends only to ready pods, so this waits for dep's readiness too.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from devstack.config.durations import format_duration
from devstack.export.probeprograms import WILDCARDS, tcp_address
from devstack.export.yaml import Commented
from devstack.spec import HealthSpec, ServiceSpec

WAIT_IMAGE = "busybox:1.37"  # the init containers that wait: sh, nc and wget
_LOCAL = frozenset({*WILDCARDS, "127.0.0.1", "localhost", "::1", "[::1]"})


def seconds(value: float) -> int:
    """A duration as Kubernetes' whole seconds: rounded up, at least 1."""
    return max(1, math.ceil(value))


def probes(spec: ServiceSpec, exec_command: list[str] | None, notes: list[str]) -> dict[str, Any]:
    """The container's probes from ``spec.health`` (``exec_command``: a cmd probe's command
    as the container runs it); what cannot be said is appended to ``notes``."""
    h = spec.health
    action = _action(spec, h, exec_command, notes) if h is not None else None
    if h is None or action is None:
        return {}
    timeout = seconds(h.timeout)
    tries = seconds(h.start_period)
    steady = {
        **action,
        "periodSeconds": seconds(h.interval),
        "timeoutSeconds": timeout,
        "failureThreshold": max(1, h.retries),
    }
    out: dict[str, Any] = {
        "startupProbe": Commented(
            {**action, "periodSeconds": 1, "timeoutSeconds": timeout, "failureThreshold": tries},
            f"health.start_period {format_duration(h.start_period)}: every second "
            f"(Kubernetes' shortest period), {tries} tries",
        ),
    }
    timing = (
        f"health.interval {format_duration(h.interval)}, timeout "
        f"{format_duration(h.timeout)}, retries {h.retries}"
    )
    if spec.restart_on_unhealthy:
        out["readinessProbe"] = Commented(steady, timing)
        out["livenessProbe"] = Commented(
            dict(steady), "restart_on_unhealthy = true: restarted once unhealthy"
        )
    else:
        out["readinessProbe"] = Commented(
            steady,
            f"{timing}. No livenessProbe: devstack does not restart an unhealthy "
            "service unless restart_on_unhealthy = true",
        )
    return out


def _action(
    spec: ServiceSpec, h: HealthSpec, exec_command: list[str] | None, notes: list[str]
) -> dict[str, Any] | None:
    if h.kind == "log":
        notes.append(
            f"health.log {h.target!r} (a pattern in its output) has no Kubernetes probe: none"
        )
        return None
    if h.kind == "cmd":
        return {"exec": {"command": exec_command or []}}
    if h.kind == "tcp":
        host, port = tcp_address(h.target)
        if not _is_own(spec, host):
            notes.append(f"health.tcp {h.target} is another host's: no probe")
            return None
        return {"tcpSocket": {"port": port}}
    parts = urlsplit(h.target)
    if not _is_own(spec, parts.hostname or ""):
        notes.append(f"health.http {h.target} is another host's: no probe")
        return None
    https = parts.scheme == "https"
    get: dict[str, Any] = {"path": _path(h.target), "port": parts.port or (443 if https else 80)}
    if https:
        get["scheme"] = "HTTPS"
    if h.expect_status:
        notes.append(
            f"health.expect_status {list(h.expect_status)}: Kubernetes counts any "
            "200-399 as healthy"
        )
    return {"httpGet": get}


def _is_own(spec: ServiceSpec, host: str) -> bool:
    return host in _LOCAL or host == spec.host.strip("[]")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def wait_container(dep: ServiceSpec, host: str) -> Commented:
    """An init container that returns once ``dep``'s Service, named ``host``, answers:
    its http probe's GET when that is on its port, else a connection to its port."""
    assert dep.port is not None  # the caller writes a note for a service without one
    h = dep.health
    timeout = seconds(h.timeout) if h else 1
    check = f"nc -z -w {timeout} {host} {dep.port}"
    what = f"its port {dep.port} accepts a connection"
    if h is not None and h.kind == "http":
        parts = urlsplit(h.target)
        if parts.port == dep.port and parts.scheme == "http":
            url = f"http://{host}:{dep.port}{_path(h.target)}"
            check = f"wget -q -T {timeout} -O /dev/null {url}"
            what = f"GET {url} succeeds"
    script = f"until {check}; do echo waiting for {host}; sleep 1; done"
    return Commented(
        {"name": f"wait-for-{host}"[:63], "image": WAIT_IMAGE, "command": ["sh", "-c", script]},
        f"depends_on {dep.name} = healthy: waits until {what} (its Service sends only to "
        "ready pods)",
    )
