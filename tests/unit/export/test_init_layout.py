"""devstack init on the layouts a new user's repository has: a frontend and a backend in
folders of their own, a Flask app made by a factory, and two lockfiles of different
package managers side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.export.fromlayout import infer_layout, part_folders
from devstack.export.frompackage import choose_manager, python_entry
from devstack.export.fromprocfile import Inferred, render_toml

DATA = Path(__file__).parents[2] / "data" / "init"
FLASK_API = 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get("/api/health")\ndef health():\n    return "ok"\n'  # noqa: E501


def frontend(folder: Path, *, proxy_port: int | None = 5328, dev: str = "next dev") -> None:
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"scripts": {"dev": dev}}))
    (folder / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    if proxy_port is not None:
        text = (DATA / "next.config.nextjs-flask.js").read_text()
        (folder / "next.config.js").write_text(text.replace("5328", str(proxy_port)))


def backend(folder: Path, text: str = FLASK_API, requirements: str = "Flask\n") -> None:
    folder.mkdir(parents=True)
    (folder / "app.py").write_text(text)
    (folder / "requirements.txt").write_text(requirements)


def by_name(services: list[Inferred]) -> dict[str, Inferred]:
    return {s.name: s for s in services}


def loads(root: Path, services: list[Inferred]) -> None:
    """What init writes, load_stack reads."""
    (root / "stack.toml").write_text(render_toml(services, "this directory", None, what="x"))
    stack = load_stack(root / "stack.toml", environ={"PATH": "/bin"})
    assert set(stack.services) == {s.name for s in services}


@pytest.mark.parametrize(
    ("front", "back"), [("frontend", "backend"), ("web", "api"), ("client", "server")]
)
def test_a_frontend_and_a_backend_folder_become_two_services(
    tmp_path: Path, front: str, back: str
) -> None:
    frontend(tmp_path / front)
    backend(tmp_path / back)
    assert [p.name for p in part_folders(tmp_path)] == [front, back]
    services, _notes = infer_layout(tmp_path)
    found = by_name(services)
    assert list(found) == [front, back]
    fe, be = found[front], found[back]
    assert (fe.cwd, fe.cmd, fe.port) == (front, "npm run dev -- --port ${port}", 3000)
    assert (be.cwd, be.cmd, be.port) == (back, "flask --app app run --port ${port}", 5328)
    assert be.port_reason == "the port the frontend's proxy targets"
    # The proxy points at the backend's port: the frontend waits for it.
    assert list(fe.depends_on) == [back]
    assert be.setup == "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    loads(tmp_path, services)


def test_without_a_proxy_the_backend_keeps_its_own_port_and_nothing_waits(
    tmp_path: Path,
) -> None:
    frontend(tmp_path / "frontend", proxy_port=None)
    backend(
        tmp_path / "backend", FLASK_API + "\nif __name__ == '__main__':\n    app.run(port=8010)\n"
    )
    found = by_name(infer_layout(tmp_path)[0])
    assert found["backend"].port == 8010
    assert found["backend"].port_reason == "the port app.py's app.run() names"
    assert found["frontend"].depends_on == {}
    backend(tmp_path / "other", "from fastapi import FastAPI\n\napp = FastAPI()\n")
    assert python_entry(tmp_path / "other", {}, set()) is not None


def test_apps_folders_one_level(tmp_path: Path) -> None:
    frontend(tmp_path / "apps" / "site", proxy_port=8000, dev="vite")
    backend(
        tmp_path / "apps" / "api-server",
        "from fastapi import FastAPI\n\napp = FastAPI()\n",
        "fastapi\nuvicorn\n",
    )
    (tmp_path / "apps" / "docs").mkdir()  # neither: left out
    services, _notes = infer_layout(tmp_path)
    found = by_name(services)
    assert list(found) == ["site", "api-server"]  # the frontends first
    assert found["api-server"].cwd == "apps/api-server"
    assert found["api-server"].port == 8000
    assert found["site"].port == 5173
    assert list(found["site"].depends_on) == ["api-server"]
    loads(tmp_path, services)


FACTORY = (
    "from flask import Flask\n\n\ndef create_app():\n    app = Flask(__name__)\n\n"
    '    @app.get("/")\n    def index():\n        return "ok"\n\n    return app\n'
)


def test_a_factory_app_made_in_wsgi_py_is_served_as_wsgi_app(tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text(FACTORY)
    (tmp_path / "wsgi.py").write_text("from myapp import create_app\n\napp = create_app()\n")
    (tmp_path / "requirements.txt").write_text("Flask==3.0.3\ngunicorn==22.0.0\n")
    svc = python_entry(tmp_path, {}, set())
    assert svc is not None
    assert svc.cmd == "gunicorn wsgi:app --bind 127.0.0.1:${port}"
    assert (svc.app, svc.port) == ("wsgi:app", 8000)  # gunicorn's default


def test_a_factory_alone_is_served_by_calling_it(tmp_path: Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text(FACTORY)
    (tmp_path / "requirements.txt").write_text("Flask\ngunicorn\n")
    svc = python_entry(tmp_path, {}, set())
    assert svc is not None
    assert svc.cmd == "gunicorn 'myapp:create_app()' --bind 127.0.0.1:${port}"
    (tmp_path / "requirements.txt").write_text("Flask\n")  # no gunicorn: flask's own server
    svc = python_entry(tmp_path, {}, set())
    assert svc is not None
    assert svc.cmd == "flask --app myapp run --port ${port}"  # flask finds create_app
    loads(tmp_path, [svc])


def _lockfiles(root: Path, package: dict[str, object]) -> None:
    (root / "package.json").write_text(json.dumps({"scripts": {"dev": "next dev"}, **package}))
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: 5.4\n")
    (root / "package-lock.json").write_text('{"lockfileVersion": 3}\n')


def test_two_lockfiles_the_package_manager_field_decides(tmp_path: Path) -> None:
    _lockfiles(tmp_path, {"packageManager": "pnpm@7.33.0"})
    manager, why = choose_manager(tmp_path)
    assert manager == "pnpm"
    assert why == (
        "# pnpm: package.json's packageManager is pnpm@7.33.0 (corepack runs that one);"
        " package-lock.json is not read by pnpm"
    )


def test_two_lockfiles_without_the_field_the_one_changed_last_wins(tmp_path: Path) -> None:
    """The field case: a pnpm 7 lockfile (v5.4) beside a newer package-lock.json."""
    _lockfiles(tmp_path, {})
    os.utime(tmp_path / "pnpm-lock.yaml", (1_600_000_000, 1_600_000_000))  # 2020-09-13
    os.utime(tmp_path / "package-lock.json", (1_700_000_000, 1_700_000_000))  # 2023-11-14
    manager, why = choose_manager(tmp_path)
    assert manager == "npm"
    assert why is not None
    assert why.startswith(
        "# npm: pnpm-lock.yaml (lockfile v5.4) modified 2020-09-13, package-lock.json"
        " (lockfile v3) modified 2023-11-14; package.json names no packageManager, so the"
        " lockfile changed last wins (package-lock.json)."
    )
    os.utime(tmp_path / "pnpm-lock.yaml", (1_800_000_000, 1_800_000_000))
    assert choose_manager(tmp_path)[0] == "pnpm"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_in_a_clone_the_last_commit_counts_not_the_mtime(tmp_path: Path) -> None:
    _lockfiles(tmp_path, {})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    for name, date in (
        ("package-lock.json", "2023-11-14T00:00:00"),
        ("pnpm-lock.yaml", "2022-01-02T00:00:00"),
    ):
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        subprocess.run([*git, "add", name], check=True)
        subprocess.run([*git, "commit", "-qm", name], check=True, env=env)
    # A fresh checkout: the pnpm lockfile has the newer mtime, but npm's was committed last.
    os.utime(tmp_path / "pnpm-lock.yaml")
    manager, why = choose_manager(tmp_path)
    assert manager == "npm"
    assert why is not None and "package-lock.json (lockfile v3) committed 2023-11-14" in why


def test_folder_names_in_any_case_and_services_named_in_lower_case(tmp_path: Path) -> None:
    """A real starter's ``Backend/`` beside ``frontend/``."""
    frontend(tmp_path / "frontend", proxy_port=5000)
    backend(tmp_path / "Backend")
    found = by_name(infer_layout(tmp_path)[0])
    assert list(found) == ["frontend", "backend"]
    assert (found["backend"].cwd, found["backend"].port) == ("Backend", 5000)
    assert list(found["frontend"].depends_on) == ["backend"]


