"""`pnpm dev` (Next.js) is fully gone on `down`: pnpm, `next dev` and the next-server
it forks (reliability case 1 of docs/reliability.md, with stop_mode "main"). pnpm passes
SIGTERM on to its script, so the stop needs no SIGKILL."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil
import pytest
from test_botexcel import root, template  # noqa: F401  (fixtures)

from support.stackrun import run_devstack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def frontend_processes(stack_root: Path) -> dict[psutil.Process, str]:
    """Every live process of the stack's frontend service, with its command line."""
    found = {}
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("DEVSTACK_SERVICE") != "frontend":
                continue
            if not proc.cwd().startswith(str(stack_root)):
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                found[proc] = f"[{proc.name()}] {' '.join(proc.cmdline())}"
        except psutil.Error:
            continue
    return found


def alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def test_pnpm_dev_is_fully_gone_on_down_without_sigkill(root: Path) -> None:  # noqa: F811
    """Reliability case 1: after `down`, no process of `pnpm dev` is alive."""
    up = run_devstack(root, "up", "-d", timeout=540)
    assert up.returncode == 0, up.stdout + up.stderr
    tree = frontend_processes(root)
    commands = list(tree.values())
    assert any(c.startswith("[pnpm]") for c in commands), commands
    assert any("/next dev" in c for c in commands), commands
    assert any(c.startswith("[next-server") for c in commands), commands

    started = time.monotonic()
    down = run_devstack(root, "down", timeout=60)
    took = time.monotonic() - started
    assert down.returncode == 0, down.stdout + down.stderr
    assert [c for p, c in tree.items() if alive(p)] == []
    assert frontend_processes(root) == {}
    log = (root / ".devstack" / "logs" / "frontend.log").read_text(errors="replace")
    stopped = re.findall(r"\[stopped\].*", log)
    assert stopped == ["[stopped]"], stopped  # pnpm passed SIGTERM on: nothing was killed
    print(f"\npnpm dev: down took {took:.2f}s")
