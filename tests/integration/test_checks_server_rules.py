"""The import check by each server's own rules, with the real servers in a test virtualenv
(issue 15, points 4 and 6): app factories, flask --app forms, fastapi dev|run, hypercorn,
granian, waitress-serve, Django's manage.py runserver, uv run, gunicorn worker classes.

Each form gets a right command (ok) and a wrong one (fail, with the fix); the slow tests
start the fixed commands for real, so the check's ok is shown true.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_until
from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service
from devstack.config import load_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Building the venv once (pip) may take longer than one test's default limit.
pytestmark = pytest.mark.timeout(400)


def _project(tmp_path: Path, venv: Path) -> Path:
    directory = tmp_path / "backend"
    shutil.copytree(FIXTURES / "servers", directory)
    (directory / ".venv").symlink_to(venv)
    return directory


@pytest.fixture
def backend(tmp_path: Path, servers_venv: Path) -> Path:
    """The servers fixture project, with every server installed in its .venv."""
    return _project(tmp_path, servers_venv)


@pytest.fixture
def plain(tmp_path: Path, web_venv: Path) -> Path:
    """The same project with only flask, gunicorn and uvicorn installed."""
    return _project(tmp_path, web_venv)


def check(root: Path, cmd: str, extra: str = "") -> CheckResult:
    toml = cmd.replace("\\", "\\\\").replace('"', '\\"')
    (root / "stack.toml").write_text(
        f'[services.backend]\ncmd = "{toml}"\ncwd = "backend"\nport = 5000\n{extra}'
    )
    stack = load_stack(root / "stack.toml", root)
    results = asyncio.run(check_service(stack.services["backend"], stack, skip=("port",)))
    found = {r.check: r for r in results}
    assert found["executable"].status == "ok", found["executable"]
    return found["import"]


# --- point 4: app factories, each server's own rules -------------------------------------


@pytest.mark.parametrize(
    ("cmd", "summary", "fix", "fixed"),
    [
        (
            "gunicorn shop:create_app --bind 127.0.0.1:${port}",
            "shop:create_app is an app factory (it returns a WSGI app (Flask)), not an app: "
            "gunicorn would call it per request and answer 500",
            "gunicorn 'shop:create_app()' --bind 127.0.0.1:5000",
            "shop:create_app() imports; WSGI app (Flask)",
        ),
        (
            "uvicorn 'main:create_app()' --port ${port}",
            "uvicorn does not call main:create_app(): it looks for an attribute named "
            "'create_app()' and exits; give --factory instead",
            "uvicorn --factory main:create_app --port 5000",
            "main:create_app imports; ASGI app (FastAPI)",
        ),
    ],
)
def test_factory_in_the_form_the_server_does_not_take(
    tmp_path: Path, backend: Path, cmd: str, summary: str, fix: str, fixed: str
) -> None:
    imp = check(tmp_path, cmd)
    assert (imp.status, imp.kind, imp.summary, imp.fix) == ("fail", "factory", summary, fix)
    ok = check(tmp_path, fix)
    assert (ok.status, ok.summary) == ("ok", fixed)


def test_check_import_of_a_factory_is_not_judged_by_the_servers_rules(
    tmp_path: Path, backend: Path
) -> None:
    """check.import names what to import; the command's own target may well be
    'shop:create_app()'. No factory verdict then."""
    cmd = "gunicorn 'shop:create_app()' --bind 127.0.0.1:${port}"
    imp = check(tmp_path, cmd, 'check.import = "shop:create_app"\n')
    assert (imp.status, imp.kind) == ("warn", None)


def test_uvicorn_bare_factory_is_called_with_a_warning(tmp_path: Path, backend: Path) -> None:
    """uvicorn calls an attribute that takes no arguments, and warns to add --factory."""
    imp = check(tmp_path, "uvicorn main:create_app --port ${port}")
    assert (imp.status, imp.kind) == ("warn", "factory")
    assert imp.summary == (
        "main:create_app is an app factory; uvicorn calls it (it returns an ASGI app "
        "(FastAPI)) but warns: give --factory"
    )
    assert imp.fix == "uvicorn --factory main:create_app --port 5000"


def test_uvicorn_bare_factory_of_a_wsgi_app_still_fails(tmp_path: Path, plain: Path) -> None:
    imp = check(tmp_path, "uvicorn shop:create_app --port ${port}")
    assert imp.status == "fail"
    assert imp.summary == "shop:create_app is a WSGI app (Flask), but uvicorn serves ASGI apps"


@pytest.mark.parametrize(
    ("cmd", "app"),
    [
        ("flask --app shop:create_app run --port ${port}", "shop:create_app"),
        ("flask --app 'shop:create_app()' run --port ${port}", "shop:create_app()"),
        ("flask --app shop run --port ${port}", "shop:create_app()"),  # flask finds it
    ],
)
def test_flask_calls_factories_itself(tmp_path: Path, plain: Path, cmd: str, app: str) -> None:
    imp = check(tmp_path, cmd)
    assert (imp.status, imp.summary) == ("ok", f"{app} imports; WSGI app (Flask)")


@pytest.mark.parametrize(
    ("cmd", "server", "fix"),
    [
        (
            "hypercorn main:create_app --bind 127.0.0.1:${port}",
            "hypercorn would call it per request and answer 500",
            "hypercorn 'main:create_app()' --bind 127.0.0.1:5000",
        ),
        (
            "granian --interface asgi main:create_app --port ${port}",
            "granian would call it per request and answer 500",
            "granian --factory --interface asgi main:create_app --port 5000",
        ),
        (
            "waitress-serve --listen=127.0.0.1:${port} shop:create_app",
            "waitress would call it per request and answer 500",
            "waitress-serve --call --listen=127.0.0.1:5000 shop:create_app",
        ),
    ],
)
def test_bare_factory_by_each_servers_rules(
    tmp_path: Path, backend: Path, cmd: str, server: str, fix: str
) -> None:
    imp = check(tmp_path, cmd)
    assert (imp.status, imp.kind, imp.fix) == ("fail", "factory", fix)
    assert imp.summary.endswith(f"not an app: {server}")
    assert (imp.file, imp.line) == (f"{imp.summary.split(':')[0]}.py", 6)  # def create_app
    assert check(tmp_path, fix).status == "ok"


def test_call_syntax_where_the_server_takes_a_flag(tmp_path: Path, backend: Path) -> None:
    imp = check(tmp_path, "waitress-serve --port ${port} 'shop:create_app()'")
    assert (imp.status, imp.fix) == ("fail", "waitress-serve --call --port 5000 shop:create_app")
    imp = check(tmp_path, "granian --interface asgi 'main:create_app()' --port ${port}")
    assert imp.fix == "granian --factory --interface asgi main:create_app --port 5000"


# --- point 6: the forms of each server ---------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "env", "app"),
    [
        ("flask --app api/index run --port ${port}", "", "index:app"),
        ("flask --app api/index.py run --port ${port}", "", "index:app"),
        ("flask --app api.index:create_app() run --port ${port}", "", "api.index:create_app()"),
        ("python -m flask --app api.index run --port ${port}", "", "api.index:app"),
        ("flask run --port ${port}", 'env = { FLASK_APP = "api/index" }\n', "index:app"),
    ],
)
def test_flask_app_forms(tmp_path: Path, plain: Path, cmd: str, env: str, app: str) -> None:
    imp = check(tmp_path, cmd, env)
    assert (imp.status, imp.summary) == ("ok", f"{app} imports; WSGI app (Flask)")


def test_flask_path_form_inside_a_package(tmp_path: Path, plain: Path) -> None:
    """flask --app api/index with api/__init__.py: flask imports api.index from the cwd."""
    (plain / "api" / "__init__.py").write_text("")
    (plain / "api" / "index.py").write_text(
        "from .helpers import name\nfrom flask import Flask\napp = Flask(name)\n"
    )
    (plain / "api" / "helpers.py").write_text("name = 'api'\n")
    imp = check(tmp_path, "flask --app api/index run --port ${port}")
    assert (imp.status, imp.summary) == ("ok", "api.index:app imports; WSGI app (Flask)")


@pytest.mark.parametrize(
    ("cmd", "app"),
    [
        ("fastapi dev --port ${port}", "main:app"),  # fastapi's default: main.py
        ("fastapi run main.py --port ${port}", "main:app"),
        ("fastapi run main.py --app app --port ${port}", "main:app"),
        ("uv run fastapi dev --port ${port}", "main:app"),
    ],
)
def test_fastapi_cli_forms(tmp_path: Path, backend: Path, cmd: str, app: str) -> None:
    imp = check(tmp_path, cmd)
    assert (imp.status, imp.summary) == ("ok", f"{app} imports; ASGI app (FastAPI)")


def test_fastapi_cli_discovers_any_fastapi_instance(tmp_path: Path, backend: Path) -> None:
    (backend / "app").mkdir()
    (backend / "app" / "__init__.py").write_text("")
    (backend / "app" / "main.py").write_text("from fastapi import FastAPI\nservice = FastAPI()\n")
    imp = check(tmp_path, "fastapi dev app/main.py --port ${port}")
    assert (imp.status, imp.summary) == ("ok", "app.main:service imports; ASGI app (FastAPI)")


def test_fastapi_entrypoint_in_pyproject(tmp_path: Path, backend: Path) -> None:
    """Without a path or --app, fastapi-cli takes [tool.fastapi] entrypoint (uvicorn's
    rules: any ASGI app) before its default files."""
    (backend / "pyproject.toml").write_text('[tool.fastapi]\nentrypoint = "plain_asgi:app"\n')
    imp = check(tmp_path, "fastapi run --port ${port}")
    assert (imp.status, imp.summary) == ("ok", "plain_asgi:app imports; ASGI app (Starlette)")
    (backend / "pyproject.toml").write_text('[tool.fastapi]\nentrypoint = "plain_asgi:ap"\n')
    imp = check(tmp_path, "fastapi run --port ${port}")
    assert (imp.status, imp.summary) == ("fail", "plain_asgi.py has no attribute 'ap'")


def test_fastapi_cli_wrong_app(tmp_path: Path, backend: Path) -> None:
    imp = check(tmp_path, "fastapi run main.py --app application --port ${port}")
    assert (imp.status, imp.summary) == ("fail", "main.py has no attribute 'application'")
    assert imp.fix == "fastapi run main.py --app app --port 5000"
    imp = check(tmp_path, "fastapi run plain_asgi.py --port ${port}")
    assert (imp.status, imp.summary) == (
        "fail",
        "plain_asgi:app is an ASGI app (Starlette), but fastapi serves only a FastAPI instance",
    )
    imp = check(tmp_path, "fastapi run main.py --app create_app --port ${port}")
    assert (imp.status, imp.kind) == ("fail", "factory")
    assert imp.summary.endswith("not an app: fastapi serves only a FastAPI instance")


@pytest.mark.parametrize(
    "cmd",
    [
        "python manage.py runserver ${port}",
        "./manage.py runserver 127.0.0.1:${port}",
        "uv run python manage.py runserver --settings mysite.settings ${port}",
    ],
)
def test_django_runserver_imports_the_settings(tmp_path: Path, backend: Path, cmd: str) -> None:
    (backend / "manage.py").chmod(0o755)
    imp = check(tmp_path, cmd)
    assert (imp.status, imp.summary) == (
        "ok",
        "mysite.settings imports (Django settings, mysite/settings.py)",
    )


def test_django_settings_that_do_not_import(tmp_path: Path, backend: Path) -> None:
    imp = check(tmp_path, "python manage.py runserver --settings mysite.setings ${port}")
    assert (imp.status, imp.summary) == ("fail", "module 'mysite.setings' not found (looked in .)")
    assert imp.fix == "python manage.py runserver --settings mysite.settings 5000"
    settings = backend / "mysite" / "settings.py"
    settings.write_text("import environ\n" + settings.read_text())
    imp = check(tmp_path, "python manage.py runserver ${port}")
    assert (imp.status, imp.summary) == ("fail", "mysite/settings.py could not be imported")
    assert imp.details[:2] == (
        "ModuleNotFoundError: No module named 'environ'",
        "at mysite/settings.py:1: import environ",
    )


def test_wrappers_are_stripped_to_the_server(tmp_path: Path, backend: Path) -> None:
    imp = check(tmp_path, "uv run --no-sync gunicorn shop:create_app -b 127.0.0.1:${port}")
    assert (imp.status, imp.kind) == ("fail", "factory")
    assert imp.fix == "uv run --no-sync gunicorn 'shop:create_app()' -b 127.0.0.1:5000"
    imp = check(tmp_path, "python -m gunicorn shop:create_app -b 127.0.0.1:${port}")
    assert (imp.status, imp.fix) == (
        "fail",
        "python -m gunicorn 'shop:create_app()' -b 127.0.0.1:5000",
    )
    imp = check(tmp_path, "uv run python -m uvicorn 'main:create_app()' --port ${port}")
    assert (imp.status, imp.fix) == (
        "fail",
        "uv run python -m uvicorn --factory main:create_app --port 5000",
    )
    imp = check(tmp_path, "uv run uvicorn main:app --port ${port}")
    assert (imp.status, imp.summary) == ("ok", "main:app imports; ASGI app (FastAPI)")


@pytest.mark.parametrize(
    ("worker", "package"),
    [
        ("uvicorn_worker.UvicornWorker", "uvicorn-worker"),
        ("gevent", "gevent"),
    ],
)
def test_gunicorn_worker_class_must_import(
    tmp_path: Path, plain: Path, worker: str, package: str
) -> None:
    imp = check(tmp_path, f"gunicorn -k {worker} api.index:app -b 127.0.0.1:${{port}}")
    assert (imp.status, imp.kind) == ("fail", "not-installed")
    assert imp.summary.startswith(f"gunicorn's worker class {worker} (")
    assert imp.fix == f".venv/bin/python -m pip install {package}"


def test_gunicorn_worker_class_this_gunicorn_does_not_have(tmp_path: Path, plain: Path) -> None:
    """gunicorn 27 has no eventlet worker: gunicorn exits ("Entry point ... not found")."""
    imp = check(tmp_path, "gunicorn -k eventlet api.index:app -b 127.0.0.1:${port}")
    assert (imp.status, imp.kind) == ("fail", "unknown-worker")
    assert imp.summary == "gunicorn's worker class eventlet does not exist"
    assert imp.details[0].startswith("this gunicorn has no worker class 'eventlet' (it has: ")
    assert "gevent" in imp.details[0] and "gthread" in imp.details[0]


def test_gunicorn_uvicorn_worker_installed(tmp_path: Path, backend: Path) -> None:
    for worker in ("uvicorn_worker.UvicornWorker", "uvicorn.workers.UvicornWorker"):
        imp = check(tmp_path, f"gunicorn -k {worker} main:app -b 127.0.0.1:${{port}}")
        assert (imp.status, imp.summary) == ("ok", "main:app imports; ASGI app (FastAPI)")


# --- the claims, and the fixes, with the servers really running --------------------------


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _served(backend: Path, line: str, started: list[subprocess.Popen[bytes]]) -> int:
    """Start ``line`` (its ``{port}`` a free port) with the venv's program; the status of
    its first answer to GET /."""
    port = free_port()
    argv = shlex.split(line.format(port=port))
    argv[0] = str(backend / ".venv" / "bin" / argv[0])
    started.append(
        subprocess.Popen(argv, cwd=backend, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    return _status_of(f"http://127.0.0.1:{port}/", started[-1])


def _status_of(url: str, proc: subprocess.Popen[bytes]) -> int:
    answer: list[int] = []

    def answered() -> bool:
        assert proc.poll() is None, f"exited {proc.returncode}"
        try:
            answer.append(httpx.get(url, timeout=2).status_code)
        except httpx.TransportError:
            return False
        return True

    wait_until(answered, timeout=60)
    return answer[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "cmd",
    [
        "gunicorn shop:create_app --bind 127.0.0.1:{port}",
        "hypercorn main:create_app --bind 127.0.0.1:{port}",
        "granian --interface asgi main:create_app --port {port}",
        "waitress-serve --listen=127.0.0.1:{port} shop:create_app",
    ],
)
def test_a_server_serving_a_factory_answers_500(
    tmp_path: Path, backend: Path, started: list[subprocess.Popen[bytes]], cmd: str
) -> None:
    """The check's claim, seen: the server starts with the bare factory and every request
    gets a 500 (create_app() called with the request's arguments); its fix answers 200."""
    fix = check(tmp_path, cmd.replace("{port}", "${port}")).fix
    assert fix is not None
    assert _served(backend, cmd, started) == 500
    assert _served(backend, fix.replace("5000", "{port}"), started) == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    "cmd",
    [
        "uv run uvicorn --factory main:create_app --port {port}",
        "hypercorn 'main:create_app()' --bind 127.0.0.1:{port}",
        "granian --factory --interface asgi main:create_app --port {port}",
        "waitress-serve --call --listen=127.0.0.1:{port} shop:create_app",
        "fastapi run --port {port}",
        "python manage.py runserver {port} --noreload",
        "flask --app api/index run --port {port}",
        "gunicorn -k uvicorn_worker.UvicornWorker main:app -b 127.0.0.1:{port}",
    ],
)
def test_what_the_check_passes_serves(
    tmp_path: Path, backend: Path, started: list[subprocess.Popen[bytes]], cmd: str
) -> None:
    imp = check(tmp_path, cmd.replace("{port}", "${port}"))
    assert imp.status == "ok", imp
    assert _served(backend, cmd, started) == 200


