"""Refused connections in a service's output, mapped to the service that should answer.

``connect ECONNREFUSED 127.0.0.1:5000`` from a Next.js frontend means nothing listens
on the backend's port; devstack knows which service declared that port and what
became of it, and says so right after the line, once per episode. The same is read
from what Python clients (redis-py, psycopg/libpq, requests, asyncio), Go and curl
print. Pure parsing here; the ``[refused]`` event's text is made and read here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from devstack.spec import ServiceSpec

_HOST = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.\-]+|[0-9A-Fa-f:]+)"
_PORT = r"(?P<port>\d{1,5})\b"
# Each form names the host and port of one refused connection.
_FORMS = (
    # Node: connect ECONNREFUSED 127.0.0.1:5000 (also [::1]:5000 and ::1:5000)
    re.compile(r"ECONNREFUSED\s+\[?(?P<host>[0-9A-Za-z.:\-]+)\]?:" + _PORT),
    # requests/urllib3: HTTPConnectionPool(host='127.0.0.1', port=5000): ... [Errno 111] ...
    re.compile(
        r"host='(?P<host>[^']+)', port=" + _PORT + r"\).*(?:Connection refused|ECONNREFUSED)"
    ),
    # curl: Failed to connect to localhost port 5000 (after 0 ms): Connection refused
    re.compile(
        r"Failed to connect to (?P<host>\S+) port " + _PORT + r".*(?:refused|Couldn't connect)"
    ),
    # redis-py (Celery through kombu): Error 111 connecting to localhost:6379. Connection refused.
    re.compile(r"Error (?:111|61|10061) connecting to " + _HOST + ":" + _PORT + r"\."),
    # libpq (psycopg, SQLAlchemy): connection to server at "h" (addr), port 5432 failed:
    # Connection refused
    re.compile(
        r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port '
        + _PORT
        + r" failed: Connection refused"
    ),
    # libpq before 14: could not connect to server: Connection refused / Is the server
    # running on host "localhost" (127.0.0.1) and accepting / TCP/IP connections on port 5432?
    re.compile(
        r"could not connect to server: Connection refused\s+Is the server running on host "
        r'"(?P<host>[^"]+)"(?: \([^)]*\))? and accepting\s+TCP/IP connections on port ' + _PORT
    ),
    # Go: dial tcp 127.0.0.1:8080: connect: connection refused
    re.compile(r"dial tcp[46]? " + _HOST + ":" + _PORT + r": connect: connection refused"),
    # asyncio (asyncpg, aiohttp, redis.asyncio): Connect call failed ('127.0.0.1', 5432)
    re.compile(r"Connect call failed \('(?P<host>[^']+)', " + _PORT),
)
_HINT = ("ECONNREFUSED", "refused", "Couldn't connect", "Connect call failed")

# The supervisor's event: "[refused] 127.0.0.1:5328: no service of this stack declares port 5328"
_EVENT = re.compile(r"^\[refused\] \[?(?P<host>[0-9A-Za-z.:\-]+)\]?:" + _PORT)


def refused_addresses(text: str) -> list[tuple[str, int]]:
    """(host, port) of every refused connection named in ``text`` (several lines)."""
    if not any(h in text for h in _HINT):  # the common case costs one scan
        return []
    found: list[tuple[str, int]] = []
    for form in _FORMS:
        for match in form.finditer(text):
            address = (match.group("host").strip("[]"), int(match.group("port")))
            if address not in found:
                found.append(address)
    return found


def is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::") or host.startswith("127.")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def event_text(
    host: str,
    port: int,
    owner: str | None,
    state: str,
    reason: str | None,
    moved: ServiceSpec | None = None,
) -> str:
    """The ``[refused]`` event: whose port it is and what became of that service
    (``moved``: with no owner, the service that most likely answered there before)."""
    where = _host_port(host, port)
    if owner is None:
        text = f"[refused] {where}: no service of this stack declares port {port}"
        return f"{text}; {moved_text(moved)}" if moved is not None else text
    text = f"[refused] {where} is {owner}'s port; {owner} is {state}"
    return f"{text}: {reason}" if reason else text


def event_addresses(lines: list[str]) -> list[tuple[str, int]]:
    """(host, port) of every ``[refused]`` event among a service's event lines."""
    found: list[tuple[str, int]] = []
    for line in lines:
        match = _EVENT.match(line)
        if match:
            address = (match.group("host"), int(match.group("port")))
            if address not in found:
                found.append(address)
    return found


def url_port(url: str) -> int | None:
    """The port of an http(s) URL, explicit or implied by the scheme."""
    try:
        parts = urlsplit(url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def service_port(svc: ServiceSpec) -> int | None:
    """The port ``svc`` answers on: its declared port, else its url's."""
    if svc.port is not None:
        return svc.port
    return None if svc.url is None else url_port(svc.url)


def refers_to(value: str, other: ServiceSpec) -> bool:
    """Whether an env value holds ``other``'s url or a loopback address on its port."""
    if other.url and other.url in value:
        return True
    if other.port is None:
        return False
    return re.search(rf"(?:127\.0\.0\.1|localhost|\[::1\]):{other.port}(?!\d)", value) is not None


def relies_on(services: Mapping[str, ServiceSpec], svc: ServiceSpec) -> list[tuple[str, str]]:
    """The services ``svc`` relies on and how: depends_on first, then env references."""
    found: dict[str, list[str]] = {name: ["depends_on"] for name in svc.depends_on}
    for var, value in svc.env.items():
        for other in services.values():
            if other.name != svc.name and refers_to(value, other):
                found.setdefault(other.name, []).append(f"env {var}")
    return [(name, ", ".join(how)) for name, how in found.items()]


# How far from the refused port an unrelated service's port may be and still be named.
_NEAR = 10


def likely_moved(
    services: Mapping[str, ServiceSpec], port: int, caller: ServiceSpec | None = None
) -> ServiceSpec | None:
    """The service that most likely used to answer on ``port``, which no service declares.

    Of the services ``caller`` relies on (depends_on, env), the one whose port is
    nearest; else any service whose port is within a few of it (5328 -> 5329); else
    None: a guess that far off would mislead.
    """
    related = {name for name, _ in relies_on(services, caller)} if caller else set()
    ranked = sorted(
        (name not in related, abs(p - port), name)
        for name, other in services.items()
        if (caller is None or name != caller.name)
        and (p := service_port(other)) is not None
        and p != port
    )
    for unrelated, distance, name in ranked:
        if not unrelated or distance <= _NEAR:
            return services[name]
    return None


def moved_text(moved: ServiceSpec) -> str:
    return f"{moved.name} is on port {service_port(moved)}"
