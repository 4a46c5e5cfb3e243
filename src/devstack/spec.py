"""The resolved stack: what the runtime is given once config is validated.

Produced by ``devstack.config`` (which owns pydantic); consumed by the supervisor,
services, probes and processes, which never import pydantic. Every value here is
final: interpolation done, durations in seconds, paths absolute, env complete.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devstack.states import Condition, RestartPolicy

ProbeKind = Literal["http", "tcp", "cmd", "log"]
# How a stop signals: "main" the leader alone first, "group" every process at once.
StopMode = Literal["main", "group"]
DEFAULT_INTERVAL = 5.0  # health.interval when not written
# health.interval not written, an http probe: once healthy, its request only this often.
HTTP_EVERY = 60.0
MAX_REPLICAS = 64  # copies of one service: each is a process (and a port) of its own


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """A readiness/liveness probe.

    ``target`` is, by kind: http: a full URL; tcp: "host:port"; cmd: a shell-free
    command line (split with shlex) ; log: a regular expression searched in the
    service's output lines.
    """

    kind: ProbeKind
    target: str
    interval: float = DEFAULT_INTERVAL  # between probes once healthy
    timeout: float = 1.0  # one probe's limit
    retries: int = 3  # consecutive failures that make a healthy service unhealthy
    start_period: float = 60.0  # longest it may take to become healthy after a start
    expect_status: tuple[int, ...] = ()  # http only; empty means any 2xx/3xx
    # While starting: between probes (an http probe's connects); failed requests back off from it.
    start_interval: float = 0.02
    # http only: once healthy, the request only every this many seconds and a silent tcp
    # connect every `interval` in between (None: the request every `interval`).
    http_every: float | None = None
    fail_fast: bool = True  # end the start-up wait early when waiting cannot help


@dataclass(frozen=True, slots=True)
class RestartSpec:
    policy: RestartPolicy = RestartPolicy.ON_FAILURE
    max_restarts: int = 5  # consecutive restarts without a stable period, then `failed`
    backoff: float = 0.5  # delay before the 2nd consecutive restart; the 1st is immediate
    backoff_max: float = 30.0  # cap of the doubling delay
    reset_after: float = 10.0  # up this long: the consecutive-restart count starts again


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    cmd: str  # the command as the user wrote it, interpolated (for messages)
    argv: tuple[str, ...]  # what is exec'd; ("/bin/sh", "-c", cmd) when shell = true
    cwd: Path  # absolute
    env: Mapping[str, str]  # the complete environment of the child
    port: int | None = None
    host: str = "127.0.0.1"
    url: str | None = None  # http://host:port when a port is declared
    depends_on: Mapping[str, Condition] = field(default_factory=dict)
    health: HealthSpec | None = None
    restart: RestartSpec = field(default_factory=RestartSpec)
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 10.0
    stop_mode: StopMode = "main"
    restart_on_unhealthy: bool = False
    interactive: bool = False  # in a pseudo-terminal, for `devstack attach`
    shell: bool = False
    env_files: tuple[Path, ...] = ()  # the files the env was read from (restart-needed detection)
    check_import: str | None = None  # "pkg.mod:attr" the import check loads (default: inferred)
    check_cmds: tuple[str, ...] = ()  # commands that must exit 0 before a start (no shell)
    check_off: tuple[str, ...] = ()  # checks switched off: "env" for check.env = false...
    check_env_ignore: tuple[str, ...] = ()  # variables the env check leaves alone
    venv: Path | None = None  # absolute; None: a .venv/venv found in cwd, if any
    setup: str | None = None  # a shell line run (through /bin/sh) before the first start
    setup_inputs: tuple[str, ...] = ()  # globs under cwd whose content re-runs the setup
    setup_timeout: float | None = None  # seconds a setup may run; None: no limit
    watch: tuple[str, ...] = ()  # globs under cwd: a change restarts it (devstack.runtime.watch)
    watch_ignore: tuple[str, ...] = ()  # globs under cwd never watched (beside the defaults)
    watch_debounce: float = 0.2  # quiet time that ends a batch of changes
    watch_force: bool = False  # watch a self-reloading command anyway (no warning)
    restart_dependents_on_change: bool = False  # a change restarts its dependents too
    profiles: tuple[str, ...] = ()  # enabled only by one of these (devstack.config.profiles)
    # One copy of a service with `replicas = N`: named "worker.2", replica_of "worker",
    # replica 2 (1..N). The runtime runs copies as services of their own.
    replica_of: str | None = None
    replica: int | None = None


@dataclass(frozen=True, slots=True)
class SmokeSpec:
    """One ``[[smoke]]`` request of ``devstack verify``, interpolated."""

    name: str
    method: str
    url: str  # a loopback http(s) URL
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None  # what is sent: the json table already encoded, or the raw body
    is_json: bool = False  # body is JSON (sent with Content-Type: application/json)
    expect_status: tuple[int, ...] = ()  # empty: any 2xx
    body_contains: tuple[str, ...] = ()
    body_not_contains: tuple[str, ...] = ()
    json_contains: str | None = None  # JSON text of a table the answer's JSON must include
    timeout: float = 10.0
    log_service: str | None = None  # its output must show log_contains after the request
    log_contains: str | None = None


@dataclass(frozen=True, slots=True)
class StackSpec:
    name: str
    root: Path  # the directory of stack.toml (or of the Procfile)
    file: Path | None  # stack.toml or Procfile it came from
    services: Mapping[str, ServiceSpec]  # in declaration order
    from_procfile: bool = False
    smoke: tuple[SmokeSpec, ...] = ()  # [[smoke]], in file order
    state: Path | None = None  # the state folder (devstack.paths.resolve_state_dir)
    # The active profiles (--profile, DEVSTACK_PROFILES): set after loading, not in the file.
    profiles: tuple[str, ...] = ()
    # The files given with -f, in order; () when found (stack.toml, stack.local.toml if any):
    # what a re-read reads again.
    layers: tuple[Path, ...] = ()
    # Every file the stack was read from: layers and included files (``file`` first).
    files: tuple[Path, ...] = ()

    def state_dir(self) -> Path:
        """Where devstack keeps this stack's socket, state and logs."""
        return self.state if self.state is not None else self.root / ".devstack"


