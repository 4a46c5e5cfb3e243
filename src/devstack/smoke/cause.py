"""The cause chain of a failed request, from the stack's spec and ``ps`` rows (pure).

A refused request or a 5xx answer is explained by the service that owns the URL's
port: if it is not healthy, its state and reason; if it is, what it was refused
(``seen``: its output and ``[refused]`` events around the request, or its answer's
body), and the first service it relies on (``depends_on``, or an env value holding
that service's url or port) that is not healthy, and why. A refused port that no
service declares names the service that most likely moved, and where the old port
is written. ``details`` adds lines a reason alone lacks (the check failure's
ImportError and suggestion), by service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from devstack.runtime.refusals import (
    event_addresses,
    is_local,
    likely_moved,
    moved_text,
    refused_addresses,
    relies_on,
    url_port,
)
from devstack.smoke.result import HEALTHY_STATES
from devstack.spec import ServiceSpec, StackSpec

Rows = Mapping[str, Mapping[str, object]]
# (the service, a port) -> where that port is written in its files ("next.config.js:6")
FindPort = Callable[[ServiceSpec, int], Sequence[str]]
_MAX_REFUSED = 2  # refused addresses explained per request; more would bury the first


def owner_of(stack: StackSpec, port: int) -> ServiceSpec | None:
    """The service that declares ``port`` (or whose url uses it)."""
    for svc in stack.services.values():
        if svc.port == port or (svc.url is not None and url_port(svc.url) == port):
            return svc
    return None


def upstream(stack: StackSpec, svc: ServiceSpec) -> list[tuple[str, str]]:
    """The services ``svc`` relies on and how: depends_on first, then env references."""
    return relies_on(stack.services, svc)


def port_pattern(port: int) -> re.Pattern[str]:
    """A loopback address on ``port`` as configs write it (``http://127.0.0.1:5328/api``)."""
    return re.compile(rf"(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]):{port}(?!\d)")


def env_mentions(svc: ServiceSpec, port: int) -> list[str]:
    """The env variables of ``svc`` whose value holds a loopback address on ``port``."""
    pattern = port_pattern(port)
    return [f"env {var}" for var, value in svc.env.items() if pattern.search(value)]


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
    seen: Sequence[str] = (),
    find_port: FindPort | None = None,
) -> list[str]:
    """Why the request to ``url`` was refused or failed (empty: nothing to say).

    ``seen``: the owner's lines (output and events) around the request; ``find_port``:
    where a port is written in a service's files.
    """
    details = details or {}
    in_body = refused_addresses(body)
    if status is not None and status < 500 and not in_body:
        return []
    port = url_port(url)
    owner = None if port is None else owner_of(stack, port)
    if owner is None:
        lines = [f"no service of the stack declares port {port}"]
        moved = None if port is None else likely_moved(stack.services, port)
        if moved is not None:
            lines.append(f"most likely {moved.name} moved: {moved_text(moved)} now")
        return lines
    lines = [f"port {port} is {owner.name}'s, which is {_describe(rows, owner.name)}"]
    state, _ = _state(rows, owner.name)
    if state not in HEALTHY_STATES:
        lines += details.get(owner.name, ())
        lines += _blame_upstream(stack, rows, owner, details, {owner.name})
        return lines
    word = "ECONNREFUSED" if "ECONNREFUSED" in body else "a refused connection"
    for _, refused in in_body[:1]:
        target = owner_of(stack, refused)
        named = f"{target.name}'s port" if target else "no service's port"
        lines.append(f"its answer says {word} on port {refused}: {named}")
    told = _refused_in_output(stack, rows, owner, seen, {p for _, p in in_body}, find_port)
    lines += told
    blamed = _blame_upstream(stack, rows, owner, details, {owner.name})
    if blamed:
        return lines + blamed
    deps = [name for name, _ in upstream(stack, owner)]
    if deps and not told:
        lines.append(f"what {owner.name} relies on is healthy ({', '.join(deps)})")
    lines.append(f"see: devstack logs {owner.name}")
    return lines


def _refused_in_output(
    stack: StackSpec,
    rows: Rows,
    owner: ServiceSpec,
    seen: Sequence[str],
    told: set[int],
    find_port: FindPort | None,
) -> list[str]:
    """What ``owner``'s own output (and the supervisor's ``[refused]`` events about it)
    says it was refused around the request, with the likely culprit."""
    found = [*event_addresses(list(seen)), *refused_addresses("\n".join(seen))]
    lines: list[str] = []
    explained = 0
    for host, refused in dict.fromkeys(found):
        if refused in told or not is_local(host) or refused == owner.port:
            continue
        if explained == _MAX_REFUSED:
            break
        explained += 1
        told.add(refused)
        where = f"{host}:{refused}" if ":" not in host else f"[{host}]:{refused}"
        said = f"{owner.name} was refused on {where} (its output, at the request)"
        target = owner_of(stack, refused)
        if target is not None:
            lines.append(f"{said}: {target.name}'s port, which is {_describe(rows, target.name)}")
            continue
        lines.append(f"{said}: no service of this stack declares port {refused}")
        moved = likely_moved(stack.services, refused, owner)
        if moved is not None:
            lines.append(
                f"most likely {moved.name} moved: {moved_text(moved)} now, "
                f"while {owner.name} still calls port {refused}"
            )
        written = env_mentions(owner, refused) + list(
            find_port(owner, refused) if find_port else ()
        )
        if written:
            lines.append(f"port {refused} is written in {', '.join(dict.fromkeys(written))}")
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
