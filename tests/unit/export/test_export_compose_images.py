"""export compose of a Flask + Celery + Redis + Postgres + Next.js stack: official images,
generated Dockerfiles, production commands; valid against the Compose Specification."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from devstack.export.compose import ComposeExport, export_compose
from devstack.export.source import load_source
from support.stackrun import run_devstack

REPO = Path(__file__).parents[3]
SCHEMA = json.loads((REPO / "tests" / "data" / "compose-spec.json").read_text())

STACK = """\
[stack]
name = "shop"

[services.redis]
cmd = "redis-server --port ${port} --dir .devstack/redis --save ''"
port = 6390

[services.db]
cmd = "postgres -D .devstack/pg -p ${port} -k /tmp"
port = 5433
health.cmd = "pg_isready -h 127.0.0.1 -p ${port}"
health.interval = "2s"

[services.api]
cmd = "flask --app app run --port ${port} --debug"
cwd = "backend"
port = 5001
setup = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && flask db upgrade"
depends_on = { db = "healthy", redis = "healthy" }
env = { REDIS_URL = "redis://${services.redis.host}:${services.redis.port}/0" }

[services.worker]
cmd = "celery -A app.celery worker --loglevel info"
cwd = "backend"
depends_on = ["redis"]

[services.web]
cmd = "pnpm dev --port ${port}"
cwd = "web"
port = 3000
setup = "pnpm install"
depends_on = { api = "healthy" }
"""
APP = """\
from celery import Celery
from flask import Flask

app = Flask(__name__)
celery = Celery("app", broker="redis://127.0.0.1:6390/0")


@app.get("/health")
def health():
    return "ok"
