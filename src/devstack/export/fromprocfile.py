"""``devstack init``: a commented stack.toml from a Procfile, with what its commands reveal.

For each ``name: command`` line: ``cd DIR &&`` becomes ``cwd``, leading
``VAR=value`` words become ``env``, ``$PORT`` becomes ``${port}`` and other
``$VAR`` become ``${env:VAR:-}`` (the shell's empty default); a line that needs a
shell (pipes, ``&&`` after the prefix, ``$(...)``, outside quotes) stays whole with
``shell = true``.
The port comes from the command (``--bind``, ``--port``, ``-p``, via the same
parser as the preflight checks), else ``$PORT`` / a server that reads PORT
(numbered like honcho and foreman), else the server's default; a service with a
port gets a tcp probe. The import check shown is the one the preflight will run
(``devstack.checks.imports.import_target``). A service whose env or command points
at another's port gets that one in ``depends_on`` and the URL as
``${services.NAME.url}``.

Heroku's conventions: ``release`` is a one-shot the other process types wait for
(``completed``), ``web`` listens on ``$PORT`` and gets an http probe. Celery
``worker``/``beat`` lines are workers; data stores (``redis-server``...) get their
default port and a tcp probe.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.checks.envwiring import local_urls
from devstack.checks.imports import import_target
from devstack.checks.routes import get_routes, module_file, probe_route
from devstack.config.procfile import DEFAULT_PORT, PORT_STEP
from devstack.project.servers import command_port, default_port, parse_server
from devstack.spec import ServiceSpec

_PORT_VAR = re.compile(r"\$(?:PORT\b|\{PORT\})")
_OTHER_VAR = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_PLAIN_WORD = re.compile(r"[\w@%+=:,./${}-]+")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_CD_PREFIX = re.compile(r"^\s*cd\s+\S+\s*&&")
_SHELL_CHARS = frozenset("|;&<>`(){}*?~$")
_HONCHO = "$PORT, numbered as honcho and foreman do (5000, +100 per line)"
_GUNICORN_PORT = 8000  # gunicorn's port for a --bind with none
_COMMAND = "(command)"  # not a variable name: the key of the command among env values
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::"})
# Node dev servers: (program, subcommand) -> port when the command names none.
_NODE_DEFAULTS = {"next": None, "vite": 5173, "astro": 4321, "nuxt": None}
# Servers that are not web apps: program -> default port (a tcp probe, no http).
_STORE_PORTS = {"redis-server": 6379, "memcached": 11211, "mongod": 27017, "postgres": 5432}
_STORE_SCHEMES = {"redis-server": "redis", "mongod": "mongodb", "postgres": "postgres"}
_CELERY_ROLES = ("worker", "beat")
_CELERY_VALUE_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader"}
_CELERY_VALUE_OPTIONS |= {"--config", "--workdir"}
_HEROKU_RELEASE = "release"
_HEROKU_WEB = "web"


@dataclass
class Inferred:
    """One Procfile line as a stack.toml service, with the reason for each guess."""

    name: str
    line: int
    original: str
    cmd: str
    shell: bool = False
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    port_reason: str = ""
    host: str | None = None
    app: str | None = None  # "app:app" the import check loads
    server: str | None = None
    depends_on: dict[str, str] = field(default_factory=dict)  # name -> why
    conditions: dict[str, str] = field(default_factory=dict)  # name -> condition, else healthy
    origin: str = ""  # the comment above the table: where the service was read from
    http: str | None = None  # health.http path; None: tcp when there is a port
    route: str | None = None  # a GET route the app declares (read with ast), for the probe
    restart: str | None = None
    kind: str | None = None  # "celery worker", "redis-server": what the command is
    setup: str | None = None
    setup_inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # more comment lines, each "# ..."


def infer_services(
    entries: dict[str, tuple[str, int]],
    procfile_dir: Path,
    base_port: int = DEFAULT_PORT,
    dotenv: Mapping[str, str] | None = None,
) -> list[Inferred]:
    """The services of a parsed Procfile (``{name: (command, line)}``); ``dotenv``: the
    ``.env`` beside it, where a Celery worker's broker URL is looked for."""
    services = [
        _infer(name, command, line, procfile_dir, base_port + PORT_STEP * index)
        for index, (name, (command, line)) in enumerate(entries.items())
    ]
    for svc in services:
        svc.origin = f"Procfile line {svc.line}: {svc.name}: {svc.original}"
    _heroku(services)
    _celery_brokers(services, dotenv or {})
    _suggest_dependencies(services)
    return services


