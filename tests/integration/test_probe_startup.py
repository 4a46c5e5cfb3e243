"""While a service starts: probes that do not flood its log, and a wait that ends early
when waiting cannot help (issue 19, points 2 and 3; issue 15, points 10 and 11).

Real servers under a real ``devstack up``: a Flask app on werkzeug's dev server that
logs every request, tiny Python servers that listen on the wrong port or answer 403,
and ``uvicorn --reload`` on an app that does not import. Every fail-fast case has
``start_period = "90s"`` and must fail long before it.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import free_port, is_alive, program
from support.stackrun import RunningStack, run_devstack, write_stack

PY = sys.executable
# Long before start_period (90s): a generous bound for a slow, shared machine.
LONG_BEFORE = 45.0

SLOW_FLASK_APP = """\
import os, time

time.sleep(float(os.environ["SLOW"]))  # a slow import: nothing listens yet
from flask import Flask

app = Flask(__name__)
READY_AT = time.monotonic() + float(os.environ["WARM"])


@app.get("/health")
def health():
    if time.monotonic() < READY_AT:  # listening, but still warming up
        return "warming up", 503
    return "ok"
"""


def failed_line(out: str, service: str) -> str:
    found = re.search(rf"^{service}\s+\* \[failed\] (.*)$", out, re.M)
    assert found, out
    return found.group(1)


def pids_in(out: str, service: str) -> list[int]:
    return [int(p) for p in re.findall(rf"^{service}\s+\* \[start\] pid (\d+)", out, re.M)]


@pytest.mark.slow
def test_slow_starting_flask_app_gets_few_probe_requests_in_its_access_log(
    tmp_path: Path, web_venv: Path
) -> None:
    """Reliability case 46 (docs/reliability.md). The field trial: a probe every 20 ms
    while a Django app started wrote 2,349 request lines to its log. Here a Flask app
    imports for 1 s, then answers 503 for 4 s: the probe connects (unlogged) until the
    port accepts, then backs off."""
    (tmp_path / "app.py").write_text(SLOW_FLASK_APP)
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{web_venv}/bin/flask --app app run --port ${{port}}"
        port = {free_port()}
        health.http = "/health"
        env = {{ SLOW = "1", WARM = "4", PYTHONUNBUFFERED = "1" }}
        check.import = false
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web\s+\* \[healthy\]", timeout=60)
        out = stack.output()
    requests = re.findall(r"^web\s+\|.*GET /health HTTP", out, re.M)
    assert 1 <= len(requests) <= 25, f"{len(requests)} request lines:\n{out[-3000:]}"
    assert re.search(r"GET /health HTTP/1.1\S* 200", out), out[-3000:]


def wrong_port_stack(root: Path, health: str) -> tuple[int, int]:
    """A server that listens on another port than declared: (declared, actual)."""
    declared, actual = free_port(), free_port()
    write_stack(
        root,
        f"""
        [services.web]
        cmd = "{PY} {program("http_server")} {actual}"
        port = {declared}
        """
        + textwrap.dedent(health),
    )
    return declared, actual


def test_server_listening_on_another_port_fails_long_before_start_period(tmp_path: Path) -> None:
    """A dev server that took another port (or ignores PORT): the wait ends with the port
    it listens on, not a minute later with "connection refused"."""
    declared, actual = wrong_port_stack(tmp_path, 'health.start_period = "90s"')
    began = time.monotonic()
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=LONG_BEFORE + 15) == 1
    took = time.monotonic() - began
    out = stack.output()
    reason = failed_line(out, "web")
    assert f"listens on {actual}, not {declared} as declared" in reason, out
    assert "--port ${port}" in reason and f"port = {actual}" in reason
    assert took < LONG_BEFORE, f"{took:.1f}s\n{out}"
    # The final summary says it too, and nothing of the service is left.
    assert re.search(rf"^devstack\s+\* web: failed: .*listens on {actual}", out, re.M), out
    assert all(not is_alive(p) for p in pids_in(out, "web"))


BUSY_THEN_LISTEN = """\
import sys, time

end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:  # a heavy import: busy on the CPU, not listening yet
    sum(range(10_000))
import http.server

