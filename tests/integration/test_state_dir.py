"""The state folder moved (``[stack] state_dir``, ``DEVSTACK_STATE_DIR``): up, up -d,
ps, logs and down all find it, nothing is written to .devstack, and devstack's own
watch never restarts a service for what devstack wrote there."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from test_control_cli import imported

from conftest import free_port, is_alive, program, wait_until
from support.stackrun import RunningStack, devstack_env, run_devstack


def stack_toml(root: Path, state_dir: str | None, extra: str = "", cwd: str = ".") -> None:
    (root / cwd).mkdir(exist_ok=True)
    chatty = f"{sys.executable} -u {program('chatty')} {'x' * 80}"
    key = f'[stack]\nstate_dir = "{state_dir}"\n\n' if state_dir else ""
    (root / "stack.toml").write_text(
        f'{key}[services.chatty]\ncwd = "{cwd}"\ncmd = "{chatty}"\n{extra}'
    )


def pids(root: Path, env: dict[str, str] | None = None, *args: str) -> dict[str, object]:
    ps = run_devstack(root, "ps", "--json", *args, env=env)
    assert ps.returncode == 0, ps.stdout + ps.stderr
    return {str(r["name"]): r["pid"] for r in json.loads(ps.stdout)["services"]}


def test_state_dir_key_is_where_up_d_ps_logs_and_down_look(tmp_path: Path) -> None:
    stack_toml(tmp_path, "var/devstack")
    sub = tmp_path / "sub"
    sub.mkdir()
    state = tmp_path / "var" / "devstack"
    up = run_devstack(tmp_path, "up", "-d", timeout=60)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"output in {state / 'supervisor.log'}" in up.stdout
        assert (state / ".gitignore").is_file() and (state / "logs" / "chatty.log").is_file()
        assert not (tmp_path / ".devstack").exists()
        pid = pids(tmp_path)["chatty"]
        assert isinstance(pid, int) and is_alive(pid)
        assert pids(sub, None, "-f", "../stack.toml") == {"chatty": pid}  # from elsewhere
        logs = run_devstack(tmp_path, "logs", "-n", "1", "chatty")
        assert logs.returncode == 0 and "chatty line" in logs.stdout, logs.stderr
        # The client read the key with tomllib, and imports none of the heavy modules.
        for args in (["ps"], ["logs", "-n", "1"]):
            assert imported(args, tmp_path) & {"pydantic", "asyncio", "httpx", "psutil"} == set()
    finally:
        down = run_devstack(tmp_path, "down", timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"stack in {tmp_path} is down" in down.stdout
    wait_until(lambda: not is_alive(pid), timeout=10)
    assert not (tmp_path / ".devstack").exists()
    assert run_devstack(tmp_path, "ps").returncode == 3


def test_env_wins_over_the_key_for_up_ps_and_down(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    stack_toml(project, "var/devstack")
    elsewhere = tmp_path / "state-elsewhere"
    env = {"DEVSTACK_STATE_DIR": str(elsewhere)}
    with RunningStack(project, env=devstack_env(**env)) as stack:
        stack.wait_for(r"^chatty\s+\| chatty line")
        assert (elsewhere / "devstack.sock").exists() and (elsewhere / ".gitignore").is_file()
        assert not (project / "var").exists() and not (project / ".devstack").exists()
        pid = pids(project, env)["chatty"]
        # Without the variable, ps looks where the key says: no stack runs there.
        assert run_devstack(project, "ps").returncode == 3
        down = run_devstack(project, "down", env=env, timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        assert stack.wait(timeout=30) == 0
    assert isinstance(pid, int) and not is_alive(pid)


def test_watch_never_restarts_for_devstacks_own_files(tmp_path: Path) -> None:
    """A service watching everything in its folder, with the state folder inside it (not
    named .devstack) and its own log rotating: devstack's writes there are no edit."""
    watch = 'watch = ["**/*"]\nwatch_debounce = "50ms"\n'
    stack_toml(tmp_path, "app/run/state", watch, cwd="app")
    env = devstack_env(DEVSTACK_LOG_MAX_BYTES="4000")  # chatty.log.1, .2... within a second
    rotated = tmp_path / "app" / "run" / "state" / "logs" / "chatty.log.1"
    with RunningStack(tmp_path, "--no-color", env=env) as stack:
        stack.wait_for(r"^chatty\s+\| chatty line")
        wait_until(rotated.exists, timeout=15)
        time.sleep(1.0)  # 20x the debounce, rotating all the while
        assert "[watch]" not in stack.output(), stack.output()[-2000:]
        # The watcher was alive all along: a real edit still restarts the service.
        (tmp_path / "app" / "notes.txt").write_text("edit\n")
        stack.wait_for(r"\[watch\] changed: notes\.txt", timeout=15)
    assert os.path.isdir(tmp_path / "app" / "run" / "state")


def test_setup_and_verify_keep_to_the_moved_folder(tmp_path: Path) -> None:
    """Outside the project, as a user moves it: setup's record is where verify's up reads it."""
    port = free_port()
    project = tmp_path / "project"
    project.mkdir()
    (project / "stack.toml").write_text(
        f"""\
[stack]
state_dir = "../state"

[services.web]
cmd = "{sys.executable} {program("http_server")} ${{port}}"
port = {port}
health.http = "/"
setup = "true"

[[smoke]]
name = "home"
url = "${{services.web.url}}/"
expect_status = 200
"""
    )
    state = tmp_path / "state"
    try:
        setup = run_devstack(project, "setup", timeout=60)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert (state / "setup" / "web.json").is_file()
        done = run_devstack(project, "verify", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "home" in done.stdout and (state / "supervisor.log").is_file()
        assert "[setup] skipped (inputs unchanged)" in (state / "supervisor.log").read_text()
        assert not (project / ".devstack").exists()
    finally:
        run_devstack(project, "down", timeout=60)