"""


def shop(root: Path) -> Path:
    (root / "backend").mkdir()
    (root / "backend" / "requirements.txt").write_text("flask\ncelery[redis]\npsycopg\n")
    (root / "backend" / "app.py").write_text(APP)
    (root / "web").mkdir()
    package = {
        "scripts": {"dev": "next dev", "build": "next build"},
        "dependencies": {"next": "15"},
    }
    (root / "web" / "package.json").write_text(json.dumps(package))
    (root / "web" / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    (root / "stack.toml").write_text(textwrap.dedent(STACK))
    return root / "stack.toml"


def exported(root: Path) -> tuple[ComposeExport, Any]:
    done = export_compose(load_source(shop(root), {"PATH": "/usr/bin:/bin"}), root)
    data = yaml.safe_load(done.text)
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    return done, data


def test_redis_and_postgres_run_their_official_images(tmp_path: Path) -> None:
    done, data = exported(tmp_path)
    redis, db = data["services"]["redis"], data["services"]["db"]
    assert redis["image"] == "redis:7" and "build" not in redis
    assert redis["command"] == ["redis-server", "--port", "6390", "--save", ""]
    assert redis["volumes"] == ["redis-data:/data"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "-p", "6390", "ping"]
    assert db["image"] == "postgres:16"
    assert db["command"] == ["postgres", "-p", "5433"]
    assert db["volumes"] == ["db-data:/var/lib/postgresql/data"]
    assert db["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-U", "postgres"]
    assert db["healthcheck"]["interval"] == "2s"  # stack.toml's probe timing
    assert db["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    # An official image's server is no Python program: no PYTHONUNBUFFERED; the built
    # Python services keep it.
    assert "PYTHONUNBUFFERED" not in redis["environment"]
    assert "PYTHONUNBUFFERED" not in db["environment"]
    assert data["services"]["api"]["environment"]["PYTHONUNBUFFERED"] == "1"
    assert data["volumes"] == {"redis-data": {}, "db-data": {}}
    assert "working_dir" not in redis  # the image's own
    # Waiting for "healthy" now has a real check behind it.
    assert data["services"]["api"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "# official image of redis, major version 7 pinned" in done.text
    assert "dropped `--dir .devstack/redis`" in done.text


def test_python_and_node_services_build_from_generated_dockerfiles(tmp_path: Path) -> None:
    done, data = exported(tmp_path)
    api, worker, web = (data["services"][n] for n in ("api", "worker", "web"))
    assert api["build"] == {"context": ".", "dockerfile": "Dockerfile.api"}
    assert worker["build"] == {"context": ".", "dockerfile": "Dockerfile.worker"}
    assert web["build"] == {"context": ".", "dockerfile": "Dockerfile.web"}
    assert set(done.files) == {
        *("Dockerfile.api", "Dockerfile.worker", "Dockerfile.web"),
        *("Dockerfile.api.dockerignore", "Dockerfile.worker.dockerignore"),
        "Dockerfile.web.dockerignore",
    }
    assert "RUN pip install -r requirements.txt" in done.files["Dockerfile.api"]
    assert "RUN pnpm install --frozen-lockfile" in done.files["Dockerfile.web"]
    assert "RUN node_modules/.bin/next build" in done.files["Dockerfile.web"]
    assert worker["command"] == ["celery", "-A", "app.celery", "worker", "--loglevel", "info"]
    assert "# PLACEHOLDER" not in done.text


def test_dev_servers_run_their_production_counterpart(tmp_path: Path) -> None:
    done, data = exported(tmp_path)
    assert data["services"]["api"]["command"] == ["gunicorn", "--bind", "0.0.0.0:5001", "app:app"]
    assert data["services"]["web"]["command"] == [
        *("node_modules/.bin/next", "start", "-p", "3000", "-H", "0.0.0.0"),
    ]
    assert "# dev server `flask run` exported as its production counterpart" in done.text
    assert "# dev server `next dev` exported as its production counterpart" in done.text


def test_a_setup_step_that_cannot_be_built_is_said_not_dropped(tmp_path: Path) -> None:
    done, _ = exported(tmp_path)
    said = [n for n in done.notes if "flask db upgrade" in n]
    assert said and said[0].startswith("api: setup step `flask db upgrade`")
    assert "# NOT RUN: setup step `flask db upgrade`" in done.files["Dockerfile.api"]
    assert "NOT RUN: setup step `flask db upgrade`" in done.text  # and beside build:


def test_the_cli_writes_the_dockerfiles_and_says_what_changed(tmp_path: Path) -> None:
    shop(tmp_path)
    done = run_devstack(tmp_path, "export", "compose")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "Dockerfile.api").read_text().startswith("# Written by `devstack export")
    assert (tmp_path / "Dockerfile.web.dockerignore").is_file()
    assert "wrote " + str(tmp_path / "Dockerfile.api") in done.stdout
    assert "devstack: the compose export changes or cannot express:" in done.stderr
    assert "  - api: setup step `flask db upgrade`" in done.stderr
    # Written again: its own files are replaced; a hand-written Dockerfile is not.
    assert run_devstack(tmp_path, "export", "compose").returncode == 0
    (tmp_path / "Dockerfile.web").write_text("FROM mine\n")
    refused = run_devstack(tmp_path, "export", "compose")
    assert refused.returncode == 2 and "Dockerfile.web exists" in refused.stderr
    assert (tmp_path / "Dockerfile.web").read_text() == "FROM mine\n"
    stdout = run_devstack(tmp_path, "export", "compose", "-o", "-", "--force")
    assert stdout.stdout.startswith("# Written by `devstack export compose`")
    assert "not written (the output is stdout): Dockerfile.api" in stdout.stderr


def test_a_uv_service_runs_in_the_images_python(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "uv run --frozen uvicorn main:app --reload --port ${port}"\n'
        "port = 8000\n"
    )
    done = export_compose(load_source(tmp_path / "stack.toml", {"PATH": "/bin"}), tmp_path)
    data = yaml.safe_load(done.text)
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    assert data["services"]["api"]["command"] == [
        *("uvicorn", "main:app", "--port", "8000", "--host", "0.0.0.0")
    ]
    assert "# `uvicorn --reload` exported without reloading, listening on 0.0.0.0" in done.text
    assert "# `uv run --frozen` dropped: the image's Python is the environment" in done.text
    assert "RUN uv sync --frozen --no-dev --no-install-project" in done.files["Dockerfile.api"]
    cmd = 'CMD ["uvicorn", "main:app", "--port", "8000", "--host", "0.0.0.0"]'
    assert cmd in done.files["Dockerfile.api"]


def test_a_local_servers_data_directory_stays_out_of_the_built_images(tmp_path: Path) -> None:
    # Field trial (snyk-labs/ai-promoter + `db: postgres -D .pgdata`): the database files
    # in the project were copied into every built image by `COPY . ./`.
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent("""\
            [services.web]
            cmd = "python3 -m flask --app app run --port ${port}"
            port = 5000

            [services.db]
            cmd = "postgres -D .pgdata -p 5433 -k /tmp"
            port = 5433

            [services.redis]
            cmd = "redis-server --dir ./var/redis --port 6390"
            port = 6390

            [services.mongo]
            cmd = "mongod --dbpath=/srv/mongo"
            port = 27017
            """)
    )
    out = export_compose(load_source(tmp_path / "stack.toml", {}), tmp_path)
    ignore = out.files["Dockerfile.web.dockerignore"].splitlines()
    assert ".pgdata" in ignore and "var/redis" in ignore
    assert not [line for line in ignore if "srv" in line or "tmp" in line]  # outside the context
