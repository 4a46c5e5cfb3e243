"""The guardian: a small process that kills a stack's processes when the supervisor dies.

The supervisor starts ``python -m devstack.procs.guardian STACK_ID`` with a pipe on its
stdin and tells it, one JSON line each, about every service process it spawns and
forgets. When the pipe reaches EOF without an orderly ``exit`` line, the supervisor
is gone (even by SIGKILL, which no handler sees): the guardian SIGTERMs, then
SIGKILLs, every process of each recorded service and every process whose
environment carries ``DEVSTACK_STACK=<stack_id>``, then exits. It works where
``PR_SET_PDEATHSIG`` does not exist (macOS) and covers grandchildren, which
pdeathsig does not.

The process side starts on the stdlib alone (no asyncio, and psutil only once it has
to kill) so its start takes little CPU from the services starting beside it; the
``Guardian`` class, used by the supervisor, imports asyncio lazily.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from devstack.procs import proctree
    from devstack.procs.process import ProcessRecord

_GRACE = 0.5  # between SIGTERM and SIGKILL
_KILL_WAIT = 2.0
_CLOSE_TIMEOUT = 5.0


class Guardian:
    """The supervisor's handle on its guardian process."""

    def __init__(self, proc: asyncio.subprocess.Process, stack_id: str) -> None:
        self._proc = proc
        self.stack_id = stack_id
        self.pid = proc.pid

    @classmethod
    async def start(cls, stack_id: str) -> Guardian:
        """Spawn ``python -m devstack.procs.guardian STACK_ID`` with a pipe on its stdin."""
        import asyncio
        import subprocess

        from devstack.procs import reaper

        # Not a service: strip the service markers so it never matches its own scan.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devstack.procs.guardian",
            stack_id,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the terminal's group must not reach it
            env=env,
        )
        reaper.claim(proc.pid)
        return cls(proc, stack_id)

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self._proc.stdin
        if stdin is None or stdin.is_closing() or self._proc.returncode is not None:
            return
        stdin.write(json.dumps(message).encode() + b"\n")

    def watch(self, record: ProcessRecord) -> None:
        """Tell the guardian about a new service process."""
        self._send({"op": "watch", "record": record.to_json()})

    def forget(self, record: ProcessRecord) -> None:
        """That process and its tree are gone (stopped by the supervisor)."""
        self._send({"op": "forget", "record": record.to_json()})

    async def close(self) -> None:
        """Orderly end: tell it to exit without killing anything, then reap it."""
        import asyncio

        from devstack.procs import reaper

        self._send({"op": "exit"})
        stdin = self._proc.stdin
        if stdin is not None:
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout=_CLOSE_TIMEOUT)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        reaper.release(self.pid)


# --- the guardian process ----------------------------------------------------------


def _anchor(record: dict[str, Any]) -> proctree.Anchor | None:
    from devstack.procs import proctree

    try:
        return proctree.Anchor(
            int(record["pid"]),
            float(record["create_time"]),
            int(record["pgid"]),
            int(record["sid"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _targets(records: dict[str, dict[str, Any]], stack_id: str) -> list[Any]:
    from devstack.procs import proctree

    anchors = [a for a in map(_anchor, records.values()) if a is not None]
    env = [("DEVSTACK_TOKEN", str(r.get("token"))) for r in records.values() if r.get("token")]
    env.append(("DEVSTACK_STACK", stack_id))
    # trust_ids=False: a dead leader's group id is trusted only through the token.
    return proctree.find(anchors, env, trust_ids=False)


def kill_all(records: dict[str, dict[str, Any]], stack_id: str) -> int:
    """SIGTERM, grace, SIGKILL every process of the stack; how many were signalled.

    proctree (psutil, dataclasses) is imported here, when the pipe
    closes, not at the guardian's start, which competes with the services' own.
    """
    from devstack.procs import proctree

    found = _targets(records, stack_id)
    for proc in found:
        proctree.send(proc, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE
    while time.monotonic() < deadline and proctree.live(found):
        time.sleep(0.02)
    left = _targets(records, stack_id)  # fresh scan: children forked in TERM handlers
    for proc in left:
        proctree.send(proc, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    while time.monotonic() < deadline and proctree.live(left):
        time.sleep(0.02)
    return len({p.pid for p in found} | {p.pid for p in left})


def run(stack_id: str) -> int:
    """Read the supervisor's messages until EOF; kill the stack unless told to exit."""
    with contextlib.suppress(OSError):
        os.setsid()  # already a session leader when started by Guardian.start
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    records: dict[str, dict[str, Any]] = {}
    for raw in sys.stdin.buffer:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        op = message.get("op")
        record = message.get("record")
        if op == "exit":
            return 0
        if op in ("watch", "forget") and isinstance(record, dict):
            key = f"{record.get('pid')}:{record.get('create_time')}"
            if op == "watch":
                records[key] = record
            else:
                records.pop(key, None)
    kill_all(records, stack_id)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0]:
        print("usage: python -m devstack.procs.guardian STACK_ID", file=sys.stderr)
        return 2
    return run(args[0])


if __name__ == "__main__":
    raise SystemExit(main())
