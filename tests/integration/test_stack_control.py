"""The supervisor's control side, driven in-process (the socket is tested separately):
ps, stop/start, restart re-reading env files, concurrent restarts (reliability case 16 of
docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

from conftest import free_port, is_alive, program
from devstack.config import load_stack
from devstack.logs.printer import Printer
from devstack.runtime.stackcontrol import SupervisorControl
from devstack.runtime.supervisor import Supervisor

PY = sys.executable


def stack_dir(tmp_path: Path) -> tuple[int, int]:
    api, web = free_port(), free_port()
    (tmp_path / "api.env").write_text("GREETING=first\n")
    (tmp_path / "stack.toml").write_text(
        f"""
[services.api]
cmd = "{PY} {program("listener")} {api}"
port = {api}
env_file = "api.env"

[services.web]
cmd = "{PY} {program("listener")} {web}"
port = {web}
depends_on = {{ api = "healthy" }}
"""
    )
    return api, web


def run_with_control(
    tmp_path: Path, body: Callable[[Supervisor, SupervisorControl], Awaitable[None]]
) -> None:
    async def main() -> None:
        stack = load_stack(None, tmp_path)
        out = os.open(tmp_path / "out.txt", os.O_WRONLY | os.O_CREAT, 0o600)
        sup = Supervisor(stack, printer=Printer(list(stack.services), out=out, color=False))
        runner = asyncio.create_task(sup.run())
        try:
            for _ in range(500):
                states = {s.state.value for s in sup.services.values()}
                if states <= {"healthy", "running"} and sup.services:
                    break
                await asyncio.sleep(0.02)
            await body(sup, SupervisorControl(sup))
        finally:
            sup.request_shutdown()
            await asyncio.wait_for(runner, 20)
            os.close(out)

    asyncio.run(main())


def test_ps_reports_state_pid_health_and_tree_usage(tmp_path: Path) -> None:
    api, _ = stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        rows = {r["name"]: r for r in control.ps()}
        assert rows["api"]["state"] == "healthy"
        assert rows["api"]["pid"] == sup.services["api"].process.pid  # type: ignore[union-attr]
        assert rows["api"]["port"] == api
        assert rows["api"]["url"] == f"http://127.0.0.1:{api}"
        assert rows["api"]["health"]["ok"] is True  # type: ignore[index]
        assert isinstance(rows["api"]["rss"], int) and rows["api"]["rss"] > 0
        assert rows["api"]["restart_needed"] is False

    run_with_control(tmp_path, body)


def test_restart_rereads_env_files_and_leaves_dependents_alone(tmp_path: Path) -> None:
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        old_api = sup.services["api"].process.pid  # type: ignore[union-attr]
        old_web = sup.services["web"].process.pid  # type: ignore[union-attr]
        (tmp_path / "api.env").write_text("GREETING=second\n")
        # mtime resolution: make sure the edit is seen as a change
        os.utime(tmp_path / "api.env", ns=(1, 1))
        assert {r["name"]: r for r in control.ps()}["api"]["restart_needed"] is True
        [result] = await control.restart(["api"], with_dependents=False)
        assert result["ok"] is True, result
        new_api = sup.services["api"].process
        assert new_api is not None and new_api.pid != old_api and not is_alive(old_api)
        assert sup.services["api"].spec.env["GREETING"] == "second"
        assert sup.services["web"].process.pid == old_web  # type: ignore[union-attr]

    run_with_control(tmp_path, body)


def test_restart_with_dependents_restarts_both_in_order(tmp_path: Path) -> None:
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        before = {n: s.process.pid for n, s in sup.services.items()}  # type: ignore[union-attr]
        results = await control.restart(["api"], with_dependents=True)
        assert [r["name"] for r in results] == ["api", "web"]
        assert all(r["ok"] for r in results)
        after = {n: s.process.pid for n, s in sup.services.items()}  # type: ignore[union-attr]
        assert all(after[n] != before[n] for n in before)

    run_with_control(tmp_path, body)


def test_twenty_concurrent_restarts_leave_exactly_one_process(tmp_path: Path) -> None:
    """Reliability case 16 (process-compose #530): every caller gets a reply, one api remains."""
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        replies = await asyncio.gather(*(control.restart(["api"], False) for _ in range(20)))
        assert len(replies) == 20 and all(r[0]["ok"] for r in replies)
        pid = sup.services["api"].process.pid  # type: ignore[union-attr]
        listeners = [
            p
            for p in sup.services["api"].process.members()  # type: ignore[union-attr]
        ]
        assert [p.pid for p in listeners] == [pid]

    run_with_control(tmp_path, body)


def test_stop_then_start_one_service_keeps_the_stack_running(tmp_path: Path) -> None:
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        old = sup.services["web"].process.pid  # type: ignore[union-attr]
        [stopped] = await control.stop(["web"])
        assert stopped["message"] == "stopped" and not is_alive(old)
        await asyncio.sleep(0.2)
        assert not sup.all_stopped.is_set()  # a held service keeps the supervisor alive
        [started] = await control.start(["web"])
        assert started["ok"] is True
        assert sup.services["web"].state.value == "healthy"

    run_with_control(tmp_path, body)


def test_restart_with_a_broken_config_keeps_the_running_process(tmp_path: Path) -> None:
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        old = sup.services["api"].process.pid  # type: ignore[union-attr]
        path = tmp_path / "stack.toml"
        path.write_text(path.read_text().replace("[services.web]", "[services.web]\nbogus = 1"))
        [result] = await control.restart(["api"], with_dependents=False)
        assert result["ok"] is False and "bogus" in str(result["message"])
        assert sup.services["api"].process.pid == old and is_alive(old)  # type: ignore[union-attr]

    run_with_control(tmp_path, body)


def test_log_history_merges_services_in_time_order_with_last_n(tmp_path: Path) -> None:
    stack_dir(tmp_path)

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        chunks = control.log_history([], n=2, since=None)
        times = [c.time for c in chunks]
        assert times == sorted(times)
        for name in ("api", "web"):
            assert sum(c.lines for c in chunks if c.service == name) == 2

    run_with_control(tmp_path, body)


def test_restart_of_broken_code_keeps_the_old_process_serving(tmp_path: Path) -> None:
    """Promise 5: a restart never swaps a running process for one whose checks fail."""
    port = free_port()
    server = tmp_path / "server.py"
    server.write_text(
        "import http.server, os\n"
        "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])),"
        " http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    (tmp_path / "stack.toml").write_text(
        f'[services.web]\ncmd = "{PY} server.py"\nport = {port}\nhealth.http = "/"\n'
    )

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        old = sup.services["web"].process.pid  # type: ignore[union-attr]
        server.write_text("def broken(:\n")
        [result] = await control.restart(["web"], with_dependents=False)
        assert result["ok"] is False
        assert "checks failed; the running process is kept" in str(result["message"])
        assert "server.py:1" in str(result["message"])
        assert sup.services["web"].process.pid == old and is_alive(old)  # type: ignore[union-attr]
        assert sup.services["web"].state.value == "healthy"

    run_with_control(tmp_path, body)


def test_restart_runs_each_check_once_before_the_stop_and_not_again_after(
    tmp_path: Path,
) -> None:
    """The checks run against the new code while the old process still serves; the start
    that follows does not run them again (an import check would lengthen the downtime),
    but a later plain start does."""
    port = free_port()
    (tmp_path / "count.py").write_text(
        "import sys\nwith open(sys.argv[1], 'a') as f:\n    f.write('run\\n')\n"
    )
    (tmp_path / "stack.toml").write_text(
        f'[services.api]\ncmd = "{PY} {program("listener")} {port}"\nport = {port}\n'
        f'check.cmd = ["{PY} count.py checks.log"]\n'
    )
    log = tmp_path / "checks.log"

    def runs() -> int:
        return len(log.read_text().splitlines())

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        assert runs() == 1  # the first start
        old = sup.services["api"].process.pid  # type: ignore[union-attr]
        [result] = await control.restart(["api"], with_dependents=False)
        assert result["ok"] is True, result
        assert sup.services["api"].process.pid != old  # type: ignore[union-attr]
        assert runs() == 2
        await control.stop(["api"])
        [started] = await control.start(["api"])
        assert started["ok"] is True, started
        assert runs() == 3

    run_with_control(tmp_path, body)


def test_ps_counts_the_cpu_and_memory_of_the_whole_tree(tmp_path: Path) -> None:
    """A leader that only waits on a child spinning the CPU: the CPU% is the child's."""
    spin = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])"
    (tmp_path / "spin.py").write_text(spin + "\n")
    (tmp_path / "stack.toml").write_text(f'[services.spin]\ncmd = "{PY} spin.py"\n')

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        leader = psutil.Process(sup.services["spin"].process.pid)  # type: ignore[union-attr]
        for _ in range(100):  # until the spinning child exists
            if leader.children():
                break
            await asyncio.sleep(0.05)
        [first] = control.ps()
        assert first["pid"] == leader.pid and first["cpu_percent"] is not None
        await asyncio.sleep(0.5)
        [row] = control.ps()
        assert isinstance(row["cpu_percent"], float) and row["cpu_percent"] > 20, row
        assert isinstance(row["rss"], int)
        assert row["rss"] > leader.memory_info().rss + 4 * 2**20  # the child's counted too

    run_with_control(tmp_path, body)


