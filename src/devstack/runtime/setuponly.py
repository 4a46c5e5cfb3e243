"""The setup steps of a stack run on their own, nothing started (``devstack setup``).

Each service's setup waits for the setup steps of what it depends on (not for their
health: nothing is started); independent ones run at once. Output goes through the
same pipeline as under ``up`` (prefix, ``.devstack/logs/SERVICE.log``). Ctrl-C stops
every running setup's process tree; a second Ctrl-C kills at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid

from devstack.errors import EXIT_FAILED, EXIT_OK
from devstack.logs.hub import LogHub, max_bytes_from_env
from devstack.logs.printer import Printer
from devstack.paths import StatePaths
from devstack.procs.guardian import Guardian
from devstack.procs.process import ProcessRecord, use_pidfd_child_watcher
from devstack.runtime.setupsteps import SetupOutcome, SetupRunner
from devstack.spec import StackSpec

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_setup_only(stack: StackSpec, order: list[str], *, force: bool, color: bool | None) -> int:
    """Run the setup steps of ``order`` (dependencies first); the exit code."""
    return asyncio.run(SetupOnly(stack, order, force=force, color=color).run())


class SetupOnly:
    """The setup steps of ``order`` (dependencies first) with their own log pipeline."""

    def __init__(self, stack: StackSpec, order: list[str], *, force: bool, color: bool | None):
        self.stack = stack
        self.order = order
        self.force = force
        self.color = color
        self.signal: int | None = None
        self.runner: SetupRunner | None = None
        self.tasks: dict[str, asyncio.Task[SetupOutcome]] = {}
        self._guardian: Guardian | None = None

    # ProcessHooks: the guardian ends a setup's tree if this command is SIGKILLed.
    def spawned(self, service: str, record: ProcessRecord) -> None:
        if self._guardian is not None:
            self._guardian.watch(record)

    def ended(self, service: str, record: ProcessRecord) -> None:
        if self._guardian is not None:
            self._guardian.forget(record)

    async def run(self) -> int:
        paths = StatePaths.of_stack(self.stack)
        paths.prepare()
        hub = LogHub(Printer(self.order, color=self.color), paths.log_dir, max_bytes_from_env())
        loop = asyncio.get_running_loop()
        stack_id = uuid.uuid4().hex
        try:
            use_pidfd_child_watcher(loop)
            self._guardian = await Guardian.start(stack_id)
            self.runner = SetupRunner(paths.dir, hub, self, stack_id, stack_file=self.stack.file)
            for sig in _SIGNALS:
                loop.add_signal_handler(sig, self._on_signal, sig, hub)
            for name in self.order:
                self.tasks[name] = asyncio.create_task(self._one(name, hub))
            outcomes = await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
            if self._guardian is not None:
                await self._guardian.close()
            hub.close()
        if self.signal is not None:
            return 128 + self.signal
        failed = [
            name
            for name, o in zip(self.order, outcomes, strict=True)
            if not isinstance(o, SetupOutcome) or not o.ok
        ]
        for name in failed:
            print(f"devstack: {name}: setup failed", file=sys.stderr)
        return EXIT_FAILED if failed else EXIT_OK

    async def _one(self, name: str, hub: LogHub) -> SetupOutcome:
        spec = self.stack.services[name]
        for dep in spec.depends_on:
            outcome = await asyncio.shield(self.tasks[dep])
            if not outcome.ok:
                if spec.setup is not None:
                    hub.event(name, f"[setup] not run: the setup of {dep} failed", "error")
                return SetupOutcome(False, spec, reason=f"the setup of {dep} failed")
        assert self.runner is not None
        return await self.runner.run(spec, force=self.force)

    def _on_signal(self, sig: int, hub: LogHub) -> None:
        if self.signal is not None:  # the second one: no grace
            hub.message("killing every setup now", "error")
            if self.runner is not None:
                self.runner.kill()
            return
        self.signal = sig
        hub.message(f"{signal.Signals(sig).name}: stopping the setup steps", "warn")
        for task in self.tasks.values():
            with contextlib.suppress(RuntimeError):
                task.cancel()
