"""The supervisor: one task per service, signals, ordered shutdown, state on disk.

It owns the things every service shares (the log hub, the guardian, state.json, the
HTTP client for probes) and decides when the stack ends: when every service has
reached a final state, or when asked to stop (Ctrl-C, SIGTERM, SIGHUP).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psutil

from devstack import graph
from devstack.config.profiles import disabled_reason
from devstack.errors import DevstackError
from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, max_bytes_from_env
from devstack.logs.printer import Printer
from devstack.paths import StatePaths
from devstack.procs.guardian import Guardian
from devstack.procs.process import ProcessRecord, use_pidfd_child_watcher
from devstack.procs.reaper import OrphanReaper, become_subreaper
from devstack.procs.statefile import StateFile, reap_stale
from devstack.runtime.refusals import event_text, is_local, likely_moved, refused_addresses
from devstack.runtime.service import ProcessHooks, Service
from devstack.runtime.setupsteps import SetupRunner
from devstack.spec import ServiceSpec, StackSpec
from devstack.states import ServiceState

if TYPE_CHECKING:
    from devstack.checks.checkresult import CheckResult
    from devstack.control.server import ControlServer
    from devstack.runtime.stackcontrol import SupervisorControl
    from devstack.runtime.stdinforward import StdinForward
    from devstack.runtime.watch import Watcher

log = logging.getLogger(__name__)

_GRACEFUL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_BAD_ENDINGS = (ServiceState.FAILED, ServiceState.BLOCKED, ServiceState.NOT_STARTED)


class Supervisor(ProcessHooks):
    def __init__(
        self,
        stack: StackSpec,
        names: Sequence[str] = (),
        *,
        printer: Printer | None = None,
        color: bool | None = None,
        use_guardian: bool = True,
        checks: bool = True,
        setup: bool = True,
        watch: bool | None = None,
        print_output: bool = True,
        forward_stdin: bool = False,
    ) -> None:
        self.stack = stack
        # True: a foreground `up`; stdin goes to the one interactive service, if just one.
        self._forward_stdin = forward_stdin
        self._print_output = print_output  # False: events only on the printer (up -d)
        deps = {n: list(s.depends_on) for n, s in stack.services.items()}
        chosen = graph.closure(deps, names) if names else set(stack.services)
        # Declaration order, restricted to what was asked for and what it needs: what
        # starts now. The rest of the stack is held too, for `devstack start` / `up SVC`.
        self.order = [n for n in stack.services if n in chosen]
        self.requested: set[str] = set()  # every service launched at least once
        self.paths = StatePaths.of_stack(stack)
        self._printer = printer
        self._color = color
        self._use_guardian = use_guardian
        self._checks = checks
        self._run_setup = setup  # False: up --no-setup
        self._watch = watch  # None: the services' watch keys; False: --no-watch; True: --watch
        # name -> why the running process is not the current code ("check failed")
        self.stale: dict[str, str] = {}
        self.control: SupervisorControl | None = None
        self.watcher: Watcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.setups: SetupRunner | None = None  # made with the hub; None with --no-setup
        # As uuid4().hex or secrets.token_hex(16), without what they import at start
        # (uuid: platform; secrets: hmac and OpenSSL's hashlib).
        self.stack_id = os.urandom(16).hex()
        self.hub: LogHub | None = None
        self.services: dict[str, Service] = {}
        self._guardian: Guardian | None = None
        self._state: StateFile | None = None
        self._records: dict[str, ProcessRecord] = {}
        self._shutdown = asyncio.Event()
        self._wake = asyncio.Event()
        self.all_stopped = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # Each service's spec as the config resolved it for its current (or next) process,
        # before a setup step added its venv: `ps` compares it with the config as it is now.
        self.configured: dict[str, ServiceSpec] = dict(stack.services)
        self._held: set[str] = set()
        self._busy = 0
        self._refusals: dict[tuple[str, int], tuple[object, ...]] = {}
        # Env warnings already shown: a line of a .env every service reads is shown once.
        self._env_warned: dict[tuple[str, str, str | None], str] = {}
        # Checks running for a copy of a service, by what they judge: the other copies wait.
        self._checking: dict[tuple[object, frozenset[str]], _SharedChecks] = {}
        self._signal: int | None = None
        self._forced = False
        self._http: Any = None
        self._server: ControlServer | None = None
        self._owns_directory = False

    # --- ProcessHooks ------------------------------------------------------------------

    def spawned(self, service: str, record: ProcessRecord) -> None:
        self._records[service] = record
        if self._state is not None:
            self._state.record(service, record)
        if self._guardian is not None:
            self._guardian.watch(record)

    def ended(self, service: str, record: ProcessRecord) -> None:
        if self._records.get(service) != record:
            return  # already forgotten (ended is idempotent)
        del self._records[service]
        if self._state is not None:
            self._state.forget(service)
        if self._guardian is not None:
            self._guardian.forget(record)

    # --- running -----------------------------------------------------------------------

    def http_client(self) -> Any:
        """One httpx client for every http probe, made on first use (httpx is slow to import)."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._http

    async def run(self) -> int:
        """Run the stack until it ends; the exit code (0, 1, or 128+signal)."""
        self.paths.prepare()
        printer = self._printer or Printer(list(self.stack.services), color=self._color)
        self.hub = hub = LogHub(
            printer,
            self.paths.log_dir,
            max_bytes=max_bytes_from_env(),
            print_output=self._print_output,
        )
        if self._run_setup:
            self.setups = SetupRunner(
                self.paths.dir, hub, self, self.stack_id, stack_file=self.stack.file
            )
        loop = asyncio.get_running_loop()
        printer.defer_wakeups(loop)
        reaper: OrphanReaper | None = None
        try:
            use_pidfd_child_watcher(loop)
            await self._claim_directory()
            for line in reap_stale(self.paths.state_file):
                hub.message(line, "warn")
            self._state = StateFile(self.paths.state_file, self.stack_id, hub.message)
            self._state.coalesce(loop)
            if self._use_guardian:
                self._guardian = await Guardian.start(self.stack_id)
            if become_subreaper():
                reaper = OrphanReaper(self._own_pids)
                reaper.install(loop)
            for sig in _GRACEFUL_SIGNALS:
                loop.add_signal_handler(sig, self._on_signal, sig)
            # A handled SIGQUIT means children start with the default disposition (exec resets it).
            loop.add_signal_handler(signal.SIGQUIT, self._force)
            return await self._run_services()
        finally:
            if self._server is not None:
                await self._server.close()
            if self._owns_directory:  # never another supervisor's pid file
                with contextlib.suppress(FileNotFoundError):
                    self.paths.pid_file.unlink()
            for sig in (*_GRACEFUL_SIGNALS, signal.SIGQUIT):
                loop.remove_signal_handler(sig)
            if reaper is not None:
                reaper.close()
            if self._guardian is not None:
                await self._guardian.close()
            if self._state is not None:
                self._state.clear()
            if self._http is not None:
                await self._http.aclose()
            hub.close()

    async def _claim_directory(self) -> None:
        """One supervisor per directory: clean what a dead one left, refuse a live one,
        then write the pid file and serve the control socket."""
        from devstack.control.server import remove_stale, serve
        from devstack.runtime.stackcontrol import SupervisorControl

        remove_stale(self.paths)
        running = running_supervisor(self.paths)
        if running is not None:
            pid, since = running
            raise DevstackError(
                f"a stack is already running in {self.stack.root} (pid {pid}, since {since})",
                hint="see it with: devstack ps; stop it with: devstack down",
            )
        me = psutil.Process()
        self.paths.pid_file.write_text(f"{me.pid} {me.create_time()}\n")
        self._owns_directory = True
        self.control = SupervisorControl(self)
        self._server = await serve(self.control, self.paths)

    def _own_pids(self) -> set[int]:
        pids = {r.pid for r in self._records.values()}
        if self._guardian is not None:
            pids.add(self._guardian.pid)
        return pids

    async def _run_services(self) -> int:
        assert self.hub is not None
        for name, spec in self.stack.services.items():
            self.services[name] = self._new_service(spec)
            if name not in self.order:
                why = disabled_reason(spec, self.stack.profiles)
                self.services[name].mark_not_requested(why)
        for name in self.order:
            self.launch(name)
        self._start_watching()
        forward = self._stdin_forward()
        try:
            # Until asked to stop, or until every service has ended by itself and no
            # control command holds the stack open (a service stopped with
            # `devstack stop` keeps the supervisor alive for `devstack start`).
            while not self._shutdown.is_set():
                if (
                    self._busy == 0
                    and not self._held
                    and all(t.done() for t in self.tasks.values())
                ):
                    break
                self._wake.clear()
                await self._wake.wait()
        finally:
            if forward is not None:
                forward.close()
            if self._watch_task is not None:  # no watch-triggered restart during the stop
                self._watch_task.cancel()
                await asyncio.gather(self._watch_task, return_exceptions=True)
            await self._stop_in_order(self.tasks)
            self.all_stopped.set()
        self._summary()
        if self._signal is not None:
            return 128 + self._signal
        bad = [s for s in self.services.values() if s.state in _BAD_ENDINGS]
        return 1 if bad else 0

    def _stdin_forward(self) -> StdinForward | None:
        """The terminal's input to the one interactive service this `up` runs, said in a
        line; None when there is none, or more than one (`devstack attach` picks one)."""
        if not self._forward_stdin:
            return None
        names = [n for n in self.order if self.stack.services[n].interactive]
        from devstack.runtime.stdinforward import StdinForward, is_foreground

        if len(names) != 1 or not is_foreground(0):
            return None
        assert self.hub is not None
        forward = StdinForward(self.services[names[0]])
        forward.install(asyncio.get_running_loop())
        self.hub.message(
            f"what you type goes to {names[0]} (interactive); Ctrl-C stops the stack; "
            f"`devstack attach {names[0]}` gives it the whole terminal"
        )
        return forward

    def _start_watching(self) -> None:
        """Watch mode (runtime.watch) for the services that ask for it, unless --no-watch."""
        if self._watch is False or self.control is None:
            return
        from devstack.runtime.watch import watched_specs

        specs = {n: self.stack.services[n] for n in self.order}
        watched = watched_specs(specs, default_python=self._watch is True)
        if watched:
            assert self.hub is not None
            self.hub.message(f"watching for changes: {', '.join(watched)}")
            self._new_watcher(watched)

    def _new_watcher(self, watched: dict[str, ServiceSpec]) -> Watcher:
        from devstack.runtime.watch import Watcher

        assert self.control is not None and self.hub is not None
        restart = functools.partial(self.control.restart, with_dependents=False)
        self.watcher = Watcher(
            self.hub,
            self.paths.dir,
            self.services,
            lambda: self.requested,
            restart,
            watched,
            default_python=self._watch is True,
        )
        self._watch_task = asyncio.create_task(self.watcher.run(), name="watch")
        return self.watcher

    def watch_respec(
        self, name: str, spec: ServiceSpec, why: str = "from the re-read stack.toml"
    ) -> None:
        """A restart re-read ``name``'s config, or ``name`` started for the first time: its
        watch follows it (started, changed or ended), unless the stack runs under --no-watch."""
        if self._watch is False or self.control is None:
            return
        watcher = self.watcher
        if watcher is None:
            from devstack.runtime.watch import watched_specs

            if not watched_specs({name: spec}, default_python=self._watch is True):
                return
            watcher = self._new_watcher({})
        watcher.respec(name, spec, why)

    def _new_service(self, spec: ServiceSpec) -> Service:
        assert self.hub is not None
        return Service(
            spec,
            hub=self.hub,
            stack_id=self.stack_id,
            hooks=self,
            http_client=self.http_client,
            preflight=self._preflight if self._checks else None,
            output_hook=self._explain_refusals,
            setup=self.setups,
            on_change=self._state_changed,
        )

    def _state_changed(self, name: str) -> None:
        if self.control is not None:
            self.control.state_changed(name)

    def _explain_refusals(self, name: str, chunk: LogChunk) -> None:
        """After ``ECONNREFUSED 127.0.0.1:5000`` in a service's output, say whose port it
        is and what became of that service: once per episode (until its state changes)."""
        for host, port in refused_addresses(chunk.text):
            if not is_local(host):
                continue
            target = next((s for s in self.services.values() if s.spec.port == port), None)
            if target is not None and target.name == name:
                continue
            if target is None:
                episode: tuple[object, ...] = ("none",)
                specs = {n: s.spec for n, s in self.services.items()}
                moved = likely_moved(specs, port, self.services[name].spec)
                text = event_text(host, port, None, "", None, moved)
            else:
                episode = (target.state, target.reason)
                text = event_text(host, port, target.name, str(target.state), target.reason)
            if self._refusals.get((name, port)) == episode:
                continue
            self._refusals[(name, port)] = episode
            assert self.hub is not None
            self.hub.event(name, text, "warn")

    async def _preflight(
        self, spec: ServiceSpec, skip: frozenset[str] = frozenset()
    ) -> list[CheckResult]:
        from devstack.checks.runner import CHECKS, check_key, check_service, first_time

        # The setup step ran (or was skipped on purpose) just before: not its program.
        skip = frozenset({"setup", *skip})
        if spec.replica_of is None or "port" in skip:
            results = await check_service(spec, self.stack, skip=skip)
            return first_time(results, self._env_warned)
        # Copies of a service checked together share one run of what they have in common
        # (check_key); the port check is each copy's own.
        key = (check_key(spec), skip)
        shared = self._checking.get(key)
        if shared is None:
            shared = self._checking[key] = _SharedChecks()
            try:
                common = await check_service(spec, self.stack, skip={*skip, "port"})
                shared.results = common
            finally:  # done or cancelled (stopped): the next copies to come run their own
                del self._checking[key]
                shared.done.set()
        else:
            await shared.done.wait()
            if shared.results is None:  # the copy running them was stopped
                return await self._preflight(spec, skip)
            common = shared.results
        own = await check_service(spec, self.stack, skip=[c for c in CHECKS if c != "port"])
        order = {name: i for i, name in enumerate(CHECKS)}
        results = sorted([*common, *own], key=lambda r: order.get(r.check, len(order)))
        return first_time(results, self._env_warned)

    def launch(self, name: str) -> asyncio.Task[None]:
        """Start the task of ``name`` (it waits for its own dependencies first)."""
        self._held.discard(name)
        self.requested.add(name)
        self.stale.pop(name, None)  # a new process runs the code as it is now
        self.services[name].mark_pending()
        task = asyncio.create_task(self.services[name].run(self.services), name=f"service:{name}")
        task.add_done_callback(functools.partial(self._task_done, name))
        self.tasks[name] = task
        return task

    def _task_done(self, name: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self.hub is not None:
            exc = task.exception()
            self.hub.event(name, f"[internal error] {type(exc).__name__}: {exc}", "error")
            log.error("service %s task failed", name, exc_info=exc)
        self._wake.set()

    def add_service(self, spec: ServiceSpec, after: str) -> None:
        """A copy ``devstack scale`` adds, placed after ``after`` (``ps`` order); not
        started: ``launch`` starts it."""
        entries = list(self.services.items())
        at = next(i for i, (n, _) in enumerate(entries) if n == after) + 1
        entries.insert(at, (spec.name, self._new_service(spec)))
        self.services.clear()  # the same dict: the watcher and the control read it live
        self.services.update(entries)
        self.configured[spec.name] = spec

    def forget_service(self, name: str) -> None:
        """A copy ``devstack scale`` removed, once stopped: nothing refers to it any more."""
        if self.watcher is not None:
            self.watcher.forget(name)
        self.services.pop(name, None)
        self.tasks.pop(name, None)
        self.configured.pop(name, None)
        self.stale.pop(name, None)
        self.requested.discard(name)
        self._held.discard(name)
        self._wake.set()

    async def stop_service(self, name: str, *, hold: bool = True) -> None:
        """Stop one service's processes (its task); ``hold`` keeps the supervisor alive."""
        if hold:
            self._held.add(name)
        task = self.tasks.get(name)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._wake.set()

    def hold(self) -> _Hold:
        """While a control command runs, the stack does not end by itself."""
        return _Hold(self)

    async def _stop_in_order(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        """Stop every service after the services that depend on it (reverse dependency order)."""
        stopped = {name: asyncio.Event() for name in tasks}
        dependents = {
            name: [d for d in tasks if name in self.services[d].spec.depends_on] for name in tasks
        }

        async def stop_one(name: str) -> None:
            for dependent in dependents[name]:
                await stopped[dependent].wait()
            task = tasks[name]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            stopped[name].set()

        await asyncio.gather(*(stop_one(n) for n in tasks))

    def request_shutdown(self, force: bool = False) -> None:
        """`devstack down`: like SIGTERM; ``force`` like a second Ctrl-C."""
        if force:
            self._force()
        elif not self._shutdown.is_set():
            self._shutdown.set()
            self._wake.set()

    def _on_signal(self, sig: int) -> None:
        if self._shutdown.is_set():
            self._force()
            return
        self._signal = sig
        assert self.hub is not None
        name = signal.Signals(sig).name
        self.hub.message(f"{name}: stopping the stack (again to kill at once)", "warn")
        self._shutdown.set()
        self._wake.set()

    def _force(self) -> None:
        """Second Ctrl-C (or SIGQUIT): SIGKILL everything now."""
        if self._signal is None:
            self._signal = signal.SIGINT
        self._forced = True
        self._shutdown.set()
        self._wake.set()
        if self.hub is not None:
            self.hub.message("killing every process now", "error")
        for svc in self.services.values():
            svc.kill()
        if self.setups is not None:
            self.setups.kill()

    def _summary(self) -> None:
        assert self.hub is not None
        bad = [s for s in self.services.values() if s.state in _BAD_ENDINGS]
        for svc in bad:
            self.hub.message(f"{svc.name}: {svc.state}: {svc.reason or ''}".rstrip(": "), "error")


class _SharedChecks:
    """One run of the checks the copies of a service starting together share."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.results: list[CheckResult] | None = None


class _Hold:
    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def __enter__(self) -> None:
        self._supervisor._busy += 1

    def __exit__(self, *exc: object) -> None:
        self._supervisor._busy -= 1
        self._supervisor._wake.set()


def running_supervisor(paths: StatePaths) -> tuple[int, str] | None:
    """(pid, start time) of a live devstack supervisor recorded in ``paths``, else None."""
    try:
        pid_text, created = paths.pid_file.read_text().split()[:2]
        proc = psutil.Process(int(pid_text))
        if proc.pid == os.getpid() or abs(proc.create_time() - float(created)) > 0.01:
            return None
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(created)))
        return proc.pid, since
    except (OSError, ValueError, psutil.Error):
        return None


def run_stack(stack: StackSpec, names: Sequence[str] = (), **kwargs: Any) -> int:
    """Run the supervisor in a fresh event loop (the CLI's entry point)."""
    # The modules and the config live as long as the process: frozen, no collection
    # walks them again.
    gc.freeze()
    gc.enable()
    return asyncio.run(Supervisor(stack, names, **kwargs).run())
