"""devstack init, through the CLI, on the layout a new user's repository most often has:
frontend/ (Next.js, two lockfiles: a pnpm 7 one beside a newer package-lock.json) and
backend/ (a Flask app made by a factory in a package, served by gunicorn from wsgi.py),
the frontend's rewrite pointing at the backend's port. Then config and check pass.
The backend imports in the session's test virtualenv (conftest's web_venv), linked as .venv."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from conftest import free_port
from support.stackrun import run_devstack

DATA = Path(__file__).parents[1] / "data" / "init"
FACTORY = (
    "from flask import Flask\n\n\ndef create_app():\n    app = Flask(__name__)\n\n"
    '    @app.get("/api/health")\n    def health():\n        return "ok"\n\n    return app\n'
)

pytestmark = pytest.mark.timeout(240)  # the first run builds the test virtualenv


def layout(root: Path, api_port: int) -> None:
    front, back = root / "frontend", root / "backend"
    front.mkdir()
    (front / "package.json").write_text(json.dumps({"scripts": {"dev": "next dev"}}))
    (front / "pnpm-lock.yaml").write_text("lockfileVersion: 5.4\n")
    (front / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    os.utime(front / "pnpm-lock.yaml", (1_600_000_000, 1_600_000_000))
    config = (DATA / "next.config.nextjs-flask.js").read_text()
    (front / "next.config.js").write_text(config.replace("5328", str(api_port)))
    (back / "myapp").mkdir(parents=True)
    (back / "myapp" / "__init__.py").write_text(FACTORY)
    (back / "wsgi.py").write_text("from myapp import create_app\n\napp = create_app()\n")
    (back / "requirements.txt").write_text("Flask\ngunicorn\n")


def test_frontend_and_backend_folders_to_a_checked_stack(tmp_path: Path, web_venv: Path) -> None:
    api_port = free_port()
    layout(tmp_path, api_port)
    (tmp_path / "backend" / ".venv").symlink_to(web_venv)
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    services_said = [line for line in done.stdout.splitlines() if line.startswith("  ")]
    assert services_said == [
        "  frontend: port 3000 (next's default port, now explicit); setup: npm ci;"
        " depends on backend",
        f"  backend: port {api_port} (the port the frontend's proxy targets);"
        " setup: .venv/bin/pip install -r requirements.txt; imports wsgi:app",
    ]
    text = (tmp_path / "stack.toml").read_text()
    assert text.startswith(
        "# Written by `devstack init` from this directory: the parts found in backend/, frontend/."
    )
    assert "# npm: pnpm-lock.yaml (lockfile v5.4) modified 2020-09-13, package-lock.json" in text
    services = tomllib.loads(text)["services"]
    assert services["frontend"]["cwd"] == "frontend"
    assert services["frontend"]["depends_on"] == {"backend": "healthy"}
    assert services["backend"]["cwd"] == "backend"
    assert services["backend"]["cmd"] == "gunicorn wsgi:app --bind 127.0.0.1:${port}"
    assert run_devstack(tmp_path, "config").returncode == 0
    # The backend: the frontend's port is next's default 3000, which this test does not own.
    checked = run_devstack(tmp_path, "check", "backend", timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "wsgi:app imports" in checked.stdout