def test_uvicorn_without_its_workers_module_points_to_uvicorn_worker(
    tmp_path: Path, plain: Path
) -> None:
    """A uvicorn that has no uvicorn.workers (it moved to the uvicorn-worker package): here
    a uvicorn package of the project's own, first on sys.path as gunicorn puts the cwd."""
    (plain / "uvicorn").mkdir()
    (plain / "uvicorn" / "__init__.py").write_text("")
    imp = check(tmp_path, "gunicorn -k uvicorn.workers.UvicornWorker main:app -b 127.0.0.1:${port}")
    assert (imp.status, imp.fix) == ("fail", ".venv/bin/python -m pip install uvicorn-worker")
    assert imp.details[-2:] == (
        "this uvicorn has no workers module: -k uvicorn_worker.UvicornWorker",
        "uvicorn-worker must be installed in the interpreter gunicorn runs with",
    )


def test_hypercorn_mode_prefix(tmp_path: Path, backend: Path) -> None:
    """hypercorn asgi:main:app names the interface before the module (was: module 'asgi')."""
    imp = check(tmp_path, "hypercorn asgi:main:app --bind 127.0.0.1:${port}")
    assert (imp.status, imp.summary) == ("ok", "main:app imports; ASGI app (FastAPI)")
    imp = check(tmp_path, "hypercorn wsgi:main:app --bind 127.0.0.1:${port}")
    assert (imp.status, imp.summary) == (
        "fail",
        "main:app is an ASGI app (FastAPI), but hypercorn serves WSGI apps",
    )


