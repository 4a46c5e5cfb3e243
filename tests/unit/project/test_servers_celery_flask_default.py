"""Reading ``celery -A APP`` as celery reads it, and where bare ``flask run`` finds its app
(issue 15, point 6: the field trial's two commands the import check passed unchecked)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from devstack.project.servers import locate, parse_celery, parse_server


@pytest.mark.parametrize(
    ("cmd", "module", "attrs", "chdir"),
    [
        ("celery -A ap.celery_app worker", "ap.celery_app", ("app", "celery"), None),
        ("celery --app proj worker -l info", "proj", ("app", "celery"), None),
        ("celery --app=proj beat", "proj", ("app", "celery"), None),
        ("celery -Aproj worker", "proj", ("app", "celery"), None),
        ("celery -A pkg.celery_app:app worker", "pkg.celery_app", ("app",), None),
        ("celery -b redis://x -q -A proj worker -c 2", "proj", ("app", "celery"), None),
        ("celery --workdir srv -A proj worker", "proj", ("app", "celery"), "srv"),
        ("python -m celery -A proj worker", "proj", ("app", "celery"), None),
        ("uv run --with x celery -A proj worker", "proj", ("app", "celery"), None),
        ("poetry run celery -A proj beat", "proj", ("app", "celery"), None),
        ("uv run --directory backend celery -A proj worker", "proj", ("app", "celery"), "backend"),
    ],
)
def test_celery_app_as_celery_reads_it(
    cmd: str, module: str, attrs: tuple[str, ...], chdir: str | None
) -> None:
    parsed = parse_celery(shlex.split(cmd))
    assert parsed is not None
    assert (parsed.server, parsed.interface) == ("celery", "celery")
    assert (parsed.module, parsed.attrs, parsed.chdir) == (module, attrs, chdir)
    assert parsed.host is None and parsed.port is None


def test_celery_app_from_the_env_as_celery_reads_it() -> None:
    # click: the option's envvar APP, then the auto prefix's CELERY_APP.
    argv = ["celery", "worker"]
    assert parse_celery(argv) is None  # celery's default app: nothing to import
    found = parse_celery(argv, {"CELERY_APP": "proj"})
    assert found is not None and found.target == "proj"
    found = parse_celery(argv, {"APP": "one", "CELERY_APP": "two"})
    assert found is not None and found.target == "one"
    found = parse_celery(["celery", "-A", "cli", "worker"], {"APP": "env"})
    assert found is not None and found.target == "cli"


@pytest.mark.parametrize(
    ("cmd", "fixed"),
    [
        ("celery worker -A proj -l info", "celery -A proj worker -l info"),
        ("celery -q worker --app=proj", "celery -A proj -q worker"),
        ("uv run python -m celery beat -Aproj", "uv run python -m celery -A proj beat"),
    ],
)
def test_celery_app_after_the_subcommand(cmd: str, fixed: str) -> None:
    # celery 5 takes -A before the subcommand only; the check names the command with it so.
    parsed = parse_celery(shlex.split(cmd))
    assert parsed is not None and parsed.target == "proj"
    assert parsed.app_first == fixed
    assert parse_celery(shlex.split(fixed)).app_first is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "cmd", ["celery --version", "celery -A proj", "gunicorn api:app", "python -m celeryx -A p w"]
)
def test_not_a_celery_app_command(cmd: str) -> None:
    assert parse_celery(shlex.split(cmd)) is None


def test_celery_is_no_web_server() -> None:
    # The port, protocol and Procfile readers take parse_server: celery stays out of it.
    assert parse_server(shlex.split("celery -A proj worker")) is None


def _flask_run(cwd: Path, cmd: str = "flask run") -> tuple[str | None, tuple[str, ...], Path]:
    server = parse_server(shlex.split(cmd))
    assert server is not None
    found = locate(server, cwd)
    return found.module, found.attrs, (found.paths or (cwd,))[0]


def test_bare_flask_run_finds_wsgi_then_app(tmp_path: Path) -> None:
    # flask's ScriptInfo.load_app: wsgi.py, then app.py, each a file or a package.
    defaults = ("app", "application", "create_app()", "make_app()")
    assert _flask_run(tmp_path) == ("app", defaults, tmp_path)  # none: the check finds none
    (tmp_path / "app").mkdir()
    assert _flask_run(tmp_path) == ("app", defaults, tmp_path)
    (tmp_path / "app.py").write_text("")
    assert _flask_run(tmp_path)[0] == "app"
    (tmp_path / "wsgi.py").write_text("")
    assert _flask_run(tmp_path) == ("wsgi", defaults, tmp_path)


def test_bare_flask_run_in_a_package(tmp_path: Path) -> None:
    # prepare_import: a folder with __init__.py makes the name dotted, its parent the path.
    pkg = tmp_path / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "wsgi.py").write_text("")
    assert _flask_run(pkg)[::2] == ("shop.wsgi", tmp_path)


def test_flask_run_with_an_app_is_not_the_default(tmp_path: Path) -> None:
    (tmp_path / "wsgi.py").write_text("")
    assert _flask_run(tmp_path, "flask --app api run")[0] == "api"
    server = parse_server(["flask", "-e", "dev.env", "run"])
    assert server is not None and server.env_file == "dev.env" and server.target is None
