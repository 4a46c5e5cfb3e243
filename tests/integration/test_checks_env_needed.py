"""Issue 15 point 12: a variable the app needs when imported, set elsewhere in the stack.

Real apps, real interpreters: a Flask app reading os.environ["DATABASE_URL"] at import
in the gunicorn venv, a pydantic-settings BaseSettings class (env_prefix) in devstack's
own interpreter, and an app raising its own "STRIPE_KEY is not set".
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service
from devstack.config import load_stack

pytestmark = pytest.mark.timeout(240)

FLASK_APP = """\
import os
from flask import Flask

DATABASE_URL = os.environ["DATABASE_URL"]
app = Flask(__name__)
"""
SETTINGS_APP = """\
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")
    database_url: str
    debug: bool = False


settings = Settings()


async def app(scope, receive, send):
    pass
"""


def check(root: Path, toml: str, service: str = "backend") -> CheckResult:
    (root / "stack.toml").write_text(toml)
    stack = load_stack(root / "stack.toml", root)
    results = asyncio.run(check_service(stack.services[service], stack, skip=("port",)))
    return {r.check: r for r in results}["import"]


@pytest.fixture
def backend(tmp_path: Path, web_venv: Path) -> Path:
    directory = tmp_path / "backend"
    directory.mkdir()
    (directory / ".venv").symlink_to(web_venv)
    (directory / "api.py").write_text(FLASK_APP)
    return directory


GUNICORN = """\
[services.worker]
cmd = "sleep 30"
{worker}
[services.backend]
cmd = "gunicorn api:app --bind 127.0.0.1:${{port}}"
cwd = "backend"
port = 5000
"""


def test_environ_key_set_in_another_services_env_table(tmp_path: Path, backend: Path) -> None:
    worker = 'env = { DATABASE_URL = "postgresql://127.0.0.1:5432/shop", QUEUE = "q" }'
    imp = check(tmp_path, GUNICORN.format(worker=worker))
    assert (imp.status, imp.kind) == ("fail", "env-elsewhere")
    assert imp.summary == "api.py could not be imported: DATABASE_URL is not set for backend"
    assert imp.details == (
        "KeyError: 'DATABASE_URL'",
        'at api.py:4: DATABASE_URL = os.environ["DATABASE_URL"]',
        "the app reads DATABASE_URL from its environment when imported; backend's env lacks it",
        "DATABASE_URL is set in services.worker.env (stack.toml:3)",
    )
    assert imp.fix == (
        "add DATABASE_URL to [services.backend] env as well "
        "(or move it to an env_file both services read)"
    )
    assert (imp.file, imp.line) == ("api.py", 4)


def test_environ_key_set_in_stack_local_toml_is_named_there(tmp_path: Path, backend: Path) -> None:
    """Issue 16 point 2: the place shown is the layer that wrote the variable."""
    (tmp_path / "stack.toml").write_text(GUNICORN.format(worker=""))
    (tmp_path / "stack.local.toml").write_text(
        '[services.worker]\nenv.DATABASE_URL = "postgresql://127.0.0.1:5432/shop"\n'
    )
    stack = load_stack(None, tmp_path)
    results = asyncio.run(check_service(stack.services["backend"], stack, skip=("port",)))
    imp = {r.check: r for r in results}["import"]
    assert imp.kind == "env-elsewhere"
    assert imp.details[-1] == "DATABASE_URL is set in services.worker.env (stack.local.toml:2)"


def test_environ_key_in_an_env_file_another_service_reads(tmp_path: Path, backend: Path) -> None:
    (tmp_path / ".env").write_text("# shared\nDATABASE_URL=postgresql://127.0.0.1/shop\n")
    imp = check(tmp_path, GUNICORN.format(worker='env_file = ".env"'))
    assert imp.kind == "env-elsewhere"
    assert imp.details[-1] == "DATABASE_URL is set in .env:2, read by worker (env_file)"
    assert imp.fix == 'env_file = ".env" in [services.backend]'


def test_environ_key_in_a_dotenv_no_service_reads(tmp_path: Path, backend: Path) -> None:
    (backend / ".env").write_text("DATABASE_URL=postgresql://127.0.0.1/shop\n")
    (tmp_path / "common.env").write_text("LOG_LEVEL=debug\n")
    toml = GUNICORN.format(worker="") + 'env_file = "common.env"\n'
    imp = check(tmp_path, toml)
    assert imp.kind == "env-elsewhere"
    assert imp.details[-1] == "DATABASE_URL is set in backend/.env:1, which backend does not read"
    assert imp.fix == 'env_file = ["common.env", "backend/.env"] in [services.backend]'


def test_pydantic_settings_field_named_by_its_env_name(tmp_path: Path) -> None:
    """Field database_url of a BaseSettings with env_prefix SHOP_ is read from
    SHOP_DATABASE_URL; the worker has it, the api does not."""
    (tmp_path / "settings_app.py").write_text(SETTINGS_APP)
    toml = f"""\
[services.worker]
cmd = "sleep 30"
env = {{ SHOP_DATABASE_URL = "postgresql://127.0.0.1/shop" }}
[services.api]
cmd = "{sys.executable} -m uvicorn settings_app:app --port ${{port}}"
port = 5000
"""
    imp = check(tmp_path, toml, "api")
    assert (imp.status, imp.kind) == ("fail", "env-elsewhere")
    assert imp.summary == (
        "settings_app.py could not be imported: SHOP_DATABASE_URL is not set for api"
    )
    assert imp.details == (
        "ValidationError: 1 validation error for Settings",
        "at settings_app.py:10: settings = Settings()",
        "Settings (pydantic-settings) has no value for its field 'database_url', read from "
        "SHOP_DATABASE_URL; api's env does not set it",
        "SHOP_DATABASE_URL is set in services.worker.env (stack.toml:3)",
    )
    assert (imp.file, imp.line) == ("settings_app.py", 10)


def test_a_variable_set_nowhere_is_named_as_missing(tmp_path: Path, backend: Path) -> None:
    (backend / "api.py").write_text(
        'import os\nif not os.getenv("STRIPE_KEY"):\n'
        '    raise RuntimeError("STRIPE_KEY is not set")\napp = None\n'
    )
    imp = check(tmp_path, GUNICORN.format(worker=""))
    assert (imp.status, imp.kind) == ("fail", "env-missing")
    assert imp.summary == "api.py could not be imported: STRIPE_KEY is not set"
    assert imp.details[-1] == (
        "STRIPE_KEY is set nowhere in the stack (no service's env or env_file, no .env)"
    )
    assert imp.fix == (
        'set it for backend: env = { STRIPE_KEY = "..." } in [services.backend], or in an env_file '
        "(api.py:3 fails without it)"
    )
