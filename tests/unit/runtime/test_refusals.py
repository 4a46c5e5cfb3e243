"""Refused-connection lines from the tools that print them."""

from __future__ import annotations

from pathlib import Path

from devstack.runtime.refusals import (
    event_addresses,
    event_text,
    is_local,
    likely_moved,
    refused_addresses,
)
from devstack.spec import ServiceSpec
from devstack.states import Condition


def test_node_ipv4_and_ipv6() -> None:
    text = "TypeError: fetch failed\n  [cause]: Error: connect ECONNREFUSED 127.0.0.1:5000\n"
    assert refused_addresses(text) == [("127.0.0.1", 5000)]
    assert refused_addresses("Error: connect ECONNREFUSED ::1:5000") == [("::1", 5000)]


def test_python_requests_and_curl() -> None:
    requests = (
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='localhost', port=5000): "
        "Max retries exceeded with url: /api (Caused by NewConnectionError('<...>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert refused_addresses(requests) == [("localhost", 5000)]
    curl = (
        "curl: (7) Failed to connect to 127.0.0.1 port 5000 after 0 ms: Couldn't connect to server"
    )
    assert refused_addresses(curl) == [("127.0.0.1", 5000)]


def test_ordinary_lines_and_locality() -> None:
    assert refused_addresses("GET /api/health 200 in 3ms\n") == []
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert not is_local("10.0.0.5")


# Real message text, as the libraries print it (their format strings, filled in):
# redis-py's format_error_message, libpq's fe-connect.c, urllib3 2.x's NewConnectionError,
# Go's net.OpError, curl's lib/connect.c and asyncio's sock_connect.
def test_redis_py_and_celery_through_kombu() -> None:
    redis = (
        "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. "
        "Connection refused."
    )
    assert refused_addresses(redis) == [("localhost", 6379)]
    celery = (
        "[2024-05-01 10:00:00,000: ERROR/MainProcess] consumer: Cannot connect to "
        "redis://127.0.0.1:6380/0: Error 111 connecting to 127.0.0.1:6380. Connection refused.."
    )
    assert refused_addresses(celery) == [("127.0.0.1", 6380)]
    macos = "Error 61 connecting to localhost:6379. Connection refused."
    assert refused_addresses(macos) == [("localhost", 6379)]
    unix = "Error 2 connecting to unix:///tmp/redis.sock. No such file or directory."
    assert refused_addresses(unix) == []


def test_psycopg_and_sqlalchemy_through_libpq() -> None:
    new = (
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "
        '"127.0.0.1", port 5432 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
    )
    assert refused_addresses(new) == [("127.0.0.1", 5432)]
    with_address = (
        'psycopg.OperationalError: connection failed: connection to server at "localhost" '
        "(::1), port 5433 failed: Connection refused"
    )
    assert refused_addresses(with_address) == [("localhost", 5433)]
    old = (
        "psycopg2.OperationalError: could not connect to server: Connection refused\n"
        '\tIs the server running on host "localhost" (127.0.0.1) and accepting\n'
        "\tTCP/IP connections on port 5432?\n"
    )
    assert refused_addresses(old) == [("localhost", 5432)]
    auth = (
        'connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  password authentication failed"
    )
    assert refused_addresses(auth) == []


def test_requests_through_urllib3_2() -> None:
    text = (
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=5000): "
        "Max retries exceeded with url: /api/health (Caused by NewConnectionError("
        "\"HTTPConnection(host='127.0.0.1', port=5000): Failed to establish a new connection: "
        '[Errno 111] Connection refused"))'
    )
    assert refused_addresses(text) == [("127.0.0.1", 5000)]


def test_go_dial_errors() -> None:
    text = (
        'Get "http://127.0.0.1:8080/health": dial tcp 127.0.0.1:8080: connect: connection refused'
    )
    assert refused_addresses(text) == [("127.0.0.1", 8080)]
    assert refused_addresses("dial tcp [::1]:8080: connect: connection refused") == [("::1", 8080)]
    assert refused_addresses("dial tcp 10.0.0.9:443: i/o timeout") == []


def test_curl_before_and_after_7_83() -> None:
    old = "curl: (7) Failed to connect to localhost port 5000: Connection refused"
    assert refused_addresses(old) == [("localhost", 5000)]
    new = "curl: (7) Failed to connect to localhost port 5000 after 0 ms: Connection refused"
    assert refused_addresses(new) == [("localhost", 5000)]


def test_asyncio_connect_call_failed_asyncpg_and_aiohttp() -> None:
    asyncpg = "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)"
    assert refused_addresses(asyncpg) == [("127.0.0.1", 5432)]
    aiohttp = (
        "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host 127.0.0.1:8080 "
        "ssl:default [Connect call failed ('127.0.0.1', 8080)]"
    )
    assert refused_addresses(aiohttp) == [("127.0.0.1", 8080)]


def test_next_rewrite_failure_names_the_destination_once() -> None:
    text = (
        "Failed to proxy http://127.0.0.1:5328/api/python Error: connect ECONNREFUSED "
        "127.0.0.1:5328\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {\n"
        "  errno: -111,\n  code: 'ECONNREFUSED',\n  syscall: 'connect',\n"
        "  address: '127.0.0.1',\n  port: 5328\n}\n"
    )
    assert refused_addresses(text) == [("127.0.0.1", 5328)]


def spec(
    name: str, port: int | None, env: dict[str, str] | None = None, **deps: Condition
) -> ServiceSpec:
    return ServiceSpec(
        name=name, cmd=name, argv=(name,), cwd=Path("/"), env=env or {}, port=port, depends_on=deps
    )


def test_the_refused_event_is_read_back_as_written() -> None:
    backend = spec("backend", 5329)
    lines = [
        event_text("127.0.0.1", 5328, None, "", None, moved=backend),
        event_text("::1", 5000, "api", "crashed", "exit 1"),
        "[healthy] GET http://127.0.0.1:3000/ -> 200 in 0.20s",
    ]
    assert lines[0] == (
        "[refused] 127.0.0.1:5328: no service of this stack declares port 5328; "
        "backend is on port 5329"
    )
    assert lines[1] == "[refused] [::1]:5000 is api's port; api is crashed: exit 1"
    assert event_addresses(lines) == [("127.0.0.1", 5328), ("::1", 5000)]


def test_likely_moved_prefers_what_the_caller_relies_on_then_a_near_port() -> None:
    web = spec("web", 3000, {"API": "http://localhost:8000"}, worker=Condition.STARTED)
    services = {
        "web": web,
        "api": spec("api", 8000),
        "worker": spec("worker", None),
        "redis": spec("redis", 6379),
        "other": spec("other", 5330),
    }
    # web relies on api (env): named even though other's port is nearer.
    assert likely_moved(services, 5328, web) == services["api"]
    # A caller that relies on nothing with a port: only a near port is a guess.
    lone = spec("lone", 4000)
    assert likely_moved({**services, "lone": lone}, 5328, lone) == services["other"]
    assert likely_moved({**services, "lone": lone}, 9000, lone) is None
