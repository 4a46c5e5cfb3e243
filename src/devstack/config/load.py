"""Reading a stack: find the file, parse, validate, check the whole, resolve.

``load_stack`` returns a ``StackSpec`` whose every value is final, or raises one
``ConfigError`` holding every problem found (file, line, key path, message, hint);
it never lets a pydantic ValidationError, an OSError or a traceback reach the user.
Checks that need the whole file or the disk live here: dependencies and cycles,
port clashes, cwd and env files, ``${...}`` references, shell-free splitting of
``cmd`` and the health targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from devstack import graph
from devstack.config.envfile import merge_env, read_env_file
from devstack.config.interpolate import Context, InterpolationError, ServiceRefs, interpolate
from devstack.config.layers import Layered, read_layers
from devstack.config.problems import closest
from devstack.config.procfile import load_procfile
from devstack.errors import ConfigError, ConfigProblem
from devstack.paths import resolve_state_dir
from devstack.project.venv import activate, find_venv
from devstack.spec import (
    DEFAULT_INTERVAL,
    HTTP_EVERY,
    HealthSpec,
    ProbeKind,
    RestartSpec,
    ServiceSpec,
    SmokeSpec,
    StackSpec,
)
from devstack.stackfile import FileArg, find_layers, given_files, is_procfile
from devstack.states import Condition, RestartPolicy

if TYPE_CHECKING:  # imported when a file is read: a spec-cache hit needs no pydantic
    from _typeshed import DataclassInstance
    from pydantic import BaseModel

    from devstack.config.model import CheckModel, HealthModel, ServiceModel, SmokeModel, StackFile

_S = TypeVar("_S", bound="DataclassInstance")

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_LOCALHOSTS = frozenset({"127.0.0.1", "localhost"})


_SHELL_QUOTING = re.compile(r"['\"\\]")
_SHELL_BLANKS = re.compile(r"[ \t\r\n]+")


def split_command(cmd: str) -> list[str]:
    """``shlex.split(cmd)``; a command without quotes or backslashes is split on the
    same blanks by a regex (shlex's tokenizer is pure Python, and slow on many commands)."""
    if _SHELL_QUOTING.search(cmd):
        return shlex.split(cmd)
    return [word for word in _SHELL_BLANKS.split(cmd) if word]


def load_stack(
    path: FileArg | Sequence[FileArg] | None = None,
    cwd: FileArg | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    replicas: Mapping[str, int] | None = None,
) -> StackSpec:
    """The resolved stack of ``path`` (a stack.toml or Procfile, or several stack.toml
    files merged in order), or of ``cwd``'s one.

    With no ``path``, ``cwd`` (default: the current directory) is searched for
    stack.toml, then Procfile, and a stack.local.toml beside stack.toml is merged over
    it. ``environ`` (default: ``os.environ`` now) is the environment services inherit
    and ``${env:VAR}`` reads. ``replicas`` overrides the written count of replicated
    services (``devstack scale``).
    """
    env = dict(os.environ if environ is None else environ)
    given = given_files(path)
    files = find_layers(given, Path.cwd() if cwd is None else cwd)
    if is_procfile(files[0]):
        return load_procfile(files[0], env)
    layered = read_layers(files)
    spec = _Resolver(layered, env, replicas).resolve(read_document(layered))
    return dataclasses.replace(spec, layers=files if given else ())


def read_document(layered: Layered) -> StackFile:
    """The merged files checked by the models of stack.toml; ConfigError if it is off."""
    from pydantic import ValidationError

    from devstack.config.model import StackFile
    from devstack.config.problems import problems_from_validation

    if not layered.data.get("services") and not _other_keys(layered.data):
        raise no_services(layered)
    try:
        return StackFile.model_validate(layered.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, layered.data, layered.where)) from None


def _other_keys(data: dict[str, Any]) -> bool:
    """Keys beside an absent or empty ``services``: a misspelt table says more than "empty"."""
    return any(key not in ("services", "stack") for key in data)


