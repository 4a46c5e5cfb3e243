"""Well-known servers recognised from a service's command, and their official images.

Target-agnostic: compose and Kubernetes both take the image, the health command, the
data path for a named volume and the command to run in the image from here.

The container listens on the service's declared port, the one the other services
are wired to (``${services.db.port}``), so the port flag is written into the image's
command when it is not the image's own default. Flags that only make sense on the
laptop (a data directory, a bind address, a socket path, running as a daemon) are
dropped, each with a note: the data goes to the named volume, and the image listens
on every address of its container.

Tags pin a major version (MinIO and Mailpit publish no major tag: a release is
pinned); change them in :data:`SERVERS`, the one table.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# A shell's own words in front of the program: `exec redis-server`, `sh -c "..."`.
_SHELLS = frozenset({"sh", "bash", "dash", "zsh"})
_PREFIXES = frozenset({"exec", "docker-entrypoint.sh", "env", "nohup", "tini", "dumb-init"})
# Running a server as its own user (postgres refuses root): `runuser -u postgres --`,
# `sudo -u redis`, `gosu redis`, `su-exec redis`; the options that take a value.
_SWITCH_USER = frozenset({"runuser", "sudo"})
_SWITCH_VALUE = frozenset({"-u", "--user", "-g", "--group", "-G", "--supp-group"})
_SWITCH_TO = frozenset({"gosu", "su-exec"})  # `gosu USER COMMAND...`


@dataclass(frozen=True, slots=True)
class Server:
    """One well-known server: how it is recognised, its image, and its flags."""

    name: str  # "redis"
    programs: tuple[str, ...]  # executables that run it ("redis-server")
    image: str  # "redis:7"
    default_port: int
    data: str | None  # where the image keeps its data (None: nothing to keep)
    port_flag: Callable[[int], list[str]]  # the words that make it listen on a port
    # Flags dropped from the laptop's command (value-taking ones take the next word)
    # and the note that says why.
    dropped: Mapping[str, str] = field(default_factory=dict)
    flags_with_value: frozenset[str] = frozenset()
    environment: Mapping[str, str] = field(default_factory=dict)
    env_note: str = ""
    tag_note: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """What a service recognised as a well-known server becomes in a container."""

    server: str  # "redis"
    image: str  # "redis:7"
    command: list[str]  # the command in the image (its entrypoint runs it)
    healthcheck: list[str]  # the health command, as an argv run in the container
    data: str | None  # the image's data path, for a named volume
    port: int
    environment: dict[str, str]
    notes: list[str]  # what changed from the laptop's command, and why
    # The laptop's data and socket paths its command named (dropped): kept out of builds.
    paths: tuple[str, ...] = ()


_PATHS = "a path on this machine; the data lives in the image's data volume"
_SOCKET = "a Unix socket's place on this machine; the others connect over TCP"
_BIND = "the container listens on all its addresses (the image's default)"
_DAEMON = "a container's main process runs in the foreground"

SERVERS: tuple[Server, ...] = (
    Server(
        "redis",
        ("redis-server",),
        "redis:7",
        6379,
        "/data",
        lambda p: ["--port", str(p)],
        {"--dir": _PATHS, "--bind": _BIND, "--daemonize": _DAEMON, "--pidfile": _DAEMON}
        | {"--logfile": "the container's log is its stdout", "--unixsocket": _SOCKET},
        frozenset({"--port", "--dir", "--bind", "--daemonize", "--pidfile", "--logfile"})
        | frozenset({"--unixsocket"}),
    ),
    Server(
        "postgres",
        ("postgres", "pg_ctl", "postmaster"),
        "postgres:16",
        5432,
        "/var/lib/postgresql/data",
        lambda p: ["-p", str(p)],
        {"-D": _PATHS, "-k": _SOCKET, "-h": _BIND, "--pgdata": _PATHS},
        frozenset({"-p", "-D", "-k", "-h", "-c", "-o", "-l", "--pgdata", "--log", "-w"}),
        {"POSTGRES_HOST_AUTH_METHOD": "trust"},
        "as devstack's local server (initdb's default, no password): set POSTGRES_PASSWORD "
        "(and drop POSTGRES_HOST_AUTH_METHOD) before anything but this stack can reach it",
    ),
    Server(
        "mysql",
        ("mysqld", "mysqld_safe"),
        "mysql:8",
        3306,
        "/var/lib/mysql",
        lambda p: [f"--port={p}"],
        {"--datadir": _PATHS, "--socket": _SOCKET, "--bind-address": _BIND, "-h": _PATHS}
        | {"--user": "the image runs it as its mysql user", "--pid-file": _DAEMON},
        frozenset({"--port", "-P", "--datadir", "--socket", "--bind-address", "-h", "--user"})
        | frozenset({"--pid-file"}),
        {"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"},
        "as a local server without a root password: set MYSQL_ROOT_PASSWORD (and drop "
        "MYSQL_ALLOW_EMPTY_PASSWORD) before anything but this stack can reach it",
    ),
    Server(
        "mongodb",
        ("mongod",),
        "mongo:7",
        27017,
        "/data/db",
        lambda p: ["--port", str(p)],
        {"--dbpath": _PATHS, "--bind_ip": _BIND, "--bind_ip_all": _BIND, "--fork": _DAEMON}
        | {"--logpath": "the container's log is its stdout", "--pidfilepath": _DAEMON},
        frozenset({"--port", "--dbpath", "--bind_ip", "--logpath", "--pidfilepath"}),
    ),
    Server(
        "rabbitmq",
        ("rabbitmq-server",),
        "rabbitmq:4",
        5672,
        "/var/lib/rabbitmq",
        lambda p: [],  # no flag: RABBITMQ_NODE_PORT (see image_for)
        {"-detached": _DAEMON},
    ),
    Server(
        "memcached",
        ("memcached",),
        "memcached:1",
        11211,
        None,
        lambda p: ["-p", str(p)],
        {"-l": _BIND, "--listen": _BIND, "-d": _DAEMON, "--daemon": _DAEMON, "-P": _DAEMON}
        | {"-u": "the image runs it as its memcache user", "--user": "the image's user"},
        frozenset({"-p", "--port", "-l", "--listen", "-P", "-u", "--user", "-m", "-c", "-t"}),
    ),
    Server(
        "minio",
        ("minio",),
        "minio/minio:RELEASE.2025-09-07T16-13-09Z",
        9000,
        "/data",
        lambda p: ["--address", f":{p}"],
        {},
        frozenset({"--address", "--console-address", "--certs-dir", "-S"}),
        tag_note="MinIO publishes dated RELEASE tags only (no major tag): this one is pinned",
    ),
    Server(
        "mailpit",
        ("mailpit",),
        "axllent/mailpit:v1.31",
        8025,
        "/data",
        lambda p: [],  # MP_UI_BIND_ADDR, which its readyz check reads too (see image_for)
        {"--database": _PATHS, "-d": _PATHS},
        frozenset({"--listen", "-l", "--smtp", "-s", "--database", "-d", "--pop3"}),
        {"MP_DATABASE": "/data/mailpit.sqlite"},
        "keeps the messages in the named volume",
        tag_note="Mailpit publishes minor tags only (no v1): this one is pinned",
    ),
)
_BY_PROGRAM = {program: server for server in SERVERS for program in server.programs}


def program_words(argv: Sequence[str]) -> list[str]:
    """The words from the program on: past ``sh -c "..."``, ``exec``, ``env VAR=x`` and
    ``docker-entrypoint.sh``, with a full path's directory left on (see :func:`recognise`)."""
    words = list(argv)
    if len(words) >= 3 and os.path.basename(words[0]) in _SHELLS and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return []
        for separator in ("&&", ";", "||"):  # `cd x && exec redis-server`: the last command
            if separator in words:
                words = words[len(words) - words[::-1].index(separator) :]
    while words:
        program = os.path.basename(words[0])
        if program in _PREFIXES or ("=" in words[0] and words[0][0] != "-"):
            words = words[1:]
        elif program in _SWITCH_TO:
            words = words[2:]
        elif program in _SWITCH_USER:
            words = _past_switch_options(words[1:])
        else:
            break
    return words