def _celery_brokers(services: list[Inferred], dotenv: Mapping[str, str]) -> None:
    """A Celery worker waits for the data store whose port a ``.env`` URL of its scheme
    names (``REDIS_URL=redis://localhost:6379/0``); the other URLs there are not its own."""
    stores = {s.port: s for s in services if s.kind in _STORE_PORTS and s.port is not None}
    for url in local_urls(dotenv):
        store = stores.get(url.port)
        if store is None or not url.value.startswith(_STORE_SCHEMES.get(store.kind or "", "-")):
            continue
        for svc in services:
            if svc.kind is not None and svc.kind.startswith("celery"):
                svc.depends_on.setdefault(
                    store.name, f".env's {url.var} points at {store.name}'s port {store.port}"
                )


def _heroku(services: list[Inferred]) -> None:
    """Heroku's process types: ``release`` runs before the others; ``web`` gets HTTP on $PORT."""
    names = {s.name for s in services}
    for svc in services:
        if svc.name == _HEROKU_RELEASE:
            svc.restart, svc.port, svc.host, svc.http = "no", None, None, None
            svc.notes.append("# Heroku's release phase: a one-shot the other types wait for")
        elif _HEROKU_RELEASE in names and svc.kind not in _STORE_PORTS:
            svc.conditions[_HEROKU_RELEASE] = "completed"
            svc.depends_on[_HEROKU_RELEASE] = "Heroku runs release before the other types"
        if svc.name == _HEROKU_WEB and svc.kind is None:
            if svc.port is not None:
                svc.http = "/"
            else:
                svc.notes.append(
                    "# Heroku's web listens on $PORT; this command does not show that it"
                    " does: add port = N (and health.http) once you know its port"
                )


def needs_shell(command: str) -> bool:
    """Shell syntax outside quotes (pipes, ``;``, ``&&``, globs, ``$(...)``), or a command
    substitution inside double quotes. ``$VAR`` and ``${VAR}`` alone do not need a shell."""
    text = _OTHER_VAR.sub("", command)
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            if char in "`$":
                return True
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in _SHELL_CHARS:
            return True
    return False


def _infer(name: str, command: str, line: int, root: Path, honcho_port: int) -> Inferred:
    svc = Inferred(name, line, command, command)
    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    if len(words) >= 3 and words[0] == "cd" and words[2] == "&&" and "$" not in words[1]:
        svc.cwd, words = words[1], words[3:]
    if words[:1] == ["exec"]:
        words = words[1:]
    while words and _ASSIGNMENT.match(words[0]) and "$" not in words[0]:
        var, _, value = words.pop(0).partition("=")
        svc.env[var] = value
    if words[:1] == ["exec"]:
        words = words[1:]
    if (
        not words
        or _ASSIGNMENT.match(words[0])  # VAR=$OTHER cmd: only a shell does that
        or needs_shell(_CD_PREFIX.sub("", command, count=1) if svc.cwd else command)
    ):
        svc.cmd, svc.shell, svc.cwd, svc.env = _shell_text(command), True, None, {}
        words = []
    cwd = root / (svc.cwd or ".")
    assigned = svc.env.pop("PORT", "")  # devstack exports PORT itself
    if assigned.isdigit():
        honcho_port = int(assigned)
    numbered = [_PORT_VAR.sub(str(honcho_port), w) for w in words]
    uses_port = _PORT_VAR.search(command) is not None
    _infer_port(svc, numbered, uses_port, honcho_port)
    if svc.port is None and assigned.isdigit():
        svc.port, svc.port_reason = honcho_port, f"PORT={assigned} on the Procfile line"
    if not svc.shell:
        svc.cmd = _join([_interpolated(w) for w in words])
        svc.app = _import_check(svc, numbered, cwd)
    elif uses_port:
        svc.port, svc.port_reason = honcho_port, _HONCHO
    return svc


