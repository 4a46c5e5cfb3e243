"""What the import probe says about env variables, and what the check makes of it."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.checks.envneeded import env_needed
from devstack.checks.probe_app import _env_needed
from devstack.spec import ServiceSpec, StackSpec


def raised(func: object) -> BaseException:
    try:
        func()  # type: ignore[operator]
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


def test_probe_tells_environ_from_another_mapping() -> None:
    environ = raised(lambda: os.environ["DEVSTACK_TEST_SURELY_UNSET"])
    assert _env_needed(environ) == [{"name": "DEVSTACK_TEST_SURELY_UNSET", "how": "environ"}]
    assert _env_needed(raised(lambda: {}["API_TOKEN"])) == [{"name": "API_TOKEN", "how": "key"}]
    assert _env_needed(raised(lambda: {}["user_id"])) == []
    said = raised(lambda: (_ for _ in ()).throw(RuntimeError("REDIS_URL must be set")))
    assert _env_needed(said) == [{"name": "REDIS_URL", "how": "message"}]
    assert _env_needed(ValueError("invalid literal for int()")) == []


def spec(name: str, cwd: Path, **env: str) -> ServiceSpec:
    return ServiceSpec(name, "x", ("x",), cwd, env)


def test_a_key_error_on_some_mapping_is_not_called_a_missing_variable(tmp_path: Path) -> None:
    api = spec("api", tmp_path)
    stack = StackSpec("s", tmp_path, None, {"api": api})
    error = {"type": "KeyError", "env": [{"name": "API_TOKEN", "how": "key"}]}
    assert env_needed(error, api, stack) is None
    # ...but named when another service sets that very name.
    worker = spec("worker", tmp_path, API_TOKEN="t")
    stack = StackSpec("s", tmp_path, None, {"api": api, "worker": worker})
    found = env_needed(error, api, stack)
    assert found is not None and found.kind == "env-elsewhere"
    assert found.details == (
        "the app looked API_TOKEN up when imported and it was not there; api's env lacks it too",
        "API_TOKEN is set in services.worker's environment",
    )


def test_a_variable_the_service_has_is_not_the_problem(tmp_path: Path) -> None:
    api = spec("api", tmp_path, database_url="x")
    error = {"type": "ValidationError", "env": [{"name": "DATABASE_URL", "how": "settings"}]}
    assert env_needed(error, api, None) is None  # pydantic-settings ignores case by default
