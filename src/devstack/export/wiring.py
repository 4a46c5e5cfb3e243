"""Wiring that survives the move: every address one service gives another, for a target.

Locally a service reaches another at ``127.0.0.1:PORT``; on an engine (compose,
Kubernetes) it reaches it by a name the engine resolves (``redis:6390``, a Service's
DNS name), and 127.0.0.1 is the container itself. A ``Target`` says how the engine
addresses each service (``address(name) -> (host, port)``) and how its files write
values; :func:`wire` then, per service:

- re-resolves every ``${services.NAME.url|host|port}`` of the ``env`` table (and,
  through :meth:`Wiring.text`, of the command) with the target's addresses;
- rewrites each hard-coded loopback URL (127.0.0.1, localhost, [::1], 0.0.0.0 with a
  port) that points at a port a stack service declares, in the ``env`` table, in the
  env files and in a Node frontend's own ``.env*`` files (Next.js, Vite): files are
  never edited, the rewritten value is an environment override (it wins over the
  file, in compose as in Next.js and Vite);
- leaves browser-facing variables alone (``NEXT_PUBLIC_*``, ``VITE_*``..., names
  with PUBLIC, CALLBACK, REDIRECT, ORIGIN or CORS, and an http URL of the service
  itself in its ``env`` table: links, callbacks): a browser cannot resolve ``api``;
  they keep devstack's local value and are reported with what to do;
- reports a frontend's proxy config (next.config rewrites, Vite's ``server.proxy``)
  that sends to a loopback address: JavaScript is not rewritten, the finding names
  the file:line and the change (read the address from an environment variable). When
  the config already reads one (``process.env.API_URL || 'http://127.0.0.1:5328'``),
  the variable is set instead;
- notes a loopback URL to a port no service declares (left as is: it may be meant
  for something outside the stack).

The loopback URLs are found by the preflight checks' own readers
(``checks.envwiring``, ``project.frontendconfig``): one pattern for both.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.checks.command import shown
from devstack.checks.envwiring import (
    LocalUrl,
    env_file_origins,
    local_urls,
    node_env_values,
    port_owners,
)
from devstack.checks.frontendproxy import proxy_fix
from devstack.checks.nodesetup import invocation
from devstack.checks.protocols import is_node, url_protocol
from devstack.config.envfile import read_env_file
from devstack.config.interpolate import Context, ServiceRefs, interpolate
from devstack.export.images import recognise
from devstack.export.secretenv import mask_passwords
from devstack.export.source import ExportSource, join_env_refs, split_env_refs
from devstack.project.frontendconfig import ProxyTarget, proxy_targets
from devstack.spec import ServiceSpec

# service name -> (host, port) the target reaches it at; port None: the one the URL says.
Address = Callable[[str], tuple[str, int | None]]
# Variables frameworks hand to the browser: Next.js, Vite, Create React App, SvelteKit /
# Astro, Nuxt, Expo, Gatsby, Vue CLI.
BROWSER_PREFIXES = (
    *("NEXT_PUBLIC_", "VITE_", "REACT_APP_", "PUBLIC_", "NUXT_PUBLIC_", "EXPO_PUBLIC_"),
    *("GATSBY_", "VUE_APP_"),
)
# Names that say the value is an address browsers or other parties use, not a client's:
# the app's own base for links and emails (BASE_URL, SITE_URL), not an API's (API_BASE_URL).
_PUBLIC_WORDS = re.compile(
    r"PUBLIC|CALLBACK|REDIRECT|ORIGIN|CORS"
    r"|^(?:APP_|SITE_)?BASE_URL$|^(?:SITE|EXTERNAL|CANONICAL)_URL$"
)
# A value picked by the mode (`process.env.NODE_ENV === "development" ? URL : "/api/"`).
_NODE_ENV_TEST = re.compile(r"process\.env\.NODE_ENV\b")
_NODE_ENV_LOOK_BACK = 3  # lines above a proxy target where its mode test sits
_LOOPBACK_WORD = re.compile(r"\b(127\.0\.0\.1|localhost)\b")


def _as_is(text: str) -> str:
    return text


def braced_env_ref(var: str, default: str | None) -> str:
    """``${VAR}`` / ``${VAR:-default}``: how compose (and a shell) write a variable."""
    return f"${{{var}}}" if default is None else f"${{{var}:-{default}}}"


@dataclass(frozen=True, slots=True)
class Target:
    """How an engine addresses the stack's services and writes values."""

    name: str  # "compose", "kubernetes": said in the notes
    address: Address
    own_host: str = "0.0.0.0"  # a service's own ${host}: where it listens
    escape: Callable[[str], str] = _as_is  # literal text as the target's file must hold it
    env_ref: Callable[[str, str | None], str] = braced_env_ref  # ${env:VAR[:-default]}, written so


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A loopback URL rewritten for the target."""

    service: str
    var: str
    original: str  # the value as devstack runs it locally
    value: str  # for the target (escaped)
    where: str  # "stack.toml", ".env:3", "web/next.config.js:4"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something of the stack that will not work as written on the target.

    ``breaks``: it will not work there (``export --check`` exits 1); otherwise a note.
    ``kind``: "proxy-config", "browser-url", "unknown-port", "build-time-env",
    "export-error" (a reader of devstack's failed: its bug), and the kinds of
    ``export.handover``.
    """

    service: str
    kind: str
    summary: str
    fix: str | None = None
    file: str | None = None
    line: int | None = None
    breaks: bool = True

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class ServiceWiring:
    """One service's environment for the target: what to write, and why."""

    env: dict[str, str] = field(default_factory=dict)  # VAR -> value, escaped for the target
    notes: dict[str, str] = field(default_factory=dict)  # VAR -> a comment for its value
    rewrites: list[Rewrite] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Wiring:
    source: ExportSource
    target: Target
    services: Mapping[str, ServiceWiring]
    findings: tuple[Finding, ...]

    @property
    def rewrites(self) -> list[Rewrite]:
        return [r for s in self.services.values() for r in s.rewrites]

    def text(self, name: str, text: str, *, shell: bool = False) -> str:
        """``text`` as written for service ``name``, resolved for the target and escaped."""
        return resolve(self.source, self.target, name, text, shell=shell)


