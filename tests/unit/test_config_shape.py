"""``shape.read`` (stack.toml without pydantic) judges every document as the models do.

It may only be quicker, never different: whatever it returns must be exactly what
the models give, and whatever the models refuse it must not return. The classes
must have the models' fields, in the same order, with the same defaults.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from conftest import modules_after
from devstack.config import shape
from devstack.config.model import (
    CheckModel,
    HealthModel,
    ServiceModel,
    SmokeModel,
    StackFile,
    StackTable,
    to_document,
)

REPO = Path(__file__).resolve().parents[2]
PAIRS = [
    (HealthModel, shape.Health),
    (CheckModel, shape.Check),
    (ServiceModel, shape.Service),
    (SmokeModel, shape.Smoke),
    (StackTable, shape.Settings),
    (StackFile, shape.Document),
]


def _dataclass_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize(("model", "cls"), PAIRS, ids=lambda x: x.__name__)
def test_the_classes_have_the_models_fields_and_defaults(
    model: type[BaseModel], cls: type[Any]
) -> None:
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == list(model.model_fields)
    for f in fields:
        info = model.model_fields[f.name]
        if info.is_required():
            assert _dataclass_default(f) is dataclasses.MISSING, f.name
            continue
        wanted = info.get_default(call_default_factory=True)
        if isinstance(wanted, BaseModel):  # stack = StackTable(): the plain default
            wanted = to_document_part(wanted)
        assert _dataclass_default(f) == wanted, f.name


def to_document_part(model: BaseModel) -> Any:
    cls = dict(PAIRS)[type(model)]
    return cls(**{name: getattr(model, name) for name in type(model).model_fields})


def judged_alike(data: dict[str, Any]) -> shape.Document | None:
    """``read(data)``, after checking it agrees with the models."""
    quick = shape.read(data)
    try:
        model = StackFile.model_validate(data)
    except ValidationError:
        assert quick is None, "read accepted what the models refuse"
        return None
    assert quick is not None, "read refused (or was unsure of) what the models accept"
    assert quick == to_document(model)
    return quick


def test_the_stacks_in_this_repository_are_read_without_the_models() -> None:
    files = [REPO / "stack.toml", *sorted((REPO / "examples").glob("*/stack.toml"))]
    assert len(files) >= 2
    for file in files:
        assert judged_alike(tomllib.loads(file.read_text())) is not None, file


def test_every_bad_config_is_left_to_the_models_or_read_alike() -> None:
    files = sorted((REPO / "tests" / "unit" / "configs" / "bad").glob("*.toml"))
    assert len(files) >= 15
    for file in files:
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError:
            continue
        judged_alike(data)


def test_a_document_with_every_key_is_read_exactly() -> None:
    data = {
        "stack": {"name": "demo", "env_file": [".env"]},
        "services": {
            "api": {
                "cmd": ["gunicorn", "api:app"],
                "cwd": "backend",
                "port": 5000,
                "host": "0.0.0.0",
                "url": "http://127.0.0.1:5000",
                "env": {"A": "1"},
                "env_file": ".env",
                "health": {
                    "http": "/health",
                    "interval": "1m30s",
                    "timeout": "250ms",
                    "retries": 2,
                    "start_period": "1h",
                    "expect_status": 204,
                },
                "restart": "always",
                "max_restarts": 0,
                "backoff": "0s",
                "backoff_max": "1.5s",
                "backoff_reset": "2m",
                "stop_signal": "sigint",
                "stop_timeout": "3s",
                "restart_on_unhealthy": True,
                "venv": ".venv",
                "check": {
                    "import": "api:create_app()",
                    "cmd": ["true"],
                    "env": False,
                    "env_ignore": ["OKTA_REDIRECT_URI"],
                    "port": False,
                    "executable": False,
                    "syntax": False,
                },
                "setup": "make",
                "setup_inputs": ["requirements.txt"],
                "setup_timeout": "10m",
                "watch": ["**/*.py"],
                "watch_ignore": ["tmp/**"],
                "watch_debounce": "50ms",
                "watch_force": True,
                "restart_dependents_on_change": True,
            },
            "web": {
                "cmd": "pnpm dev",
                "check": {"import": False},
                "shell": True,
                "depends_on": {"api": "healthy"},
                "health": {"tcp": True},
            },
            "job": {"cmd": "true", "depends_on": ["api"], "health": {"log": "ready.*"}},
        },
        "smoke": [
            {
                "name": "create",
                "method": "POST",
                "url": "${services.web.url}/api",
                "headers": {"X": "y"},
                "json": {"a": [1, 2.5, True]},
                "expect_status": [201, 400],
                "body_contains": ["ok"],
                "body_not_contains": ["ECONNREFUSED"],
                "json_contains": {"ok": True},
                "timeout": "5s",
                "log_service": "api",
                "log_contains": "created",
            },
            {"url": "http://localhost:1/", "body": "x"},
        ],
    }
    document = judged_alike(data)
    assert document is not None
    assert document.services["api"].stop_signal.name == "SIGINT"
    assert document.services["api"].health == shape.Health(
        http="/health",
        interval=90.0,
        timeout=0.25,
        retries=2,
        start_period=3600.0,
        expect_status=[204],
    )


# -- generated documents: valid ones, and valid ones with one thing changed ---------
# Each table draws its keys from VALID values, then (one time in three) one key, or an
# unknown one, gets an EDGE value (wrong, or at a limit) or any TOML value at all.

SCALARS = st.one_of(
    st.text(max_size=6),
    st.integers(-2, 70000),
    st.booleans(),
    st.floats(allow_nan=False, width=32),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(["web", "api", "db", "x"])
DURATION = (
    st.sampled_from(["250ms", "1m30s", "1.5s", "2h", "1s", "10s"]),
    ["0s", "0ms", "5", "-1s", "2d", "", "1s1m", " 1s", "1.s", 5, 1.5, True],
)
GLOBS = (
    st.lists(st.sampled_from(["*.py", "**/*.ts", "a/b", "src/"]), max_size=3),
    [["*.py", ""], [" "], ["/abs"], ["a", "~/x"], [1], "*.py"],
)
STATUS = (
    st.one_of(st.integers(100, 599), st.lists(st.integers(100, 599), max_size=3)),
    [99, 100, 599, 600, True, [100, 599], [200, 99], [False], "200", [200.0]],
)
STRINGS = (st.sampled_from(["true", "python app.py", "x"]), ["", " ", 1, ["x"]])
FLAGS = (st.booleans(), [0, 1, "true"])

HEALTH = {
    "http": (st.sampled_from(["/health", "http://127.0.0.1:1/"]), ["", 1]),
    "tcp": (
        st.one_of(st.just(True), st.integers(1, 65535), st.just("127.0.0.1:5000")),
        [False, 0, 70000, -1, 1.0],
    ),
    "cmd": STRINGS,
    "log": (st.sampled_from(["ready", "a+b", "^x$"]), ["(", "[", 1]),
    "interval": DURATION,
    "timeout": DURATION,
    "retries": (st.integers(1, 5), [0, 1, -1, True, "3", 2.0]),
    "start_period": DURATION,
    "expect_status": STATUS,
}
PROBES = ("http", "tcp", "cmd", "log")
CHECK = {
    "import": (
        st.sampled_from(["api:app", "pkg.mod", "a:b()", "_x.y:z", False]),
        ["1bad", "a:", "a b", "é:x", "a\n", "a:\n", "", 1, True, 0],
    ),
    "cmd": (st.lists(st.just("true"), max_size=2), ["true", [1], [""]]),
    "env": FLAGS,
    "env_ignore": (st.lists(st.sampled_from(["A", "OKTA_REDIRECT_URI"]), max_size=2), ["A", [1]]),
    "port": FLAGS,
    "executable": FLAGS,
    "syntax": FLAGS,
}
SERVICE = {
    "cmd": (
        st.one_of(STRINGS[0], st.lists(st.sampled_from(["python", "-m", "x"]), min_size=1)),
        ["", "  ", [], [""], ["", "x"], [1], 1],
    ),
    "shell": FLAGS,
    "cwd": (st.sampled_from([".", "backend"]), [1, [], ""]),
    "port": (st.integers(1, 65535), [0, 1, 65535, -1, 65536, True, "5000", 5000.0]),
    "host": (st.sampled_from(["127.0.0.1", "::", "localhost"]), ["", 1]),
    "url": (st.just("http://127.0.0.1:1"), [1, ["x"]]),
    "env": (
        st.dictionaries(st.sampled_from(["A", "B", "C_1"]), st.text(max_size=3), max_size=3),
        [{"A": 1}, {"A": True}, {"A": 1.5}, {"A": ["x"]}, ["A=1"], "A=1"],
    ),
    "env_file": (
        st.one_of(st.just(".env"), st.lists(st.just(".env"), max_size=2)),
        [1, [1], {"a": "b"}],
    ),
    "depends_on": (
        st.one_of(
            st.lists(NAMES, max_size=2),
            st.dictionaries(NAMES, st.sampled_from(["started", "healthy", "completed"])),
        ),
        ["web", {"web": "ready"}, {"web": 1}, [1], {"web": ["healthy"]}],
    ),
    "restart": (st.sampled_from(["no", "on-failure", "always"]), ["never", 1]),
    "max_restarts": (st.integers(0, 10), [-1, 0, True, "5"]),
    "backoff": DURATION,
    "backoff_max": DURATION,
    "backoff_reset": DURATION,
    "stop_signal": (
        st.sampled_from(["TERM", "sigint", "SIGKILL", "usr1", "SigHup", "quit"]),
        ["SIGSTOP", "9", 9, "", "SIG"],
    ),
    "stop_timeout": DURATION,
    "restart_on_unhealthy": FLAGS,
    "venv": (st.just(".venv"), [1, True]),
    "setup": (st.sampled_from(["make", "pip install ."]), ["", " ", 1]),
    "setup_inputs": GLOBS,
    "setup_timeout": DURATION,
    "watch": GLOBS,
    "watch_ignore": GLOBS,
    "watch_debounce": DURATION,
    "watch_force": FLAGS,
    "restart_dependents_on_change": FLAGS,
}
SMOKE = {
    "name": (st.just("step"), ["", 1]),
    "method": (
        st.sampled_from(["GET", "POST", "DELETE", "OPTIONS"]),
        ["get", "TRACE", 1],
    ),
    "url": (st.just("http://127.0.0.1:1/"), [1, ["u"]]),
    "headers": (
        st.dictionaries(st.sampled_from(["A", "B"]), st.text(max_size=2), max_size=2),
        [{"A": 1}, ["A"]],
    ),
    "json": (ANY_VALUE, []),
    "body": (st.text(max_size=3), [1, [""]]),
    "expect_status": STATUS,
    "body_contains": (st.lists(st.text(max_size=2), max_size=2), ["x", [1]]),
    "body_not_contains": (st.lists(st.text(max_size=2), max_size=2), [[None]]),
    "json_contains": (
        st.dictionaries(st.text(max_size=2), ANY_VALUE, max_size=2),
        [[1], "x", 1],
    ),
    "timeout": DURATION,
    "log_service": (NAMES, [1, ""]),
    "log_contains": (st.just("done"), [1, [""]]),
}
STACK = {
    "name": (st.just("demo"), ["", 1]),
    "env_file": SERVICE["env_file"],
}


def _table(
    keys: dict[str, tuple[st.SearchStrategy[Any], list[Any]]],
    required: tuple[str, ...] = (),
    tables: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """A table of ``keys`` (``required`` ones always there, ``tables`` nested), valid
    but for at most one key."""
    tables = tables or {}
    optional = sorted(set(keys) - set(required)) + sorted(tables)
    names = st.lists(st.sampled_from(optional), unique=True, max_size=len(optional) // 2 + 1)

    def fill(chosen: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        wanted = [*required, *chosen]
        strategies = {k: tables[k] if k in tables else keys[k][0] for k in wanted}
        return st.fixed_dictionaries(strategies)

    def spoil(table: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        key = st.sampled_from([*sorted(keys), "helth"])
        value = key.flatmap(lambda k: st.tuples(st.just(k), _edges(keys, k) | ANY_VALUE))
        dropped = (
            st.sampled_from(required).map(lambda k: {n: v for n, v in table.items() if n != k})
            if required
            else st.nothing()
        )
        return st.one_of(value.map(lambda kv: {**table, kv[0]: kv[1]}), dropped)

    valid = names.flatmap(fill)
    return st.one_of(valid, valid, valid.flatmap(spoil))


def _edges(keys: dict[str, tuple[Any, list[Any]]], key: str) -> st.SearchStrategy[Any]:
    edges = keys[key][1] if key in keys else []
    return st.sampled_from(edges) if edges else st.nothing()


def _one_probe(table: dict[str, Any]) -> dict[str, Any]:
    """At most one probe kind (two is an EDGE case left to the spoiling)."""
    kinds = [k for k in PROBES if k in table]
    return {k: v for k, v in table.items() if k not in kinds[1:]}


def _consistent(service: dict[str, Any]) -> dict[str, Any]:
    """A string cmd when shell is set; a setup where its companions are."""
    if service.get("shell") and isinstance(service.get("cmd"), list):
        service = {**service, "cmd": "python app.py"}
    if ("setup_inputs" in service or "setup_timeout" in service) and "setup" not in service:
        service = {**service, "setup": "make"}
    return service


def _smoke_consistent(smoke: dict[str, Any]) -> dict[str, Any]:
    if "json" in smoke and "body" in smoke:
        smoke = {k: v for k, v in smoke.items() if k != "body"}
    if ("log_service" in smoke) != ("log_contains" in smoke):
        smoke = {k: v for k, v in smoke.items() if k not in ("log_service", "log_contains")}
    return smoke


HEALTH_TABLE = _table(HEALTH).map(_one_probe)
SERVICE_TABLE = _table(
    SERVICE,
    required=("cmd",),
    tables={"health": HEALTH_TABLE, "check": _table(CHECK)},
).map(_consistent)
DOCUMENT = st.fixed_dictionaries(
    {"services": st.dictionaries(NAMES, SERVICE_TABLE, min_size=1, max_size=3)},
    optional={
        "stack": _table(STACK),
        "smoke": st.lists(_table(SMOKE, required=("url",)).map(_smoke_consistent), max_size=2),
    },
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_generated_documents_are_judged_as_the_models_judge_them(data: dict[str, Any]) -> None:
    judged_alike(data)


def _edge_cases() -> list[tuple[str, dict[str, Any]]]:
    """Every EDGE value of every key, alone in an otherwise minimal valid document."""
    base: dict[str, Any] = {"cmd": "x", "setup": "make"}
    cases = []
    for kind, keys in (("services", SERVICE), ("health", HEALTH), ("check", CHECK)):
        for key, (_, edges) in keys.items():
            for edge in edges:
                service = {**base, key: edge} if kind == "services" else {**base, kind: {key: edge}}
                cases.append((f"{kind}.{key}={edge!r}", {"services": {"a": service}}))
    for kind, keys in (("smoke", SMOKE), ("stack", STACK)):
        for key, (_, edges) in keys.items():
            for edge in edges:
                table = {"url": "u", key: edge} if kind == "smoke" else {key: edge}
                doc = {"services": {"a": base}, kind: [table] if kind == "smoke" else table}
                cases.append((f"{kind}.{key}={edge!r}", doc))
    return cases


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("data", [d for _, d in EDGE_CASES], ids=[i for i, _ in EDGE_CASES])
def test_each_edge_value_is_judged_as_the_models_judge_it(data: dict[str, Any]) -> None:
    judged_alike(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"services": {}},
        {"services": []},
        {"services": {"a": {"cmd": "x"}}, "servics": {}},
        {"services": {"a": {"cmd": "x"}}, "stack": "demo"},
        {"services": {"a": {"cmd": "x"}}, "stack": {}},
        {"services": {"a": {"cmd": "x"}}, "smoke": {"url": "u"}},
        {"services": {"a": {"cmd": "x"}}, "smoke": [{}]},
        {"services": {"a": {}}},
        {"services": {"a": "x"}},
    ],
)
def test_the_top_level_is_judged_as_the_models_judge_it(data: dict[str, Any]) -> None:
    judged_alike(data)


def test_floats_pass_through_the_json_body_unchanged() -> None:
    data = {"services": {"a": {"cmd": "x"}}, "smoke": [{"url": "u", "json": [math.pi, -0.0]}]}
    document = judged_alike(data)
    assert document is not None
    assert document.smoke[0].json_ == [math.pi, -0.0]


def test_an_import_target_beyond_ascii_is_left_to_the_models() -> None:
    # pydantic-core's regex and Python's may disagree on what \w holds beyond ASCII.
    data = {"services": {"a": {"cmd": "x", "check": {"import": "app:créer"}}}}
    assert shape.read(data) is None
    assert to_document(StackFile.model_validate(data)).services["a"].check == shape.Check(
        import_="app:créer"
    )


def test_a_valid_file_is_loaded_without_pydantic_and_an_invalid_one_is_explained_by_it(
    tmp_path: Path,
) -> None:
    demo = REPO / "examples" / "demo" / "stack.toml"
    loaded = modules_after(f"from devstack.config import load_stack\nload_stack({str(demo)!r})")
    assert "devstack.config.load" in loaded
    assert "pydantic" not in loaded
    bad = tmp_path / "stack.toml"
    bad.write_text('[services.a]\ncmd = "x"\nprot = 1\n')
    loaded = modules_after(
        "from devstack.config import load_stack\n"
        "from devstack.errors import ConfigError\n"
        f"try:\n    load_stack({str(bad)!r})\nexcept ConfigError:\n    pass\n"
    )
    assert "pydantic" in loaded
