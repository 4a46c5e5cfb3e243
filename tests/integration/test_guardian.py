"""The guardian kills a stack's processes when its supervisor dies (reliability case 6
of docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import is_alive, python_cmd, wait_until
from devstack.procs.guardian import Guardian
from devstack.procs.process import ServiceProcess, spawn
from support.minisup import MiniSupervisor


async def start(argv: list[str], stack_id: str, service: str = "svc") -> ServiceProcess:
    proc = await spawn(
        argv, cwd=Path.cwd(), env=dict(os.environ), service=service, stack_id=stack_id
    )
    await asyncio.wait_for(proc.stdout.readuntil(b"ready\n"), 10)
    return proc


def grandchild_of(proc: ServiceProcess) -> int:
    children = psutil.Process(proc.pid).children()
    assert len(children) == 1
    return int(children[0].pid)


def test_close_is_orderly_and_kills_nothing() -> None:
    async def main() -> None:
        guardian = await Guardian.start("stack-close")
        proc = await start(python_cmd("sleeper"), "stack-close")
        try:
            guardian.watch(proc.record)
            await guardian.close()
            assert not is_alive(guardian.pid)
            assert is_alive(proc.pid)
        finally:
            await proc.stop(timeout=5)

    asyncio.run(main())


def test_pipe_eof_kills_recorded_and_stack_processes_only() -> None:
    """Supervisor gone (its end of the pipe closed, no "exit"): the stack dies, nothing else."""

    async def main() -> None:
        guardian = await Guardian.start("stack-eof")
        watched = await start(python_cmd("sleeper", "--grandchild", "setsid"), "stack-eof", "a")
        # Forgotten by the guardian, but it carries DEVSTACK_STACK: still killed.
        forgotten = await start(python_cmd("sleeper"), "stack-eof", "b")
        # Another stack's service: left alone.
        other = await start(python_cmd("sleeper"), "stack-other", "c")
        bystander = await asyncio.create_subprocess_exec("sleep", "30")
        try:
            grandchild = grandchild_of(watched)
            for proc in (watched, forgotten, other):
                guardian.watch(proc.record)
            guardian.forget(forgotten.record)
            guardian.forget(other.record)
            guardian._proc.stdin.close()  # type: ignore[union-attr]  # the supervisor "dies"
            assert (await asyncio.wait_for(guardian._proc.wait(), 10)) == 0
            assert (await asyncio.wait_for(watched.wait(), 5)).describe() == "killed by SIGTERM"
            assert (await asyncio.wait_for(forgotten.wait(), 5)).describe() == "killed by SIGTERM"
            wait_until(lambda: not is_alive(grandchild), timeout=5)
            assert is_alive(other.pid)
            assert bystander.returncode is None and is_alive(bystander.pid)
        finally:
            for proc in (watched, forgotten, other):
                await proc.stop(timeout=5)
            bystander.kill()
            await bystander.wait()
            await guardian.close()

    asyncio.run(main())


def test_guardian_process_refuses_bad_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.procs.guardian"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="pdeathsig is Linux only")
def test_supervisor_sigkilled_leaves_no_descendant() -> None:
    """Reliability case 6: 10 services each with a grandchild; SIGKILL the supervisor; within
    2 s none survives."""
    with MiniSupervisor(["--services", 10], python_cmd("sleeper", "--grandchild", "setsid")) as sup:
        guardian = None
        for event in sup.events():
            if "guardian" in event:
                guardian = event["guardian"]
            if event.get("ready"):
                break
        assert guardian is not None
        descendants = [
            p.pid for p in psutil.Process(sup.pid).children(recursive=True) if p.pid != guardian
        ]
        assert len(descendants) == 20  # 10 leaders + 10 grandchildren
        sup.proc.send_signal(signal.SIGKILL)
        sup.proc.wait(timeout=10)
        wait_until(lambda: not any(is_alive(pid) for pid in descendants), timeout=2.0)
        wait_until(lambda: not is_alive(guardian), timeout=5.0)  # it exits once done
