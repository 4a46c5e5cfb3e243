"""The proxy check: a frontend's own hard-coded backend address (next.config rewrites,
Vite's ``server.proxy``) that points where no backend of the stack is.

The incident's chain ran through such a line: ``destination: 'http://127.0.0.1:5328/...'``
while the backend served another port, and every API call answered 500 ECONNREFUSED.
A target is warned about when its port is one no service declares and nothing listens
on, when it is the frontend's own port (the proxy would call itself), or when it is
the port of a service that speaks another protocol (postgres, redis). A warning, not a
failure: the address may be meant for something outside the stack. A literal that is
only the fallback of an environment variable the stack (or, for Next.js, its env
files) sets is not used, and not judged. The suggestion is the address through the
environment: ``BACKEND_URL = "${services.backend.url}"`` in the service's env and
``process.env.BACKEND_URL`` in the config. Local URLs in the frontend's ``.env*``
files are the env check's (``envwiring``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from devstack.checks.checkresult import CheckResult, crashed
from devstack.checks.command import shown
from devstack.checks.envwiring import (
    LocalUrl,
    is_listened,
    likely_service,
    local_urls,
    node_env_values,
    port_owners,
)
from devstack.checks.nodesetup import invocation
from devstack.checks.ports import bind_address
from devstack.checks.protocols import is_node, speaks, url_protocol
from devstack.project.frontendconfig import ProxyTarget, proxy_targets
from devstack.spec import ServiceSpec, StackSpec

CHECK = "proxy"


def check_proxy(spec: ServiceSpec, stack: StackSpec) -> list[CheckResult]:
    """The proxy check of ``spec`` (nothing for a service that is not a Node frontend)."""
    try:
        return _check_proxy(spec, stack)
    except Exception as exc:  # any bug here is devstack's, told in one line
        return [crashed(spec.name, CHECK, exc)]


def _check_proxy(spec: ServiceSpec, stack: StackSpec) -> list[CheckResult]:
    if not is_node(spec):
        return []
    run = invocation(spec)
    folder = run.folder if run is not None else spec.cwd
    targets = proxy_targets(folder)
    env_values = node_env_values(folder, spec.check_env_ignore)
    env_targets = [
        _env_target(folder, url)
        for url in local_urls(
            {k: v for k, (v, _) in env_values.items()}, {k: w for k, (_, w) in env_values.items()}
        )
        if url.var not in spec.env  # the stack's value wins
    ]
    if not targets and not env_targets:
        return []
    set_vars = set(spec.env)
    if any(t.file.name.startswith("next.config") for t in targets):
        set_vars.update(env_values)  # Next.js loads its env files before it reads next.config
    owners = port_owners(stack)
    results = []
    judged = 0
    for target in targets:
        if target.env_var is not None and target.env_var in set_vars:
            continue
        judged += 1
        result = _judge(spec, stack, target, owners.get(target.port))
        if result is not None:
            results.append(result)
    for target in env_targets:
        # A port nothing serves is the env check's; the frontend's own is often meant
        # (NEXTAUTH_URL): only another service's, the wrong one, is this check's.
        owner = owners.get(target.port)
        if owner is not None and owner.name != spec.name:
            result = _judge(spec, stack, target, owner)
            if result is not None:
                results.append(result)
    if not results and judged:
        where = ", ".join(sorted({t.file.name for t in targets}))
        summary = f"{judged} proxy target{'s' if judged != 1 else ''} in {where}, each a service's"
        results.append(CheckResult(spec.name, CHECK, "ok", summary))
    return results


def _env_target(folder: Path, url: LocalUrl) -> ProxyTarget:
    """A local URL of an env file's line, as a target (its variable is the key)."""
    where = url.where or ""
    name, _, line = where.rpartition(":")
    return ProxyTarget(
        folder / name,
        int(line or 0),
        url.value[url.start :].split()[0] if url.value[url.start :].split() else url.value,
        url.scheme,
        url.host,
        url.port,
        None,
        url.var,
    )


