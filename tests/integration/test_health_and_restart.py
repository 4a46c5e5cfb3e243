"""The real `devstack up` on health probes and restart policy (reliability cases
14, 15, 18, 21, 22 of docs/reliability.md), dependency conditions and probe kinds. Short
configured durations; every wait has a deadline; pids are checked with psutil."""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import psutil

from conftest import free_port, is_alive, program
from support.stackrun import RunningStack, events, write_stack

PY = sys.executable


def run(name: str, *args: object) -> str:
    """A stack.toml ``cmd`` running a test program."""
    return " ".join([PY, program(name), *map(str, args)])


def pids_of(output: str, service: str) -> list[int]:
    return [int(p) for p in re.findall(rf"^{service}\s+\* \[start\] pid (\d+)", output, re.M)]


def lines_of(output: str, service: str, tag: str) -> list[str]:
    """The text after ``[tag]`` on each of ``service``'s event lines."""
    return re.findall(rf"^{service}\s+\* \[{re.escape(tag)}\](.*)$", output, re.M)


def position(output: str, pattern: str) -> int:
    found = re.search(pattern, output, re.M)
    assert found, f"no {pattern!r} in:\n{output}"
    return found.start()


def test_crash_after_backoff_reset_restarts_at_once_while_quick_crashes_back_off(
    tmp_path: Path,
) -> None:
    """Reliability case 14 (moby#22283): up longer than backoff_reset -> counter reset, no delay."""
    write_stack(
        tmp_path,
        f"""
        [services.steady]
        cmd = "{run("crasher", "--after", 0.6, "--code", 1)}"
        backoff = "2s"
        backoff_reset = "300ms"
        [services.quick]
        cmd = "{run("crasher", "--code", 1)}"
        backoff = "50ms"
        backoff_reset = "10s"
        max_restarts = 3
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"(?s)(steady\s+\* \[restart in.*){3}", timeout=20)
        stack.wait_for(r"quick\s+\* \[failed\]", timeout=20)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    # Were the count not reset, the second restart would wait backoff = 2s.
    steady = lines_of(out, "steady", "restart in 0s")
    assert len(steady) >= 3 and len(steady) == len(re.findall(r"steady\s+\* \[restart in", out))
    assert all(text.strip() == "restart 1 of 5" for text in steady), steady
    quick = re.findall(r"quick\s+\* \[restart in (\S+)s\]", out)
    assert quick == ["0", "0.05", "0.1"]
    assert "quick" in events(out, "failed") and "steady" not in events(out, "failed")


def test_exit_zero_under_always_is_restarted_with_backoff(tmp_path: Path) -> None:
    """Reliability case 15: `always` restarts a clean exit too, and backs off like a crash."""
    write_stack(
        tmp_path,
        f"""
        [services.once]
        cmd = "{run("crasher", "--code", 0)}"
        restart = "always"
        backoff = "50ms"
        max_restarts = 3
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"once\s+\* \[failed\]", timeout=20)
        stack.wait(timeout=20)
    out = stack.output()
    assert len(lines_of(out, "once", "exited")) == 4
    assert all(text.startswith(" exit 0") for text in lines_of(out, "once", "exited"))
    assert "[crashed]" not in out
    assert position(out, r"once\s+\* \[exited\] exit 0") < position(out, r"once\s+\* \[restart in")
    assert re.findall(r"once\s+\* \[restart in (\S+)s\]", out) == ["0", "0.05", "0.1"]
    assert len(pids_of(out, "once")) == 4


