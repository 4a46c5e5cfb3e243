"""The shape of stack.toml as pydantic v2 models: frozen, unknown keys forbidden.

The only definition of the file's keys: the loader reads through these models,
``devstack schema`` (stack.schema.json) and the key tables of docs/stack-toml.md
are generated from them, so every field has a description. They check types,
single values (``rules.py``) and the keys of one table together. Whatever needs
the whole file or the disk (dependencies, cycles, ports, paths, env files,
``${...}``) is checked in ``load.py``. Values are never coerced: ``strict=True``
refuses ``port = "5000"`` and ``env = { PORT = 5000 }`` alike, the latter with a
"quote it" hint.
"""

from __future__ import annotations

import signal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from devstack.config import rules
from devstack.config.durations import PATTERN, duration_value, parse_duration
from devstack.config.rules import SIGNAL_NAMES

_MODEL = ConfigDict(frozen=True, extra="forbid", strict=True)

Duration = Annotated[
    float,
    BeforeValidator(duration_value),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["250ms", "2s", "1m30s"]}),
]
"""A duration string in, float seconds out."""


def _duration(default: str, description: str) -> Any:
    # The schema shows the default as users write it, not as float seconds.
    return Field(
        parse_duration(default), description=description, json_schema_extra={"default": default}
    )


EnvValue = Annotated[str, BeforeValidator(rules.env_value)]
StopSignal = Annotated[
    signal.Signals,
    BeforeValidator(rules.stop_signal),
    WithJsonSchema({"type": "string", "enum": [*SIGNAL_NAMES, *(f"SIG{n}" for n in SIGNAL_NAMES)]}),
]
Regex = Annotated[str, BeforeValidator(rules.regex)]
ImportTarget = Annotated[
    Annotated[str, Field(pattern=rules.IMPORT_PATTERN)] | Literal[False] | None,
    BeforeValidator(rules.import_switch),
]
Command = Annotated[str | list[str], BeforeValidator(rules.command)]
StrOrList = str | list[str]
Globs = list[Annotated[str, BeforeValidator(rules.relative_glob)]]  # relative to the service's cwd
Condition = Literal["started", "healthy", "completed"]


_STATUS_SCHEMA = {"type": "integer", "minimum": 100, "maximum": 599}
# The schema says what the loader accepts (editors would flag `expect_status = 200`).
StatusList = Annotated[
    list[Annotated[int, Field(ge=100, le=599)]],
    BeforeValidator(rules.status_list),
    WithJsonSchema({"anyOf": [_STATUS_SCHEMA, {"type": "array", "items": _STATUS_SCHEMA}]}),
]