def wire(source: ExportSource, target: Target) -> Wiring:
    """Every service's wiring for ``target`` (see the module doc)."""
    services: dict[str, ServiceWiring] = {}
    findings: list[Finding] = []
    for name in source.stack.services:
        wired, found = _service(source, target, name)
        services[name] = wired
        findings += found
    return Wiring(source, target, services, tuple(findings))


def refs(source: ExportSource, target: Target | None, this: str) -> dict[str, ServiceRefs]:
    """What ``${services.NAME...}`` means seen from ``this``: the target's addresses, or
    devstack's local ones when ``target`` is None."""
    out = {}
    for name, spec in source.stack.services.items():
        if target is None:
            out[name] = ServiceRefs(name, spec.host, spec.port, spec.url)
            if spec.replica == 1:
                assert spec.replica_of is not None
                out[spec.replica_of] = ServiceRefs(spec.replica_of, spec.host, spec.port, spec.url)
            continue
        host, port = target.address(name)
        port = spec.port if port is None else port
        url = f"http://{_host(host)}:{port}" if port is not None else spec.url
        own = target.own_host if name == this else host
        out[name] = ServiceRefs(name, own, port, url)
        if spec.replica == 1:  # ${services.worker.url}: the first copy's
            assert spec.replica_of is not None
            out[spec.replica_of] = ServiceRefs(spec.replica_of, host, port, url)
    return out


def resolve(
    source: ExportSource, target: Target, name: str, text: str, *, shell: bool = False
) -> str:
    """``text`` as written for ``name``, interpolated with the target's addresses,
    escaped, ``${env:VAR}`` written as the target writes it."""
    body, env_refs = split_env_refs(text)
    spec = source.stack.services.get(name)
    replica = spec.replica if spec is not None else None
    ctx = Context(name, refs(source, target, name), source.environ, shell=shell, replica=replica)
    return finish(target, interpolate(body, ctx), env_refs)


