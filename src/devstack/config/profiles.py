"""Profiles: which services of a loaded stack a command starts.

A service with ``profiles = [...]`` is enabled only when one of them is active; one
without is always enabled. The active set (``--profile``, else ``DEVSTACK_PROFILES``)
is applied to the resolved stack after loading, so the spec cache stays one per file.
Naming services (``up SVC``) chooses them and what they depend on, whatever the profiles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.errors import ConfigError, ConfigProblem, UsageError
from devstack.spec import ServiceSpec, StackSpec, group_of

ENV = "DEVSTACK_PROFILES"


def known(stack: StackSpec) -> list[str]:
    """Every profile a service of ``stack`` names, in order of first appearance."""
    return list(dict.fromkeys(p for s in stack.services.values() for p in s.profiles))


def wanted(flags: Sequence[str] | None, environ: Mapping[str, str]) -> list[str]:
    """The profiles asked for: ``--profile`` flags, else ``DEVSTACK_PROFILES`` (commas)."""
    if flags:
        return list(dict.fromkeys(flags))
    return list(dict.fromkeys(p.strip() for p in environ.get(ENV, "").split(",") if p.strip()))


def activate(
    stack: StackSpec, flags: Sequence[str] | None, environ: Mapping[str, str]
) -> StackSpec:
    """``stack`` with the asked-for profiles active; a UsageError names an unknown one."""
    asked = wanted(flags, environ)
    names = known(stack)
    if not flags and not names:  # an exported DEVSTACK_PROFILES is for other stacks
        return stack
    for profile in asked:
        if profile not in names:
            source = "--profile" if flags else ENV
            raise UsageError(
                f"no profile named {profile!r} in {stack.file} (from {source})",
                hint=f"profiles: {', '.join(names)}"
                if names
                else 'no service has profiles; add profiles = ["NAME"] to one',
            )
    return dataclasses.replace(stack, profiles=tuple(asked))


def is_enabled(spec: ServiceSpec, active: Sequence[str]) -> bool:
    return not spec.profiles or any(p in active for p in spec.profiles)


def enabled(stack: StackSpec) -> list[str]:
    """The services the active profiles enable (with those that have none), in order."""
    return [n for n, s in stack.services.items() if is_enabled(s, stack.profiles)]


def disabled_reason(spec: ServiceSpec, active: Sequence[str]) -> str | None:
    """``profile worker`` for a service no active profile enables, else None."""
    if is_enabled(spec, active):
        return None
    return f"profile {' or '.join(spec.profiles)}"


def to_start(stack: StackSpec, names: Sequence[str]) -> list[str]:
    """What ``up`` starts: ``names`` (the supervisor adds what they need), else every
    enabled service. An enabled service that depends on a disabled one is a config error
    naming the profile to add (nothing names the dependency)."""
    if names:
        return list(names)
    chosen = enabled(stack)
    problems: list[ConfigProblem] = []
    for copy in chosen:
        for dep_copy in stack.services[copy].depends_on:
            if dep_copy in chosen:
                continue
            profiles = stack.services[dep_copy].profiles
            # Said of the services as written: every copy of one (replicas) says the same.
            name, dep = group_of(copy), group_of(dep_copy)
            problems.append(
                ConfigProblem(
                    *_where(stack, ("services", name, "depends_on", dep)),
                    f"services.{name}.depends_on.{dep}",
                    f"{dep!r} is enabled only by profile {' or '.join(profiles)}, "
                    "which is not active",
                    f"add --profile {profiles[0]} (or {ENV}={profiles[0]}), "
                    f"or name it: devstack up {name} {dep}",
                )
            )
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return chosen


def _where(stack: StackSpec, path: tuple[str, ...]) -> tuple[Path | None, int | None]:
    """The file and line of ``path`` (its files read again: only on the error path)."""
    from devstack.config.layers import read_again

    if stack.file is None or stack.from_procfile:
        return stack.file, None
    try:
        return read_again(stack).where(path)
    except ConfigError:
        return stack.file, None