class HealthModel(BaseModel):
    """``[services.NAME.health]``: at most one probe kind, and its timing."""

    model_config = _MODEL

    http: str | None = Field(
        None, description='GET this path under the service url ("/health") or this full URL'
    )
    tcp: str | int | bool | None = Field(
        None,
        description='connect to "host:port", to a port number, or (true) to the declared port',
    )
    cmd: str | None = Field(None, description="a command (no shell) that exits 0 when healthy")
    log: Regex | None = Field(
        None, description="a regular expression; healthy once an output line matches it"
    )
    interval: Duration | None = Field(
        None,
        description='time between probes once healthy, e.g. "5s" (while starting: every 20 ms). '
        "Not set: every 5s, and an http probe sends its request only every 30s, with a "
        "silent TCP connect in between",
    )
    timeout: Duration = _duration("1s", "time limit of one probe")
    retries: int = Field(3, ge=1, description="consecutive failures that make it unhealthy")
    start_period: Duration = _duration("60s", "longest it may take to become healthy after a start")
    expect_status: StatusList = Field(
        default_factory=list,
        description="http: accepted status code or codes (default: any 2xx/3xx)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> HealthModel:
        kinds = [k for k in ("http", "tcp", "cmd", "log") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"choose one probe, not {' and '.join(kinds)}")
        if self.tcp is False:
            raise ValueError("tcp = false: remove the key to have no tcp probe")
        for key in ("interval", "timeout"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ValueError(f'{key} must be more than 0, e.g. "1s"')
        return self


class CheckModel(BaseModel):
    """``[services.NAME.check]``: what the preflight checks load and run."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)

    import_: ImportTarget = Field(
        None,
        alias="import",
        description='the app the import check loads, "pkg.mod:attr" (default: read from cmd); '
        "false: no import check",
    )
    cmd: list[str] = Field(
        default_factory=list,
        description="commands (no shell) that must exit 0 before a start, "
        'e.g. ["python manage.py check"]',
    )
    env: bool = Field(
        True,
        description="false: no env check (local URLs in env that point at nothing, "
        "localhost vs ::1 for Node)",
    )
    env_ignore: list[str] = Field(
        default_factory=list,
        description='variables the env check leaves alone, e.g. ["OKTA_REDIRECT_URI"]',
    )
    port: bool = Field(True, description="false: no port check (free, and the one cmd binds)")
    executable: bool = Field(
        True, description="false: no check that cmd's program is found (venv, PATH)"
    )
    syntax: bool = Field(True, description="false: no check that a `python FILE.py` compiles")


class ServiceModel(BaseModel):
    """``[services.NAME]``: one long-running process."""

    model_config = _MODEL

    cmd: Command = Field(
        description="the command: a string (split like a shell would, without one) or an argv list"
    )
    shell: bool = Field(False, description="run cmd through /bin/sh -c (needs a string cmd)")
    cwd: str = Field(".", description="working directory, relative to stack.toml; must exist")
    port: int | None = Field(
        None, ge=1, le=65535, description="the port it listens on; exported as PORT"
    )
    host: str = Field("127.0.0.1", min_length=1, description="the host it listens on")
    url: str | None = Field(
        None, description="its base URL; default http://HOST:PORT when a port is declared"
    )
    env: dict[str, EnvValue] = Field(
        default_factory=dict, description="environment variables (string values)"
    )
    env_file: StrOrList | None = Field(
        None, description=".env file(s) for this service, relative to stack.toml"
    )
    depends_on: dict[str, Condition] | list[str] = Field(
        default_factory=dict,
        description='services to wait for: { NAME = "started"|"healthy"|"completed" }, '
        'or a list of names meaning "started"',
    )
    health: HealthModel | None = Field(
        None, description="readiness probe; a declared port with no probe implies a tcp probe"
    )
    restart: Literal["no", "on-failure", "always"] = Field(
        "on-failure", description="when to restart it after it exits"
    )
    max_restarts: int = Field(5, ge=0, description="consecutive restarts before it is failed")
    backoff: Duration = _duration("500ms", "delay before the second consecutive restart")
    backoff_max: Duration = _duration("30s", "cap of the doubling restart delay")
    backoff_reset: Duration = _duration(
        "10s", "up this long, the consecutive-restart count starts again"
    )
    stop_signal: StopSignal = Field(
        signal.SIGTERM,
        description="signal sent first to stop it",
        json_schema_extra={"default": "SIGTERM"},
    )
    stop_timeout: Duration = _duration("10s", "grace period before SIGKILL")
    restart_on_unhealthy: bool = Field(
        False, description="restart it when its probe fails after it was healthy"
    )
    venv: str | None = Field(
        None, description="its virtualenv, relative to cwd (default: .venv or venv in cwd)"
    )
    check: CheckModel | None = Field(
        None, description="preflight checks: import target, commands, checks switched off"
    )
    setup: Annotated[str, BeforeValidator(rules.setup_line)] | None = Field(
        None,
        description="a shell line (run by /bin/sh in cwd, with the service's env) before the "
        'first start, e.g. "pnpm install --frozen-lockfile"; again when setup_inputs change',
    )
    setup_inputs: Globs = Field(
        default_factory=list,
        description='globs relative to cwd, e.g. ["requirements.txt"]: the setup runs again '
        "when their content changes (none: only when the setup line changes)",
    )
    setup_timeout: Duration | None = Field(
        None,
        description='the longest a setup may run, e.g. "10m": then it is stopped and the '
        "service blocked (default: no limit)",
    )
    watch: Globs = Field(
        default_factory=list,
        description='globs relative to cwd, e.g. ["**/*.py"]: a change restarts it, after its '
        "checks pass against the new code",
    )
    watch_ignore: Globs = Field(
        default_factory=list,
        description="globs relative to cwd whose changes never restart it (beside the defaults: "
        ".git, node_modules, __pycache__, .venv, *.log, editor swap files...)",
    )
    watch_debounce: Duration = _duration(
        "200ms", "quiet time after a change before the restart (a burst is one restart)"
    )
    watch_force: bool = Field(
        False, description="watch a command that reloads itself anyway (no warning)"
    )
    restart_dependents_on_change: bool = Field(
        False, description="a watched change restarts the services that depend on it too"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ServiceModel:
        if self.shell and isinstance(self.cmd, list):
            raise ValueError("shell = true needs cmd as a string, not a list")
        if self.setup_inputs and self.setup is None:
            raise ValueError('setup_inputs without setup: add setup = "..." or remove them')
        if self.setup_timeout is not None and self.setup is None:
            raise ValueError('setup_timeout without setup: add setup = "..." or remove it')
        if self.setup_timeout is not None and self.setup_timeout <= 0:
            raise ValueError("setup_timeout must be more than 0")
        return self


class SmokeModel(BaseModel):
    """``[[smoke]]``: one request ``devstack verify`` sends, and what its answer must be."""

    model_config = _MODEL

    name: str | None = Field(
        None, min_length=1, description='the step\'s name in the table; default "METHOD URL"'
    )
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="the HTTP method"
    )
    url: str = Field(description='a loopback URL, e.g. "${services.frontend.url}/api/health"')
    headers: dict[str, str] = Field(
        default_factory=dict, description='request headers, e.g. { Authorization = "Bearer x" }'
    )
    json_: Any = Field(
        None,
        alias="json",
        description="a JSON body (any TOML value; strings are interpolated); "
        "sets Content-Type: application/json",
    )
    body: str | None = Field(None, description="a raw request body (not with json)")
    expect_status: StatusList = Field(
        default_factory=list, description="accepted status code(s); default: any 2xx"
    )
    body_contains: list[str] = Field(
        default_factory=list, description="strings the response body must contain"
    )
    body_not_contains: list[str] = Field(
        default_factory=list, description='strings it must not contain, e.g. ["ECONNREFUSED"]'
    )
    json_contains: dict[str, Any] | None = Field(
        None,
        description="the body is JSON holding these keys with these values (nested tables: "
        "the same, inside), e.g. { ok = true }",
    )
    timeout: Duration = _duration("10s", "time limit of the request (and of log_contains)")
    log_service: str | None = Field(
        None, description="a service whose output must show log_contains after the request"
    )
    log_contains: str | None = Field(
        None, description="text that must appear in log_service's output after the request"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SmokeModel:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give json or body, not both")
        if (self.log_service is None) != (self.log_contains is None):
            raise ValueError("log_service and log_contains go together")
        if self.timeout <= 0:
            raise ValueError('timeout must be more than 0, e.g. "5s"')
        return self


class StackTable(BaseModel):
    """``[stack]``: settings for the whole stack."""

    model_config = _MODEL

    name: str | None = Field(None, min_length=1, description="stack name; default: the folder name")
    env_file: StrOrList | None = Field(
        None, description=".env file(s) for every service, relative to stack.toml"
    )
    state_dir: str | None = Field(
        None,
        min_length=1,
        description="where devstack keeps its socket, state and logs, relative to stack.toml; "
        "default .devstack; $DEVSTACK_STATE_DIR wins",
    )


class StackFile(BaseModel):
    """The whole stack.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="devstack stack.toml")

    stack: StackTable = Field(
        default_factory=lambda: StackTable.model_validate({}), description="stack-wide settings"
    )
    services: dict[str, ServiceModel] = Field(
        min_length=1, description="the services, by name, in start-preference order"
    )
    smoke: list[SmokeModel] = Field(
        default_factory=list, description="[[smoke]] requests `devstack verify` checks, in order"
    )


def valid_keys(path: tuple[str, ...]) -> list[str]:
    """The keys allowed in the table at ``path`` (for "did you mean")."""
    model: type[BaseModel] | None = StackFile
    if path[:1] == ("stack",) and len(path) == 1:
        model = StackTable
    elif path[:1] == ("services",) and len(path) == 2:
        model = ServiceModel
    elif path[:1] == ("services",) and len(path) == 3 and path[2] == "health":
        model = HealthModel
    elif path[:1] == ("services",) and len(path) == 3 and path[2] == "check":
        return [f.alias or n for n, f in CheckModel.model_fields.items()]
    elif path[:1] == ("smoke",) and len(path) == 2:
        return [f.alias or n for n, f in SmokeModel.model_fields.items()]
    elif path:
        model = None
    return list(model.model_fields) if model else []


def json_schema() -> dict[str, Any]:
    """The JSON Schema of stack.toml (``devstack schema``)."""
    return StackFile.model_json_schema()
