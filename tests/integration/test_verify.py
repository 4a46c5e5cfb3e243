"""``devstack verify`` end to end: real supervisor, real HTTP services, real requests.

Each test writes a stack of tiny stdlib HTTP apps (tests/support/programs/echo_http.py)
with [[smoke]] entries in a temporary directory and runs the installed CLI; every
test ends whatever stack is left with ``devstack down`` (then SIGKILL of the group).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import free_port, is_alive, program
from support.stackrun import downed_at_end, run_devstack, supervisor_pid, write_stack

PY = sys.executable


def app(port_ref: str = "${port}", proxy: str | None = None) -> str:
    """A stack.toml ``cmd`` running echo_http on the service's port (proxying to $proxy)."""
    cmd = f"{PY} {program('echo_http')} {port_ref}"
    return cmd + (f" --proxy-env {proxy}" if proxy else "")


def verify(root: Path, *args: str) -> tuple[int, str, str]:
    result = run_devstack(root, "verify", *args, timeout=60)
    return result.returncode, result.stdout, result.stderr


def row(stdout: str, step: str) -> str:
    """The table row of ``step`` (its first line)."""
    found = [line for line in stdout.splitlines() if line.startswith(step + "  ")]
    assert found, stdout
    return found[0]


def one_backend(root: Path, smoke: str) -> int:
    port = free_port()
    write_stack(
        root,
        f"""
        [services.backend]
        cmd = "{app()}"
        port = {port}
        health.http = "/health"
        """
        + smoke,
    )
    return port


def test_all_checks_pass_exit_0_and_the_stack_it_started_is_stopped(tmp_path: Path) -> None:
    one_backend(
        tmp_path,
        """
        [[smoke]]
        name = "health"
        url = "${services.backend.url}/health"
        expect_status = 200
        body_contains = ['"ok": true']
        json_contains = { ok = true }

        [[smoke]]
        name = "create"
        method = "POST"
        url = "${services.backend.url}/api/create"
        json = { file_id = "f-${services.backend.port}" }
        expect_status = [200, 201]
        body_not_contains = ["ECONNREFUSED"]
        log_service = "backend"
        log_contains = "POST /api/create"
        """,
    )
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path)
        assert code == 0, out + err
        assert row(out, "services").split()[-2:] == ["ok", "-"]
        assert " 200 " in row(out, "health") and " ok " in row(out, "health")
        assert "POST http://127.0.0.1:" in row(out, "create") and " ok " in row(out, "create")
        assert "3/3 steps passed" in out
        assert "is down" in out
        assert run_devstack(tmp_path, "ps").returncode == 3  # no stack runs any more


def test_wrong_status_and_body_and_log_fail_with_the_row_marked(tmp_path: Path) -> None:
    one_backend(
        tmp_path,
        """
        [[smoke]]
        name = "ok-step"
        url = "${services.backend.url}/health"

        [[smoke]]
        name = "wrong-status"
        url = "${services.backend.url}/status/503"
        expect_status = [200, 201]

        [[smoke]]
        name = "body-checks"
        method = "POST"
        url = "${services.backend.url}/echo"
        body = "payload ECONNREFUSED"
        body_contains = ["payload", "absent-word"]
        body_not_contains = ["ECONNREFUSED"]
        json_contains = { ok = true }

        [[smoke]]
        name = "log-check"
        url = "${services.backend.url}/quiet"
        timeout = "1s"
        log_service = "backend"
        log_contains = "GET /never-requested"
        """,
    )
    junit = tmp_path / "report.xml"
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path, "--junit", str(junit))
    assert code == 1, out + err
    assert " ok " in row(out, "ok-step")
    status = row(out, "wrong-status")
    assert "200,201" in status and " 503 " in status and "FAIL" in status
    assert "  status 503, expected 200,201" in out
    # A healthy service answering 5xx: its cause chain sends the reader to its logs.
    assert "cause: port " in out and "see: devstack logs backend" in out
    assert "FAIL" in row(out, "body-checks")
    assert "  body lacks 'absent-word'" in out
    assert "  body contains 'ECONNREFUSED'" in out
    assert "body lacks 'payload'" not in out
    assert "  body is not JSON" in out
    assert "FAIL" in row(out, "log-check")
    assert "backend's output shows no 'GET /never-requested' within 1s" in out
    assert "1/5 steps passed" not in out and "2/5 steps passed" in out

    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "5"
    assert suite.get("failures") == "3"
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"wrong-status", "body-checks", "log-check"}


# A backend whose check fails as the incident's import did, and a frontend proxying to it.
FAILING_CHECK = "import sys; print('ImportError: cannot import name log_to_ndjson'); sys.exit(3)"