def no_services(layered: Layered) -> ConfigError:
    """An empty or comments-only stack.toml (or ``[services]`` with nothing under it)."""
    data = layered.data
    seen = "[services] has nothing under it" if "services" in data else "no [services.NAME] table"
    if not data:
        seen = "the file is empty or holds only comments"
    file, line = layered.where(("services",))
    return ConfigError.one(
        f"the file defines no services ({seen})",
        file=file,
        line=line,
        key_path="services",
        hint="run `devstack init` to write one from the Procfile, package.json or Python app"
        ' here, or start from the first example in `devstack docs` ("A complete example"); the'
        ' smallest: [services.web] with cmd = "python3 -m http.server ${port}" and port = 8000',
    )


class _Resolver:
    """Whole-file checks and resolution, collecting every problem before raising."""

    def __init__(
        self,
        layered: Layered,
        environ: dict[str, str],
        replicas: Mapping[str, int] | None = None,
    ) -> None:
        self.layered = layered
        self.scaled = replicas or {}  # counts set by `devstack scale`, over the written ones
        self.file = layered.files[0]
        self.root = self.file.parent
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.names: list[str] = []

    def problem(
        self, key: str, message: str, hint: str | None = None, *, at: str | None = None
    ) -> None:
        """Record a problem at ``key``; its line is that of ``at`` (default ``key``)."""
        file, line = self.layered.where(tuple((at or key).split(".")))
        self.problems.append(ConfigProblem(file, line, key, message, hint))

    def resolve(self, model: StackFile) -> StackSpec:
        self.names = list(model.services)
        for name in self.names:
            if not _SERVICE_NAME.fullmatch(name):
                self.problem(
                    f"services.{name}",
                    "service names use letters, digits, - and _ (and start with a letter or digit)",
                )
        stack_files, stack_env = self.env_files("stack.env_file", model.stack.env_file)
        # A service with replicas is resolved once per copy (copies_of): from here on
        # "worker.1", "worker.2"... are services of their own.
        copies = {n: copies_of(n, svc, self.scaled.get(n)) for n, svc in model.services.items()}
        deps = {n: self.depends_on(n, svc) for n, svc in model.services.items()}
        self.check_cycle(deps)
        self.check_ports(model.services, copies)
        for n in deps:
            deps[n] = {c: cond for d, cond in deps[n].items() for c, _, _ in copies[d]}

        # Urls first (they may use ports, hosts and env), then everything else.
        files: dict[str, tuple[tuple[Path, ...], dict[str, str]]] = {}
        refs = {
            c: ServiceRefs(c, one.host, one.port)
            for n in model.services
            for c, _, one in _with_group(n, copies[n])
        }
        urls: dict[str, str | None] = {}
        for n, svc in model.services.items():
            files[n] = self.env_files(f"services.{n}.env_file", svc.env_file)
            ref_env = environ_layers(self.environ, stack_env, files[n][1])
            for c, k, one in copies[n]:
                ctx = Context(c, refs, ref_env, urls_known=False, replica=k)
                urls[c] = self.url(n, one, ctx)
        refs = {
            c: ServiceRefs(c, one.host, one.port, urls[copies[n][0][0]] if c == n else urls[c])
            for n in model.services
            for c, _, one in _with_group(n, copies[n])
        }

        services: dict[str, ServiceSpec] = {}
        for n in model.services:
            own_files, own_env = files[n]
            ref_env = environ_layers(self.environ, stack_env, own_env)
            for c, k, one in copies[n]:
                ctx = Context(c, refs, ref_env, replica=k)
                spec = self.service(n, one, ctx, deps[n], urls[c])
                if spec is None:
                    continue
                env = merge_env(self.environ, [stack_env, own_env, spec.env], one.port)
                if spec.venv is not None:
                    activate(env, spec.venv)
                spec = dataclasses.replace(spec, env=env, env_files=stack_files + own_files)
                if k is not None:
                    spec = dataclasses.replace(spec, name=c, replica_of=n, replica=k)
                services[c] = spec
                self.check_command_port(spec)
        smoke_env = environ_layers(self.environ, stack_env)
        smoke = tuple(
            s
            for i, entry in enumerate(model.smoke)
            if (s := self.smoke(i, entry, Context("", refs, smoke_env))) is not None
        )
        self.check_state_dir(model.stack.state_dir)
        if self.problems:
            # Each copy of a service says the same of a shared value: once is enough.
            problems = list(dict.fromkeys(self.problems))
            problems.sort(key=lambda p: (str(p.file), p.line is None, p.line or 0))
            raise ConfigError(problems)
        state = resolve_state_dir(os.fspath(self.root), model.stack.state_dir, self.environ)
        return StackSpec(
            name=model.stack.name or self.root.name,
            root=self.root,
            file=self.file,
            services=services,
            smoke=smoke,
            state=Path(state),
            files=tuple(self.layered.files),
        )

    # -- [[smoke]] ---------------------------------------------------------------

    def smoke(self, index: int, entry: SmokeModel, ctx: Context) -> SmokeSpec | None:
        """One ``[[smoke]]`` entry, interpolated and checked (loopback URL, known service)."""
        before = len(self.problems)

        def problem(key: str, message: str, hint: str | None = None) -> None:
            file, line = self.layered.where(("smoke", f"[{index}]", *key.split(".")))
            shown = f"smoke[{index}].{key}"
            self.problems.append(ConfigProblem(file, line, shown, message, hint))

        def interp(key: str, text: str) -> str:
            try:
                return interpolate(text, ctx)
            except InterpolationError as exc:
                problem(key, exc.message, exc.hint)
                return text

        url = interp("url", entry.url)
        if len(self.problems) == before:
            reason = smoke_url_problem(url)
            if reason:
                problem(
                    "url",
                    reason,
                    "smoke checks reach this machine only: 127.0.0.1, "
                    "localhost or ::1, e.g. ${services.NAME.url}/path",
                )
        headers = {k: interp(f"headers.{k}", v) for k, v in entry.headers.items()}

        def encode(key: str, value: object) -> str | None:
            """A TOML value as JSON text, its strings interpolated."""
            if value is None:
                return None
            try:
                return json.dumps(_interp_json(value, lambda t: interp(key, t)))
            except TypeError as exc:
                problem(key, f"not a JSON value: {exc}", "write dates as strings")
                return None

        body = None if entry.body is None else interp("body", entry.body)
        body = encode("json", entry.json_) if entry.json_ is not None else body
        json_contains = encode("json_contains", entry.json_contains)
        body_contains = tuple(interp("body_contains", t) for t in entry.body_contains)
        body_not_contains = tuple(interp("body_not_contains", t) for t in entry.body_not_contains)
        if entry.log_service is not None and entry.log_service not in self.names:
            guess = closest(entry.log_service, self.names)
            problem(
                "log_service",
                f"unknown service {entry.log_service!r}"
                + (f"; did you mean {guess!r}?" if guess else ""),
                None if guess else "services here: " + ", ".join(self.names),
            )
        if len(self.problems) > before:
            return None
        return _spec(
            SmokeSpec,
            entry,
            name=entry.name or f"{entry.method} {url}",
            url=url,
            headers=headers,
            body=body,
            is_json=entry.json_ is not None,
            json_contains=json_contains,
            body_contains=body_contains,
            body_not_contains=body_not_contains,
        )

    # -- whole-file checks -------------------------------------------------------

    def depends_on(self, name: str, svc: ServiceModel) -> dict[str, Condition]:
        raw = svc.depends_on
        wanted = (
            {d: Condition.STARTED for d in raw}
            if isinstance(raw, list)
            else {d: Condition(c) for d, c in raw.items()}
        )
        known: dict[str, Condition] = {}
        for dep, cond in wanted.items():
            if dep in self.names:
                known[dep] = cond
                continue
            guess = closest(dep, [n for n in self.names if n != name])
            self.problem(
                f"services.{name}.depends_on.{dep}",
                f"unknown service {dep!r}" + (f"; did you mean {guess!r}?" if guess else ""),
                None if guess else "services here: " + ", ".join(self.names),
            )
        return known

    def check_cycle(self, deps: dict[str, dict[str, Condition]]) -> None:
        cycle = graph.find_cycle({n: list(d) for n, d in deps.items()})
        if cycle:
            self.problem(
                f"services.{cycle[0]}.depends_on",
                f"dependency cycle: {' -> '.join(cycle)}",
                "remove one of these dependencies",
                at=f"services.{cycle[0]}.depends_on.{cycle[1]}",
            )

    def check_state_dir(self, written: str | None) -> None:
        """The client commands (``ps``, ``down``) find the state folder from the first
        file alone: a ``state_dir`` written elsewhere would hide the running stack."""
        if written is None:
            return
        file = self.layered.origin(("stack", "state_dir")).file
        if file != self.file:
            self.problem(
                "stack.state_dir",
                f"state_dir is read from {self.file} only",
                f"move it there, or set DEVSTACK_STATE_DIR (it was in {file})",
            )

    def check_ports(self, services: Mapping[str, ServiceModel], copies: Copies) -> None:
        """No two services declare one port on overlapping hosts; a service with replicas
        declares the range of its copies' ports."""
        seen: list[tuple[str, ServiceModel, range]] = []
        for name, svc in services.items():
            if svc.port is None:
                continue
            ports = range(svc.port, svc.port + len(copies[name]))
            if ports.stop - 1 > 65535:
                self.problem(
                    f"services.{name}.replicas",
                    f"{len(ports)} copies from port {svc.port} need ports up to "
                    f"{ports.stop - 1}, past 65535",
                    "lower port or replicas",
                    at=f"services.{name}.port",
                )
                continue
            for other, prev, taken in seen:
                clash = range(max(ports.start, taken.start), min(ports.stop, taken.stop))
                if clash and _hosts_overlap(prev.host, svc.host):
                    self.problem(
                        f"services.{name}.port",
                        f"port {clash.start} is also declared by services.{other}"
                        + self._elsewhere(("services", other, "port"), ("services", name, "port"))
                        + _ports_shown(name, ports, other, taken),
                        "give each service its own port"
                        + (" range" if len(ports) > 1 or len(taken) > 1 else ""),
                    )
                    break
            seen.append((name, svc, ports))

    def _elsewhere(self, path: tuple[str, ...], here: tuple[str, ...]) -> str:
        """`` (FILE:LINE)`` of ``path`` when another file than ``here``'s wrote it (layers,
        includes): the message then names both files."""
        file, line = self.layered.where(path)
        if file == self.layered.where(here)[0]:
            return ""
        shown = os.path.relpath(file, self.file.parent)
        return f" ({shown}:{line})" if line is not None else f" ({shown})"

    def check_command_port(self, spec: ServiceSpec) -> None:
        """``--bind``/``--port``/``-p`` in the command and ``port`` must agree: the probe,
        the url and every ``${services.X.url}`` use ``port``."""
        from devstack.project.servers import command_port

        if spec.port is None or spec.shell:
            return
        written = command_port(spec.argv)
        if written is not None and written != spec.port:
            self.problem(
                f"services.{spec.replica_of or spec.name}.cmd",
                f"the command listens on port {written}, but port = {spec.port}",
                "write ${port} in the command (it is replaced by the port)",
            )

    def env_files(
        self, key: str, value: str | list[str] | None
    ) -> tuple[tuple[Path, ...], dict[str, str]]:
        names = [] if value is None else [value] if isinstance(value, str) else value
        paths: list[Path] = []
        merged: dict[str, str] = {}
        base = self.layered.folder(tuple(key.split(".")))  # that of the file that wrote it
        for name in names:
            path = self.path(key, base, name)
            if path is None:
                continue
            try:
                merged.update(read_env_file(path))
            except FileNotFoundError:
                self.problem(key, f"env file not found: {path}", "create it or remove the key")
                continue
            except OSError as exc:
                self.problem(key, f"cannot read env file {path}: {exc.strerror}")
                continue
            paths.append(path)
        return tuple(paths), merged

    def path(self, key: str, base: Path, written: str) -> Path | None:
        """``written`` (``~`` expanded) resolved against ``base``, or None when it cannot
        name a file here (the problem recorded)."""
        try:
            path = (base / Path(written).expanduser()).resolve()
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.stat(path)  # ENAMETOOLONG, ELOOP: no file can have this name
            return path
        except RuntimeError:  # Path.expanduser: "~name" with no user "name"
            user = written.split("/", 1)[0]
            self.problem(key, f"cannot expand {user!r}: no such user", "write the path in full")
        except OSError as exc:
            self.problem(key, f"not a usable path ({exc.strerror}): {written}")
        return None

    # -- one service -------------------------------------------------------------

    def interp(self, key: str, text: str, ctx: Context) -> str | None:
        try:
            return interpolate(text, ctx)
        except InterpolationError as exc:
            self.problem(key, exc.message, exc.hint)
            return None

    def url(self, name: str, svc: ServiceModel, ctx: Context) -> str | None:
        if svc.url is None:
            if svc.port is None:
                return None
            return f"http://{_url_host(svc.host)}:{svc.port}"
        url = self.interp(f"services.{name}.url", svc.url, ctx)
        if url is not None and not re.match(r"https?://[^/]", url):
            self.problem(f"services.{name}.url", f"{url!r} is not an http:// or https:// URL")
            return None
        return url.rstrip("/") if url else None

    def service(
        self,
        name: str,
        svc: ServiceModel,
        ctx: Context,
        deps: dict[str, Condition],
        url: str | None,
    ) -> ServiceSpec | None:
        key = f"services.{name}"
        before = len(self.problems)
        # Relative to the file that wrote cwd, else to the one that defined the service.
        home = self.layered.folder(("services", name, "cwd"))
        cwd = self.path(f"{key}.cwd", home, svc.cwd) or home
        if len(self.problems) == before and not _is_dir(cwd):
            self.problem(f"{key}.cwd", f"directory not found: {cwd}", "create it or fix the path")
        venv = self.venv(key, svc, cwd) if len(self.problems) == before else None
        cmd, argv = self.command(key, svc, ctx)
        env: dict[str, str] = {}
        for var, value in svc.env.items():
            if not var or "=" in var or "\0" in var + value:
                # exec would refuse these; say so now, not at spawn time.
                self.problem(f"{key}.env.{var}", "names cannot be empty or hold '='; no NUL bytes")
                continue
            resolved = self.interp(f"{key}.env.{var}", value, ctx)
            if resolved is not None:
                env[var] = resolved
        health = self.health(key, svc, ctx, url)
        setup = None
        if svc.setup is not None:
            # A shell line (`python3 -m venv .venv && ...`): bare $VAR is the shell's.
            shell_ctx = dataclasses.replace(ctx, shell=True)
            setup = self.interp(f"{key}.setup", svc.setup, shell_ctx)
            if setup is not None and "\0" in setup:
                self.problem(f"{key}.setup", "setup holds a NUL byte")
        if len(self.problems) > before or cmd is None:
            return None
        return _spec(
            ServiceSpec,
            svc,
            name=name,
            cmd=cmd,
            argv=argv,
            cwd=cwd,
            env=env,
            url=url,
            depends_on=deps,
            health=health,
            restart=RestartSpec(
                policy=RestartPolicy(svc.restart),
                max_restarts=svc.max_restarts,
                backoff=svc.backoff,
                backoff_max=svc.backoff_max,
                reset_after=svc.backoff_reset,
            ),
            check_import=(svc.check.import_ or None) if svc.check else None,
            check_cmds=tuple(svc.check.cmd) if svc.check else (),
            check_off=_checks_off(svc.check),
            check_env_ignore=tuple(svc.check.env_ignore) if svc.check else (),
            venv=venv,
            setup=setup,
        )

    def venv(self, key: str, svc: ServiceModel, cwd: Path) -> Path | None:
        """``venv = ...`` resolved, else a .venv/venv found in ``cwd``. A written venv
        must exist, unless a setup step is declared: it may be what creates it."""
        if not svc.venv:
            return find_venv(cwd)
        venv = self.path(f"{key}.venv", cwd, svc.venv)
        if venv is not None and svc.setup is None and not _is_dir(venv):
            self.problem(
                f"{key}.venv",
                f"virtualenv not found: {venv}",
                "create it (python3 -m venv), fix the path (relative to cwd), "
                "or declare the setup step that makes it",
            )
        return venv

    def command(
        self, key: str, svc: ServiceModel, ctx: Context
    ) -> tuple[str | None, tuple[str, ...]]:
        if isinstance(svc.cmd, list):
            parts = [self.interp(f"{key}.cmd", part, ctx) for part in svc.cmd]
            if any(p is None for p in parts):
                return None, ()
            argv = tuple(p for p in parts if p is not None)
            return shlex.join(argv), argv
        shell_ctx = dataclasses.replace(ctx, shell=svc.shell)
        cmd = self.interp(f"{key}.cmd", svc.cmd, shell_ctx)
        if cmd is None:
            return None, ()
        if "\0" in cmd:
            self.problem(f"{key}.cmd", "cmd holds a NUL byte")
            return None, ()
        if svc.shell:
            return cmd, ("/bin/sh", "-c", cmd)
        try:
            argv = tuple(split_command(cmd))
        except ValueError as exc:
            self.problem(
                f"{key}.cmd",
                f"cannot split the command: {exc}",
                'close the quote, or use an argv list: cmd = ["prog", "arg"]',
            )
            return None, ()
        if not argv:
            self.problem(f"{key}.cmd", "cmd is empty")
            return None, ()
        return cmd, argv

    def health(
        self, key: str, svc: ServiceModel, ctx: Context, url: str | None
    ) -> HealthSpec | None:
        from devstack.config.model import HealthModel

        h = svc.health or HealthModel.model_validate({})
        hkey = f"{key}.health"
        connect = _url_host(svc.host)

        def spec(kind: ProbeKind, target: str) -> HealthSpec:
            return _health_spec(h, kind, target)

        if h.expect_status and h.http is None:
            self.problem(f"{hkey}.expect_status", "expect_status applies only to health.http")
        if h.http is not None:
            target = self.interp(f"{hkey}.http", h.http, ctx)
            if target is None:
                return None
            if target.startswith("/"):
                if url is None:
                    self.problem(
                        f"{hkey}.http",
                        "health.http is a path but the service has no port/url",
                        "declare port (or url), or give a full URL",
                    )
                    return None
                return spec("http", url + target)
            if re.match(r"https?://[^/]", target):
                return spec("http", target)
            self.problem(
                f"{hkey}.http", f'{target!r} is neither a path ("/health") nor an http(s) URL'
            )
            return None
        if h.tcp is not None:
            target = self.tcp(f"{hkey}.tcp", svc, h.tcp, ctx, connect)
            return None if target is None else spec("tcp", target)
        if h.cmd is not None:
            cmd = self.interp(f"{hkey}.cmd", h.cmd, ctx)
            if cmd is None:
                return None
            try:
                if not split_command(cmd):
                    raise ValueError("empty command")
            except ValueError as exc:
                self.problem(f"{hkey}.cmd", f"cannot split the command: {exc}")
                return None
            return spec("cmd", cmd)
        if h.log is not None:
            return spec("log", h.log)
        if svc.port is not None:
            # A declared port with no probe: healthy once it accepts connections.
            return spec("tcp", _hostport(connect, svc.port))
        if svc.health is not None:
            self.problem(hkey, "no probe given", "set one of http, tcp, cmd or log")
        return None

    def tcp(
        self, key: str, svc: ServiceModel, value: str | int | bool, ctx: Context, connect: str
    ) -> str | None:
        """The "host:port" a tcp probe connects to."""
        if value is True:
            if svc.port is None:
                self.problem(key, "tcp = true needs a declared port")
                return None
            return _hostport(connect, svc.port)
        if isinstance(value, int):
            if not 1 <= value <= 65535:
                self.problem(key, f"port {value} is out of range 1..65535")
                return None
            return _hostport(connect, value)
        text = self.interp(key, value, ctx)
        if text is None:
            return None
        if text.isdigit():
            text = _hostport(connect, int(text))
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            self.problem(key, f'{text!r} is not "host:port" or a port number')
            return None
        return text


