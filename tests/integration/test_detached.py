"""End-to-end: the real ``devstack`` CLI against a real detached supervisor (issue 4).

Every test starts a stack with ``devstack up -d`` in a temporary directory and ends
with ``devstack down`` (then, if that failed, SIGKILL of the supervisor's group).
Reliability cases 16, 21 and 29 of docs/reliability.md (21: the control socket stays
responsive while a probe hangs), plus each control command and flag: ps, logs,
restart, stop, start, down, a second up.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from conftest import LEAK_TAG, free_port, is_alive, program, wait_until
from devstack.cli.detach import up_into_running
from devstack.control.client import ControlClient
from devstack.paths import StatePaths
from support.stackrun import kill_group, supervisor_pid

PY = sys.executable
CLI = [PY, "-m", "devstack"]

# A service that prints a numbered line every 100 ms (stdlib only, lives in the test dir).
TICKER = '''\
"""Print "PREFIX N" every 100 ms, N counting from 1."""
import sys
import time

n = 0
while True:
    n += 1
    print(f"{sys.argv[1]} {n}", flush=True)
    time.sleep(0.1)
'''

# A tiny HTTP server the "broken code" test overwrites with a syntax error.
APP = '''\
"""Answer 200 on 127.0.0.1:PORT."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\\n")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def run(name: str, *args: object) -> str:
    """A stack.toml ``cmd`` running a test program."""
    return " ".join([PY, program(name), *map(str, args)])


def env() -> dict[str, str]:
    out = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    out.pop("FORCE_COLOR", None)
    return out