def _infer_port(svc: Inferred, argv: list[str], uses_port: bool, honcho_port: int) -> None:
    if not argv:
        return
    env = {"PORT": str(honcho_port)}
    server = parse_server(argv, env)
    written = command_port(argv)
    program = os.path.basename(argv[0])
    svc.server = server.server if server else None
    role = _celery_role(argv)
    if role is not None:
        svc.kind = f"celery {role}"
        return  # a worker: no port, whatever -p means to celery
    if program in _STORE_PORTS:
        svc.kind = program
    if server is not None and server.host and server.host not in ("127.0.0.1", "localhost"):
        svc.host = server.host
    elif server is not None and server.server == "gunicorn" and written is None:
        svc.host = "0.0.0.0"  # gunicorn's default bind is 0.0.0.0:$PORT when PORT is set
    if written is not None:
        svc.port = written
        svc.port_reason = (
            _HONCHO if uses_port and written == honcho_port else "the port the command names"
        )
    elif server is not None and server.server == "gunicorn" and server.host is not None:
        # `--bind 0.0.0.0`: an address with no port is gunicorn's 8000; PORT is read only
        # when no --bind is given.
        svc.port = _GUNICORN_PORT
        svc.port_reason = "gunicorn's default port: the --bind names none, so $PORT is not read"
    elif server is not None:
        svc.port = default_port(server, env)
        svc.port_reason = (
            f"{server.server} reads {_HONCHO}"
            if server.server == "gunicorn"
            else f"{server.server}'s default when the command names none"
        )
    elif program in _STORE_PORTS:
        svc.port, svc.port_reason = _STORE_PORTS[program], f"{program}'s default port"
    elif program in _NODE_DEFAULTS or (
        program in ("npx", "pnpm") and argv[1:2] and argv[1] in _NODE_DEFAULTS
    ):
        tool = program if program in _NODE_DEFAULTS else argv[1]
        default = _NODE_DEFAULTS[tool]
        svc.port = default or honcho_port
        svc.port_reason = f"{tool}'s default port" if default else f"{tool} reads {_HONCHO}"
    elif uses_port:
        svc.port, svc.port_reason = honcho_port, _HONCHO


def _celery_role(argv: list[str]) -> str | None:
    """ "worker" / "beat" for ``celery -A app worker`` (or ``python -m celery ...``)."""
    program = os.path.basename(argv[0])
    start = 1 if program == "celery" else 3 if argv[1:3] == ["-m", "celery"] else 0
    if not start:
        return None
    words = iter(argv[start:])
    for word in words:
        if word in _CELERY_VALUE_OPTIONS:
            next(words, None)
        elif word in _CELERY_ROLES:
            return word
        elif not word.startswith("-"):
            return None  # another subcommand: flower, inspect, call...
    return None


def _import_check(svc: Inferred, argv: list[str], cwd: Path) -> str | None:
    """The app the preflight import check will load for this command, as "module:attr"."""
    probe = ServiceSpec(name=svc.name, cmd=shlex.join(argv), argv=tuple(argv), cwd=cwd, env={})
    target = import_target(probe)
    if target is None or not target.attrs or target.celery is not None:
        return None  # a celery worker: its own note says what the preflight checks
    source = module_file(target.module, target.paths)
    if source is not None:
        svc.route = probe_route(get_routes(source, target.attrs[0]))
    return f"{target.module}:{target.attrs[0]}"


def _interpolated(word: str) -> str:
    """A shell word as devstack writes it: $PORT -> ${port}, $VAR -> ${env:VAR:-}."""

    def ref(match: re.Match[str]) -> str:
        var = match.group(1) or match.group(2)
        return "${port}" if var == "PORT" else f"${{env:{var}:-}}"

    return _OTHER_VAR.sub(ref, word)


def _join(words: list[str]) -> str:
    """Words joined for a shell-free ``cmd``, quoted only where a shell would need it."""
    return " ".join(w if _PLAIN_WORD.fullmatch(w) else shlex.quote(w) for w in words)


def _shell_text(command: str) -> str:
    """A shell line for ``shell = true``: ``${`` and ``$$`` escaped from devstack's references."""
    return re.sub(r"\$(?=[${])", "$$", command)


