"""A variable the app needs when imported, and where else in the stack it is set.

The import probe (``probe_app.py``) names the variables an import failed for:
``os.environ["X"]``'s KeyError, a pydantic-settings field without a value (as the env
name it is read from, ``env_prefix`` included), the app's own "X is not set". This
looks for X where the service does not read it: another service's ``env`` table or
``env_file``, a ``.env`` beside stack.toml or in the service's cwd that no ``env_file``
names, and says how to give it to this service. Only read after an import failed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.checks.checkresult import CheckResult
from devstack.checks.command import shown
from devstack.checks.written import where_set
from devstack.config.envfile import read_env_file
from devstack.spec import ServiceSpec, StackSpec


@dataclass(frozen=True, slots=True)
class EnvNeed:
    """What the import check adds to its failure when the app lacks an env variable."""

    summary: str
    details: tuple[str, ...]
    fix: str
    kind: str  # "env-elsewhere": set in the stack, not for this service; "env-missing"
    file: str | None = None  # where the app reads it
    line: int | None = None

    def apply(self, result: CheckResult) -> CheckResult:
        # The exception's first line is enough (a ValidationError's field list follows
        # on its own lines): the lines below say which variable, in words.
        shown = tuple(d.splitlines()[0] if d else d for d in result.details)
        return dataclasses.replace(
            result,
            summary=f"{result.summary}: {self.summary}",
            details=(*shown, *self.details),
            fix=self.fix,
            kind=self.kind,
            file=self.file,
            line=self.line,
        )


@dataclass(frozen=True, slots=True)
class _Place:
    text: str  # "services.db.env (stack.toml:9)", ".env:1, read by db (env_file)"
    file: Path | None  # an env file this service could read; None: a service's env table


def env_needed(
    error: Mapping[str, Any], spec: ServiceSpec, stack: StackSpec | None
) -> EnvNeed | None:
    """The missing variable's diagnosis, or None when the error is not about one."""
    needed = [n for n in error.get("env") or () if isinstance(n, dict) and n.get("name")]
    frame = error.get("frame") or {}
    file = shown(Path(frame["file"]), spec.cwd) if frame.get("file") else None
    line = frame.get("line") if isinstance(frame.get("line"), int) else None
    for need in needed:
        name = str(need["name"])
        how = str(need.get("how"))
        settings = how == "settings"
        if _value(spec.env, name, settings) is not None:
            continue  # the service has it: the error is about something else
        places = list(_places(name, spec, stack, settings))
        said = _how_read(need, name, spec)
        if places:
            found = _elsewhere(name, said, places, spec, stack)
            return dataclasses.replace(found, file=file, line=line)
        if how == "key":
            return None  # a KeyError on some mapping: not certainly the environment
        return EnvNeed(
            f"{name} is not set",
            (said, f"{name} is set nowhere in the stack (no service's env or env_file, no .env)"),
            f'set it for {spec.name}: env = {{ {name} = "..." }} in [services.{spec.name}], '
            "or in an env_file" + (f" ({file}:{line} fails without it)" if file and line else ""),
            "env-missing",
            file,
            line,
        )
    return None


def _how_read(need: Mapping[str, Any], name: str, spec: ServiceSpec) -> str:
    if need.get("how") == "settings":
        return (
            f"{need.get('model')} (pydantic-settings) has no value for its field "
            f"{need.get('field')!r}, read from {name}; {spec.name}'s env does not set it"
        )
    if need.get("how") == "key":  # a KeyError on some mapping: say no more than is known
        return (
            f"the app looked {name} up when imported and it was not there; "
            f"{spec.name}'s env lacks it too"
        )
    return f"the app reads {name} from its environment when imported; {spec.name}'s env lacks it"


def _elsewhere(
    name: str, said: str, places: Sequence[_Place], spec: ServiceSpec, stack: StackSpec | None
) -> EnvNeed:
    details = [said, *(f"{name} is set in {p.text}" for p in places)]
    files = [p.file for p in places if p.file is not None]
    if files:
        root = stack.root if stack is not None else spec.cwd
        # env_file is relative to stack.toml; a list keeps the files the service reads.
        wanted = [shown(f, root) for f in (*spec.env_files, files[0])]
        value = (
            f'"{wanted[0]}"'
            if len(wanted) == 1
            else "[" + ", ".join(f'"{w}"' for w in wanted) + "]"
        )
        fix = f"env_file = {value} in [services.{spec.name}]"
    else:
        fix = (
            f"add {name} to [services.{spec.name}] env as well (or move it to an env_file "
            f"both services read)"
        )
    return EnvNeed(f"{name} is not set for {spec.name}", tuple(details), fix, "env-elsewhere")


def _places(
    name: str, spec: ServiceSpec, stack: StackSpec | None, settings: bool
) -> Iterator[_Place]:
    """Where ``name`` is set in the stack but not for ``spec``."""
    read = {f.resolve() for f in spec.env_files}  # and those named already
    if stack is not None:
        for other in stack.services.values():
            if other.name == spec.name or _value(other.env, name, settings) is None:
                continue
            place = _place_in(other, name, stack, settings)
            if place.file is not None:
                read.add(place.file.resolve())
            yield place
    for folder in dict.fromkeys(d for d in (stack.root if stack else None, spec.cwd) if d):
        dotenv = folder / ".env"
        if dotenv.resolve() in read or not dotenv.is_file():
            continue
        line = _line_in_env_file(dotenv, name, settings)
        if line is not None:
            where = shown(dotenv, stack.root if stack else spec.cwd)
            yield _Place(f"{where}:{line}, which {spec.name} does not read", dotenv)


def _place_in(other: ServiceSpec, name: str, stack: StackSpec, settings: bool) -> _Place:
    """Which of ``other``'s layers sets ``name``: its env table wins over its env files."""
    written = where_set(stack, other.name, ("env", name))
    if written is not None:
        file, line = written
        where = shown(file, stack.root) + (f":{line}" if line is not None else "")
        return _Place(f"services.{other.name}.env ({where})", None)
    for path in reversed(other.env_files):
        found = _line_in_env_file(path, name, settings)
        if found is not None:
            where = shown(path, stack.root)
            return _Place(f"{where}:{found}, read by {other.name} (env_file)", path)
    return _Place(f"services.{other.name}'s environment", None)


def _line_in_env_file(path: Path, name: str, settings: bool) -> int | None:
    try:
        variables = read_env_file(path)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if _value(variables, name, settings) is None:
        return None
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(name)}\s*=", re.I if settings else 0)
    return next((n for n, line in enumerate(lines, 1) if pattern.match(line)), 1)


def _value(env: Mapping[str, str], name: str, settings: bool) -> str | None:
    """``env[name]``; pydantic-settings matches names without regard to case by default."""
    if name in env:
        return env[name]
    if settings:
        upper = name.upper()
        return next((v for k, v in env.items() if k.upper() == upper), None)
    return None
