"""The control protocol: encode/decode, version, bounds, argument checks (pure)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devstack.cli.logs import parse_since
from devstack.cli.ps import ps_table
from devstack.control import protocol as p
from devstack.errors import UsageError
from devstack.logs.files import parse_file_line


def test_request_round_trip() -> None:
    line = p.encode_request(p.Request("restart", {"names": ["api"], "with_dependents": True}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "v": 1,
        "cmd": "restart",
        "args": {"names": ["api"], "with_dependents": True},
    }
    assert p.decode_request(line) == p.Request(
        "restart", {"names": ["api"], "with_dependents": True}
    )


def test_reply_round_trip_ok_and_error() -> None:
    assert p.decode_reply(p.encode_reply(p.ok([{"name": "api"}]))) == p.ok([{"name": "api"}])
    error = p.fail("no service named 'apj'", "did you mean api?", p.USAGE)
    line = p.encode_reply(error)
    assert json.loads(line)["error"] == {
        "message": "no service named 'apj'",
        "hint": "did you mean api?",
        "kind": "usage",
    }
    assert p.decode_reply(line) == error


def test_text_with_newlines_stays_one_line() -> None:
    line = p.encode_reply(p.ok({"chunk": {"text": "a\nb\u2028c\n"}}))
    assert line.count(b"\n") == 1


@pytest.mark.parametrize(
    "line",
    [
        b"garbage\n",
        b"\xff\xfe\x00\n",
        b"[1, 2]\n",
        b'{"cmd": "ps"}\n',
        b'{"v": 2, "cmd": "ps"}\n',
        b'{"v": true, "cmd": "ps"}\n',
        b'{"v": 1, "cmd": "__class__"}\n',
        b'{"v": 1, "cmd": "restart; rm -rf ~"}\n',
        b'{"v": 1, "cmd": ["ps"]}\n',
        b'{"v": 1, "cmd": "ps", "args": [1]}\n',
        b'{"v": 1, "cmd": "ps", "extra": 1}\n',
        b"[" * 100_000 + b"\n",
    ],
)
def test_bad_requests_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_request(line, max_line=1_000_000)


def test_wrong_version_names_both_versions() -> None:
    with pytest.raises(p.ProtocolError, match="version 2; this devstack speaks 1"):
        p.decode_request(b'{"v": 2, "cmd": "ps"}\n')


def test_line_bound() -> None:
    big = p.encode_request(p.Request("ps", {"names": ["x" * 100]}))
    with pytest.raises(p.ProtocolError, match="longer than 50 bytes") as info:
        p.decode_request(big, max_line=50)
    assert info.value.kind == p.REFUSED


def test_arguments_are_checked_not_coerced() -> None:
    with pytest.raises(p.ProtocolError, match="unknown arguments: shell"):
        p.check_args(p.Request("ps", {"shell": "rm -rf ~"}))
    with pytest.raises(p.ProtocolError, match="names must be"):
        p.arg_names(p.Request("stop", {"names": "api"}))
    with pytest.raises(p.ProtocolError, match="force must be"):
        p.arg_bool(p.Request("down", {"force": 1}), "force")
    with pytest.raises(p.ProtocolError, match="n must be"):
        p.logs_args(p.Request("logs", {"n": True}))
    with pytest.raises(p.ProtocolError, match="n must be"):
        p.logs_args(p.Request("logs", {"n": -1}))
    args = p.logs_args(p.Request("logs", {"names": ["api"], "n": 5, "since": 10, "follow": True}))
    assert args == p.LogsArgs(["api"], 5, 10.0, True)


def test_socket_location_reads_the_recorded_fallback(tmp_path: Path) -> None:
    assert p.socket_location(str(tmp_path)) == str(tmp_path / "devstack.sock")
    (tmp_path / p.SOCKET_PATH_FILE).write_text("/tmp/devstack-0/abc.sock\n")
    assert p.socket_location(str(tmp_path)) == "/tmp/devstack-0/abc.sock"
    deep = "/x" * 80
    assert not p.fits(p.default_socket(deep))
    short = p.short_socket(deep)
    assert p.fits(short) and short.startswith(f"/tmp/devstack-{os.getuid()}/")
    assert short == p.short_socket(deep) != p.short_socket(deep + "/y")  # one per root


def test_parse_since_and_file_lines() -> None:
    assert parse_since("1m30s", now=1000.0) == 910.0
    assert parse_since("250ms", now=1.0) == 0.75
    with pytest.raises(UsageError):
        parse_since("5 minutes")
    line = parse_file_line("api", "2026-11-28T12:00:00.123Z stderr | boom | x\n")
    assert line is not None
    assert (line.stream, line.text) == ("stderr", "boom | x")
    assert abs(line.time - 1795867200.123) < 1e-6
    assert parse_file_line("api", "not a log line") is None


def test_ps_table_marks_restart_needed() -> None:
    row: dict[str, object] = {
        "name": "api",
        "state": "healthy",
        "pid": 42,
        "uptime": 75.0,
        "restarts": 0,
        "health": {"ok": True, "detail": "200", "latency": 0.004},
        "port": 5000,
        "url": "http://127.0.0.1:5000",
        "reason": None,
        "restart_needed": True,
        "cpu_percent": 1.5,
        "rss": 3 * 2**20,
    }
    text = ps_table([row])
    assert "healthy (restart needed)" in text
    assert "ok 4ms" in text and "1m15s" in text and "3.0 MiB" in text


def test_attach_arguments_are_checked_never_coerced() -> None:
    request = p.decode_request(p.encode_request(p.Request("attach", {"name": "app", "rows": 30})))
    p.check_args(request)
    assert p.attach_args(request) == p.AttachArgs("app", 30, None)
    for bad in ({"name": 1}, {"name": "app", "rows": 0}, {"name": "app", "cols": True}):
        with pytest.raises(p.ProtocolError) as caught:
            p.attach_args(p.Request("attach", bad))
        assert caught.value.kind == p.USAGE
    with pytest.raises(p.ProtocolError):
        p.check_args(p.Request("attach", {"name": "app", "shell": "sh"}))
    assert p.resize_args(p.Request("resize", {"rows": 40, "cols": 120})) == (40, 120)
    with pytest.raises(p.ProtocolError):
        p.resize_args(p.Request("resize", {"rows": 40}))


def test_terminal_bytes_travel_as_base64_exactly() -> None:
    data = bytes(range(256)) + b"\r\n\x1d\xe2\x82"  # any bytes, a cut UTF-8 character too
    assert p.input_data(p.Request("input", {"data": p.encode_bytes(data)})) == data
    for bad in ("not base64!", 5, None):
        with pytest.raises(p.ProtocolError):
            p.input_data(p.Request("input", {"data": bad}))