@pytest.mark.slow
def test_up_serves_the_forms_the_check_passes_and_blocks_a_bare_factory(
    tmp_path: Path, backend: Path
) -> None:
    """Through `devstack up`: fastapi run under uv run, manage.py runserver and
    waitress-serve --call become healthy; gunicorn given a bare factory never starts."""
    import signal

    from support.stackrun import RunningStack

    (backend / "manage.py").chmod(0o755)
    services = {
        "fast": "uv run fastapi run --host 127.0.0.1 --port ${port}",
        "django": "./manage.py runserver 127.0.0.1:${port} --noreload",
        "waitress": "waitress-serve --call --listen=127.0.0.1:${port} shop:create_app",
        "factory": "gunicorn shop:create_app --bind 127.0.0.1:${port}",
    }
    (tmp_path / "stack.toml").write_text(
        "".join(
            f'[services.{name}]\ncmd = "{cmd}"\ncwd = "backend"\nport = {free_port()}\n'
            'health.http = "/"\nhealth.start_period = "90s"\n\n'
            for name, cmd in services.items()
        )
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^factory\s+\* \[check failed\] shop:create_app is an app factory", 90)
        for name in ("fast", "django", "waitress"):
            stack.wait_for(rf"^{name}\s+\* \[healthy\] GET .*/ -> 200", timeout=120)
        workers = stack.descendants()
        stack.signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 130
    assert not [p for p in workers if p.is_running() and p.status() != "zombie"]


def test_uv_run_directory_is_where_the_app_and_venv_are(tmp_path: Path, backend: Path) -> None:
    """uv run --directory backend runs the server there, with backend/.venv: the check
    imports main from backend (not from the stack's folder, where there is no main.py)."""
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "backend/.venv/bin/uv run --directory backend uvicorn main:app"\n'
    )
    stack = load_stack(tmp_path / "stack.toml", tmp_path)
    results = asyncio.run(check_service(stack.services["api"], stack, skip=("port",)))
    imp = {r.check: r for r in results}["import"]
    assert (imp.status, imp.summary) == ("ok", "main:app imports; ASGI app (FastAPI)")


