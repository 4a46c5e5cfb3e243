"""The real `devstack up` against real tiny programs: order, health gating, restarts,
shutdown, and the supervisor's own death. Every pid is checked with psutil.
Reliability cases and promises are those of docs/reliability.md."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import free_port, is_alive, program, wait_until
from support.stackrun import (
    RunningStack,
    devstack_env,
    events,
    listener_on,
    run_devstack,
    write_stack,
)

PY = sys.executable


def listener(port: int, *flags: object) -> str:
    return " ".join([PY, program("listener"), str(port), *map(str, flags)])


def pids_in(output: str, tag: str = "start") -> list[int]:
    return [int(p) for p in re.findall(rf"\* \[{tag}\] pid (\d+)", output)]


def test_diamond_starts_each_service_only_after_its_dependencies_are_healthy(
    tmp_path: Path,
) -> None:
    a, b, c, d = (free_port() for _ in range(4))
    write_stack(
        tmp_path,
        f"""
        [services.base]
        cmd = "{listener(a, "--delay-ms", 300)}"
        port = {a}
        [services.left]
        cmd = "{listener(b, "--delay-ms", 400)}"
        port = {b}
        depends_on = {{ base = "healthy" }}
        [services.right]
        cmd = "{listener(c, "--delay-ms", 100)}"
        port = {c}
        depends_on = {{ base = "healthy" }}
        [services.top]
        cmd = "{listener(d)}"
        port = {d}
        depends_on = {{ left = "healthy", right = "healthy" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^top\s+\* \[healthy\]")
        out = stack.output()
        lines = out.splitlines()

        def index(name: str, tag: str) -> int:
            return next(
                i for i, line in enumerate(lines) if re.match(rf"{name}\s+\* \[{tag}\]", line)
            )

        assert index("base", "healthy") < index("left", "start")
        assert index("base", "healthy") < index("right", "start")
        assert index("left", "healthy") < index("top", "start")
        assert index("right", "healthy") < index("top", "start")
        # left and right are independent: right (100 ms) is healthy before left (400 ms).
        assert index("right", "healthy") < index("left", "healthy")
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    # Reverse dependency order: top first, base last.
    stopped = events(out, "stopped")
    assert stopped.index("top") < stopped.index("left") < stopped.index("base")
    assert stopped.index("right") < stopped.index("base")


def test_crash_loop_backs_off_then_fails_with_exit_code_and_last_lines(tmp_path: Path) -> None:
    counter = tmp_path / "spawns"
    write_stack(
        tmp_path,
        f"""
        [services.crashy]
        # The spawn count last: the same line twice at once would be a futile restart.
        cmd = "sh -c 'echo spawn >> {counter}; echo about to fail; wc -l < {counter}; exit 3'"
        max_restarts = 3
        backoff = "100ms"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=20) == 1  # nothing left running: the stack ends, failed
    out = stack.output()
    delays = re.findall(r"crashy\s+\* \[restart in (\S+)s\]", out)
    assert delays == ["0", "0.1", "0.2"]
    assert "[failed] exit 3" in out
    assert "about to fail" in out.split("[failed]")[1]  # last lines shown with the failure
    assert counter.read_text().count("spawn") == 4  # first start + 3 restarts, none after


def test_exit_zero_under_on_failure_is_exited_and_not_restarted(tmp_path: Path) -> None:
    write_stack(tmp_path, "[services.once]\ncmd = \"sh -c 'echo done'\"\n")
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 0
    out = stack.output()
    assert "[exited] exit 0" in out
    assert "[restart" not in out


def test_sigkill_from_outside_is_reported_and_restarted(tmp_path: Path) -> None:
    port = free_port()
    write_stack(tmp_path, f'[services.web]\ncmd = "{listener(port)}"\nport = {port}\n')
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"web\s+\* \[healthy\]")
        first = pids_in(stack.output())[0]
        psutil.Process(first).kill()
        stack.wait_for(r"\[crashed\] killed by SIGKILL")
        stack.wait_for(r"(?s)\[crashed\].*\[healthy\]")
        second = pids_in(stack.output())[-1]
        assert second != first and is_alive(second)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130


def test_failed_dependency_leaves_dependents_not_started_with_the_reason(tmp_path: Path) -> None:
    port, db_port = free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.db]
        cmd = "sh -c 'sleep 0.2; exit 1'"
        port = {db_port}
        restart = "no"
        [services.api]
        cmd = "{listener(port)}"
        port = {port}
        depends_on = {{ db = "healthy" }}
        [services.web]
        cmd = "sleep 30"
        depends_on = ["api"]
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    assert re.search(r"api\s+\* \[not started\] depends on db \(healthy\), which failed", out)
    assert re.search(r"web\s+\* \[not started\] depends on api \(started\)", out)
    assert "pid" not in "".join(line for line in out.splitlines() if line.startswith("api"))


def test_never_healthy_within_start_period_fails_and_blocks_dependents(tmp_path: Path) -> None:
    """And says what was probed once (seen in a field trial: `not healthy within 60s: GET
    http://127.0.0.1:3005/: GET http://127.0.0.1:3005/: connection refused`)."""
    port, other, web = free_port(), free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.slow]
        cmd = "sleep 30"
        port = {port}
        health.start_period = "500ms"
        [services.web]
        cmd = "sleep 30"
        port = {web}
        health = {{ http = "/", start_period = "500ms" }}
        [services.after]
        cmd = "{listener(other)}"
        depends_on = {{ slow = "healthy" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    assert re.search(rf"\[failed\] not healthy within 0.5s: tcp 127.0.0.1:{port}", out)
    assert "connection refused" in out
    url = f"http://127.0.0.1:{web}/"
    assert f"[failed] not healthy within 0.5s: GET {url}: connection refused" in out, out
    assert re.search(r"after\s+\* \[not started\] depends on slow \(healthy\), which failed", out)
    assert all(not is_alive(p) for p in pids_in(out))


def test_probe_answered_by_another_process_is_not_healthy(tmp_path: Path) -> None:
    """Reliability case 19: a stale copy holding the port must not make a dead service look
    healthy."""
    port = free_port()
    with listener_on(port) as squatter:
        write_stack(
            tmp_path,
            f"""
            [services.web]
            cmd = "sleep 30"
            health.tcp = "127.0.0.1:{port}"
            health.start_period = "1s"
            """,
        )
        with RunningStack(tmp_path) as stack:
            assert stack.wait() == 1
        out = stack.output()
        assert f"port {port} is answered by pid {squatter.pid}" in out
        assert "not by web" in out
        assert "[healthy]" not in out


def test_shutdown_leaves_no_descendant(tmp_path: Path) -> None:
    """Reliability cases 1, 4 and 5 via the CLI: grandchildren in the group, in a new group,
    in a new session."""
    write_stack(
        tmp_path,
        f"""
        [services.same]
        cmd = "{PY} {program("sleeper")} --grandchild fork"
        [services.group]
        cmd = "{PY} {program("sleeper")} --grandchild setpgid"
        [services.session]
        cmd = "{PY} {program("sleeper")} --grandchild setsid"
        [services.stubborn]
        cmd = "{PY} {program("ignore_term")}"
        stop_timeout = "1s"
        [services.shell]
        cmd = "sleep 30 & sleep 30 & wait"
        shell = true
        """,
    )
    with RunningStack(tmp_path) as stack:
        for name in ("same", "group", "session"):
            stack.wait_for(rf"{name}\s+\| ready")
        stack.wait_for(r"stubborn\s+\| ready")
        tree = stack.descendants()
        pids = {p.pid for p in tree}
        grandchildren = [int(g) for g in re.findall(r"grandchild (\d+)", stack.output())]
        assert len(grandchildren) == 3
        pids |= set(grandchildren)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    assert re.search(r"stubborn\s+\* \[stopped\] \(killed after 1s\)", out)
    wait_until(lambda: not any(is_alive(p) for p in pids), timeout=3)


def test_second_ctrl_c_kills_at_once(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.stubborn]
        cmd = "{PY} {program("ignore_term")}"
        stop_timeout = "30s"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"stubborn\s+\| ready")
        pid = pids_in(stack.output())[0]
        stack.signal(signal.SIGINT)
        stack.wait_for(r"stubborn\s+\| got TERM")
        started = time.monotonic()
        stack.signal(signal.SIGINT)
        assert stack.wait(timeout=10) == 130
        assert time.monotonic() - started < 10  # not the 30 s stop_timeout
    assert not is_alive(pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_the_supervisor_stops_everything(tmp_path: Path, sig: int) -> None:
    """Reliability case 12: terminal closed or `kill`: same as down; state files removed."""
    write_stack(tmp_path, f'[services.s]\ncmd = "{PY} {program("sleeper")} --grandchild fork"\n')
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"s\s+\| ready")
        pids = {p.pid for p in stack.descendants()}
        stack.signal(sig)
        assert stack.wait() == 128 + sig
    wait_until(lambda: not any(is_alive(p) for p in pids), timeout=3)
    assert not (tmp_path / ".devstack" / "state.json").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_supervisor_sigkilled_children_follow_within_two_seconds(tmp_path: Path) -> None:
    """Reliability case 6 through the CLI: guardian + parent-death signal."""
    services = "\n".join(
        f'[services.s{i}]\ncmd = "{PY} {program("sleeper")} --grandchild {mode}"\n'
        for i, mode in enumerate(["fork", "setsid", "setpgid", "fork", "setsid"])
    )
    write_stack(tmp_path, services)
    with RunningStack(tmp_path) as stack:
        for i in range(5):
            stack.wait_for(rf"s{i}\s+\| ready")
        pids = {p.pid for p in stack.descendants()}
        pids |= {int(g) for g in re.findall(r"grandchild (\d+)", stack.output())}
        assert len(pids) >= 11  # 5 leaders, 5 grandchildren, the guardian
        stack.proc.kill()
        stack.proc.wait()
        wait_until(lambda: not any(is_alive(p) for p in pids), timeout=2.5)


def test_partial_last_line_and_unbuffered_python_output_arrive(tmp_path: Path) -> None:
    """Reliability cases 34 and 38 through the CLI."""
    write_stack(
        tmp_path,
        f"""
        [services.partial]
        cmd = "{PY} {program("partial_last_line")}"
        [services.chatty]
        cmd = "{PY} -c 'import time; print(\\"hello unflushed\\"); time.sleep(30)'"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"partial\s+\| tail-without-newline$")
        stack.wait_for(r"chatty\s+\| hello unflushed", timeout=5)
        stack.signal(signal.SIGINT)
        stack.wait()


def test_two_hundred_thousand_lines_from_two_services_arrive_complete(tmp_path: Path) -> None:
    """Reliability case 32 through the CLI: terminal stream and log files, no loss, no dup,
    no splice."""
    n = 100_000
    write_stack(
        tmp_path,
        f"""
        [services.alpha]
        cmd = "{PY} {program("lines")} {n} --prefix A --stream both"
        restart = "no"
        [services.beta]
        cmd = "{PY} {program("lines")} {n} --prefix B --stream both"
        restart = "no"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=60) == 0
    out = stack.output()
    for name, prefix in (("alpha", "A"), ("beta", "B")):
        mine = re.findall(rf"^{name}\s+\| {prefix}(\d+) ", out, re.MULTILINE)
        assert len(mine) == n and len(set(mine)) == n
        logged = (tmp_path / ".devstack" / "logs" / f"{name}.log").read_text()
        in_file = re.findall(rf"\| {prefix}(\d+) ", logged)
        assert len(in_file) == n and len(set(in_file)) == n
    # No line holds pieces of two services.
    assert not re.search(r"^alpha.*\bB\d{6}", out, re.MULTILINE)
    assert not re.search(r"^beta.*\bA\d{6}", out, re.MULTILINE)


def test_up_with_names_starts_those_and_their_dependencies_only(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        [services.db]
        cmd = "sleep 30"
        [services.api]
        cmd = "sleep 30"
        depends_on = ["db"]
        [services.web]
        cmd = "sleep 30"
        depends_on = ["api"]
        [services.extra]
        cmd = "sleep 30"
        """,
    )
    with RunningStack(tmp_path, "api") as stack:
        stack.wait_for(r"api\s+\* \[start\]")
        stack.signal(signal.SIGINT)
        stack.wait()
    started = events(stack.output(), "start")
    assert sorted(started) == ["api", "db"]


def test_unknown_service_name_is_a_usage_error(tmp_path: Path) -> None:
    write_stack(tmp_path, '[services.backend]\ncmd = "sleep 1"\n')
    result = run_devstack(tmp_path, "up", "backnd")
    assert result.returncode == 2
    assert "did you mean backend?" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_held_by_another_process_blocks_the_service_naming_the_holder(
    tmp_path: Path,
) -> None:
    """Reliability case 40 through `up`: checked before start; the holder's pid and command
    named."""
    port = free_port()
    with listener_on(port) as holder:
        write_stack(tmp_path, f'[services.web]\ncmd = "sleep 30"\nport = {port}\n')
        with RunningStack(tmp_path) as stack:
            assert stack.wait() == 1
        out = stack.output()
        assert re.search(rf"web\s+\* \[check failed\] port {port} .*pid {holder.pid}", out), out
        assert "[start]" not in out


def test_missing_executable_blocks_the_service_and_its_dependents(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        [services.api]
        cmd = "gunicorn-that-does-not-exist api:app"
        [services.web]
        cmd = "sleep 30"
        depends_on = ["api"]
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    assert re.search(r"api\s+\* \[check failed\] gunicorn-that-does-not-exist: not found", out)
    assert re.search(r"web\s+\* \[not started\] depends on api \(started\), which is blocked", out)


def test_crash_cause_reaches_the_crashed_line_and_every_dependent(tmp_path: Path) -> None:
    """A backend dying of an ImportError before it is ready: one line says why, and the
    frontend's reason carries it (the cause chain of the incident)."""
    import shutil

    for name in ("main.py", "converter.py", "audit_trail.py"):
        shutil.copy(Path(__file__).parents[1] / "fixtures" / "incident" / name, tmp_path / name)
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.backend]
        cmd = "{PY} main.py"
        port = {port}
        restart = "no"
        [services.frontend]
        cmd = "sleep 30"
        depends_on = {{ backend = "healthy" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    cause = "ImportError: cannot import name 'log_to_ndjson' from 'converter'"
    assert re.search(rf"backend\s+\* \[crashed\] exit 1 after \S+: {cause}.*\(main\.py:5\)", out)
    assert re.search(
        rf"frontend\s+\* \[not started\] depends on backend \(healthy\), which failed: "
        rf"exit 1: {cause}.*\(main\.py:5\)",
        out,
    )


def test_refused_connections_are_explained_once_per_episode(tmp_path: Path) -> None:
    """A client printing ECONNREFUSED for the backend's port is told what became of it."""
    port = free_port()
    loop = f"for i in 1 2 3; do echo connect ECONNREFUSED 127.0.0.1:{port}; sleep 0.3; done"
    write_stack(
        tmp_path,
        f"""
        [services.backend]
        cmd = "sh -c 'exit 2'"
        port = {port}
        restart = "no"
        [services.client]
        cmd = "sh -c '{loop}'"
        restart = "no"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    explained = re.findall(
        rf"client\s+\* \[refused\] 127\.0\.0\.1:{port} is backend's port; backend is (\w+)", out
    )
    assert explained and set(explained) <= {"starting", "crashed", "failed"}
    # Once per episode: never twice in a row for the same state of the backend.
    assert len(explained) == len(set(explained))


def test_a_second_up_in_the_same_directory_never_starts_a_second_supervisor(
    tmp_path: Path,
) -> None:
    write_stack(tmp_path, '[services.s]\ncmd = "sleep 30"\n')
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"s\s+\* \[start\]")
        second = run_devstack(tmp_path, "up")
        assert second.returncode == 0, second.stderr
        assert f"the stack in {tmp_path} is already running (pid {stack.proc.pid}" in second.stdout
        assert "[start]" not in second.stdout
        assert (tmp_path / ".devstack" / "supervisor.pid").read_text().split()[0] == str(
            stack.proc.pid
        )
        assert stack.proc.poll() is None
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    assert not (tmp_path / ".devstack" / "supervisor.pid").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on the parent-death signal")
def test_next_up_reaps_a_stale_child_holding_the_port_then_starts(tmp_path: Path) -> None:
    """Reliability case 7 through the CLI: guardian and supervisor both SIGKILLed; the leader
    dies by its parent-death signal but its child keeps the port. The next `up`
    reaps it (recorded in state.json, start time checked), says so, and starts."""
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{listener(port)} & wait"
        shell = true
        port = {port}
        """,
    )
    with RunningStack(tmp_path) as first:
        first.wait_for(r"web\s+\* \[healthy\]")
        tree = first.descendants()
        guardian = [p for p in tree if "devstack.procs.guardian" in " ".join(p.cmdline())]
        server = [
            p for p in tree if p.name().startswith("python") and "listener" in " ".join(p.cmdline())
        ]
        assert len(guardian) == 1 and len(server) == 1
        guardian[0].kill()
        guardian[0].wait(5)
        first.proc.kill()
        first.proc.wait()
    stale = server[0]
    wait_until(lambda: stale.is_running() and stale.ppid() != first.proc.pid, timeout=5)
    assert is_alive(stale.pid)  # the orphan still holds the port
    with RunningStack(tmp_path) as second:
        second.wait_for(r"web\s+\* \[healthy\]")
        out = second.output()
        assert str(stale.pid) in out  # what was reaped is named
        assert not is_alive(stale.pid)
        second.signal(signal.SIGINT)
        assert second.wait() == 130


def test_a_procfile_alone_runs_each_line_as_a_service_with_honcho_ports(tmp_path: Path) -> None:
    """No stack.toml: the Procfile runs (shell, PORT numbered +100 per line as honcho
    does), with a note that health, dependencies and checks need a stack.toml."""
    base = free_port()  # as honcho does, PORT in .env moves the base from 5000
    (tmp_path / ".env").write_text(f"PORT={base}\n")
    (tmp_path / "Procfile").write_text(
        "web: echo web port $PORT; sleep 30\nworker: echo worker port $PORT; sleep 30\n"
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(rf"^web\s+\| web port {base}$")
        stack.wait_for(rf"^worker\s+\| worker port {base + 100}$")
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    assert "need a stack.toml" in stack.output()


def test_a_procfile_line_runs_with_the_venv_beside_it_as_its_check_finds_it(
    tmp_path: Path,
) -> None:
    """Seen in a field trial (Flask + Celery, a Procfile alone): `devstack check` found
    gunicorn and celery in .venv/bin, and `up` ran them without it: exit 127, `command
    not found`. The venv is activated for a Procfile's lines as for stack.toml's."""
    venv = tmp_path / ".venv"
    made = [sys.executable, "-m", "venv", "--without-pip", str(venv)]
    subprocess.run(made, check=True, timeout=60)
    tool = venv / "bin" / "fieldtool"
    tool.write_text("#!/bin/sh\necho fieldtool ran from $VIRTUAL_ENV\n")
    tool.chmod(0o755)
    (tmp_path / "Procfile").write_text("once: fieldtool\n")
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 0, stack.output()
    assert f"fieldtool ran from {venv}" in stack.output()


def test_first_up_validates_in_its_early_child_and_the_second_reads_the_cache(
    tmp_path: Path,
) -> None:
    write_stack(tmp_path, "[services.once]\ncmd = \"sh -c 'echo done'\"\n")
    cache = tmp_path / ".devstack" / "spec-cache.json"
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 0
    assert "[exited] exit 0" in stack.output()
    # The child forked at the program's start validated stack.toml and kept the result.
    assert cache.exists()
    written = cache.stat().st_mtime_ns
    with RunningStack(tmp_path) as again:
        assert again.wait() == 0
    assert "[exited] exit 0" in again.output()
    assert cache.stat().st_mtime_ns == written  # a hit: nothing validated again


_SIBLINGS = """
import os
me, parent = os.getpid(), os.getppid()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if int(pid) != me and stat.rsplit(")", 1)[1].split()[1] == str(parent):
        print("sibling", b" ".join(argv[1:]).decode().strip())
print("looked")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_validating_child_is_gone_before_any_service_starts(tmp_path: Path) -> None:
    # The service lists the supervisor's other children: the guardian may be there,
    # the config child (a fork of `devstack up`) never: it ends before the first spawn,
    # on a cache miss as on a hit.
    (tmp_path / "siblings.py").write_text(_SIBLINGS)
    write_stack(tmp_path, f'[services.look]\ncmd = ["{sys.executable}", "siblings.py"]\n')
    for _ in range(2):  # the miss, then the hit
        with RunningStack(tmp_path) as stack:
            assert stack.wait() == 0
        out = stack.output()
        assert "looked" in out, out
        assert "-m devstack up" not in out, out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _session(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigint_while_up_validates_the_config_exits_130_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    # A stack big enough that validating it takes about a second; should it ever start,
    # only `gate` runs (it fails, and everything else depends on it).
    body = ['[services.gate]\ncmd = "false"\nrestart = "no"\n']
    body += [f'[services.s{i}]\ncmd = "sleep 30"\ndepends_on = ["gate"]\n' for i in range(3000)]
    write_stack(tmp_path, "\n".join(body))
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up"],
        cwd=tmp_path,
        env=devstack_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Well into its start: importing, or validating the 3,001 services.
        wait_until(lambda: _cpu_seconds(proc.pid) >= 0.3, timeout=30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        left = _session(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader
    assert proc.returncode == 130, out
    assert b"Traceback" not in out
    # Nothing of its session is left (and nothing was started).
    assert left == []
