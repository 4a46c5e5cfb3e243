"""Dev servers and their production counterparts (export/production.py)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, wait_until
from devstack.export.production import FIXES, dev_server, production


def prod(command: str, cwd: Path, port: int | None = 5001, **env: str) -> list[str] | None:
    found = production(shlex.split(command), port=port, cwd=cwd, env=env)
    return found.command if found is not None else None


def package(folder: Path, **scripts: str) -> None:
    (folder / "package.json").write_text(json.dumps({"scripts": scripts}))


def test_flask_run_becomes_gunicorn(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    command = "flask --app api run --port 5001 --debug"
    assert prod(command, tmp_path) == ["gunicorn", "--bind", "0.0.0.0:5001", "api:app"]
    found = production(shlex.split(command), port=5001, cwd=tmp_path, env={})
    assert found is not None and found.needs == ("gunicorn",)
    assert "`flask run`" in found.note and "gunicorn" in found.note


def test_flask_factory_and_flask_app_path(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "index.py").write_text(
        "from flask import Flask\ndef create_app():\n    return Flask(__name__)\n"
    )
    assert prod("flask run", tmp_path, FLASK_APP="api/index.py") == [
        *("gunicorn", "--bind", "0.0.0.0:5001", "--pythonpath", "api"),
        "index:create_app()",
    ]


def test_flask_without_app_uses_flasks_own_lookup(tmp_path: Path) -> None:
    (tmp_path / "wsgi.py").write_text("from flask import Flask\napplication = Flask('x')\n")
    assert prod("flask run", tmp_path, port=None) == [
        *("gunicorn", "--bind", "0.0.0.0:5000", "wsgi:application")
    ]


def test_django_runserver_becomes_gunicorn_wsgi(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
    )
    assert prod("python manage.py runserver 127.0.0.1:8001", tmp_path, port=8001) == [
        *("gunicorn", "--bind", "0.0.0.0:8001", "mysite.wsgi")
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "uvicorn main:app --reload --reload-dir src --host 0.0.0.0 --port 8000",
            "uvicorn main:app --host 0.0.0.0 --port 8000",
        ),
        ("gunicorn app:app --reload -b 0.0.0.0:8000", "gunicorn app:app -b 0.0.0.0:8000"),
        # Without an address: 0.0.0.0, not the server's 127.0.0.1, on the declared port.
        ("gunicorn app:app --reload", "gunicorn app:app --bind 0.0.0.0:5001"),
        ("uvicorn main:app --reload", "uvicorn main:app --host 0.0.0.0 --port 5001"),
        ("uvicorn main:app --reload --uds /tmp/s", "uvicorn main:app --uds /tmp/s"),
        ("fastapi dev main.py --port 8000", "fastapi run main.py --port 8000"),
        ("uv run fastapi dev --port 8000", "uv run fastapi run --port 8000"),
        ("nodemon server.js", "node server.js"),
        ("node --watch server.js", "node server.js"),
    ],
)
def test_reload_and_dev_forms(tmp_path: Path, command: str, expected: str) -> None:
    assert prod(command, tmp_path) == shlex.split(expected)


def test_next_dev_becomes_build_and_start(tmp_path: Path) -> None:
    found = production(["npx", "next", "dev", "-p", "3000"], port=3000, cwd=tmp_path, env={})
    assert found is not None and found.runtime == "node"
    assert found.build == ["node_modules/.bin/next build"]
    assert found.command == [
        *("node_modules/.bin/next", "start", "-p", "3000", "-H", "0.0.0.0"),
    ]
    assert "`next dev`" in found.note


def test_pnpm_dev_read_through_the_script(tmp_path: Path) -> None:
    package(tmp_path, dev="next dev --turbopack")
    found = production(["pnpm", "dev", "--port", "3001"], port=3001, cwd=tmp_path, env={})
    assert found is not None and found.dev == "next dev"
    assert found.command[-4:] == ["-p", "3001", "-H", "0.0.0.0"]
    assert dev_server(["pnpm", "dev"], tmp_path) == "next dev"


def test_vite_becomes_build_and_preview(tmp_path: Path) -> None:
    package(tmp_path, dev="vite --mode staging")
    found = production(["npm", "run", "dev"], port=5173, cwd=tmp_path, env={})
    assert found is not None
    assert found.build == ["node_modules/.bin/vite build --mode staging"]
    assert found.command == [
        *("node_modules/.bin/vite", "preview", "--mode", "staging"),
        *("--host", "0.0.0.0", "--port", "5173", "--strictPort"),
    ]
    assert "server.proxy" in found.note and "nginx" in found.note


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["flask", "run"], "flask run"),
        (["python3", "manage.py", "runserver"], "manage.py runserver"),
        (["uvicorn", "m:app", "--reload"], "uvicorn --reload"),
        (["fastapi", "dev"], "fastapi dev"),
        (["next", "dev"], "next dev"),
        (["vite"], "vite"),
        (["node_modules/.bin/vite", "dev"], "vite"),
        (["gunicorn", "app:app"], None),
        (["uvicorn", "m:app"], None),
        (["fastapi", "run"], None),
        (["next", "start"], None),
        (["flask", "db", "upgrade"], None),
        (["celery", "-A", "p", "worker"], None),
        (["pnpm", "dev"], None),  # no package.json here: not known
        (["pnpm", "exec", "next", "dev"], "next dev"),
        (["yarn", "vite"], "vite"),
        (["npx", "--yes", "nodemon", "app.js"], "nodemon"),
    ],
)
def test_dev_server_list(tmp_path: Path, argv: list[str], name: str | None) -> None:
    assert dev_server(argv, tmp_path) == name


def test_a_script_that_is_no_dev_server(tmp_path: Path) -> None:
    package(tmp_path, dev="node server.js")
    assert dev_server(["pnpm", "dev"], tmp_path) is None
    assert production(["pnpm", "dev"], port=3000, cwd=tmp_path, env={}) is None


APP = """\
from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return "ok from the factory"

    return app