def finish(target: Target, value: str, env_refs: list[tuple[str, str | None]] | None = None) -> str:
    """An interpolated value escaped for the target, its ``${env:VAR}`` put back."""
    return join_env_refs(target.escape(value), env_refs or [], target.env_ref)


def names_loopback(words: list[str]) -> bool:
    """Does a command name 127.0.0.1/localhost (a bind no other container can reach)?"""
    return any(_LOOPBACK_WORD.search(word) for word in words)


def is_browser_facing(var: str) -> bool:
    """Is ``var`` handed to the browser by a frontend framework (or named as a public
    address: callbacks, redirects, CORS origins)?"""
    return var.startswith(BROWSER_PREFIXES) or _PUBLIC_WORDS.search(var) is not None


class _Wirer:
    """One service's wiring, built value by value."""

    def __init__(self, source: ExportSource, target: Target, name: str) -> None:
        self.source = source
        self.target = target
        self.spec = source.stack.services[name]
        self.owners = port_owners(source.stack)
        self.out = ServiceWiring()
        self.findings: list[Finding] = []
        self.set_vars: set[str] = set()  # what the env table and the stack's env files set
        self.node_vars: set[str] = set()  # what the frontend's own .env* files set

    def table(self) -> None:
        """The ``env`` table as written, re-resolved, its loopback URLs rewritten."""
        written = self.source.written_of(self.spec)
        if written is None:
            return
        self.set_vars.update(written.env)
        for var, text in written.env.items():
            body, env_refs = split_env_refs(text)
            name, k = self.spec.name, self.spec.replica
            local = interpolate(body, Context(name, refs(self.source, None, name), {}, replica=k))
            there = interpolate(
                body, Context(name, refs(self.source, self.target, name), {}, replica=k)
            )
            if self._is_public(var, local, changed=local != there, own=True):
                shown_value = self.spec.env.get(var, local)
                self._keep(var, shown_value, "stack.toml", finish(self.target, local, env_refs))
                continue
            self._stack_urls(var, local, "stack.toml")  # the others are noted
            rewritten = self._rewrite(there, local_urls({var: there}), "stack.toml")
            self.out.env[var] = finish(self.target, rewritten, env_refs)
            if rewritten != there:
                self._rewritten(var, self.spec.env.get(var, local), "stack.toml")

    def files(self) -> None:
        """Loopback URLs in the env files (stack's, then a Node frontend's own): overrides."""
        spec, root = self.spec, self.source.root
        values: dict[str, tuple[str, str]] = {}
        origins = env_file_origins(spec, self.source.stack)
        for path in spec.env_files:
            try:
                for var, value in read_env_file(path).items():
                    if var in origins:
                        values[var] = (value, origins[var])
            except OSError:
                continue
        self.set_vars.update(values)
        folder = self._node_folder()
        if folder is not None:
            for var, (value, where) in node_env_values(folder, spec.check_env_ignore).items():
                file, _, line = where.rpartition(":")
                values.setdefault(var, (value, f"{shown(folder / file, root)}:{line}"))
                self.node_vars.add(var)
        for var, (value, where) in values.items():
            if var in self.out.env:
                continue  # the env table's value wins over the file's
            if self._is_public(var, value, changed=False):
                self._keep(var, value, where, None)
                continue
            urls = self._stack_urls(var, value, where)
            if not urls:
                continue
            rewritten = self._rewrite(value, urls, where)
            if rewritten != value:
                self.out.env[var] = self.target.escape(rewritten)
                self._rewritten(var, value, where)

    def proxies(self) -> None:
        """A Node frontend's proxy config: a loopback target is a finding (or its env var set)."""
        folder = self._node_folder()
        if folder is None:
            return
        stack = self.source.stack
        targets = proxy_targets(folder)
        if any(t.file.name.startswith("next.config") for t in targets):
            self.set_vars |= self.node_vars  # Next.js loads its env files before next.config
        for target in targets:
            owner = self.owners.get(target.port)
            if owner is None or owner.name == self.spec.name:
                continue  # the proxy check's (a port nothing serves, the frontend's own)
            # `http://127.0.0.1:${process.env.FLASK_PORT || 5328}`: only the port is read.
            port_only = "${" in target.url
            var = None if port_only else target.env_var
            if var is not None and var in self.set_vars:
                continue  # the config reads the address, the stack sets it: wired above
            file = shown(target.file, stack.root)
            if var is not None:
                # process.env.API_URL || 'http://127.0.0.1:5328': setting it is enough.
                self.out.env[var] = self.target.escape(self._address(target.url, owner, target))
                self._rewritten(var, target.url, f"{file}:{target.line}")
                if target.file.name.startswith("next.config"):
                    self._build_time(var, file, target.line)
                continue
            self._proxy_finding(target, owner, file, port_only)

    def _proxy_finding(
        self, target: ProxyTarget, owner: ServiceSpec, file: str, port_only: bool
    ) -> None:
        host, port = self.target.address(owner.name)
        there = f"{target.scheme}://{_host(host)}:{port or target.port}"
        why = (
            f"the config reads only the port from process.env.{target.env_var}: the host "
            f"stays {target.host}"
            if port_only
            else "a config file is JavaScript: it is not rewritten"
        )
        # Taken from the whole address, so it serves both branches of a mode test.
        fix = proxy_fix(self.spec, dataclasses.replace(target, env_var=None), owner, file)
        mode_line = _node_env_test(target)
        if mode_line is not None:
            why += (
                f"; it sits behind a process.env.NODE_ENV test ({file}:{mode_line}): the "
                "production server runs with NODE_ENV=production and takes the other branch"
            )
            fix += ", in both branches (or without the NODE_ENV test)"
        self.findings.append(
            Finding(
                self.spec.name,
                "proxy-config",
                f"{file}:{target.line} sends to {target.url} ({owner.name}), which in "
                f"{self.target.name} is {there}; {why}",
                fix,
                file,
                target.line,
            )
        )

    def _build_time(self, var: str, file: str, line: int) -> None:
        self.findings.append(
            Finding(
                self.spec.name,
                "build-time-env",
                f"{file}:{line} reads process.env.{var}, set here for the server; `next build` "
                "also reads rewrites",
                f"set {var} when building the image too (a build arg), if it is built with "
                "`next build`",
                file,
                line,
                breaks=False,
            )
        )

    def _node_folder(self) -> Path | None:
        spec = self.spec
        if not is_node(spec) and not (spec.cwd / "package.json").is_file():
            return None
        run = invocation(spec)
        return run.folder if run is not None else spec.cwd

    def _stack_urls(self, var: str, value: str, where: str) -> list[LocalUrl]:
        """The loopback URLs of ``value`` on a stack service's port; the others noted."""
        found = []
        for url in local_urls({var: value}):
            if url.port in self.owners:
                found.append(url)
                continue
            self.out.notes[var] = f"left as is: no service of the stack declares port {url.port}"
            self.findings.append(
                Finding(
                    self.spec.name,
                    "unknown-port",
                    f"{var}={value} ({where}) points at port {url.port}, which no service of "
                    f"the stack declares: left as is (in {self.target.name}, {url.host} is "
                    "the service's own container)",
                    "if it is a service of the stack, declare its port; else point it at "
                    "that server's address as the target sees it",
                    *_file_line(where),
                    breaks=False,
                )
            )
        return found

    def _is_public(self, var: str, value: str, *, changed: bool, own: bool = False) -> bool:
        """A browser-facing variable holding a loopback URL or a stack address (``changed``:
        the target resolves it otherwise), or (``own``: set for this service alone, not in a
        file services may share) an http URL of the service itself."""
        urls = local_urls({var: value})
        if is_browser_facing(var):
            return changed or bool(urls)
        return (
            own
            and bool(urls)
            and all(
                u.port in self.owners
                and self.owners[u.port].name == self.spec.name
                and url_protocol(u.scheme) == "http"
                for u in urls
            )
        )

    def _keep(self, var: str, local: str, where: str, value: str | None) -> None:
        """A browser-facing value: devstack's ``local`` one kept (``value``, escaped; None:
        nothing written, the file's value stays)."""
        if value is not None:
            self.out.env[var] = value
            self.out.notes[var] = (
                f"browser-facing: kept as devstack resolves it ({local}), not rewritten"
            )
        if var.startswith(BROWSER_PREFIXES):
            why = "a variable the frontend hands to the browser"
        elif is_browser_facing(var):
            why = "a public address (base URLs, callbacks, redirects, origins)"
        else:
            why = f"{self.spec.name}'s own address, the one browsers and callbacks use"
        self.findings.append(
            Finding(
                self.spec.name,
                "browser-url",
                f"{var}={local} ({where}) is {why}: a browser cannot resolve "
                f"{self.target.name}'s service names, so it is not rewritten",
                f"set {var} to the address browsers use: the published host and port "
                "(https://app.example.com), or a relative path (/api) the frontend proxies"
                + (
                    "; the bundler inlines it at build time: set it when the image is built"
                    if var.startswith(BROWSER_PREFIXES)
                    else ""
                ),
                *_file_line(where),
            )
        )

    def _rewrite(self, value: str, urls: list[LocalUrl], where: str) -> str:
        """``value`` with each of ``urls`` on a stack service's port pointed at the target's
        address (last first, so the positions hold)."""
        for url in sorted(urls, key=lambda u: u.host_start, reverse=True):
            owner = self.owners.get(url.port)
            if owner is None:
                continue
            host, port = self.target.address(owner.name)
            value = value[: url.host_start] + f"{_host(host)}:{port or url.port}" + value[url.end :]
        return value

    def _address(self, url: str, owner: ServiceSpec, target: ProxyTarget) -> str:
        host, port = self.target.address(owner.name)
        return re.sub(
            r"^([a-z]+://)[^/]+",
            lambda m: f"{m.group(1)}{_host(host)}:{port or target.port}",
            url,
            count=1,
        )

    def _rewritten(self, var: str, original: str, where: str) -> None:
        value = self.out.env[var]
        self.out.rewrites.append(Rewrite(self.spec.name, var, original, value, where))
        # The comment shows where it pointed, never a password it holds.
        was = mask_passwords(original)
        self.out.notes[var] = f"was {was} ({where}): rewritten for {self.target.name}"