def devstack(root: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=root,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def write_stack(root: Path, toml: str) -> None:
    (root / "stack.toml").write_text(textwrap.dedent(toml))


@contextmanager
def detached(
    root: Path, *up_args: str, expect: int = 0
) -> Iterator[subprocess.CompletedProcess[str]]:
    """``devstack up -d`` (asserting its exit code), always ended by ``devstack down``."""
    up: subprocess.CompletedProcess[str] | None = None
    try:
        up = devstack(root, "up", "-d", *up_args)
        assert up.returncode == expect, up.stdout + up.stderr
        yield up
    finally:
        pid = supervisor_pid(root)
        try:
            down = devstack(root, "down", timeout=30)
            ok = down.returncode in (0, 3)
        except subprocess.TimeoutExpired:
            ok = False
        if pid is not None and (not ok or is_alive(pid)):
            kill_group(pid)


def ps_json(root: Path) -> dict[str, dict[str, object]]:
    result = devstack(root, "ps", "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["services"]}


def pid_of(root: Path, name: str) -> int:
    pid = ps_json(root)[name]["pid"]
    assert isinstance(pid, int)
    return pid


def tagged() -> list[psutil.Process]:
    """Every live process started during this test (they inherit the leak tag)."""
    tag = os.environ[LEAK_TAG]
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                proc.pid != os.getpid()
                and proc.environ().get(LEAK_TAG) == tag
                and is_alive(proc.pid)
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def listeners_on(port: int) -> list[psutil.Process]:
    """Live tagged processes holding a LISTEN socket on 127.0.0.1:``port``."""
    out = []
    for proc in tagged():
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            out.append(proc)
    return out


def two_services(root: Path, api_extra: str = "") -> tuple[int, int]:
    api, web = free_port(), free_port()
    write_stack(
        root,
        f"""
        [services.api]
        cmd = "{run("listener", api, api_extra).strip()}"
        port = {api}
        health.http = "/"
        [services.web]
        cmd = "{run("listener", web)}"
        port = {web}
        health.http = "/"
        depends_on = {{ api = "healthy" }}
        """,
    )
    return api, web


def says_no_stack(root: Path, stderr: str) -> bool:
    """devstack's error screen: the message, then the fix as a hint line."""
    return (
        f"no stack is running in {root}\n" in stderr
        and "hint: start one with: devstack up" in stderr
    )


# --- up -d --------------------------------------------------------------------------------


def test_up_detached_returns_0_with_a_summary_and_the_supervisor_keeps_running(
    tmp_path: Path,
) -> None:
    two_services(tmp_path)
    with detached(tmp_path) as up:
        pid = supervisor_pid(tmp_path)
        assert pid is not None and is_alive(pid)
        assert f"supervisor pid {pid}" in up.stdout
        assert re.search(r"^\s+api: healthy pid \d+ http://127\.0\.0\.1:\d+", up.stdout, re.M)
        assert re.search(r"^\s+web: healthy pid \d+", up.stdout, re.M)
        log = tmp_path / ".devstack" / "supervisor.log"
        wait_until(lambda: re.search(r"web\s+\* \[healthy\]", log.read_text()))
        assert ps_json(tmp_path)["web"]["state"] == "healthy"


def test_check_beside_the_running_stack_passes_the_ports_its_services_hold(
    tmp_path: Path,
) -> None:
    """Field trial: `devstack check` while the stack runs failed every service's port."""
    api, web = two_services(tmp_path)
    with detached(tmp_path):
        ran = devstack(tmp_path, "check")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"port {api} on 127.0.0.1 is served by api itself" in ran.stdout
    assert f"port {web} on 127.0.0.1 is served by web itself" in ran.stdout


def test_up_detached_returns_1_and_names_the_failed_service(tmp_path: Path) -> None:
    ok, bad = free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.fine]
        cmd = "{run("listener", ok)}"
        port = {ok}
        [services.broken]
        cmd = "{run("crasher", "--code", 1)}"
        port = {bad}
        restart = "no"
        """,
    )
    with detached(tmp_path, expect=1) as up:
        assert re.search(r"^\s+broken: failed", up.stdout, re.M), up.stdout
        assert re.search(r"^\s+fine: (healthy|running)", up.stdout, re.M), up.stdout
        pid = supervisor_pid(tmp_path)
        assert pid is not None and is_alive(pid)  # a failed service does not end the stack


def test_failed_up_detached_prints_only_this_runs_last_lines(tmp_path: Path) -> None:
    """Issue 13, point 7: supervisor.log keeps every run; the failure shows this run's."""
    port = free_port()
    healthy = run("listener", port)
    toml = f"""
        [services.api]
        cmd = "{healthy}"
        port = {port}
        health.http = "/"
        restart = "no"
        """
    write_stack(tmp_path, toml)
    with detached(tmp_path):
        pass  # the first run: healthy, then down
    log = (tmp_path / ".devstack" / "supervisor.log").read_text()
    assert "[healthy]" in log and "[stopped]" in log
    write_stack(tmp_path, toml.replace(healthy, run("crasher", "--code", 3)))
    with detached(tmp_path, expect=1) as up:
        assert "the supervisor exited (1); last lines of" in up.stdout, up.stdout
        block = up.stdout.split("last lines of", 1)[1]
        assert "[failed] exit 3 (restart = no)" in block, block
        assert "[healthy]" not in block and "[stopped]" not in block, block
        assert block.count("[start]") == 1, block


def test_second_up_reports_the_running_stack_and_up_svc_starts_a_stopped_service(
    tmp_path: Path,
) -> None:
    two_services(tmp_path)
    with detached(tmp_path):
        pid = supervisor_pid(tmp_path)
        again = devstack(tmp_path, "up")
        assert again.returncode == 0, again.stderr
        assert re.search(rf"already running \(pid {pid}, since \d{{4}}-\d\d-\d\d ", again.stdout)
        supervisors = [p for p in tagged() if "--no-color" in p.cmdline() and "up" in p.cmdline()]
        assert [p.pid for p in supervisors] == [pid]
        assert supervisor_pid(tmp_path) == pid

        assert devstack(tmp_path, "stop", "web").returncode == 0
        assert ps_json(tmp_path)["web"]["pid"] is None
        started = devstack(tmp_path, "up", "web")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "web: ok" in started.stdout
        row = ps_json(tmp_path)["web"]
        assert row["state"] == "healthy" and isinstance(row["pid"], int)
        assert supervisor_pid(tmp_path) == pid


# --- up SVC / start SVC next to a running stack (issue 13, point 6) ---------------------------


def listener_services(root: Path, *names: str, **needs: str) -> None:
    """One http-probed listener per name; ``needs``: name -> the service it needs healthy."""
    services = []
    for name in names:
        port = free_port()
        need = f'depends_on = {{ {needs[name]} = "healthy" }}' if name in needs else ""
        services.append(
            f"""
        [services.{name}]
        cmd = "{run("listener", port)}"
        port = {port}
        health.http = "/"
        {need}
        """
        )
    write_stack(root, "".join(services))


def test_services_not_requested_by_up_start_later_by_start_and_by_up(tmp_path: Path) -> None:
    listener_services(tmp_path, "one", "two", "three")
    with detached(tmp_path, "one") as up:
        assert re.search(r"^\s+one: healthy pid \d+", up.stdout, re.M), up.stdout
        rows = ps_json(tmp_path)
        assert list(rows) == ["one", "two", "three"]  # the whole stack, in ps too
        for name in ("two", "three"):
            assert rows[name]["state"] == "stopped" and rows[name]["pid"] is None
            assert str(rows[name]["reason"]).startswith("not requested"), rows[name]
        assert re.search(r"^two\s+stopped\s+-", devstack(tmp_path, "ps").stdout, re.M)

        started = devstack(tmp_path, "start", "two")
        assert started.returncode == 0, started.stdout + started.stderr
        assert re.search(r"^two\s+ok\s+[\d.]+s\s+healthy$", started.stdout, re.M), started.stdout
        assert ps_json(tmp_path)["two"]["state"] == "healthy"

        up_three = devstack(tmp_path, "up", "three")
        assert up_three.returncode == 0, up_three.stdout + up_three.stderr
        assert "three: ok in " in up_three.stdout and "healthy" in up_three.stdout
        rows = ps_json(tmp_path)
        assert all(rows[n]["state"] == "healthy" for n in rows), rows
        assert len({rows[n]["pid"] for n in rows}) == 3

        again = devstack(tmp_path, "up", "three")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout, again.stdout
        assert ps_json(tmp_path)["three"]["pid"] == rows["three"]["pid"]

        pids = [pid_of(tmp_path, n) for n in rows]
    assert not any(is_alive(pid) for pid in pids)  # down stopped what ran


def test_up_without_names_starts_what_was_not_requested(tmp_path: Path) -> None:
    listener_services(tmp_path, "one", "two")
    with detached(tmp_path, "one"):
        up = devstack(tmp_path, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "two: ok in " in up.stdout, up.stdout
        assert ps_json(tmp_path)["two"]["state"] == "healthy"
        again = devstack(tmp_path, "up")
        assert "already running" in again.stdout, again.stdout


def test_up_next_to_a_running_stack_prints_only_the_outcomes_of_its_starts(
    tmp_path: Path,
) -> None:
    """Field trial: `up next` / `up` next to a running stack printed states of services
    it did not start before the outcome of those it did."""
    listener_services(tmp_path, "one", "two", "three")
    with detached(tmp_path, "one"):
        up = devstack(tmp_path, "up", "one", "two")
        assert up.returncode == 0, up.stdout + up.stderr
        assert re.fullmatch(r"two: ok in [\d.]+s: healthy\n", up.stdout), up.stdout
        rest = devstack(tmp_path, "up")
        assert rest.returncode == 0, rest.stdout + rest.stderr
        assert re.fullmatch(r"three: ok in [\d.]+s: healthy\n", rest.stdout), rest.stdout


def test_start_brings_along_what_the_service_depends_on_in_order(tmp_path: Path) -> None:
    listener_services(tmp_path, "db", "api", "web", "side", api="db", web="api")
    with detached(tmp_path, "side"):
        assert ps_json(tmp_path)["db"]["state"] == "stopped"
        started = devstack(tmp_path, "up", "web")
        assert started.returncode == 0, started.stdout + started.stderr
        names = [line.split(":")[0] for line in started.stdout.splitlines() if ": ok in " in line]
        assert names == ["db", "api", "web"], started.stdout
        rows = ps_json(tmp_path)
        assert [rows[n]["state"] for n in ("db", "api", "web")] == ["healthy"] * 3
        logs = devstack(tmp_path, "logs", "--no-color").stdout
        steps = [("db", "healthy"), ("api", "start"), ("api", "healthy"), ("web", "start")]
        order = [re.search(rf"^{n}\s+\* \[{what}\]", logs, re.M) for n, what in steps]
        assert all(order), logs
        assert [m.start() for m in order if m] == sorted(m.start() for m in order if m), logs


def test_up_svc_waits_for_a_slow_start_whatever_its_connection_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Field trial: `up SVC` next to a running stack died with `TimeoutError: timed out`
    after its connection's 30 s while SVC was still within its start_period (`start SVC`
    waited). Here the connection's timeout is shorter than the start, as 30 s is shorter
    than a 60 s start_period: the reply of a start is waited for all the same."""
    fast, slow = free_port(), free_port()
    write_stack(
        tmp_path,
        f"""
        [services.fast]
        cmd = "{run("listener", fast)}"
        port = {fast}
        [services.slow]
        cmd = "{run("listener", slow, "--delay-ms", 2000)}"
        port = {slow}
        health.http = "/"
        """,
    )
    with detached(tmp_path, "fast"):
        layout = StatePaths.of_file(tmp_path / "stack.toml")
        client = ControlClient.connect(layout, timeout=0.5)  # as cmd_up's connect_running
        assert up_into_running(client, tmp_path, ["slow"]) == 0
        out = capsys.readouterr().out
        assert re.fullmatch(r"slow: ok in [2-9]\.\d\ds: healthy\n", out), out
        assert ps_json(tmp_path)["slow"]["state"] == "healthy"


def test_a_one_shot_others_wait_for_is_reported_once_it_exited(tmp_path: Path) -> None:
    """Field trial: `up worker` (worker needs `release = "completed"`) printed `release: ok
    in 0.00s: running` although the migration ran 3 s; `restart release` said `running`.
    A service another waits for as `completed` has its exit as the outcome."""
    web = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{run("listener", web)}"
        port = {web}
        [services.release]
        cmd = "{run("crasher", "--after", 1.5, "--code", 0)}"
        restart = "no"
        [services.worker]
        cmd = "{run("sleeper")}"
        depends_on = {{ release = "completed" }}
        [services.broken]
        cmd = "{run("crasher", "--after", 0.5, "--code", 3)}"
        restart = "no"
        [services.after_broken]
        cmd = "{run("sleeper")}"
        depends_on = {{ broken = "completed" }}
        """,
    )
    with detached(tmp_path, "web"):
        up = devstack(tmp_path, "up", "worker")
        assert up.returncode == 0, up.stdout + up.stderr
        released = re.fullmatch(
            r"release: ok in ([\d.]+)s: completed \(exit 0\)\nworker: ok in [\d.]+s: running\n",
            up.stdout,
        )
        assert released and float(released[1]) >= 1.5, up.stdout  # the migration's run

        again = devstack(tmp_path, "restart", "release")
        assert again.returncode == 0, again.stdout + again.stderr
        rerun = re.fullmatch(r"release\s+ok\s+([\d.]+)s\s+completed \(exit 0\)\n", again.stdout)
        assert rerun and float(rerun[1]) >= 1.5, again.stdout

        broken = devstack(tmp_path, "start", "broken")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert re.search(r"^broken\s+failed\s+[\d.]+s\s+failed: exit 3\b", broken.stdout, re.M)


