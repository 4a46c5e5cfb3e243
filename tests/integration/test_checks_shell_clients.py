"""Field trial: two preflight checks that blocked a healthy stack. A shell line's
subshell ``(createdb ... || true) && ...`` read as the program ``(createdb``, and a
client's ``-p 5454`` read as a port it binds while the stack's postgres holds it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, program, wait_until
from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service
from devstack.config import load_stack
from devstack.procs import portowners as ports
from devstack.spec import StackSpec

SKIP = ("import", "syntax", "env", "node")


def load(root: Path, toml: str) -> StackSpec:
    (root / "stack.toml").write_text(toml)
    return load_stack(root / "stack.toml", root)


def check(stack: StackSpec, name: str, which: str) -> list[CheckResult]:
    results = asyncio.run(check_service(stack.services[name], stack, skip=SKIP))
    return [r for r in results if r.check == which]


@pytest.fixture
def db_port() -> Iterator[int]:
    """A real process listening on 127.0.0.1:PORT, standing for the stack's postgres."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, program("listener"), str(port)])
    try:
        wait_until(lambda: not ports.is_port_free(port, "127.0.0.1"))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def tools(root: Path, *names: str) -> str:
    """A bin folder holding the programs ``names`` (tiny scripts); its path."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name in names:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def executable(root: Path, cmd: str, path: str) -> list[CheckResult]:
    """The executable check of a shell = true service running ``cmd`` with PATH ``path``."""
    toml = f"[services.m]\nshell = true\ncmd = {json.dumps(cmd)}\n"
    toml += f"env = {{ PATH = {json.dumps(path)} }}\n"
    return check(load(root, toml), "m", "executable")


def test_subshell_parenthesis_is_not_part_of_the_program(tmp_path: Path) -> None:
    cmd = "(createdb -h 127.0.0.1 -p 5454 app || true) && python manage.py migrate"
    [exe] = executable(tmp_path, cmd, tools(tmp_path, "createdb", "python"))
    assert (exe.status, exe.summary) == ("ok", "createdb found (bin/createdb)")


@pytest.mark.parametrize(
    "cmd",
    [
        "{ createdb app; } && python manage.py migrate",
        "! createdb app",
        "2>/dev/null createdb app",
        "> /tmp/log createdb app",
        "PGPORT=5454 createdb app",
        "( createdb app )",
    ],
)
def test_grouping_redirections_and_assignments(tmp_path: Path, cmd: str) -> None:
    [exe] = executable(tmp_path, cmd, tools(tmp_path, "createdb", "python"))
    assert exe.summary == "createdb found (bin/createdb)"


@pytest.mark.parametrize(
    "cmd", ["nice -n 5 createdb app", "env -i createdb app", "trap 'kill 0' EXIT; createdb app"]
)
def test_what_the_splitter_cannot_read_is_not_guessed(tmp_path: Path, cmd: str) -> None:
    assert executable(tmp_path, cmd, "/nonexistent") == []


def test_a_missing_program_in_a_subshell_still_fails(tmp_path: Path) -> None:
    [exe] = executable(tmp_path, "(nosuchtool app || true) && python x.py", "/nonexistent")
    assert (exe.status, exe.summary) == ("fail", "nosuchtool: not found (looked in PATH)")


@pytest.mark.parametrize(
    "cmd",
    [
        "createdb -h 127.0.0.1 -p {port} app",
        "psql -h 127.0.0.1 -p {port} -c 'select 1'",
        "pg_isready -h 127.0.0.1 -p {port}",
        "redis-cli -p {port} ping",
        "mysql -P {port} -e 'select 1'",
    ],
)
def test_a_client_port_held_by_the_stack_server_is_no_block(
    tmp_path: Path, db_port: int, cmd: str
) -> None:
    stack = load(
        tmp_path,
        f'[services.db]\ncmd = "postgres -p ${{port}}"\nport = {db_port}\n'
        f'[services.migrate]\ncmd = "{cmd.format(port=db_port)}"\n'
        'restart = "no"\n',
    )
    assert check(stack, "migrate", "port") == []
    # The server itself still finds its port held (by the stand-in): that is a block.
    [db] = check(stack, "db", "port")
    assert db.status == "fail"
    assert db.summary.startswith(f"port {db_port} on 127.0.0.1 is held by pid ")


def test_an_unknown_program_reaching_a_stack_port_is_no_block(tmp_path: Path, db_port: int) -> None:
    stack = load(
        tmp_path,
        f'[services.db]\ncmd = "postgres -p ${{port}}"\nport = {db_port}\n'
        f'[services.wait]\ncmd = "python wait_for_db.py --port {db_port}"\n',
    )
    [wait] = check(stack, "wait", "port")
    assert (wait.status, wait.summary) == (
        "ok",
        f"port {db_port} in the command is that of service db, which it connects to",
    )


def test_an_unknown_program_on_a_held_foreign_port_is_a_warning(
    tmp_path: Path, db_port: int
) -> None:
    stack = load(tmp_path, f'[services.tool]\ncmd = "python tool.py --port {db_port}"\n')
    [tool] = check(stack, "tool", "port")
    assert tool.status == "warn"
    assert tool.summary.startswith(f"port {db_port} on 127.0.0.1 is held by pid ")


def test_a_known_server_on_a_held_port_still_fails(tmp_path: Path, db_port: int) -> None:
    stack = load(tmp_path, f'[services.cache]\ncmd = "redis-server --port {db_port}"\n')
    [cache] = check(stack, "cache", "port")
    assert cache.status == "fail"
    assert cache.summary.startswith(f"port {db_port} on 127.0.0.1 is held by pid ")
