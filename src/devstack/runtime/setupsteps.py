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
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, pump
from devstack.procs.process import ExitStatus, ProcessRecord, ServiceProcess, SpawnError, spawn
from devstack.procs.setuprecord import fingerprint, read_record, top_dirs, why_run, write_record
from devstack.project.venv import with_found_venv
from devstack.runtime.crashcause import crash_cause
from devstack.spec import ServiceSpec

TAIL_LINES = 20  # lines of a failed setup's output shown with the failure
CAUSE_LINES = 200  # lines of it read for its error line


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
        # The copies of a service with replicas share one setup: one at a time, one record.
        self._groups: dict[str, asyncio.Lock] = {}

    async def run(self, spec: ServiceSpec, *, force: bool = False) -> SetupOutcome:
        """Run ``spec``'s setup if its fingerprint changed (or ``force``); no setup: ok."""
        if spec.setup is None:
            return SetupOutcome(True, spec)
        if spec.replica_of is None:
            return await self._run(spec, force)
        # Copy 1 runs it; the others find it recorded (unless `${replica}` makes theirs differ).
        async with self._groups.setdefault(spec.replica_of, asyncio.Lock()):
            return await self._run(spec, force and spec.replica == 1)

    async def _run(self, spec: ServiceSpec, force: bool) -> SetupOutcome:
        assert spec.setup is not None
        name, hub = spec.name, self._hub
        kept = spec.replica_of or name  # the record's name
        now = await asyncio.to_thread(fingerprint, spec.setup, spec.cwd, spec.setup_inputs)
        record = read_record(self._state_dir, kept, self._stack_file)
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
        # More lines than are shown: npm's error code comes before its usage text.
        tail: deque[str] = deque(maxlen=CAUSE_LINES)
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
                shown = list(tail)[-TAIL_LINES:]
                text += "\nlast lines of its output:\n" + "\n".join(f"  {t}" for t in shown)
            hub.event(name, text, "error")
            # Its error line, as for a crash: pnpm wraps its message, pip ends with notices.
            key = crash_cause(list(tail), what) or (tail[-1].strip() if tail else "")
            last = f": {key}" if key else ""
            return SetupOutcome(False, spec, ran=True, reason=f"setup failed ({what}){last}")
        # What it made now, and what an earlier run made that it re-made (a deleted venv).
        made = top_dirs(spec.cwd) - before
        earlier = record.get("made") if record is not None else None
        if isinstance(earlier, list):
            made |= {str(n) for n in earlier if (spec.cwd / str(n)).is_dir()}
        await asyncio.to_thread(
            write_record, self._state_dir, kept, now, took, sorted(made), self._stack_file
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
