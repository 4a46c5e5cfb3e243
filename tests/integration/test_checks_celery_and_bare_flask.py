"""The import check of ``celery -A APP`` and of bare ``flask run`` (issue 15, point 6),
each judged against the real program: the check passes what celery / flask load, and
fails what they refuse.

Found in a field trial: ``celery -A ap.celery_app worker`` passed ``devstack check``, then
exited 2 at ``up`` (``ModuleNotFoundError: No module named 'ap'``) five times over; a bare
``flask run`` was never import-checked at all.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service
from devstack.config import load_stack

# Building the flask venv once (pip) may take longer than one test's default limit.
pytestmark = pytest.mark.timeout(400)

CELERY_APP = 'from celery import Celery\n\napp = Celery("{name}", broker="memory://")\n'
FLASK_APP = "from flask import Flask\n\n{attr} = Flask(__name__)\n"


def check(root: Path, cmd: str, env: dict[str, str] | None = None) -> CheckResult | None:
    """The import check of a service ``cmd`` run in ``root/backend``."""
    lines = [f"[services.backend]\ncmd = {cmd!r}\ncwd = 'backend'"]
    if env:
        lines.append("env = { " + ", ".join(f"{k} = {v!r}" for k, v in env.items()) + " }")
    (root / "stack.toml").write_text("\n".join(lines) + "\n")
    stack = load_stack(root / "stack.toml", root)
    results = asyncio.run(check_service(stack.services["backend"], stack, skip=("port",)))
    found = {r.check: r for r in results}
    assert found["executable"].status == "ok", found["executable"]
    return found.get("import")


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)


# --- celery -A APP --------------------------------------------------------------------------


@pytest.fixture
def workers(tmp_path: Path) -> Path:
    """A folder of celery apps in each form celery finds, with celery in its .venv (the
    test environment's own: celery is a test dependency)."""
    directory = tmp_path / "backend"
    directory.mkdir()
    (directory / ".venv").symlink_to(sys.prefix)
    _write(
        directory,
        {
            "api/__init__.py": "",
            "api/celery_app.py": CELERY_APP.format(name="api"),
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP.format(name="proj"),  # found as proj.celery
            "tasks.py": CELERY_APP.format(name="tasks").replace("app =", "worker ="),
            "notapp.py": "x = 1\n",
            "broken.py": "import redis_not_installed\n" + CELERY_APP.format(name="b"),
        },
    )
    return directory


def _celery_loads(directory: Path, cmd: str) -> bool:
    """Does the real celery load the app of ``cmd``? (the group loads it before the
    subcommand; ``inspect --help`` then exits without a broker)."""
    argv = cmd.split()
    at = argv.index("worker") if "worker" in argv else argv.index("beat")
    program = directory / argv[0] if "/" in argv[0] else Path(sys.prefix, "bin", argv[0])
    argv = [str(program), *argv[1:at], "inspect", "--help"]
    ran = subprocess.run(argv, cwd=directory, capture_output=True, timeout=60)
    return ran.returncode == 0


@pytest.mark.parametrize(
    ("cmd", "status", "summary"),
    [
        # The field trial's miss: the package is api, the command says ap.
        (
            "celery -A ap.celery_app worker",
            "fail",
            "module 'ap.celery_app' not found (looked in .)",
        ),
        ("celery -A api.celery_app worker -l info", "ok", "api.celery_app imports; Celery app"),
        ("celery --app api.celery_app:app worker", "ok", "api.celery_app:app imports; Celery app"),
        ("celery --app=proj beat", "ok", "proj imports; Celery app"),  # proj.celery submodule
        ("celery -A tasks worker", "ok", "tasks imports; Celery app"),  # any Celery instance
        ("python -m celery -A api.celery_app worker", "ok", "api.celery_app imports; Celery app"),
        # The venv's python is a symlink to its base interpreter: run as written, in the venv.
        (
            ".venv/bin/python -m celery -A api.celery_app worker",
            "ok",
            "api.celery_app imports; Celery app",
        ),
        (
            "celery -A notapp worker",
            "fail",
            "notapp.py imports, but celery -A notapp finds no Celery app in it",
        ),
        (
            "celery -A api.celery_app:nope worker",
            "fail",
            "api/celery_app.py imports, but celery -A api.celery_app:nope finds no Celery app "
            "in it",
        ),
        ("celery -A notapp:x worker", "fail", "celery -A notapp:x names a int object, not a"),
        ("celery -A broken worker", "fail", "broken.py could not be imported"),
    ],
)
def test_celery_app_checked_as_celery_loads_it(
    tmp_path: Path, workers: Path, cmd: str, status: str, summary: str
) -> None:
    result = check(tmp_path, cmd)
    assert result is not None, "celery -A was not import-checked"
    assert (result.status, result.summary[: len(summary)]) == (status, summary), result
    assert "WSGI" not in result.summary and "web app" not in " ".join(result.details)
    # The check's verdict is celery's own.
    assert _celery_loads(workers, cmd) == (status == "ok")


def test_the_field_trials_celery_app_gets_the_package_it_meant(
    tmp_path: Path, workers: Path
) -> None:
    result = check(tmp_path, "celery -A ap.celery_app worker")
    assert result is not None and result.failed and result.kind == "typo", result
    assert result.details == (
        "ModuleNotFoundError: No module named 'ap'",
        "did you mean api.celery_app? (api/ is here)",
    )
    assert result.fix == "celery -A api.celery_app worker"
    fixed = check(tmp_path, result.fix)
    assert fixed is not None and fixed.status == "ok", fixed
    assert _celery_loads(workers, result.fix)


def test_celery_app_importing_what_is_not_installed(tmp_path: Path, workers: Path) -> None:
    result = check(tmp_path, "celery -A broken worker")
    assert result is not None and result.failed
    assert "ModuleNotFoundError: No module named 'redis_not_installed'" in result.details
    assert "at broken.py:1: import redis_not_installed" in result.details
    assert result.kind == "undeclared"
    assert result.fix is not None and result.fix.endswith("pip install redis-not-installed")


def test_celery_app_in_a_subfolder_is_a_wrong_cwd(tmp_path: Path, workers: Path) -> None:
    (workers / "server").mkdir()
    (workers / "api").rename(workers / "server" / "api")
    result = check(tmp_path, "celery -A api.celery_app worker")
    assert result is not None and result.failed and result.kind == "wrong-cwd", result
    assert "(or keep the cwd: celery --workdir server does the same)" in result.details
    fixed = check(tmp_path, "celery --workdir server -A api.celery_app worker")
    assert fixed is not None and fixed.status == "ok", fixed
    assert _celery_loads(workers, "celery --workdir server -A api.celery_app worker")


def test_celery_app_after_the_subcommand_is_refused_by_celery_5(
    tmp_path: Path, workers: Path
) -> None:
    # Celery 4's order; celery 5 exits 2: "Error: No such option '-A'".
    result = check(tmp_path, "celery worker -A api.celery_app -l info")
    assert result is not None and result.failed and result.kind == "usage", result
    assert result.summary == "celery 5 takes -A before the subcommand; after it, celery exits 2"
    assert result.fix == "celery -A api.celery_app worker -l info"
    celery = str(Path(sys.prefix, "bin", "celery"))
    ran = subprocess.run(
        [celery, "worker", "-A", "api.celery_app", "--help"],
        cwd=workers,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "No such option '-A'" in ran.stderr
    fixed = check(tmp_path, result.fix)
    assert fixed is not None and fixed.status == "ok", fixed
    assert _celery_loads(workers, result.fix)


def test_celery_under_uv_run_directory_in_that_folders_venv(
    tmp_path: Path, workers: Path, servers_venv: Path
) -> None:
    # uv runs celery in sub/'s .venv; the check imports with that venv's python too (not
    # the python3 on PATH, which has no celery).
    sub = workers / "sub"
    sub.mkdir()
    (workers / "api").rename(sub / "api")
    (workers / ".venv").rename(sub / ".venv")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").symlink_to(servers_venv / "bin" / "uv")
    path = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    cmd = "uv run --directory sub celery -A api.celery_app worker"
    result = check(tmp_path, cmd, env={"PATH": path})
    assert result is not None and result.status == "ok", result
    argv = [str(bin_dir / "uv"), *cmd.split()[1:-1], "inspect", "--help"]
    env = {**os.environ, "PATH": path, "UV_NO_PROGRESS": "1"}
    ran = subprocess.run(argv, cwd=workers, env=env, capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stderr


def test_celery_app_from_the_env(tmp_path: Path, workers: Path) -> None:
    result = check(tmp_path, "celery worker", env={"CELERY_APP": "ap.celery_app"})
    assert result is not None and result.failed
    fixed = check(tmp_path, "celery worker", env={"CELERY_APP": "api.celery_app"})
    assert fixed is not None and fixed.status == "ok", fixed


# --- bare flask run -------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, servers_venv: Path) -> Path:
    """An empty service folder whose .venv has flask and python-dotenv (as flask reads
    .env and .flaskenv only with python-dotenv installed)."""
    directory = tmp_path / "backend"
    directory.mkdir()
    (directory / ".venv").symlink_to(servers_venv)
    return directory


def _flask_loads(directory: Path, env: dict[str, str]) -> str | None:
    """The module the real flask CLI loads its app from in ``directory`` (None: it finds
    none), by its own rules: the flask group (--app, FLASK_APP, .env, .flaskenv) runs a
    command in the app's context, as ``flask run`` loads it."""
    code = (
        "from flask import current_app\nfrom flask.cli import FlaskGroup\n"
        "cli = FlaskGroup()\n"
        "@cli.command('which')\ndef which():\n    print('APP', current_app.import_name)\n"
        "cli.main(['which'], prog_name='flask')\n"
    )
    python = directory / ".venv" / "bin" / "python"
    ran = subprocess.run(
        [str(python), "-c", code],
        cwd=directory,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = [ln.split()[1] for ln in ran.stdout.splitlines() if ln.startswith("APP ")]
    assert found or ran.returncode != 0, ran.stderr
    return found[0] if found else None


@pytest.mark.parametrize(
    ("files", "env", "module"),
    [
        (
            {"wsgi.py": FLASK_APP.format(attr="application"), "app.py": "import nothere\n"},
            {},
            "wsgi",
        ),
        ({"app.py": FLASK_APP.format(attr="app")}, {}, "app"),
        ({"app/__init__.py": FLASK_APP.format(attr="app")}, {}, "app"),
        ({".flaskenv": "FLASK_APP=api\n", "api.py": FLASK_APP.format(attr="app")}, {}, "api"),
        (
            {
                ".env": "FLASK_APP=api",
                ".flaskenv": "FLASK_APP=web",
                "api.py": FLASK_APP.format(attr="app"),
            },
            {},
            "api",
        ),
        (
            {".env": "FLASK_APP=web\n", "api.py": FLASK_APP.format(attr="app")},
            {"FLASK_APP": "api"},
            "api",
        ),
        ({"../.flaskenv": "FLASK_APP=api\n", "api.py": FLASK_APP.format(attr="app")}, {}, "api"),
    ],
)
def test_bare_flask_run_checks_the_app_flask_finds(
    tmp_path: Path, site: Path, files: dict[str, str], env: dict[str, str], module: str
) -> None:
    _write(site, files)
    result = check(tmp_path, "flask run --port 5000", env=env)
    assert result is not None, "flask run was not import-checked"
    assert result.status == "ok", result
    assert result.summary.startswith(f"{module}:"), result
    assert _flask_loads(site, env) == module


def test_bare_flask_run_with_no_app_to_find_fails(tmp_path: Path, site: Path) -> None:
    _write(site, {"api.py": FLASK_APP.format(attr="app")})
    result = check(tmp_path, "flask run --port 5000")
    assert result is not None, "flask run was not import-checked"
    assert result.status == "fail"
    assert result.summary.startswith(
        "flask run finds no app: no --app, no FLASK_APP (env, .env, .flaskenv), "
        "no wsgi.py or app.py"
    ), result
    assert result.fix == "flask --app api:app run --port 5000"
    assert _flask_loads(site, {}) is None  # flask: "Could not locate a Flask application"


def test_bare_flask_run_finds_a_wsgi_py_without_an_app(tmp_path: Path, site: Path) -> None:
    # flask stops at the first module that imports: an app.py beside it is not tried.
    _write(site, {"wsgi.py": "x = 1\n", "app.py": FLASK_APP.format(attr="app")})
    result = check(tmp_path, "flask run --port 5000")
    assert result is not None and result.failed, result
    assert result.summary.startswith("wsgi.py defines none of app, application"), result
    assert _flask_loads(site, {}) is None


def test_bare_flask_run_with_a_flask_app_that_does_not_import(tmp_path: Path, site: Path) -> None:
    _write(site, {".flaskenv": "FLASK_APP=nope\n", "api.py": FLASK_APP.format(attr="app")})
    result = check(tmp_path, "flask run --port 5000")
    assert result is not None and result.failed, result
    assert result.summary.startswith("module 'nope' not found"), result
    assert "(FLASK_APP=nope is set in .flaskenv)" in result.details
