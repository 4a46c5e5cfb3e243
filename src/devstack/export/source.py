"""What the exporters read: the resolved stack, and each service as written in stack.toml
(its layers and included files merged as the stack is).

The resolved ``StackSpec`` has every ``${...}`` replaced with local values
(``http://127.0.0.1:5000``); an exporter that moves the stack elsewhere (compose)
needs the text as written to put its own values in, so both are kept. A Procfile
has no such text: its services are plain shell lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from devstack.config import load_stack
from devstack.config.layers import read_again
from devstack.config.load import read_document
from devstack.config.model import ServiceModel
from devstack.spec import ServiceSpec, StackSpec
from devstack.stackfile import FileArg

# ``$$`` first, so an escaped ``$${env:X}`` (a literal) is never taken for a reference.
_ENV_REF = re.compile(r"\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ExportSource:
    stack: StackSpec
    written: Mapping[str, ServiceModel] = field(default_factory=dict)  # empty for a Procfile
    environ: Mapping[str, str] = field(default_factory=dict)  # devstack's environment at export

    @property
    def root(self) -> Path:
        return self.stack.root

    def written_of(self, spec: ServiceSpec) -> ServiceModel | None:
        """The table ``spec`` was resolved from (a copy's: its service's); None: a Procfile."""
        return self.written.get(spec.replica_of or spec.name)

    def declared_env(self, spec: ServiceSpec) -> dict[str, str]:
        """The service's ``env`` table, resolved (not the inherited environment, not PORT)."""
        written = self.written_of(spec)
        keys = written.env if written is not None else {}
        return {k: spec.env[k] for k in keys if k in spec.env}

    def env_files(self, name: str) -> list[str]:
        """The env files the service reads, relative to the stack's directory when inside it."""
        return [relative(p, self.root) for p in self.stack.services[name].env_files]


def load_source(
    file: FileArg | Sequence[FileArg] | None, environ: Mapping[str, str] | None = None
) -> ExportSource:
    """The stack of ``file`` (stack.toml or Procfile; several files merged; none: found
    here, with stack.local.toml), validated as ``devstack up`` would."""
    env = dict(os.environ if environ is None else environ)
    stack = load_stack(file, environ=env)
    if stack.from_procfile:
        return ExportSource(stack, {}, env)
    # The same files, includes and merge as the stack (valid: load_stack said so).
    document = read_document(read_again(stack))
    return ExportSource(stack, dict(document.services), env)


def replica_groups(stack: StackSpec) -> dict[str, list[ServiceSpec]]:
    """Each service with replicas and its copies, in order."""
    groups: dict[str, list[ServiceSpec]] = {}
    for spec in stack.services.values():
        if spec.replica_of is not None:
            groups.setdefault(spec.replica_of, []).append(spec)
    return groups


def copies_alike(copies: list[ServiceSpec]) -> bool:
    """Every copy is the first but for its name and number: no port of its own, no
    ``${replica}`` or ``${name}`` in a value. Then a runner's own count can run them."""
    first = copies[0]
    return all(replace(c, name=first.name, replica=first.replica) == first for c in copies[1:])


def split_env_refs(text: str) -> tuple[str, list[tuple[str, str | None]]]:
    """``text`` with each ``${env:VAR[:-default]}`` replaced by a ``\\0N\\0`` placeholder."""
    found: list[tuple[str, str | None]] = []

    def keep(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)
        found.append((match.group(1), match.group(2)))
        return f"\0{len(found) - 1}\0"

    return _ENV_REF.sub(keep, text), found


def join_env_refs(
    text: str, found: list[tuple[str, str | None]], render: Callable[[str, str | None], str]
) -> str:
    """Each placeholder of :func:`split_env_refs` replaced by ``render(var, default)``."""
    for index, (var, default) in enumerate(found):
        text = text.replace(f"\0{index}\0", render(var, default))
    return text


def relative(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return str(path)
    return "." if str(rel) == "." else f"./{rel}"
