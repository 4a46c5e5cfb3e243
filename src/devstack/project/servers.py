"""Read a Python web server's command line: which app it loads, how, and where it binds.

Pure parsing, no imports of the servers themselves. Covers gunicorn, uvicorn,
hypercorn, granian, waitress-serve, daphne, ``flask run`` (plus ``FLASK_APP``),
``fastapi dev|run`` and Django's ``manage.py runserver``, each also as ``python -m
SERVER`` and behind ``uv run`` / ``poetry run`` / ``pipenv run``; and ``celery -A APP``,
whose app is no web app (``parse_celery``). Options are read
from a table of the options that take a value, so the app target is the positional
left over, as the server itself would find it. How each server turns a factory into
an app (``FACTORY_RULES``) and which distribution a gunicorn worker class needs
(``WORKER_DISTRIBUTIONS``) are data here too.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devstack.project.shellwords import simple_commands

Interface = Literal["wsgi", "asgi", "either", "rsgi", "celery"]

# Programs that connect to a server: their -p/--port/-P names the server's port, and
# they listen on none (createdb -h 127.0.0.1 -p 5454 app beside the stack's postgres).
CLIENTS = frozenset(
    {
        *("psql", "createdb", "dropdb", "createuser", "dropuser", "pg_isready", "pg_dump"),
        *("pg_dumpall", "pg_restore", "pg_basebackup", "vacuumdb", "reindexdb", "clusterdb"),
        *("redis-cli", "valkey-cli", "keydb-cli", "mysql", "mariadb", "mysqladmin"),
        *("mysqldump", "mariadb-admin", "mariadb-dump", "mongosh", "mongo", "mongodump"),
        *("mongorestore", "curl", "wget", "nc", "ncat", "netcat", "telnet", "ssh", "scp"),
        *("sftp", "rsync", "wait-for-it", "wait-for-it.sh", "dockerize", "nats", "rabbitmqctl"),
    }
)

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
    "fastapi": {"--app", "--host", "--port", "--root-path", "--workers", "--entrypoint"},
    "django": {"--settings", "--pythonpath", "-v", "--verbosity"},
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
    "fastapi": "fastapi",
    "django-admin": "django",
    "django": "django",  # python -m django
}
# Launchers that run the rest of the line in the project's environment, and their
# options that take a value (``uv run --with x uvicorn ...``).
_WRAPPERS: dict[tuple[str, ...], set[str]] = {
    ("uv", "run"): {
        *("--with", "--with-editable", "--with-requirements", "--python", "-p", "--extra"),
        *("--group", "--only-group", "--no-group", "--package", "--project", "--directory"),
        *("--env-file", "--index", "--default-index", "--index-url", "--extra-index-url"),
    },
    ("poetry", "run"): {"-C", "--directory", "-P", "--project"},
    ("pipenv", "run"): set(),
}
# Attribute looked up when the target names only a module; empty: "module:attr" is required.
_DEFAULT_ATTRS: dict[str, tuple[str, ...]] = {
    "gunicorn": ("application",),
    "hypercorn": ("app",),
    "granian": ("app",),
    "flask": ("app", "application", "create_app()", "make_app()"),
    "fastapi": ("app", "api"),
    "celery": ("app", "celery"),  # celery's find_app, for a module: its app, then celery
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
    "fastapi": ("127.0.0.1", 8000),
    "django": ("127.0.0.1", 8000),
}
# celery's global options that take a value (celery.bin.celery); -A is one of them:
# celery 5 takes it before the subcommand only.
_CELERY_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader"}
_CELERY_OPTIONS |= {"--config", "--workdir"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*(:.+)?$")
_ASGI_WORKER = re.compile(r"uvicorn|asgi", re.I)
# manage.py's own default: os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site.settings")
_DJANGO_SETTINGS = re.compile(
    r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']"""
)


