"""The import check never crashes on a module's globals (issue 15 point 1), with a real
Flask app in a real venv: werkzeug's lazy proxies (`request`, `current_app`, `g`,
`session`) raise on attribute access outside a request, and app discovery must pass
them by rather than end in "the import check crashed"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.checks.runner import check_service
from devstack.config import load_stack

pytestmark = pytest.mark.timeout(240)


def test_a_wrong_attr_on_a_flask_module_with_proxies_names_the_app(
    tmp_path: Path, web_venv: Path
) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / ".venv").symlink_to(web_venv)
    (backend / "api.py").write_text(
        "from flask import Flask, current_app, g, request, session\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return request.path\n"
    )
    (tmp_path / "stack.toml").write_text(
        '[services.backend]\ncwd = "backend"\n'
        'cmd = "gunicorn api:application --bind 127.0.0.1:${port}"\nport = 5000\n'
    )
    stack = load_stack(tmp_path / "stack.toml", tmp_path)
    results = asyncio.run(check_service(stack.services["backend"], stack, skip=("port",)))
    [result] = [r for r in results if r.check == "import"]
    text = "\n".join([result.summary, *result.details, result.fix or ""])
    assert result.status == "fail", text
    assert "crashed" not in text and "LocalProxy" not in text and "context" not in text, text
    assert "application" in result.summary, text
    assert "app (Flask, WSGI)" in text, text
    assert "gunicorn api:app" in text, text