server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.BaseHTTPRequestHandler)
print("listening", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_two_servers_in_one_command_the_second_still_importing_is_waited_for(
    tmp_path: Path,
) -> None:
    """`concurrently "vite" "uvicorn main:app"`: the first listens at once on its own
    port while the declared one's server is still busy importing. Not a verdict."""
    declared, other = free_port(), free_port()
    (tmp_path / "busy.py").write_text(BUSY_THEN_LISTEN)
    write_stack(
        tmp_path,
        f"""
        [services.both]
        cmd = "{PY} {program("http_server")} {other} & exec {PY} busy.py {declared} 9"
        shell = true
        port = {declared}
        health.tcp = true
        health.start_period = "90s"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^both\s+\* \[(healthy|failed)\]", timeout=LONG_BEFORE)
        out = stack.output()
    assert re.search(r"^both\s+\* \[healthy\]", out, re.M), out


IPV6_ONLY_SERVER = """\
import http.server, socket, sys


class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6


print("listening on [::1]", flush=True)
Server(("::1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_server_bound_to_ipv6_loopback_only_is_named_with_the_address(tmp_path: Path) -> None:
    """`localhost` resolved to ::1 only (Node 17+, Vite): the port is the declared one,
    the address is not the probed 127.0.0.1."""
    port = free_port()
    (tmp_path / "v6.py").write_text(IPV6_ONLY_SERVER)
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{PY} v6.py ${{port}}"
        port = {port}
        health.start_period = "90s"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=LONG_BEFORE + 15) == 1
    reason = failed_line(stack.output(), "web")
    assert f"listens on [::1]:{port}, not 127.0.0.1:{port} as declared" in reason, reason


def test_fail_fast_false_waits_out_start_period(tmp_path: Path) -> None:
    """The rules can be switched off per service: the same server, the old wait."""
    wrong_port_stack(tmp_path, 'health.start_period = "12s"\nhealth.fail_fast = false\n')
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=LONG_BEFORE + 15) == 1
    reason = failed_line(stack.output(), "web")
    assert reason.startswith("not healthy within 12s"), reason
    config = run_devstack(tmp_path, "config")
    assert "fail_fast = false" in config.stdout, config.stdout + config.stderr


def test_health_answering_403_fails_fast_and_ps_names_the_status(tmp_path: Path) -> None:
    """A probe that answers a steady 403 (a login-protected path): say so, with the
    fix, instead of waiting out start_period. A service that is fine keeps running."""
    forbidden, fine = free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{PY} {program("http_server")} ${{port}} --path /health --status 403"
        port = {forbidden}
        health.http = "/health"
        health.start_period = "90s"

        [services.fine]
        cmd = "{PY} {program("http_server")} ${{port}}"
        port = {fine}
        """,
    )
    began = time.monotonic()
    try:  # `down` even when `up -d` times out: nothing is left behind
        up = run_devstack(tmp_path, "up", "-d", timeout=LONG_BEFORE + 15)
        took = time.monotonic() - began
        assert up.returncode == 1, up.stdout + up.stderr
        ps = run_devstack(tmp_path, "ps", "--json")
        assert ps.returncode == 0, ps.stderr
    finally:
        run_devstack(tmp_path, "down")
    assert took < LONG_BEFORE, f"{took:.1f}s\n{up.stdout}{up.stderr}"
    services = {s["name"]: s for s in json.loads(ps.stdout)["services"]}
    api = services["api"]
    assert api["state"] == "failed", api
    assert f"GET http://127.0.0.1:{forbidden}/health -> 403" in api["reason"], api
    assert "expect_status = [403]" in api["reason"] and "needs no login" in api["reason"]
    assert services["fine"]["state"] == "healthy", services


UVICORN_APPS = {
    # The app's import raises in uvicorn's child; the reloader stays up.
    "import-error": ("main:app", "import nosuch_module_xyz\napp = None\n"),
    # The module is not there at all.
    "no-module": ("mian:app", "app = None\n"),
}


@pytest.mark.parametrize("case", sorted(UVICORN_APPS))
def test_uvicorn_reload_app_that_does_not_import_fails_fast_with_its_error(
    tmp_path: Path, web_venv: Path, case: str
) -> None:
    """`uvicorn --reload` whose app fails to import keeps its reloader alive (and its
    port bound): the error is in the log, so the wait ends with it."""
    target, source = UVICORN_APPS[case]
    (tmp_path / "main.py").write_text(source)
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{web_venv}/bin/uvicorn --reload {target} --port ${{port}}"
        port = {free_port()}
        health.http = "/health"
        health.start_period = "90s"
        check.import = false
        """,
    )
    began = time.monotonic()
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=LONG_BEFORE + 15) == 1
    took = time.monotonic() - began
    out = stack.output()
    reason = failed_line(out, "api")
    expected = {
        "import-error": "uvicorn: ModuleNotFoundError: No module named 'nosuch_module_xyz'",
        "no-module": 'uvicorn: Could not import module "mian"',
    }[case]
    assert expected in reason, out
    assert took < LONG_BEFORE, f"{took:.1f}s\n{out}"
    assert all(not is_alive(p) for p in pids_in(out, "api"))


def test_uvicorn_without_reload_that_does_not_import_is_still_a_crash(
    tmp_path: Path, web_venv: Path
) -> None:
    """The same fatal line from a server that then exits is a crash, for the restart
    policy, not a give-up: only a process that outlives the line is kept alive by it."""
    (tmp_path / "main.py").write_text("app = None\n")
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{web_venv}/bin/uvicorn mian:app --port ${{port}}"
        port = {free_port()}
        health.http = "/health"
        health.start_period = "90s"
        check.import = false
        restart = "no"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^api\s+\* \[crashed\]", timeout=LONG_BEFORE)
        out = stack.output()
    assert re.search(r"\[crashed\] exit \d+ .*Could not import module", out), out
    assert "gave up" not in out, out


def test_a_steady_503_while_warming_up_is_waited_for(tmp_path: Path) -> None:
    """Not every failure is hopeless: 5xx while an app warms up is waited out."""
    port = free_port()
    write_stack(
        tmp_path,
        textwrap.dedent(
            f"""
            [services.web]
            cmd = "{PY} {program("http_server")} ${{port}} --status 503"
            port = {port}
            health.http = "/"
            health.start_period = "6s"
            """
        ),
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=LONG_BEFORE) == 1
    assert "not healthy within 6s" in failed_line(stack.output(), "web")
