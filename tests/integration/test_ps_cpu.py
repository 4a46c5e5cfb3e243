"""`devstack ps` through the real CLI: the first ps already shows the CPU a busy
service uses (issue 13: it showed 0.0 for a process at 117%)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil

from conftest import wait_until
from support.stackrun import RunningStack, downed_at_end, run_devstack, write_stack

PY = sys.executable

# The leader starts the busy loop in a child after a moment, as pnpm starts next dev:
# a process no earlier sample (up -d's wait for the stack to settle) has seen.
SPIN = """\
import subprocess, sys, time
time.sleep(0.5)
subprocess.run([sys.executable, "-c", "while True: pass", "busy-loop"])
"""


def _spun(tmp_path: Path) -> psutil.Process:
    """The busy child, once it has used more than half a second of CPU."""

    def busy() -> psutil.Process | None:
        for proc in psutil.process_iter(["cmdline", "cwd"]):
            if proc.info["cmdline"] and proc.info["cmdline"][-1] == "busy-loop":
                times = proc.cpu_times()
                if times.user + times.system > 0.6:
                    return proc
        return None

    found = wait_until(busy, timeout=20)
    assert isinstance(found, psutil.Process)
    return found


def _first_ps_cpu(tmp_path: Path) -> float:
    result = run_devstack(tmp_path, "ps", "--json")
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)["services"]
    cpu = row["cpu_percent"]
    assert isinstance(cpu, float), row
    return cpu


def test_the_first_ps_shows_the_cpu_of_a_busy_service_in_the_foreground(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text(SPIN)
    write_stack(tmp_path, f'[services.spin]\ncmd = "{PY} spin.py"\n')
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^spin\s+\* \[start\]")
        _spun(tmp_path)
        assert _first_ps_cpu(tmp_path) > 30


def test_the_first_ps_after_up_d_counts_a_child_started_since(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text(SPIN)
    write_stack(tmp_path, f'[services.spin]\ncmd = "{PY} spin.py"\n')
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        _spun(tmp_path)
        assert _first_ps_cpu(tmp_path) > 30