@dataclass(frozen=True, slots=True)
class FactoryRules:
    """How a server turns ``module:create_app`` (a function returning the app) into an app.

    From each server's own loader: gunicorn's ``util.import_app`` and hypercorn's
    ``load_application`` evaluate a call (``'api:create_app()'``); uvicorn, granian
    and waitress take a flag instead and look a call up as an attribute name (not
    found: they exit); uvicorn also calls a bare attribute that can be called with no
    arguments, warning to add ``--factory``; flask calls any function it is given.
    A bare factory any other server serves as the app itself: each request then calls
    ``create_app(environ, start_response)`` and gets a 500.
    """

    call_syntax: bool  # "module:create_app()" is called
    flag: str | None  # the option that makes the server call the attribute
    calls_bare: Literal["no", "warns", "yes"]  # does it call a bare factory itself?
    bare: str = "would call it per request and answer 500"  # what happens when it does not


FACTORY_RULES: dict[str, FactoryRules] = {
    "gunicorn": FactoryRules(call_syntax=True, flag=None, calls_bare="no"),
    "hypercorn": FactoryRules(call_syntax=True, flag=None, calls_bare="no"),
    "uvicorn": FactoryRules(call_syntax=False, flag="--factory", calls_bare="warns"),
    "granian": FactoryRules(call_syntax=False, flag="--factory", calls_bare="no"),
    "waitress": FactoryRules(call_syntax=False, flag="--call", calls_bare="no"),
    "daphne": FactoryRules(call_syntax=False, flag=None, calls_bare="no"),
    "flask": FactoryRules(call_syntax=True, flag=None, calls_bare="yes"),
    "fastapi": FactoryRules(
        call_syntax=False, flag=None, calls_bare="no", bare="serves only a FastAPI instance"
    ),
}
# gunicorn -k NAME: the distribution that provides the worker class (or its event loop),
# by the module found missing, else its top-level package.
WORKER_DISTRIBUTIONS = {
    "uvicorn.workers": "uvicorn-worker",  # moved out of uvicorn into uvicorn_worker
    "uvicorn_worker": "uvicorn-worker",
    "uvicorn": "uvicorn",
    "gevent": "gevent",
    "eventlet": "eventlet",
    "tornado": "tornado",
}


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """What a web server command will load and where it will listen."""

    server: str  # "gunicorn", "uvicorn", "hypercorn", "granian", "waitress", "daphne", "flask",
    # "fastapi", "django"
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
    # fastapi dev|run: the path argument (None: fastapi's default files) and whether
    # --app named the attribute; django: the settings module is what gets imported.
    app_path: str | None = None
    settings: bool = False
    env_file: str | None = None  # flask -e FILE: read for FLASK_APP before .env and .flaskenv
    # celery: -A given after the subcommand, which celery 5 refuses: the command with it first
    app_first: str | None = None

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
    start = unwrapped(argv)
    rest = argv[start:]
    if not rest:
        return None
    name = os.path.basename(rest[0])
    if name in _SERVERS:
        return _SERVERS[name], start + 1
    if _PYTHON.match(name) and len(rest) >= 3 and rest[1] == "-m" and rest[2] in _SERVERS:
        return _SERVERS[rest[2]], start + 3
    manage = 1 if name == "manage.py" else 2 if _PYTHON.match(name) and len(rest) > 1 else 0
    if manage and os.path.basename(rest[manage - 1]) == "manage.py":
        return "django", start + manage
    return None


def unwrapped(argv: Sequence[str]) -> int:
    """Index where the command itself starts, past ``uv run [opts]``, ``poetry run``,
    ``pipenv run`` (0: not wrapped)."""
    for words, with_value in _WRAPPERS.items():
        if tuple(os.path.basename(a) for a in argv[:1]) + tuple(argv[1:2]) != words:
            continue
        i = len(words)
        while i < len(argv) and argv[i].startswith("-"):
            i += 2 if argv[i] in with_value else 1
        return i
    return 0


