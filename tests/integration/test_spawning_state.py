"""Issue 19, point 9: while a spawn is in progress there is no pid, and ``ps`` says so
truly: ``spawning`` (no pid), then ``starting``/``running`` with the pid, never
``starting`` without one."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from conftest import free_port, program
from devstack.config import load_stack
from devstack.logs.printer import Printer
from devstack.runtime.stackcontrol import SupervisorControl
from devstack.runtime.supervisor import Supervisor


def test_ps_never_shows_an_up_state_without_a_pid_while_spawning(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "stack.toml").write_text(
        f'[services.api]\ncmd = "{sys.executable} {program("listener")} {port}"\n'
        f"port = {port}\n"
        f'[services.worker]\ncmd = "{sys.executable} {program("sleeper")}"\n'
    )
    seen: list[tuple[str, str, int | None]] = []
    last: dict[str, tuple[str, str, int | None]] = {}

    async def watch(sup: Supervisor, stop: asyncio.Event) -> None:
        # Every turn of the loop: what a `ps` answered at that moment would say.
        while not stop.is_set():
            for name, svc in sup.services.items():
                snap = svc.snapshot()
                entry = (name, str(snap.state), snap.pid)
                if last.get(name) != entry:
                    last[name] = entry
                    seen.append(entry)
            await asyncio.sleep(0)

    async def main() -> None:
        stack = load_stack(None, tmp_path)
        out = os.open(tmp_path / "out.txt", os.O_WRONLY | os.O_CREAT, 0o600)
        sup = Supervisor(
            stack, printer=Printer(list(stack.services), out=out, color=False), checks=False
        )
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(sup, stop))
        runner = asyncio.create_task(sup.run())
        try:
            deadline = time.monotonic() + 30
            while not (
                sup.services
                and {s.state.value for s in sup.services.values()} <= {"healthy", "running"}
            ):
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.01)
            control = SupervisorControl(sup)
            results = await control.restart(["api", "worker"], with_dependents=False)
            assert all(r["ok"] for r in results), results
            rows = {r["name"]: r for r in control.ps()}
            assert rows["api"]["state"] == "healthy" and isinstance(rows["api"]["pid"], int)
        finally:
            stop.set()
            await watcher
            sup.request_shutdown()
            await asyncio.wait_for(runner, 20)
            os.close(out)

    asyncio.run(main())
    up_without_pid = [e for e in seen if e[1] in ("starting", "running", "healthy") and not e[2]]
    assert not up_without_pid, seen
    spawning = [e for e in seen if e[1] == "spawning"]
    assert {e[0] for e in spawning} == {"api", "worker"}, seen  # the window was seen
    assert all(e[2] is None for e in spawning), seen
    for name in ("api", "worker"):
        states = [s for n, s, _ in seen if n == name]
        # Each of the two starts (up, restart) goes spawning -> starting/running.
        assert states.count("spawning") == 2, states
        after = [states[i + 1] for i, s in enumerate(states[:-1]) if s == "spawning"]
        assert set(after) <= {"starting", "running"}, states