# Per written service: (name, replica number, model as that copy sees it) of each copy;
# one entry (name, None, the model) for a service without replicas.
Copies = Mapping[str, list[tuple[str, int | None, "ServiceModel"]]]


def copies_of(
    name: str, svc: ServiceModel, scaled: int | None = None
) -> list[tuple[str, int | None, ServiceModel]]:
    """The copies of ``svc``: ``worker.K`` with its own port (the written one + K - 1)."""
    count = scaled if scaled is not None else svc.replicas
    if count is None:
        return [(name, None, svc)]
    return [
        (
            f"{name}.{k}",
            k,
            svc
            if svc.port is None or k == 1
            else svc.model_copy(update={"port": svc.port + k - 1}),
        )
        for k in range(1, count + 1)
    ]


def _with_group(
    name: str, copies: list[tuple[str, int | None, ServiceModel]]
) -> list[tuple[str, int | None, ServiceModel]]:
    """``copies``, and the service's own name as its first copy (``${services.worker.url}``)."""
    first = copies[0]
    return copies if first[1] is None else [(name, None, first[2]), *copies]


def _ports_shown(name: str, ports: range, other: str, taken: range) -> str:
    def shown(who: str, r: range) -> str:
        return f"{who} {r.start}..{r.stop - 1}" if len(r) > 1 else f"{who} {r.start}"

    if len(ports) == 1 and len(taken) == 1:
        return ""
    return f" ({shown(name, ports)}, {shown(other, taken)}; replicas take one port each)"