def test_restart_needed_marks_only_the_services_whose_own_config_changed(tmp_path: Path) -> None:
    """Field trial: changing only one service's table marked every service `(restart
    needed)`, so did adding only [[smoke]], and a crash restart kept the false mark."""
    stack_dir(tmp_path)
    toml = tmp_path / "stack.toml"

    async def body(sup: Supervisor, control: SupervisorControl) -> None:
        def needed() -> dict[str, object]:
            return {r["name"]: r["restart_needed"] for r in control.ps()}

        assert needed() == {"api": False, "web": False}
        text = toml.read_text()
        toml.write_text(text.replace("[services.web]\n", '[services.web]\nenv = { MODE = "b" }\n'))
        os.utime(toml, ns=(1, 1))  # mtime resolution: seen as a change
        assert needed() == {"api": False, "web": True}

        crashed = sup.services["api"].process
        assert crashed is not None
        os.kill(crashed.pid, signal.SIGKILL)  # restarted by the on-failure policy
        for _ in range(500):
            api = sup.services["api"]
            if api.process not in (None, crashed) and api.state.value in ("healthy", "running"):
                break
            await asyncio.sleep(0.02)
        assert sup.services["api"].restarts == 1
        assert needed() == {"api": False, "web": True}

        [restarted] = await control.restart(["web"], with_dependents=False)
        assert restarted["ok"] is True, restarted
        assert needed() == {"api": False, "web": False}
        with toml.open("a") as f:
            f.write('\n[[smoke]]\nname = "home"\nurl = "${services.web.url}/"\n')
        os.utime(toml, ns=(2, 2))
        assert needed() == {"api": False, "web": False}
        (tmp_path / "api.env").write_text("GREETING=second\n")
        os.utime(tmp_path / "api.env", ns=(3, 3))
        assert needed() == {"api": True, "web": False}

    run_with_control(tmp_path, body)


def test_a_venv_its_setup_made_is_no_restart_needed_after_a_restart(tmp_path: Path) -> None:
    """Field trial: on a first run, the setup step makes .venv; after `restart`, ps said
    `(restart needed)` though nothing changed (the config read before the venv existed
    was compared with one read after)."""
    import json

    from support.stackrun import downed_at_end, run_devstack

    (tmp_path / "stack.toml").write_text(
        f'[services.api]\ncmd = "{sys.executable} {program("sleeper")}"\n'
        f'setup = "{sys.executable} -m venv --without-pip .venv"\n'
    )
    with downed_at_end(tmp_path):
        assert run_devstack(tmp_path, "up", "-d").returncode == 0
        assert (tmp_path / ".venv").is_dir()
        for _ in range(3):  # ps before and after each restart, as a user would
            run_devstack(tmp_path, "ps")
            restarted = run_devstack(tmp_path, "restart", "api")
            assert restarted.returncode == 0, restarted.stdout + restarted.stderr
            rows = json.loads(run_devstack(tmp_path, "ps", "--json").stdout)["services"]
            assert [(r["name"], r["restart_needed"]) for r in rows] == [("api", False)], rows
