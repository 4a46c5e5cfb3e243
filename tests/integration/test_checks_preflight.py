"""Preflight checks with real sockets and processes: executable, port holder, env wiring,
localhost vs ::1, check.cmd (reliability case 40 of docs/reliability.md, and issue 3's
check list)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import free_port, python_cmd, wait_until
from devstack.checks.checkresult import CheckResult
from devstack.checks.ports import free_now
from devstack.checks.runner import check_service, check_stack
from devstack.config import load_stack
from devstack.errors import ConfigError
from devstack.procs import portowners as ports
from devstack.spec import StackSpec


def load(root: Path, toml: str) -> StackSpec:
    (root / "stack.toml").write_text(toml)
    return load_stack(root / "stack.toml", root)


def checks_of(stack: StackSpec, name: str, **kwargs: object) -> list[CheckResult]:
    return asyncio.run(check_service(stack.services[name], stack, **kwargs))  # type: ignore[arg-type]


def by_check(results: list[CheckResult], check: str) -> list[CheckResult]:
    return [r for r in results if r.check == check]


@pytest.fixture
def listener() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real process listening on 127.0.0.1:PORT."""
    port = free_port()
    proc = subprocess.Popen(python_cmd("listener", port), stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: not ports.is_port_free(port, "127.0.0.1"))
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_missing_gunicorn_binary(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    stack = load(
        tmp_path,
        '[services.backend]\ncmd = "gunicorn api:app --bind 127.0.0.1:${port}"\n'
        f"port = {free_port()}\n"
        'env = { PATH = "/nonexistent" }\n',
    )
    results = checks_of(stack, "backend")
    exe = by_check(results, "executable")[0]
    assert (exe.status, exe.summary) == ("fail", "gunicorn: not found (looked in .venv/bin, PATH)")
    assert exe.fix == ".venv/bin/pip install gunicorn"
    assert not by_check(results, "import")  # nothing to import it with


def test_missing_pnpm_says_npm_install_then_corepack(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        '[services.web]\ncmd = "pnpm dev"\nenv = { PATH = "/nonexistent" }\n',
    )
    exe = by_check(checks_of(stack, "web"), "executable")[0]
    assert exe.summary == "pnpm: not found (looked in PATH)"
    assert exe.fix == (
        "npm install -g pnpm (or, where the registry serves signatures: corepack enable)"
    )


def test_venv_is_put_first_on_the_service_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    stack = load(tmp_path, '[services.a]\ncmd = "mytool"\n')
    spec = stack.services["a"]
    assert spec.venv == tmp_path / ".venv"
    assert spec.env["PATH"].split(os.pathsep)[0] == str(bin_dir)
    exe = by_check(checks_of(stack, "a"), "executable")[0]
    assert exe.summary == "mytool found (.venv/bin/mytool)"


def test_port_held_by_a_listener_names_its_pid(
    tmp_path: Path, listener: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, port = listener
    stack = load(tmp_path, f'[services.backend]\ncmd = "python -m http.server"\nport = {port}\n')
    result = by_check(checks_of(stack, "backend"), "port")[0]
    assert result.status == "fail"
    assert result.summary.startswith(f"port {port} on 127.0.0.1 is held by pid {proc.pid} (")
    assert "listener.py" in result.summary
    assert f"pid: {proc.pid}" in result.details
    assert f"user: {psutil.Process(proc.pid).username()}" in result.details
    assert f"cwd: {os.getcwd()}" in result.details
    assert "it is not a process of this stack" in result.details
    assert result.fix == f"stop it (kill {proc.pid})"


def test_free_now_only_for_a_free_port_at_an_ip_address(
    tmp_path: Path, listener: tuple[subprocess.Popen[bytes], int]
) -> None:
    """free_now decides that the port check runs on the loop: only when no holder
    lookup (busy port) and no resolver (host name) can be needed."""
    _proc, port = listener
    free = free_port()
    stack = load(
        tmp_path,
        f'[services.free]\ncmd = "python -m http.server"\nport = {free}\n'
        f'[services.busy]\ncmd = "python -m http.server"\nport = {port}\n'
        f'[services.named]\ncmd = "python -m http.server"\nport = {free + 1}\n'
        'host = "localhost"\n'
        '[services.portless]\ncmd = "python -c pass"\n',
    )
    verdicts = {name: free_now(spec) for name, spec in stack.services.items()}
    assert verdicts == {"free": True, "busy": False, "named": False, "portless": True}


def test_port_held_by_a_stale_child_of_this_stack(
    tmp_path: Path, listener: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, port = listener
    stack = load(tmp_path, f'[services.backend]\ncmd = "python -m http.server"\nport = {port}\n')
    record = {
        "pid": proc.pid,
        "pgid": os.getpgid(proc.pid),
        "sid": os.getsid(proc.pid),
        "create_time": psutil.Process(proc.pid).create_time(),
        "token": "t",
    }
    state = tmp_path / ".devstack" / "state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"services": {"backend": record}}))
    result = by_check(checks_of(stack, "backend"), "port")[0]
    assert (
        "it is a stale process of this stack (service backend, recorded in "
        ".devstack/state.json with the same start time)" in result.details
    )
    assert (
        result.fix
        == "devstack up (it ends stale processes of this stack first, checked by start time)"
    )
    # The supervisor that recorded it still runs: not stale, say how to stop it.
    me = psutil.Process()
    state.write_text(
        json.dumps(
            {
                "supervisor": {"pid": me.pid, "create_time": me.create_time()},
                "services": {"backend": record},
            }
        )
    )
    result = by_check(checks_of(stack, "backend"), "port")[0]
    # `devstack check` beside the running stack: backend holds its own port, nothing wrong.
    assert result.status == "ok", result
    assert f"is served by backend itself (pid {proc.pid})" in result.summary
    # Another service of the running stack holds it: a clash, say how to stop it.
    state.write_text(
        json.dumps(
            {
                "supervisor": {"pid": me.pid, "create_time": me.create_time()},
                "services": {"api": record},
            }
        )
    )
    result = by_check(checks_of(stack, "backend"), "port")[0]
    assert result.status == "fail"
    assert "it is service api of this stack" in result.details[-1]
    assert result.fix == "devstack down (or devstack restart api)"
    # Same pid, another start time: a reused pid, never called ours (reliability case 8).
    record["create_time"] = record["create_time"] - 1000  # type: ignore[operator]
    state.write_text(json.dumps({"services": {"backend": record}}))
    result = by_check(checks_of(stack, "backend"), "port")[0]
    assert "it is not a process of this stack" in result.details


def test_free_port_and_command_port_disagreeing(tmp_path: Path) -> None:
    port = free_port()
    stack = load(
        tmp_path,
        f'[services.a]\ncmd = "python -m http.server ${{port}}"\nport = {port}\n'
        f'[services.c]\ncmd = "uvicorn main:app"\nport = {port + 2}\n',
    )
    a = by_check(checks_of(stack, "a"), "port")[0]
    assert (a.status, a.summary) == ("ok", f"port {port} is free on 127.0.0.1")
    # A port written in the command that disagrees with `port` is a config error.
    with pytest.raises(ConfigError, match=f"listens on port 3999, but port = {port + 1}"):
        load(tmp_path, f'[services.b]\ncmd = "pnpm dev --port 3999"\nport = {port + 1}\n')
    c = by_check(checks_of(stack, "c", skip=("import",)), "port")[0]
    assert c.summary == f"uvicorn listens on port 8000 by default, but port = {port + 2}"
    assert c.fix == "add --host 127.0.0.1 --port '${port}' to cmd"


def test_env_var_pointing_at_a_port_no_service_has(tmp_path: Path) -> None:
    backend, frontend, nowhere = free_port(), free_port(), free_port()
    stack = load(
        tmp_path,
        f'[services.backend]\ncmd = "python -m http.server ${{port}}"\nport = {backend}\n\n'
        f'[services.frontend]\ncmd = "python -m http.server ${{port}}"\nport = {frontend}\n'
        'depends_on = ["backend"]\n'
        f'env = {{ BOTEXCEL_API_BASE = "http://127.0.0.1:{nowhere}", '
        'OK_URL = "${services.backend.url}/api" }\n',
    )
    env = by_check(checks_of(stack, "frontend"), "env")
    assert len(env) == 1
    assert env[0].status == "warn"  # a warning, never a block (issue 13)
    assert env[0].summary == (
        f"BOTEXCEL_API_BASE=http://127.0.0.1:{nowhere} points at port {nowhere}, which no "
        "service of the stack declares and nothing listens on"
    )
    assert env[0].details[0] == f"it most likely means backend (port {backend})"
    assert env[0].fix == (
        'in stack.toml: [services.frontend] env = { BOTEXCEL_API_BASE = "${services.backend.url}" }'
    )


def test_env_url_served_by_an_outside_listener_is_fine(
    tmp_path: Path, listener: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = listener
    stack = load(
        tmp_path,
        f'[services.a]\ncmd = "python -m http.server"\n'
        f'env = {{ DB = "redis://localhost:{port}" }}\n',
    )
    env = by_check(checks_of(stack, "a"), "env")
    assert [(r.status, r.summary) for r in env] == [
        ("ok", "1 local URL in env, each served by the stack or a listener")
    ]


def test_env_local_contradicting_the_stack(tmp_path: Path) -> None:
    backend = free_port()
    web = tmp_path / "web"
    web.mkdir()
    (web / "package.json").write_text('{"scripts": {"dev": "next dev"}}')
    (web / ".env.local").write_text(
        "# local overrides\nNEXT_TELEMETRY_DISABLED=1\nBOTEXCEL_API_BASE=http://localhost:5999\n"
    )
    stack = load(
        tmp_path,
        f'[services.backend]\ncmd = "python -m http.server ${{port}}"\nport = {backend}\n\n'
        '[services.frontend]\ncmd = "python -m http.server"\ncwd = "web"\n'
        'env = { BOTEXCEL_API_BASE = "${services.backend.url}" }\n',
    )
    env = by_check(checks_of(stack, "frontend"), "env")
    assert [(r.status, r.summary) for r in env] == [
        (
            "warn",
            "\x2eenv.local:3 sets BOTEXCEL_API_BASE=http://localhost:5999, but the stack sets "
            f"BOTEXCEL_API_BASE=http://127.0.0.1:{backend}",
        )
    ]
    assert env[0].fix == "remove BOTEXCEL_API_BASE from .env.local or make it agree"


def test_env_file_url_to_nothing_warns_with_file_and_line(tmp_path: Path) -> None:
    backend, nowhere = free_port(), free_port()
    web = tmp_path / "web"
    web.mkdir()
    (web / "package.json").write_text("{}")
    (web / ".env.development").write_text(f'VITE_API="http://127.0.0.1:{nowhere}/api"\n')
    stack = load(
        tmp_path,
        f'[services.backend]\ncmd = "python -m http.server ${{port}}"\nport = {backend}\n\n'
        '[services.frontend]\ncmd = "python -m http.server"\ncwd = "web"\n',
    )
    env = by_check(checks_of(stack, "frontend"), "env")
    assert env[0].status == "warn"
    assert env[0].summary.startswith(
        f"VITE_API=http://127.0.0.1:{nowhere}/api (.env.development:1) points at port"
    )


def test_localhost_when_the_service_binds_only_ipv4(tmp_path: Path) -> None:
    backend = free_port()
    stack = load(
        tmp_path,
        f'[services.backend]\ncmd = "gunicorn api:app --bind 127.0.0.1:${{port}}"\n'
        f"port = {backend}\n\n"
        '[services.frontend]\ncmd = "node server.js"\n'
        f'env = {{ API = "http://localhost:{backend}" }}\n',
    )
    warn = by_check(checks_of(stack, "frontend"), "localhost")[0]
    assert warn.status == "warn"
    assert warn.summary == (
        f"API=http://localhost:{backend} uses localhost, but backend binds only 127.0.0.1; "
        "localhost resolves to ::1 first (Node 17+)"
    )
    assert warn.details == (
        f"clients then fail with connect ECONNREFUSED [::1]:{backend} although backend is up",
    )


def test_check_cmd_output_shown_on_failure(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        '[services.a]\ncmd = "python -m http.server"\n'
        "check.cmd = [\"python -c 'print(1); print(2); raise SystemExit(3)'\", "
        '"python -c pass"]\n',
    )
    cmds = by_check(checks_of(stack, "a"), "cmd")
    assert [(r.status, r.summary, r.details) for r in cmds] == [
        ("fail", "`python -c 'print(1); print(2); raise SystemExit(3)'` exited 3", ("1", "2")),
        ("ok", "`python -c pass` exited 0", ()),
    ]


def test_check_cmd_timeout_kills_it(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        '[services.a]\ncmd = "python -m http.server"\n'
        "check.cmd = [\"python -c 'import time; time.sleep(30)'\"]\n",
    )
    cmds = by_check(checks_of(stack, "a", timeout=0.5), "cmd")
    assert cmds[0].summary == "`python -c 'import time; time.sleep(30)'` did not finish within 0.5s"


def test_services_are_checked_concurrently_and_all_reported(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        "".join(
            f'[services.s{i}]\ncmd = "python -m http.server"\n'
            f"check.cmd = [\"python -c 'import time; time.sleep(0.3)'\"]\n"
            for i in range(4)
        ),
    )
    results = asyncio.run(check_stack(stack))
    assert list(results) == ["s0", "s1", "s2", "s3"]
    assert all(by_check(rs, "cmd")[0].status == "ok" for rs in results.values())
    only = asyncio.run(check_stack(stack, ["s2"]))
    assert list(only) == ["s2"]


def test_import_that_hangs_is_cut_at_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(30)\napp = None\n")
    stack = load(
        tmp_path, '[services.a]\ncmd = "python -m http.server"\ncheck.import = "slow:app"\n'
    )
    imp = by_check(checks_of(stack, "a", timeout=1.0), "import")[0]
    assert imp.summary == (
        "importing slow did not finish within 1s "
        "(does it start a server or wait for input when imported?)"
    )
