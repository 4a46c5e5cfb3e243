"""Run a check's helper program to its end or its deadline, and leave nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Ran:
    """How a bounded run ended: ``returncode`` None means it was cut at the deadline."""

    returncode: int | None
    out: bytes
    err: bytes

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


async def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    merge_stderr: bool = False,
) -> Ran:
    """Run ``argv`` in a new session; at ``timeout`` the whole group is killed."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,
    )
    out, err, timed_out = b"", b"", False
    try:
        async with asyncio.timeout(timeout):
            out, err_or_none = await proc.communicate()
            err = err_or_none or b""
    except TimeoutError:
        timed_out = True
    finally:
        # Whatever it started (an app's threads, a manager's children) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
    return Ran(None if timed_out else proc.returncode, out, err)
