"""stop_mode at the process layer: "main" signals the leader alone and lets it stop its
own workers; "group" signals every process at once (reliability cases 3 and 41 of
docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from test_process import read_until_ready

from conftest import is_alive, python_cmd, wait_until
from devstack.procs.process import ServiceProcess, spawn
from devstack.spec import StopMode
from support.stackrun import downed_at_end, run_devstack, write_stack


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def start(argv: list[str], mode: StopMode) -> ServiceProcess:
    return await spawn(
        argv, cwd=Path.cwd(), env=dict(os.environ), service="svc", stack_id="st1", stop_mode=mode
    )


async def stop_pool(mode: StopMode) -> tuple[str, int, bool]:
    """pool.py (a master and a worker running a task) stopped in ``mode``: its output, the
    worker's pid, whether SIGKILL was needed."""
    proc = await start(python_cmd("pool", "0.5"), mode)
    pids = await read_until_ready(proc)
    result = await proc.stop(signal.SIGTERM, timeout=10.0)
    out = (await asyncio.wait_for(proc.stdout.read(), 5)).decode()
    assert not is_alive(pids["worker"])
    return out, pids["worker"], result.killed


def test_main_mode_lets_the_master_finish_its_workers_task() -> None:
    """Reliability case 41: only the master gets SIGTERM; it lets its worker finish the
    task (Celery's warm shutdown, gunicorn's graceful stop); nothing is killed."""
    out, _, killed = run(stop_pool("main"))
    assert "master got TERM" in out
    assert "task done" in out, out
    assert "worker exited with signal" not in out, out
    assert not killed


def test_group_mode_signals_the_worker_too_like_ctrl_c() -> None:
    """ "group" (a terminal's Ctrl-C): the worker is signalled directly and its task lost."""
    out, _, killed = run(stop_pool("group"))
    assert "worker exited with signal 15" in out, out
    assert "task done" not in out
    assert not killed


def test_main_mode_child_of_a_wrapper_that_does_not_forward_gets_the_signal() -> None:
    """`sh -c "server; ..."` (dash) dies of SIGTERM without passing it on: once it is gone,
    its child gets SIGTERM (not SIGKILL at the timeout) and the stop ends at once."""

    async def main() -> None:
        server = shlex.join(python_cmd("sleeper"))
        proc = await start(["/bin/sh", "-c", f"{server}; true"], "main")
        pids = await read_until_ready(proc)
        assert pids["pid"] != proc.pid  # sh forked it: a wrapper, not an exec
        result = await proc.stop(signal.SIGTERM, timeout=10.0)
        assert not result.killed  # SIGTERM ended it
        assert result.duration < 5.0  # not the 10 s timeout
        assert not is_alive(pids["pid"])

    run(main())


def test_main_mode_leftover_that_ignores_term_is_killed_after_a_short_grace() -> None:
    """Reliability case 3 in mode "main": the leader exits on TERM, its child ignores TERM;
    the child gets SIGKILL a short grace after the leader's exit, well within the timeout,
    and stop does not return while it lives."""

    async def main() -> None:
        proc = await start(python_cmd("group_child"), "main")
        pids = await read_until_ready(proc)
        result = await proc.stop(signal.SIGTERM, timeout=20.0)
        assert (await proc.wait()).describe() == "exit 0"
        assert result.killed and result.lingered
        assert result.duration < 10.0  # the short grace, not the 20 s timeout
        assert not is_alive(pids["child"])

    run(main())


def test_main_mode_leader_that_ignores_term_is_killed_at_the_timeout() -> None:
    """The leader outlives stop_timeout: SIGKILL for it and its tree, not before the timeout."""

    async def main() -> None:
        proc = await start(python_cmd("ignore_term"), "main")
        await read_until_ready(proc)
        result = await proc.stop(signal.SIGTERM, timeout=2.0)
        assert b"got TERM" in await proc.stdout.read()
        assert result.killed and not result.lingered
        assert result.duration >= 2.0
        assert (await proc.wait()).describe() == "killed by SIGKILL"

    run(main())


def test_main_mode_signals_nothing_but_the_leader_while_it_stops() -> None:
    """A grandchild in the leader's group gets no signal while the leader lives."""

    async def main() -> None:
        proc = await start(python_cmd("sleeper", "--grandchild", "fork"), "main")
        pids = await read_until_ready(proc)
        result = await proc.stop(signal.SIGTERM, timeout=5.0)
        # The leader died of TERM at once; its grandchild got TERM only after that.
        assert result.signalled == 2 and not result.killed
        assert not is_alive(pids["grandchild"])

    run(main())


@pytest.mark.parametrize(
    ("written", "seen"),
    [("", "task done"), ('stop_mode = "group"', "worker exited with signal 15")],
)
def test_devstack_stop_follows_the_services_stop_mode(
    tmp_path: Path, written: str, seen: str
) -> None:
    """The key reaches the stop: `devstack stop` of the pool program, by default (the
    worker finishes its task) and with stop_mode = "group" (it is signalled directly)."""
    cmd = ", ".join(f'"{a}"' for a in python_cmd("pool", "0.5"))
    write_stack(tmp_path, f"[services.pool]\ncmd = [{cmd}]\n{written}\n")
    log = tmp_path / ".devstack" / "logs" / "pool.log"
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        wait_until(lambda: "ready" in log.read_text(), timeout=30)
        stop = run_devstack(tmp_path, "stop", "pool", timeout=60)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        text = log.read_text()
        assert "master got TERM" in text and seen in text, text
        assert "killed" not in text