def proxy_stack(root: Path, frontend_extra: str, smoke: str) -> tuple[int, int]:
    backend, frontend = free_port(), free_port()
    write_stack(
        root,
        f"""
        [services.backend]
        cmd = "{app()}"
        port = {backend}
        health.http = "/health"
        check.cmd = ["{PY} -c \\"{FAILING_CHECK}\\""]

        [services.frontend]
        cmd = "{app(proxy="API_BASE")}"
        port = {frontend}
        env = {{ API_BASE = "${{services.backend.url}}" }}
        {frontend_extra}
        """
        + smoke,
    )
    return backend, frontend


def test_proxy_with_blocked_backend_names_the_backend_and_why(tmp_path: Path) -> None:
    backend, frontend = proxy_stack(
        tmp_path,
        "",
        """
        [[smoke]]
        name = "proxy"
        method = "POST"
        url = "${services.frontend.url}/api/agent/context/create"
        json = { file_id = "test123" }
        expect_status = [201, 400, 401]
        body_not_contains = ["ECONNREFUSED"]
        """,
    )
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path, "--json")
    assert code == 1, out + err
    doc = json.loads(out)
    services, proxy = doc["steps"]
    assert not services["ok"]
    assert any(f.startswith("backend is blocked: failed its checks") for f in services["failures"])
    assert proxy["status"] == 500 and not proxy["ok"]
    assert "body contains 'ECONNREFUSED'" in proxy["failures"]
    assert proxy["cause"][0] == f"port {frontend} is frontend's, which is healthy"
    assert f"ECONNREFUSED on port {backend}: backend's port" in proxy["cause"][1]
    blame = proxy["cause"][2]
    assert blame.startswith("frontend relies on backend (env API_BASE), which is blocked:")
    assert "exited 3" in blame
    assert "ImportError: cannot import name log_to_ndjson" in proxy["cause"][3:], proxy["cause"]


def test_dependent_not_started_behind_a_blocked_backend_is_explained(tmp_path: Path) -> None:
    _, frontend = proxy_stack(
        tmp_path,
        'depends_on = { backend = "healthy" }',
        """
        [[smoke]]
        name = "page"
        url = "${services.frontend.url}/"
        """,
    )
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path)
    assert code == 1, out + err
    assert "refused" in row(out, "page") and "FAIL" in row(out, "page")
    assert f"cause: port {frontend} is frontend's, which is not started" in out
    assert "cause: frontend relies on backend (depends_on, env API_BASE), which is blocked" in out
    assert "cause: ImportError: cannot import name log_to_ndjson" in out


def test_keep_leaves_the_stack_running(tmp_path: Path) -> None:
    one_backend(tmp_path, '[[smoke]]\nurl = "${services.backend.url}/health"\n')
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path, "--keep")
        assert code == 0, out + err
        pid = supervisor_pid(tmp_path)
        assert pid is not None and is_alive(pid)
        ps = run_devstack(tmp_path, "ps", "--json")
        assert json.loads(ps.stdout)["services"][0]["state"] == "healthy"
        down = run_devstack(tmp_path, "down")
        assert down.returncode == 0, down.stderr
        assert not is_alive(pid)


def test_an_already_running_stack_is_used_and_left_running(tmp_path: Path) -> None:
    one_backend(tmp_path, '[[smoke]]\nurl = "${services.backend.url}/health"\n')
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        pid = supervisor_pid(tmp_path)
        code, out, err = verify(tmp_path, "--json")
        assert code == 0, out + err
        doc = json.loads(out)
        assert doc["v"] == 1 and doc["ok"] is True
        assert doc["started"] is False and doc["kept"] is False
        assert [s["ok"] for s in doc["steps"]] == [True, True]
        assert supervisor_pid(tmp_path) == pid and pid is not None and is_alive(pid)
        assert "using the stack" in err


def test_a_config_error_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    one_backend(tmp_path, '[[smoke]]\nurl = "http://example.com/"\n')
    code, out, err = verify(tmp_path)
    assert code == 2, out + err
    assert "smoke[0].url" in err and "not on this machine" in err
    assert "Traceback" not in err
    assert supervisor_pid(tmp_path) is None


def two_free_ports() -> int:
    """A port P such that P and P + 1 are both free (the moved backend's old and new)."""
    for _ in range(50):
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two adjacent free ports")


