"""Profiles end to end (issue 16, point 1): the real CLI, a real detached supervisor
and real sleeping processes. `up -d --profile worker` and DEVSTACK_PROFILES start the
services without profiles and those of the active ones; the rest is held, stopped
"not requested (profile X)", startable by name; a dependency no active profile
enables stops `up` before anything starts (exit 2), naming the profile."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from conftest import free_port, is_alive, program
from support.profilestack import profile_stack
from support.stackrun import kill_group, run_devstack, supervisor_pid, write_stack


def sleeper() -> str:
    return f"{sys.executable} {program('sleeper')}"


def stack(root: Path) -> None:
    write_stack(root, profile_stack(sleeper()))


@contextmanager
def detached(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.CompletedProcess[str]]:
    """``devstack up -d ARGS``, always ended by ``devstack down`` (then SIGKILL)."""
    try:
        up = run_devstack(root, "up", "-d", *args, env=env, timeout=90)
        assert up.returncode == 0, up.stdout + up.stderr
        yield up
    finally:
        pid = supervisor_pid(root)
        try:
            ok = run_devstack(root, "down", timeout=60).returncode in (0, 3)
        except subprocess.TimeoutExpired:
            ok = False
        if pid is not None and (not ok or is_alive(pid)):
            kill_group(pid)


def ps(root: Path) -> tuple[dict[str, object], dict[str, dict[str, object]]]:
    result = run_devstack(root, "ps", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return data["stack"], {row["name"]: row for row in data["services"]}


def running(rows: dict[str, dict[str, object]]) -> list[str]:
    """The services with a live process of their own."""
    out = []
    for name, row in rows.items():
        pid = row["pid"]
        if row["state"] == "running" and isinstance(pid, int) and psutil.pid_exists(pid):
            out.append(name)
    return out


def test_up_profile_worker_starts_the_default_services_and_the_workers(tmp_path: Path) -> None:
    stack(tmp_path)
    with detached(tmp_path, "--profile", "worker"):
        status, rows = ps(tmp_path)
        assert status["profiles"] == ["worker"]
        assert running(rows) == ["api", "worker"]
        assert rows["docs"]["state"] == "stopped" and rows["docs"]["pid"] is None
        assert rows["docs"]["reason"] == (
            "not requested (profile docs; devstack start docs starts it)"
        )
        assert rows["flower"]["profiles"] == ["monitor"]
        table = run_devstack(tmp_path, "ps").stdout
        assert "profiles: worker" in table, table

        started = run_devstack(tmp_path, "start", "docs", timeout=60)
        assert started.returncode == 0, started.stdout + started.stderr
        assert running(ps(tmp_path)[1]) == ["api", "worker", "docs"]


def test_devstack_profiles_enables_several_and_no_profile_starts_only_the_rest(
    tmp_path: Path,
) -> None:
    stack(tmp_path)
    with detached(tmp_path, env={"DEVSTACK_PROFILES": "worker,monitor"}):
        status, rows = ps(tmp_path)
        assert status["profiles"] == ["worker", "monitor"]
        assert running(rows) == ["api", "worker", "flower"]
    with detached(tmp_path):
        status, rows = ps(tmp_path)
        assert status["profiles"] == []
        assert running(rows) == ["api"]


def test_up_profile_next_to_a_running_stack_starts_what_the_profile_adds(tmp_path: Path) -> None:
    stack(tmp_path)
    with detached(tmp_path):
        assert running(ps(tmp_path)[1]) == ["api"]
        again = run_devstack(tmp_path, "up", timeout=60)  # nothing new: docs stays out
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout
        more = run_devstack(tmp_path, "up", "--profile", "worker", timeout=60)
        assert more.returncode == 0, more.stdout + more.stderr
        assert "worker: ok" in more.stdout and "docs" not in more.stdout, more.stdout
        assert running(ps(tmp_path)[1]) == ["api", "worker"]


def test_naming_a_service_starts_it_and_what_it_needs(tmp_path: Path) -> None:
    stack(tmp_path)
    with detached(tmp_path, "flower"):
        assert running(ps(tmp_path)[1]) == ["api", "worker", "flower"]


def test_a_dependency_left_out_by_the_profiles_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    stack(tmp_path)
    up = run_devstack(tmp_path, "up", "-d", "--profile", "monitor", timeout=60)
    assert up.returncode == 2, up.stdout + up.stderr
    assert "services.flower.depends_on.worker: 'worker' is enabled only by profile worker" in (
        up.stderr
    )
    assert "hint: add --profile worker" in up.stderr
    assert supervisor_pid(tmp_path) is None

    unknown = run_devstack(tmp_path, "up", "-d", "--profile", "wrker", timeout=60)
    assert unknown.returncode == 2
    assert "no profile named 'wrker'" in unknown.stderr
    assert "profiles: worker, docs, monitor" in unknown.stderr


def test_config_lists_the_profiles_and_shows_the_active_ones(tmp_path: Path) -> None:
    stack(tmp_path)
    listed = run_devstack(tmp_path, "config", "--profiles", env={"DEVSTACK_PROFILES": "docs"})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "worker\ndocs *\nmonitor\n"
    shown = run_devstack(tmp_path, "config", "--profile", "worker")
    assert shown.returncode == 0, shown.stderr
    assert 'profiles = ["worker"]\n' in shown.stdout  # [stack]: the active ones
    assert 'profiles = ["monitor"]\n' in shown.stdout  # services.flower's key
    refused = run_devstack(tmp_path, "config", "--profile", "monitor")
    assert refused.returncode == 2
    assert "enabled only by profile worker" in refused.stderr


def test_export_compose_keeps_the_profiles_and_procfile_systemd_take_the_active_set(
    tmp_path: Path,
) -> None:
    stack(tmp_path)
    compose = run_devstack(tmp_path, "export", "compose", "-o", "-")
    assert compose.returncode == 0, compose.stderr
    assert "    profiles:\n      - monitor\n" in compose.stdout  # compose's own key

    procfile = run_devstack(tmp_path, "export", "procfile", "-o", "-", "--profile", "worker")
    assert procfile.returncode == 0, procfile.stderr
    assert [line.split(":")[0] for line in procfile.stdout.splitlines()[1:]] == ["api", "worker"]
    assert "no active profile enables (--profile NAME adds them): docs, flower" in (procfile.stderr)

    units = run_devstack(tmp_path, "export", "systemd", "-o", "units", "--profile", "docs")
    assert units.returncode == 0, units.stderr
    target = (tmp_path / "units" / f"{tmp_path.name.lower()}.target").read_text()
    assert "Wants=" in target and "-docs.service" in target and "-worker.service" not in target
    assert any(p.name.endswith("-worker.service") for p in (tmp_path / "units").iterdir())


def test_check_checks_what_up_would_start(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{sleeper()}"

        [services.docs]
        cmd = "no-such-program-for-devstack-profiles"
        profiles = ["docs"]
        """,
    )
    plain = run_devstack(tmp_path, "check", "--json")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert list(json.loads(plain.stdout)["services"]) == ["api"]
    docs = run_devstack(tmp_path, "check", "--json", env={"DEVSTACK_PROFILES": "docs"})
    assert docs.returncode == 1, docs.stdout + docs.stderr
    assert list(json.loads(docs.stdout)["services"]) == ["api", "docs"]
    named = run_devstack(tmp_path, "check", "docs")
    assert named.returncode == 1 and "no-such-program-for-devstack-profiles" in named.stdout


