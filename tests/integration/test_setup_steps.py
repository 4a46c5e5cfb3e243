"""Setup steps with real processes: run once, skipped, re-run on change, failures, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path

from conftest import free_port, is_alive, wait_until
from support.stackrun import RunningStack, downed_at_end, events, run_devstack, write_stack

PY = sys.executable


def _once_stack(root: Path, setup: str, *, inputs: str = '["requirements.txt"]') -> None:
    """One service that exits 0 at once (restart = "no"): `up` ends by itself."""
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "requirements.txt").write_text("flask==3.0.3\n")
    write_stack(
        root,
        f"""
        [services.web]
        cwd = "app"
        cmd = "{PY} -c 'print(\\"web started\\")'"
        restart = "no"
        setup = "{setup}"
        setup_inputs = {inputs}
        """,
    )


def _runs(root: Path) -> int:
    path = root / "app" / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_setup_runs_once_is_skipped_when_unchanged_and_reruns_after_an_input_change(
    tmp_path: Path,
) -> None:
    _once_stack(tmp_path, "echo setup-output-marker; echo ran >> runs.txt")
    first = run_devstack(tmp_path, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _runs(tmp_path) == 1
    out = first.stdout
    assert re.search(
        r"^web\s+\* \[setup\] running \(first run\): echo setup-output-marker", out, re.M
    )
    assert re.search(r"^web\s+\| setup-output-marker$", out, re.M)  # the service's prefix
    assert re.search(r"^web\s+\* \[setup\] done in \d+\.\ds$", out, re.M)
    # Setup before the checks, the checks before the start.
    assert out.index("[setup] done") < out.index("[check]") < out.index("[start]")
    # The same pipeline as the service: its log file has the setup's lines.
    log = (tmp_path / ".devstack" / "logs" / "web.log").read_text()
    assert re.search(r"stdout \| setup-output-marker$", log, re.M)
    assert "event  | [setup] done in" in log

    second = run_devstack(tmp_path, "up")
    assert second.returncode == 0
    assert _runs(tmp_path) == 1
    assert "web       * [setup] skipped (inputs unchanged)" in second.stdout
    assert "web started" in second.stdout

    (tmp_path / "app" / "requirements.txt").write_text("flask==3.1.0\n")
    third = run_devstack(tmp_path, "up")
    assert third.returncode == 0
    assert _runs(tmp_path) == 2
    assert "[setup] running (requirements.txt changed)" in third.stdout


def test_a_deleted_directory_the_setup_made_runs_it_again(tmp_path: Path) -> None:
    # The setup makes a directory, as `python -m venv .venv` or `pnpm install` does.
    _once_stack(tmp_path, "mkdir -p made/lib; echo ran >> runs.txt")
    assert run_devstack(tmp_path, "up").returncode == 0
    assert run_devstack(tmp_path, "up").returncode == 0
    assert _runs(tmp_path) == 1  # unchanged: skipped
    (tmp_path / "app" / "made" / "lib").rmdir()
    (tmp_path / "app" / "made").rmdir()
    again = run_devstack(tmp_path, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _runs(tmp_path) == 2
    assert "[setup] running (made is gone)" in again.stdout
    assert (tmp_path / "app" / "made").is_dir()
    # Made again by that run, so still watched for: the next delete is noticed too.
    assert "skipped" in run_devstack(tmp_path, "up").stdout
    (tmp_path / "app" / "made" / "lib").rmdir()
    (tmp_path / "app" / "made").rmdir()
    assert "(made is gone)" in run_devstack(tmp_path, "up").stdout
    assert _runs(tmp_path) == 3


def test_without_setup_inputs_it_reruns_only_when_the_setup_line_changes(tmp_path: Path) -> None:
    _once_stack(tmp_path, "echo ran >> runs.txt", inputs="[]")
    assert run_devstack(tmp_path, "up").returncode == 0
    (tmp_path / "app" / "requirements.txt").write_text("anything\n")
    assert run_devstack(tmp_path, "up").returncode == 0
    assert _runs(tmp_path) == 1
    _once_stack(tmp_path, "echo ran >> runs.txt; true", inputs="[]")
    out = run_devstack(tmp_path, "up").stdout
    assert _runs(tmp_path) == 2
    assert "[setup] running (setup changed)" in out


def test_independent_setups_run_at_once_and_a_dependent_waits_for_its_dependencys_setup(
    tmp_path: Path,
) -> None:
    # a and b each wait for the other's marker: both succeed only if they overlap.
    meet = (
        "touch {me}.started; for i in $(seq 1 100); do "
        "[ -e {other}.started ] && {done}; sleep 0.05; done; exit 1"
    )
    write_stack(
        tmp_path,
        f"""
        [services.c]
        cmd = "true"
        restart = "no"
        depends_on = {{ a = "started" }}
        setup = "test -e a.done && echo a-was-done"

        [services.a]
        cmd = "true"
        restart = "no"
        setup = "{meet.format(me="a", other="b", done="touch a.done && exit 0")}"

        [services.b]
        cmd = "true"
        restart = "no"
        setup = "{meet.format(me="b", other="a", done="exit 0")}"
        """,
    )
    result = run_devstack(tmp_path, "up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^c\s+\| a-was-done$", result.stdout, re.M)
    assert sorted(events(result.stdout, "start")) == ["a", "b", "c"]


def test_a_setup_past_setup_timeout_is_stopped_and_blocks_the_service(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f"""
        [services.be]
        cmd = "{PY} -c 'open(\\"started\\", \\"w\\")'"
        setup = "echo fetching; sleep 30 & echo $! > sleeper.pid; wait"
        setup_timeout = "500ms"

        [services.fe]
        cmd = "{PY} -c 'open(\\"fe-started\\", \\"w\\")'"
        depends_on = {{ be = "started" }}
        """,
    )
    result = run_devstack(tmp_path, "up")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"^be\s+\* \[setup failed\] timed out after 0\.5s, stopped: echo", out, re.M)
    assert re.search(r"^be\s+\*\s+fetching$", out, re.M)  # its last lines, under the failure
    # Its whole tree was stopped (the background sleep too), nothing started, nothing recorded.
    sleeper = int((tmp_path / "sleeper.pid").read_text())
    assert not is_alive(sleeper)
    assert not (tmp_path / "started").exists() and not (tmp_path / "fe-started").exists()
    assert not (tmp_path / ".devstack" / "setup" / "be.json").exists()
    assert "fe" in events(out, "not started")


def test_a_failing_setup_blocks_the_service_with_its_last_lines_and_records_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "be").mkdir()
    write_stack(
        tmp_path,
        f"""
        [services.be]
        cwd = "be"
        cmd = "{PY} -c 'open(\\"started\\", \\"w\\")'"
        setup = "for i in $(seq 1 25); do echo line$i; done; echo 'ERROR: no flask==99' >&2; exit 3"

        [services.fe]
        cmd = "{PY} -c 'open(\\"fe-started\\", \\"w\\")'"
        depends_on = {{ be = "healthy" }}
        """,
    )
    result = run_devstack(tmp_path, "up")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"^be\s+\* \[setup failed\] exit 3 after \d+\.\ds: for i in", out, re.M)
    # The last 20 lines of its output, under the failure: line6..line25 and the error.
    block = out[out.index("[setup failed]") :]
    assert re.search(r"^be\s+\*\s+ERROR: no flask==99$", block, re.M)
    assert re.search(r"^be\s+\*\s+line7$", block, re.M)
    assert not re.search(r"^be\s+\*\s+line6$", block, re.M)
    reason = "be: blocked: setup failed (exit 3): ERROR: no flask==99"
    assert reason in out + result.stderr
    assert re.search(
        r"^fe\s+\* \[not started\] depends on be \(healthy\), which is blocked: setup failed "
        r"\(exit 3\)",
        out,
        re.M,
    )
    assert events(out, "start") == []
    assert not (tmp_path / "be" / "started").exists()
    assert not (tmp_path / "fe-started").exists()
    assert not (tmp_path / ".devstack" / "setup" / "be.json").exists()


def test_no_setup_skips_them(tmp_path: Path) -> None:
    _once_stack(tmp_path, "echo ran >> runs.txt")
    result = run_devstack(tmp_path, "up", "--no-setup")
    assert result.returncode == 0
    assert _runs(tmp_path) == 0
    assert "[setup]" not in result.stdout
    assert "web started" in result.stdout


def test_no_setup_reaches_a_detached_supervisor_too(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        [services.idle]
        cmd = "sleep 60"
        setup = "echo ran >> runs.txt"
        """,
    )
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", "--no-setup")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "idle: running" in up.stdout
        assert not (tmp_path / "runs.txt").exists()
        assert run_devstack(tmp_path, "down").returncode == 0
        up = run_devstack(tmp_path, "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        assert (tmp_path / "runs.txt").read_text() == "ran\n"


def test_devstack_setup_alone_in_dependency_order_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "be").mkdir()
    write_stack(
        tmp_path,
        f"""
        [services.fe]
        cmd = "{PY} -c 'open(\\"fe-started\\", \\"w\\")'"
        depends_on = {{ be = "healthy" }}
        setup = "echo fe >> order.txt"

        [services.be]
        cwd = "be"
        cmd = "{PY} -c 'open(\\"be-started\\", \\"w\\")'"
        setup = "sleep 0.3; echo be >> ../order.txt"
        """,
    )
    result = run_devstack(tmp_path, "setup", "fe")  # fe's dependencies are set up too
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "order.txt").read_text().split() == ["be", "fe"]
    assert not (tmp_path / "fe-started").exists()
    assert not (tmp_path / "be" / "be-started").exists()
    assert "fe        * [setup] done in" in result.stdout

    again = run_devstack(tmp_path, "setup")
    assert again.returncode == 0
    assert again.stdout.count("[setup] skipped (inputs unchanged)") == 2
    forced = run_devstack(tmp_path, "setup", "be", "--force")
    assert "be        * [setup] running (--force)" in forced.stdout
    assert "fe" not in forced.stdout
    assert (tmp_path / "order.txt").read_text().split() == ["be", "fe", "be"]

    write_stack(tmp_path, '[services.be]\ncmd = "true"\nsetup = "echo boom >&2; exit 4"\n')
    failed = run_devstack(tmp_path, "setup")
    assert failed.returncode == 1
    assert "be        * [setup failed] exit 4" in failed.stdout
    assert "be: setup failed" in failed.stderr
    unknown = run_devstack(tmp_path, "setup", "nope")
    assert unknown.returncode == 2
    assert "no service named 'nope'" in unknown.stderr


