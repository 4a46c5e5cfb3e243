"""Reading server command lines: the app target, path rules, interface and bind address."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from devstack.project.servers import (
    bind_args,
    command_port,
    default_port,
    django_settings,
    factory_command,
    module_of_path,
    parse_server,
    server_of,
    suggest,
)


def parse(cmd: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    parsed = parse_server(shlex.split(cmd), env)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("cmd", "server", "app", "interface"),
    [
        ("uvicorn main:app", "uvicorn", "main:app", "asgi"),
        ("gunicorn api:app --bind 127.0.0.1:5000 -w 2", "gunicorn", "api:app", "wsgi"),
        ("gunicorn -w 2 -k uvicorn.workers.UvicornWorker api:app", "gunicorn", "api:app", "asgi"),
        (
            "gunicorn --worker-class=uvicorn_worker.UvicornWorker api",
            "gunicorn",
            "api:application",
            "asgi",
        ),
        ("python -m uvicorn api:app --interface wsgi", "uvicorn", "api:app", "wsgi"),
        ("python3 -m gunicorn -b :5000 api:create_app()", "gunicorn", "api:create_app()", "wsgi"),
        ("hypercorn -b 127.0.0.1:5000 api:app", "hypercorn", "api:app", "either"),
        ("hypercorn wsgi:api:app", "hypercorn", "api:app", "wsgi"),  # the mode prefix
        ("hypercorn asgi:main:create_app()", "hypercorn", "main:create_app()", "asgi"),
        ("granian --interface asgi main:app", "granian", "main:app", "asgi"),
        ("granian main:app", "granian", "main:app", "rsgi"),
        ("waitress-serve --listen=127.0.0.1:5000 api:app", "waitress", "api:app", "wsgi"),
        (
            "daphne -b 127.0.0.1 -p 5000 proj.asgi:application",
            "daphne",
            "proj.asgi:application",
            "asgi",
        ),
        ("flask --app api run", "flask", "api:app", "wsgi"),
        ("flask --app=api:create_app() run -p 5000", "flask", "api:create_app()", "wsgi"),
    ],
)
def test_target_and_interface(cmd: str, server: str, app: str, interface: str) -> None:
    parsed = parse(cmd)
    assert (parsed.server, parsed.app, parsed.interface) == (server, app, interface)


def test_flask_app_from_env_and_default_attributes() -> None:
    parsed = parse("flask run", {"FLASK_APP": "api"})
    assert parsed.module == "api"
    assert parsed.attrs == ("app", "application", "create_app()", "make_app()")


def test_path_rules() -> None:
    assert parse("uvicorn app:app --app-dir src").paths == ("src",)
    assert parse("uvicorn app:app").paths == (".",)
    g = parse("gunicorn --chdir backend --pythonpath lib,vendor api:app")
    assert (g.chdir, g.paths) == ("backend", ("lib", "vendor"))
    assert parse("flask --app src/api.py run").paths == ("src",)


def test_factory_flags() -> None:
    assert parse("uvicorn --factory pkg.app:create_app").factory
    assert parse("waitress-serve --call api:create_app").factory
    assert not parse("uvicorn pkg.app:app").factory


@pytest.mark.parametrize(
    ("cmd", "host", "port"),
    [
        ("gunicorn api:app --bind 127.0.0.1:5000", "127.0.0.1", 5000),
        ("gunicorn api:app -b[::1]:5001", "::1", 5001),
        ("gunicorn -p pidfile api:app", None, None),  # gunicorn's -p is the pid file
        ("uvicorn main:app --host 0.0.0.0 --port 8001", "0.0.0.0", 8001),
        ("flask --app api run -h 127.0.0.1 -p 5002", "127.0.0.1", 5002),
        ("waitress-serve --listen=127.0.0.1:8080 api:app", "127.0.0.1", 8080),
        ("daphne -b 127.0.0.1 -p 9000 a:app", "127.0.0.1", 9000),
    ],
)
def test_bind_address(cmd: str, host: str | None, port: int | None) -> None:
    parsed = parse(cmd)
    assert (parsed.host, parsed.port) == (host, port)


def test_port_of_other_commands() -> None:
    assert command_port(["pnpm", "dev", "--port", "3000"]) == 3000
    assert command_port(["next", "dev", "-p", "3001"]) == 3001
    assert command_port(["vite", "--port=5173"]) == 5173
    assert command_port(["node", "server.js"]) is None


def test_not_a_server() -> None:
    assert parse_server(["python", "main.py"]) is None
    assert parse_server(["pnpm", "dev"]) is None
    assert parse_server([]) is None


def test_suggestion_keeps_options_for_the_same_server() -> None:
    cmd = parse("gunicorn api:application --bind 127.0.0.1:5000 --workers 2 --timeout 120")
    assert (
        suggest(cmd, "api:app", "wsgi", host="127.0.0.1", port=5000)
        == "gunicorn api:app --bind 127.0.0.1:5000 --workers 2 --timeout 120"
    )


def test_suggestion_switches_server_for_the_app_kind() -> None:
    uvicorn = parse("uvicorn main:app")
    assert (
        suggest(uvicorn, "api:app", "wsgi", host="127.0.0.1", port=5000)
        == "gunicorn api:app --bind 127.0.0.1:5000"
    )
    gunicorn = parse("gunicorn main:app --bind 127.0.0.1:5000")
    assert (
        suggest(gunicorn, "fast:app", "asgi", host="127.0.0.1", port=5000)
        == "gunicorn fast:app --bind 127.0.0.1:5000 -k uvicorn.workers.UvicornWorker"
    )
    flask = parse("flask --app api run")
    assert (
        suggest(flask, "fast:app", "asgi", host="127.0.0.1", port=5000)
        == "uvicorn fast:app --host 127.0.0.1 --port 5000"
    )


def test_suggestion_adds_the_declared_port_when_the_command_has_none() -> None:
    assert (
        suggest(parse("flask --app main run"), "api:app", "wsgi", host="127.0.0.1", port=5000)
        == "flask --app api:app run --host 127.0.0.1 --port 5000"
    )


@pytest.mark.parametrize(
    ("cmd", "server", "target", "start"),
    [
        ("uv run uvicorn main:app", "uvicorn", "main:app", 3),
        ("uv run --no-sync --with x gunicorn api:app", "gunicorn", "api:app", 6),
        ("poetry run python -m flask --app api run", "flask", "api", 5),
        ("pipenv run waitress-serve api:app", "waitress", "api:app", 3),
        ("python manage.py runserver 8001", "django", None, 2),
        ("./manage.py runserver", "django", None, 1),
        ("django-admin runserver --settings site.dev", "django", "site.dev", 1),
        ("python -m django runserver", "django", None, 3),
        ("fastapi dev src/main.py", "fastapi", "src/main.py", 1),
    ],
)
def test_wrappers_and_other_servers(cmd: str, server: str, target: str | None, start: int) -> None:
    argv = shlex.split(cmd)
    assert server_of(argv) == (server, start)
    assert parse(cmd).target == target


@pytest.mark.parametrize(
    "cmd", ["python manage.py migrate", "fastapi deploy", "uv run pytest", "poetry run celery"]
)
def test_not_servers(cmd: str) -> None:
    assert parse_server(shlex.split(cmd)) is None


def test_django_runserver_address_and_settings() -> None:
    parsed = parse("python manage.py runserver 0.0.0.0:8001 --settings site.dev")
    assert (parsed.settings, parsed.module, parsed.host, parsed.port) == (
        True,
        "site.dev",
        "0.0.0.0",
        8001,
    )
    assert parse("python manage.py runserver", {"DJANGO_SETTINGS_MODULE": "a.b"}).module == "a.b"
    assert default_port(parse("./manage.py runserver"), {}) == 8000
    assert bind_args("django", "127.0.0.1", 5000) == ["127.0.0.1:5000"]


def test_django_settings_default_from_manage_py(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n"
    )
    assert django_settings(tmp_path / "manage.py") == "shop.settings"
    assert django_settings(tmp_path / "nothing.py") is None


@pytest.mark.parametrize(
    ("cmd", "flag"),
    [
        ("uvicorn --factory main:create_app", True),
        ("granian --factory main:create_app", True),
        ("waitress-serve --call main:create_app", True),
        ("waitress-serve --factory main:create_app", False),  # not waitress's flag
        ("gunicorn main:create_app", False),
    ],
)
def test_each_servers_factory_flag(cmd: str, flag: bool) -> None:
    assert parse(cmd).factory is flag


@pytest.mark.parametrize(
    ("cmd", "fix"),
    [
        ("gunicorn shop:create_app -w 2", "gunicorn 'shop:create_app()' -w 2"),
        ("hypercorn shop:create_app", "hypercorn 'shop:create_app()'"),
        ("uvicorn 'shop:create_app()' --port 1", "uvicorn --factory shop:create_app --port 1"),
        ("uv run granian shop:create_app", "uv run granian --factory shop:create_app"),
        ("waitress-serve shop:create_app", "waitress-serve --call shop:create_app"),
        ("flask --app shop run", "flask --app 'shop:create_app()' run"),
        ("daphne shop:create_app", None),
    ],
)
def test_factory_command_by_each_servers_rules(cmd: str, fix: str | None) -> None:
    assert factory_command(parse(cmd), "shop", "create_app") == fix


def test_module_of_path_as_flask_and_fastapi_read_it(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "index.py").write_text("")
    assert module_of_path(tmp_path, "api/index") == ("index", tmp_path / "api")
    (tmp_path / "api" / "__init__.py").write_text("")
    assert module_of_path(tmp_path, "api/index.py") == ("api.index", tmp_path)
    assert module_of_path(tmp_path, "api") == ("api", tmp_path)
    assert module_of_path(tmp_path, "") is None  # fastapi's default files: none here
    (tmp_path / "app.py").write_text("")
    assert module_of_path(tmp_path, "") == ("app", tmp_path)
    assert module_of_path(tmp_path, "missing.py") is None


@pytest.mark.parametrize(
    ("cmd", "chdir"),
    [
        ("uv run --directory backend uvicorn main:app", "backend"),
        ("uv run --directory=backend gunicorn --chdir src api:app", "backend/src"),
        ("poetry run -C backend python manage.py runserver", "backend"),
        ("uv run --directory api fastapi dev", "api"),
        ("uv run --project backend uvicorn main:app", None),  # the project, not the cwd
    ],
)
def test_wrapper_directory_is_where_the_server_runs(cmd: str, chdir: str | None) -> None:
    assert parse(cmd).chdir == chdir
