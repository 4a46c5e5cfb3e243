"""Refused-connection lines from the tools that print them."""

from __future__ import annotations

from devstack.refusals import is_local, refused_addresses


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