def test_start_of_an_unknown_service_names_the_services(tmp_path: Path) -> None:
    listener_services(tmp_path, "one", "two")
    with detached(tmp_path, "one"):
        for verb in ("start", "up"):
            bad = devstack(tmp_path, verb, "zzz")
            assert bad.returncode == 2, bad.stdout + bad.stderr
            assert "no service named 'zzz'" in bad.stderr
            assert "services: one, two" in bad.stderr, bad.stderr


# --- ps -----------------------------------------------------------------------------------


def three_services(root: Path) -> int:
    db, api, web = free_port(), free_port(), free_port()
    (root / "api.env").write_text("GREETING=first\n")
    write_stack(
        root,
        f"""
        [services.db]
        cmd = "{run("listener", db)}"
        port = {db}
        [services.api]
        cmd = "{run("listener", api)}"
        port = {api}
        health.http = "/"
        env_file = "api.env"
        depends_on = {{ db = "healthy" }}
        [services.web]
        cmd = "{run("listener", web)}"
        port = {web}
        health.http = "/"
        depends_on = {{ api = "healthy" }}
        """,
    )
    return int(api)


def test_ps_table_and_json_fields_and_restart_needed_after_an_env_edit(tmp_path: Path) -> None:
    api = three_services(tmp_path)
    with detached(tmp_path):
        table = devstack(tmp_path, "ps")
        assert table.returncode == 0, table.stderr
        head, *rows = table.stdout.splitlines()
        assert head.split() == [
            "SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "URL", "CPU%", "RSS"
        ]  # fmt: skip
        assert [r.split()[0] for r in rows] == ["db", "api", "web"]
        assert re.search(
            rf"^api\s+healthy( \(restart needed\))?\s+\d+\s+\d+s\s+0\s+ok \d+ms\s+{api}"
            rf"\s+http://127\.0\.0\.1:{api}\s+\d+\.\d\s+\d+\.\d MiB$",
            table.stdout,
            re.M,
        ), table.stdout

        doc = json.loads(devstack(tmp_path, "ps", "--json").stdout)
        assert doc["v"] == 1 and doc["stack"]["pid"] == supervisor_pid(tmp_path)
        assert doc["stack"]["root"] == str(tmp_path)
        for row in doc["services"]:
            assert {
                "name", "state", "pid", "uptime", "restarts", "health", "port", "url",
                "cpu_percent", "rss", "restart_needed",
            } <= row.keys()  # fmt: skip
            assert row["state"] == "healthy" and is_alive(row["pid"])
            assert isinstance(row["uptime"], int | float) and row["restarts"] == 0
            assert row["health"]["ok"] is True and isinstance(row["health"]["latency"], float)
            assert isinstance(row["cpu_percent"], int | float)
            assert isinstance(row["rss"], int) and row["rss"] > 0
            assert isinstance(row["restart_needed"], bool)
        rows_by_name = {r["name"]: r for r in doc["services"]}
        assert rows_by_name["api"]["port"] == api
        assert rows_by_name["api"]["url"] == f"http://127.0.0.1:{api}"

        (tmp_path / "api.env").write_text("GREETING=second\n")
        wait_until(lambda: ps_json(tmp_path)["api"]["restart_needed"] is True, timeout=10)
        shown = devstack(tmp_path, "ps").stdout
        assert re.search(r"^api\s+healthy \(restart needed\)", shown, re.M), shown
        restarted = devstack(tmp_path, "restart", "api")
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert ps_json(tmp_path)["api"]["restart_needed"] is False
        pid = pid_of(tmp_path, "api")
        assert psutil.Process(pid).environ()["GREETING"] == "second"


