"""Env wiring: local URLs in a service's env that point at nothing, and localhost vs ::1.

Only the values the stack sets are read (a value equal to devstack's own
environment was inherited, not wired). For a Node frontend, the env files its
framework reads (Next.js, Vite) are read too, with their line numbers.

Nothing here blocks a start: a URL on a port no service declares may be meant for
something outside the stack (a browser callback, a server started by hand), so it is
a warning. Its suggestion names only a service that speaks the URL's scheme, keeps
the URL's path, and points at the place the value came from: an env file's line, or
stack.toml's ``env``. The localhost warning is for Node clients only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from devstack.checks.checkresult import CheckResult
from devstack.checks.command import shown
from devstack.checks.ports import bind_address
from devstack.checks.protocols import is_node, speaks, url_protocol
from devstack.checks.written import where_set
from devstack.config.envfile import read_env_file
from devstack.errors import DevstackError
from devstack.procs import portowners as ports
from devstack.spec import ServiceSpec, StackSpec

_LOCAL_URL = re.compile(
    r"\b([a-z][a-z0-9+.-]*)://(?:[^@/\s]*@)?(localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):(\d{1,5})",
    re.I,
)
# Next.js and Vite, in the order they are read; later ones win for the same key.
NODE_ENV_FILES = (".env", ".env.development", ".env.local", ".env.development.local")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class LocalUrl:
    var: str
    value: str
    host: str
    port: int
    where: str | None = None  # ".env.local:3" for a value read from a file
    scheme: str = "http"
    start: int = 0  # where "scheme://" starts in value
    host_start: int = 0  # where "host:port" starts (after any user@)
    port_start: int = 0  # where the port's digits start; they end at ``end``
    end: int = 0


def declared_env(spec: ServiceSpec, environ: Mapping[str, str]) -> dict[str, str]:
    """Env values the stack sets (inherited ones, equal to ``environ``'s, left out)."""
    return {k: v for k, v in spec.env.items() if environ.get(k) != v and k != "PORT"}


def local_urls(env: Mapping[str, str], where: Mapping[str, str] | None = None) -> list[LocalUrl]:
    found = []
    for var, value in env.items():
        for m in _LOCAL_URL.finditer(value):
            host = m.group(2).strip("[]").lower()
            found.append(
                LocalUrl(
                    var,
                    value,
                    host,
                    int(m.group(3)),
                    (where or {}).get(var),
                    m.group(1).lower(),
                    m.start(),
                    m.start(2),
                    m.start(3),
                    m.end(),
                )
            )
    return found


def read_env_lines(path: Path) -> dict[str, tuple[str, int]]:
    """KEY -> (value, line) of a dotenv file; quotes removed, comments skipped."""
    found: dict[str, tuple[str, int]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    for number, line in enumerate(text.splitlines(), 1):
        m = _ENV_LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        found[m.group(1)] = (value, number)
    return found


def check_env(
    spec: ServiceSpec, stack: StackSpec, environ: Mapping[str, str] | None = None
) -> list[CheckResult]:
    """The env and localhost checks of one service (warnings at most)."""
    environ = os.environ if environ is None else environ
    ignored = frozenset(spec.check_env_ignore)
    declared = {k: v for k, v in declared_env(spec, environ).items() if k not in ignored}
    results: list[CheckResult] = []
    urls = local_urls(declared)
    file_values, contradictions = _node_env_files(spec, declared, ignored)
    results += contradictions
    urls += [u for u in file_values if u.var not in declared]
    # Only with URLs to match: every service's bind address, for each of 40 services, is O(n^2).
    owners = port_owners(stack) if urls else {}
    origins: dict[str, str] | None = None
    for url in urls:
        owner = owners.get(url.port)
        if owner is None and is_listened(url.port):
            continue
        if url.where is None:
            origins = env_file_origins(spec, stack) if origins is None else origins
            url = replace(url, where=origins.get(url.var))
        if owner is None:
            results.append(_unserved(spec, stack, url))
        elif url.host == "localhost" and is_node(spec):
            result = _localhost(spec, url, owner)
            if result is not None:
                results.append(result)
    if not any(r.check == "env" for r in results):
        n = len(urls)
        summary = (
            f"{n} local URL{'s' if n != 1 else ''} in env, each served by the stack or a listener"
            if n
            else "no local URLs in env"
        )
        results.insert(0, CheckResult(spec.name, "env", "ok", summary))
    return results


def port_owners(stack: StackSpec) -> dict[int, ServiceSpec]:
    owners: dict[int, ServiceSpec] = {}
    for svc in stack.services.values():
        port = bind_address(svc)[1]
        for p in {port, svc.port}:
            if p is not None:
                owners.setdefault(p, svc)
    return owners


def is_listened(port: int) -> bool:
    try:
        return not ports.is_port_free(port, "127.0.0.1") or bool(ports.listeners(port))
    except DevstackError:
        return True  # cannot tell: do not accuse


def env_file_origins(spec: ServiceSpec, stack: StackSpec) -> dict[str, str]:
    """VAR -> "FILE:LINE" for the values the service got from its env files (the last
    file setting it wins, as it did when the env was merged); ``env =`` values are not here."""
    found: dict[str, str] = {}
    for path in spec.env_files:
        try:
            values = read_env_file(path)
        except OSError:
            continue
        lines = read_env_lines(path)
        name = shown(path, stack.root)
        for var, value in values.items():
            if spec.env.get(var) == value:
                line = lines.get(var, ("", 0))[1]
                found[var] = f"{name}:{line}" if line else name
            else:
                found.pop(var, None)
    return found


def _unserved(spec: ServiceSpec, stack: StackSpec, url: LocalUrl) -> CheckResult:
    where = f" ({url.where})" if url.where else ""
    summary = (
        f"{url.var}={url.value}{where} points at port {url.port}, which no service of the "
        "stack declares and nothing listens on"
    )
    details: list[str] = []
    fix = None
    # Written in stack.toml, stack.local.toml or an included file: that file and line.
    written = None if url.where is not None else where_set(stack, spec.name, ("env", url.var))
    likely = likely_service(spec, stack, url)
    if likely is not None:
        port = bind_address(likely)[1] or likely.port
        if likely.replica_of is not None:  # only the first copy has a reference
            meant = f"{likely.replica_of} (its first copy, {likely.name}: port {port})"
        else:
            meant = f"{likely.name} (port {port})"
        details.append(f"it most likely means {meant}")
        fix = _fix(spec, stack, url, likely, port, written)
    else:
        details.append(f"no service of the stack is known to serve {url.scheme}://")
    details.append(
        "a warning only: it may be meant for something outside the stack "
        "(a browser callback, a server started by hand)"
    )
    table = spec.replica_of or spec.name
    if not stack.from_procfile:
        details.append(f'to silence it: [services.{table}] check.env_ignore = ["{url.var}"]')
    file, line = (shown(written[0], stack.root), written[1]) if written else (None, None)
    return CheckResult(spec.name, "env", "warn", summary, tuple(details), fix, file=file, line=line)


def _fix(
    spec: ServiceSpec,
    stack: StackSpec,
    url: LocalUrl,
    likely: ServiceSpec,
    port: int | None,
    written: tuple[Path, int | None] | None = None,
) -> str:
    """The same value on ``likely``'s port, path and query kept, where it was set
    (``written``: the stack file and line, else stack.toml)."""
    where = url.where or (".env" if stack.from_procfile else None)
    if where is not None:  # an env file's line: literal, files are not interpolated
        literal = url.value[: url.port_start] + str(port) + url.value[url.end :]
        return f"in {where}: {url.var}={literal}"
    target = likely.replica_of or likely.name  # a copy's own name is no reference
    if url_protocol(url.scheme) == "http" and url.host_start == url.start + len(url.scheme) + 3:
        value = url.value[: url.start] + f"${{services.{target}.url}}" + url.value[url.end :]
    else:
        ref = f"${{services.{target}.port}}"
        value = url.value[: url.port_start] + ref + url.value[url.end :]
    place = shown(written[0], stack.root) if written is not None else "stack.toml"
    table = spec.replica_of or spec.name
    return f'in {place}: [services.{table}] env = {{ {url.var} = "{value}" }}'


def likely_service(spec: ServiceSpec, stack: StackSpec, url: LocalUrl) -> ServiceSpec | None:
    """The service the URL most likely means, among those speaking its scheme (none when
    no service surely does: a guess across protocols misleads more than it helps)."""
    protocol = url_protocol(url.scheme)
    if protocol is None:
        return None
    best: tuple[float, ServiceSpec] | None = None
    var = url.var.lower()
    for svc in stack.services.values():
        port = bind_address(svc)[1] or svc.port
        if port is None or protocol not in speaks(svc, stack) or (svc.replica or 1) > 1:
            continue  # a copy but the first: `${services.NAME.url}` is the first's
        score = 4.0 if svc.name in spec.depends_on else 0.0
        if any(part and part in var for part in re.split(r"[-_]", svc.name.lower())):
            score += 3.0
        score -= min(abs(port - url.port), 1000) / 1000
        if best is None or score > best[0]:
            best = (score, svc)
    return best[1] if best else None


def _localhost(spec: ServiceSpec, url: LocalUrl, owner: ServiceSpec) -> CheckResult | None:
    host = bind_address(owner)[0].strip("[]")
    if host not in ("127.0.0.1", "::1"):
        return None
    other = "::1 first (Node 17+)" if host == "127.0.0.1" else "127.0.0.1 for some clients"
    family_addr = f"[{'::1' if host == '127.0.0.1' else '127.0.0.1'}]:{url.port}"
    where = f" ({url.where})" if url.where else ""
    summary = (
        f"{url.var}={url.value}{where} uses localhost, but {owner.name} binds only {host}; "
        f"localhost resolves to {other}"
    )
    fixed = url.value.replace(f"localhost:{url.port}", f"{_url_host(host)}:{url.port}")
    fix = (
        f"in {url.where}: {url.var}={fixed}"  # a file holds no ${...}
        if url.where
        else f'{url.var} = "{fixed}" (or "${{services.{owner.name}.url}}")'
    )
    return CheckResult(
        spec.name,
        "localhost",
        "warn",
        summary,
        (f"clients then fail with connect ECONNREFUSED {family_addr} although {owner.name} is up",),
        fix,
    )


def _node_env_files(
    spec: ServiceSpec, declared: Mapping[str, str], ignored: Collection[str] = ()
) -> tuple[list[LocalUrl], list[CheckResult]]:
    """Local URLs in a Node frontend's env files, and lines there contradicting the stack."""
    if not (spec.cwd / "package.json").is_file():
        return [], []
    merged = node_env_values(spec.cwd, ignored)
    results = []
    for key, (value, where) in merged.items():
        if key in declared and declared[key] != value:
            results.append(
                CheckResult(
                    spec.name,
                    "env",
                    "warn",
                    f"{where} sets {key}={value}, but the stack sets {key}={declared[key]}",
                    (
                        "under devstack the stack's value wins (Next.js and Vite keep variables "
                        "already in the environment); run by hand, the file's value is used",
                    ),
                    f"remove {key} from {where.rsplit(':', 1)[0]} or make it agree",
                )
            )
    urls = local_urls(
        {k: v for k, (v, _) in merged.items()}, {k: w for k, (_, w) in merged.items()}
    )
    return urls, results


def node_env_values(folder: Path, ignored: Collection[str] = ()) -> dict[str, tuple[str, str]]:
    """KEY -> (value, "FILE:LINE") of the env files Next.js and Vite read in ``folder``,
    merged as they merge them (later files win)."""
    merged: dict[str, tuple[str, str]] = {}
    for name in NODE_ENV_FILES:
        for key, (value, line) in read_env_lines(folder / name).items():
            if key not in ignored:
                merged[key] = (value, f"{name}:{line}")
    return merged


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