def test_fastapi_dev_without_its_file(tmp_path: Path, backend: Path) -> None:
    """No main.py, app.py, api.py, app/main.py...: fastapi dev exits; the check names the
    FastAPI app that is here."""
    (backend / "main.py").unlink()
    (backend / "service.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    imp = check(tmp_path, "fastapi dev --port ${port}")
    assert (imp.status, imp.summary) == ("fail", "module 'main' not found (looked in .)")
    assert imp.fix == "fastapi dev service.py --app app --port 5000"


def test_django_settings_needing_what_manage_py_loads_only_warn(
    tmp_path: Path, backend: Path
) -> None:
    """Settings reading a variable that manage.py loads from .env before importing them:
    the check imports them without that step, so a KeyError there is no certainty."""
    settings = backend / "mysite" / "settings.py"
    settings.write_text("import os\nSECRET = os.environ['SECRET']\n" + settings.read_text())
    imp = check(tmp_path, "python manage.py runserver ${port}")
    assert imp.status == "fail"  # manage.py sets nothing: runserver fails the same way
    manage = backend / "manage.py"
    manage.write_text(
        manage.read_text().replace(
            "    os.environ.setdefault", "    os.environ['SECRET'] = 'x'\n    os.environ.setdefault"
        )
    )
    imp = check(tmp_path, "python manage.py runserver ${port}")
    assert imp.status == "warn"
    assert imp.details[-1] == (
        "manage.py prepares the environment before it imports them (not done here)"
    )