def _suggest_dependencies(services: list[Inferred]) -> None:
    by_port = {s.port: s for s in services if s.port is not None}
    for svc in services:
        texts = {**svc.env, _COMMAND: svc.original}
        for url in local_urls(texts):
            owner = by_port.get(url.port)
            if owner is None or owner is svc or svc.name in owner.depends_on:
                continue
            what = "the command" if url.var == _COMMAND else url.var
            svc.depends_on.setdefault(
                owner.name, f"{what} points at {owner.name}'s port {owner.port}"
            )
            if url.var in svc.env and url.host in _LOCAL_HOSTS:
                prefix = re.match(r"https?://[^/]+", url.value)
                if prefix and prefix.group(0).endswith(f":{url.port}"):
                    svc.env[url.var] = (
                        f"${{services.{owner.name}.url}}{url.value[len(prefix.group(0)) :]}"
                    )


def render_toml(
    services: Iterable[Inferred],
    source: str,
    env_file: str | None,
    schema_hint: bool = True,
    *,
    what: str = "one service per Procfile line",
    notes: Iterable[str] = (),
) -> str:
    """The commented stack.toml text."""
    q = json.dumps
    out = [
        f"# Written by `devstack init` from {source}: {what}.",
        "# What devstack inferred from each command is noted beside it; check and edit.",
        "# `devstack check` runs the preflight checks alone, `devstack up` starts the stack.",
        *notes,
    ]
    if schema_hint:
        out.append(
            "# Editor completion: `devstack schema > stack.schema.json`, then put"
            " `#:schema ./stack.schema.json` first in this file."
        )
    if env_file is not None:
        out += [
            "",
            "[stack]",
            f"env_file = {q(env_file)}  # every service reads it, as honcho does",
        ]
    for svc in services:
        out += ["", f"# {svc.origin}", *svc.notes]
        out.append(f"[services.{_key(svc.name)}]")
        out.append(f"cmd = {q(svc.cmd)}")
        if svc.shell:
            out.append("shell = true  # the line uses shell syntax")
        if svc.cwd is not None:
            out.append(f"cwd = {q(svc.cwd)}")
        if svc.restart is not None:
            out.append(f"restart = {q(svc.restart)}  # runs once; a non-zero exit is a failure")
        if svc.port is not None:
            out.append(f"port = {svc.port}  # {svc.port_reason}")
            if svc.host is not None:
                out.append(f"host = {q(svc.host)}  # the address the command binds")
            if svc.http is not None:
                out.append(
                    f"health.http = {q(svc.http)}  # ready once GET {svc.http} answers 2xx/3xx;"
                    " if it answers 404, use a route it has"
                )
            else:
                # Only a route the app is seen to have: a made-up one would 404.
                better = f'; a route is better: health.http = "{svc.route}"' if svc.route else ""
                out.append(f"health.tcp = true  # ready once the port accepts connections{better}")
        elif svc.kind is not None and svc.kind.startswith("celery"):
            out.append(
                f"# {svc.kind}: no port, no probe (running once started); the preflight"
                " checks that celery is found"
            )
            if svc.kind == "celery worker":
                out.append('# to wait until it is ready: health.log = "celery@\\\\S+ ready"')
        elif svc.restart is None:
            out.append("# no port: a worker; it counts as running once started")
        if svc.app is not None:
            out.append(
                f"# preflight: imports {svc.app} as {svc.server} will"
                f' (to change it: check.import = "{svc.app}")'
            )
        if svc.depends_on:
            deps = ", ".join(
                f"{_key(n)} = {q(svc.conditions.get(n, 'healthy'))}" for n in svc.depends_on
            )
            why = "; ".join(svc.depends_on.values())
            out.append(f"depends_on = {{ {deps} }}  # suggested: {why}")
        if svc.env:
            pairs = ", ".join(f"{_key(k)} = {q(v)}" for k, v in svc.env.items())
            out.append(f"env = {{ {pairs} }}")
        if svc.setup is not None:
            out.append(f"setup = {q(svc.setup)}")
            if svc.setup_inputs:
                out.append(f"setup_inputs = {q(svc.setup_inputs)}  # a change re-runs setup")
    return "\n".join(out) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
