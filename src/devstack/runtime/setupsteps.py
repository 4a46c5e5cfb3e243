"""Setup steps: a service's one-off preparation (a venv, ``pnpm install``) before it starts.

``setup`` is a shell line run by /bin/sh in the service's cwd with its environment.
It runs before the service's first start, and again only when its fingerprint
changed since the last *successful* run: the setup line itself plus the content of
every file matched by ``setup_inputs`` (globs under cwd). The fingerprint is kept in
``.devstack/setup/SERVICE.json`` (``setup/FILE/SERVICE.json`` for a stack file other
than stack.toml: two stack files in one directory never share one); a failed run
records nothing, so it runs again.

Its output goes through the service's own log pipeline (prefix, log file); its
process tree is stopped like a service's (group, tree, session; SIGKILL after
stop_timeout) when the stack stops while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, pump
from devstack.procs.process import ExitStatus, ProcessRecord, ServiceProcess, SpawnError, spawn
from devstack.project.venv import activate, find_venv
from devstack.spec import ServiceSpec
from devstack.stackfile import STACK_FILE

TAIL_LINES = 20  # lines of a failed setup's output shown with the failure
_CHUNK = 1 << 20  # read files this much at a time when hashing


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a setup run depends on: its line and the content of its input files."""

    setup: str
    files: Mapping[str, str]  # path relative to cwd -> sha256 of its bytes

    @property
    def digest(self) -> str:
        import hashlib  # only for a service with a setup step (OpenSSL's: ~5 ms)

        blob = json.dumps({"setup": self.setup, "files": sorted(self.files.items())})
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {"digest": self.digest, "setup": self.setup, "files": dict(self.files)}


def fingerprint(setup: str, cwd: Path, patterns: Sequence[str]) -> Fingerprint:
    """The fingerprint of ``setup`` now: every file matched by ``patterns`` under ``cwd``
    (a matched directory stands for every file under it)."""
    files: dict[str, str] = {}
    for pattern in patterns:
        for path in sorted(cwd.glob(pattern)):
            members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for member in members:
                rel = os.path.relpath(member, cwd)
                if rel not in files:
                    files[rel] = _file_digest(member)
    return Fingerprint(setup, files)


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
    except OSError as exc:  # unreadable: its error is its content (a change when it heals)
        return f"unreadable: {exc.strerror}"
    return h.hexdigest()


def top_dirs(cwd: Path) -> set[str]:
    """The directories directly under ``cwd`` (what a setup makes: .venv, node_modules);
    a link to a directory counts (a venv kept elsewhere), a dangling one does not."""
    try:
        with os.scandir(cwd) as entries:
            return {e.name for e in entries if e.is_dir()}
    except OSError:
        return set()


def why_run(
    last: Mapping[str, object] | None,
    now: Fingerprint,
    force: bool = False,
    present: set[str] | None = None,
) -> str | None:
    """Why the setup must run (shown in its event line), or None when it can be skipped.

    ``last`` is the record of the last successful run (``Fingerprint.to_json`` plus
    ``made``: the directories that run created under cwd). ``present``: the
    directories under cwd now; one that run made and that is gone (a deleted .venv or
    node_modules) means the setup runs again.
    """
    if force:
        return "--force"
    if last is None:
        return "first run"
    made = last.get("made")
    if present is not None and isinstance(made, list):
        gone = sorted(str(name) for name in made if name not in present)
        if gone:
            return f"{', '.join(gone)} is gone" if len(gone) == 1 else f"{', '.join(gone)} are gone"
    if last.get("digest") == now.digest:
        return None
    if last.get("setup") != now.setup:
        return "setup changed"
    before = last.get("files")
    before = before if isinstance(before, dict) else {}
    changed = sorted(set(before.items()) ^ set(now.files.items()))
    names = sorted({name for name, _digest in changed})
    if not names:
        return "inputs changed"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{shown} changed"


