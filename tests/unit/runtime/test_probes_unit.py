"""Probe result wording, make_probe dispatch, the log probe and port-address logic.

No processes or sockets here, except the import-cost checks, which run a fresh
interpreter because this one may already have httpx loaded.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from conftest import modules_after
from devstack.errors import ConfigError
from devstack.procs.portowners import UNKNOWN_HOLDER, PortHolder, _covers
from devstack.runtime.probes import (
    CmdProbe,
    HttpProbe,
    LogProbe,
    ProbeResult,
    TcpProbe,
    describe_error,
    format_seconds,
    last_line,
    make_probe,
    parse_host_port,
    status_ok,
)
from devstack.spec import HealthSpec

if TYPE_CHECKING:
    import httpx

FAKE_CLIENT = cast("httpx.AsyncClient", object())


class Factory:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> httpx.AsyncClient:
        self.calls += 1
        return FAKE_CLIENT


def make(kind: str, target: str, **kw: object) -> tuple[object, Factory]:
    factory = Factory()
    health = HealthSpec(kind=kind, target=target, **kw)  # type: ignore[arg-type]
    probe = make_probe(health, cwd=Path("/tmp"), env={"A": "1"}, client_factory=factory)
    return probe, factory


# --- make_probe ---------------------------------------------------------------------


def test_make_probe_http_uses_the_shared_client_and_spec_values() -> None:
    probe, factory = make(
        "http", "http://127.0.0.1:5000/api/health", timeout=2.5, expect_status=(200, 401)
    )
    assert isinstance(probe, HttpProbe)
    assert factory.calls == 1
    assert probe.client is FAKE_CLIENT
    assert probe.timeout == 2.5
    assert probe.expect_status == (200, 401)
    assert probe.describe() == "GET http://127.0.0.1:5000/api/health"


def test_make_probe_tcp_parses_host_and_port_and_makes_no_client() -> None:
    probe, factory = make("tcp", "127.0.0.1:5000", timeout=0.5)
    assert isinstance(probe, TcpProbe)
    assert factory.calls == 0
    assert (probe.host, probe.port, probe.timeout) == ("127.0.0.1", 5000, 0.5)
    assert probe.describe() == "tcp 127.0.0.1:5000"


def test_make_probe_cmd_splits_without_a_shell() -> None:
    probe, factory = make("cmd", "pg_isready -h 'my host'", timeout=3)
    assert isinstance(probe, CmdProbe)
    assert factory.calls == 0
    assert probe.argv == ["pg_isready", "-h", "my host"]
    assert probe.cwd == Path("/tmp")
    assert probe.env == {"A": "1"}
    assert probe.describe() == "cmd `pg_isready -h 'my host'`"


def test_make_probe_log() -> None:
    probe, factory = make("log", "Ready in")
    assert isinstance(probe, LogProbe)
    assert factory.calls == 0
    assert probe.describe() == "log /Ready in/"


@pytest.mark.parametrize(
    ("kind", "target", "key"),
    [
        ("tcp", "localhost", "health.tcp"),
        ("tcp", "127.0.0.1:http", "health.tcp"),
        ("tcp", "127.0.0.1:70000", "health.tcp"),
        ("tcp", ":5000", "health.tcp"),
        ("cmd", "   ", "health.cmd"),
        ("cmd", "echo 'unbalanced", "health.cmd"),
        ("log", "Ready (in", "health.log"),
        ("grpc", "x", "health"),
    ],
)
def test_make_probe_rejects_bad_targets_with_a_config_error(
    kind: str, target: str, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make(kind, target)
    assert info.value.problems[0].key_path == key


def test_parse_host_port_accepts_ipv6_in_brackets() -> None:
    assert parse_host_port("[::1]:8080") == ("::1", 8080)
    assert parse_host_port("localhost:3000") == ("localhost", 3000)
    assert TcpProbe("::1", 8080, timeout=1).describe() == "tcp [::1]:8080"


# --- wording ------------------------------------------------------------------------


def test_format_seconds() -> None:
    assert format_seconds(1.0) == "1s"
    assert format_seconds(0.25) == "0.25s"
    assert format_seconds(30) == "30s"


def test_status_ok_default_is_2xx_and_3xx() -> None:
    assert [status_ok(s, ()) for s in (199, 200, 204, 302, 399, 400, 500)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert status_ok(401, (200, 401))
    assert not status_ok(200, (204,))


def test_describe_error_finds_the_errno_in_the_cause_chain() -> None:
    inner = ConnectionRefusedError(111, "Connection refused")
    outer = RuntimeError("All connection attempts failed")
    outer.__cause__ = inner
    assert describe_error(outer) == "connection refused"
    assert describe_error(OSError(113, "No route to host")) == "no route to host"
    assert describe_error(RuntimeError("boom\nsecond line")) == "boom"
    assert describe_error(RuntimeError()) == "RuntimeError"


def test_last_line_is_the_last_non_blank_line_decoded_leniently() -> None:
    assert last_line(b"first\nlast\n\n  \n") == "last"
    assert last_line(b"") == ""
    assert last_line(b"bad \xff byte") == "bad \ufffd byte"
    assert last_line(b"a\tb   c\r\n") == "a b c"
    long = last_line(b"x" * 1000)
    assert len(long) == 200
    assert long.endswith("...")


def test_probe_result_is_frozen() -> None:
    result = ProbeResult(True, "GET http://127.0.0.1:5000/ -> 200", 0.01)
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]


# --- log probe ----------------------------------------------------------------------


def test_log_probe_matches_a_line_in_a_later_chunk_and_keeps_it() -> None:
    probe = LogProbe(r"Ready in \d+ms")
    probe.feed("starting\ncompiling\n")
    assert not asyncio.run(probe.run()).ok
    probe.feed("warming\n  ✓ Ready in 812ms\n")
    result = asyncio.run(probe.run())
    assert result.ok
    assert result.detail == r"log /Ready in \d+ms/: matched: ✓ Ready in 812ms"
    probe.feed("crash\n")  # later output does not undo readiness
    assert asyncio.run(probe.run()).ok


def test_log_probe_searches_each_line_on_its_own() -> None:
    probe = LogProbe("^Ready$")
    probe.feed("not Ready\nReady now\n")
    assert not asyncio.run(probe.run()).ok
    # The pattern never spans two fed lines.
    probe = LogProbe("Rea.*dy")
    probe.feed("Rea\n")
    probe.feed("dy\n")
    assert not asyncio.run(probe.run()).ok
    probe.feed("Ready")  # a last line without newline is still a line
    assert asyncio.run(probe.run()).ok


def test_log_probe_reset_forgets_the_match() -> None:
    probe = LogProbe("listening")
    probe.feed("listening on 5000\n")
    assert asyncio.run(probe.run()).ok
    probe.reset()
    result = asyncio.run(probe.run())
    assert not result.ok
    assert result.detail == "log /listening/: no matching line yet"
    probe.feed("listening on 5001\n")
    assert asyncio.run(probe.run()).ok


# --- ports: pure address logic ------------------------------------------------------


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("bound", "wanted", "covers"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("0.0.0.0", "127.0.0.1", True),
        ("0.0.0.0", "::1", False),
        ("::", "127.0.0.1", True),
        ("::", "::1", True),
        ("::1", "127.0.0.1", False),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "0.0.0.0", True),  # binding the wildcard would conflict
        ("::1", "0.0.0.0", False),
        ("::1", "::", True),
    ],
)
def test_address_coverage(bound: str, wanted: str, covers: bool) -> None:
    assert _covers(ip(bound), ip(wanted)) is covers


def test_port_holder_describe() -> None:
    holder = PortHolder(4121, "gunicorn", "gunicorn api:app --bind 127.0.0.1:5000", "me", "/", 1.0)
    assert holder.describe() == "pid 4121 (gunicorn api:app --bind 127.0.0.1:5000)"
    assert PortHolder(7, "node", "", None, None, None).describe() == "pid 7 (node)"
    long = PortHolder(8, "x", "y" * 1000, None, None, None).describe()
    assert len(long) < 320 and long.endswith("...)")
    assert "cannot see" in UNKNOWN_HOLDER.describe()


# --- import cost --------------------------------------------------------------------


def test_probes_import_httpx_only_for_an_http_probe() -> None:
    loaded = modules_after(
        "from pathlib import Path\n"
        "from devstack.runtime.probes import make_probe\n"
        "from devstack.spec import HealthSpec\n"
        "make_probe(HealthSpec('tcp', '127.0.0.1:1'), cwd=Path('.'), env={},"
        " client_factory=lambda: 1/0)\n"
    )
    assert "devstack.runtime.probes" in loaded
    assert "httpx" not in loaded


def test_ports_imports_no_asyncio_httpx_or_pydantic() -> None:
    loaded = modules_after("import devstack.procs.portowners")
    assert "devstack.procs.portowners" in loaded
    assert not {"asyncio", "httpx", "pydantic"} & loaded
