"""The running supervisor as seen from another terminal: the ``StackControl`` side.

``devstack ps / logs / restart / stop / start / down`` arrive over the control socket
and end here, on the supervisor's event loop. Commands that change the stack run one
at a time (20 concurrent ``restart backend`` make exactly one backend at the end);
``ps`` and ``logs`` never wait for them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import psutil

from devstack import graph
from devstack.control.statefeed import StateFeed
from devstack.errors import DevstackError
from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, LogSubscription
from devstack.paths import StatePaths
from devstack.procs import proctree
from devstack.project.venv import with_found_venv
from devstack.runtime.service import Service
from devstack.runtime.setupsteps import SetupRunner
from devstack.spec import ServiceSpec, StackSpec
from devstack.states import Condition, ServiceState


class RunningStack(Protocol):
    """What the control reads and acts on: the supervisor (``runtime.supervisor``), which
    makes its ``SupervisorControl``. A protocol, so this module need not import it."""

    stack: StackSpec
    paths: StatePaths
    hub: LogHub | None
    services: dict[str, Service]
    requested: set[str]
    stale: dict[str, str]
    configured: dict[str, ServiceSpec]
    setups: SetupRunner | None
    tasks: dict[str, asyncio.Task[None]]
    all_stopped: asyncio.Event

    def hold(self) -> AbstractContextManager[object]: ...
    def launch(self, name: str) -> asyncio.Task[None]: ...
    async def stop_service(self, name: str, *, hold: bool = True) -> None: ...
    def request_shutdown(self, force: bool = False) -> None: ...
    def watch_respec(self, name: str, spec: ServiceSpec, why: str = ...) -> None: ...


_OK_STATES = (ServiceState.HEALTHY, ServiceState.RUNNING)


def _stamp(paths: list[Path]) -> tuple[tuple[str, int], ...]:
    """What the files looked like: (path, mtime in ns), -1 for a missing file."""
    stamps = []
    for path in paths:
        try:
            stamps.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            stamps.append((str(path), -1))
    return tuple(stamps)


def _usage(row: proctree.Row) -> tuple[float, int] | None:
    """(CPU seconds, RSS bytes) of a process: from the scan on Linux, else psutil."""
    if row.cpu is not None and row.rss is not None:
        return row.cpu, row.rss
    try:
        proc = psutil.Process(row.pid)
        times = proc.cpu_times()
        return times.user + times.system, proc.memory_info().rss
    except psutil.Error:
        return None


class SupervisorControl:
    def __init__(self, supervisor: RunningStack) -> None:
        self._sup = supervisor
        self._lock = asyncio.Lock()
        self._started = time.time()
        # (pid, start time) -> (CPU seconds, when): the baseline of the next ps's CPU%
        self._cpu: dict[tuple[int, float], tuple[float, float]] = {}
        # The services as the config files resolve now, and those files' stamp then.
        self._config: Mapping[str, ServiceSpec] | None = None
        self._config_stamp: tuple[tuple[str, int], ...] | None = None
        self._state_feeds: list[StateFeed] = []  # `watch` connections (devstack ui)

    # --- read-only -----------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        stack = self._sup.stack
        return {
            "pid": os.getpid(),
            "started": self._started,
            "stack": stack.name,
            "file": None if stack.file is None else str(stack.file),
            "root": str(stack.root),
            "profiles": list(stack.profiles),  # the active ones (up --profile)
        }

    def service_names(self) -> list[str]:
        """Every service of the stack, started or not."""
        return list(self._sup.services)

    def _requested(self) -> list[str]:
        """The services started at some point (by `up`, `start`, `restart`)."""
        return [n for n in self._sup.services if n in self._sup.requested]

    def ps(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        # One scan gives the trees, CPU and memory of every process (on Linux one read of
        # /proc/PID/stat each: psutil's per-attribute reads made ps 3x slower).
        procs = proctree.table()
        children: dict[int, list[int]] = {}
        for row in procs.values():
            children.setdefault(row.ppid, []).append(row.pid)
        now = time.monotonic()
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        config = self._current_config()
        hub = self._sup.hub
        for name, svc in self._sup.services.items():
            snap = svc.snapshot()
            probe = snap.last_probe
            cpu, rss = self._tree_usage(snap.pid, procs, children, (now, seen))
            uptime = svc.uptime()
            rows.append(
                {
                    "name": name,
                    "state": str(snap.state),
                    "pid": snap.pid,
                    "uptime": None if uptime is None else round(uptime, 3),
                    "restarts": snap.restarts,
                    "health": None
                    if probe is None
                    else {
                        "ok": probe.ok,
                        "detail": probe.detail,
                        "latency": round(probe.latency, 4),
                    },
                    "port": svc.spec.port,
                    "url": svc.spec.url,
                    "reason": snap.reason,
                    "stale": self._sup.stale.get(name) if snap.state.is_up else None,
                    # Its own resolved config (env files and interpolation included)
                    # changed: not another service's, nor [[smoke]]. Unknown while the
                    # file does not load (a restart would say why).
                    "restart_needed": snap.state.is_up
                    and config is not None
                    and not _same_config(config.get(name), self._sup.configured[name]),
                    "cpu_percent": cpu,
                    "rss": rss,
                    "requested": name in self._sup.requested,
                    "profiles": list(svc.spec.profiles),
                    "log_file": None if hub is None else hub.file_problem(name),
                }
            )
        self._cpu = seen
        return rows

    def _current_config(self) -> Mapping[str, ServiceSpec] | None:
        """The services as stack.toml and the env files resolve now; read again only when
        one of those files changed since the last look (else `ps` costs a few stats)."""
        stack = self._sup.stack
        env_files = {f for spec in self._sup.configured.values() for f in spec.env_files}
        files = [] if stack.file is None else [stack.file]
        stamp = _stamp([*files, *sorted(env_files)])
        if stamp != self._config_stamp:
            try:
                self._config = self._reload().services
            except DevstackError:
                self._config = None
            self._config_stamp = stamp
        return self._config

    def log_history(self, names: list[str], n: int | None, since: float | None) -> list[LogChunk]:
        assert self._sup.hub is not None
        return self._sup.hub.history(names or self.service_names(), n, since)

    def subscribe_logs(self) -> LogSubscription:
        assert self._sup.hub is not None
        return self._sup.hub.subscribe()

    def unsubscribe_logs(self, sub: LogSubscription) -> None:
        assert self._sup.hub is not None
        self._sup.hub.unsubscribe(sub)

    def state_changed(self, name: str) -> None:
        """A service's state changed (the supervisor calls this): tell the watchers."""
        for feed in self._state_feeds:
            feed.offer(name)

    def subscribe_states(self) -> StateFeed:
        feed = StateFeed()
        self._state_feeds.append(feed)
        return feed

    def unsubscribe_states(self, feed: StateFeed) -> None:
        self._state_feeds = [f for f in self._state_feeds if f is not feed]

    def state_row(self, name: str) -> dict[str, object]:
        """The part of ``name``'s ps row that a state change changes: no process scan."""
        svc = self._sup.services[name]
        snap = svc.snapshot()
        uptime = svc.uptime()
        return {
            "name": name,
            "state": str(snap.state),
            "pid": snap.pid,
            "uptime": None if uptime is None else round(uptime, 3),
            "restarts": snap.restarts,
            "reason": snap.reason,
            "stale": self._sup.stale.get(name) if snap.state.is_up else None,
            "requested": name in self._sup.requested,
            "depends_on": list(svc.spec.depends_on),
        }

    # --- changing the stack ------------------------------------------------------------

    async def restart(self, names: list[str], with_dependents: bool) -> list[dict[str, object]]:
        """Re-read stack.toml and env files; for each service: checks, stop, start, healthy.

        A service whose new config does not load, or whose checks fail, keeps running.
        """
        async with self._lock:
            with self._sup.hold():
                try:
                    fresh = self._reload()
                except DevstackError as exc:
                    text = exc.render()
                    return [self._result(n, False, 0.0, text) for n in names or self._requested()]
                targets = self._targets(names, with_dependents)
                results: list[dict[str, object]] = []
                for name in targets:
                    results.append(await self._restart_one(name, fresh))
                return results

    async def stop(self, names: list[str]) -> list[dict[str, object]]:
        async with self._lock:
            with self._sup.hold():
                results = []
                for name in self._in_stop_order(names or self._requested()):
                    t0 = time.monotonic()
                    await self._sup.stop_service(name)
                    state = self._sup.services[name].state
                    results.append(self._result(name, True, time.monotonic() - t0, str(state)))
                return results

    async def start(self, names: list[str]) -> list[dict[str, object]]:
        """Start ``names`` (all: empty) and what they need that does not run, as `up`
        would: launched together, each waiting for its dependencies' conditions, then
        one result per service in start order, once it is healthy/running or final."""
        async with self._lock:
            with self._sup.hold():
                t0 = time.monotonic()
                wanted = names or self.service_names()
                launch = self._to_launch(wanted)
                order = self._in_start_order([*launch, *wanted])
                for name in order:
                    if name in launch:
                        first = name not in self._sup.requested
                        self._sup.launch(name)
                        if first:  # a watch key of a service started just now
                            spec = self._sup.services[name].spec
                            self._sup.watch_respec(name, spec, "started on request")
                results = []
                for name in order:
                    if name in launch:
                        result = await self._outcome(name, t0)
                    else:
                        state = self._sup.services[name].state
                        result = self._result(name, True, 0.0, f"already {state}")
                    results.append({**result, "started": name in launch})
                return results

    async def down(self, force: bool = False) -> None:
        self._sup.request_shutdown(force=force)
        await self._sup.all_stopped.wait()

    # --- helpers -------------------------------------------------------------------------

    async def _restart_one(self, name: str, fresh: StackSpec) -> dict[str, object]:
        t0 = time.monotonic()
        configured = fresh.services.get(name)
        if configured is None:
            return self._result(name, False, 0.0, f"{name} is no longer in {fresh.file}")
        spec = configured  # its setup step may add a venv
        setups = self._sup.setups
        if setups is not None and spec.setup is not None:
            # A changed requirements.txt is installed before the checks judge the new code.
            outcome = await setups.run(spec)
            if not outcome.ok:
                text = f"{outcome.reason}; the running process is kept"
                self._mark_stale(name, "setup failed")
                return self._result(name, False, time.monotonic() - t0, text)
            spec = outcome.spec
            set_up = frozenset({"setup"})  # the start after the stop skips it
        else:
            set_up = frozenset()
        problem, passed = await self._preflight(spec, fresh)
        if problem is not None:
            self._mark_stale(name, "check failed")
            return self._result(name, False, time.monotonic() - t0, problem)
        await self._sup.stop_service(name, hold=False)
        self._sup.services[name].respec(spec, prechecked=passed | set_up)
        self._sup.configured[name] = configured
        self._sup.watch_respec(name, spec)
        return await self._start_one(name, t0)

    def _mark_stale(self, name: str, why: str) -> None:
        """The kept process runs the old code: ps says so until the next start."""
        if self._sup.services[name].state.is_up:
            self._sup.stale[name] = why

    async def _start_one(self, name: str, t0: float | None = None) -> dict[str, object]:
        t0 = time.monotonic() if t0 is None else t0
        if self._is_running(name):
            return self._result(name, True, 0.0, f"already {self._sup.services[name].state}")
        self._sup.launch(name)
        return await self._outcome(name, t0)

    async def _outcome(self, name: str, t0: float) -> dict[str, object]:
        """The result of a start of ``name``, once it is healthy/running or final."""
        svc = self._sup.services[name]
        if self._is_one_shot(name):
            # Running is not its outcome: its exit is (exit 0, or a failure with the code).
            await svc.wait_for(Condition.COMPLETED)
        else:
            await svc.wait_settled()
        took = time.monotonic() - t0
        if svc.has_met(Condition.COMPLETED):  # a one-shot (`release`) that did its job
            assert svc.last_exit is not None
            return self._result(name, True, took, f"completed ({svc.last_exit.describe()})")
        ok = svc.state in _OK_STATES
        message = str(svc.state) if svc.reason is None else f"{svc.state}: {svc.reason}"
        return self._result(name, ok, took, message)

    def _is_one_shot(self, name: str) -> bool:
        """Another service waits for ``name`` to complete (``release = "completed"``): a
        task that ends, so its start's outcome is its exit. Only that certainty counts: a
        ``restart = "no"`` service without a port may well be a long-running worker, and
        waiting for its exit would hold the reply forever."""
        return any(
            s.spec.depends_on.get(name) is Condition.COMPLETED for s in self._sup.services.values()
        )

    def _is_running(self, name: str) -> bool:
        """The task of ``name`` lives: it runs, or is on its way (waiting, backoff)."""
        task = self._sup.tasks.get(name)
        return task is not None and not task.done()

    def _to_launch(self, names: list[str]) -> set[str]:
        """Of ``names`` and what they depend on, the services to start: those not running,
        except a dependency whose condition is met (a one-shot that completed)."""
        services = self._sup.services
        chosen: set[str] = set()
        todo = [n for n in names if not self._is_running(n)]
        while todo:
            name = todo.pop()
            if name in chosen:
                continue
            chosen.add(name)
            for dep, condition in services[name].spec.depends_on.items():
                done = condition is Condition.COMPLETED and services[dep].has_met(condition)
                if not self._is_running(dep) and not done:
                    todo.append(dep)
        return chosen

    async def _preflight(
        self, spec: ServiceSpec, stack: StackSpec
    ) -> tuple[str | None, frozenset[str]]:
        """The service's checks against the new code: a failure text (the old process is
        kept), else None and the checks that passed (the start does not run them again)."""
        from devstack.checks.runner import check_service

        # The running copy holds the port: every check but that one (and the setup's).
        results = await check_service(spec, stack, skip=("port", "setup"))
        failed = [r for r in results if r.status == "fail"]
        if not failed:
            warned = {r.check for r in results if r.status != "ok"}  # shown again at the start
            return None, frozenset(r.check for r in results if r.check not in warned)
        lines = ["checks failed; the running process is kept"]
        for r in failed:
            lines.append(f"[{r.check}] {r.summary}")
            lines += [f"  {d}" for d in r.details]
        return "\n".join(lines), frozenset()

    def _reload(self) -> StackSpec:
        """stack.toml and the env files as they are now: from the spec cache when none of
        them changed (the usual restart, after a code edit), else validated again."""
        from devstack.config.cached import load_through_cache
        from devstack.config.load import load_stack

        stack = self._sup.stack
        if stack.file is None or stack.from_procfile:
            return load_stack(stack.file, stack.root)
        return load_through_cache(stack.file, stack.root, self._sup.paths.spec_cache)

    def _targets(self, names: list[str], with_dependents: bool) -> list[str]:
        chosen = set(names or self._requested())
        if with_dependents:
            deps = self._deps()
            for name in list(chosen):
                # Not a dependent that was never started: a restart does not start it.
                chosen |= graph.dependents(deps, name) & self._sup.requested
        return self._in_start_order(list(chosen))

    def _deps(self) -> dict[str, list[str]]:
        return {n: list(s.spec.depends_on) for n, s in self._sup.services.items()}

    def _in_start_order(self, names: list[str]) -> list[str]:
        wanted = set(names)
        return [n for n in graph.start_order(self._deps()) if n in wanted]

    def _in_stop_order(self, names: list[str]) -> list[str]:
        return list(reversed(self._in_start_order(names)))

    def _tree_usage(
        self,
        pid: int | None,
        procs: dict[int, proctree.Row],
        children: dict[int, list[int]],
        sample: tuple[float, dict[tuple[int, float], tuple[float, float]]],
    ) -> tuple[float | None, int | None]:
        """CPU% and RSS of the whole process tree of ``pid``.

        CPU% is over the time since the previous ``ps``, or, for a process it did not see
        (the first ``ps``, a child started since), over the process's life: never the 0.0
        of psutil's first cpu_percent. Each process's CPU seconds go into ``sample``'s
        dict, keyed by pid and start time, as the next call's baseline.
        """
        now, seen = sample
        if pid is None or pid not in procs:
            return None, None
        cpu, rss = 0.0, 0
        todo = [pid]
        while todo:
            row = procs[todo.pop()]
            todo += (c for c in children.get(row.pid, ()) if c in procs)
            used = _usage(row)
            if used is None:
                continue
            key = (row.pid, row.create_time)
            before = self._cpu.get(key)
            if before is None:
                ran = proctree.age(row)
                if ran > 0:
                    cpu += used[0] / ran * 100
            elif now > before[1]:
                cpu += max(0.0, used[0] - before[0]) / (now - before[1]) * 100
            rss += used[1]
            seen[key] = (used[0], now)
        return round(cpu, 1), rss

    @staticmethod
    def _result(name: str, ok: bool, took: float, message: str) -> dict[str, Any]:
        return {"name": name, "ok": ok, "took": round(took, 3), "message": message}


def _same_config(now: ServiceSpec | None, started: ServiceSpec) -> bool:
    """Whether a service's config is what its process was started with. A venv its setup
    step made since either was read counts on both sides (as ``up`` activates it)."""
    return now is not None and with_found_venv(now) == with_found_venv(started)
