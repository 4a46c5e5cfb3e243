"""``devstack init``: a commented stack.toml from a Procfile, with what its commands reveal.

For each ``name: command`` line: ``cd DIR &&`` becomes ``cwd``, leading
``VAR=value`` words become ``env``, ``$PORT`` becomes ``${port}`` and other
``$VAR`` become ``${env:VAR:-}`` (the shell's empty default); a line that needs a
shell (pipes, ``&&`` after the prefix, ``$(...)``) stays whole with ``shell = true``.
The port comes from the command (``--bind``, ``--port``, ``-p``, via the same
parser as the preflight checks), else ``$PORT`` / a server that reads PORT
(numbered like honcho and foreman), else the server's default; a service with a
port gets a tcp probe. The import check shown is the one the preflight will run
(``devstack.checks.imports.import_target``). A service whose env or command points
at another's port gets that one in ``depends_on`` and the URL as
``${services.NAME.url}``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.checks.envwiring import local_urls
from devstack.checks.imports import import_target
from devstack.checks.servers import command_port, default_port, parse_server
from devstack.config.procfile import DEFAULT_PORT, PORT_STEP
from devstack.spec import ServiceSpec

_PORT_VAR = re.compile(r"\$(?:PORT\b|\{PORT\})")
_OTHER_VAR = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_PLAIN_WORD = re.compile(r"[\w@%+=:,./${}-]+")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_SYNTAX = re.compile(r"[|;&<>`(){}*?~]|\$[^A-Za-z_{]|\$$")
_HONCHO = "$PORT, numbered as honcho and foreman do (5000, +100 per line)"
_COMMAND = "(command)"  # not a variable name: the key of the command among env values
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::"})
# Node dev servers: (program, subcommand) -> port when the command names none.
_NODE_DEFAULTS = {"next": None, "vite": 5173, "astro": 4321, "nuxt": None}


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


def infer_services(
    entries: dict[str, tuple[str, int]], procfile_dir: Path, base_port: int = DEFAULT_PORT
) -> list[Inferred]:
    """The services of a parsed Procfile (``{name: (command, line)}``)."""
    services = [
        _infer(name, command, line, procfile_dir, base_port + PORT_STEP * index)
        for index, (name, (command, line)) in enumerate(entries.items())
    ]
    _suggest_dependencies(services)
    return services


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
        or any(_SHELL_SYNTAX.search(_OTHER_VAR.sub("", w)) for w in words)
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
    if server is not None and server.host and server.host not in ("127.0.0.1", "localhost"):
        svc.host = server.host
    if written is not None:
        svc.port = written
        svc.port_reason = (
            _HONCHO if uses_port and written == honcho_port else "the port the command names"
        )
    elif server is not None:
        svc.port = default_port(server, env)
        svc.port_reason = f"{server.server}'s default when the command names none"
    elif program in _NODE_DEFAULTS or (
        program in ("npx", "pnpm") and argv[1:2] and argv[1] in _NODE_DEFAULTS
    ):
        tool = program if program in _NODE_DEFAULTS else argv[1]
        default = _NODE_DEFAULTS[tool]
        svc.port = default or honcho_port
        svc.port_reason = f"{tool}'s default port" if default else f"{tool} reads {_HONCHO}"
    elif uses_port:
        svc.port, svc.port_reason = honcho_port, _HONCHO


def _import_check(svc: Inferred, argv: list[str], cwd: Path) -> str | None:
    """The app the preflight import check will load for this command, as "module:attr"."""
    probe = ServiceSpec(name=svc.name, cmd=shlex.join(argv), argv=tuple(argv), cwd=cwd, env={})
    target = import_target(probe)
    if target is None or not target.attrs:
        return None
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
    services: Iterable[Inferred], source: str, env_file: str | None, schema_hint: bool = True
) -> str:
    """The commented stack.toml text."""
    q = json.dumps
    out = [
        f"# Written by `devstack init` from {source}: one service per Procfile line.",
        "# What devstack inferred from each command is noted beside it; check and edit.",
        "# `devstack check` runs the preflight checks alone, `devstack up` starts the stack.",
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
        out += ["", f"# Procfile line {svc.line}: {svc.name}: {svc.original}"]
        out.append(f"[services.{_key(svc.name)}]")
        out.append(f"cmd = {q(svc.cmd)}")
        if svc.shell:
            out.append("shell = true  # the line uses shell syntax")
        if svc.cwd is not None:
            out.append(f"cwd = {q(svc.cwd)}")
        if svc.port is not None:
            out.append(f"port = {svc.port}  # {svc.port_reason}")
            if svc.host is not None:
                out.append(f"host = {q(svc.host)}  # the address the command binds")
            out.append(
                "health.tcp = true  # ready once the port accepts connections;"
                ' a route is better: health.http = "/health"'
            )
        else:
            out.append("# no port: a worker; it counts as running once started")
        if svc.app is not None:
            out.append(
                f"# preflight: imports {svc.app} as {svc.server} will"
                f' (to change it: check.import = "{svc.app}")'
            )
        if svc.depends_on:
            deps = ", ".join(f'{_key(n)} = "healthy"' for n in svc.depends_on)
            why = "; ".join(svc.depends_on.values())
            out.append(f"depends_on = {{ {deps} }}  # suggested: {why}")
        if svc.env:
            pairs = ", ".join(f"{_key(k)} = {q(v)}" for k, v in svc.env.items())
            out.append(f"env = {{ {pairs} }}")
    return "\n".join(out) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
