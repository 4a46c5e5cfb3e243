"""The resolved-config cache: a hit is exactly what validation gives; any change is a miss."""

from __future__ import annotations

import os
from pathlib import Path

from devstack import speccache
from devstack.config import load_stack

STACK = """
[stack]
env_file = ".env"

[services.api]
cmd = "python -m http.server ${port}"
port = 5000
health.http = "/health"
health.expect_status = [200, 204]
restart = "always"
stop_signal = "INT"

[services.web]
cmd = ["node", "server.js"]
cwd = "web"
depends_on = { api = "healthy" }
env = { API = "${services.api.url}" }
setup = "npm ci && echo $HOME ${name}"
setup_inputs = ["package.json", "*.lock"]

[[smoke]]
name = "create"
method = "POST"
url = "${services.api.url}/create"
headers = { Authorization = "Bearer x" }
json = { file_id = "f1", n = [1, 2] }
expect_status = [201, 400]
body_contains = ["ok"]
body_not_contains = ["ECONNREFUSED"]
json_contains = { ok = true }
timeout = "2s"
log_service = "api"
log_contains = "POST /create"
"""


def make(tmp_path: Path) -> Path:
    (tmp_path / "web").mkdir()
    (tmp_path / ".env").write_text("GREETING=hello\n")
    file = tmp_path / "stack.toml"
    file.write_text(STACK)
    return file


def test_round_trip_equals_the_validated_spec(tmp_path: Path) -> None:
    file = make(tmp_path)
    env = dict(os.environ)
    spec = load_stack(file, tmp_path, environ=env)
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, spec)
    assert speccache.load(cache, file, env) == spec


def test_any_input_change_is_a_miss(tmp_path: Path) -> None:
    file = make(tmp_path)
    env = dict(os.environ)
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    assert speccache.load(cache, file, env) is not None
    assert speccache.load(cache, file, {**env, "NEW_VAR": "1"}) is None
    assert speccache.load(cache, file, {**env, "PATH": env.get("PATH", "") + ":/x"}) is None
    assert cache.stat().st_mode & 0o777 == 0o600  # it holds the whole environment
    (tmp_path / ".env").write_text("GREETING=changed\n")
    assert speccache.load(cache, file, env) is None
    (tmp_path / ".env").write_text("GREETING=hello\n")
    assert speccache.load(cache, file, env) is not None
    file.write_text(STACK.replace("5000", "5001"))
    assert speccache.load(cache, file, env) is None


def test_a_missing_cwd_or_a_corrupt_cache_is_a_miss(tmp_path: Path) -> None:
    file = make(tmp_path)
    env = dict(os.environ)
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    (tmp_path / "web").rmdir()
    assert speccache.load(cache, file, env) is None
    cache.write_text("{not json")
    assert speccache.load(cache, file, env) is None


def test_a_venv_made_since_is_a_miss(tmp_path: Path) -> None:
    """A setup step that creates web/.venv changes web's PATH: the cache must not hide it."""
    file = make(tmp_path)
    env = dict(os.environ)
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    assert speccache.load(cache, file, env) is not None
    (tmp_path / "web" / ".venv").mkdir()
    (tmp_path / "web" / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert speccache.load(cache, file, env) is None
    fresh = load_stack(file, tmp_path, environ=env)
    assert fresh.services["web"].venv == tmp_path / "web" / ".venv"
    speccache.save(cache, file, env, fresh)
    assert speccache.load(cache, file, env) == fresh


def test_every_field_survives_the_cache() -> None:
    """A field added to ServiceSpec, SmokeSpec or StackSpec but not to the cache would be
    silently dropped."""
    import dataclasses
    import inspect

    from devstack.spec import ServiceSpec, SmokeSpec, StackSpec

    pairs = [
        (ServiceSpec, speccache._service_to_json, speccache._service_from_json),
        (SmokeSpec, speccache._smoke_to_json, speccache._smoke_from_json),
        (StackSpec, speccache._stack_to_json, speccache._stack_from_json),
    ]
    for cls, to, back in pairs:
        to_json, from_json = inspect.getsource(to), inspect.getsource(back)
        for field in dataclasses.fields(cls):
            assert f'"{field.name}"' in to_json, field.name
            assert f"{field.name}=" in from_json, field.name
