"""An interactive spawn (issue 17, point 2) at the process layer: the pty is the
service's stdin, stdout, stderr and controlling terminal; keys larger than its input
queue still all arrive; stopping it leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from devstack.procs.process import ServiceProcess, spawn

# Says what its terminal is, then counts the lines it reads until "END".
PROGRAM = """\
import os, sys, termios
# No echo: the terminal would echo the keys between the lines this program prints.
mode = termios.tcgetattr(0)
mode[3] &= ~termios.ECHO
termios.tcsetattr(0, termios.TCSANOW, mode)
print("tty", os.isatty(0), os.isatty(1), os.isatty(2), flush=True)
print("ctty", os.tcgetpgrp(0) == os.getpgrp(), os.ttyname(0) == os.ttyname(1), flush=True)
print("stderr here", file=sys.stderr, flush=True)
count = 0
for line in sys.stdin:
    if line.strip() == "END":
        break
    count += len(line.rstrip("\\n"))
print("read", count, flush=True)
"""


async def _start(tmp_path: Path) -> ServiceProcess:
    (tmp_path / "prog.py").write_text(PROGRAM)
    return await spawn(
        [sys.executable, "prog.py"],
        cwd=tmp_path,
        env=dict(os.environ),
        service="app",
        stack_id="st1",
        interactive=True,
    )


async def _read_until(proc: ServiceProcess, wanted: bytes, seen: bytearray) -> None:
    async with asyncio.timeout(20):
        while wanted not in seen:
            data = await proc.stdout.read(65536)
            assert data, f"EOF before {wanted!r}: {bytes(seen)!r}"
            seen += data


def test_an_interactive_spawn_runs_in_its_own_controlling_terminal(tmp_path: Path) -> None:
    async def main() -> None:
        proc = await _start(tmp_path)
        seen = bytearray()
        try:
            assert proc.terminal is not None
            await _read_until(proc, b"stderr here\r\n", seen)
            assert b"tty True True True\r\n" in seen
            assert b"ctty True True\r\n" in seen
            # 64 KiB of keys in 1 KiB lines: far more than a terminal's input queue holds.
            line = b"x" * 1023 + b"\n"
            proc.terminal.write(line * 64 + b"END\n")
            await _read_until(proc, b"read 65472\r\n", seen)
            status = await asyncio.wait_for(proc.wait(), 20)
            assert status.ok
        finally:
            await proc.stop(timeout=5)
            if proc.terminal is not None:
                proc.terminal.close()
        assert proc.members() == []

    asyncio.run(main())
