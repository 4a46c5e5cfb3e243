"""The running supervisor as seen from another terminal: the ``StackControl`` side.

``devstack ps / logs / restart / stop / start / down`` arrive over the control socket
and end here, on the supervisor's event loop. Commands that change the stack run one
at a time (20 concurrent ``restart backend`` make exactly one backend at the end);
``ps`` and ``logs`` never wait for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psutil

from devstack import graph
from devstack.control.statefeed import StateFeed
from devstack.errors import DevstackError, UsageError
from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, LogSubscription
from devstack.paths import StatePaths
from devstack.procs import proctree
from devstack.project.venv import with_found_venv
from devstack.runtime.service import Service
from devstack.runtime.setupsteps import SetupRunner
from devstack.spec import ServiceSpec, StackSpec, copies_of, group_of
from devstack.stackfile import LOCAL_FILE
from devstack.states import Condition, ServiceState

if TYPE_CHECKING:
    from devstack.procs.terminal import Attachment


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
    def add_service(self, spec: ServiceSpec, after: str) -> None: ...
    def forget_service(self, name: str) -> None: ...
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
        # Copies per replicated service as `devstack scale` set them, over stack.toml's.
        self._scaled: dict[str, int] = {}
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
        # One read of the services' trees gives their CPU and memory (on Linux one read
        # of /proc/PID/stat each: psutil's per-attribute reads made ps 3x slower).
        pids = [svc.snapshot().pid for svc in self._sup.services.values()]
        procs = proctree.trees([pid for pid in pids if pid is not None])
        children: dict[int, list[int]] = {}
        for row in procs.values():
            children.setdefault(row.ppid, []).append(row.pid)
        now = time.monotonic()
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        config = self._current_config()
        hub = self._sup.hub
        for name, svc in self._sup.services.items():
            snap = svc.snapshot()
            # A stopped service has no health: its last probe was of a process now gone.
            probe = None if snap.state is ServiceState.STOPPED else snap.last_probe
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
                    "replica_of": svc.spec.replica_of,  # copies of one service (replicas)
                    "replica": svc.spec.replica,
                    "log_file": None if hub is None else hub.file_problem(name),
                    "interactive": svc.spec.interactive,  # `attach` can connect to it
                }
            )
        self._cpu = seen
        return rows

    def _current_config(self) -> Mapping[str, ServiceSpec] | None:
        """The services as stack.toml and the env files resolve now; read again only when
        one of those files changed since the last look (else `ps` costs a few stats)."""
        stack = self._sup.stack
        env_files = {f for spec in self._sup.configured.values() for f in spec.env_files}
        files = list(stack.files or ([] if stack.file is None else [stack.file]))
        if not stack.layers and stack.file is not None and not stack.from_procfile:
            files.append(stack.root / LOCAL_FILE)  # found when it appears
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

    def attach(self, name: str, rows: int | None) -> Attachment:
        """The terminal of ``name``'s running process, now attached to the caller (the
        attachment it had, if any, is ended: the latest attach wins).

        UsageError when the process has no terminal (``interactive`` is not set, or was set
        after it started); DevstackError when no process of it runs.
        """
        svc = self._sup.services[name]
        proc = svc.process
        has_terminal = proc.terminal is not None if proc is not None else svc.spec.interactive
        if not has_terminal:
            where = self._sup.stack.file or "stack.toml"
            table = svc.spec.replica_of or name
            raise UsageError(
                f"{name} is not interactive (its stdin is closed)",
                hint=f"set `interactive = true` under [services.{table}] in {where}, "
                f"then `devstack restart {table}`",
            )
        if proc is None or proc.terminal is None or not svc.state.is_up:
            raise DevstackError(f"{name} is not running ({svc.state})", f"devstack start {name}")
        return proc.terminal.attach(rows)

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
        """The part of ``name``'s ps row that a state change changes: no process scan.
        A copy ``devstack scale`` removed: ``{"name", "state": "removed"}``."""
        svc = self._sup.services.get(name)
        if svc is None:
            return {"name": name, "state": "removed"}
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
                checked: dict[object, tuple[str | None, frozenset[str]]] = {}
                for name in targets:
                    results.append(await self._restart_one(name, fresh, checked))
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

    async def scale(self, name: str, count: int) -> list[dict[str, object]]:
        """``name``'s copies to ``count``: new ones pass their checks first (every one, or
        none starts: a port taken refuses the scale), then start together; removed ones
        stop, highest numbers first. One result per copy started or stopped."""
        async with self._lock:
            with self._sup.hold():
                now = copies_of(self._sup.services, name)
                self._config_stamp = None  # `ps` compares with the config at the new count
                if count == len(now):
                    return [self._result(name, True, 0.0, f"already {count} copies")]
                if count < len(now):
                    return await self._scale_down(name, now[count:])
                return await self._scale_up(name, count, now)

    async def _scale_up(self, name: str, count: int, now: list[str]) -> list[dict[str, object]]:
        t0 = time.monotonic()
        try:
            fresh = self._reload({**self._scaled, name: count})
        except DevstackError as exc:
            return [self._result(name, False, 0.0, exc.render())]
        new = [fresh.services.get(f"{name}.{k}") for k in range(len(now) + 1, count + 1)]
        if not all(new):
            text = f"{name} has no replicas in {fresh.file} any more; restart the stack"
            return [self._result(name, False, 0.0, text)]
        checked = []
        for spec in filter(None, new):  # one after the other: each says what it saw
            problem, passed = await self._preflight(spec, fresh, skip=("setup",))
            if problem is not None:
                refused = problem.replace("the running process is kept", "not scaled")
                return [self._result(spec.name, False, time.monotonic() - t0, refused)]
            checked.append((spec, passed))
        self._scaled[name] = count
        after = now[-1]
        for spec, passed in checked:
            self._sup.add_service(spec, after)
            self._sup.services[spec.name].respec(spec, prechecked=passed)
            after = spec.name
        self._follow_copies(name)
        for spec, _ in checked:
            self._sup.launch(spec.name)
            self._sup.watch_respec(spec.name, spec, "started by scale")
        return [await self._outcome(spec.name, t0) for spec, _ in checked]

    async def _scale_down(self, name: str, removed: list[str]) -> list[dict[str, object]]:
        results = []
        self._scaled[name] = len(copies_of(self._sup.services, name)) - len(removed)
        for copy in reversed(removed):  # highest numbers first
            t0 = time.monotonic()
            await self._sup.stop_service(copy, hold=False)
            state = self._sup.services[copy].state
            self._sup.forget_service(copy)
            self.state_changed(copy)  # the watchers drop its row
            results.append(self._result(copy, True, time.monotonic() - t0, f"{state}, removed"))
        self._follow_copies(name)
        return results

    def _follow_copies(self, name: str) -> None:
        """Who depended on ``name``'s copies depends on the copies there are now."""
        copies = copies_of(self._sup.services, name)
        for svc in self._sup.services.values():
            conditions = [c for d, c in svc.spec.depends_on.items() if group_of(d) == name]
            if not conditions or svc.spec.replica_of == name:
                continue
            kept = {d: c for d, c in svc.spec.depends_on.items() if group_of(d) != name}
            depends_on = {**kept, **dict.fromkeys(copies, conditions[0])}
            svc.follow_copies(depends_on)
            configured = self._sup.configured[svc.name]
            self._sup.configured[svc.name] = dataclasses.replace(configured, depends_on=depends_on)

    async def _restart_one(
        self,
        name: str,
        fresh: StackSpec,
        checked: dict[object, tuple[str | None, frozenset[str]]] | None = None,
    ) -> dict[str, object]:
        t0 = time.monotonic()
        configured = fresh.services.get(name)
        if configured is None:
            group = group_of(name)
            count = len(copies_of(fresh.services, group))
            if count and group != name:  # replicas lowered in the file: scale removes it
                text = (
                    f"{name} is past replicas = {count} in {fresh.file}; "
                    f"devstack scale {group}={count} removes it"
                )
                return self._result(name, False, 0.0, text)
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
        from devstack.checks.runner import check_key

        # The copies of a service pass or fail one set of checks (checked once), unless a
        # value of their own differs beyond their port and url (`${replica}` in env...).
        key = check_key(spec)
        found = None if checked is None else checked.get(key)
        problem, passed = found or await self._preflight(spec, fresh)
        if checked is not None:
            checked[key] = (problem, passed)
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
        self, spec: ServiceSpec, stack: StackSpec, skip: tuple[str, ...] = ("port", "setup")
    ) -> tuple[str | None, frozenset[str]]:
        """The service's checks against the new code: a failure text (the old process is
        kept), else None and the checks that passed (the start does not run them again)."""
        from devstack.checks.runner import check_service

        # The running copy holds the port: every check but that one (and the setup's).
        results = await check_service(spec, stack, skip=skip)
        failed = [r for r in results if r.status == "fail"]
        if not failed:
            warned = {r.check for r in results if r.status != "ok"}  # shown again at the start
            return None, frozenset(r.check for r in results if r.check not in warned)
        lines = ["checks failed; the running process is kept"]
        for r in failed:
            lines.append(f"[{r.check}] {r.summary}")
            lines += [f"  {d}" for d in r.details]
        return "\n".join(lines), frozenset()

    def _reload(self, scaled: Mapping[str, int] | None = None) -> StackSpec:
        """stack.toml and the env files as they are now: from the spec cache when none of
        them changed (the usual restart, after a code edit), else validated again. With
        the copies `devstack scale` set (``scaled``: those and the ones set before)."""
        from devstack.config.cached import load_through_cache
        from devstack.config.load import load_stack

        stack = self._sup.stack
        if stack.file is None or stack.from_procfile:
            return load_stack(stack.file, stack.root)
        scaled = self._scaled if scaled is None else scaled
        if scaled:
            return load_stack(stack.layers or None, stack.root, replicas=scaled)
        # Every layer again (found anew: a stack.local.toml made since counts) and includes.
        return load_through_cache(stack.layers, stack.root, self._sup.paths.spec_cache)

    def _targets(self, names: list[str], with_dependents: bool) -> list[str]:
        # Not a copy `devstack scale` removed since a watched change named it.
        chosen = {n for n in names or self._requested() if n in self._sup.services}
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