def test_verify_starts_the_stack_with_the_active_profiles(tmp_path: Path) -> None:
    port = free_port()
    write_stack(
        tmp_path,
        profile_stack(sleeper())
        + f"""
[services.web]
cmd = "{sys.executable} {program("listener")} {port}"
port = {port}
health.http = "/"
profiles = ["worker"]

[[smoke]]
url = "${{services.web.url}}/"
""",
    )
    with detached(tmp_path, "--profile", "docs"):  # verify uses the running stack...
        used = run_devstack(tmp_path, "verify", timeout=120)
        assert used.returncode == 1, used.stdout + used.stderr  # ...where web is not requested
        assert "not requested (profile worker" in used.stdout, used.stdout
    try:
        verified = run_devstack(tmp_path, "verify", "--profile", "worker", "--keep", timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert running(ps(tmp_path)[1]) == ["api", "worker"]
        assert ps(tmp_path)[1]["web"]["state"] == "healthy"
    finally:
        pid = supervisor_pid(tmp_path)
        run_devstack(tmp_path, "down", timeout=60)
        if pid is not None and is_alive(pid):
            kill_group(pid)


def test_setup_runs_the_steps_of_what_up_would_start(tmp_path: Path) -> None:
    # Issue 16, point 5: before, `devstack setup` ran the setup of a service no active
    # profile enables, and `setup --profile docs` was a usage error.
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{sleeper()}"
        setup = "touch api.done"

        [services.docs]
        cmd = "{sleeper()}"
        setup = "touch docs.done"
        profiles = ["docs"]
        """,
    )
    plain = run_devstack(tmp_path, "setup")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert (tmp_path / "api.done").exists() and not (tmp_path / "docs.done").exists()
    docs = run_devstack(tmp_path, "setup", "--profile", "docs")
    assert docs.returncode == 0, docs.stdout + docs.stderr
    assert (tmp_path / "docs.done").exists()
    (tmp_path / "docs.done").unlink()
    named = run_devstack(tmp_path, "setup", "docs", "--force")  # named: run, as up docs
    assert named.returncode == 0 and (tmp_path / "docs.done").exists()
