"""Watch mode: a saved file restarts its service, through the checked restart.

One watchfiles ``awatch`` per watched service collects its changes (the batch ends
once no change came for between half and all of the service's ``watch_debounce``). The
batches go into one pending set; a single dispatcher takes everything pending at once
and hands it to the ``restart(names)`` it was given: the supervisor gives the checked
restart (``SupervisorControl.restart``), the same path as ``devstack restart``: checks
against the new code first, a failure keeps the old process (and marks it stale).
Changes arriving during a restart are taken together afterwards, so a burst is one
restart per service.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from devstack import graph
from devstack.logs.hub import LogHub
from devstack.runtime.service import Service
from devstack.runtime.watchrules import (
    DEFAULT_PYTHON_WATCH,
    WatchRules,
    failure_key,
    is_python_service,
    self_reloading,
)
from devstack.runtime.watchrules import summarize as summarize_changes
from devstack.spec import ServiceSpec
from devstack.states import ServiceState

# The checked restart of these services (no dependents): one result dict per service.
Restart = Callable[[list[str]], Awaitable[list[dict[str, object]]]]
# The longest one batch may keep growing while changes keep coming (watchfiles' debounce).
_MAX_BATCH_MS = 2000


def watched_specs(specs: Mapping[str, ServiceSpec], default_python: bool) -> dict[str, ServiceSpec]:
    """The services to watch: those with ``watch``; with ``up --watch`` also every Python
    service without one (given ``**/*.py``), unless it reloads itself."""
    chosen = {}
    for name, spec in specs.items():
        if spec.watch:
            chosen[name] = spec
        elif default_python and is_python_service(spec) and self_reloading(spec) is None:
            chosen[name] = dataclasses.replace(spec, watch=DEFAULT_PYTHON_WATCH)
    return chosen


# What a watcher is made from: a restart that changes one of them re-makes it.
_WATCH_FIELDS = ("cwd", "watch", "watch_ignore", "watch_debounce")
# Services whose watch fields are equal (the copies of a service with replicas) share
# one watcher: one inotify instance for the tree, and one batch restarts them together.
_Key = tuple[object, ...]


def _key(spec: ServiceSpec) -> _Key:
    return tuple(getattr(spec, f) for f in _WATCH_FIELDS)


class Watcher:
    def __init__(
        self,
        hub: LogHub,
        state_dir: Path,
        services: Mapping[str, Service],
        requested: Callable[[], set[str]],
        restart: Restart,
        specs: Mapping[str, ServiceSpec],
        default_python: bool = False,
    ) -> None:
        self._hub = hub
        self._state_dir = state_dir  # never watched: the logs written there change all the time
        self._services = services  # the supervisor's, live
        self._requested = requested
        self._restart = restart
        self._specs = dict(specs)
        self._default_python = default_python
        self._tasks: dict[_Key, asyncio.Task[None]] = {}
        self._keys: dict[str, _Key] = {}  # each watched service's watcher
        self._pending: dict[str, set[str]] = {}
        self._kick = asyncio.Event()
        # The last failure printed per service: the same one is not printed again.
        self._shown: dict[str, str] = {}

    async def run(self) -> None:
        """Watch until cancelled."""
        for name, spec in self._specs.items():
            if name not in self._keys:  # respec() may have come first
                self._watch(name, spec)
        try:
            await self._dispatch()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self, name: str) -> None:
        """``name`` is gone (``devstack scale`` removed the copy): no watch, no restart."""
        self._specs.pop(name, None)
        self._unwatch(name)

    def _watch(self, name: str, spec: ServiceSpec) -> None:
        key = self._keys[name] = _key(spec)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._collect(key, spec))

    def _unwatch(self, name: str) -> None:
        """``name`` no longer uses its watcher: it ends when no other service does."""
        key = self._keys.pop(name, None)
        if key is not None and key not in self._keys.values():
            self._tasks.pop(key).cancel()

    def respec(
        self, name: str, spec: ServiceSpec, why: str = "from the re-read stack.toml"
    ) -> None:
        """``spec`` is what ``name`` runs from now on (a restart re-read stack.toml): watch
        what it asks for, starting, changing or ending its watch when that differs."""
        new = watched_specs({name: spec}, self._default_python).get(name)
        old = self._specs.get(name)
        if new is not None and old is not None:
            self._specs[name] = new  # restart_dependents_on_change applies at once
            if all(getattr(new, f) == getattr(old, f) for f in _WATCH_FIELDS):
                return
        if new is None and old is None:
            return
        self._unwatch(name)
        if new is None:
            del self._specs[name]
            self._hub.event(name, "[watch] no longer watched (watch removed)", "info")
            return
        self._specs[name] = new
        self._watch(name, new)
        globs = ", ".join(new.watch)
        self._hub.event(name, f"[watch] watching {globs} ({why})", "info")

    async def _collect(self, key: _Key, spec: ServiceSpec) -> None:
        from watchfiles import awatch

        rules = WatchRules(spec.cwd, spec.watch, spec.watch_ignore, self._state_dir)
        # watchfiles ends a batch at the first `step` that saw no new change: with half the
        # debounce, the quiet time before a restart is between half and all of it.
        step = max(1, round(spec.watch_debounce * 500))
        try:
            async for changes in awatch(
                spec.cwd, watch_filter=rules, step=step, debounce=max(_MAX_BATCH_MS, 4 * step)
            ):
                for name in [n for n, k in self._keys.items() if k == key]:
                    self._pending.setdefault(name, set()).update(path for _, path in changes)
                self._kick.set()
        except Exception as exc:  # e.g. the inotify watch limit: say so, keep the stack up
            text = f"[watch] stopped watching {spec.cwd}: {type(exc).__name__}: {exc}"
            for name in [n for n, k in self._keys.items() if k == key]:
                self._hub.event(name, text, "error")

    async def _dispatch(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            batch, self._pending = self._pending, {}
            await self._apply(batch)

    async def _apply(self, batch: dict[str, set[str]]) -> None:
        hub = self._hub
        names = []
        for name, paths in batch.items():
            if name not in self._specs:
                continue  # a copy removed by `devstack scale` since the change
            if self._services[name].state is ServiceState.STOPPED:
                continue  # stopped on purpose (devstack stop): a save does not start it
            names.append(name)
            what = summarize_changes(paths, self._specs[name].cwd)
            hub.event(name, f"[watch] changed: {what}; checking, then restarting", "info")
        targets = set(names)
        deps = {n: list(s.spec.depends_on) for n, s in self._services.items()}
        for name in names:
            if self._specs[name].restart_dependents_on_change:
                # Not one that was never started: a save does not start it.
                targets |= graph.dependents(deps, name) & self._requested()
        if not targets:
            return
        for result in await self._restart(sorted(targets)):
            name = str(result["name"])
            if result["ok"]:
                self._shown.pop(name, None)
                hub.event(name, f"[watch] restarted in {result['took']}s", "info")
            elif self._shown.get(name) != failure_key(str(result["message"])):
                self._shown[name] = failure_key(str(result["message"]))
                hub.event(name, f"[watch] {result['message']}", "error")