def group_of(name: str) -> str:
    """The service a copy belongs to (``worker.2`` -> ``worker``); other names as they are.
    A written service name holds no dot (config checks it), so a dot means a copy."""
    return name.rpartition(".")[0] or name


def copies_of(known: Iterable[str], name: str) -> list[str]:
    """The copies of the replicated service ``name`` among ``known``, in their order."""
    return [n for n in known if "." in n and group_of(n) == name]


def expand_names(known: Sequence[str], names: Sequence[str]) -> list[str]:
    """``names`` with a replicated service's name replaced by its copies' (``restart
    worker`` is every copy); a name neither known nor a group is kept, for the caller
    to refuse."""
    out: list[str] = []
    for name in names:
        members = [] if name in known else copies_of(known, name)
        out += [m for m in members or [name] if m not in out]
    return out


def known_names(known: Sequence[str]) -> list[str]:
    """What a command accepts: each service, and each replicated one before its copies."""
    out: list[str] = []
    for name in known:
        group = group_of(name)
        if group != name and group not in out:
            out.append(group)
        out.append(name)
    return out


def require_services(stack: StackSpec, names: Sequence[str]) -> list[str]:
    """Every name is a service of ``stack`` (or a replicated one: its copies); else a
    usage error with the nearest name. The names with each group expanded."""
    import difflib

    from devstack.errors import UsageError

    expanded = expand_names(list(stack.services), names)
    known = known_names(list(stack.services))
    for name in expanded:
        if name not in stack.services:
            close = difflib.get_close_matches(name, known, n=1)
            services = f"services: {', '.join(known)}"
            hint = f"did you mean {close[0]}? ({services})" if close else services
            raise UsageError(f"no service named {name!r} in {stack.file}", hint=hint)
    return expanded