def _checks_off(check: CheckModel | None) -> tuple[str, ...]:
    """The checks ``check.NAME = false`` switches off (``import = false`` too)."""
    if check is None:
        return ()
    off = ("import",) if check.import_ is False else ()
    return off + tuple(
        name
        for name in ("env", "port", "executable", "syntax", "node", "proxy")
        if not getattr(check, name)
    )


def smoke_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a smoke request (not http(s), not loopback), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        return f"{url!r} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL"
    host = parts.hostname
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    return f"{url!r} is not on this machine (host {host})"


def _interp_json(value: object, interp: Callable[[str], str]) -> object:
    """A TOML value with its strings interpolated; TypeError for what JSON cannot hold."""
    if isinstance(value, str):
        return interp(value)
    if isinstance(value, list):
        return [_interp_json(v, interp) for v in value]
    if isinstance(value, dict):
        return {k: _interp_json(v, interp) for k, v in value.items()}
    if isinstance(value, bool | int | float):
        return value
    raise TypeError(f"a {type(value).__name__} ({value})")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a path longer than PATH_MAX (ENAMETOOLONG) names no directory
        return False


def environ_layers(*layers: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _health_spec(h: HealthModel, kind: ProbeKind, target: str) -> HealthSpec:
    # No interval written: the quiet default (an http request only every HTTP_EVERY).
    quiet = h.interval is None and kind == "http"
    return _spec(
        HealthSpec,
        h,
        kind=kind,
        target=target,
        interval=DEFAULT_INTERVAL if h.interval is None else h.interval,
        http_every=HTTP_EVERY if quiet else None,
    )


def _spec(cls: type[_S], written: BaseModel, **resolved: Any) -> _S:
    """A ``cls`` of the ``resolved`` values and, for every other field of ``cls`` that
    ``written`` (the model) has by the same name, its value as written (a list as a
    tuple): a key that needs no resolving reaches the runtime without an edit here."""
    keys = type(written).model_fields
    carried = {
        f.name: tuple(value) if isinstance(value := getattr(written, f.name), list) else value
        for f in dataclasses.fields(cls)
        if f.name in keys and f.name not in resolved
    }
    return cls(**carried, **resolved)


def _url_host(host: str) -> str:
    """The host to connect to: a wildcard bind is reached on loopback."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _hostport(host: str, port: int) -> str:
    return f"{host}:{port}"


def _hosts_overlap(a: str, b: str) -> bool:
    if a in WILDCARD_HOSTS or b in WILDCARD_HOSTS:
        return True
    if a in _LOCALHOSTS and b in _LOCALHOSTS:
        return True
    return a == b
