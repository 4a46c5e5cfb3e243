"""Read a Python web server's command line: which app it loads, how, and where it binds.

Pure parsing, no imports of the servers themselves. Covers gunicorn, uvicorn,
hypercorn, granian, waitress-serve, daphne and ``flask run`` (plus ``FLASK_APP``),
each also as ``python -m SERVER``. Options are read from a table of the options
that take a value, so the app target is the positional left over, as the server
itself would find it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Interface = Literal["wsgi", "asgi", "either", "rsgi"]

_COMMON = {"-c", "--config", "--log-level", "--log-config", "--root-path", "--backlog"}
_VALUE_OPTIONS: dict[str, set[str]] = {
    "gunicorn": _COMMON
    | {
        *("-b", "--bind", "-w", "--workers", "-k", "--worker-class", "-t", "--timeout"),
        *("--chdir", "--pythonpath", "-e", "--env", "-n", "--name", "--threads"),
        *("--graceful-timeout", "--keep-alive", "--max-requests", "--max-requests-jitter"),
        *("--access-logfile", "--error-logfile", "--log-file", "--access-logformat"),
        *("-p", "--pid", "-u", "--user", "-g", "--group", "-m", "--umask"),
        *("--worker-connections", "--certfile", "--keyfile", "--ca-certs", "--ciphers"),
        *("--forwarded-allow-ips", "--limit-request-line", "--limit-request-fields"),
        *("--limit-request-field_size", "--paste", "--worker-tmp-dir", "--statsd-host"),
        *("--statsd-prefix", "--log-config-json", "--logger-class", "--log-syslog-to"),
        *("--reload-engine", "--reload-extra-file", "--proxy-allow-from", "--ssl-version"),
        *("--cert-reqs", "--dogstatsd-tags", "--log-syslog-prefix", "--log-syslog-facility"),
    },
    "uvicorn": _COMMON
    | {
        *("--host", "--port", "--uds", "--fd", "--reload-dir", "--reload-include"),
        *("--reload-exclude", "--reload-delay", "--workers", "--loop", "--http", "--ws"),
        *("--ws-max-size", "--ws-max-queue", "--ws-ping-interval", "--ws-ping-timeout"),
        *("--lifespan", "--interface", "--env-file", "--limit-concurrency"),
        *("--limit-max-requests", "--timeout-keep-alive", "--timeout-graceful-shutdown"),
        *("--ssl-keyfile", "--ssl-certfile", "--ssl-keyfile-password", "--ssl-version"),
        *("--ssl-cert-reqs", "--ssl-ca-certs", "--ssl-ciphers", "--header"),
        *("--forwarded-allow-ips", "--app-dir", "--h11-max-incomplete-event-size"),
        *("--timeout-notify", "--ws-per-message-deflate", "--limit-max-requests-jitter"),
    },
    "hypercorn": _COMMON
    | {
        *("-b", "--bind", "--insecure-bind", "--quic-bind", "-w", "--workers"),
        *("-k", "--worker-class", "--access-logfile", "--error-logfile", "-p", "--pid"),
        *("--keep-alive", "--certfile", "--keyfile", "--ca-certs", "--ciphers", "-g"),
        *("--group", "-u", "--user", "-m", "--umask", "--read-timeout", "--max-requests"),
        *("--max-requests-jitter", "--graceful-timeout", "--access-logformat"),
        *("--websocket-ping-interval", "--server-name", "--statsd-host", "--statsd-prefix"),
        *("--keyfile-password", "--verify-mode"),
    },
    "granian": _COMMON
    | {
        *("--interface", "--host", "--port", "--workers", "--threads", "--blocking-threads"),
        *("--runtime-threads", "--runtime-mode", "--loop", "--task-impl", "--backpressure"),
        *("--http", "--ssl-keyfile", "--ssl-certificate", "--url-path-prefix"),
        *("--respawn-interval", "--workers-lifetime", "--reload-paths", "--working-dir"),
        *("--reload-ignore-dirs", "--reload-ignore-patterns", "--reload-ignore-paths"),
        *("--env-files", "--pid-file", "--static-path-route", "--static-path-mount"),
        *("--process-name", "--http1-buffer-size", "--workers-kill-timeout"),
    },
    "waitress": {
        *("--listen", "--host", "--port", "--unix-socket", "--unix-socket-perms"),
        *("--url-scheme", "--url-prefix", "--ident", "--threads", "--backlog"),
        *("--recv-bytes", "--send-bytes", "--outbuf-overflow", "--inbuf-overflow"),
        *("--connection-limit", "--cleanup-interval", "--channel-timeout"),
        *("--max-request-header-size", "--max-request-body-size", "--asyncore-loop-timeout"),
        *("--trusted-proxy", "--trusted-proxy-count", "--trusted-proxy-headers"),
    },
    "daphne": {
        *("-p", "--port", "-b", "--bind", "-u", "--unix-socket", "--fd", "-e", "--endpoint"),
        *("-v", "--verbosity", "-t", "--http-timeout", "--access-log", "--log-fmt"),
        *("--ping-interval", "--ping-timeout", "--application-close-timeout"),
        *("--root-path", "--websocket_timeout", "--websocket_connect_timeout"),
        *("--proxy-headers-host", "--proxy-headers-port", "-s", "--server-name"),
    },
    "flask": {
        *("-A", "--app", "-e", "--env-file", "-h", "--host", "-p", "--port", "--cert"),
        *("--key", "--extra-files", "--exclude-patterns"),
    },
}

# The executable (or ``python -m`` module) -> the server name used above.
_SERVERS = {
    "gunicorn": "gunicorn",
    "uvicorn": "uvicorn",
    "hypercorn": "hypercorn",
    "granian": "granian",
    "waitress-serve": "waitress",
    "waitress": "waitress",
    "daphne": "daphne",
    "flask": "flask",
}
# Attribute looked up when the target names only a module; empty: "module:attr" is required.
_DEFAULT_ATTRS: dict[str, tuple[str, ...]] = {
    "gunicorn": ("application",),
    "hypercorn": ("app",),
    "granian": ("app",),
    "flask": ("app", "application", "create_app()", "make_app()"),
    "uvicorn": (),
    "waitress": (),
    "daphne": (),
}
# Where each server binds when the command does not say.
_DEFAULT_BIND: dict[str, tuple[str, int]] = {
    "gunicorn": ("127.0.0.1", 8000),
    "uvicorn": ("127.0.0.1", 8000),
    "hypercorn": ("127.0.0.1", 8000),
    "granian": ("127.0.0.1", 8000),
    "waitress": ("0.0.0.0", 8080),
    "daphne": ("127.0.0.1", 8000),
    "flask": ("127.0.0.1", 5000),
}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*(:.+)?$")
_ASGI_WORKER = re.compile(r"uvicorn|asgi", re.I)


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """What a web server command will load and where it will listen."""

    server: str  # "gunicorn", "uvicorn", "hypercorn", "granian", "waitress", "daphne", "flask"
    argv: tuple[str, ...]  # the whole command as given
    target: str | None  # "api:app" as written; None when the command gives none
    target_index: int | None  # where ``target`` sits in ``argv`` (None: from FLASK_APP)
    module: str | None
    attrs: tuple[str, ...]  # attribute(s) to try, in order; "create_app()" is a factory call
    factory: bool  # --factory / --call: the attribute is called with no arguments
    interface: Interface  # what the server, as configured, expects of the app
    chdir: str | None  # --chdir / --working-dir
    paths: tuple[str, ...]  # put first on sys.path (relative to the cwd after chdir)
    host: str | None  # the bind address, if the command gives one
    port: int | None  # the port, if the command gives one
    worker_class: str | None = None

    @property
    def app(self) -> str:
        """ "api:app" as the server will resolve it."""
        attr = self.attrs[0] if self.attrs else "?"
        return f"{self.module}:{attr}"

    def bind(self) -> tuple[str, int]:
        """Host and port it will listen on (the server's default where the command is silent)."""
        host, port = _DEFAULT_BIND[self.server]
        return self.host or host, self.port or port


def server_of(argv: Sequence[str]) -> tuple[str, int] | None:
    """(server name, index of its first argument) for a known server command, else None."""
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name in _SERVERS:
        return _SERVERS[name], 1
    if _PYTHON.match(name) and len(argv) >= 3 and argv[1] == "-m" and argv[2] in _SERVERS:
        return _SERVERS[argv[2]], 3
    return None


def parse_server(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ServerCommand | None:
    """The server command in ``argv``, or None when it is not a known Python web server."""
    found = server_of(argv)
    if found is None:
        return None
    server, start = found
    options, positionals = _split(argv, start, _VALUE_OPTIONS[server])
    if server == "flask" and [token for _, token in positionals[:1]] != ["run"]:
        return None  # `flask db upgrade`, `flask shell`: the CLI, not the server
    env = env or {}
    target: str | None = None
    index: int | None = None
    if server == "flask":
        for name, value in options:
            if name in ("-A", "--app"):
                target, index = value, _flask_app_index(argv, start)
        if target is None and env.get("FLASK_APP"):
            target = env["FLASK_APP"]
    else:
        for pos, token in positionals:
            if _TARGET.match(token):
                target, index = token, pos
                break
    opts = dict(options)
    worker = opts.get("-k") or opts.get("--worker-class")
    host, port = _bind(server, options, env)
    module, attrs, paths = _target(server, target)
    pythonpath = [p for p in (opts.get("--pythonpath") or "").split(",") if p]
    app_dir = opts.get("--app-dir")
    if server == "uvicorn":
        paths = (app_dir or ".", *paths)
    return ServerCommand(
        server=server,
        argv=tuple(argv),
        target=target,
        target_index=index,
        module=module,
        attrs=attrs,
        factory=bool({"--factory", "--call"} & _flags(argv, start)),
        interface=_interface(server, opts, worker),
        chdir=opts.get("--chdir") or opts.get("--working-dir"),
        paths=(*paths, *pythonpath),
        host=host,
        port=port,
        worker_class=worker,
    )


def suggest(
    cmd: ServerCommand,
    target: str,
    app_interface: str | None,
    *,
    host: str | None,
    port: int | None,
) -> str:
    """The command to run ``target`` (an app of kind ``app_interface``), keeping ``cmd``'s options.

    Same server when it can serve that kind of app; otherwise the usual server for
    it (gunicorn for WSGI, an ASGI worker for gunicorn, uvicorn for ASGI) on the
    same address.
    """
    bind_host = cmd.host or host or "127.0.0.1"
    bind_port = cmd.port or port
    if app_interface is None or is_compatible(cmd, app_interface):
        argv = _with_target(cmd, target)
        if cmd.port is None and port is not None:
            argv += bind_args(cmd.server, bind_host, port)
        return shlex.join(argv)
    if app_interface == "asgi" and cmd.server == "gunicorn":
        argv = _with_target(cmd, target)
        return shlex.join([*argv, "-k", "uvicorn.workers.UvicornWorker"])
    if app_interface == "wsgi":
        argv = ["gunicorn", target]
        if bind_port:
            argv += ["--bind", f"{_url_host(bind_host)}:{bind_port}"]
        return shlex.join(argv)
    argv = ["uvicorn", target, "--host", bind_host]
    if bind_port:
        argv += ["--port", str(bind_port)]
    return shlex.join(argv)


def is_compatible(cmd: ServerCommand, app_interface: str) -> bool:
    """Can ``cmd`` serve an app of this kind ("wsgi" / "asgi")?"""
    return cmd.interface == "either" or cmd.interface == app_interface


def command_port(argv: Sequence[str]) -> int | None:
    """The port any command names with ``--port N``, ``--port=N``, ``-p N`` or ``--bind H:P``."""
    parsed = parse_server(argv)
    if parsed is not None:
        return parsed.port
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        if name in ("--port", "-p", "--PORT") and value.isdigit():
            return int(value)
        if name in ("--bind", "-b", "--listen"):
            port = _host_port(value)[1]
            if port is not None:
                return port
    return None


def _split(
    argv: Sequence[str], start: int, with_value: set[str]
) -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    """Options with values, and (index, token) of the positionals."""
    options: list[tuple[str, str]] = []
    positionals: list[tuple[int, str]] = []
    i = start
    while i < len(argv):
        token = argv[i]
        if token == "--":
            positionals += [(j, argv[j]) for j in range(i + 1, len(argv))]
            break
        if token.startswith("--") and "=" in token:
            name, _, value = token.partition("=")
            options.append((name, value))
        elif token in with_value:
            if i + 1 < len(argv):
                options.append((token, argv[i + 1]))
            i += 1
        elif token.startswith("-") and not token.startswith("--") and token[:2] in with_value:
            options.append((token[:2], token[2:]))  # -b127.0.0.1:5000, -w4
        elif not token.startswith("-"):
            positionals.append((i, token))
        i += 1
    return options, positionals


def _flask_app_index(argv: Sequence[str], start: int) -> int | None:
    """Index of the value of ``--app X`` / ``-A X`` (None when written ``--app=X``)."""
    for i in range(start, len(argv) - 1):
        if argv[i] in ("-A", "--app"):
            return i + 1
    return None


def _flags(argv: Sequence[str], start: int) -> set[str]:
    return {t for t in argv[start:] if t.startswith("-")}


def _target(server: str, target: str | None) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(module, attributes to try, extra sys.path dirs) of a target as the server reads it."""
    if not target:
        return None, (), ()
    module, colon, attr = target.partition(":")
    paths: tuple[str, ...] = ()
    if server == "flask" and (module.endswith(".py") or "/" in module):
        # flask --app src/api.py: the file's directory goes on sys.path.
        directory, _, filename = module.rpartition("/")
        module = filename.removesuffix(".py")
        paths = (directory or ".",)
    attrs = (attr.strip(),) if colon else _DEFAULT_ATTRS[server]
    return module, attrs, paths


def _interface(server: str, opts: Mapping[str, str], worker: str | None) -> Interface:
    if server == "gunicorn":
        return "asgi" if worker and _ASGI_WORKER.search(worker) else "wsgi"
    if server == "uvicorn":
        return "wsgi" if opts.get("--interface") == "wsgi" else "asgi"
    if server == "granian":
        value = opts.get("--interface", "rsgi")
        return "wsgi" if value == "wsgi" else "asgi" if value.startswith("asgi") else "rsgi"
    if server == "hypercorn":
        return "either"  # hypercorn >= 0.14 serves WSGI apps too (it detects them)
    if server == "daphne":
        return "asgi"
    return "wsgi"  # waitress, flask


def _bind(
    server: str, options: Sequence[tuple[str, str]], env: Mapping[str, str]
) -> tuple[str | None, int | None]:
    host: str | None = None
    port: int | None = None
    for name, value in options:
        if server in ("gunicorn", "hypercorn") and name in ("-b", "--bind"):
            if host is None and port is None and not value.startswith(("unix:", "fd://")):
                host, port = _host_port(value)
        elif server == "waitress" and name == "--listen":
            if host is None and port is None:
                host, port = _host_port(value)
        elif name in ("--host", "-h" if server == "flask" else "--host") or (
            server == "daphne" and name in ("-b", "--bind")
        ):
            host = value
        elif name in ("--port", "-p") and not (
            server in ("gunicorn", "hypercorn") and name == "-p"
        ):
            port = int(value) if value.isdigit() else None
    if server == "flask":
        host = host or env.get("FLASK_RUN_HOST")
        if port is None and env.get("FLASK_RUN_PORT", "").isdigit():
            port = int(env["FLASK_RUN_PORT"])
    return host, port


def _host_port(value: str) -> tuple[str | None, int | None]:
    """ "127.0.0.1:5000", "[::1]:5000", ":5000", "localhost" -> (host, port)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port.isdigit() else None
    host, colon, port = value.rpartition(":")
    if not colon:
        return (value or None), None
    return (host or None), int(port) if port.isdigit() else None


def _with_target(cmd: ServerCommand, target: str) -> list[str]:
    argv = list(cmd.argv)
    if cmd.target_index is not None:
        argv[cmd.target_index] = target
        return argv
    found = server_of(argv)
    at = found[1] if found else 1
    if cmd.server == "flask":
        argv = [t for t in argv if not t.startswith(("--app=", "-A="))]
        argv[at:at] = ["--app", target]
    else:
        argv.insert(at, target)
    return argv


def bind_args(server: str, host: str, port: int | str) -> list[str]:
    """Options that make ``server`` listen on host:port."""
    if server in ("gunicorn", "hypercorn"):
        return ["--bind", f"{_url_host(host)}:{port}"]
    if server == "waitress":
        return [f"--listen={_url_host(host)}:{port}"]
    return ["--host", host, "--port", str(port)]


def default_port(server: ServerCommand, env: Mapping[str, str]) -> int | None:
    """The port ``server`` listens on when its command names none (None: not known)."""
    variable = {"gunicorn": "PORT", "uvicorn": "UVICORN_PORT", "flask": "FLASK_RUN_PORT"}
    name = variable.get(server.server)
    if name is None:
        return None
    value = env.get(name, "")
    return int(value) if value.isdigit() else _DEFAULT_BIND[server.server][1]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
