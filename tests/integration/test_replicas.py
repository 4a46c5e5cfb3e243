"""Replicas end to end (issue 16, point 4): the real CLI, a real detached supervisor and
real listeners. ``replicas = 3`` runs three listeners on three ports, each healthy on its
own probe; a dependent starts once every copy is healthy; ``ps`` lists each copy; a
killed copy is restarted alone; ``restart worker.2`` replaces one pid, ``restart worker``
all of them with one run of the checks; ``logs worker`` is every copy, ``logs worker.2``
one; ``scale`` adds copies (checked, healthy) and removes them (gone, no orphan), and
refuses a count whose port is taken, naming the holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from conftest import is_alive, program, wait_until
from support.stackrun import (
    RunningStack,
    devstack_env,
    downed_at_end,
    run_devstack,
    write_stack,
)


def free_range(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count + 1 > 65535:
            continue
        with ExitStack() as held:
            try:
                for port in range(base, base + count + 1):  # one spare: scale tests
                    s = held.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise AssertionError("no free port range")


def stack(root: Path, base: int, *, count: int = 3, dependent: bool = True) -> None:
    """``count`` listeners from port ``base``; with a ``dependent``, copy K listens after
    K x 100 ms (``${replica}`` in the command: then each copy's checks are its own)."""
    checks = root / "checks.txt"
    delay = " --delay-ms ${replica}00" if dependent else ""
    text = f"""
        [services.worker]
        cmd = "{sys.executable} {program("listener")} ${{port}}{delay}"
        port = {base}
        replicas = {count}
        health.http = "/ping/${{replica}}"
        health.interval = "200ms"
        backoff = "100ms"
        check.cmd = ["/bin/sh -c 'echo checked >> {checks}'"]
        """
    if dependent:
        ports = " ".join(str(base + k) for k in range(count))
        text += f"""
        [services.web]
        cmd = "{sys.executable} {program("reachall")} {ports}"
        depends_on = {{ worker = "healthy" }}
        """
    write_stack(root, text)


@contextmanager
def detached(root: Path) -> Iterator[None]:
    with downed_at_end(root):
        up = run_devstack(root, "up", "-d", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        yield


def ps(root: Path) -> dict[str, dict[str, object]]:
    result = run_devstack(root, "ps", "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["services"]}


def pids(root: Path) -> dict[str, object]:
    return {name: row["pid"] for name, row in ps(root).items()}


@contextmanager
def follow(root: Path, *names: str) -> Iterator[Path]:
    """``devstack logs -f NAMES`` in the background, its output in a file."""
    out = root / "followed.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "logs", "-f", *names],
            cwd=root,
            env=devstack_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            yield out
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def checks_run(root: Path) -> int:
    return len((root / "checks.txt").read_text().splitlines())


def test_each_copy_listens_on_its_port_is_healthy_and_the_dependent_waits_for_all(
    tmp_path: Path,
) -> None:
    base = free_range(3)
    stack(tmp_path, base)
    with detached(tmp_path):
        rows = ps(tmp_path)
        assert list(rows) == ["worker.1", "worker.2", "worker.3", "web"]
        for k in (1, 2, 3):
            row = rows[f"worker.{k}"]
            assert row["state"] == "healthy", row
            assert row["port"] == base + k - 1
            assert (row["replica_of"], row["replica"]) == ("worker", k)
            assert isinstance(row["pid"], int) and is_alive(row["pid"])
            assert listening(base + k - 1)
        # ${replica} in the command: each copy has a value of its own, and its own checks.
        assert checks_run(tmp_path) == 3
        # web started once worker.3 (the slowest: it listens after 300 ms) was healthy.
        web = run_devstack(tmp_path, "logs", "web").stdout
        assert "reached 3 of 3" in web, web

        table = run_devstack(tmp_path, "ps").stdout
        for k in (1, 2, 3):
            assert f"worker.{k}  healthy" in table, table

        every = run_devstack(tmp_path, "logs", "worker").stdout
        assert all(f"worker.{k}  " in every for k in (1, 2, 3)), every
        one = run_devstack(tmp_path, "logs", "worker.2").stdout
        assert f"listening on {base + 1}" in one
        assert "worker.1" not in one and "worker.3" not in one, one
        assert (tmp_path / ".devstack" / "logs" / "worker.2.log").is_file()


def test_a_killed_copy_is_restarted_alone(tmp_path: Path) -> None:
    base = free_range(3)
    stack(tmp_path, base, dependent=False)
    with detached(tmp_path):
        before = pids(tmp_path)
        victim = before["worker.2"]
        assert isinstance(victim, int)
        os.kill(victim, signal.SIGKILL)

        def restarted() -> bool:
            row = ps(tmp_path)["worker.2"]
            return row["restarts"] == 1 and row["state"] == "healthy"

        wait_until(restarted, timeout=30, interval=0.2)
        after = ps(tmp_path)
        assert after["worker.2"]["pid"] != victim
        for k in (1, 3):
            assert after[f"worker.{k}"]["pid"] == before[f"worker.{k}"]
            assert after[f"worker.{k}"]["restarts"] == 0


def test_a_stopped_copy_shows_no_health(tmp_path: Path) -> None:
    # Field trial of issue 16: after `devstack stop web.2`, ps said
    # `web.2 stopped - - 0 ok 456ms`: the last probe of the process that is gone.
    base = free_range(3)
    stack(tmp_path, base, dependent=False)
    with detached(tmp_path):
        assert ps(tmp_path)["worker.2"]["health"] is not None
        done = run_devstack(tmp_path, "stop", "worker.2", timeout=60)
        assert done.returncode == 0, done.stderr
        rows = ps(tmp_path)
        assert rows["worker.2"]["state"] == "stopped"
        assert rows["worker.2"]["health"] is None
        assert rows["worker.1"]["health"] is not None
        shown = run_devstack(tmp_path, "ps")
        (line,) = [ln for ln in shown.stdout.splitlines() if ln.startswith("worker.2 ")]
        assert " ok " not in line, line


def test_restart_one_copy_or_all_with_one_run_of_the_checks(tmp_path: Path) -> None:
    base = free_range(3)
    stack(tmp_path, base, dependent=False)
    with detached(tmp_path):
        before = pids(tmp_path)
        assert checks_run(tmp_path) == 1  # up: the copies starting together, once

        one = run_devstack(tmp_path, "restart", "worker.2", timeout=60)
        assert one.returncode == 0, one.stdout + one.stderr
        after = pids(tmp_path)
        assert after["worker.2"] != before["worker.2"]
        assert after["worker.1"] == before["worker.1"]
        assert after["worker.3"] == before["worker.3"]

        checked = checks_run(tmp_path)
        every = run_devstack(tmp_path, "restart", "worker", timeout=60)
        assert every.returncode == 0, every.stdout + every.stderr
        assert [line.split()[0] for line in every.stdout.splitlines()] == [
            "worker.1",
            "worker.2",
            "worker.3",
        ]
        again = pids(tmp_path)
        assert all(again[f"worker.{k}"] != after[f"worker.{k}"] for k in (1, 2, 3))
        assert checks_run(tmp_path) == checked + 1  # once for the three copies

        stopped = run_devstack(tmp_path, "stop", "worker.3", timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        rows = ps(tmp_path)
        assert rows["worker.3"]["state"] == "stopped"
        assert rows["worker.1"]["pid"] == again["worker.1"]
        started = run_devstack(tmp_path, "start", "worker", timeout=60)
        assert started.returncode == 0, started.stdout + started.stderr
        assert ps(tmp_path)["worker.3"]["state"] == "healthy"

        # replicas lowered in the file: the copy past it is kept, and says what removes it.
        toml = tmp_path / "stack.toml"
        toml.write_text(toml.read_text().replace("replicas = 3", "replicas = 2"))
        edited = run_devstack(tmp_path, "restart", "worker", timeout=60)
        assert edited.returncode == 1, edited.stdout + edited.stderr
        assert "worker.3 is past replicas = 2 in" in edited.stdout, edited.stdout
        assert "devstack scale worker=2 removes it" in edited.stdout
        assert ps(tmp_path)["worker.3"]["restart_needed"] is True


def test_scale_up_then_down_with_real_processes(tmp_path: Path) -> None:
    base = free_range(4)
    stack(tmp_path, base, count=3)  # with web, which depends on every copy
    with detached(tmp_path), follow(tmp_path, "worker") as followed:
        before = pids(tmp_path)
        up = run_devstack(tmp_path, "scale", "worker=4", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        # logs -f worker, begun before the scale, follows the new copy too.
        wait_until(lambda: f"listening on {base + 3}" in followed.read_text(), timeout=30)
        assert up.stdout.split()[:2] == ["worker.4", "ok"], up.stdout
        rows = ps(tmp_path)
        assert list(rows) == ["worker.1", "worker.2", "worker.3", "worker.4", "web"]
        assert rows["worker.4"]["state"] == "healthy" and rows["worker.4"]["port"] == base + 3
        assert listening(base + 3)
        assert all(rows[n]["pid"] == before[n] for n in before)  # nothing else restarted
        assert rows["worker.4"]["restart_needed"] is False
        assert rows["web"]["restart_needed"] is False  # it now waits for worker.4 too

        removed = [rows[f"worker.{k}"]["pid"] for k in (4, 3)]
        down = run_devstack(tmp_path, "scale", "worker=2", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        assert [line.split()[0] for line in down.stdout.splitlines()] == ["worker.4", "worker.3"]
        rows = ps(tmp_path)
        assert list(rows) == ["worker.1", "worker.2", "web"]
        for pid in removed:
            assert isinstance(pid, int) and not is_alive(pid)
        assert not listening(base + 2) and not listening(base + 3)
        assert rows["web"]["pid"] == before["web"]

        # worker.3 again, from the checks: the stack as scaled is what restart reads.
        back = run_devstack(tmp_path, "scale", "worker=3", timeout=60)
        assert back.returncode == 0, back.stdout + back.stderr
        restart = run_devstack(tmp_path, "restart", "worker.3", timeout=60)
        assert restart.returncode == 0, restart.stdout + restart.stderr


def test_scale_to_a_taken_port_is_refused_naming_the_holder(tmp_path: Path) -> None:
    base = free_range(3)
    stack(tmp_path, base, count=2, dependent=False)
    with detached(tmp_path), socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", base + 2))
        holder.listen()
        refused = run_devstack(tmp_path, "scale", "worker=3", timeout=60)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"port {base + 2}" in refused.stdout, refused.stdout
        assert f"pid {os.getpid()}" in refused.stdout, refused.stdout
        assert list(ps(tmp_path)) == ["worker.1", "worker.2"]


def test_scale_without_a_running_stack_or_with_a_bad_pair(tmp_path: Path) -> None:
    stack(tmp_path, free_range(2), count=2, dependent=False)
    bad = run_devstack(tmp_path, "scale", "worker")
    assert bad.returncode == 2 and "'worker' is not SVC=N" in bad.stderr, bad.stderr
    none = run_devstack(tmp_path, "scale", "worker=2")
    assert none.returncode == 3, none.stdout + none.stderr


def test_scale_refusals_over_the_socket(tmp_path: Path) -> None:
    base = free_range(2)
    stack(tmp_path, base, count=2, dependent=False)
    with detached(tmp_path):
        for pair, message in [
            ("worker=0", "worker=0: a service runs 1 to 64 copies"),
            ("worker=65", "worker=65: a service runs 1 to 64 copies"),
            ("worker.1=2", "'worker.1' has no replicas"),
            ("wrker=2", "no service with replicas named 'wrker'"),
        ]:
            refused = run_devstack(tmp_path, "scale", pair)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert message in refused.stderr, refused.stderr


def test_verify_reaches_the_first_copy_and_reads_every_copys_log(tmp_path: Path) -> None:
    base = free_range(2)
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{sys.executable} {program("echo_http")} ${{port}}"
        port = {base}
        replicas = 2
        health.http = "/health"

        [[smoke]]
        name = "create"
        method = "POST"
        url = "${{services.api.url}}/api/create"
        expect_status = [200, 201]
        log_service = "api"
        log_contains = "POST /api/create"
        """,
    )
    with downed_at_end(tmp_path):
        done = run_devstack(tmp_path, "verify", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"POST http://127.0.0.1:{base}/api/create" in done.stdout, done.stdout
        assert "2/2 steps passed" in done.stdout, done.stdout


def test_the_copies_share_one_setup_step(tmp_path: Path) -> None:
    base = free_range(3)
    stack(tmp_path, base, dependent=False)
    ran = tmp_path / "setup-runs.txt"
    text = (tmp_path / "stack.toml").read_text()
    (tmp_path / "stack.toml").write_text(
        text.replace("replicas = 3", f'replicas = 3\nsetup = "echo ran >> {ran}"')
    )
    with detached(tmp_path):
        assert ran.read_text() == "ran\n"  # copy 1 ran it; 2 and 3 found it recorded
        assert all(row["state"] == "healthy" for row in ps(tmp_path).values())
    events = (tmp_path / ".devstack" / "logs" / "worker.3.log").read_text()
    assert "[setup] skipped (inputs unchanged)" in events, events


def test_a_watched_edit_restarts_every_copy(tmp_path: Path) -> None:
    base = free_range(2)
    (tmp_path / "app.py").write_text("VERSION = 1\n")
    write_stack(
        tmp_path,
        f"""
        [services.worker]
        cmd = "{sys.executable} {program("listener")} ${{port}}"
        port = {base}
        replicas = 2
        watch = ["*.py"]
        watch_debounce = "100ms"
        """,
    )
    with RunningStack(tmp_path) as running:
        for k in (1, 2):
            running.wait_for(rf"^worker\.{k} +\* \[healthy\]", timeout=60)
        running.wait_for(r"watching for changes: worker\.1, worker\.2", timeout=30)
        before = pids(tmp_path)
        (tmp_path / "app.py").write_text("VERSION = 2\n")

        def both_restarted() -> bool:
            now = ps(tmp_path)
            return all(now[n]["pid"] != before[n] and now[n]["state"] == "healthy" for n in before)

        wait_until(both_restarted, timeout=60, interval=0.3)


def test_check_checks_each_copy_on_its_own_port(tmp_path: Path) -> None:
    base = free_range(2)
    stack(tmp_path, base, count=2, dependent=False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 1))
        holder.listen()
        done = run_devstack(tmp_path, "check", "worker", "--json", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads(done.stdout)["services"]
    assert list(results) == ["worker.1", "worker.2"]
    port = {name: next(r for r in rs if r["check"] == "port") for name, rs in results.items()}
    assert port["worker.1"]["status"] == "ok"
    assert port["worker.2"]["status"] == "fail"
    assert str(base + 1) in port["worker.2"]["summary"]


def test_copies_left_out_by_the_profiles_start_together_by_the_services_name(
    tmp_path: Path,
) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{sys.executable} {program("sleeper")}"

        [services.worker]
        cmd = "{sys.executable} {program("sleeper")}"
        replicas = 2
        profiles = ["w"]
        """,
    )
    with detached(tmp_path):
        rows = ps(tmp_path)
        assert [rows[f"worker.{k}"]["state"] for k in (1, 2)] == ["stopped", "stopped"]
        assert (
            rows["worker.2"]["reason"]
            == "not requested (profile w; devstack start worker starts it)"
        )
        started = run_devstack(tmp_path, "start", "worker", timeout=60)
        assert started.returncode == 0, started.stdout + started.stderr
        rows = ps(tmp_path)
        assert [rows[f"worker.{k}"]["state"] for k in (1, 2)] == ["running", "running"]


def test_exec_runs_as_a_copy_even_one_scale_added(tmp_path: Path) -> None:
    # Issue 16, point 5: `exec worker` is the first copy, `exec worker.2` that copy; before,
    # `exec worker.3` after `scale worker=3` said "no service named 'worker.3'".
    base = free_range(3)
    stack(tmp_path, base, count=2, dependent=False)
    show = ["--", sys.executable, "-c", "import os; print(os.environ['PORT'])"]
    assert run_devstack(tmp_path, "exec", "worker", *show).stdout.strip() == str(base)
    assert run_devstack(tmp_path, "exec", "worker.2", *show).stdout.strip() == str(base + 1)
    unknown = run_devstack(tmp_path, "exec", "worker.3", *show)
    assert unknown.returncode == 2 and "no service named 'worker.3'" in unknown.stderr
    with detached(tmp_path):
        up = run_devstack(tmp_path, "scale", "worker=3", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        third = run_devstack(tmp_path, "exec", "worker.3", *show)
        assert third.returncode == 0, third.stderr
        assert third.stdout.strip() == str(base + 2)
