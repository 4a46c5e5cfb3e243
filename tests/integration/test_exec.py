"""`devstack exec SVC -- CMD` with real commands: the service's cwd, environment and
venv; the command's exit status, terminal and Ctrl-C; unknown services and commands;
Procfile stacks; beside a running stack (issue 13, point 11)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from support.stackrun import downed_at_end, run_devstack, write_stack

PY = sys.executable


def backend_stack(root: Path) -> Path:
    """db and backend (cwd backend/, an env file, ${...} in env, a port, a venv of its own)."""
    backend = root / "backend"
    backend.mkdir()
    (backend / ".env").write_text('GREETING="hello from the env file"\n')
    venv = subprocess.run(
        [PY, "-m", "venv", "--without-pip", str(backend / ".venv")],
        capture_output=True,
        timeout=120,
    )
    assert venv.returncode == 0, venv.stderr
    write_stack(
        root,
        """
        [services.db]
        cmd = "sleep 60"
        port = 5433

        [services.backend]
        cmd = "sleep 60"
        cwd = "backend"
        port = 5000
        env_file = "backend/.env"
        env = { DATABASE_URL = "postgresql://localhost:${services.db.port}/shop" }
        """,
    )
    return backend


SHOW = "import json, os, sys; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"


def test_the_command_gets_the_services_cwd_env_and_venv(tmp_path: Path) -> None:
    backend = backend_stack(tmp_path)
    result = run_devstack(tmp_path, "exec", "backend", "--", "python", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["cwd"] == str(backend)
    env = seen["env"]
    assert env["PORT"] == "5000"
    assert env["GREETING"] == "hello from the env file"
    assert env["DATABASE_URL"] == "postgresql://localhost:5433/shop"  # interpolated
    assert env["VIRTUAL_ENV"] == str(backend / ".venv")
    assert env["DEVSTACK_SERVICE"] == "backend"
    assert "DEVSTACK_TOKEN" not in env  # a supervisor must not take it for the service

    which = run_devstack(tmp_path, "exec", "backend", "--", "sh", "-c", "command -v python")
    assert which.stdout.strip() == str(backend / ".venv" / "bin" / "python")


def test_the_exit_status_is_the_commands(tmp_path: Path) -> None:
    backend_stack(tmp_path)
    assert run_devstack(tmp_path, "exec", "backend", "--", "sh", "-c", "exit 7").returncode == 7
    code = "import sys; sys.exit(3)"
    assert run_devstack(tmp_path, "exec", "backend", "--", "python", "-c", code).returncode == 3
    assert run_devstack(tmp_path, "exec", "db", "--", "true").returncode == 0


def test_devstack_becomes_the_command(tmp_path: Path) -> None:
    """No devstack process in between: the pid devstack was started with is the command's,
    so the terminal's signals and the exit status reach it unchanged."""
    backend_stack(tmp_path)
    code = "import os; print(os.getpid())"
    proc = subprocess.Popen(
        [PY, "-m", "devstack", "exec", "backend", "--", "python", "-c", code],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == str(proc.pid)


def _read_until(fd: int, marker: bytes, timeout: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {timeout}s; got {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen += chunk
    assert marker in seen, seen[-500:]
    return seen


def test_an_interactive_repl_on_the_terminal_and_ctrl_c_reaches_it(tmp_path: Path) -> None:
    backend = backend_stack(tmp_path)
    argv = [PY, "-m", "devstack", "exec", "backend", "--", "python", "-q"]
    pid, master = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            os.chdir(tmp_path)
            os.execv(PY, argv)
        finally:
            os._exit(99)
    reaped = False
    try:
        _read_until(master, b">>> ")
        os.write(master, b"import sys; print(sys.prefix)\r")
        assert str(backend / ".venv").encode() in _read_until(master, b">>> ")
        os.write(master, b"import time; print('sl' + 'eeping'); time.sleep(30)\r")
        _read_until(master, b"sleeping")  # printed, not echoed: the sleep has begun
        os.write(master, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the REPL
        assert b"KeyboardInterrupt" in _read_until(master, b">>> ")  # and the REPL goes on
        os.write(master, b"raise SystemExit(5)\r")
        deadline = time.monotonic() + 20
        while not reaped:
            done, status = os.waitpid(pid, os.WNOHANG)
            reaped = done == pid
            assert reaped or time.monotonic() < deadline, "the REPL did not exit"
            if select.select([master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):  # EIO once the REPL is gone
                    os.read(master, 4096)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(master)
        if not reaped:  # still our child: its pid cannot have been reused
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def _refused(root: Path, code: int, *args: str) -> str:
    """``devstack ARGS``'s stderr, once it exited ``code`` without a traceback."""
    result = run_devstack(root, *args)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_unknown_service_no_command_and_a_missing_command(tmp_path: Path) -> None:
    backend_stack(tmp_path)
    unknown = _refused(tmp_path, 2, "exec", "frontend", "--", "true")
    assert "no service named 'frontend'" in unknown
    assert "services: db, backend" in unknown
    typo = _refused(tmp_path, 2, "exec", "backnd", "--", "true")
    assert "did you mean backend? (services: db, backend)" in typo
    nothing = _refused(tmp_path, 2, "exec", "backend")
    assert "no command given to run in backend" in nothing
    missing = _refused(tmp_path, 127, "exec", "backend", "--", "no-such-program", "db")
    assert missing.startswith("devstack exec: no-such-program: command not found")
    (tmp_path / "backend" / "notes.txt").write_text("not a program\n")
    assert "Permission denied" in _refused(tmp_path, 126, "exec", "backend", "--", "./notes.txt")


def test_a_procfile_stack(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: python app.py\nworker: python worker.py\n")
    (tmp_path / ".env").write_text("SECRET_KEY=from-dotenv\n")
    web = run_devstack(tmp_path, "exec", "web", "--", "python", "-c", SHOW)
    assert web.returncode == 0, web.stderr
    seen = json.loads(web.stdout)
    assert seen["cwd"] == str(tmp_path)
    assert (seen["env"]["PORT"], seen["env"]["SECRET_KEY"]) == ("5000", "from-dotenv")
    worker = run_devstack(tmp_path, "exec", "worker", "--", "sh", "-c", "echo $PORT")
    assert worker.stdout == "5100\n"


def test_beside_a_running_stack_which_it_leaves_alone(tmp_path: Path) -> None:
    write_stack(tmp_path, '[services.api]\ncmd = "sleep 60"\nenv = { MODE = "dev" }\n')
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        before = json.loads(run_devstack(tmp_path, "ps", "--json").stdout)["services"]
        result = run_devstack(tmp_path, "exec", "api", "--", "sh", "-c", "echo $MODE")
        assert (result.returncode, result.stdout) == (0, "dev\n")
        after = json.loads(run_devstack(tmp_path, "ps", "--json").stdout)["services"]
        assert [(r["state"], r["pid"]) for r in after] == [(r["state"], r["pid"]) for r in before]