def _judge(
    spec: ServiceSpec, stack: StackSpec, target: ProxyTarget, owner: ServiceSpec | None
) -> CheckResult | None:
    others = {n: s for n, s in stack.services.items() if n != spec.name}
    url = LocalUrl(
        target.route or target.key, target.url, target.host, target.port, scheme=target.scheme
    )
    likely = likely_service(spec, dataclasses.replace(stack, services=others), url)
    sends = _sends(target)
    if owner is None:
        if is_listened(target.port):
            return None  # something outside the stack serves it
        seen = f"port {target.port}, which no service of the stack declares and nothing listens on"
    elif owner.name == spec.name:
        seen = f"port {target.port}, {spec.name}'s own port: the proxy would call itself"
    else:
        protocols = speaks(owner, stack)
        if protocols and "http" not in protocols and url_protocol(target.scheme) == "http":
            seen = (
                f"port {target.port}, which is {owner.name}'s, and {owner.name} speaks "
                f"{'/'.join(sorted(protocols))}, not http"
            )
        elif (
            likely is not None
            and likely.name != owner.name
            and likely.name in spec.depends_on
            and owner.name not in spec.depends_on
        ):
            seen = (
                f"port {target.port}, which is {owner.name}'s, though {spec.name} depends on "
                f"{likely.name}, not {owner.name}"
            )
        else:
            return None
    file = shown(target.file, stack.root)
    details = []
    if likely is not None:
        port = bind_address(likely)[1] or likely.port
        details.append(f"it most likely means {likely.name} (port {port})")
    else:
        details.append(f"no other service of the stack is known to serve {target.scheme}://")
    details.append(
        "a warning only: it may be meant for something outside the stack (a server started by hand)"
    )
    if not stack.from_procfile:
        details.append(f"to silence it: [services.{spec.name}] check.proxy = false")
    return CheckResult(
        spec.name,
        CHECK,
        "warn",
        f"{file}:{target.line} {sends} {target.url}: {seen}",
        tuple(details),
        proxy_fix(spec, target, likely, file) if likely is not None else None,
        kind="frontend-proxy",
        file=file,
        line=target.line,
    )


def _sends(target: ProxyTarget) -> str:
    if target.key == "destination":
        return f"rewrites {target.route or 'requests'} to"
    if target.route is not None:
        return f"proxies {target.route} to"
    return f"sets {target.key} to" if target.key != "target" else "proxies to"


def proxy_fix(spec: ServiceSpec, target: ProxyTarget, likely: ServiceSpec, file: str) -> str:
    """The address through an env variable the stack sets from ``likely``'s url."""
    var = target.env_var
    if var is not None and var.endswith("PORT") and not target.file.name.startswith(".env"):
        # `${process.env.FLASK_PORT || 5328}`: the config reads the port already.
        port = f'{var} = "${{services.{likely.name}.port}}"'
        return (
            f"in stack.toml: [services.{spec.name}] env = {{ {port} }} "
            f"({file}:{target.line} reads process.env.{var})"
        )
    if var is None or var.endswith("PORT"):
        var = target.key if re.fullmatch(r"[A-Z][A-Z0-9_]*", target.key) else None
    var = var or re.sub(r"[^A-Z0-9]+", "_", likely.name.upper()) + "_URL"
    rest = _after_port(target.url)
    if target.file.name.startswith(".env"):  # a dotenv line: the stack's env wins over it
        value = f"${{services.{likely.name}.url}}{rest}"
        return (
            f'in stack.toml: [services.{spec.name}] env = {{ {target.key} = "{value}" }} '
            f"(it wins over {file}:{target.line}), or correct that line"
        )
    if target.url.startswith("http"):
        stack_side = f'{var} = "${{services.{likely.name}.url}}"'
    else:  # ws://: the port alone keeps the scheme
        stack_side = f'{var} = "{target.scheme}://127.0.0.1:${{services.{likely.name}.port}}"'
    if var == target.env_var:  # the config reads it already: only the stack must set it
        return (
            f"in stack.toml: [services.{spec.name}] env = {{ {stack_side} }} "
            f"({file}:{target.line} reads process.env.{var})"
        )
    config = f"`${{process.env.{var}}}{rest}`" if rest else f"process.env.{var}"
    key = f"'{target.key}'" if target.key[:1] in "/^" else target.key
    return (
        f"in stack.toml: [services.{spec.name}] env = {{ {stack_side} }}; "
        f"in {file}:{target.line}: {key}: {config}"
    )


def _after_port(url: str) -> str:
    """``/api/:path*`` of ``http://127.0.0.1:5328/api/:path*``."""
    match = re.match(r"[a-z]+://[^/]+(.*)$", url)
    return match.group(1) if match else ""
