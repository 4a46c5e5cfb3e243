"""What a service speaks, read from its command: http, redis, postgres... and is it Node?

Used by the env check to name only a service that could serve a URL's scheme, and to
give the localhost -> ::1 warning only to Node clients (Node 17+ connects to the first
address localhost resolves to; Python's clients try each address in turn). Anything
not recognised speaks nothing: a suggestion then names no service.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from devstack.checks.command import command_argv
from devstack.project.servers import server_of
from devstack.project.shellwords import simple_commands
from devstack.spec import ServiceSpec, StackSpec

# URL scheme -> the protocol it names (SQLAlchemy's "postgresql+psycopg" included).
_SCHEMES = {
    "http": "http",
    "https": "http",
    "ws": "http",
    "wss": "http",
    "redis": "redis",
    "rediss": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "amqp": "amqp",
    "amqps": "amqp",
    "mongodb": "mongodb",
    "nats": "nats",
}
# Server programs, and the container images of the same servers (docker/podman run).
_PROGRAMS = {
    **dict.fromkeys(("redis-server", "redis-stack-server", "valkey-server"), "redis"),
    **dict.fromkeys(("keydb-server",), "redis"),
    **dict.fromkeys(("postgres", "postmaster", "pg_ctl", "pg_ctlcluster"), "postgres"),
    **dict.fromkeys(("mysqld", "mysqld_safe", "mariadbd"), "mysql"),
    "rabbitmq-server": "amqp",
    "mongod": "mongodb",
    "nats-server": "nats",
}
_IMAGES = {
    **dict.fromkeys(("redis", "redis-stack", "valkey", "keydb"), "redis"),
    **dict.fromkeys(("postgres", "postgis", "timescaledb"), "postgres"),
    **dict.fromkeys(("mysql", "mariadb"), "mysql"),
    "rabbitmq": "amqp",
    "mongo": "mongodb",
    "nats": "nats",
}
# Node itself, its package managers and the dev servers and tools run through it.
NODE_PROGRAMS = frozenset(
    {
        *("node", "nodejs", "npm", "npx", "pnpm", "pnpx", "yarn", "bun", "bunx", "corepack"),
        *("next", "vite", "nuxt", "nuxi", "astro", "remix", "react-scripts", "gatsby"),
        *("webpack", "webpack-dev-server", "vue-cli-service", "ng", "parcel", "svelte-kit"),
        *("tsx", "ts-node", "ts-node-dev", "nodemon", "concurrently", "turbo", "nx", "expo"),
    }
)
# Of those, the dev servers (they serve http), and the package-manager scripts that
# start one by convention.
_NODE_SERVERS = frozenset(
    {"next", "vite", "nuxt", "nuxi", "astro", "remix", "react-scripts", "gatsby"}
    | {"webpack-dev-server", "vue-cli-service", "ng", "parcel"}
)
_PACKAGE_MANAGERS = frozenset({"npm", "pnpm", "yarn", "bun"})
_SERVE_SCRIPTS = frozenset({"dev", "start", "serve", "preview"})
_PYTHON_PREFIX = "python"


def url_protocol(scheme: str) -> str | None:
    """The protocol a URL scheme names ("postgresql+psycopg" -> "postgres"), if known."""
    return _SCHEMES.get(scheme.lower().split("+", 1)[0])


def speaks(spec: ServiceSpec, stack: StackSpec) -> frozenset[str]:
    """The protocols ``spec`` surely serves; empty when its command tells nothing."""
    found: set[str] = set()
    if spec.health is not None and spec.health.kind == "http":
        found.add("http")
    if stack.from_procfile and spec.name == "web":
        found.add("http")  # Heroku's convention: the web process gets the HTTP traffic
    for argv in simple_commands(command_argv(spec)):
        name = os.path.basename(argv[0])
        if (
            server_of(argv) is not None
            or _is_http_server_module(argv)
            or name in _NODE_SERVERS
            or _is_serve_script(name, argv)
        ):
            found.add("http")
        elif name in _PROGRAMS:
            found.add(_PROGRAMS[name])
        elif name in ("docker", "podman") and "run" in argv:
            found.update(_image_protocols(argv[argv.index("run") + 1 :]))
    return frozenset(found)


def is_node(spec: ServiceSpec) -> bool:
    """Is the service's program Node (node, a package manager, a tool run by Node)?"""
    for argv in simple_commands(command_argv(spec)):
        name = os.path.basename(argv[0])
        if name in NODE_PROGRAMS or f"node_modules{os.sep}.bin" in argv[0]:
            return True
    return False


def _is_http_server_module(argv: Sequence[str]) -> bool:
    name = os.path.basename(argv[0])
    return name.startswith(_PYTHON_PREFIX) and list(argv[1:3]) == ["-m", "http.server"]


def _is_serve_script(name: str, argv: Sequence[str]) -> bool:
    """``pnpm dev``, ``npm run dev``, ``yarn start``: a dev server by convention."""
    if name not in _PACKAGE_MANAGERS:
        return False
    words = [w for w in argv[1:] if not w.startswith("-")]
    if words[:1] == ["run"]:
        words = words[1:]
    return bool(words) and words[0] in _SERVE_SCRIPTS


def _image_protocols(words: Sequence[str]) -> set[str]:
    found = set()
    for word in words:
        if word.startswith("-"):
            continue
        image = word.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
        if image in _IMAGES:
            found.add(_IMAGES[image])
    return found
