"""init's probe suggestion names only a route the app is seen to have (issue 13, field
trial): the Next.js + Flask starter's API has `/api/python` and no `/health`, yet init's
comment said `a route is better: health.http = "/health"`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.config.procfile import parse_procfile
from devstack.export.fromprocfile import infer_services, render_toml

DATA = Path(__file__).parents[2] / "data" / "init"
FASTAPI = """\
from fastapi import APIRouter, FastAPI

app = FastAPI()
router = APIRouter(prefix="/v1")


@app.get("/items/{item_id}")
def item(item_id: int):
    return {"id": item_id}


@router.get("/health")  # under /v1: not the app's own /health
def v1_health():
    return {}


@app.post("/login")
def login():
    return {}


@app.get("/healthz")
async def healthz():
    return {"ok": True}
"""
FACTORY = """\
from flask import Flask


def create_app():
    app = Flask(__name__)
    app.add_url_rule("/", "home", lambda: "ok")

    @app.route("/submit", methods=["POST"])
    def submit():
        return "done"

    return app
"""
NO_STATIC_ROUTE = """\
from flask import Flask

app = Flask(__name__)


@app.route("/users/<int:uid>")
def user(uid):
    return str(uid)
"""


def rendered(root: Path, procfile: str) -> str:
    services = infer_services(parse_procfile(procfile), root)
    return render_toml(services, "Procfile", None)


def test_the_starters_flask_api_gets_its_own_route_not_a_made_up_health(
    tmp_path: Path,
) -> None:
    (tmp_path / "api").mkdir()
    shutil.copy(DATA / "index.nextjs-flask.py", tmp_path / "api" / "index.py")
    text = rendered(tmp_path, "api: python3 -m flask --app api/index run -p 5328\n")
    assert 'a route is better: health.http = "/api/python"' in text
    assert "/health" not in text


@pytest.mark.parametrize(
    ("files", "line", "route"),
    [
        # A health-like route of the app itself, not a router's, not a POST.
        ({"main.py": FASTAPI}, "api: uvicorn main:app --port 8000", "/healthz"),
        # A factory's routes are read inside it; a POST-only one is no probe.
        ({"app.py": FACTORY}, "api: gunicorn 'app:create_app()' -b :8000", "/"),
        # Only routes with parameters: nothing to suggest.
        ({"app.py": NO_STATIC_ROUTE}, "api: flask --app app run -p 8000", None),
        ({}, "api: gunicorn missing:app -b :8000", None),
    ],
)
def test_the_probe_suggestion_is_a_route_the_app_declares(
    tmp_path: Path, files: dict[str, str], line: str, route: str | None
) -> None:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    text = rendered(tmp_path, line + "\n")
    assert "health.tcp = true  # ready once the port accepts connections" in text
    if route is None:
        assert "a route is better" not in text
    else:
        assert f'a route is better: health.http = "{route}"' in text
