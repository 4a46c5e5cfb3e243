"""Issue 18 point 2, as a new user saw it on a Flask + Celery + Redis stack: Redis got a
placeholder Dockerfile and a python3 healthcheck, the setup step was dropped without a
word, and `flask run` was exported as if it were a production server. Only to_compose,
the interface compose.yaml came from before the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from devstack.export.compose import to_compose
from devstack.export.source import load_source

STACK = """\
[services.redis]
cmd = "redis-server --port ${port}"
port = 6390

[services.web]
cmd = "flask --app app run --port ${port}"
port = 5001
setup = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && flask db upgrade"
depends_on = { redis = "healthy" }
"""


def compose(root: Path) -> tuple[str, Any]:
    (root / "stack.toml").write_text(textwrap.dedent(STACK))
    (root / "requirements.txt").write_text("flask\n")
    (root / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    text = to_compose(load_source(root / "stack.toml", {"PATH": "/bin"}), root)
    return text, yaml.safe_load(text)


def test_redis_is_its_image_with_redis_cli_ping_not_a_placeholder(tmp_path: Path) -> None:
    _, data = compose(tmp_path)
    redis = data["services"]["redis"]
    assert redis.get("image") == "redis:7" and "build" not in redis
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "-p", "6390", "ping"]
    assert redis["volumes"] == ["redis-data:/data"]


def test_the_setup_step_that_cannot_be_built_is_said(tmp_path: Path) -> None:
    text, _ = compose(tmp_path)
    assert "NOT RUN: setup step `flask db upgrade`" in text


def test_flask_run_is_exported_as_gunicorn(tmp_path: Path) -> None:
    text, data = compose(tmp_path)
    assert data["services"]["web"]["command"] == [
        *("gunicorn", "--bind", "0.0.0.0:5001", "app:app")
    ]
    assert "dev server `flask run` exported as its production counterpart" in text