def _past_switch_options(words: list[str]) -> list[str]:
    """The command after ``runuser`` / ``sudo`` options (``-u postgres --``)."""
    i = 0
    while i < len(words) and words[i].startswith("-"):
        if words[i] == "--":
            return words[i + 1 :]
        i += 2 if words[i] in _SWITCH_VALUE else 1
    return words[i:]


def recognise(argv: Sequence[str]) -> Server | None:
    """The well-known server ``argv`` runs (full paths and wrappers included), else None."""
    words = program_words(argv)
    if not words:
        return None
    server = _BY_PROGRAM.get(os.path.basename(words[0]))
    if server is not None and server.name == "minio" and words[1:2] != ["server"]:
        return None  # `minio` is also its client's name in scripts: only `minio server`
    return server


def image_for(argv: Sequence[str], port: int | None, env: Mapping[str, str]) -> Image | None:
    """The official image of the server ``argv`` runs, on ``port`` (None: its default)."""
    server = recognise(argv)
    if server is None:
        return None
    words = program_words(argv)
    listen = port or _command_port(server, words) or server.default_port
    notes: list[str] = []
    if server.tag_note:
        notes.append(server.tag_note)
    paths: list[str] = []
    kept = _kept_flags(server, words, notes, paths)
    command = _command(server, kept, listen)
    environment = dict(server.environment)
    # Ports some images take from a variable, which their health command reads as well.
    if server.name == "rabbitmq" and listen != server.default_port:
        environment["RABBITMQ_NODE_PORT"] = str(listen)
    if server.name == "mailpit":
        environment["MP_UI_BIND_ADDR"] = f"0.0.0.0:{listen}"
    if server.name == "minio":  # mc's alias "local", which `mc ready local` asks
        environment["MC_HOST_local"] = f"http://127.0.0.1:{listen}"
    if server.env_note:
        notes.append(server.env_note)
    return Image(
        server.name,
        server.image,
        command,
        _health(server, listen, env),
        server.data,
        listen,
        environment,
        notes,
        tuple(paths),
    )


