"""What a service speaks and whether it is Node, read from its command (issue 13 point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.checks.protocols import is_node, speaks, url_protocol
from devstack.spec import HealthSpec, ServiceSpec, StackSpec


def service(cmd: str, name: str = "svc", *, shell: bool = True, http: bool = False) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        cmd=cmd,
        argv=("/bin/sh", "-c", cmd),
        cwd=Path("/tmp"),
        env={},
        shell=shell,
        health=HealthSpec("http", "http://127.0.0.1:1/health") if http else None,
    )


def stack(*services: ServiceSpec, procfile: bool = False) -> StackSpec:
    return StackSpec("s", Path("/tmp"), None, {s.name: s for s in services}, from_procfile=procfile)


@pytest.mark.parametrize(
    ("scheme", "protocol"),
    [
        ("http", "http"),
        ("HTTPS", "http"),
        ("wss", "http"),
        ("rediss", "redis"),
        ("postgresql+psycopg", "postgres"),
        ("postgres", "postgres"),
        ("amqp", "amqp"),
        ("mysql+pymysql", "mysql"),
        ("ftp", None),
    ],
)
def test_url_protocol(scheme: str, protocol: str | None) -> None:
    assert url_protocol(scheme) == protocol


@pytest.mark.parametrize(
    ("cmd", "protocols"),
    [
        ('gunicorn "app:create_app()"', {"http"}),
        ("python -m uvicorn api:app --port 8000", {"http"}),
        ("python3 -m http.server 8000", {"http"}),
        ("cd web && exec pnpm dev", {"http"}),
        ("npm run start", {"http"}),
        ("next dev -p 3000", {"http"}),
        ("redis-server --port 6379", {"redis"}),
        ("docker run --rm -p 5432:5432 postgres:16-alpine", {"postgres"}),
        ("docker run -p 5672:5672 rabbitmq:3-management", {"amqp"}),
        ("celery -A app worker", set()),
        ("node worker.js", set()),
        ("pnpm run build", set()),
        ("python release.py", set()),
    ],
)
def test_speaks(cmd: str, protocols: set[str]) -> None:
    svc = service(cmd)
    assert speaks(svc, stack(svc)) == protocols


def test_http_probe_and_procfile_web_speak_http() -> None:
    probed = service("python app.py", http=True)
    assert speaks(probed, stack(probed)) == {"http"}
    web = service("python app.py", name="web")
    assert speaks(web, stack(web, procfile=True)) == {"http"}
    assert speaks(web, stack(web)) == set()  # the convention is the Procfile's


@pytest.mark.parametrize(
    ("cmd", "node"),
    [
        ("node server.js", True),
        ("pnpm dev", True),
        ("PORT=3000 npx vite", True),
        ("cd web && exec yarn start", True),
        ("bun run dev", True),
        ("./node_modules/.bin/next dev", True),
        ('gunicorn "app:create_app()"', False),
        ("celery -A app worker", False),
        ("python -m http.server", False),
        ("redis-server", False),
    ],
)
def test_is_node(cmd: str, node: bool) -> None:
    assert is_node(service(cmd)) is node
