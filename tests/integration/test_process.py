"""Spawning, stopping and reaping real service processes (reliability cases 2-5, 9, 10 of
docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import is_alive, python_cmd, wait_until
from devstack.errors import DevstackError
from devstack.procs.process import ServiceProcess, SpawnError, spawn
from support.minisup import MiniSupervisor

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux prctl")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def start(argv: list[str], **kw: Any) -> ServiceProcess:
    return await spawn(
        argv, cwd=kw.get("cwd", Path.cwd()), env=dict(os.environ), service="svc", stack_id="st1"
    )


async def read_until_ready(proc: ServiceProcess, timeout: float = 10.0) -> dict[str, int]:
    """The "name pid" lines a test program prints before "ready"."""
    pids: dict[str, int] = {}

    async def read() -> None:
        while True:
            line = (await proc.stdout.readline()).decode().strip()
            if not line:
                raise AssertionError("program ended before printing ready")
            if line == "ready":
                return
            name, _, value = line.partition(" ")
            if value.isdigit():
                pids[name] = int(value)

    await asyncio.wait_for(read(), timeout)
    return pids


def test_spawn_sets_env_session_and_record() -> None:
    async def main() -> None:
        proc = await start(python_cmd("sleeper"))
        try:
            pids = await read_until_ready(proc)
            assert pids["pid"] == proc.pid
            ps = psutil.Process(proc.pid)
            env = ps.environ()
            assert env["DEVSTACK_SERVICE"] == "svc"
            assert env["DEVSTACK_STACK"] == "st1"
            assert env["DEVSTACK_TOKEN"] == proc.record.token
            assert len(proc.record.token) >= 16
            assert os.getsid(proc.pid) == proc.pid == proc.record.sid
            assert os.getpgid(proc.pid) == proc.pid == proc.record.pgid
            assert proc.record.create_time == pytest.approx(ps.create_time())
            assert [p.pid for p in proc.members()] == [proc.pid]
        finally:
            result = await proc.stop(timeout=5)
        assert not result.killed
        assert result.signalled == 1
        assert (await proc.wait()).describe() == "killed by SIGTERM"
        assert not is_alive(proc.pid)

    run(main())


def test_true_exit_code_is_reported() -> None:
    async def main() -> None:
        proc = await start(python_cmd("crasher", "--code", 7))
        status = await asyncio.wait_for(proc.wait(), 10)
        assert status.code == 7 and status.describe() == "exit 7"
        await proc.stop(timeout=1)

    run(main())


def test_killed_by_signal_is_reported() -> None:
    async def main() -> None:
        proc = await start(python_cmd("crasher", "--signal", int(signal.SIGKILL)))
        status = await asyncio.wait_for(proc.wait(), 10)
        assert status.describe() == "killed by SIGKILL"
        await proc.stop(timeout=1)

    run(main())


def test_missing_executable_raises_spawn_error() -> None:
    async def main() -> None:
        with pytest.raises(SpawnError, match=r"^gunicorn-not-here-xyz: not found$") as info:
            await start(["gunicorn-not-here-xyz", "api:app"])
        assert isinstance(info.value, DevstackError)

    run(main())


def test_not_executable_raises_spawn_error(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)

    async def main() -> None:
        with pytest.raises(SpawnError, match="permission denied"):
            await start([str(script)])

    run(main())


def test_missing_cwd_raises_spawn_error(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(SpawnError, match="working directory"):
            await spawn(
                python_cmd("sleeper"),
                cwd=tmp_path / "nope",
                env=dict(os.environ),
                service="svc",
                stack_id="st1",
            )

    run(main())


def test_ignores_term_is_killed_after_timeout() -> None:
    """Reliability case 2: TERM first, KILL only once stop_timeout has passed."""

    async def main() -> None:
        proc = await start(python_cmd("ignore_term"))
        await read_until_ready(proc)
        result = await proc.stop(signal.SIGTERM, timeout=2.0)
        out = await proc.stdout.read()
        assert b"got TERM" in out  # it saw TERM before it was killed
        assert result.killed
        assert result.duration >= 2.0  # KILL was not sent before the timeout
        assert result.survivors == ()
        assert (await proc.wait()).describe() == "killed by SIGKILL"
        assert not is_alive(proc.pid)

    run(main())


def test_leader_exits_on_term_group_member_ignores_it() -> None:
    """Reliability case 3 (process-compose #520): stop keeps waiting for the member and kills it."""

    async def main() -> None:
        proc = await start(python_cmd("group_child"))
        pids = await read_until_ready(proc)
        child = pids["child"]
        assert os.getpgid(child) == proc.pid
        stopping = asyncio.create_task(proc.stop(signal.SIGTERM, timeout=4.0))
        status = await asyncio.wait_for(proc.wait(), 5)
        assert status.describe() == "exit 0"  # the leader went at once
        assert not stopping.done()  # ... and stop did not return with the child alive
        assert is_alive(child)
        result = await stopping
        assert result.killed
        assert not is_alive(child)

    run(main())


@pytest.mark.parametrize("mode", ["setpgid", "fork"])
def test_grandchild_in_other_group_is_stopped(mode: str) -> None:
    """Reliability case 4: a grandchild in its own process group (`set -m`) is stopped too."""

    async def main() -> None:
        proc = await start(python_cmd("sleeper", "--grandchild", mode))
        pids = await read_until_ready(proc)
        grandchild = pids["grandchild"]
        if mode == "setpgid":
            assert os.getpgid(grandchild) != proc.pid
        assert {p.pid for p in proc.members()} == {proc.pid, grandchild}
        result = await proc.stop(timeout=5)
        assert not result.killed
        assert result.signalled == 2
        assert not is_alive(grandchild)

    run(main())


def test_setsid_grandchild_holding_the_pipe_is_stopped() -> None:
    """Reliability case 5: a setsid grandchild keeps stdout open; stop kills it and the
    reader sees EOF."""

    async def main() -> None:
        proc = await start(
            python_cmd("sleeper", "--grandchild", "setsid", "--grandchild-ignore-term")
        )
        pids = await read_until_ready(proc)
        grandchild = pids["grandchild"]
        assert os.getsid(grandchild) == grandchild
        pump = asyncio.create_task(proc.stdout.read())
        # Orphan it, as a daemonising program does: the leader exits, the grandchild stays.
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        wait_until(lambda: psutil.Process(grandchild).ppid() != proc.pid, timeout=5)
        assert grandchild in {p.pid for p in proc.members()}  # found by its token
        result = await asyncio.wait_for(proc.stop(timeout=1.0), 1.0 + 3.0)
        assert result.killed  # it ignored TERM
        assert not is_alive(grandchild)
        await asyncio.wait_for(pump, 3)  # the pipe reached EOF: no hang

    run(main())


def test_kill_sigkills_every_member_now() -> None:
    async def main() -> None:
        proc = await start(
            python_cmd("sleeper", "--grandchild", "setsid", "--grandchild-ignore-term")
        )
        pids = await read_until_ready(proc)
        proc.kill()
        assert (await asyncio.wait_for(proc.wait(), 5)).describe() == "killed by SIGKILL"
        wait_until(lambda: not is_alive(pids["grandchild"]), timeout=5)
        assert (await proc.stop(timeout=1)).signalled == 0

    run(main())


def test_concurrent_stops_both_return_after_everything_is_gone() -> None:
    async def main() -> None:
        proc = await start(python_cmd("group_child"))
        pids = await read_until_ready(proc)
        first, second = await asyncio.gather(proc.stop(timeout=1), proc.stop(timeout=1))
        assert first.killed and second.signalled == 0
        assert not is_alive(pids["child"])

    run(main())


def test_spawns_started_together_each_return_before_the_next_forks() -> None:
    """A burst of spawns (services with no dependencies, all at once) completes one by
    one: the first returns (so its service is announced and probed) while it is still
    the only child, not after every other fork of the burst."""

    async def main() -> None:
        stack_id = os.urandom(8).hex()
        children_at_return: list[int] = []
        procs: list[ServiceProcess] = []

        me = psutil.Process()
        before = {c.pid for c in me.children()}

        def ours() -> int:  # this burst's children (not another test's leftovers)
            # By pid, not by environment: a child that is exec'ing can't be read.
            return len({c.pid for c in me.children()} - before)

        async def one(n: int) -> None:
            proc = await spawn(
                ["sleep", "30"],
                cwd=Path.cwd(),
                env=dict(os.environ),
                service=f"s{n}",
                stack_id=stack_id,
            )
            procs.append(proc)
            children_at_return.append(ours())

        try:
            await asyncio.gather(*(one(n) for n in range(6)))
        finally:
            await asyncio.gather(*(p.stop(timeout=5) for p in procs))
        assert children_at_return == [1, 2, 3, 4, 5, 6]

    run(main())


@linux_only
def test_inherited_ignored_sigint_is_reset_in_the_child() -> None:
    """A background job of a shell starts with SIGINT ignored; services must not."""

    def ignored(pid: int) -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return int(line.split()[1], 16)
        raise AssertionError("no SigIgn")

    async def main() -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc = await start(["sleep", "30"])
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            mask = ignored(proc.pid)
            assert not mask & (1 << (signal.SIGINT - 1))
            assert not mask & (1 << (signal.SIGQUIT - 1))
        finally:
            await proc.stop(timeout=2)

    run(main())


@linux_only
def test_leader_dies_with_its_supervisor_by_pdeathsig(tmp_path: Path) -> None:
    code = (
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from devstack.procs.process import spawn\n"
        "async def main():\n"
        "    p = await spawn(['sleep', '60'], cwd=Path('.'), env=dict(os.environ),\n"
        "                    service='s', stack_id='x')\n"
        "    print(p.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    sup = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert sup.stdout is not None
        leader = int(sup.stdout.readline())
        assert is_alive(leader)
    finally:
        sup.kill()
        sup.wait()
        sup.stdout.close()  # type: ignore[union-attr]
    wait_until(lambda: not is_alive(leader), timeout=5)


@linux_only
def test_services_survive_helper_threads_exiting() -> None:
    """Reliability case 10: 50 spawns/stops while helper threads start and exit: no
    parent-death signal."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = threading.Event()
        survivors: list[ServiceProcess] = []

        def helper() -> None:
            time.sleep(0.005)

        def churn() -> None:
            while not done.is_set():
                threads = [threading.Thread(target=helper) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

        churner = threading.Thread(target=churn)
        churner.start()
        try:
            for i in range(50):
                # A thread pool helper runs while the spawn happens, then finishes.
                helper_call = loop.run_in_executor(None, helper)
                proc = await start(["sleep", "30"])
                await helper_call
                if i % 10 == 0:
                    survivors.append(proc)  # kept running until the end
                    continue
                result = await proc.stop(timeout=5)
                assert (await proc.wait()).describe() == "killed by SIGTERM", result
        finally:
            done.set()
            await loop.run_in_executor(None, churner.join)
        try:
            # Every thread alive at those spawns has exited; the services must not have.
            await asyncio.sleep(0.2)
            for proc in survivors:
                assert is_alive(proc.pid), proc.pid
        finally:
            for proc in survivors:
                await proc.stop(timeout=5)
            for proc in survivors:
                assert (await proc.wait()).describe() == "killed by SIGTERM"

    run(main())


@linux_only
def test_subreaper_reaps_double_forked_orphans_and_keeps_exit_codes() -> None:
    """Reliability case 9: no <defunct> children after 2 s; the leader reports its true exit
    code, not 255."""
    with MiniSupervisor(
        ["--services", 3, "--subreaper", "--no-guardian"],
        python_cmd("double_fork", "--count", 4, "--orphan-ms", 300, "--linger", 0.2),
    ) as sup:
        exits = {}
        for event in sup.events():
            if "subreaper" in event:
                assert event["subreaper"] is True
            if "exit" in event:
                exits[event["exit"]] = event["status"]
            if len(exits) == 3:
                break
        assert set(exits.values()) == {"exit 3"}, exits
        adopted = {
            int(text.split()[1]): int(text.split()[2])
            for e in sup.seen
            if "lines" in e
            for text in e["lines"]
            if text.startswith("orphan ")
        }
        assert len(adopted) == 12
        assert set(adopted.values()) == {sup.pid}  # the subreaper adopted every orphan
        orphans = list(adopted)

        def no_zombie_children() -> bool:
            return not zombie_children(sup.pid) and not any(
                pid_is_child(pid, sup.pid) for pid in orphans
            )

        wait_until(no_zombie_children, timeout=2.0 + 3.0)
        sup.proc.send_signal(signal.SIGTERM)
        rest = sup.stdout.read()
        assert '"stopped": true' in rest
        assert "Unknown child process" not in rest
        assert sup.proc.wait(timeout=10) == 0


def zombie_children(pid: int) -> list[int]:
    zombies = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                zombies.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return zombies


def pid_is_child(pid: int, parent: int) -> bool:
    try:
        return psutil.Process(pid).ppid() == parent
    except psutil.NoSuchProcess:
        return False