def pending(spec: ServiceSpec, state_dir: Path, stack_file: Path | None = None) -> str | None:
    """Why ``spec``'s setup step would run at the next ``up`` ("first run", "requirements.txt
    changed"), or None: it has none, or its last successful run still holds."""
    if spec.setup is None:
        return None
    now = fingerprint(spec.setup, spec.cwd, spec.setup_inputs)
    last = read_record(state_dir, spec.name, stack_file)
    return why_run(last, now, present=top_dirs(spec.cwd))


def record_path(state_dir: Path, service: str, stack_file: Path | None = None) -> Path:
    """Where ``service``'s record is: stack.toml's where they always were, another stack
    file's (``-f dev.toml`` beside it) in a folder of its own name."""
    folder = state_dir / "setup"
    if stack_file is not None and stack_file.name != STACK_FILE:
        folder = folder / stack_file.name
    return folder / f"{service}.json"


def read_record(
    state_dir: Path, service: str, stack_file: Path | None = None
) -> dict[str, object] | None:
    """The last successful run's record, or None (never run, or an unreadable record)."""
    try:
        data = json.loads(record_path(state_dir, service, stack_file).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(
    state_dir: Path,
    service: str,
    now: Fingerprint,
    took: float,
    made: Sequence[str] = (),
    stack_file: Path | None = None,
) -> None:
    """Record a successful run (atomically: a killed devstack leaves the old record or none).

    ``made``: the directories it created under cwd, checked for before the next skip."""
    path = record_path(state_dir, service, stack_file)
    old = os.umask(0o077)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        record = {**now.to_json(), "made": sorted(made), "finished": time.time(), "took": took}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    finally:
        os.umask(old)


def with_found_venv(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with the venv a setup step just made activated (as config loading would)."""
    if spec.venv is not None:
        return spec
    venv = find_venv(spec.cwd)
    if venv is None:
        return spec
    env = dict(spec.env)
    activate(env, venv)
    return dataclasses.replace(spec, venv=venv, env=env)


class Hooks(Protocol):
    """What the owner (supervisor, ``devstack setup``) wants to know of each setup process."""

    def spawned(self, service: str, record: ProcessRecord) -> None: ...

    def ended(self, service: str, record: ProcessRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class SetupOutcome:
    ok: bool
    spec: ServiceSpec  # the spec to start with (its venv activated if the setup made one)
    ran: bool = False
    reason: str | None = None  # why it failed, one line (the service's `blocked` reason)


class SetupRunner:
    """Runs setup steps of one stack: hashes, spawns, streams, records.

    ``hooks`` learn of each setup process under the key ``SERVICE:setup`` (state.json,
    guardian), so a setup run beside the running service (``restart``) never hides it.
    ``stack_file`` keys the records (None: stack.toml's).
    """

    def __init__(
        self,
        state_dir: Path,
        hub: LogHub,
        hooks: Hooks,
        stack_id: str,
        stack_file: Path | None = None,
    ) -> None:
        self._state_dir = state_dir
        self._stack_file = stack_file
        self._hub = hub
        self._hooks = hooks
        self._stack_id = stack_id
        self._live: dict[str, ServiceProcess] = {}

    async def run(self, spec: ServiceSpec, *, force: bool = False) -> SetupOutcome:
        """Run ``spec``'s setup if its fingerprint changed (or ``force``); no setup: ok."""
        if spec.setup is None:
            return SetupOutcome(True, spec)
        name, hub = spec.name, self._hub
        now = await asyncio.to_thread(fingerprint, spec.setup, spec.cwd, spec.setup_inputs)
        record = read_record(self._state_dir, name, self._stack_file)
        before = top_dirs(spec.cwd)
        why = why_run(record, now, force, present=before)
        if why is None:
            hub.event(name, "[setup] skipped (inputs unchanged)", "info")
            return SetupOutcome(True, with_found_venv(spec))
        problem = _missing_program(spec)
        if problem is not None:
            hub.event(name, "[setup failed] " + problem, "error")
            return SetupOutcome(False, spec, reason=f"setup failed: {problem.splitlines()[0]}")
        hub.event(name, f"[setup] running ({why}): {spec.setup}", "info")
        started = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            status, timed_out = await self._spawn_and_wait(spec, tail)
        except SpawnError as exc:
            hub.event(name, f"[setup failed] {exc.message}", "error")
            return SetupOutcome(False, spec, ran=True, reason=f"setup failed: {exc.message}")
        except asyncio.CancelledError:
            took = time.monotonic() - started
            hub.event(name, f"[setup] stopped after {took:.1f}s (not recorded: runs again)", "warn")
            raise
        took = time.monotonic() - started
        if timed_out or not status.ok:
            if timed_out:
                what = f"timed out after {spec.setup_timeout:g}s, stopped"
                text = f"[setup failed] {what}: {spec.setup}"
            else:
                what = status.describe()
                text = f"[setup failed] {what} after {took:.1f}s: {spec.setup}"
            if tail:
                text += "\nlast lines of its output:\n" + "\n".join(f"  {t}" for t in tail)
            hub.event(name, text, "error")
            last = f": {tail[-1].strip()}" if tail else ""
            return SetupOutcome(False, spec, ran=True, reason=f"setup failed ({what}){last}")
        # What it made now, and what an earlier run made that it re-made (a deleted venv).
        made = top_dirs(spec.cwd) - before
        earlier = record.get("made") if record is not None else None
        if isinstance(earlier, list):
            made |= {str(n) for n in earlier if (spec.cwd / str(n)).is_dir()}
        await asyncio.to_thread(
            write_record, self._state_dir, name, now, took, sorted(made), self._stack_file
        )
        hub.event(name, f"[setup] done in {took:.1f}s", "ok")
        return SetupOutcome(True, with_found_venv(spec), ran=True)

    async def _spawn_and_wait(self, spec: ServiceSpec, tail: deque[str]) -> tuple[ExitStatus, bool]:
        """How the setup ended, and whether it was stopped for running past setup_timeout."""
        assert spec.setup is not None
        key = f"{spec.name}:setup"

        def sink(chunk: LogChunk) -> None:
            self._hub.output(chunk)
            tail.extend(line for line in chunk.text.splitlines() if line.strip())

        proc = await spawn(
            ("/bin/sh", "-c", spec.setup),
            cwd=spec.cwd,
            env=spec.env,
            service=spec.name,
            stack_id=self._stack_id,
        )
        self._live[spec.name] = proc
        self._hooks.spawned(key, proc.record)
        pumps = [
            asyncio.create_task(pump(proc.stdout, spec.name, "stdout", sink)),
            asyncio.create_task(pump(proc.stderr, spec.name, "stderr", sink)),
        ]
        timed_out = False
        try:
            try:
                # shield: the timeout must not cancel the process's own exit future
                status = await asyncio.wait_for(asyncio.shield(proc.wait()), spec.setup_timeout)
            except TimeoutError:
                timed_out = True
        finally:
            # Done or cancelled (Ctrl-C): nothing it started outlives it (pip's builds,
            # pnpm's node children), then its last lines are read.
            try:
                await proc.stop(spec.stop_signal, spec.stop_timeout)
            except asyncio.CancelledError:
                proc.kill()
                raise
            finally:
                await _drain(pumps)
                self._live.pop(spec.name, None)
                self._hooks.ended(key, proc.record)
        if timed_out:
            status = await proc.wait()  # stopped above: how it ended
        return status, timed_out

    def kill(self) -> None:
        """SIGKILL every running setup now (second Ctrl-C)."""
        for proc in list(self._live.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()


async def _drain(pumps: list[asyncio.Task[None]], timeout: float = 1.0) -> None:
    """Let the pipes deliver their last lines (bounded: an escaped writer may hold them)."""
    _done, pending = await asyncio.wait(pumps, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)


def _missing_program(spec: ServiceSpec) -> str | None:
    """The setup program missing ("pnpm: not found") with how to get it, before sh says less."""
    from devstack.checks.command import check_setup_executable

    result = check_setup_executable(spec)
    if result is None or not result.failed:
        return None
    return "\n".join([result.summary, *(f"  {d}" for d in result.details)])