def test_two_next_apps_do_not_share_a_port(tmp_path: Path) -> None:
    frontend(tmp_path / "apps" / "site", proxy_port=None)
    frontend(tmp_path / "apps" / "admin", proxy_port=None)
    services = infer_layout(tmp_path)[0]
    assert [(s.name, s.port) for s in services] == [("admin", 3000), ("site", 3001)]
    loads(tmp_path, services)


def test_an_app_at_the_top_beside_a_frontend_folder(tmp_path: Path) -> None:
    """app.py at the repository's top, the Next app in frontend/ proxying to it."""
    frontend(tmp_path / "frontend", proxy_port=5328)
    (tmp_path / "app.py").write_text(FLASK_API)
    (tmp_path / "requirements.txt").write_text("Flask\n")
    services = infer_layout(tmp_path)[0]
    found = by_name(services)
    assert list(found) == ["frontend", "backend"]
    assert (found["backend"].cwd, found["backend"].port) == (None, 5328)
    assert list(found["frontend"].depends_on) == ["backend"]
    loads(tmp_path, services)


def test_a_factory_that_needs_arguments_is_noted(tmp_path: Path) -> None:
    """pbedn/flask-app-factory's shape: ``def create_app(config_object)`` in server/."""
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "__init__.py").write_text(
        FACTORY.replace("def create_app():", "def create_app(config_object, *, debug=False):")
    )
    svc = python_entry(tmp_path, {}, set())
    assert svc is not None
    assert svc.notes[-1] == (
        "# create_app() takes config_object: the server calls it without arguments;"
        " give them in the target, e.g. 'server:create_app(...)'"
    )