def _service(
    source: ExportSource, target: Target, name: str
) -> tuple[ServiceWiring, list[Finding]]:
    wirer = _Wirer(source, target, name)
    wirer.table()
    steps = [(wirer.files, "env files"), (wirer.proxies, "proxy config")]
    if recognise(wirer.spec.argv) is not None:
        # An official image's server reads its own variables (POSTGRES_*), none of the
        # app's URLs an env file shared with the app holds: nothing there to wire.
        steps = []
    # The readers of the user's files guess from text: a failure there is devstack's bug,
    # said in one line, and the export goes on without what they would have found.
    for step, what in steps:
        try:
            step()
        except Exception as exc:
            summary = (
                f"the {what} could not be read for wiring (a devstack bug): "
                f"{type(exc).__name__}: {exc}"
            )
            wirer.findings.append(Finding(name, "export-error", summary, breaks=False))
    return wirer.out, wirer.findings


def _node_env_test(target: ProxyTarget) -> int | None:
    """The line of a ``process.env.NODE_ENV`` test just above ``target`` (its value picked
    by the mode), or None."""
    try:
        lines = target.file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for number in range(target.line, max(0, target.line - 1 - _NODE_ENV_LOOK_BACK), -1):
        if number <= len(lines) and _NODE_ENV_TEST.search(lines[number - 1]):
            return number
    return None


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _file_line(where: str) -> tuple[str | None, int | None]:
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return (where, None) if where != "stack.toml" else ("stack.toml", None)