def test_restart_needed_is_false_until_an_input_file_changes(tmp_path: Path) -> None:
    three_services(tmp_path)
    with detached(tmp_path):
        rows = ps_json(tmp_path)
        assert [r["restart_needed"] for r in rows.values()] == [False, False, False]
        assert "restart needed" not in devstack(tmp_path, "ps").stdout
        (tmp_path / "api.env").write_text("GREETING=second\n")
        wait_until(lambda: ps_json(tmp_path)["api"]["restart_needed"] is True, timeout=10)
        assert ps_json(tmp_path)["web"]["restart_needed"] is False  # web does not read api.env


# --- logs ---------------------------------------------------------------------------------


def ticker_stack(root: Path) -> None:
    (root / "ticker.py").write_text(TICKER)
    write_stack(
        root,
        f"""
        [services.tick]
        cmd = "{PY} ticker.py T"
        [services.tock]
        cmd = "{PY} ticker.py K"
        """,
    )


def numbers(text: str, word: str) -> list[int]:
    return [int(n) for n in re.findall(rf"\| {word} (\d+)$", text, re.M)]


def test_logs_tail_all_merged_since_timestamps_and_no_color(tmp_path: Path) -> None:
    ticker_stack(tmp_path)
    with detached(tmp_path):
        wait_until(
            lambda: max(numbers(devstack(tmp_path, "logs", "tick").stdout, "T") or [0]) >= 20
        )

        tail = devstack(tmp_path, "logs", "tick", "-n", "5")
        assert tail.returncode == 0, tail.stderr
        lines = tail.stdout.splitlines()
        assert len(lines) == 5 and all(ln.startswith("tick      | T ") for ln in lines)
        got = numbers(tail.stdout, "T")
        assert got == list(range(got[0], got[0] + 5))

        merged = devstack(tmp_path, "logs", "--timestamps", "--no-color").stdout
        assert "\x1b[" not in merged
        stamps = re.findall(
            r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (tick|tock)\s+[|*] ", merged, re.M
        )
        assert len(stamps) == len(merged.splitlines())
        assert {s for _, s in stamps} == {"tick", "tock"}
        assert [t for t, _ in stamps] == sorted(t for t, _ in stamps)  # merged in time order
        assert numbers(merged, "T")[:3] == [1, 2, 3] and numbers(merged, "K")[:3] == [1, 2, 3]
        assert not re.search(r"^tick\s+\| K ", devstack(tmp_path, "logs").stdout, re.M)

        recent = devstack(tmp_path, "logs", "tick", "--since", "1s").stdout
        assert recent and 1 not in numbers(recent, "T")
        assert 1 in numbers(devstack(tmp_path, "logs", "tick", "--since", "10m").stdout, "T")