def wrapper_dir(argv: Sequence[str]) -> str | None:
    """``uv run --directory DIR`` / ``poetry run -C DIR``: where the wrapper runs the
    command (None: where it was started)."""
    words = list(argv[2 : unwrapped(argv)])
    for i, word in enumerate(words):
        if word.startswith("--directory="):
            return word.partition("=")[2]
        if word in ("--directory", "-C") and i + 1 < len(words):
            return words[i + 1]
    return None


def _in_dir(outer: str | None, inner: str | None) -> str | None:
    return os.path.join(outer, inner) if outer and inner else outer or inner


def parse_server(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ServerCommand | None:
    """The server command in ``argv``, or None when it is not a known Python web server."""
    found = server_of(argv)
    if found is None:
        return None
    server, start = found
    options, positionals = _split(argv, start, _VALUE_OPTIONS[server])
    command = [token for _, token in positionals[:1]]
    if server == "flask" and command != ["run"]:
        return None  # `flask db upgrade`, `flask shell`: the CLI, not the server
    if server in ("fastapi", "django") and command not in (["dev"], ["run"], ["runserver"]):
        return None  # `manage.py migrate`, `fastapi deploy`
    env = env or {}
    target: str | None = None
    index: int | None = None
    if server == "flask":
        for name, value in options:
            if name in ("-A", "--app"):
                target, index = value, _option_index(argv, start, ("-A", "--app"))
        if target is None and env.get("FLASK_APP"):
            target = env["FLASK_APP"]
    elif server in ("fastapi", "django"):
        return _special(server, argv, start, options, positionals, env)
    else:
        for pos, token in positionals:
            if _TARGET.match(token):
                target, index = token, pos
                break
    opts = dict(options)
    worker = opts.get("-k") or opts.get("--worker-class")
    host, port = _bind(server, options, env)
    interface = _interface(server, opts, worker)
    mode, colon, rest = (target or "").partition(":")
    if server == "hypercorn" and colon and mode in ("asgi", "wsgi") and ":" in rest:
        interface = "asgi" if mode == "asgi" else "wsgi"  # hypercorn asgi:main:app
        module, attrs, paths = _target(server, rest)
    else:
        module, attrs, paths = _target(server, target)
    app_path = None
    if server == "flask" and target and (module != target.partition(":")[0]):
        app_path = target.partition(":")[0]  # the path form: flask --app api/index
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
        factory=FACTORY_RULES[server].flag in _flags(argv, start),
        interface=interface,
        chdir=_in_dir(wrapper_dir(argv), opts.get("--chdir") or opts.get("--working-dir")),
        paths=(*paths, *pythonpath),
        host=host,
        port=port,
        worker_class=worker,
        app_path=app_path,
        env_file=opts.get("-e") or opts.get("--env-file") if server == "flask" else None,
    )


