"""The cause chain of a failed request, from the stack's spec and ``ps`` rows (pure).

A refused request or a 5xx answer is explained by the service that owns the URL's
port: if it is not healthy, its state and reason; if it is, the first service it
relies on (``depends_on``, or an env value holding that service's url or port)
that is not healthy, and why. ``details`` adds lines a reason alone lacks (the
check failure's ImportError and suggestion), by service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from devstack.smoke.result import HEALTHY_STATES
from devstack.spec import ServiceSpec, StackSpec

Rows = Mapping[str, Mapping[str, object]]
_REFUSED_AT = re.compile(r"ECONNREFUSED\s+[\w.:\[\]]*:(\d{1,5})\b")  # the last :PORT


def url_port(url: str) -> int | None:
    try:
        parts = urlsplit(url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def owner_of(stack: StackSpec, port: int) -> ServiceSpec | None:
    """The service that declares ``port`` (or whose url uses it)."""
    for svc in stack.services.values():
        if svc.port == port or (svc.url is not None and url_port(svc.url) == port):
            return svc
    return None


def upstream(stack: StackSpec, svc: ServiceSpec) -> list[tuple[str, str]]:
    """The services ``svc`` relies on and how: depends_on first, then env references."""
    found: dict[str, list[str]] = {name: ["depends_on"] for name in svc.depends_on}
    for var, value in svc.env.items():
        for other in stack.services.values():
            if other.name != svc.name and _refers_to(value, other):
                found.setdefault(other.name, []).append(f"env {var}")
    return [(name, ", ".join(how)) for name, how in found.items()]


def _refers_to(value: str, other: ServiceSpec) -> bool:
    if other.url and other.url in value:
        return True
    if other.port is None:
        return False
    return re.search(rf"(?:127\.0\.0\.1|localhost|\[::1\]):{other.port}(?!\d)", value) is not None


def _state(rows: Rows, name: str) -> tuple[str, str | None]:
    row = rows.get(name, {})
    reason = row.get("reason")
    return str(row.get("state", "unknown")), None if reason is None else str(reason)


def _describe(rows: Rows, name: str) -> str:
    state, reason = _state(rows, name)
    return f"{state}: {reason}" if reason else state


def explain(
    stack: StackSpec,
    rows: Rows,
    url: str,
    status: int | None,
    body: str,
    details: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Why the request to ``url`` was refused or failed (empty: nothing to say)."""
    details = details or {}
    refused_in_body = "ECONNREFUSED" in body
    if status is not None and status < 500 and not refused_in_body:
        return []
    port = url_port(url)
    owner = None if port is None else owner_of(stack, port)
    if owner is None:
        return [f"no service of the stack declares port {port}"]
    lines = [f"port {port} is {owner.name}'s, which is {_describe(rows, owner.name)}"]
    state, _ = _state(rows, owner.name)
    if state not in HEALTHY_STATES:
        lines += details.get(owner.name, ())
        lines += _blame_upstream(stack, rows, owner, details, {owner.name})
        return lines
    match = _REFUSED_AT.search(body)
    if match:
        target = owner_of(stack, int(match.group(1)))
        named = f"{target.name}'s port" if target else "no service's port"
        lines.append(f"its answer says ECONNREFUSED on port {match.group(1)}: {named}")
    blamed = _blame_upstream(stack, rows, owner, details, {owner.name})
    if blamed:
        return lines + blamed
    deps = [name for name, _ in upstream(stack, owner)]
    if deps:
        lines.append(f"what {owner.name} relies on is healthy ({', '.join(deps)})")
    lines.append(f"see: devstack logs {owner.name}")
    return lines


def _blame_upstream(
    stack: StackSpec,
    rows: Rows,
    svc: ServiceSpec,
    details: Mapping[str, Sequence[str]],
    seen: set[str],
) -> list[str]:
    """The first service up the chain from ``svc`` that is not healthy, and why."""
    for name, how in upstream(stack, svc):
        if name in seen:
            continue
        seen.add(name)
        state, _ = _state(rows, name)
        if state in HEALTHY_STATES:
            continue
        lines = [f"{svc.name} relies on {name} ({how}), which is {_describe(rows, name)}"]
        lines += details.get(name, ())
        return lines + _blame_upstream(stack, rows, stack.services[name], details, seen)
    return []