def test_logs_follow_gets_live_lines_without_duplicating_history(tmp_path: Path) -> None:
    ticker_stack(tmp_path)
    with detached(tmp_path):
        wait_until(lambda: numbers(devstack(tmp_path, "logs", "tick").stdout, "T"))
        follower = subprocess.Popen(
            [*CLI, "logs", "tick", "-f", "-n", "3"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                lines.put(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        seen: list[int] = []
        try:
            deadline = time.monotonic() + 15
            while len(seen) < 15 and time.monotonic() < deadline:
                try:
                    seen += numbers(lines.get(timeout=0.5), "T")
                except queue.Empty:
                    continue
        finally:
            follower.kill()
            follower.wait(timeout=10)
            reader.join(timeout=10)
            assert follower.stdout is not None
            follower.stdout.close()
        assert len(seen) >= 15, seen  # 3 history lines and at least 12 live ones
        assert seen == list(range(seen[0], seen[0] + len(seen)))  # no gap, no duplicate


# --- restart / stop / start ---------------------------------------------------------------


def test_restart_gives_a_new_pid_and_leaves_the_dependent_alone_unless_asked(
    tmp_path: Path,
) -> None:
    two_services(tmp_path)
    with detached(tmp_path):
        api, web = pid_of(tmp_path, "api"), pid_of(tmp_path, "web")
        result = devstack(tmp_path, "restart", "api")
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"^api\s+ok\s+\d+\.\d\ds", result.stdout, re.M), result.stdout
        new_api = pid_of(tmp_path, "api")
        assert new_api != api and not is_alive(api)
        assert pid_of(tmp_path, "web") == web and is_alive(web)

        both = devstack(tmp_path, "restart", "api", "--with-dependents")
        assert both.returncode == 0, both.stdout + both.stderr
        assert re.search(r"^web\s+ok\s+\d+\.\d\ds", both.stdout, re.M), both.stdout
        rows = ps_json(tmp_path)
        assert rows["api"]["pid"] not in (api, new_api) and rows["web"]["pid"] != web
        assert rows["api"]["state"] == rows["web"]["state"] == "healthy"


def test_restart_of_broken_code_keeps_the_old_process_serving(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    write_stack(
        tmp_path,
        f"""
        [services.app]
        cmd = "{PY} app.py {port}"
        port = {port}
        health.http = "/"
        """,
    )
    with detached(tmp_path):
        pid = pid_of(tmp_path, "app")
        (tmp_path / "app.py").write_text("def broken(:\n")
        result = devstack(tmp_path, "restart", "app")
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(r"^app\s+failed", result.stdout, re.M), result.stdout
        assert "app.py" in result.stdout  # the failure is shown
        assert is_alive(pid) and pid_of(tmp_path, "app") == pid
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            assert reply.status == 200
        assert ps_json(tmp_path)["app"]["state"] == "healthy"


def test_stop_then_start_a_service(tmp_path: Path) -> None:
    two_services(tmp_path)
    with detached(tmp_path):
        web = pid_of(tmp_path, "web")
        stopped = devstack(tmp_path, "stop", "web")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not is_alive(web)
        row = ps_json(tmp_path)["web"]
        assert row["state"] == "stopped" and row["pid"] is None
        assert re.search(r"^web\s+stopped\s+-", devstack(tmp_path, "ps").stdout, re.M)
        started = devstack(tmp_path, "start", "web")
        assert started.returncode == 0, started.stdout + started.stderr
        row = ps_json(tmp_path)["web"]
        assert row["state"] == "healthy" and isinstance(row["pid"], int) and row["pid"] != web


# --- down ---------------------------------------------------------------------------------


def test_down_returns_only_when_every_process_including_grandchildren_is_gone(
    tmp_path: Path,
) -> None:
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{run("listener", port, "--grandchild", "setsid")}"
        port = {port}
        """,
    )
    up = devstack(tmp_path, "up", "-d")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        log = tmp_path / ".devstack" / "supervisor.log"
        output = tmp_path / ".devstack" / "logs" / "api.log"  # not in supervisor.log
        found = wait_until(lambda: re.search(r"grandchild (\d+)", output.read_text()))
        assert isinstance(found, re.Match)
        grandchild = int(found.group(1))
        assert is_alive(grandchild)
        before = tagged()
        assert grandchild in {p.pid for p in before}
        sup = supervisor_pid(tmp_path)
        assert sup is not None
        down = devstack(tmp_path, "down", timeout=30)
        assert down.returncode == 0, down.stdout + down.stderr
        survivors = [p for p in before if is_alive(p.pid)]
        assert not survivors, [(p.pid, p.cmdline()) for p in survivors]
        # The supervisor ends cleanly: closing the socket under the down request is no error.
        wait_until(lambda: not is_alive(sup), timeout=10)
        text = log.read_text()
        assert "Traceback" not in text and "Exception in callback" not in text, text
    finally:
        pid = supervisor_pid(tmp_path)
        if pid is not None and is_alive(pid):
            kill_group(pid)
    ps = devstack(tmp_path, "ps")
    assert ps.returncode == 3
    assert says_no_stack(tmp_path, ps.stderr), ps.stderr


# --- concurrency (reliability case 16) -----------------------------------------------------


def test_twenty_ps_during_a_restart_are_all_answered(tmp_path: Path) -> None:
    api, _ = two_services(tmp_path, api_extra="--delay-ms 800")
    with detached(tmp_path):
        with ThreadPoolExecutor(max_workers=21) as pool:
            restart = pool.submit(devstack, tmp_path, "restart", "api")
            wait_until(lambda: ps_json(tmp_path)["api"]["state"] != "healthy", timeout=10)
            answers = [pool.submit(devstack, tmp_path, "ps") for _ in range(20)]
            results = [f.result() for f in answers]
            restarted = restart.result()
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        for r in results:
            assert r.returncode == 0, r.stderr
            assert re.search(r"^api\s+\S+", r.stdout, re.M)
        assert len(listeners_on(api)) == 1


def test_twenty_concurrent_restarts_leave_exactly_one_api(tmp_path: Path) -> None:
    """Reliability case 16 (process-compose #530): every client gets a reply, one api remains."""
    api, _ = two_services(tmp_path)
    with detached(tmp_path):
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda _: devstack(tmp_path, "restart", "api"), range(20)))
        for r in results:
            assert r.returncode == 0, r.stdout + r.stderr
            assert re.search(r"^api\s+ok", r.stdout, re.M), r.stdout
        wait_until(lambda: ps_json(tmp_path)["api"]["state"] == "healthy")
        procs = listeners_on(api)
        assert len(procs) == 1, [(p.pid, p.cmdline()) for p in procs]
        assert procs[0].pid == pid_of(tmp_path, "api")


# --- reliability case 21: a hanging probe does not hold up the control socket --------------


def test_ps_answers_while_a_health_endpoint_hangs(tmp_path: Path) -> None:
    hang = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.hang]
        cmd = "{run("hang_http", hang)}"
        port = {hang}
        health.http = "/health"
        health.timeout = "300ms"
        health.start_period = "60s"
        """,
    )
    # up -d waits for an outcome, which the 60 s start period withholds: run it aside.
    up = subprocess.Popen(
        [*CLI, "up", "-d"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: (tmp_path / ".devstack" / "devstack.sock").exists(), timeout=20)
        wait_until(lambda: ps_json(tmp_path)["hang"]["health"] is not None, timeout=10)
        for _ in range(5):
            ps = devstack(tmp_path, "ps", "--json", timeout=5)  # bounded: a hung server fails it
            assert ps.returncode == 0, ps.stderr
            row = json.loads(ps.stdout)["services"][0]
            assert row["state"] == "starting"
            assert row["health"]["ok"] is False and "timed out" in row["health"]["detail"]
    finally:
        pid = supervisor_pid(tmp_path)
        try:
            devstack(tmp_path, "down", timeout=30)
        finally:
            if pid is not None and is_alive(pid):
                kill_group(pid)
            try:
                up.wait(timeout=15)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(timeout=5)


# --- reliability case 29: the supervisor SIGKILLed ------------------------------------------


def test_sigkilled_supervisor_leaves_no_service_and_up_replaces_the_stale_files(
    tmp_path: Path,
) -> None:
    api, web = two_services(tmp_path, api_extra="--grandchild setsid")
    with detached(tmp_path):
        old = supervisor_pid(tmp_path)
        assert old is not None
        services = [pid_of(tmp_path, "api"), pid_of(tmp_path, "web")]
        descendants = [p for p in tagged() if p.pid != old]
        assert len(descendants) >= 3  # two services, a grandchild (and the guardian)
        os.kill(old, signal.SIGKILL)
        # The guardian sees its pipe from the supervisor close and kills the recorded groups.
        wait_until(lambda: not any(is_alive(p.pid) for p in descendants), timeout=2.0)
        assert not any(is_alive(p) for p in services)
        dot = tmp_path / ".devstack"
        assert (dot / "supervisor.pid").exists() or (dot / "devstack.sock").exists()

        ps = devstack(tmp_path, "ps")
        assert ps.returncode == 3, ps.stdout + ps.stderr
        assert says_no_stack(tmp_path, ps.stderr), ps.stderr

        again = devstack(tmp_path, "up", "-d")
        assert again.returncode == 0, again.stdout + again.stderr
        new = supervisor_pid(tmp_path)
        assert new is not None and new != old and is_alive(new)
        assert ps_json(tmp_path)["api"]["state"] == "healthy"
        assert len(listeners_on(api)) == 1 and len(listeners_on(web)) == 1


# --- no stack running ---------------------------------------------------------------------


def test_without_a_stack_commands_exit_3_and_logs_reads_the_previous_run(tmp_path: Path) -> None:
    ticker_stack(tmp_path)
    with detached(tmp_path):
        wait_until(lambda: len(numbers(devstack(tmp_path, "logs", "tick").stdout, "T")) >= 3)
    for cmd in (["ps"], ["restart"], ["stop", "x"], ["start", "x"], ["down"]):
        result = devstack(tmp_path, *cmd)
        assert result.returncode == 3, (cmd, result.stdout, result.stderr)
        assert says_no_stack(tmp_path, result.stderr), (cmd, result.stderr)
    logs = devstack(tmp_path, "logs", "tick")
    assert logs.returncode == 0, logs.stderr
    got = numbers(logs.stdout, "T")
    assert got[:3] == [1, 2, 3] and got == list(range(1, len(got) + 1))
    assert numbers(devstack(tmp_path, "logs").stdout, "K")[:3] == [1, 2, 3]
