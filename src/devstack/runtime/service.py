"""One service's life: wait for dependencies -> spawn -> probe -> run / restart -> stop.

Each service is driven by exactly one task (``Service.run``); only that task changes
its state, so no locks are needed. Other tasks observe it through ``wait_for`` and
``snapshot``. The probe reports, the service decides (process-compose's split).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psutil

if TYPE_CHECKING:
    import httpx

    from devstack.checks.checkresult import CheckResult
    from devstack.runtime.policy import QuickFailure
    from devstack.runtime.setupsteps import SetupRunner

from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, pump, pump_terminal
from devstack.procs.portowners import holder_in_tree, listens_elsewhere
from devstack.procs.process import ExitStatus, ProcessRecord, ServiceProcess, SpawnError, spawn
from devstack.runtime.cadence import full_probe_due
from devstack.runtime.failfast import (
    FatalLines,
    ListenWatch,
    StatusStreak,
    listen_verdict,
    next_delay,
    status_verdict,
)
from devstack.runtime.probes import (
    HttpProbe,
    LogProbe,
    Probe,
    ProbeResult,
    make_probe,
    parse_host_port,
)
from devstack.spec import ServiceSpec
from devstack.states import Condition, ServiceState

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# (spec, checks to skip) -> results
Preflight = Callable[[ServiceSpec, frozenset[str]], Awaitable[list["CheckResult"]]]

# States from which a dependency condition can never be met without someone acting.
_DEAD_ENDS = frozenset(
    {ServiceState.FAILED, ServiceState.BLOCKED, ServiceState.NOT_STARTED, ServiceState.STOPPED}
)
_SETTLED = frozenset({ServiceState.HEALTHY, ServiceState.RUNNING})
_PIPE_DRAIN_TIMEOUT = 1.0  # after every member is gone, how long a pipe may stay open


def _aligned_delay(interval: float) -> float:
    """Sleep to the next multiple of ``interval`` on the loop's clock (at least half an interval).

    Probes of every service with the same interval then wake together: one wakeup of
    the event loop per interval instead of one per service, which keeps idle CPU low.
    """
    now = asyncio.get_running_loop().time()
    delay = interval - (now % interval)
    return delay + interval if delay < interval / 2 else delay


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU seconds ``processes`` have used (one that has exited: 0)."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class ProcessHooks:
    """What the supervisor wants to know about every process a service spawns."""

    def spawned(self, service: str, record: ProcessRecord) -> None:  # pragma: no cover
        """A new leader exists: record it (state.json, guardian)."""

    def ended(self, service: str, record: ProcessRecord) -> None:  # pragma: no cover
        """Every process of that spawn is gone."""


@dataclass(frozen=True, slots=True)
class ServiceSnapshot:
    name: str
    state: ServiceState
    pid: int | None
    restarts: int
    reason: str | None
    last_probe: ProbeResult | None


class Service:
    def __init__(
        self,
        spec: ServiceSpec,
        *,
        hub: LogHub,
        stack_id: str,
        hooks: ProcessHooks,
        http_client: Callable[[], httpx.AsyncClient],
        clock: Clock = time.monotonic,
        preflight: Preflight | None = None,
        output_hook: Callable[[str, LogChunk], None] | None = None,
        setup: SetupRunner | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self._on_change = on_change  # told the name at each state change (`devstack ui`)
        self._setup_runner = setup  # None: setup steps are skipped (up --no-setup)
        self.name = spec.name
        self._preflight = preflight
        self._prechecked: frozenset[str] = frozenset()  # passed just now: not run again
        self._output_hook = output_hook
        self._hub = hub
        self._stack_id = stack_id
        self._hooks = hooks
        self._http_client = http_client
        self._clock = clock
        self.state = ServiceState.PENDING
        self.reason: str | None = None
        self.process: ServiceProcess | None = None
        self.restarts = 0
        self.ever_spawned = False
        self.last_probe: ProbeResult | None = None
        self.last_exit: ExitStatus | None = None
        self.last_cause: str | None = None  # one line: why the last process died
        # While not started: the dependency's own dead end ("db failed: exit 1: FATAL: ..."),
        # which this service's dependents are told in place of its whole reason.
        self._upstream: str | None = None
        self._changed = asyncio.Event()
        self._log_probe: LogProbe | None = None
        self._fatal = FatalLines()  # this run's output, read while it starts
        self._pumps: list[asyncio.Task[None]] = []
        self.started_at: float | None = None  # time.time() of the current process's spawn
        self._started_mono: float | None = None

    # --- observation -------------------------------------------------------------------

    def snapshot(self) -> ServiceSnapshot:
        pid = self.process.pid if self.process is not None and self.state.is_up else None
        return ServiceSnapshot(
            self.name, self.state, pid, self.restarts, self.reason, self.last_probe
        )

    def uptime(self) -> float | None:
        """Seconds the current process has run, while one runs."""
        if self._started_mono is None or not self.state.is_up:
            return None
        return self._clock() - self._started_mono

    def mark_pending(self) -> None:
        """A new start is decided: observers must not see the last run's final state."""
        self._set(ServiceState.PENDING)

    def mark_not_requested(self, why: str | None = None) -> None:
        """In the stack, but `up` was not asked for it (nor for anything needing it);
        ``why``: what left it out, e.g. "profile worker" (no active profile enables it)."""
        because = f"{why}; " if why else ""
        name = self.spec.replica_of or self.name  # a copy: its service starts every copy
        self._set(ServiceState.STOPPED, f"not requested ({because}devstack start {name} starts it)")

    def has_met(self, condition: Condition) -> bool:
        """``condition`` holds now (a dependent waiting for it would go on)."""
        return self._condition_status(condition)[0]

    def respec(self, spec: ServiceSpec, prechecked: frozenset[str] = frozenset()) -> None:
        """Use ``spec`` (a re-read stack.toml) from the next start on; only while stopped.

        ``prechecked``: checks a restart ran against ``spec`` just before stopping the old
        process; the next start does not run them again (an import check is a whole
        interpreter start, and here it would lengthen the downtime).
        """
        assert self.process is None, "respec of a running service"
        self.spec = spec
        self._prechecked = prechecked

    def follow_copies(self, depends_on: Mapping[str, Condition]) -> None:
        """The copies it depends on changed (``devstack scale``): waited for at its next
        start, and stopped after it. Not a new config: a running process is kept."""
        self.spec = replace(self.spec, depends_on=depends_on)

    async def wait_settled(self) -> None:
        """Until a start has an outcome: healthy/running, or a final state."""
        while not (self.state in _SETTLED or self.state.is_final):
            await self._changed.wait()

    def _set(self, state: ServiceState, reason: str | None = None) -> None:
        self.state = state
        self.reason = reason
        self._upstream = None
        # Wake every waiter; each re-checks its own condition.
        self._changed.set()
        self._changed = asyncio.Event()
        if self._on_change is not None:
            self._on_change(self.name)

    async def wait_for(self, condition: Condition) -> tuple[bool, str]:
        """Until ``condition`` holds (True, "") or can no longer hold (False, why)."""
        while True:
            met, impossible = self._condition_status(condition)
            if met:
                return True, ""
            if impossible is not None:
                return False, impossible
            await self._changed.wait()

    def _condition_status(self, condition: Condition) -> tuple[bool, str | None]:
        state = self.state
        if condition is Condition.STARTED:
            if state.is_up or (self.ever_spawned and state is not ServiceState.BLOCKED):
                return True, None
        elif condition is Condition.HEALTHY:
            if state in (ServiceState.HEALTHY, ServiceState.RUNNING):
                return True, None
            if state is ServiceState.EXITED:
                return False, f"{self.name} exited ({self._exit_text()}) before it was healthy"
        elif (
            condition is Condition.COMPLETED
            and state is ServiceState.EXITED
            and self.last_exit is not None
            and self.last_exit.ok
        ):
            return True, None
        if state in _DEAD_ENDS:
            return False, f"{self.name} {self._dead_end_text()}"
        return False, None

    def _exit_text(self) -> str:
        return self.last_exit.describe() if self.last_exit is not None else "no exit status"

    def _dead_end_text(self) -> str:
        verb = {
            ServiceState.FAILED: "failed",
            ServiceState.BLOCKED: "is blocked",
            ServiceState.NOT_STARTED: "was not started",
            ServiceState.STOPPED: "was stopped",
        }[self.state]
        # A chain names each service once, down to the one that broke and its key line.
        reason = self._upstream if self.state is ServiceState.NOT_STARTED else None
        reason = reason or self.reason
        return f"{verb}: {reason}" if reason else verb

    # --- the service's task ------------------------------------------------------------

    async def run(self, dependencies: Mapping[str, Service]) -> None:
        """The whole life of the service until it is final or cancelled (stop).

        Cancellation is the stop request: the ``finally`` stops every process of the
        service (stop_signal, grace, SIGKILL, reap) before the cancellation goes on.
        """
        try:
            if not await self._setup(dependencies):
                return
            if not await self._wait_dependencies(dependencies):
                return
            if not await self._check():
                return
            await self._supervise()
        finally:
            await self._stop_process()

    async def _setup(self, dependencies: Mapping[str, Service]) -> bool:
        """The setup step, before the checks (they need the venv it makes). It waits for
        its dependencies' setup steps (two services sharing a venv never install at once),
        not for their health. A failure leaves the service ``blocked``."""
        if self._setup_runner is None or self.spec.setup is None:
            return True
        if "setup" in self._prechecked:  # a restart ran it just before stopping the old copy
            return True
        for name, cond in self.spec.depends_on.items():
            dep = dependencies[name]
            await dep.wait_setup_finished()
            if dep._condition_status(cond)[1] is not None:
                return True  # it can never start: _wait_dependencies says why
        self._set(ServiceState.SETUP, "setup step running")
        outcome = await self._setup_runner.run(self.spec)
        if not outcome.ok:
            self._set(ServiceState.BLOCKED, outcome.reason)
            return False
        self.spec = outcome.spec  # with the venv it made, if any
        return True

    async def wait_setup_finished(self) -> None:
        """Until this service's setup step (if any) is over, whatever its outcome."""
        while self.state in (ServiceState.PENDING, ServiceState.SETUP):
            await self._changed.wait()

    async def _check(self) -> bool:
        """The preflight checks, right before the first start (not before crash restarts:
        the same code already ran). A failure leaves the service ``blocked``."""
        if self._preflight is None:
            return True
        self._set(ServiceState.CHECKING)
        skip, self._prechecked = self._prechecked, frozenset()
        results = await self._preflight(self.spec, skip)
        passed = [r.summary for r in results if r.status == "ok"]
        if passed:
            self._hub.event(self.name, "[check] " + "; ".join(passed), "info")
        for r in results:
            if r.status != "ok":
                tag = "[check failed]" if r.failed else "[check warning]"
                lines = [f"{tag} {r.summary}", *(f"  {d}" for d in r.details)]
                if r.fix:
                    lines.append(f"  fix: {r.fix}")
                self._hub.event(self.name, "\n".join(lines), "error" if r.failed else "warn")
        failed = [r for r in results if r.failed]
        if failed:
            self._set(ServiceState.BLOCKED, f"failed its checks: {failed[0].summary}")
            return False
        return True

    async def _wait_dependencies(self, dependencies: Mapping[str, Service]) -> bool:
        if not self.spec.depends_on:
            return True
        names = ", ".join(f"{d} ({c})" for d, c in self.spec.depends_on.items())
        self._set(ServiceState.WAITING, f"waiting for {names}")
        # Every dependency is awaited at once: the first impossible one ends the wait.
        waits = {
            name: asyncio.ensure_future(dependencies[name].wait_for(cond))
            for name, cond in self.spec.depends_on.items()
        }
        try:
            pending = set(waits.values())
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for name, fut in waits.items():
                    if fut in done:
                        ok, why = fut.result()
                        if not ok:
                            cond = self.spec.depends_on[name]
                            reason = (
                                f"depends on {name} ({cond}), which {why.removeprefix(name + ' ')}"
                            )
                            self._set(ServiceState.NOT_STARTED, reason)
                            self._upstream = why
                            self._hub.event(self.name, f"[not started] {reason}", "error")
                            return False
        finally:
            for fut in waits.values():
                fut.cancel()
        return True

    async def _supervise(self) -> None:
        consecutive = 0
        previous: QuickFailure | None = None  # the last run, when it failed
        while True:
            started = self._clock()
            status = await self._run_once()
            if status is None:  # start failed in a way restarting cannot fix
                return
            uptime = self._clock() - started
            if self.state is ServiceState.FAILED:  # decided by the probe (start_period)
                return
            # A process ended: what follows is imported now, off the way to the first start.
            from devstack.runtime.policy import QuickFailure, decide_restart, futile_restart

            failure = QuickFailure.of(status.describe(), status.code, self._run_lines(), uptime)
            futile = None if status.ok else futile_restart(self.spec.restart, previous, failure)
            previous = None if status.ok else failure
            if futile is not None:
                self._fail(futile)
                return
            decision = decide_restart(
                self.spec.restart, exit_ok=status.ok, uptime=uptime, consecutive=consecutive
            )
            consecutive = decision.consecutive
            if not decision.restart:
                if decision.failed:
                    cause = f": {self.last_cause}" if self.last_cause else ""
                    self._fail(f"{status.describe()}{cause} ({decision.reason})")
                return
            self.restarts += 1
            self._set(ServiceState.BACKOFF, decision.reason)
            self._hub.event(
                self.name, f"[restart in {decision.delay:g}s] {decision.reason}", "warn"
            )
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)

    def _fail(self, why: str) -> None:
        self._set(ServiceState.FAILED, why)
        tail = self._hub.last_lines(self.name, 20, events=False)
        text = f"[failed] {why}"
        if tail:
            text += "\nlast lines of its output:\n" + "\n".join(f"  {line}" for line in tail)
        self._hub.event(self.name, text, "error")

    async def _run_once(self) -> ExitStatus | None:
        """Spawn, probe and wait for one process; its exit status, or None if it could not start."""
        spec = self.spec
        # Not `starting` yet: that state has a pid, and until spawn returns there is none.
        self._set(ServiceState.SPAWNING)
        try:
            proc = await spawn(
                spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                service=self.name,
                stack_id=self._stack_id,
                stop_mode=spec.stop_mode,
                interactive=spec.interactive,
            )
        except SpawnError as exc:
            self._set(ServiceState.BLOCKED, exc.message)
            self._hub.event(self.name, f"[blocked] {exc.message}", "error")
            return None
        self.process = proc
        self.ever_spawned = True
        self.started_at, self._started_mono = time.time(), self._clock()
        self._set(ServiceState.RUNNING if spec.health is None else ServiceState.STARTING)
        self._hooks.spawned(self.name, proc.record)
        where = f", port {spec.port}" if spec.port is not None else ""
        self._hub.event(self.name, f"[start] pid {proc.pid}{where}", "info")
        started = self._clock()
        probe = self._make_probe()
        self._fatal = FatalLines()
        if proc.terminal is not None:
            self._pumps = [
                asyncio.create_task(pump_terminal(proc.stdout, self.name, self._on_output))
            ]
        else:
            self._pumps = [
                asyncio.create_task(pump(proc.stdout, self.name, "stdout", self._on_output)),
                asyncio.create_task(pump(proc.stderr, self.name, "stderr", self._on_output)),
            ]
        prober = asyncio.create_task(self._probe_loop(probe, started)) if probe else None
        try:
            status = await proc.wait()
        finally:
            if prober is not None:
                prober.cancel()
                await asyncio.gather(prober, return_exceptions=True)
        self.last_exit = status
        uptime = self._clock() - started
        announce = self.state is not ServiceState.FAILED
        if announce:
            self._set(ServiceState.EXITED if status.ok else ServiceState.CRASHED, status.describe())
        # The leader is gone; its group, tree or session may not be (gunicorn workers,
        # a setsid grandchild holding the pipe): end them before any restart, and let
        # the pipes drain so the service's last lines print before the verdict.
        await proc.stop(spec.stop_signal, spec.stop_timeout)
        await self._release(proc)
        self.last_cause = None if status.ok else self._crash_cause(status)
        if announce:
            tag, level = ("[exited]", "info") if status.ok else ("[crashed]", "error")
            text = f"{tag} {status.describe()} after {uptime:.2f}s"
            if self.last_cause:
                text += f": {self.last_cause}"
                self._set(ServiceState.CRASHED, f"{status.describe()}: {self.last_cause}")
            self._hub.event(self.name, text, level)
        return status

    def _run_lines(self) -> list[str]:
        """This run's own last output lines (not an earlier run's)."""
        chunks = self._hub.history([self.name], n=40, since=self.started_at)
        return [
            line for chunk in chunks if chunk.stream != "event" for line in chunk.text.splitlines()
        ]

    def _crash_cause(self, status: ExitStatus) -> str | None:
        """Why it died, from this run's own last output lines."""
        lines = self._run_lines()
        from devstack.runtime.crashcause import crash_cause
        from devstack.runtime.notfound import parse_not_found, venv_hint

        cause = crash_cause(lines, status.describe())
        not_found = parse_not_found(lines) if status.code == 127 else None
        hint = venv_hint(not_found, self.spec) if not_found is not None else None
        return f"{cause}; {hint}" if cause and hint else cause

    async def _release(self, proc: ServiceProcess) -> None:
        """Every process of a spawn is gone: drain its pipes (bounded) and forget it."""
        pumps, self._pumps = self._pumps, []
        if pumps:
            _done, pending = await asyncio.wait(pumps, timeout=_PIPE_DRAIN_TIMEOUT)
            for task in pending:  # a writer we could not find still holds the pipe
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        if proc.terminal is not None:
            proc.terminal.close()
        self._hooks.ended(self.name, proc.record)
        if self.process is proc:
            self.process = None

    def _on_output(self, chunk: LogChunk) -> None:
        self._hub.output(chunk)
        if self._output_hook is not None:
            self._output_hook(self.name, chunk)
        if self._log_probe is not None:
            self._log_probe.feed(chunk.text)
        if self.state is ServiceState.STARTING:
            self._fatal.feed(chunk.text)

    def _make_probe(self) -> Probe | None:
        health = self.spec.health
        if health is None:
            self._log_probe = None
            return None
        probe = make_probe(
            health, cwd=self.spec.cwd, env=self.spec.env, client_factory=self._http_client
        )
        self._log_probe = probe if isinstance(probe, LogProbe) else None
        return probe

    async def _probe_loop(self, probe: Probe, started: float) -> None:
        health = self.spec.health
        assert health is not None
        result = await self._wait_healthy(probe, started)
        if result is None:
            if self.process is not None:
                await self.process.stop(self.spec.stop_signal, self.spec.stop_timeout)
            return
        self.last_probe = result
        self._set(ServiceState.HEALTHY)
        took = self._clock() - started
        self._hub.event(self.name, f"[healthy] {result.detail} in {took:.2f}s", "ok")
        # Healthy: probe at `interval`; `retries` failures in a row make it unhealthy.
        # Quiet (http_every): most ticks only connect, which no access log records.
        failures = 0
        # The same connect that paces the start stands in for the request between them.
        light = None
        if health.http_every is not None and isinstance(probe, HttpProbe):
            light = probe.accepts if self._probed_address() is not None else None
        last_full = self._clock()
        while True:
            await asyncio.sleep(_aligned_delay(health.interval))
            due = full_probe_due(
                self._clock(),
                last_full,
                interval=health.interval,
                http_every=health.http_every,
                failing=failures > 0,
            )
            if light is not None and not due and (await light()).ok:
                continue
            # Due, or the port stopped answering: the probe itself says what a user sees.
            result = await probe.run()
            last_full = self._clock()
            self.last_probe = result
            if result.ok:
                if self.state is ServiceState.UNHEALTHY:
                    self._set(ServiceState.HEALTHY)
                    self._hub.event(self.name, f"[healthy] again: {result.detail}", "ok")
                failures = 0
                continue
            failures += 1
            if failures == health.retries and self.state is ServiceState.HEALTHY:
                self._set(ServiceState.UNHEALTHY, result.detail)
                self._hub.event(self.name, f"[unhealthy] {result.detail}", "warn")
                if self.spec.restart_on_unhealthy and self.process is not None:
                    self._hub.event(self.name, "[restarting] restart_on_unhealthy = true", "warn")
                    await self.process.stop(self.spec.stop_signal, self.spec.stop_timeout)
                    return

    async def _wait_healthy(self, probe: Probe, started: float) -> ProbeResult | None:
        """Starting: probe until it passes (the result), or fail the service (None) when
        start_period runs out or waiting cannot help (runtime/failfast.py)."""
        health = self.spec.health
        assert health is not None
        deadline = started + health.start_period
        foreign_reported = False
        # An http probe connects first (no access-log line) until the port accepts,
        # then sends its request, backing off while the answers are failures.
        connect = probe.accepts if isinstance(probe, HttpProbe) else None
        delay = health.start_interval
        failing_since: float | None = None  # the first failed request since the port accepted
        streak, listening = StatusStreak(), ListenWatch()
        while True:
            accepted = None if connect is None else await connect()
            result = accepted if accepted is not None and not accepted.ok else await probe.run()
            if result.ok:
                foreign = self._foreign_listener()
                if foreign is None:
                    return result
                result = ProbeResult(False, foreign, result.latency)
                if not foreign_reported:
                    self._hub.event(self.name, f"[probe] {foreign}", "warn")
                    foreign_reported = True
            self.last_probe = result
            now = self._clock()
            hopeless = None
            if health.fail_fast:
                hopeless = self._hopeless(probe.describe(), result, now, streak, listening)
            if hopeless is not None:
                self._fail(
                    f"gave up after {now - started:.1f}s (start_period {health.start_period:g}s): "
                    f"{hopeless}"
                )
                return None
            if now >= deadline:
                # A probe's detail starts with what it probed; another reason (a foreign
                # listener, a port that never accepted) does not, and is told it first.
                seen = result.detail
                if not seen.startswith(probe.describe()):
                    seen = f"{probe.describe()}: {seen}"
                self._fail(f"not healthy within {health.start_period:g}s: {seen}")
                return None
            if accepted is None or accepted.ok:
                failing_since = now if failing_since is None else failing_since
                delay = next_delay(
                    delay, failing_for=now - failing_since, start_interval=health.start_interval
                )
            else:  # refused: a connect costs the app nothing
                delay, failing_since = health.start_interval, None
            await asyncio.sleep(delay if connect is not None else health.start_interval)

    def _hopeless(
        self,
        describe: str,
        result: ProbeResult,
        now: float,
        streak: StatusStreak,
        listening: ListenWatch,
    ) -> str | None:
        """Why waiting longer for this start cannot help (runtime/failfast.py), or None."""
        fatal = self._fatal.settled(now)
        if fatal is not None:
            return fatal
        status = streak.see(result.status, now)
        if status is not None:
            return status_verdict(describe, status, streak.count)
        if listening.due(now):
            return self._listens_elsewhere(listening, now)
        return None

    def _listens_elsewhere(self, watch: ListenWatch, now: float) -> str | None:
        """The verdict when the service's tree has listened only elsewhere for a while."""
        target = self._probed_address()
        if target is None or self.process is None:
            return None
        host, port = target
        members = self.process.members()
        elsewhere = listens_elsewhere(port, host, {p.pid for p in members})
        shown = watch.see(elsewhere, now, _cpu_seconds(members) if elsewhere else 0.0)
        if shown is None:
            return None
        return listen_verdict(shown, port, host, declared=port == self.spec.port)

    def _foreign_listener(self) -> str | None:
        """Who answers the probed port, when it is not this service's own tree."""
        target = self._probed_address()
        if target is None or self.process is None:
            return None
        host, port = target
        # Most often the leader itself listens (gunicorn's master, a node server):
        # ask it alone before scanning the whole process table for its tree.
        ours, holder = holder_in_tree(port, host, {self.process.pid}, describe_ours=False)
        if not ours:
            pids = {p.pid for p in self.process.members()}
            ours, holder = holder_in_tree(port, host, pids, describe_ours=False)
        if ours or holder is None or holder.pid is None:
            return None
        return f"port {port} is answered by {holder.describe()}, not by {self.name}"

    def _probed_address(self) -> tuple[str, int] | None:
        health = self.spec.health
        if health is None:
            return None
        if health.kind == "http":
            parts = urlsplit(health.target)
            if parts.hostname is None:
                return None
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return parts.hostname, port
        if health.kind == "tcp":
            return parse_host_port(health.target)
        return None

    async def _stop_process(self) -> None:
        proc = self.process
        if proc is None:
            if not self.state.is_final:
                self._set(ServiceState.STOPPED)
            return
        self._set(ServiceState.STOPPING)
        try:
            result = await proc.stop(self.spec.stop_signal, self.spec.stop_timeout)
        except asyncio.CancelledError:
            proc.kill()
            raise
        finally:
            await self._release(proc)
        note = f" (killed after {self.spec.stop_timeout:g}s)" if result.killed else ""
        if result.lingered:
            note = " (main process exited; what it left was killed)"
        self._set(ServiceState.STOPPED)
        self._hub.event(self.name, f"[stopped]{note}", "info")

    def kill(self) -> None:
        """SIGKILL every process of the service now (second Ctrl-C)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