def test_a_rewrite_to_the_old_port_names_the_backend_that_moved(tmp_path: Path) -> None:
    """The field trial: next.config rewrites /api to 127.0.0.1:5328, and the backend now
    runs on 5329; the frontend answers 500 and only its output says why."""
    old = two_free_ports()
    frontend = free_port()
    web = tmp_path / "web"
    web.mkdir()
    (web / "next.config.js").write_text(
        "module.exports = {\n"
        "  rewrites: async () => [\n"
        f"    {{ source: '/api/:path*', destination: 'http://127.0.0.1:{old}/api/:path*' }},\n"
        "  ],\n"
        "}\n"
    )
    write_stack(
        tmp_path,
        f"""
        [services.backend]
        cmd = "{app()}"
        port = {old + 1}
        health.http = "/health"

        [services.frontend]
        cmd = "{PY} {program("rewrite_proxy")} ${{port}} next.config.js"
        cwd = "web"
        port = {frontend}
        health.http = "/"
        depends_on = {{ backend = "healthy" }}

        [[smoke]]
        name = "api"
        url = "${{services.frontend.url}}/api/python"
        """,
    )
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path)
    assert code == 1, out + err
    assert " 500 " in row(out, "api") and "FAIL" in row(out, "api")
    assert f"cause: frontend was refused on 127.0.0.1:{old}" in out, out
    assert f"cause: most likely backend moved: backend is on port {old + 1} now" in out
    assert f"cause: port {old} is written in next.config.js:3" in out
    # The supervisor said it too, as the frontend's output showed the refusal.
    logs = run_devstack(tmp_path, "logs", "frontend").stdout
    assert (
        f"[refused] 127.0.0.1:{old}: no service of this stack declares port {old}; "
        f"backend is on port {old + 1}" in logs
    ), logs


def crashing_api(root: Path, with_web: bool) -> None:
    """api exits 3 at once (restart = no); with ``with_web``, a healthy web keeps the
    supervisor running after api failed."""
    api, web = free_port(), free_port()
    toml = f"""
        [services.api]
        cmd = "{PY} {program("crasher")} --code 3"
        port = {api}
        health.http = "/"
        restart = "no"
        """
    if with_web:
        toml += f"""
        [services.web]
        cmd = "{app()}"
        port = {web}
        health.http = "/health"
        """
    write_stack(root, toml + '\n[[smoke]]\nname = "api answers"\nurl = "${services.api.url}/"\n')


def test_verify_after_a_failed_run_prints_this_runs_failure_once(tmp_path: Path) -> None:
    """Issue 13, point 7: not the earlier run's failure block from supervisor.log too."""
    crashing_api(tmp_path, with_web=False)
    with downed_at_end(tmp_path):
        first = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert first.returncode == 1 and "[failed] exit 3" in first.stdout, first.stdout
        # With nothing left to run, that supervisor has ended when up -d returns: verify
        # starts its own run rather than using one on its way out.
        pid = supervisor_pid(tmp_path)
        assert pid is None or not is_alive(pid)
        code, out, err = verify(tmp_path)
    assert code == 1, out + err
    assert out.count("[failed] exit 3 (restart = no)") == 1, out
    assert out.count("[start]") == 1, out
    assert "api is failed: exit 3 (restart = no)" in row_block(out, "services")


def row_block(stdout: str, step: str) -> str:
    """The table row of ``step`` and the indented lines under it."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(step + "  "))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return "\n".join(lines[start:end])


def test_verify_prints_the_table_then_that_the_stack_is_down(tmp_path: Path) -> None:
    """Issue 13, point 7: the results first, then what became of the stack verify started."""
    crashing_api(tmp_path, with_web=True)
    with downed_at_end(tmp_path):
        code, out, err = verify(tmp_path)
    assert code == 1, out + err
    table = out.index("STEP ")
    summary = out.index("0/2 steps passed")
    down = out.index(f"stack in {tmp_path} is down")
    assert table < summary < down, out
    assert out.count("is down") == 1, out


def test_a_stack_started_in_part_is_verified_on_what_was_requested(tmp_path: Path) -> None:
    """Issue 13, point 6: the supervisor holds the services `up SVC` left out; they are
    not failures of the services step (a request to one is still explained)."""
    frontend = free_port()
    smoke = '[[smoke]]\nname = "health"\nurl = "${services.backend.url}/health"\n'
    one_backend(tmp_path, f'[services.frontend]\ncmd = "{app()}"\nport = {frontend}\n' + smoke)
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", "backend", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        code, out, err = verify(tmp_path)
        assert code == 0, out + err
        assert row(out, "services").split()[-2:] == ["ok", "-"]
        write_stack(
            tmp_path,
            (tmp_path / "stack.toml").read_text()
            + '\n[[smoke]]\nname = "page"\nurl = "${services.frontend.url}/"\n',
        )
        code, out, err = verify(tmp_path)
        assert code == 1, out + err
        assert f"cause: port {frontend} is frontend's, which is stopped: not requested" in out
