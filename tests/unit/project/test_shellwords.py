"""A shell line's simple commands: grouping, `!`, redirections and assignments are no
program words (field trial: `(createdb ... || true) && ...` read as `(createdb`)."""

from __future__ import annotations

import shlex

import pytest

from devstack.project.servers import command_port
from devstack.project.shellwords import simple_commands


@pytest.mark.parametrize(
    ("line", "commands"),
    [
        (
            "(createdb -h 127.0.0.1 -p 5454 app || true) && python manage.py migrate",
            [
                ["createdb", "-h", "127.0.0.1", "-p", "5454", "app"],
                ["true"],
                ["python", "manage.py", "migrate"],
            ],
        ),
        (
            "{ createdb app 2>/dev/null; } ; ! foo >log 2>&1 bar",
            [["createdb", "app"], ["foo", "bar"]],
        ),
        ("> /tmp/x 2>&1 redis-server --port 1", [["redis-server", "--port", "1"]]),
        ("FOO=1 exec gunicorn app:app", [["gunicorn", "app:app"]]),
        ("( cd web && pnpm dev )", [["cd", "web"], ["pnpm", "dev"]]),
        ("cd web; pnpm dev", [["cd", "web"], ["pnpm", "dev"]]),
        ("echo $(date) && (( i++ )) ; ((x)) ; pnpm dev", [["echo", "$(date)"], ["pnpm", "dev"]]),
    ],
)
def test_simple_commands(line: str, commands: list[list[str]]) -> None:
    assert list(simple_commands(shlex.split(line))) == commands


@pytest.mark.parametrize(
    "line",
    [
        "createdb -h 127.0.0.1 -p 5454 app",
        "psql -p 5454",
        "redis-cli -p 6390 ping",
        "mysql -P 3306",
        "pg_isready -p 5454",
        "curl --port 80 http://127.0.0.1",
        "(createdb -p 5454 app || true) && python manage.py migrate",
    ],
)
def test_a_client_port_is_not_one_the_command_listens_on(line: str) -> None:
    assert command_port(shlex.split(line)) is None


def test_a_server_port_after_a_client_is_read() -> None:
    line = "(createdb -p 5454 app || true) && python manage.py runserver 0.0.0.0:8001"
    assert command_port(shlex.split(line)) == 8001
    assert command_port(shlex.split("pg_isready -p 5454 && redis-server --port 6390")) == 6390