def parse_celery(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ServerCommand | None:
    """``celery -A APP worker|beat|...`` (or ``python -m celery``, wrapped or not): the app
    celery loads, of interface "celery". None: not celery, no subcommand, or no app named
    (-A, else ``APP`` or ``CELERY_APP`` in the env: celery then runs its default app)."""
    start = unwrapped(argv)
    rest = argv[start:]
    name = os.path.basename(rest[0]) if rest else ""
    if name == "celery":
        i = start + 1
    elif _PYTHON.match(name) and list(rest[1:3]) == ["-m", "celery"]:
        i = start + 3
    else:
        return None
    first = i
    options: dict[str, str] = {}
    index: int | None = None
    while i < len(argv) and argv[i].startswith("-"):
        option, eq, value = argv[i].partition("=")
        if argv[i] in _CELERY_OPTIONS and i + 1 < len(argv):
            option, value, i = argv[i], argv[i + 1], i + 1
            index = i if option in ("-A", "--app") else index
        elif argv[i].startswith("-A") and not eq:
            option, value = "-A", argv[i][2:]  # -Aproj
        elif not (eq and option.startswith("--")):
            option, value = "", ""  # a flag
        options[{"--app": "-A"}.get(option, option)] = value
        i += 1
    if i >= len(argv):
        return None  # no subcommand: celery prints its help
    env = env or {}
    target = options.get("-A") or env.get("APP") or env.get("CELERY_APP")
    app_first = None
    after = None if options.get("-A") else _app_after(argv, i + 1)
    if after is not None:
        target, words = after
        fixed = [w for j, w in enumerate(argv) if j not in words]
        app_first = shlex.join([*fixed[:first], "-A", target, *fixed[first:]])
    if not target:
        return None
    module, colon, attr = target.partition(":")
    return ServerCommand(
        server="celery",
        argv=tuple(argv),
        target=target,
        target_index=index,
        module=module,
        attrs=(attr,) if colon else _DEFAULT_ATTRS["celery"],
        factory=False,
        interface="celery",
        chdir=_in_dir(wrapper_dir(argv), options.get("--workdir")),
        paths=(),
        host=None,
        port=None,
        app_first=app_first,
    )


def _app_after(argv: Sequence[str], start: int) -> tuple[str, tuple[int, ...]] | None:
    """``celery worker -A proj`` (celery 4's order): the app, and the indices of its words."""
    for i in range(start, len(argv)):
        if argv[i] in ("-A", "--app") and i + 1 < len(argv):
            return argv[i + 1], (i, i + 1)
        if argv[i].startswith("--app="):
            return argv[i].partition("=")[2], (i,)
        if argv[i].startswith("-A") and len(argv[i]) > 2:
            return argv[i][2:], (i,)
    return None


def _special(
    server: str,
    argv: Sequence[str],
    start: int,
    options: Sequence[tuple[str, str]],
    positionals: Sequence[tuple[int, str]],
    env: Mapping[str, str],
) -> ServerCommand:
    """``fastapi dev|run [PATH] [--app NAME]`` and ``manage.py runserver [ADDRPORT]``."""
    opts = dict(options)
    rest = [token for _, token in positionals[1:]]
    host: str | None = opts.get("--host")
    port = int(opts["--port"]) if opts.get("--port", "").isdigit() else None
    if server == "django":
        # The settings module: --settings, else the env, else manage.py's own default.
        target = opts.get("--settings") or env.get("DJANGO_SETTINGS_MODULE")
        if rest:
            host, port = _host_port(rest[0] if ":" in rest[0] else f":{rest[0]}")
        pythonpath = (opts["--pythonpath"],) if opts.get("--pythonpath") else ()
        return ServerCommand(
            server,
            tuple(argv),
            target,
            None,
            target,
            (),
            False,
            "wsgi",
            wrapper_dir(argv),
            pythonpath,
            host,
            port,
            app_path=argv[start - 1],
            settings=True,
        )
    entrypoint = opts.get("--entrypoint")
    module, colon, attr = (entrypoint or "").partition(":")
    attrs = (attr,) if colon else (opts["--app"],) if opts.get("--app") else _DEFAULT_ATTRS[server]
    return ServerCommand(
        server,
        tuple(argv),
        entrypoint or (rest[0] if rest else None),
        _option_index(argv, start, ("--app",)),
        module or None,
        attrs,
        False,
        "asgi",
        wrapper_dir(argv),
        (),
        host,
        port,
        app_path=None if entrypoint else (rest[0] if rest else ""),
    )


# fastapi dev|run without a path: the first of these files that exists.
FASTAPI_DEFAULT_PATHS = ("main.py", "app.py", "api.py", "app/main.py", "app/app.py", "app/api.py")


def module_of_path(cwd: Path, path: str) -> tuple[str, Path] | None:
    """(dotted module, directory put on sys.path) of a file path, as flask's
    ``prepare_import`` and fastapi-cli's ``get_module_data_from_path`` read it: the
    ``.py`` left out, parent directories with an ``__init__.py`` joining the name.
    ``path`` empty: fastapi's default files. None: no such file or directory."""
    if not path:
        path = next((p for p in FASTAPI_DEFAULT_PATHS if (cwd / p).is_file()), "")
        if not path:
            return None
    full = (cwd / path).resolve()
    if full.suffix != ".py" and not full.exists() and full.with_suffix(".py").is_file():
        full = full.with_suffix(".py")  # flask --app api/index
    if not full.exists():
        return None
    if full.name == "__init__.py":
        full = full.parent
    names = [full.stem if full.is_file() else full.name]
    base = full.parent
    while (base / "__init__.py").is_file():
        names.insert(0, base.name)
        base = base.parent
    return ".".join(names), base


@dataclass(frozen=True, slots=True)
class Located:
    """What a server loads, once its folder is read: the module, the attributes to try,
    the directories first on sys.path, and the class the app must be an instance of
    (fastapi-cli's --app and discovery take only a FastAPI instance)."""

    module: str | None
    attrs: tuple[str, ...]
    paths: tuple[Path, ...]
    instance_of: str | None = None


def locate(server: ServerCommand, cwd: Path) -> Located:
    """The module ``server`` loads when run in ``cwd`` (after --chdir), read from the
    folder where the server reads it there: flask's and fastapi's path forms, fastapi's
    default files and ``[tool.fastapi] entrypoint``, manage.py's settings default."""
    extra = tuple((cwd / p).resolve() for p in server.paths)
    if server.settings:
        manage = cwd / server.app_path if server.app_path else None
        module = server.module or (django_settings(manage) if manage else None)
        return Located(module, (), extra)
    if server.server == "flask" and server.target is None:
        return _flask_default(cwd, extra)
    fastapi = server.server == "fastapi"
    if fastapi and server.app_path == "" and len(server.attrs) > 1:
        entrypoint = _fastapi_entrypoint(cwd)  # used when the command names no path or app
        if entrypoint is not None:
            module, _, attr = entrypoint.partition(":")
            return Located(module, (attr,), (cwd,))
    instance_of = "FastAPI" if fastapi else None
    if server.app_path is not None:
        found = module_of_path(cwd, server.app_path)
        if found is not None:
            return Located(found[0], server.attrs, (found[1], *extra), instance_of)
    if fastapi and server.module is None:
        # No such file (or none of the default ones): fastapi exits; the check says so.
        missing = Path(server.app_path or FASTAPI_DEFAULT_PATHS[0]).with_suffix("")
        return Located(".".join(missing.parts), server.attrs, extra, instance_of)
    return Located(server.module, server.attrs, extra)


# flask run with neither --app nor FLASK_APP: flask's ScriptInfo.load_app imports the
# first of these that imports (a file, or a package of that name) and takes the app
# from it; with none it exits with "Could not locate a Flask application".
FLASK_DEFAULT_MODULES = ("wsgi", "app")


def _flask_default(cwd: Path, extra: tuple[Path, ...]) -> Located:
    """The module flask run finds on its own: the first of ``FLASK_DEFAULT_MODULES``
    here, read as flask's ``prepare_import`` reads it. None here: "app", which the check
    then finds missing (flask tries to import it too)."""
    for name in FLASK_DEFAULT_MODULES:
        path = f"{name}.py" if (cwd / f"{name}.py").is_file() else name
        found = module_of_path(cwd, path) if (cwd / path).exists() else None
        if found is not None:
            return Located(found[0], _DEFAULT_ATTRS["flask"], (found[1], *extra))
    return Located(FLASK_DEFAULT_MODULES[-1], _DEFAULT_ATTRS["flask"], (cwd, *extra))


def _fastapi_entrypoint(cwd: Path) -> str | None:
    try:
        with open(cwd / "pyproject.toml", "rb") as f:
            entrypoint = tomllib.load(f).get("tool", {}).get("fastapi", {}).get("entrypoint")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return entrypoint if isinstance(entrypoint, str) and ":" in entrypoint else None


def django_settings(manage_py: Path) -> str | None:
    """The settings module manage.py sets as its default (None: not found)."""
    try:
        found = _DJANGO_SETTINGS.search(manage_py.read_text(errors="replace"))
    except OSError:
        return None
    return found[1] if found else None


def factory_command(cmd: ServerCommand, module: str, func: str) -> str | None:
    """``cmd`` made to call ``module:func`` by its server's own rules (None: it cannot)."""
    rules = FACTORY_RULES.get(cmd.server)
    if rules is None:
        return None
    if rules.call_syntax:
        return shlex.join(_with_target(cmd, f"{module}:{func}()"))
    if rules.flag is None:
        return None
    argv = [t for t in _with_target(cmd, f"{module}:{func}") if t != rules.flag]
    at = server_of(argv)
    argv.insert(at[1] if at else 1, rules.flag)
    return shlex.join(argv)


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
    """The port a command listens on as it names it (``--port N``, ``--port=N``, ``-p N``,
    ``--bind H:P``); a client's port (``psql -p 5454``) is where it connects: none."""
    parsed = parse_server(argv)
    if parsed is not None:
        return parsed.port
    for simple in simple_commands(argv):
        server = parse_server(simple)
        if server is not None:
            return server.port
        if os.path.basename(simple[0]) not in CLIENTS:
            port = _written_port(simple)
            if port is not None:
                return port
    return None


def _written_port(argv: Sequence[str]) -> int | None:
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


def _option_index(argv: Sequence[str], start: int, names: tuple[str, ...]) -> int | None:
    """Index of the value of ``--app X`` / ``-A X`` (None when written ``--app=X``)."""
    for i in range(start, len(argv) - 1):
        if argv[i] in names:
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
    if cmd.server == "fastapi":
        return _fastapi_with(cmd, target)
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


def _fastapi_with(cmd: ServerCommand, target: str) -> list[str]:
    """fastapi dev|run [PATH] --app NAME: the attribute goes to --app, a module elsewhere
    to the path argument."""
    module, _, attr = target.partition(":")
    argv = [t for t in cmd.argv if not t.startswith(("--app=", "--entrypoint="))]
    if cmd.target_index is not None:
        del argv[cmd.target_index - 1 : cmd.target_index + 1]
    found = server_of(argv)
    at = (found[1] if found else 1) + 1  # after dev|run
    if module != cmd.module:
        path = module.replace(".", "/") + ".py"
        if at < len(argv) and not argv[at].startswith("-"):
            argv[at] = path
        else:
            argv.insert(at, path)
    has_path = at < len(argv) and not argv[at].startswith("-")
    argv[at + has_path : at + has_path] = ["--app", attr]
    return argv


def bind_args(server: str, host: str, port: int | str) -> list[str]:
    """Options that make ``server`` listen on host:port."""
    if server in ("gunicorn", "hypercorn"):
        return ["--bind", f"{_url_host(host)}:{port}"]
    if server == "waitress":
        return [f"--listen={_url_host(host)}:{port}"]
    if server == "django":
        return [f"{_url_host(host)}:{port}"]  # runserver's ADDRPORT argument
    return ["--host", host, "--port", str(port)]


def default_port(server: ServerCommand, env: Mapping[str, str]) -> int | None:
    """The port ``server`` listens on when its command names none (None: not known)."""
    variable = {"gunicorn": "PORT", "uvicorn": "UVICORN_PORT", "flask": "FLASK_RUN_PORT"}
    if server.server == "django":
        return _DEFAULT_BIND["django"][1]  # runserver reads no variable for it
    name = variable.get(server.server)
    if name is None:
        return None
    value = env.get(name, "")
    return int(value) if value.isdigit() else _DEFAULT_BIND[server.server][1]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
