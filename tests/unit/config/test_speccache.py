"""The resolved-config cache: a hit is exactly what validation gives; any change is a miss."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from conftest import modules_after
from devstack.config import load_stack, speccache
from devstack.spec import StackSpec

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


# -- the serialisation: derived from the spec's fields --------------------------------


def sample(tp: Any, name: str, default: Any = dataclasses.MISSING) -> Any:
    """A value of type ``tp`` unlike ``default``, whatever fields the spec grows."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(
            **{f.name: sample(hints[f.name], f.name, _default(f)) for f in dataclasses.fields(tp)}
        )
    if origin in (typing.Union, __import__("types").UnionType):  # X | None: an X
        return sample(next(a for a in args if a is not type(None)), name)
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        choices = list(args) if origin is typing.Literal else list(tp)
        return next(c for c in reversed(choices) if c != default)
    if origin is tuple:
        return (sample(args[0], name), sample(args[0], name + "2"))
    if origin in (Mapping, dict):
        return {f"{name}-key": sample(args[1], name)}
    values = {str: f"{name} value é", int: 7, float: 2.5, Path: Path("/tmp") / name}
    if tp is bool:
        return default is not True
    return values[tp]


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def nones(spec: Any) -> Any:
    """``spec`` (and the dataclasses in it) with every optional field None."""
    if isinstance(spec, Mapping):
        return {k: nones(v) for k, v in spec.items()}
    if isinstance(spec, tuple):
        return tuple(nones(v) for v in spec)
    if not dataclasses.is_dataclass(spec) or isinstance(spec, type):
        return spec
    hints = typing.get_type_hints(type(spec))
    changes = {}
    for f in dataclasses.fields(spec):
        optional = type(None) in typing.get_args(hints[f.name])
        changes[f.name] = None if optional else nones(getattr(spec, f.name))
    return dataclasses.replace(spec, **changes)


def through_json(spec: StackSpec) -> StackSpec:
    return speccache.decode(StackSpec, json.loads(json.dumps(speccache.encode(StackSpec, spec))))


def test_a_spec_with_every_field_set_comes_back_equal() -> None:
    """Every field of every spec dataclass, set to a value that is not its default
    (Path, tuples, mappings, enums, signals, literals, nested dataclasses)."""
    spec = sample(StackSpec, "stack")
    service = next(iter(spec.services.values()))
    assert service.health is not None and service.stop_signal != signal.SIGTERM
    assert through_json(spec) == spec
    assert isinstance(next(iter(through_json(spec).services.values())).cwd, Path)


def test_a_spec_with_every_optional_field_none_comes_back_equal() -> None:
    spec = nones(sample(StackSpec, "stack"))
    assert next(iter(spec.services.values())).health is None
    assert through_json(spec) == spec


def test_a_field_the_cache_cannot_write_fails_loudly() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown:
        name: str
        when: datetime  # a type the cache has no rule for

    with pytest.raises(TypeError, match="cannot keep a value of type"):
        speccache.encode(Grown, Grown("x", datetime(2026, 1, 1)))


def test_a_cache_of_another_shape_is_a_miss(tmp_path: Path) -> None:
    file = make(tmp_path)
    env = dict(os.environ)
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    data = json.loads(cache.read_text())
    del data["spec"]["services"]["api"]["watch"]
    cache.write_text(json.dumps(data))
    assert speccache.load(cache, file, env) is None


def test_a_hit_imports_no_pydantic(tmp_path: Path) -> None:
    """A second `up` with nothing changed reads the spec without the config models."""
    file = make(tmp_path)
    cache = tmp_path / "cache.json"
    env = {"PATH": "/usr/bin:/bin"}
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    loaded = modules_after(
        "import pathlib\n"
        "import devstack.config.speccache, devstack.runtime.supervisor, devstack.checks.runner\n"
        f"spec = devstack.config.speccache.load(pathlib.Path({str(cache)!r}), "
        f"pathlib.Path({str(file)!r}), {env!r})\n"
        "assert spec is not None and spec.services['web'].depends_on"
    )
    assert "devstack.runtime.supervisor" in loaded
    assert "pydantic" not in loaded