DJANGO_MANAGE = (
    "import os\nimport sys\n\n\ndef main():\n"
    "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hello_project.settings')\n"
    "    from django.core.management import execute_from_command_line\n"
    "    execute_from_command_line(sys.argv)\n"
)


def test_a_django_project_one_level_down(tmp_path: Path) -> None:
    """moro23/django-postgres-docker: app/manage.py, the Pipfile and Dockerfile above it;
    init said 'no Python web app' there."""
    (tmp_path / "app" / "hello_project").mkdir(parents=True)
    (tmp_path / "app" / "manage.py").write_text(DJANGO_MANAGE)
    (tmp_path / "app" / "hello_project" / "settings.py").write_text("DEBUG = True\n")
    (tmp_path / "Pipfile").write_text('[packages]\ndjango = "*"\n')
    (tmp_path / "Dockerfile").write_text("FROM python:3.12\n")
    (tmp_path / "docs").mkdir()
    assert [p.name for p in part_folders(tmp_path)] == ["app"]
    [app] = infer_layout(tmp_path)[0]
    assert (app.name, app.cwd, app.port) == ("app", "app", 8000)
    assert app.cmd == "python3 manage.py runserver 127.0.0.1:${port}"
    loads(tmp_path, [app])
    # A Django project at the top stays the one served: no folder below is a part then.
    (tmp_path / "manage.py").write_text(DJANGO_MANAGE)
    assert part_folders(tmp_path) == []
