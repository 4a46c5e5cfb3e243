"""``${...}`` references in stack.toml values. Pure: no pydantic, no I/O.

Applies to ``cmd``, ``env`` values, ``url`` and ``health.http`` / ``health.cmd`` /
``health.tcp``. The rules, exactly:

``${port}`` ``${host}`` ``${url}`` ``${name}``
    This service's port, host, url and name. ``${port}`` / ``${url}`` on a service
    without a port (or url) is an error. In a copy of a service with ``replicas``,
    its own: ``worker.2``, the second port.
``${replica}``
    The copy's number (1..N) in a service with ``replicas``; elsewhere an error.
``${services.NAME.port}`` ``.host`` ``.url`` ``.name``
    Another service's value (or this one's).
``${env:VAR}`` / ``${env:VAR:-default}``
    VAR from devstack's environment plus the env files in play. Unset without a
    default is an error. (The service's own ``env`` table is not consulted: it is
    what is being built.)
``$$``
    A literal ``$``: ``$${HOME}`` reaches the program (or its shell) as ``${HOME}``.
``${ANYTHING_ELSE}``
    An error. An upper-case name like ``${PORT}`` gets a hint: ``$${PORT}`` to leave
    it to the shell, or ``${env:PORT}`` to take devstack's value. Other names get
    "unknown reference" with the nearest valid reference suggested.
bare ``$NAME`` (no braces)
    Passed through untouched when the value goes through a shell (``shell = true``
    commands); elsewhere an error, since nothing would expand it (hint: ``$$NAME``
    for a literal, ``${env:NAME}`` for the value). A ``$`` not followed by a name,
    ``{`` or ``$`` (as in ``"cost: $5"`` or a trailing ``$``) is always literal.

Substituted values are inserted as they are: they are not themselves interpolated.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FIELDS = ("url", "port", "host", "name")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHELLISH = re.compile(r"[A-Z_][A-Z0-9_]*")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class InterpolationError(ValueError):
    """A reference that cannot be resolved; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ServiceRefs:
    """What other values may refer to in one service."""

    name: str
    host: str
    port: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a reference can resolve to, seen from service ``this``."""

    this: str
    services: Mapping[str, ServiceRefs]
    env: Mapping[str, str] = field(default_factory=dict)
    shell: bool = False  # the value goes through /bin/sh: bare $VAR is the shell's
    urls_known: bool = True  # False while urls themselves are being resolved
    replica: int | None = None  # the copy's number, in a service with replicas


def interpolate(text: str, ctx: Context) -> str:
    """``text`` with every reference replaced; InterpolationError on the first bad one."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise InterpolationError(
                    f"unterminated reference {text[i:]!r}",
                    hint="close it with '}' or write $$ for a $",
                )
            out.append(_resolve(text[i + 2 : end], ctx))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if match and not ctx.shell:
                var = match.group(0)
                raise InterpolationError(
                    f"${var} is not expanded here (no shell runs this value)",
                    hint=f"write ${{env:{var}}} for the value of {var}, or $${var} for a literal $",
                )
            out.append("$")
            i += 1
    return "".join(out)


def _resolve(ref: str, ctx: Context) -> str:
    env = _ENV.fullmatch(ref)
    if env:
        var, default = env.group(1), env.group(2)
        if var in ctx.env:
            return ctx.env[var]
        if default is not None:
            return default
        raise InterpolationError(
            f"${{{ref}}}: {var} is not set in the environment or the env files",
            hint=f"set {var}, add it to an env_file, or write ${{env:{var}:-default}}",
        )
    if ref == "replica":
        if ctx.replica is None:
            where = f"service {ctx.this!r} has" if ctx.this in ctx.services else "there are"
            raise InterpolationError(
                f"${{replica}}: {where} no replicas",
                hint="set replicas = N on the service (its copies are numbered 1..N)",
            )
        return str(ctx.replica)
    if ref in FIELDS:
        if ctx.this not in ctx.services:  # a value outside any service ([[smoke]])
            raise InterpolationError(
                f"${{{ref}}} needs a service here",
                hint=f"write ${{services.NAME.{ref}}}",
            )
        return _field(ctx.this, ref, ctx, f"${{{ref}}}")
    parts = ref.split(".")
    if len(parts) == 3 and parts[0] == "services":
        _, name, attr = parts
        if name not in ctx.services:
            guess = _closest(name, ctx.services)
            raise InterpolationError(
                f"unknown reference ${{{ref}}}"
                + (f"; did you mean ${{services.{guess}.{attr}}}?" if guess else "")
                + ("" if guess else f"; no service is named {name!r}")
            )
        if attr not in FIELDS:
            guess = _closest(attr, FIELDS)
            raise InterpolationError(
                f"unknown reference ${{{ref}}}"
                + (f"; did you mean ${{services.{name}.{guess}}}?" if guess else ""),
                hint="a service has: " + ", ".join(FIELDS),
            )
        return _field(name, attr, ctx, f"${{{ref}}}")
    if _SHELLISH.fullmatch(ref):
        raise InterpolationError(
            f"${{{ref}}} is not a devstack reference",
            hint=f"write $${{{ref}}} to leave it to the program or shell, "
            f"or ${{env:{ref}}} for devstack's value",
        )
    guess = _closest(ref, _known(ctx))
    raise InterpolationError(
        f"unknown reference ${{{ref}}}" + (f"; did you mean ${{{guess}}}?" if guess else ""),
        hint="references are ${port} ${host} ${url} ${name} ${replica}, "
        "${services.NAME.url|port|host}, ${env:VAR}; $$ is a literal $",
    )


def _field(name: str, attr: str, ctx: Context, shown: str) -> str:
    svc = ctx.services[name]
    if attr == "name":
        return svc.name
    if attr == "host":
        return svc.host
    if attr == "port":
        if svc.port is None:
            raise InterpolationError(
                f"{shown}: service {name!r} has no port", hint=f"declare services.{name}.port"
            )
        return str(svc.port)
    if not ctx.urls_known:
        raise InterpolationError(f"{shown}: a url cannot refer to a url")
    if svc.url is None:
        raise InterpolationError(
            f"{shown}: service {name!r} has no url", hint=f"declare services.{name}.port or .url"
        )
    return svc.url


def _known(ctx: Context) -> list[str]:
    known = [*FIELDS, "replica"]
    for name in ctx.services:
        if "." in name:  # a copy (worker.2): referred to through its service
            continue
        known += [f"services.{name}.{attr}" for attr in FIELDS]
    return known


def _closest(word: str, options: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None