def _kept_flags(server: Server, words: list[str], notes: list[str], paths: list[str]) -> list[str]:
    """The flags of the laptop's command that still mean something in the image; the
    laptop's paths it drops go into ``paths``."""
    rest = list(words[1:])
    if server.name == "postgres" and os.path.basename(words[0]) == "pg_ctl":
        rest = _pg_ctl_options(rest, notes, paths)
    if server.name == "minio" and rest[:1] == ["server"]:
        paths += [w for w in rest[1:] if not w.startswith("-") and _is_path_like(w)]
        rest = [w for w in rest[1:] if w.startswith("-") or not _is_path_like(w)] or []
        notes.append("minio server's directory: the image's /data (the named volume)")
    kept: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        name, eq, _ = word.partition("=")
        takes_value = not eq and name in server.flags_with_value and i + 1 < len(rest)
        value = rest[i + 1] if takes_value else None
        step = 2 if takes_value else 1
        if name in server.dropped:
            shown = word if value is None else f"{word} {value}"
            notes.append(f"dropped `{shown}`: {server.dropped[name]}")
            if server.dropped[name] == _PATHS:
                paths.append(value if value is not None else word.partition("=")[2])
        elif _is_port_flag(server, name):
            pass  # written from the declared port below
        elif server.name == "mailpit" and name in ("--smtp", "-s", "--pop3") and value:
            kept += [name, f"0.0.0.0:{value.rpartition(':')[2]}"]  # reachable by the others
        elif server.name == "postgres" and name == "-c" and _laptop_setting(value or word):
            notes.append(f"dropped `-c {value}`: {_PATHS}")
        elif not word.startswith("-") and _is_path_like(word):
            notes.append(f"dropped `{word}`: a file on this machine (mount it to keep it)")
        else:
            kept += rest[i : i + step]
        i += step
    return kept


def _command(server: Server, kept: list[str], listen: int) -> list[str]:
    """The image's own program with the kept flags and the port flag."""
    program = {
        "postgres": "postgres",
        "mysql": "mysqld",
        "mongodb": "mongod",
        "rabbitmq": "rabbitmq-server",
        "memcached": "memcached",
        "redis": "redis-server",
    }
    if server.name == "minio":
        return ["server", "/data", *server.port_flag(listen), *kept]
    if server.name == "mailpit":
        return kept  # its entrypoint is /mailpit; the port is in MP_UI_BIND_ADDR
    port = server.port_flag(listen) if listen != server.default_port else []
    return [program[server.name], *port, *kept]


def _health(server: Server, port: int, env: Mapping[str, str]) -> list[str]:
    """The image's own tool asking the server whether it is up."""
    if server.name == "redis":
        return ["redis-cli", "-p", str(port), "ping"]
    if server.name == "postgres":
        user = env.get("POSTGRES_USER") or env.get("PGUSER") or "postgres"
        return ["pg_isready", "-U", user, "-h", "127.0.0.1", "-p", str(port)]
    if server.name == "mysql":
        return ["mysqladmin", "ping", "-h", "127.0.0.1", "-P", str(port)]
    if server.name == "mongodb":
        return ["mongosh", "--quiet", "--port", str(port), "--eval", 'db.adminCommand("ping")']
    if server.name == "rabbitmq":
        return ["rabbitmq-diagnostics", "-q", "ping"]
    if server.name == "memcached":
        # The image has neither nc nor curl; its bash opens a TCP connection itself.
        return ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
    if server.name == "minio":
        # The image has no curl; its mc client has a readiness command (alias "local":
        # MC_HOST_local in the environment).
        return ["mc", "ready", "local"]
    return ["/mailpit", "readyz"]  # reads MP_UI_BIND_ADDR, as the server does