def test_missing_pnpm_says_how_to_get_it(tmp_path: Path) -> None:
    empty = tmp_path / "emptybin"
    empty.mkdir()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "pnpm dev --port ${{port}}"
        port = {free_port()}
        env = {{ PATH = "{empty}" }}
        setup = "pnpm install --frozen-lockfile"
        setup_inputs = ["package.json", "pnpm-lock.yaml"]
        """,
    )
    result = run_devstack(tmp_path, "up")
    assert result.returncode == 1
    hint = "npm install -g pnpm (or, where the registry serves signatures: corepack enable)"
    assert re.search(
        r"^web\s+\* \[setup failed\] pnpm: not found \(looked in PATH\)$", result.stdout, re.M
    )
    assert f"to install it: {hint}" in result.stdout
    # The service's own command is checked the same way when setup steps are skipped.
    skipped = run_devstack(tmp_path, "up", "--no-setup")
    assert skipped.returncode == 1
    assert re.search(r"^web\s+\* \[check failed\] pnpm: not found", skipped.stdout, re.M)
    assert f"to install it: {hint}" in skipped.stdout


def test_ctrl_c_during_a_setup_leaves_no_process(tmp_path: Path) -> None:
    # $$$$ is the shell's $$ ($$ is a literal $ in stack.toml).
    write_stack(
        tmp_path,
        """
        [services.slow]
        cmd = "true"
        setup = '''sleep 60 & echo child $!; sh -c 'echo grandchild $$$$; exec sleep 60' &
                   echo me $$$$; wait'''
        """,
    )
    with RunningStack(tmp_path) as stack:
        pids = [
            int(stack.wait_for(rf"^slow\s+\| {word} (\d+)$").group(1))
            for word in ("me", "child", "grandchild")
        ]
        assert all(is_alive(p) for p in pids)
        ps = run_devstack(tmp_path, "ps", "--json")
        rows = json.loads(ps.stdout)["services"]
        assert [(r["name"], r["state"]) for r in rows] == [("slow", "setup")]
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
        assert not [p for p in pids if is_alive(p)]
        out = stack.output()
    assert re.search(r"^slow\s+\* \[setup\] stopped after \d+\.\ds", out, re.M)
    assert events(out, "start") == []
    assert not (tmp_path / ".devstack" / "setup" / "slow.json").exists()


def test_restart_runs_a_changed_setup_first_and_a_failing_one_keeps_the_old_process(
    tmp_path: Path,
) -> None:
    (tmp_path / "deps.txt").write_text("v1\n")
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{PY} -m http.server ${{port}} --bind 127.0.0.1"
        port = {free_port()}
        setup = "grep -q v deps.txt && echo installed $(cat deps.txt)"
        setup_inputs = ["deps.txt"]
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^api\s+\* \[healthy\]")
        old_pid = int(stack.wait_for(r"^api\s+\* \[start\] pid (\d+)").group(1))
        (tmp_path / "deps.txt").write_text("v2\n")
        restarted = run_devstack(tmp_path, "restart", "api")
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        stack.wait_for(r"^api\s+\| installed v2$")
        out = stack.output()
        assert out.index("[setup] running (deps.txt changed)") < out.rindex("[start]")
        stack.wait_for(r"(?s)installed v2.*\[healthy\]")
        # The start after the stop does not run (or report) the setup a second time.
        assert "[setup] skipped" not in stack.output()
        assert not is_alive(old_pid)
        new_pid = int(re.findall(r"^api\s+\* \[start\] pid (\d+)", out, re.M)[-1])

        (tmp_path / "deps.txt").write_text("broken\n")  # grep -q v fails
        failed = run_devstack(tmp_path, "restart", "api")
        assert failed.returncode == 1
        assert "setup failed (exit 1)" in failed.stdout + failed.stderr
        assert "the running process is kept" in failed.stdout + failed.stderr
        assert is_alive(new_pid)
        wait_until(lambda: "[setup failed] exit 1" in stack.output())


def test_devstack_check_names_the_setup_program_and_points_at_devstack_setup(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "emptybin"
    empty.mkdir()
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "gunicorn api:app"
        env = {{ PATH = "{empty}" }}
        setup = "python3 -m venv .venv && .venv/bin/pip install gunicorn"

        [services.web]
        cmd = "node server.js"
        env = {{ PATH = "{empty}" }}
        setup = "pnpm install --frozen-lockfile"
        """,
    )
    result = run_devstack(tmp_path, "check")
    assert result.returncode == 1
    out = result.stdout
    # Before the first up, the venv is the setup step's job.
    assert "to install it: devstack setup api (runs its setup step: python3 -m venv" in out
    assert re.search(r"^api\s+fail\s+setup\s+python3: not found", out, re.M)
    assert re.search(r"^web\s+fail\s+setup\s+pnpm: not found \(looked in PATH\)$", out, re.M)
    assert "to install it: npm install -g pnpm" in out
    assert not (tmp_path / ".venv").exists()  # check runs nothing


