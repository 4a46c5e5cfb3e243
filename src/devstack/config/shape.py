"""What stack.toml holds, as plain frozen dataclasses, and a reader that fills them
without pydantic.

Importing pydantic and building the models costs ~150-200 ms, more than the rest of
a first `devstack up`. A valid stack.toml needs none of it: ``read`` checks the
parsed TOML against the same rules (strict types, no unknown keys, the same value
checks, which live here and which ``model.py`` calls too) and returns a ``Document``.
Anything it is not sure of, every invalid file included, makes it return None: the
pydantic models then decide and word the errors. So ``read`` never rejects or
accepts differently from the models, only faster; ``tests/unit/test_config_shape.py``
holds it to that (field names and defaults, and generated documents judged by both).
Stdlib only.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from devstack.config.durations import duration_value

SIGNAL_NAMES = ("TERM", "INT", "QUIT", "KILL", "HUP", "USR1", "USR2")
CONDITIONS = frozenset({"started", "healthy", "completed"})
RESTART_POLICIES = frozenset({"no", "on-failure", "always"})
SMOKE_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
IMPORT_PATTERN = r"^[A-Za-z_][\w.]*(:.+)?$"

# -- single values: shared with the pydantic models' validators --------------------


def env_value(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        raise ValueError(f'must be a string; quote it: "{text}"')
    return value


def stop_signal(value: Any) -> signal.Signals:
    if isinstance(value, str):
        name = value.upper()
        name = name[3:] if name.startswith("SIG") else name
        if name in SIGNAL_NAMES:
            return signal.Signals[f"SIG{name}"]
    raise ValueError(f"{value!r} is not a stop signal; use one of: {', '.join(SIGNAL_NAMES)}")


def regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def command(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("cmd is empty")
    if isinstance(value, list) and not value:
        raise ValueError("cmd is an empty list")
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and not value[0]:
        raise ValueError("cmd starts with an empty program name")
    return value


def import_switch(value: Any) -> Any:
    if value is True:
        raise ValueError('the import check is on by default; give "module:attr", or false')
    if type(value) in (int, float):  # Literal[False] would take 0 (0 == False)
        raise ValueError(f'expected "module:attr" or false, got {value!r}')
    return value


def setup_line(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("setup is empty; remove the key to have no setup step")
    return value


def relative_glob(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("an empty pattern")
        if value.startswith(("/", "~")):
            raise ValueError(f"{value!r} is not relative; patterns are relative to the cwd")
    return value


def status_list(value: Any) -> Any:
    # expect_status = 201 means [201]; the list form is what the rest of devstack reads.
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


# -- whole tables: the checks across keys, for these classes and the models alike ---


class _HealthKeys(Protocol):
    @property
    def http(self) -> str | None: ...
    @property
    def tcp(self) -> str | int | bool | None: ...
    @property
    def cmd(self) -> str | None: ...
    @property
    def log(self) -> str | None: ...
    @property
    def interval(self) -> float | None: ...
    @property
    def timeout(self) -> float: ...


class _ServiceKeys(Protocol):
    @property
    def shell(self) -> bool: ...
    @property
    def cmd(self) -> str | list[str]: ...
    @property
    def setup(self) -> str | None: ...
    @property
    def setup_inputs(self) -> list[str]: ...
    @property
    def setup_timeout(self) -> float | None: ...


class _SmokeKeys(Protocol):
    @property
    def json_(self) -> Any: ...
    @property
    def body(self) -> str | None: ...
    @property
    def log_service(self) -> str | None: ...
    @property
    def log_contains(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...


def health_problem(h: _HealthKeys) -> str | None:
    kinds = [k for k in ("http", "tcp", "cmd", "log") if getattr(h, k) is not None]
    if len(kinds) > 1:
        return f"choose one probe, not {' and '.join(kinds)}"
    if h.tcp is False:
        return "tcp = false: remove the key to have no tcp probe"
    for key in ("interval", "timeout"):
        value = getattr(h, key)
        if value is not None and value <= 0:
            return f'{key} must be more than 0, e.g. "1s"'
    return None


def service_problem(s: _ServiceKeys) -> str | None:
    if s.shell and isinstance(s.cmd, list):
        return "shell = true needs cmd as a string, not a list"
    if s.setup_inputs and s.setup is None:
        return 'setup_inputs without setup: add setup = "..." or remove them'
    if s.setup_timeout is not None and s.setup is None:
        return 'setup_timeout without setup: add setup = "..." or remove it'
    if s.setup_timeout is not None and s.setup_timeout <= 0:
        return "setup_timeout must be more than 0"
    return None


def smoke_problem(s: _SmokeKeys) -> str | None:
    if s.json_ is not None and s.body is not None:
        return "give json or body, not both"
    if (s.log_service is None) != (s.log_contains is None):
        return "log_service and log_contains go together"
    if s.timeout <= 0:
        return 'timeout must be more than 0, e.g. "5s"'
    return None


# -- the document -------------------------------------------------------------------
# Field names, order and defaults are those of the models (a test compares them);
# keyword-only, so a required field can follow the defaults in the same order.


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    http: str | None = None
    tcp: str | int | bool | None = None
    cmd: str | None = None
    log: str | None = None
    interval: float | None = None  # None: the quiet default (spec.HealthSpec.http_every)
    timeout: float = 1.0
    retries: int = 3
    start_period: float = 60.0
    expect_status: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    import_: str | Literal[False] | None = None
    cmd: list[str] = field(default_factory=list)
    env: bool = True
    env_ignore: list[str] = field(default_factory=list)
    port: bool = True
    executable: bool = True
    syntax: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    cmd: str | list[str]
    shell: bool = False
    cwd: str = "."
    port: int | None = None
    host: str = "127.0.0.1"
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_file: str | list[str] | None = None
    depends_on: dict[str, str] | list[str] = field(default_factory=dict)
    health: Health | None = None
    restart: Literal["no", "on-failure", "always"] = "on-failure"
    max_restarts: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    backoff_reset: float = 10.0
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 10.0
    restart_on_unhealthy: bool = False
    venv: str | None = None
    check: Check | None = None
    setup: str | None = None
    setup_inputs: list[str] = field(default_factory=list)
    setup_timeout: float | None = None
    watch: list[str] = field(default_factory=list)
    watch_ignore: list[str] = field(default_factory=list)
    watch_debounce: float = 0.2
    watch_force: bool = False
    restart_dependents_on_change: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Smoke:
    name: str | None = None
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json_: Any = None
    body: str | None = None
    expect_status: list[int] = field(default_factory=list)
    body_contains: list[str] = field(default_factory=list)
    body_not_contains: list[str] = field(default_factory=list)
    json_contains: dict[str, Any] | None = None
    timeout: float = 10.0
    log_service: str | None = None
    log_contains: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    name: str | None = None
    env_file: str | list[str] | None = None
    state_dir: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    stack: Settings = field(default_factory=Settings)
    services: dict[str, Service]
    smoke: list[Smoke] = field(default_factory=list)


# -- the reader -----------------------------------------------------------------------


class _Unsure(Exception):
    """Not certainly valid: the models decide (and explain)."""


_Rule = Callable[[Any], Any]


def read(data: dict[str, Any]) -> Document | None:
    """``data`` (parsed TOML) as a Document when it is certainly valid, else None."""
    try:
        document: Document = _DOCUMENT(data)
    except (_Unsure, ValueError):  # ValueError: one of the value checks above said no
        return None
    return document


def _require(ok: bool) -> None:
    if not ok:
        raise _Unsure


def _table_of(
    cls: Callable[..., Any],
    rules: dict[str, _Rule],
    required: tuple[str, ...] = (),
    problem: Callable[[Any], str | None] | None = None,
) -> _Rule:
    """A table made into ``cls``: each key through its rule, unknown or missing keys
    and a ``problem`` across keys all unsure. A rule named ``import_`` reads the key
    ``import`` (the field cannot be named for it)."""
    by_key = {name.rstrip("_"): (name, rule) for name, rule in rules.items()}

    def check(value: Any) -> Any:
        _require(type(value) is dict)
        fields = {}
        for key, item in value.items():
            found = by_key.get(key)
            if found is None:
                raise _Unsure
            name, rule = found
            fields[name] = rule(item)
        _require(all(name in fields for name in required))
        made = cls(**fields)
        _require(problem is None or problem(made) is None)
        return made

    return check


def _str(value: Any) -> str:
    _require(type(value) is str)
    return str(value)


def _nonempty_str(value: Any) -> str:
    _require(type(value) is str and len(value) >= 1)
    return str(value)


def _bool(value: Any) -> bool:
    _require(type(value) is bool)
    return bool(value)


def _int_in(low: int, high: int | None = None) -> _Rule:
    def check(value: Any) -> int:
        _require(type(value) is int and value >= low and (high is None or value <= high))
        return int(value)

    return check


def _list_of(item: _Rule) -> Callable[[Any], list[Any]]:
    def check(value: Any) -> list[Any]:
        _require(type(value) is list)
        return [item(v) for v in value]

    return check


def _dict_of(item: _Rule, min_length: int = 0) -> Callable[[Any], dict[str, Any]]:
    def check(value: Any) -> dict[str, Any]:
        _require(type(value) is dict and len(value) >= min_length)
        return {k: item(v) for k, v in value.items()}

    return check


def _one_of(allowed: frozenset[str]) -> _Rule:
    def check(value: Any) -> str:
        _require(type(value) is str and value in allowed)
        return str(value)

    return check


def _then(before: _Rule, after: _Rule) -> _Rule:
    return lambda value: after(before(value))


def _either(if_list: _Rule, otherwise: _Rule) -> _Rule:
    return lambda value: if_list(value) if type(value) is list else otherwise(value)


def _as_is(value: Any) -> Any:
    return value


def _import_target(value: Any) -> str | Literal[False]:
    import_switch(value)
    if value is False:  # the import check switched off
        return False
    # The models use pydantic-core's (Rust) regex; on ASCII without a newline it
    # agrees with Python's. Anything else is for the models to judge.
    _require(type(value) is str and value.isascii() and "\n" not in value)
    _require(re.match(IMPORT_PATTERN, value) is not None)
    return str(value)


def _tcp_target(value: Any) -> Any:
    _require(type(value) in (str, int, bool))
    return value


_STR_OR_LIST = _either(_list_of(_str), _str)
_STATUS = _then(status_list, _list_of(_int_in(100, 599)))
_GLOBS = _list_of(_then(relative_glob, _str))

_HEALTH = _table_of(
    Health,
    {
        "http": _str,
        "tcp": _tcp_target,
        "cmd": _str,
        "log": _then(regex, _str),
        "interval": duration_value,
        "timeout": duration_value,
        "retries": _int_in(1),
        "start_period": duration_value,
        "expect_status": _STATUS,
    },
    problem=health_problem,
)
_CHECK = _table_of(
    Check,
    {
        "import_": _import_target,
        "cmd": _list_of(_str),
        "env": _bool,
        "env_ignore": _list_of(_str),
        "port": _bool,
        "executable": _bool,
        "syntax": _bool,
    },
)
_SERVICE = _table_of(
    Service,
    {
        "cmd": _then(command, _STR_OR_LIST),
        "shell": _bool,
        "cwd": _str,
        "port": _int_in(1, 65535),
        "host": _nonempty_str,
        "url": _str,
        "env": _dict_of(_then(env_value, _str)),
        "env_file": _STR_OR_LIST,
        "depends_on": _either(_list_of(_str), _dict_of(_one_of(CONDITIONS))),
        "health": _HEALTH,
        "restart": _one_of(RESTART_POLICIES),
        "max_restarts": _int_in(0),
        "backoff": duration_value,
        "backoff_max": duration_value,
        "backoff_reset": duration_value,
        "stop_signal": stop_signal,
        "stop_timeout": duration_value,
        "restart_on_unhealthy": _bool,
        "venv": _str,
        "check": _CHECK,
        "setup": _then(setup_line, _str),
        "setup_inputs": _GLOBS,
        "setup_timeout": duration_value,
        "watch": _GLOBS,
        "watch_ignore": _GLOBS,
        "watch_debounce": duration_value,
        "watch_force": _bool,
        "restart_dependents_on_change": _bool,
    },
    required=("cmd",),
    problem=service_problem,
)
_SMOKE = _table_of(
    Smoke,
    {
        "name": _nonempty_str,
        "method": _one_of(SMOKE_METHODS),
        "url": _str,
        "headers": _dict_of(_str),
        "json_": _as_is,
        "body": _str,
        "expect_status": _STATUS,
        "body_contains": _list_of(_str),
        "body_not_contains": _list_of(_str),
        "json_contains": _dict_of(_as_is),
        "timeout": duration_value,
        "log_service": _str,
        "log_contains": _str,
    },
    required=("url",),
    problem=smoke_problem,
)
_DOCUMENT = _table_of(
    Document,
    {
        "stack": _table_of(
            Settings,
            {"name": _nonempty_str, "env_file": _STR_OR_LIST, "state_dir": _nonempty_str},
        ),
        "services": _dict_of(_SERVICE, min_length=1),
        "smoke": _list_of(_SMOKE),
    },
    required=("services",),
)