"""


def test_the_gunicorn_command_for_flask_run_serves_the_app(backend: Path) -> None:
    """The production counterpart of `flask run` really serves the app (real gunicorn)."""
    (backend / "api.py").write_text(APP)
    port = free_port()
    argv = ["flask", "--app", "api", "run", "--port", str(port)]
    found = production(argv, port=port, cwd=backend, env={})
    assert found is not None
    assert found.command == ["gunicorn", "--bind", f"0.0.0.0:{port}", "api:create_app()"]
    # Run it as generated, bound to loopback (the tests' rule) instead of the container's 0.0.0.0.
    command = [w.replace("0.0.0.0", "127.0.0.1") for w in found.command]
    command[0] = str(backend / ".venv" / "bin" / "gunicorn")
    server = subprocess.Popen(
        command,
        cwd=backend,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def body() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return None

    try:
        assert wait_until(body, timeout=30) == "ok from the factory"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def test_a_shell_line_of_one_command(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text("app = 1\n")
    # A Procfile line, as compose writes it ($ doubled): still through the shell for $PORT.
    argv = ["/bin/sh", "-c", "uvicorn main:app --reload --port $${PORT}"]
    found = production(argv, port=None, cwd=tmp_path, env={})
    assert found is not None
    assert found.command == [
        *("/bin/sh", "-c", 'exec uvicorn main:app --port "$${PORT}" --host 0.0.0.0')
    ]
    assert dev_server(argv, tmp_path) == "uvicorn --reload"
    # No $ left in the counterpart: a plain command.
    flask = ["/bin/sh", "-c", "exec flask --app api run --port $${PORT}"]
    assert prod(" ".join(shlex.quote(w) for w in flask), tmp_path) == [
        *("gunicorn", "--bind", "0.0.0.0:5001", "api:app")
    ]


@pytest.mark.parametrize(
    "line", ["cd x && flask run", "flask run | tee log", "FLASK_APP=api flask run", "echo $(x)"]
)
def test_a_shell_line_of_more_than_one_command_is_left_alone(tmp_path: Path, line: str) -> None:
    assert production(["/bin/sh", "-c", line], port=5000, cwd=tmp_path, env={}) is None


# The dev servers export/devservers.py knew (merged here: one list for export and --check).
DEV = [
    ("flask --app app run --port 5001", "flask run"),
    ("python -m flask run", "flask run"),
    ("uv run flask run --debug", "flask run"),
    ("python3 manage.py runserver 0.0.0.0:8000", "manage.py runserver"),
    ("uvicorn main:app --reload --port 8000", "uvicorn --reload"),
    ("gunicorn app:app --reload", "gunicorn --reload"),
    ("granian --interface asgi main:app --reload", "granian --reload"),
    ("hypercorn main:app --reload", "hypercorn --reload"),
    ("fastapi dev main.py", "fastapi dev"),
    ("next dev -p 3000", "next dev"),
    ("npx next dev --turbopack", "next dev"),
    ("pnpm exec next dev", "next dev"),
    ("vite", "vite"),
    ("npx vite --port 5173", "vite"),
    ("vite dev", "vite"),
    ("nuxt dev", "nuxt dev"),
    ("npx nuxi dev --port 3000", "nuxt dev"),
    ("astro dev", "astro dev"),
    ("react-scripts start", "react-scripts start"),
]
PRODUCTION_COMMANDS = [
    "gunicorn app:app --bind 0.0.0.0:5001",
    "uvicorn main:app --workers 2",
    "granian --interface asgi main:app",
    "next start -p 3000",
    "nuxt build",
    "astro build",
    "react-scripts build",
    "vite build",
    "vite preview",
    "celery -A tasks worker",
    "redis-server --port 6390",
    "python3 worker.py",
]


@pytest.mark.parametrize(("cmd", "name"), DEV)
def test_dev_servers(tmp_path: Path, cmd: str, name: str) -> None:
    assert dev_server(shlex.split(cmd), tmp_path) == name
    assert name in FIXES  # --check always has a fix to print


@pytest.mark.parametrize("cmd", PRODUCTION_COMMANDS)
def test_production_servers_are_not(tmp_path: Path, cmd: str) -> None:
    assert dev_server(shlex.split(cmd), tmp_path) is None
    assert production(shlex.split(cmd), port=3000, cwd=tmp_path, env={}) is None


def test_through_a_package_script_and_a_shell(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text(
        '{"scripts": {"dev": "next dev --turbopack", "start": "next start"}}'
    )
    line = ["/bin/sh", "-c", "cd web && exec pnpm dev --port 3000"]
    assert dev_server(line, tmp_path) == "next dev"
    # Found, but not replaced: a line of more than one command is the user's to change.
    assert production(line, port=3000, cwd=tmp_path, env={}) is None
    assert dev_server(["npm", "run", "start"], tmp_path / "web") is None
    assert dev_server(["pnpm", "dev"], None) is None  # no folder: no package.json to read


def test_nuxt_dev_becomes_build_and_its_node_server(tmp_path: Path) -> None:
    package(tmp_path, dev="nuxt dev")
    found = production(["pnpm", "dev"], port=3000, cwd=tmp_path, env={})
    assert found is not None and found.runtime == "node"
    assert found.build == ["node_modules/.bin/nuxt build"]
    assert found.command == ["node", ".output/server/index.mjs"]


def test_granian_reload_is_exported_without_it(tmp_path: Path) -> None:
    assert prod("granian --interface asgi main:app --reload", tmp_path, port=8000) == [
        *("granian", "--interface", "asgi", "main:app", "--host", "0.0.0.0", "--port", "8000")
    ]


@pytest.mark.parametrize("cmd", ["astro dev", "react-scripts start"])
def test_dev_servers_without_a_known_counterpart(tmp_path: Path, cmd: str) -> None:
    name = dev_server(shlex.split(cmd), tmp_path)
    assert name is not None and "build" in FIXES[name]
    assert production(shlex.split(cmd), port=3000, cwd=tmp_path, env={}) is None
