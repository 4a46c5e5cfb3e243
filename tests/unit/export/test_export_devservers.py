"""Dev servers read from a command (and a package.json script): the one list export uses."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from devstack.export.devservers import PRODUCTION, dev_server

DEV = [
    ("flask --app app run --port 5001", "flask run"),
    ("python -m flask run", "flask run"),
    ("uv run flask run --debug", "flask run"),
    ("python3 manage.py runserver 0.0.0.0:8000", "manage.py runserver"),
    ("uvicorn main:app --reload --port 8000", "uvicorn --reload"),
    ("gunicorn app:app --reload", "gunicorn --reload"),
    ("fastapi dev main.py", "fastapi dev"),
    ("next dev -p 3000", "next dev"),
    ("npx next dev --turbopack", "next dev"),
    ("pnpm exec next dev", "next dev"),
    ("vite", "vite"),
    ("npx vite --port 5173", "vite"),
    ("vite dev", "vite"),
    ("astro dev", "astro dev"),
    ("react-scripts start", "react-scripts start"),
]
PRODUCTION_COMMANDS = [
    "gunicorn app:app --bind 0.0.0.0:5001",
    "uvicorn main:app --workers 2",
    "next start -p 3000",
    "vite build",
    "vite preview",
    "celery -A tasks worker",
    "redis-server --port 6390",
    "python3 worker.py",
]


@pytest.mark.parametrize(("cmd", "name"), DEV)
def test_dev_servers(tmp_path: Path, cmd: str, name: str) -> None:
    assert dev_server(shlex.split(cmd), tmp_path) == name
    assert name in PRODUCTION


@pytest.mark.parametrize("cmd", PRODUCTION_COMMANDS)
def test_production_servers_are_not(tmp_path: Path, cmd: str) -> None:
    assert dev_server(shlex.split(cmd), tmp_path) is None


def test_through_a_package_script_and_a_shell(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text(
        '{"scripts": {"dev": "next dev --turbopack", "start": "next start"}}'
    )
    line = ["/bin/sh", "-c", "cd web && exec pnpm dev --port 3000"]
    assert dev_server(line, tmp_path) == "next dev"
    assert dev_server(["npm", "run", "start"], tmp_path / "web") is None
    assert dev_server(["pnpm", "dev"], None) is None  # no folder: no package.json to read
