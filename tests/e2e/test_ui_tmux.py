"""The real `devstack ui` in a real terminal (tmux: send keys, capture the pane) against
the stdlib demo stack (examples/demo; issue 17, point 1). tmux comes from .ci/run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import free_port, is_alive
from support.demo import copy_demo_stack
from support.stackrun import (
    devstack_env,
    downed_at_end,
    run_devstack,
    supervisor_pid,
    write_stack,
)

if shutil.which("tmux") is None:
    if os.environ.get("CI"):
        raise RuntimeError("tmux is missing: .ci/run installs it")
    pytest.skip("tmux is not installed (CI installs it)", allow_module_level=True)

WIDTH, HEIGHT = 130, 32


class Tmux:
    """A tmux server of its own (its own socket) running one command in one pane."""

    def __init__(self, root: Path, command: list[str]) -> None:
        self.socket = f"devstack-test-{uuid.uuid4().hex[:8]}"
        env = devstack_env()
        env.pop("NO_COLOR", None)
        env["TERM"] = "xterm-256color"
        shell = " ".join(command)
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            shell,
            env=env,
            cwd=root,
        )

    def _tmux(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
            cwd=cwd,
        )
        return out.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "ui")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "ui", *keys)

    def alive(self) -> bool:
        return "ui" in self._tmux("list-sessions", "-F", "#{session_name}")

    def wait(self, predicate: Callable[[str], object], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            assert time.monotonic() < deadline, f"timed out; the pane shows:\n{screen}"
            time.sleep(0.1)

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    copy_demo_stack(tmp_path, {5000: free_port(), 5100: free_port()})
    with downed_at_end(tmp_path):
        yield tmp_path


def ui_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "devstack", *args]


def row(screen: str, name: str) -> str:
    found = re.search(rf"^\s*{name}\s.*$", screen, re.M)
    return found.group(0) if found else ""


def test_ui_shows_the_running_stack_restarts_a_service_and_q_leaves_it_running(
    demo: Path,
) -> None:
    assert run_devstack(demo, "up", "-d", timeout=60).returncode == 0
    tmux = Tmux(demo, ui_command("ui"))
    try:
        screen = tmux.wait(
            lambda s: (
                "healthy" in row(s, "api")
                and "healthy" in row(s, "web")
                and "r restart" in s  # the footer
                and "[healthy]" in s
            )  # the log pane, with devstack's own lines
        )
        old = re.findall(r"\d{3,}", row(screen, "api"))
        tmux.keys("r")  # api is the first row
        tmux.wait(lambda s: "api: restart ok" in s)
        screen = tmux.wait(lambda s: re.findall(r"\d{3,}", row(s, "api")) != old)
        tmux.keys("/")
        tmux.wait(lambda s: "search (enter to apply" in s)
        tmux.keys("-l", "[healthy]")
        tmux.keys("Enter")
        tmux.wait(lambda s: "search: [healthy] (" in s)
        tmux.keys("q")
        tmux.wait(lambda s: not tmux.alive(), timeout=30)  # the pane's command ended
    finally:
        tmux.close()
    ps = run_devstack(demo, "ps")
    assert ps.returncode == 0 and "healthy" in ps.stdout  # q left the stack running


def test_up_ui_quit_stops_the_stack_cleanly(demo: Path) -> None:
    tmux = Tmux(demo, ui_command("up", "--ui"))
    try:
        tmux.wait(lambda s: "healthy" in row(s, "web"), timeout=60)
        pid = supervisor_pid(demo)
        assert pid is not None and is_alive(pid)
        tmux.keys("q")
        deadline = time.monotonic() + 60
        while is_alive(pid):
            assert time.monotonic() < deadline, f"the supervisor still runs:\n{tmux.screen()}"
            time.sleep(0.1)
    finally:
        tmux.close()
    assert run_devstack(demo, "ps").returncode == 3  # no stack runs


# Reads what is typed at its terminal and answers each line.
ECHO = """\
import sys
print("echo ready", flush=True)
for line in sys.stdin:
    print(f"echo got: {line.strip()}", flush=True)
"""


def test_attach_from_the_dashboard_types_into_an_interactive_service_and_comes_back(
    tmp_path: Path,
) -> None:
    """Issue 17, point 2 from the dashboard: `A` on an interactive service suspends the
    dashboard, the terminal is the service's (what is typed reaches it, its answer is
    shown), Ctrl-] brings the dashboard back with the service still running; `A` on a
    service that is not interactive says why in the status line."""
    (tmp_path / "echo.py").write_text(ECHO)
    py = sys.executable
    write_stack(
        tmp_path,
        f"""
        [services.echo]
        cmd = "{py} echo.py"
        interactive = true
        [services.plain]
        cmd = "{py} -c 'import time; time.sleep(600)'"
        """,
    )
    with downed_at_end(tmp_path):
        assert run_devstack(tmp_path, "up", "-d", timeout=60).returncode == 0
        tmux = Tmux(tmp_path, ui_command("ui"))
        try:
            tmux.wait(lambda s: "running" in row(s, "plain") and "A attach" in s)
            tmux.keys("A")  # echo is the first row
            tmux.wait(lambda s: "attached to echo; Ctrl-] detaches" in s)
            tmux.keys("-l", "hello there")
            tmux.keys("Enter")
            tmux.wait(lambda s: "echo got: hello there" in s)
            tmux.keys("C-]")
            # The status line ends where the pane does (the stack's folder name is long).
            tmux.wait(lambda s: "detached from echo" in s and "A attach" in s)
            assert "running" in row(tmux.screen(), "echo")
            tmux.keys("j", "A")
            tmux.wait(lambda s: "attach: plain is not" in s)  # the pilot test reads it whole
            tmux.keys("q")
            tmux.wait(lambda s: not tmux.alive(), timeout=30)
        finally:
            tmux.close()
        ps = run_devstack(tmp_path, "ps")
        assert ps.returncode == 0 and re.search(r"echo\s+running", ps.stdout), ps.stdout
