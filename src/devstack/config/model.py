"""The shape of stack.toml as pydantic v2 models: frozen, unknown keys forbidden.

The only definition of the file's keys: the loader reads through these models,
``devstack schema`` (stack.schema.json) and the key tables of docs/stack-toml.md
are generated from them, so every field has a description. They check types,
single values (``rules.py``) and the keys of one table together. Whatever needs
the whole file or the disk (dependencies, cycles, ports, paths, env files,
``${...}``) is checked in ``load.py``. Values are never coerced: ``strict=True``
refuses ``port = "5000"`` and ``env = { PORT = 5000 }`` alike, the latter with a
"quote it" hint.

A new key: its field here; a field of the same name in ``devstack.spec`` if the
runtime needs it (``load._spec`` carries the value across, the spec cache keeps it);
the code that acts on it; a test. Then ``devstack schema > stack.schema.json`` and
``python -m devstack.config.doctables`` regenerate the schema and the doc tables.
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
from devstack.spec import MAX_REPLICAS

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
# The bounds for editors (the schema); the validator says why first, in its own words.
Replicas = Annotated[int, Field(ge=1, le=MAX_REPLICAS), BeforeValidator(rules.replica_count)]
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
# As service names: they are written on the command line and in DEVSTACK_PROFILES (commas).
ProfileName = Annotated[
    str, Field(pattern=rules.PROFILE_PATTERN), BeforeValidator(rules.profile_name)
]


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
        None,
        description='`GET` this path under the service\'s `url` (`"/health"`; needs `port` or '
        "`url`), or this full `http(s)://` URL. Interpolated.",
    )
    tcp: str | int | bool | None = Field(
        None,
        description='healthy when a TCP connection is accepted: `"host:port"` (interpolated; '
        "a bare number string means this port on the service's host), a port number, or "
        "`true` for the declared `port`. `false` is an error: remove the key.",
    )
    cmd: str | None = Field(
        None,
        description="a command, split like `cmd` and run **without a shell** in the service's "
        "`cwd` with its environment; healthy on exit 0. Interpolated. Killed (with its process "
        "group) at `timeout`.",
    )
    log: Regex | None = Field(
        None,
        description="a regular expression: healthy once a line of the service's output (stdout "
        "or stderr) matches (Python `re.search`, one line at a time). Not interpolated. Once "
        "matched it stays healthy until the process restarts.",
    )
    interval: Duration | None = Field(
        None,
        description='time between probes once healthy, e.g. `"5s"`; more than 0 (while '
        "starting: every 20 ms, and an `http` probe's failing requests back off, up to one "
        "every 5 s). Not written: every 5s, and an `http` probe is quiet once healthy (its "
        "request only every 60s, with a silent TCP connect in between); written, the probe "
        'itself runs every `interval`. Default: `"5s"`, quiet for `http`',
    )
    timeout: Duration = _duration("1s", "time limit of one probe.")
    retries: int = Field(
        3, ge=1, description="consecutive failures that turn a healthy service `unhealthy`."
    )
    start_period: Duration = _duration(
        "60s", "longest it may take to become healthy after a start."
    )
    expect_status: StatusList = Field(
        default_factory=list,
        description="`http` only (an error with another kind): the accepted status code or "
        "codes. Default: any 2xx or 3xx",
    )
    fail_fast: bool = Field(
        True,
        description="end the wait for a starting service before `start_period` when waiting "
        "cannot help: it listens only on other ports or addresses, the `http` probe keeps "
        "getting the same 4xx, or its output shows a server's fatal start-up line (see "
        "below). `false`: wait out `start_period`.",
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
        description='the app the import check loads, `"pkg.mod:attr"` (or `"pkg.mod"`, '
        "meaning `:app`); `false`: no import check. "
        "Default: read from `cmd` (gunicorn/uvicorn/... argument)",
    )
    cmd: list[str] = Field(
        default_factory=list,
        description="commands (split like `cmd`, no shell, not interpolated), e.g. "
        '`["python manage.py check"]`, run in the service\'s `cwd` with its environment '
        "before a start; each must exit 0 within 15 s. On failure the last 20 lines of "
        "output are shown.",
    )
    env: bool = Field(
        True,
        description="`false`: no env check (local URLs in env that point at nothing, "
        "localhost vs ::1 for Node).",
    )
    env_ignore: list[str] = Field(
        default_factory=list,
        description='variables the env check leaves alone, e.g. `["OKTA_REDIRECT_URI"]`.',
    )
    port: bool = Field(
        True,
        description="`false`: no port check (the port is free; the port the command binds "
        "agrees with `port`).",
    )
    executable: bool = Field(
        True, description="`false`: no check that the command's program is found (venv, `PATH`)."
    )
    syntax: bool = Field(True, description="`false`: no check that a `python FILE.py` compiles.")
    node: bool = Field(
        True,
        description="`false`: no node check (node_modules installed and not older than the "
        "lockfile; the script `pnpm|npm|yarn|bun [run] X` runs exists; `engines.node`).",
    )
    proxy: bool = Field(
        True,
        description="`false`: no proxy check (a loopback target in next.config rewrites or "
        "Vite's `server.proxy` on a port no service declares, the frontend's own, or a "
        "non-http service's).",
    )


class ServiceModel(BaseModel):
    """``[services.NAME]``: one long-running process."""

    model_config = _MODEL

    cmd: Command = Field(
        description="the command. A **string** is interpolated, then split like a shell would "
        "split it (quotes, backslashes) but **no shell runs**: no pipes, globs, `&&`, `$VAR`. "
        "An **array** is the argv as is (each element interpolated, never split). Must not be "
        "empty."
    )
    shell: bool = Field(
        False,
        description="run the string `cmd` as `/bin/sh -c CMD` (needs a string `cmd`; an array "
        "is an error). Use it for pipes, `&&`, `$VAR`, `cd x && ...`.",
    )
    cwd: str = Field(
        ".",
        description="working directory, relative to stack.toml (`~` expanded). Must exist.",
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="the port the service listens on. Exported as `PORT`; used by `${port}`, "
        "the default `url`, the implied tcp probe and the preflight port check. Two services "
        "may not declare the same port on overlapping hosts (`0.0.0.0`/`::` overlap "
        "everything; `127.0.0.1` and `localhost` overlap). devstack does not make the program "
        "listen there: pass `${port}` (or read `PORT`).",
    )
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="the host it listens on; used by `${host}`, the default `url` and the "
        "implied tcp probe. A wildcard (`0.0.0.0`, `::`) is reached on `127.0.0.1`; an IPv6 "
        "address is bracketed in URLs.",
    )
    url: str | None = Field(
        None,
        description="its base URL; must be `http://` or `https://` after interpolation; a "
        "trailing `/` is removed. May use `${port}`, `${host}`, `${env:...}`, but not another "
        "`${...url}`. Default: `http://HOST:PORT` when `port` is set, else none",
    )
    env: dict[str, EnvValue] = Field(
        default_factory=dict,
        description="environment variables; values are interpolated. Values must be strings "
        "(`PORT = 5000` is an error: quote it). Names cannot be empty or contain `=`.",
    )
    env_file: StrOrList | None = Field(
        None,
        description="`.env` file(s) for this service, relative to **stack.toml** (not `cwd`), "
        "read after the stack's. A missing file is an error, and so is one that is not a "
        "regular file (a FIFO, a device) or is over 256 KiB.",
    )
    depends_on: dict[str, Condition] | list[str] = Field(
        default_factory=dict,
        description="services to wait for before starting, `{ NAME = CONDITION }`; see "
        '[depends_on](#depends_on). An array of names means `"started"` for each.',
    )
    profiles: list[ProfileName] = Field(
        default_factory=list,
        description='the profiles that enable it, e.g. `["worker", "docs"]`: it starts only '
        "when one of them is active (`up --profile worker`, `DEVSTACK_PROFILES=worker,docs`) "
        "or when it is named (`up SVC`) or needed by what starts; see [profiles](#profiles). "
        "Names use letters, digits, - and _. Default: `[]` (always enabled)",
    )
    replicas: Replicas | None = Field(
        None,
        description="run this many copies (1..64), named `NAME.1`, `NAME.2`...: each with its "
        "own process, probe, restarts, log prefix and log file. `${replica}` is the copy's "
        "number; a declared `port` is the first copy's, the others take the next ports "
        "(`port = 5000`, `replicas = 3`: 5000, 5001, 5002), each copy's own `${port}`; "
        "`${services.NAME.url}` is the first copy's. A dependent waits for every copy; see "
        "[replicas](#replicas). Default: one process, no copies",
    )
    health: HealthModel | None = Field(
        None,
        description="readiness probe; see [health](#health-readiness-and-liveness-probes). "
        "Default: none (tcp implied when `port` is set)",
    )
    restart: Literal["no", "on-failure", "always"] = Field(
        "on-failure",
        description="when to restart after it exits; see [Restarts](#restarts-and-backoff).",
    )
    max_restarts: int = Field(
        5, ge=0, description="consecutive restarts before the service is `failed`."
    )
    backoff: Duration = _duration(
        "500ms",
        "delay before the 2nd consecutive restart (the 1st is immediate); doubles each time.",
    )
    backoff_max: Duration = _duration("30s", "cap of the doubling delay.")
    backoff_reset: Duration = _duration(
        "10s", "a process that stayed up this long starts the consecutive-restart count again."
    )
    stop_signal: StopSignal = Field(
        signal.SIGTERM,
        description="the signal sent first to stop it: `TERM`, `INT`, `QUIT`, `KILL`, `HUP`, "
        "`USR1` or `USR2`, with or without `SIG`, in any case.",
        json_schema_extra={"default": "SIGTERM"},
    )
    stop_timeout: Duration = _duration("10s", "grace period after `stop_signal` before SIGKILL.")
    stop_mode: Literal["main", "group"] = Field(
        "main",
        description='who gets `stop_signal`: `"main"`, the service\'s main process alone (it '
        "stops its own workers; what is left once it exited gets `stop_signal`, then SIGKILL); "
        '`"group"`, every process of the service at once, as Ctrl-C in a terminal does. See '
        "[Stopping](#stopping).",
    )
    restart_on_unhealthy: bool = Field(
        False,
        description="stop the process when it becomes `unhealthy`; the `restart` policy then "
        "applies to its exit.",
    )
    interactive: bool = Field(
        False,
        description="run it in a pseudo-terminal, so `devstack attach NAME` can type into it "
        "(pdb at a `breakpoint()`, a REPL); its output still goes to the log. Otherwise a "
        "service's stdin is closed. See [Interactive services](#interactive-services).",
    )
    venv: str | None = Field(
        None,
        description="the service's virtualenv, relative to **cwd**; see "
        "[venv](#preflight-checks-check-and-venv). Its `bin` is put first on the service's "
        "`PATH` and `VIRTUAL_ENV` is set to it, for the checks and for the process itself (as "
        "`source .venv/bin/activate` would). A path that does not exist is an error, unless "
        "the service has a `setup` step (which may be what creates it). "
        "Default: `.venv` or `venv` in `cwd` (if it holds `pyvenv.cfg`)",
    )
    check: CheckModel | None = Field(
        None,
        description="preflight checks: `check.import`, `check.cmd`, and switches "
        "(`check.env = false`, `check.env_ignore`, `check.port = false`...); see "
        "[check](#preflight-checks-check-and-venv).",
    )
    setup: Annotated[str, BeforeValidator(rules.setup_line)] | None = Field(
        None,
        description="a shell line (run by `/bin/sh` in `cwd`, with the service's env), e.g. "
        '`"pnpm install --frozen-lockfile"`, run before the first start, and again only when '
        "it or its `setup_inputs` change; not empty; see "
        "[setup](#setup-steps-setup-and-setup_inputs).",
    )
    setup_inputs: Globs = Field(
        default_factory=list,
        description='globs relative to `cwd`, e.g. `["requirements.txt"]`: files whose content '
        "re-runs `setup` (none: only a change of the setup line does); needs `setup`; see "
        "[setup](#setup-steps-setup-and-setup_inputs).",
    )
    setup_timeout: Duration | None = Field(
        None,
        description='the longest `setup` may run, e.g. `"10m"`: past it, its process tree is '
        "stopped (`stop_signal`, `stop_timeout`, SIGKILL) and the service is `blocked`; needs "
        "`setup`. Default: none (no limit)",
    )
    watch: Globs = Field(
        default_factory=list,
        description='globs relative to `cwd`, e.g. `["**/*.py"]`: a change restarts the '
        "service, after its checks pass on the new code; see [watch](#watch-restart-on-edit). "
        'Default: `[]` (`up --watch`: `["**/*.py"]` for Python services)',
    )
    watch_ignore: Globs = Field(
        default_factory=list,
        description="globs relative to `cwd` whose changes never restart it, beside the default "
        "ignores (`.git`, `node_modules`, `__pycache__`, `.venv`, `*.log`, editor swap "
        "files...); see [watch](#watch-restart-on-edit).",
    )
    watch_debounce: Duration = _duration(
        "200ms", "quiet time that ends a batch of changes (a burst of saves is one restart)."
    )
    watch_force: bool = Field(
        False, description="watch a command that reloads itself anyway (no warning)."
    )
    restart_dependents_on_change: bool = Field(
        False,
        description="a watched change restarts the services that depend on it too (as "
        "`restart --with-dependents`).",
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
        None,
        min_length=1,
        description='the step\'s name in the table, JSON and JUnit. Default: `"METHOD URL"`',
    )
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="the HTTP method."
    )
    url: str = Field(
        description="a URL on this machine (`127.0.0.1`, `127.x.x.x`, `localhost`, `::1`), "
        'e.g. `"${services.frontend.url}/api/health"`; anything else is a config error.'
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='request headers (string values), e.g. `{ Authorization = "Bearer x" }`.',
    )
    json_: Any = Field(
        None,
        alias="json",
        description="a JSON body: any TOML value except dates (its strings are interpolated); "
        "sent with `Content-Type: application/json`.",
    )
    body: str | None = Field(None, description="a raw string body (not with `json`).")
    expect_status: StatusList = Field(
        default_factory=list,
        description="the accepted status code or codes. Default: any 2xx",
    )
    body_contains: list[str] = Field(
        default_factory=list,
        description="strings the response body must contain (interpolated, e.g. "
        '`"${services.backend.url}"`).',
    )
    body_not_contains: list[str] = Field(
        default_factory=list,
        description='strings it must not contain, e.g. `["ECONNREFUSED"]` (interpolated).',
    )
    json_contains: dict[str, Any] | None = Field(
        None,
        description="a table the body, read as JSON, must include: each key with this value "
        "(nested tables are matched the same way, inside; `1` and `1.0` are equal, `true` and "
        "`1` are not), e.g. `{ ok = true }`. Unlike `body_contains`, independent of spacing: "
        '`{ ok = true }` matches `{"ok":true}` and `{"ok": true}`.',
    )
    timeout: Duration = _duration(
        "10s", "limit of the request; also how long `log_contains` is waited for."
    )
    log_service: str | None = Field(
        None,
        description="(with `log_contains`) a service whose output must show `log_contains` "
        "after the request.",
    )
    log_contains: str | None = Field(
        None,
        description="(with `log_service`) text a line of `log_service`'s output after the "
        "request must contain.",
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

    name: str | None = Field(
        None,
        min_length=1,
        description="the stack's name. Default: the folder name of stack.toml",
    )
    env_file: StrOrList | None = Field(
        None,
        description="`.env` file(s) read for every service, relative to stack.toml, in order "
        "(a later file wins). A missing file is an error, and so is one that is not a regular "
        "file (a FIFO, a device) or is over 256 KiB.",
    )
    state_dir: str | None = Field(
        None,
        min_length=1,
        description="where devstack keeps its socket, `state.json`, logs and caches, relative "
        "to stack.toml (`~` expands). The environment variable `DEVSTACK_STATE_DIR` wins over "
        "it (a relative value is relative to stack.toml too). Every command (`up`, `ps`, "
        "`logs`, `down`, `verify`, `setup`...) looks there. Give each stack its own: two "
        "stacks in one folder would share one supervisor's socket. devstack writes a "
        "`.gitignore` of `*` into it (and, in a git repository that does not ignore it, lists "
        "it in `.git/info/exclude`) and never watches it. Default: `.devstack`",
    )


def _services_optional(schema: dict[str, Any]) -> None:
    # An included file may hold only [[smoke]]: the editor's schema is each file's; the
    # load says when the merged stack has no service (the model requires them).
    schema["required"] = [k for k in schema.get("required", []) if k != "services"]
    if not schema["required"]:
        del schema["required"]


class StackFile(BaseModel):
    """The whole stack.toml."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        title="devstack stack.toml",
        json_schema_extra=_services_optional,
    )

    stack: StackTable = Field(
        default_factory=lambda: StackTable.model_validate({}), description="stack-wide settings"
    )
    services: dict[str, ServiceModel] = Field(
        min_length=1, description="the services, by name, in start-preference order"
    )
    smoke: list[SmokeModel] = Field(
        default_factory=list, description="[[smoke]] requests `devstack verify` checks, in order"
    )
    include: list[str] = Field(
        default_factory=list,
        description="more stack files to read (a monorepo's services/api/stack.toml), relative "
        "to this file. Each included file's relative paths (cwd, env_file) resolve against "
        "its own folder; its services join this file's (a name defined twice is an error); "
        "its [[smoke]] entries are appended; it may include in turn (up to 8 deep); it may "
        "not hold [stack]",
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


def json_schema(*, override: bool = False) -> dict[str, Any]:
    """The JSON Schema of stack.toml (``devstack schema``); ``override``: of a file merged
    on top of it (stack.local.toml, a later ``-f``), which holds only what it changes."""
    schema = StackFile.model_json_schema()
    if override:
        schema["title"] = "devstack stack.local.toml (override)"
        schema["description"] = (
            "a file merged on top of stack.toml (stack.local.toml, a later -f): tables merged "
            "key by key, arrays and values replaced; a key it lacks is stack.toml's"
        )
        for name, definition in schema["$defs"].items():
            if name != "SmokeModel":  # [[smoke]] is an array: an override replaces it whole
                definition.pop("required", None)
    return schema
