"""Env wiring: local URLs in a service's env that point at nothing, and localhost vs ::1.

Only the values the stack sets are read (a value equal to devstack's own
environment was inherited, not wired). For a Node frontend, the env files its
framework reads (Next.js, Vite) are read too, with their line numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import ports
from devstack.checks.ports import bind_address
from devstack.checks.result import CheckResult
from devstack.errors import DevstackError
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


def declared_env(spec: ServiceSpec, environ: Mapping[str, str]) -> dict[str, str]:
    """Env values the stack sets (inherited ones, equal to ``environ``'s, left out)."""
    return {k: v for k, v in spec.env.items() if environ.get(k) != v and k != "PORT"}


def local_urls(env: Mapping[str, str], where: Mapping[str, str] | None = None) -> list[LocalUrl]:
    found = []
    for var, value in env.items():
        for m in _LOCAL_URL.finditer(value):
            host = m.group(2).strip("[]").lower()
            found.append(LocalUrl(var, value, host, int(m.group(3)), (where or {}).get(var)))
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
    """The env and localhost checks of one service."""
    environ = os.environ if environ is None else environ
    declared = declared_env(spec, environ)
    results: list[CheckResult] = []
    urls = local_urls(declared)
    file_values, contradictions = _node_env_files(spec, declared)
    results += contradictions
    urls += [u for u in file_values if u.var not in declared]
    # Only with URLs to match: every service's bind address, for each of 40 services, is O(n^2).
    owners = _port_owners(stack) if urls else {}
    for url in urls:
        owner = owners.get(url.port)
        if owner is None:
            result = _unserved(spec, stack, url)
            if result is not None:
                results.append(result)
        elif url.host == "localhost":
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


def _port_owners(stack: StackSpec) -> dict[int, ServiceSpec]:
    owners: dict[int, ServiceSpec] = {}
    for svc in stack.services.values():
        port = bind_address(svc)[1]
        for p in {port, svc.port}:
            if p is not None:
                owners.setdefault(p, svc)
    return owners


def _is_listened(port: int) -> bool:
    try:
        return not ports.is_port_free(port, "127.0.0.1") or bool(ports.listeners(port))
    except DevstackError:
        return True  # cannot tell: do not accuse


def _unserved(spec: ServiceSpec, stack: StackSpec, url: LocalUrl) -> CheckResult | None:
    if _is_listened(url.port):
        return None
    where = f"{url.where} sets " if url.where else ""
    summary = (
        f"{where}{url.var}={url.value} points at port {url.port}, which no service of the "
        "stack declares and nothing listens on"
    )
    details: list[str] = []
    fix = None
    likely = _likely_service(spec, stack, url)
    if likely is not None:
        details.append(f"it most likely means {likely.name} (port {likely.port})")
        fix = f'{url.var} = "${{services.{likely.name}.url}}"'
        details.append(f"in stack.toml: [services.{spec.name}] env = {{ {fix} }}")
    return CheckResult(spec.name, "env", "fail", summary, tuple(details), fix)


def _likely_service(spec: ServiceSpec, stack: StackSpec, url: LocalUrl) -> ServiceSpec | None:
    best: tuple[float, ServiceSpec] | None = None
    var = url.var.lower()
    for svc in stack.services.values():
        if svc.name == spec.name or svc.port is None:
            continue
        score = 4.0 if svc.name in spec.depends_on else 0.0
        if any(part and part in var for part in re.split(r"[-_]", svc.name.lower())):
            score += 3.0
        score -= min(abs(svc.port - url.port), 1000) / 1000
        if best is None or score > best[0]:
            best = (score, svc)
    return best[1] if best else None


def _localhost(spec: ServiceSpec, url: LocalUrl, owner: ServiceSpec) -> CheckResult | None:
    host = bind_address(owner)[0].strip("[]")
    if host not in ("127.0.0.1", "::1"):
        return None
    other = "::1 first (Node 17+)" if host == "127.0.0.1" else "127.0.0.1 for some clients"
    family_addr = f"[{'::1' if host == '127.0.0.1' else '127.0.0.1'}]:{url.port}"
    summary = (
        f"{url.var}={url.value} uses localhost, but {owner.name} binds only {host}; "
        f"localhost resolves to {other}"
    )
    fixed = url.value.replace(f"localhost:{url.port}", f"{_url_host(host)}:{url.port}")
    return CheckResult(
        spec.name,
        "localhost",
        "warn",
        summary,
        (f"clients then fail with connect ECONNREFUSED {family_addr} although {owner.name} is up",),
        f'{url.var} = "{fixed}" (or "${{services.{owner.name}.url}}")',
    )


def _node_env_files(
    spec: ServiceSpec, declared: Mapping[str, str]
) -> tuple[list[LocalUrl], list[CheckResult]]:
    """Local URLs in a Node frontend's env files, and lines there contradicting the stack."""
    if not (spec.cwd / "package.json").is_file():
        return [], []
    merged: dict[str, tuple[str, str]] = {}  # key -> (value, "file:line"); later files win
    for name in NODE_ENV_FILES:
        for key, (value, line) in read_env_lines(spec.cwd / name).items():
            merged[key] = (value, f"{name}:{line}")
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
