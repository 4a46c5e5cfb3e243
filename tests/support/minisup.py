"""Run tests/support/programs/mini_supervisor.py (a real supervisor core in a subprocess) and
read the JSON events it prints, one per line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from conftest import python_cmd


class MiniSupervisor:
    """``with MiniSupervisor(options, program) as sup:``; killed and reaped on exit."""

    def __init__(self, options: list[object], program: list[str]) -> None:
        self.proc = subprocess.Popen(
            [*python_cmd("mini_supervisor", *options), "--", *program],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout
        self.seen: list[dict[str, Any]] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> Iterator[dict[str, Any]]:
        """Each event as it comes; an early end fails the test with what was seen."""
        while True:
            line = self.stdout.readline()
            assert line, f"mini_supervisor ended early: {self.seen}"
            event = json.loads(line)
            self.seen.append(event)
            yield event

    def __enter__(self) -> MiniSupervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.stdout.close()
