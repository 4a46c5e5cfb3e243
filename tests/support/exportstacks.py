"""Tiny stacks for the export tests, laid out in a temporary root as a project would be.

``flask_celery_redis``: a Flask app and a Celery worker on a Redis and a Postgres, with
the Redis and database URLs hard-coded as loopback URLs (the issue's example).
``next_flask``: a Next.js frontend whose next.config.js rewrites /api to the Flask
backend's loopback address, and a browser-facing ``NEXT_PUBLIC_API_URL`` in its
.env.local. Ports are parameters, for tests that would run them on free ones.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

APP = """\
import os

import redis
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
    return {"ok": True}
"""
TASKS = """\
import os

from celery import Celery

app = Celery("tasks", broker=os.environ["REDIS_URL"])


@app.task
def add(x, y):
    return x + y
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "stack.toml"


def flask_celery_redis(
    root: Path, redis_port: int = 6390, web_port: int = 5001, db_port: int = 5433
) -> Path:
    """The stack.toml of the Flask + Celery + Redis (+ Postgres) stack in ``root``."""
    return write(
        root,
        {
            "stack.toml": f"""\
                [stack]
                name = "shop"

                [services.redis]
                cmd = "redis-server --port ${{port}} --save ''"
                port = {redis_port}
                health.tcp = true

                [services.db]
                cmd = "postgres -D pgdata -p ${{port}}"
                port = {db_port}
                health.cmd = "pg_isready -h 127.0.0.1 -p ${{port}}"

                [services.web]
                cmd = "flask --app app run --host ${{host}} --port ${{port}}"
                port = {web_port}
                setup = "pip install -r requirements.txt"
                health.http = "/health"
                depends_on = {{ redis = "healthy", db = "healthy" }}

                [services.web.env]
                REDIS_URL = "redis://127.0.0.1:{redis_port}/0"
                DATABASE_URL = "postgresql+psycopg://app:secret@localhost:{db_port}/app"
                BASE_URL = "${{url}}"

                [services.worker]
                cmd = "celery -A tasks worker --loglevel info"
                restart = "always"
                depends_on = {{ redis = "healthy" }}
                env_file = "worker.env"
                """,
            "worker.env": f"REDIS_URL=redis://localhost:{redis_port}/0\n",
            "app.py": APP,
            "tasks.py": TASKS,
            "requirements.txt": "flask\ncelery\nredis\n",
        },
    )


NEXT_CONFIG = """\
/** @type {import('next').NextConfig} */
module.exports = {
  async rewrites() {
    return [
      {
        source: '/api/:path*',
        destination: 'http://127.0.0.1:%d/api/:path*',
      },
    ]
  },
}
"""


def next_flask(root: Path, api_port: int = 5328, web_port: int = 3000) -> Path:
    """The stack.toml of the Next.js + Flask stack in ``root``."""
    return write(
        root,
        {
            "stack.toml": f"""\
                [stack]
                name = "nextflask"

                [services.api]
                cmd = "flask --app api/index run --port ${{port}}"
                port = {api_port}
                health.http = "/api/health"

                [services.web]
                cmd = "pnpm dev --port ${{port}}"
                cwd = "web"
                port = {web_port}
                depends_on = {{ api = "healthy" }}
                """,
            "api/index.py": "from flask import Flask\n\napp = Flask(__name__)\n",
            "web/package.json": '{"name": "web", "scripts": {"dev": "next dev"}}\n',
            "web/next.config.js": NEXT_CONFIG % api_port,
            "web/.env.local": "NEXT_PUBLIC_API_URL=http://127.0.0.1:5001\n",
        },
    )