def _is_port_flag(server: Server, name: str) -> bool:
    return name in {
        "redis": ("--port",),
        "postgres": ("-p",),
        "mysql": ("--port", "-P"),
        "mongodb": ("--port",),
        "memcached": ("-p", "--port"),
        "minio": ("--address",),
        "mailpit": ("--listen", "-l"),
    }.get(server.name, ())


def _command_port(server: Server, words: list[str]) -> int | None:
    """The port the laptop's command names (``--port 6390``, ``--port=3307``,
    ``--address :9100``), for a service that declares none."""
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if not eq:
            value = words[i + 1] if i + 1 < len(words) else ""
        if _is_port_flag(server, name):
            value = value.rpartition(":")[2]
            if value.isdigit():
                return int(value)
    return None


def _laptop_setting(value: str) -> bool:
    key = value.partition("=")[0].strip()
    return key in ("listen_addresses", "unix_socket_directories", "data_directory", "hba_file")


def _is_path_like(word: str) -> bool:
    return "/" in word or word.endswith((".conf", ".cnf")) or word in (".", "..")


def _pg_ctl_options(rest: list[str], notes: list[str], paths: list[str]) -> list[str]:
    """``pg_ctl -D data -o "-p 5433" start``: the server's options are in ``-o``."""
    out: list[str] = []
    for i, word in enumerate(rest):
        if word in ("-D", "--pgdata") and i + 1 < len(rest):
            paths.append(rest[i + 1])
        elif word == "-o" and i + 1 < len(rest):
            try:
                out += shlex.split(rest[i + 1])
            except ValueError:
                notes.append(f"dropped `-o {rest[i + 1]}`: not a valid option list")
        elif word.startswith("-o") and len(word) > 2:
            out += shlex.split(word[2:])
    if "start" not in rest:
        notes.append("pg_ctl without `start`: the image runs the server itself")
    return out


@dataclass(frozen=True, slots=True)
class Initialisation:
    """A setup step that only initialises the server's data directory (``initdb``): the
    official image's entrypoint does that on its first start, into an empty volume."""

    note: str
    missing: str | None  # what the image needs to do it the same way (None: nothing)


# The commands that initialise a data directory, by server; `test -d X ||` and `mkdir`
# around them change nothing the image needs.
_INIT = {"postgres": ("initdb",), "mysql": ("mysql_install_db",)}
_AROUND_INIT = frozenset({"test", "[", "mkdir", "true"})


def initialisation(image: Image, setup: str, env: Mapping[str, str]) -> Initialisation | None:
    """``setup`` read as the data directory's initialisation the image does itself (None:
    it does something else too, or nothing of the kind)."""
    user = None
    initialises = False
    for part in re.split(r"&&|\|\||;", setup):
        try:
            words = program_words(shlex.split(part))
        except ValueError:
            return None
        if not words:
            continue
        program = os.path.basename(words[0])
        if program in _AROUND_INIT:
            continue
        is_init = (
            program in _INIT.get(image.server, ())
            or (
                (image.server, program) == ("postgres", "pg_ctl")
                and words[1:2] in (["initdb"], ["init"])
            )
            or (
                image.server == "mysql"
                and program == "mysqld"
                and any(w.startswith("--initialize") for w in words)
            )
        )
        if not is_init:
            return None
        initialises = True
        if image.server == "postgres":
            user = _flag_value(words, ("-U", "--username")) or user
    if not initialises:
        return None
    missing = None
    if user not in (None, "postgres") and env.get("POSTGRES_USER") != user:
        missing = (
            f"set POSTGRES_USER={user} in its env (the image creates that user on its first "
            "start), then drop the setup step"
        )
    return Initialisation(
        f"setup `{setup}`: not needed, the {image.server} image initialises its empty data "
        "directory itself on its first start",
        missing,
    )


def _flag_value(words: Sequence[str], names: tuple[str, ...]) -> str | None:
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if name in names:
            if eq:
                return value
            return words[i + 1] if i + 1 < len(words) else None
    return None