def test_exit_zero_under_on_failure_is_exited_and_the_supervisor_exits_0(tmp_path: Path) -> None:
    """Reliability case 15: on-failure leaves a clean exit alone; nothing else runs, so `up`
    ends 0."""
    write_stack(
        tmp_path,
        f"""
        [services.job]
        cmd = "{run("crasher", "--after", 0.2, "--code", 0)}"
        restart = "on-failure"
        backoff = "50ms"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 0
    out = stack.output()
    assert lines_of(out, "job", "exited")[0].startswith(" exit 0")
    assert "[restart" not in out and "[failed]" not in out
    assert len(pids_of(out, "job")) == 1


def test_dependency_in_backoff_keeps_dependent_waiting_with_an_idle_supervisor(
    tmp_path: Path,
) -> None:
    """Reliability case 18: dependents wait (not a busy loop), then are `not started` with
    the reason."""
    db_port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.db]
        cmd = "{run("crasher", "--code", 1)}"
        port = {db_port}
        backoff = "1500ms"
        max_restarts = 2
        [services.api]
        cmd = "{run("sleeper")}"
        depends_on = {{ db = "healthy" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"db\s+\* \[restart in 1.5s\]", timeout=20)
        supervisor = psutil.Process(stack.proc.pid)
        before = supervisor.cpu_times()
        time.sleep(1.0)  # the window measured, inside the 1.5 s backoff: not a readiness wait
        after = supervisor.cpu_times()
        during = stack.output()
        assert "[failed]" not in during  # still in backoff: the window was one of waiting
        assert "api" not in events(during, "start") and "[not started]" not in during
        used = (after.user - before.user) + (after.system - before.system)
        assert used < 0.3, f"supervisor used {used:.2f}s of CPU while only waiting"
        assert stack.wait(timeout=20) == 1
    out = stack.output()
    assert re.search(r"db\s+\* \[failed\] exit 1", out)
    assert re.search(r"api\s+\* \[not started\] depends on db \(healthy\), which failed", out)
    assert not pids_of(out, "api")
    assert position(out, r"db\s+\* \[failed\]") < position(out, r"api\s+\* \[not started\]")


def test_hanging_health_endpoint_times_out_while_others_become_healthy(tmp_path: Path) -> None:
    """Reliability case 21: each probe is cut at `timeout`; an independent service is not
    held up."""
    hang, ok = free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.hang]
        cmd = "{run("hang_http", hang)}"
        port = {hang}
        health.http = "/health"
        health.timeout = "300ms"
        health.start_period = "3s"
        [services.fine]
        cmd = "{run("http_server", ok)}"
        port = {ok}
        health.http = "/"
        health.timeout = "300ms"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"hang\s+\* \[failed\]", timeout=20)
        pid = pids_of(stack.output(), "fine")[0]
        assert is_alive(pid)  # the other service keeps running
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    failed = lines_of(out, "hang", "failed")[0]
    assert "not healthy within 3s" in failed
    assert f"GET http://127.0.0.1:{hang}/health: timed out after 0.3s" in failed
    assert "hang" not in events(out, "healthy")
    assert position(out, r"fine\s+\* \[healthy\]") < position(out, r"hang\s+\* \[failed\]")
    assert all(not is_alive(p) for p in pids_of(out, "hang"))


def _flapping_stack(root: Path, port: int, restart_on_unhealthy: bool) -> None:
    write_stack(
        root,
        f"""
        [services.flappy]
        cmd = "{run("http_server", port, "--flap-after", 0.8)}"
        port = {port}
        health.http = "/"
        health.interval = "200ms"
        health.retries = 2
        restart_on_unhealthy = {str(restart_on_unhealthy).lower()}
        backoff = "50ms"
        """,
    )


def test_unhealthy_is_reported_once_and_not_restarted_by_default(tmp_path: Path) -> None:
    """Reliability case 22: one `[unhealthy]` per transition, not per failing probe."""
    _flapping_stack(tmp_path, free_port(), restart_on_unhealthy=False)
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"flappy\s+\* \[healthy\]")
        pid = pids_of(stack.output(), "flappy")[0]
        stack.wait_for(r"flappy\s+\* \[unhealthy\]", timeout=15)
        time.sleep(1.2)  # ~6 more failing probes: none may print another line
        out = stack.output()
        assert is_alive(pid)
        assert pids_of(out, "flappy") == [pid]
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    unhealthy = lines_of(out, "flappy", "unhealthy")
    assert len(unhealthy) == 1
    assert "-> 500" in unhealthy[0]
    assert "[restarting]" not in out and "[restart in" not in out


def test_unhealthy_is_restarted_with_restart_on_unhealthy(tmp_path: Path) -> None:
    """Reliability case 22: with restart_on_unhealthy the unhealthy process is replaced."""
    _flapping_stack(tmp_path, free_port(), restart_on_unhealthy=True)
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"flappy\s+\* \[healthy\]")
        first = pids_of(stack.output(), "flappy")[0]
        stack.wait_for(r"flappy\s+\* \[unhealthy\]", timeout=15)
        stack.wait_for(r"(?s)\[unhealthy\].*flappy\s+\* \[start\] pid \d+", timeout=15)
        second = pids_of(stack.output(), "flappy")[1]
        assert second != first
        stack.wait_for(r"(?s)\[unhealthy\].*flappy\s+\* \[healthy\]", timeout=15)
        assert is_alive(second) and not is_alive(first)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    # Once per transition: never more `[unhealthy]` lines than healthy episodes before them.
    assert len(lines_of(out, "flappy", "unhealthy")) <= len(lines_of(out, "flappy", "healthy"))
    assert "[restarting] restart_on_unhealthy = true" in out


def test_completed_job_lets_its_dependent_start_after_it(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.job]
        cmd = "{run("crasher", "--after", 0.3, "--code", 0)}"
        restart = "no"
        [services.app]
        cmd = "{run("sleeper")}"
        depends_on = {{ job = "completed" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"app\s+\| ready")
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    assert position(out, r"job\s+\* \[exited\] exit 0") < position(out, r"app\s+\* \[start\]")
    assert "job" not in events(out, "restart in 0s")


def test_failed_job_leaves_its_dependent_not_started(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.job]
        cmd = "{run("crasher", "--after", 0.2, "--code", 1)}"
        restart = "no"
        [services.app]
        cmd = "{run("sleeper")}"
        depends_on = {{ job = "completed" }}
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    assert re.search(r"app\s+\* \[not started\] depends on job \(completed\), which failed", out)
    assert not pids_of(out, "app")


def test_log_probe_is_healthy_when_the_line_appears(tmp_path: Path) -> None:
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{run("listener", port, "--delay-ms", 300)}"
        health.log = "listening on"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"web\s+\* \[healthy\]")
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    healthy = lines_of(out, "web", "healthy")[0]
    assert "log /listening on/" in healthy and f"listening on {port}" in healthy
    assert position(out, rf"web\s+\| listening on {port}") < position(out, r"web\s+\* \[healthy\]")


def test_http_probe_with_unexpected_status_is_not_healthy(tmp_path: Path) -> None:
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{run("http_server", port)}"
        port = {port}
        health.http = "/"
        health.expect_status = [204]
        health.start_period = "1s"
        """,
    )
    with RunningStack(tmp_path) as stack:
        assert stack.wait() == 1
    out = stack.output()
    assert "web" not in events(out, "healthy")
    failed = lines_of(out, "web", "failed")[0]
    assert "not healthy within 1s" in failed
    assert f"GET http://127.0.0.1:{port}/ -> 200 (expected 204)" in failed
    assert all(not is_alive(p) for p in pids_of(out, "web"))