def test_two_stack_files_in_one_directory_keep_their_own_setup_fingerprints(
    tmp_path: Path,
) -> None:
    """`-f a.toml` then `-f b.toml` (same service name, other setup): switching between
    them ran both setups again every time, as they shared .devstack/setup/web.json."""
    for name in ("a", "b"):
        _once_stack(tmp_path, f"echo ran >> runs-{name}.txt")
        (tmp_path / "stack.toml").rename(tmp_path / f"{name}.toml")

    def runs(name: str) -> int:
        path = tmp_path / "app" / f"runs-{name}.txt"
        return len(path.read_text().splitlines()) if path.exists() else 0

    for _ in range(2):
        for name in ("a", "b"):
            result = run_devstack(tmp_path, "up", "-f", f"{name}.toml")
            assert result.returncode == 0, result.stdout + result.stderr
    assert (runs("a"), runs("b")) == (1, 1)
    assert "[setup] skipped (inputs unchanged)" in result.stdout


def test_a_failed_setup_is_told_by_its_error_line_not_its_last_line(tmp_path: Path) -> None:
    """Seen in a field trial: pnpm wraps its error over lines, pip ends with its notices;
    the reason was the last line (`supports lockfileVersion 9.x (1:18)`, `To update, run:
    pip install --upgrade pip`). It is the error line, as for a crash."""
    (tmp_path / "fe").mkdir()
    (tmp_path / "be").mkdir()
    (tmp_path / "fe" / "install.sh").write_text(
        "echo 'Error: ERR_PNPM_BROKEN_LOCKFILE'\n"
        "echo '  × installing dependencies'\n"
        "echo '  ╰─▶ The lockfile at \"pnpm-lock.yaml\" is broken: The'\n"
        "echo '      lockfileVersion of 5.4 is incompatible with this version of pnpm, which'\n"
        "echo '      supports lockfileVersion 9.x (1:18)'\n"
        "exit 1\n"
    )
    (tmp_path / "be" / "install.sh").write_text(
        "echo 'ERROR: No matching distribution found for flask==99' >&2\n"
        "echo ''\n"
        "echo '[notice] A new release of pip is available: 24.0 -> 25.3'\n"
        "echo '[notice] To update, run: pip install --upgrade pip'\n"
        "exit 1\n"
    )
    # npm 11's `npm ci` without a lockfile: its code, then 30 lines of usage.
    (tmp_path / "npm").mkdir()
    (tmp_path / "npm" / "install.sh").write_text(
        "echo 'npm error code EUSAGE'\necho 'npm error'\n"
        "echo 'npm error The `npm ci` command can only install with an existing lockfile'\n"
        'for i in $(seq 1 30); do echo "npm error   --option$i"; done\n'
        "echo 'npm error A complete log of this run can be found in: /tmp/x-debug-0.log'\n"
        "exit 1\n"
    )
    write_stack(
        tmp_path,
        f"""
        [services.fe]
        cwd = "fe"
        cmd = "{PY} -c 'pass'"
        setup = "sh install.sh"

        [services.be]
        cwd = "be"
        cmd = "{PY} -c 'pass'"
        setup = "sh install.sh"

        [services.npm]
        cwd = "npm"
        cmd = "{PY} -c 'pass'"
        setup = "sh install.sh"
        """,
    )
    result = run_devstack(tmp_path, "up")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "fe: blocked: setup failed (exit 1): Error: ERR_PNPM_BROKEN_LOCKFILE" in out
    assert "be: blocked: setup failed (exit 1): ERROR: No matching distribution found" in out
    assert "(exit 1): supports lockfileVersion" not in out
    assert "(exit 1): [notice]" not in out
    reason = "npm: blocked: setup failed (exit 1): npm error EUSAGE: The `npm ci` command"
    assert reason in out, out
    # Still the last 20 lines under the failure, not all that were read for the cause.
    assert re.search(r"^npm\s+\*\s+npm error   --option12$", out, re.M), out
    assert not re.search(r"^npm\s+\*\s+npm error   --option11$", out, re.M), out
