"""devstack init on a Heroku-style Procfile, as real Flask + Celery apps write it.

tests/data/init/Procfile.heroku-flask has the shape of a public Flask app's Procfile
(a factory served by gunicorn, Celery worker and beat, a release phase) plus Redis.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.config.procfile import parse_procfile, read_procfile
from devstack.export.fromprocfile import Inferred, infer_services, render_toml
from devstack.project.servers import parse_server

DATA = Path(__file__).parents[2] / "data" / "init"


def infer(procfile: str, root: Path = Path("/app"), base: int = 5000) -> dict[str, Inferred]:
    return {s.name: s for s in infer_services(parse_procfile(procfile), root, base)}


def heroku() -> dict[str, Inferred]:
    entries = read_procfile(DATA / "Procfile.heroku-flask")
    return {s.name: s for s in infer_services(entries, Path("/app"))}


@pytest.mark.parametrize(
    ("line", "cmd", "app"),
    [
        ('gunicorn "app:create_app()"', "gunicorn 'app:create_app()'", "app:create_app()"),
        ("gunicorn 'app:create_app()'", "gunicorn 'app:create_app()'", "app:create_app()"),
        (
            'gunicorn --bind 0.0.0.0:$PORT --workers 4 "app:create_app()"',
            "gunicorn --bind 0.0.0.0:${port} --workers 4 'app:create_app()'",
            "app:create_app()",
        ),
        (
            "uvicorn --factory main:create_app --port $PORT",
            "uvicorn --factory main:create_app --port ${port}",
            "main:create_app",
        ),
    ],
)
def test_quoted_factory_is_a_server_not_a_shell_line(line: str, cmd: str, app: str) -> None:
    web = infer(f"web: {line}\n")["web"]
    assert (web.shell, web.cmd, web.app, web.port) == (False, cmd, app, 5000)


def test_shell_syntax_inside_quotes_is_not_shell_syntax() -> None:
    found = infer(
        "a: python3 -c 'print(1); print(2)'\n"  # quoted: one argument, no shell needed
        'b: echo "$(date)"\n'  # command substitution inside double quotes: a shell
        "c: python3 x.py | tee log\n"
    )
    assert [s.shell for s in found.values()] == [False, True, True]


def test_release_is_a_one_shot_the_others_wait_for() -> None:
    found = heroku()
    release = found["release"]
    assert (release.restart, release.port, release.http) == ("no", None, None)
    for name in ("web", "worker", "beat"):
        assert found[name].conditions.get("release") == "completed", name
    assert found["redis"].depends_on == {}  # a data store need not wait for migrations


def test_web_gets_port_and_http_probe() -> None:
    web = heroku()["web"]
    assert (web.port, web.http, web.app, web.shell) == (5000, "/", "app:create_app()", False)
    plain = infer("web: python3 app.py\n")["web"]
    assert (plain.port, plain.http) == (None, None)  # no sign it reads $PORT: no blind probe
    assert "$PORT" in plain.notes[0]


def test_celery_worker_and_beat_are_workers() -> None:
    found = heroku()
    for name in ("worker", "beat"):
        svc = found[name]
        assert (svc.port, svc.http, svc.app, svc.server, svc.shell) == (
            None,
            None,
            None,
            None,
            False,
        )
        assert svc.kind == f"celery {name}"


def test_flask_cli_commands_are_not_the_flask_server() -> None:
    assert parse_server(["flask", "db", "upgrade"]) is None
    assert parse_server(["python3", "-m", "flask", "--app", "api", "shell"]) is None
    server = parse_server(["flask", "--app", "api", "run", "-p", "5328"])
    assert server is not None and server.port == 5328


def test_redis_gets_its_port_and_a_tcp_probe() -> None:
    found = heroku()
    assert (found["redis"].port, found["redis"].http) == (6379, None)
    assert "redis-server" in found["redis"].port_reason
    assert infer("redis: redis-server --port 6380\n")["redis"].port == 6380


def test_heroku_procfile_renders_a_file_that_loads(tmp_path: Path) -> None:
    text = render_toml(heroku().values(), "Procfile", None)
    (tmp_path / "stack.toml").write_text(text)
    data = tomllib.loads(text)
    services = data["services"]
    assert services["release"]["restart"] == "no"
    assert services["web"]["depends_on"] == {"release": "completed"}
    assert services["web"]["health"] == {"http": "/"}
    assert services["redis"]["health"] == {"tcp": True}
    assert "shell" not in services["web"]
    assert "celery worker" in text
    stack = load_stack(tmp_path / "stack.toml", environ={"PATH": "/bin"})
    assert stack.services["web"].depends_on == {"release": "completed"}
    assert stack.services["release"].port is None


def test_gunicorn_without_bind_listens_on_all_addresses_at_port() -> None:
    web = heroku()["web"]
    assert (web.port, web.host) == (5000, "0.0.0.0")  # gunicorn binds 0.0.0.0:$PORT


def test_celery_waits_for_the_redis_its_env_names() -> None:
    entries = read_procfile(DATA / "Procfile.heroku-flask")
    dotenv = {
        "REDIS_URL": "redis://localhost:6379/0",
        "OKTA_REDIRECT_URI": "http://localhost:5000/auth/okta/callback",
    }
    found = {s.name: s for s in infer_services(entries, Path("/app"), 5000, dotenv)}
    for name in ("worker", "beat"):
        assert set(found[name].depends_on) == {"release", "redis"}, name
    # A browser callback URL in .env is nobody's dependency.
    assert set(found["web"].depends_on) == {"release"}
    assert found["redis"].depends_on == {}
