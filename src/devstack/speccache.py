"""A cache of the resolved stack, so ``up`` skips validating it when nothing changed.

Validating stack.toml (the config package's imports, tomllib, the resolution: env
files, venvs, interpolation, commands) costs ~100-130 ms in a fresh process on a
small machine, ~40 ms for 40 services after the supervisor's imports; pydantic is
imported only for an invalid file (``config.shape``). The resolved ``StackSpec`` is kept
as JSON in ``.devstack/spec-cache.json`` with what it was made from: the stack
file's bytes, every env file's bytes, the whole process environment and devstack's
version. Any difference, or a ``cwd`` that no longer exists, is a miss and the
config is validated again, so a hit is exactly what validation would give.
Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack import __version__
from devstack.spec import HealthSpec, RestartSpec, ServiceSpec, SmokeSpec, StackSpec
from devstack.states import Condition, RestartPolicy
from devstack.venv import find_venv

# 5: watch keys; 6: setup_timeout; 7: contents kept, not their sha256; 8: http_every;
# 9: check_off; 10: state
_FORMAT = 10


# The inputs are kept whole and compared whole, not digested: exact, and hashlib's
# import (OpenSSL's, ~5 ms) is not on `up`'s path. They are a few kB; the spec beside
# them holds every service's whole environment anyway (the file is 0600).
def _file_content(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _inputs(file: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "version": __version__,
        "file": str(file),
        "file_content": _file_content(file),
        "environ": [[name, value] for name, value in sorted(environ.items())],  # as JSON reads it
    }


def load(cache: Path, file: Path, environ: Mapping[str, str]) -> StackSpec | None:
    """The cached spec of ``file``, or None when anything it was made from changed."""
    try:
        data = json.loads(cache.read_bytes())
        if data["inputs"] != _inputs(file, environ):
            return None
        for name, content in data["env_files"].items():
            if _file_content(Path(name)) != content:
                return None
        spec = _stack_from_json(data["spec"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(s.cwd.is_dir() for s in spec.services.values()):
        return None
    # A venv made since (by a setup step) changes the service's PATH: validate again.
    if any(s.venv is None and find_venv(s.cwd) is not None for s in spec.services.values()):
        return None
    return spec


def save(cache: Path, file: Path, environ: Mapping[str, str], spec: StackSpec) -> None:
    """Keep ``spec`` for the next run; a failure to write only costs that run time."""
    env_files = {str(p) for s in spec.services.values() for p in s.env_files}
    data = {
        "inputs": _inputs(file, environ),
        "env_files": {name: _file_content(Path(name)) for name in sorted(env_files)},
        "spec": _stack_to_json(spec),
    }
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))  # dumps has the C encoder; dump streams in Python
        os.replace(tmp, cache)


def _stack_to_json(spec: StackSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "root": str(spec.root),
        "file": None if spec.file is None else str(spec.file),
        "from_procfile": spec.from_procfile,
        "state": str(spec.state_dir()),
        "services": [_service_to_json(s) for s in spec.services.values()],
        "smoke": [_smoke_to_json(s) for s in spec.smoke],
    }


def _smoke_to_json(s: SmokeSpec) -> dict[str, Any]:
    return {
        "name": s.name,
        "method": s.method,
        "url": s.url,
        "headers": dict(s.headers),
        "body": s.body,
        "is_json": s.is_json,
        "expect_status": list(s.expect_status),
        "body_contains": list(s.body_contains),
        "body_not_contains": list(s.body_not_contains),
        "json_contains": s.json_contains,
        "timeout": s.timeout,
        "log_service": s.log_service,
        "log_contains": s.log_contains,
    }


def _smoke_from_json(d: dict[str, Any]) -> SmokeSpec:
    return SmokeSpec(
        name=d["name"],
        method=d["method"],
        url=d["url"],
        headers=dict(d["headers"]),
        body=d["body"],
        is_json=d["is_json"],
        expect_status=tuple(d["expect_status"]),
        body_contains=tuple(d["body_contains"]),
        body_not_contains=tuple(d["body_not_contains"]),
        json_contains=d["json_contains"],
        timeout=d["timeout"],
        log_service=d["log_service"],
        log_contains=d["log_contains"],
    )


def _service_to_json(s: ServiceSpec) -> dict[str, Any]:
    health = None
    if s.health is not None:
        h = s.health
        health = {
            "kind": h.kind,
            "target": h.target,
            "interval": h.interval,
            "timeout": h.timeout,
            "retries": h.retries,
            "start_period": h.start_period,
            "expect_status": list(h.expect_status),
            "start_interval": h.start_interval,
            "http_every": h.http_every,
        }
    r = s.restart
    return {
        "name": s.name,
        "cmd": s.cmd,
        "argv": list(s.argv),
        "cwd": str(s.cwd),
        "env": dict(s.env),
        "port": s.port,
        "host": s.host,
        "url": s.url,
        "depends_on": {k: v.value for k, v in s.depends_on.items()},
        "health": health,
        "restart": {
            "policy": r.policy.value,
            "max_restarts": r.max_restarts,
            "backoff": r.backoff,
            "backoff_max": r.backoff_max,
            "reset_after": r.reset_after,
        },
        "stop_signal": int(s.stop_signal),
        "stop_timeout": s.stop_timeout,
        "restart_on_unhealthy": s.restart_on_unhealthy,
        "shell": s.shell,
        "env_files": [str(p) for p in s.env_files],
        "check_import": s.check_import,
        "check_cmds": list(s.check_cmds),
        "check_off": list(s.check_off),
        "check_env_ignore": list(s.check_env_ignore),
        "venv": None if s.venv is None else str(s.venv),
        "setup": s.setup,
        "setup_inputs": list(s.setup_inputs),
        "setup_timeout": s.setup_timeout,
        "watch": list(s.watch),
        "watch_ignore": list(s.watch_ignore),
        "watch_debounce": s.watch_debounce,
        "watch_force": s.watch_force,
        "restart_dependents_on_change": s.restart_dependents_on_change,
    }


def _stack_from_json(d: dict[str, Any]) -> StackSpec:
    services = [_service_from_json(s) for s in d["services"]]
    return StackSpec(
        name=d["name"],
        root=Path(d["root"]),
        file=None if d["file"] is None else Path(d["file"]),
        services={s.name: s for s in services},
        from_procfile=d["from_procfile"],
        smoke=tuple(_smoke_from_json(s) for s in d["smoke"]),
        state=Path(d["state"]),
    )


def _service_from_json(d: dict[str, Any]) -> ServiceSpec:
    h = d["health"]
    health = None
    if h is not None:
        health = HealthSpec(
            kind=h["kind"],
            target=h["target"],
            interval=h["interval"],
            timeout=h["timeout"],
            retries=h["retries"],
            start_period=h["start_period"],
            expect_status=tuple(h["expect_status"]),
            start_interval=h["start_interval"],
            http_every=h["http_every"],
        )
    r = d["restart"]
    return ServiceSpec(
        name=d["name"],
        cmd=d["cmd"],
        argv=tuple(d["argv"]),
        cwd=Path(d["cwd"]),
        env=dict(d["env"]),
        port=d["port"],
        host=d["host"],
        url=d["url"],
        depends_on={k: Condition(v) for k, v in d["depends_on"].items()},
        health=health,
        restart=RestartSpec(
            policy=RestartPolicy(r["policy"]),
            max_restarts=r["max_restarts"],
            backoff=r["backoff"],
            backoff_max=r["backoff_max"],
            reset_after=r["reset_after"],
        ),
        stop_signal=signal.Signals(d["stop_signal"]),
        stop_timeout=d["stop_timeout"],
        restart_on_unhealthy=d["restart_on_unhealthy"],
        shell=d["shell"],
        env_files=tuple(Path(p) for p in d["env_files"]),
        check_import=d["check_import"],
        check_cmds=tuple(d["check_cmds"]),
        check_off=tuple(d["check_off"]),
        check_env_ignore=tuple(d["check_env_ignore"]),
        venv=None if d["venv"] is None else Path(d["venv"]),
        setup=d["setup"],
        setup_inputs=tuple(d["setup_inputs"]),
        setup_timeout=d["setup_timeout"],
        watch=tuple(d["watch"]),
        watch_ignore=tuple(d["watch_ignore"]),
        watch_debounce=d["watch_debounce"],
        watch_force=d["watch_force"],
        restart_dependents_on_change=d["restart_dependents_on_change"],
    )
