"""The client commands through the real CLI: fast path imports, no stack (exit 3),
logs from files; end-to-end against a real supervisor once it serves the socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "devstack"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "stack.toml").write_text('[services.api]\ncmd = "sleep 60"\n')
    return tmp_path


# What the client commands (ps, logs, stop, start, restart, scale, down, attach) must never
# import: the supervisor's and the config's heavy dependencies. The standard library is fine.
HEAVY = {"asyncio", "httpx", "pydantic", "psutil", "watchfiles", "textual", "rich"}


def imported(args: list[str], cwd: Path, code: int = 0) -> set[str]:
    """The top-level modules ``devstack ARGS`` imports (``-X importtime``)."""
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *CLI[1:], *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == code, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("import time:")]
    assert len(lines) > 20, result.stderr[-2000:]  # importtime did report
    return {line.split("|")[-1].strip().split(".")[0] for line in lines}


def test_client_commands_import_no_heavy_module(stack: Path) -> None:
    assert imported(["ps"], stack, code=3) & HEAVY == set()
    assert imported(["logs", "--since", "5m"], stack) & HEAVY == set()  # from the files
    up = run(["up", "-d"], stack)
    try:
        assert up.returncode == 0, up.stderr
        for args in (
            ["ps"],
            ["ps", "--json", "-f", "stack.toml"],
            ["logs", "-n", "3"],
            ["logs", "api", "--since", "1h", "--timestamps"],
            ["stop", "api"],
        ):
            assert imported(args, stack) & HEAVY == set(), args
        # attach: refused (api is not interactive), but imported in full to say so
        assert imported(["attach", "api"], stack, code=2) & HEAVY == set()
        assert imported(["start", "api"], stack) & HEAVY == set()
        assert imported(["restart", "api"], stack) & HEAVY == set()
        assert imported(["scale", "api=2"], stack, code=2) & HEAVY == set()  # no replicas
        assert imported(["down"], stack) & HEAVY == set()
    finally:
        down = run(["down"], stack)
    assert down.returncode in (0, 3), down.stderr


@pytest.mark.parametrize(
    "cmd",
    [["ps"], ["restart"], ["stop", "api"], ["start", "api"], ["down"], ["scale", "api=2"], ["ui"]],
)
def test_no_stack_running_exits_3(stack: Path, cmd: list[str]) -> None:
    result = run(cmd, stack)
    assert result.returncode == 3, result.stderr
    assert f"no stack is running in {stack}" in result.stderr
    assert "devstack up" in result.stderr


@pytest.mark.parametrize("cmd", [["ps"], ["down"]])
def test_no_stack_running_in_a_folder_too_deep_for_a_socket_exits_3(
    tmp_path: Path, cmd: list[str]
) -> None:
    # Seen in the full suite: with the state folder's socket path past sun_path's limit
    # and no stack running, ps crashed with "OSError: AF_UNIX path too long".
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "stack.toml").write_text('[services.api]\ncmd = "sleep 60"\n')
    result = run(cmd, deep)
    assert result.returncode == 3, result.stderr
    assert f"no stack is running in {deep}" in result.stderr
    assert "Traceback" not in result.stderr


def test_logs_without_a_stack_merges_the_files(stack: Path) -> None:
    logs = stack / ".devstack" / "logs"
    logs.mkdir(parents=True)
    (logs / "api.log.1").write_text("2026-11-28T12:00:00.000Z stdout | first\n")
    (logs / "api.log").write_text("2026-11-28T12:00:02.000Z stdout | third\n")
    (logs / "web.log").write_text("2026-11-28T12:00:01.000Z stderr | second\n")
    result = run(["logs"], stack)
    assert result.returncode == 0, result.stderr
    assert [line.split("| ")[1] for line in result.stdout.splitlines()] == [
        "first",
        "second",
        "third",
    ]
    assert result.stdout.splitlines()[0].startswith("api       | ")
    last = run(["logs", "api", "-n", "1", "--timestamps"], stack)
    assert last.stdout == "2026-11-28T12:00:02.000Z api       | third\n"
    bad = run(["logs", "../../etc/passwd"], stack)
    assert bad.returncode == 2


def test_end_to_end_against_a_detached_supervisor(stack: Path) -> None:
    up = run(["up", "-d"], stack)
    try:
        assert up.returncode == 0, up.stderr
        ps = run(["ps", "--json"], stack)
        assert ps.returncode == 0 and '"name": "api"' in ps.stdout
        restart = run(["restart", "api"], stack)
        assert restart.returncode == 0 and "api" in restart.stdout
    finally:
        down = run(["down"], stack)
    assert down.returncode == 0, down.stderr
    assert run(["ps"], stack).returncode == 3


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_an_exited_unreaped_supervisor_counts_as_gone() -> None:
    """`down` waits until the supervisor has exited; an exited process its parent has not
    reaped yet (a zombie: a container's PID 1 may take seconds) is gone, not alive."""
    from devstack.control.client import is_pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # exited, and left unreaped: a zombie
            with open(f"/proc/{child.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        else:
            pytest.fail("the child never exited")
        assert not is_pid_alive(child.pid)
        assert is_pid_alive(os.getpid())
    finally:
        child.wait(timeout=10)


def test_logs_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """Field trial: `devstack logs | head -3` ended with a BrokenPipeError traceback and
    exit 1; now no traceback, exit 141 (128 + SIGPIPE, as a shell reports it)."""
    from conftest import program

    (tmp_path / "stack.toml").write_text(
        f'[services.a]\ncmd = "{sys.executable} {program("lines")} 20000 && sleep 60"\n'
        "shell = true\n"
    )
    assert run(["up", "-d"], tmp_path).returncode == 0
    try:
        logs = subprocess.Popen(
            [*CLI, "logs", "a"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert logs.stdout is not None and logs.stderr is not None
        logs.stdout.readline()
        logs.stdout.close()  # the reader goes away, as `head` does
        err = logs.stderr.read().decode()
        logs.stderr.close()
        assert logs.wait(timeout=30) == 141, err
        assert "Traceback" not in err, err
    finally:
        run(["down"], tmp_path)
