"""Failures that travel: the key line of a dependency's output reaches every service
waiting on it, and a script's exit 127 names the command, the line and the venv.

Real processes: a shell script that prints what postgres prints and exits 1, scripts
run by the real bash and dash that call a command not on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from conftest import free_port, program
from support.stackrun import RunningStack, run_devstack, write_stack

PY = sys.executable
FATAL = 'FATAL: lock file "postmaster.pid" already exists'


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_root_cause_key_line_travels_down_a_chain_of_three(tmp_path: Path) -> None:
    """Reliability case 18 (docs/reliability.md), three deep: db prints postgres' FATAL
    line and exits 1; web's and api's `not started` reasons (the event, ps, the final
    summary) carry that line."""
    script(
        tmp_path / "db.sh",
        "#!/bin/sh\n"
        'echo "LOG:  starting PostgreSQL 16.2"\n'
        """echo 'FATAL:  lock file "postmaster.pid" already exists' >&2\n"""
        """echo 'HINT:  Is another postmaster (PID 4242) running?' >&2\n"""
        "exit 1\n",
    )
    keep = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.db]
        cmd = "./db.sh"
        port = {free_port()}
        restart = "no"
        [services.api]
        cmd = "sleep 30"
        port = {free_port()}
        depends_on = {{ db = "healthy" }}
        [services.web]
        cmd = "sleep 30"
        depends_on = ["api"]
        [services.keep]
        cmd = "{PY} {program("listener")} {keep}"
        port = {keep}
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web\s+\* \[not started\]", timeout=30)
        stack.wait_for(r"^keep\s+\* \[healthy\]", timeout=30)
        ps = run_devstack(tmp_path, "ps", "--json")
        stack.close()
    out = stack.output()
    assert re.search(rf"^db\s+\* \[crashed\] exit 1 after \S+: {re.escape(FATAL)}$", out, re.M)
    api_reason = f"depends on db (healthy), which failed: exit 1: {FATAL} (restart = no)"
    web_reason = (
        f"depends on api (started), which was not started: db failed: exit 1: {FATAL} "
        "(restart = no)"
    )
    assert f"api       * [not started] {api_reason}\n" in out
    assert f"web       * [not started] {web_reason}\n" in out
    rows = {row["name"]: row for row in json.loads(ps.stdout)["services"]}
    assert rows["web"]["state"] == "not started" and rows["web"]["reason"] == web_reason
    assert rows["api"]["reason"] == api_reason
    assert f"devstack  * web: not started: {web_reason}\n" in out


def make_venv(path: Path, *commands: str) -> None:
    """A real venv (no pip: quick) with ``commands`` in its bin."""
    subprocess.run([PY, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    for name in commands:
        script(path / "bin" / name, "#!/bin/sh\necho worker ready\n")


def test_exit_127_from_a_bash_script_names_the_line_and_the_path_it_lost(tmp_path: Path) -> None:
    """run-worker.sh line 5 calls celery; the service's .venv has it, and devstack puts
    .venv/bin on PATH, but line 3 of the script sets PATH without it."""
    make_venv(tmp_path / ".venv", "celery")
    bash = shutil.which("bash")
    assert bash is not None
    script(
        tmp_path / "run-worker.sh",
        f"#!{bash}\necho starting the worker\nPATH=/usr/bin:/bin\n\n"
        "celery -A proj worker --loglevel=info\n",
    )
    write_stack(tmp_path, '[services.worker]\ncmd = "./run-worker.sh"\nrestart = "no"\n')
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=30) == 1
    out = stack.output()
    assert "worker    | ./run-worker.sh: line 5: celery: command not found" in out, (
        out
    )  # bash's own wording, parsed below
    cause = (
        "run-worker.sh:5: celery: command not found; .venv/bin/celery exists, "
        "but run-worker.sh:3 sets PATH without it: call .venv/bin/celery there"
    )
    assert re.search(
        rf"^worker\s+\* \[crashed\] exit 127 after \S+: {re.escape(cause)}$", out, re.M
    )
    assert f"devstack  * worker: failed: exit 127: {cause} (restart = no)" in out


def test_exit_127_from_a_sh_script_names_the_venv_devstack_does_not_activate(
    tmp_path: Path,
) -> None:
    """A dash script in worker/ (whose .venv has celery) run from the stack's root, where
    no venv is: dash's `5: celery: not found` is read, and the venv beside the script named."""
    make_venv(tmp_path / "worker" / ".venv", "celery")
    sh = shutil.which("dash") or shutil.which("sh")
    assert sh is not None
    script(
        tmp_path / "worker" / "run-worker.sh",
        f"#!{sh}\necho starting the worker\ncd worker\n\ncelery -A proj worker\n",
    )
    write_stack(tmp_path, '[services.worker]\ncmd = "./worker/run-worker.sh"\nrestart = "no"\n')
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=30) == 1
    out = stack.output()
    cause = (
        "worker/run-worker.sh:5: celery: command not found; worker/.venv/bin/celery exists, "
        'but devstack activates no venv for this service: set venv = "worker/.venv" or call '
        "worker/.venv/bin/celery in the script"
    )
    assert re.search(
        rf"^worker\s+\* \[crashed\] exit 127 after \S+: {re.escape(cause)}$", out, re.M
    ), out
