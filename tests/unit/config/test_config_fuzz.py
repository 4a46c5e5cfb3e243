"""Random stack.toml files: ``load_stack`` returns a StackSpec or raises ConfigError.

Nothing else may escape (no ValidationError, KeyError, TypeError, OSError...).
The configs mix valid keys and values with misspellings, wrong types, bad
references and odd strings, written by a tiny TOML writer below.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.config import dump_resolved, load_stack
from devstack.errors import ConfigError
from devstack.spec import StackSpec

NAMES = st.sampled_from(["web", "api", "db", "worker", "a", "b", "x.y", "", "Web-1"])
KEYS = st.sampled_from(
    [
        "cmd", "shell", "cwd", "port", "host", "url", "env", "env_file", "depends_on",
        "health", "restart", "max_restarts", "backoff", "backoff_max", "backoff_reset",
        "stop_signal", "stop_timeout", "restart_on_unhealthy", "helth", "prot", "cmnd",
    ]
)  # fmt: skip
HEALTH_KEYS = st.sampled_from(
    ["http", "tcp", "cmd", "log", "interval", "timeout", "retries", "start_period",
     "expect_status", "intervl"]
)  # fmt: skip
STRINGS = st.sampled_from(
    [
        "python app.py", "${port}", "${url}/x", "${services.web.url}", "${services.nope.port}",
        "${env:HOME}", "${env:NOPE}", "${env:NOPE:-d}", "$$", "$PORT", "${PORT}", "${", "/health",
        "http://127.0.0.1:1/x", "1s", "250ms", "-1s", "5", "2d", "", " ", "'", "\"", "on-failure",
        "always", "no", "SIGINT", "KILL", "healthy", "started", "completed", "ready", ".",
        "nope/dir", ".env", "0.0.0.0", "::", "localhost:99", "(", "é\\n",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    STRINGS,
    st.integers(min_value=-2, max_value=70000),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(NAMES, KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
HEALTH = st.dictionaries(HEALTH_KEYS, VALUES, max_size=3)
SERVICE = st.dictionaries(KEYS, st.one_of(VALUES, HEALTH), max_size=6)
STACK = st.fixed_dictionaries(
    {"services": st.dictionaries(NAMES, st.one_of(SERVICE, SCALARS), max_size=4)},
    optional={
        "stack": st.dictionaries(st.sampled_from(["name", "env_file", "nmae"]), VALUES, max_size=2),
        "smoke": VALUES,
    },
)

# Mostly valid stacks, so that the resolving code (not only validation) is exercised.
GOOD_NAMES = st.sampled_from(["web", "api", "db", "worker"])
PLAUSIBLE_SERVICE = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["python app.py --port ${port}", "run ${services.db.url}", "x"])},
    optional={
        "port": st.integers(min_value=1, max_value=3),
        "host": st.sampled_from(["127.0.0.1", "0.0.0.0", "localhost"]),
        "shell": st.booleans(),
        "depends_on": st.one_of(
            st.lists(GOOD_NAMES, max_size=2, unique=True),
            st.dictionaries(GOOD_NAMES, st.sampled_from(["started", "healthy"]), max_size=2),
        ),
        "env": st.dictionaries(st.sampled_from(["A", "B"]), STRINGS, max_size=2),
        "health": st.dictionaries(
            st.sampled_from(["http", "tcp", "interval"]),
            st.sampled_from(["/h", "1s", "${port}"]),
            max_size=1,
        ),
        "stop_timeout": st.sampled_from(["1s", "250ms"]),
    },
)
PLAUSIBLE = st.fixed_dictionaries(
    {"services": st.dictionaries(GOOD_NAMES, PLAUSIBLE_SERVICE, min_size=1, max_size=4)}
)


def _key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string here
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


def to_toml(data: dict[str, Any]) -> str:
    """Top-level scalars first, then one [table] per nested dict, inline below that."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]

    def table(path: list[str], body: dict[str, Any]) -> None:
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
        subtables = {k: v for k, v in body.items() if isinstance(v, dict)}
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in body.items() if k not in subtables)
        for key, sub in subtables.items():
            table([*path, key], sub)

    for key, value in data.items():
        if isinstance(value, dict):
            table([key], value)
    return "\n".join(lines) + "\n"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.one_of(STACK, PLAUSIBLE))
def test_load_returns_spec_or_config_error(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "stack.toml").write_text(to_toml(data), encoding="utf-8")
        (root / ".env").write_text("HOME=/home/me\n")
        try:
            spec = load_stack(cwd=root, environ={"HOME": "/root"})
        except ConfigError as exc:
            rendered = exc.render()
            assert rendered and "Traceback" not in rendered
            assert len(rendered.splitlines()) <= 40
        else:
            assert isinstance(spec, StackSpec)
            dump_resolved(spec, environ={})


def test_writer_round_trips() -> None:
    import tomllib

    data = {"stack": {"name": "x"}, "services": {"a.b": {"cmd": "x", "health": {"tcp": 1}}}}
    assert tomllib.loads(to_toml(data)) == data
