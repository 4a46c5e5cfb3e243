"""Throughput of the log pipeline: one real child -> pump -> LogHub -> (Printer, LogFile).

Run: python benchmarks/bench_log_pipeline.py [--lines 200000] [--runs 3] [--no-honcho]

For each run, 200,000 numbered lines from ``tests/support/programs/lines.py`` go through
devstack's pipeline into a Printer writing to a pipe (drained by a thread) and into a
log file. Measured: first line read -> last line in the log file, and -> last line
written to the terminal pipe. Every line is then checked: none lost, duplicated or
spliced. With honcho installed, ``honcho start`` runs the same program for comparison
(first byte of output -> last numbered line seen).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from devstack.logs.chunk import LogChunk
from devstack.logs.hub import LogHub, pump
from devstack.logs.printer import Printer

LINES_PY = Path(__file__).resolve().parent.parent / "tests" / "support" / "programs" / "lines.py"
WIDTH = 60
NUMBERED = re.compile(rb"svc(\d{6}) stdout x+\n")


class Drain(threading.Thread):
    """Reads a pipe to EOF, keeping the bytes and the time of the last read."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.parts: list[bytes] = []
        self.last = 0.0

    def run(self) -> None:
        while data := os.read(self.fd, 1 << 20):
            self.parts.append(data)
            self.last = time.perf_counter()


def verify(data: bytes, n: int, prefix: bytes) -> None:
    """Every line 1..n exactly once, each one whole."""
    lines = data.splitlines(keepends=True)
    if len(lines) != n:
        raise SystemExit(f"expected {n} lines, got {len(lines)}")
    seen = bytearray(n + 1)
    for line in lines:
        if not line.startswith(prefix):
            raise SystemExit(f"bad prefix: {line[:80]!r}")
        m = NUMBERED.fullmatch(line, len(prefix))
        if not m:
            raise SystemExit(f"spliced or damaged line: {line[:80]!r}")
        k = int(m.group(1))
        if seen[k]:
            raise SystemExit(f"duplicate line {k}")
        seen[k] = 1


def verify_file(path: Path, n: int) -> None:
    """The log file and its rotated backups (oldest first) hold every line once."""
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    data = b"".join(p.read_bytes() for p in [*backups, path])
    # Strip the per-line "TIMESTAMP stdout | " prefix (fixed width: 24 + 1 + 6 + 3 chars).
    body = b"".join(line[34:] for line in data.splitlines(keepends=True))
    verify(body, n, b"")


async def devstack_run(n: int, tmp: Path, queue_bytes: int) -> dict[str, float]:
    r, w = os.pipe()
    drain = Drain(r)
    drain.start()
    printer = Printer(["svc"], out=w, color=False, max_queue_bytes=queue_bytes)
    hub = LogHub(printer, tmp / "logs")
    first = 0.0
    last = 0.0

    def sink(chunk: LogChunk) -> None:
        nonlocal first, last
        if not first:
            first = time.perf_counter()
        hub.output(chunk)
        last = time.perf_counter()

    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(LINES_PY), str(n), "--prefix", "svc", "--width", str(WIDTH),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    await asyncio.gather(
        pump(proc.stdout, "svc", "stdout", sink), pump(proc.stderr, "svc", "stderr", sink)
    )
    await proc.wait()
    file_done = last
    hub.close()  # drains the printer's queue into the pipe
    os.close(w)
    drain.join()
    os.close(r)
    if printer.dropped_total:
        raise SystemExit(f"printer dropped {printer.dropped_total} lines")
    verify(b"".join(drain.parts), n, b"svc       | ")
    verify_file(tmp / "logs" / "svc.log", n)
    return {"file": file_done - first, "terminal": drain.last - first}


def honcho_run(n: int, tmp: Path) -> dict[str, float] | None:
    honcho = shutil.which("honcho")
    if honcho is None:
        return None
    (tmp / "Procfile").write_text(
        f"svc: {sys.executable} {LINES_PY} {n} --prefix svc --width {WIDTH}\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [honcho, "start", "--no-colour"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    first = 0.0
    last = 0.0
    parts = []
    end_mark = f"svc{n:06d} ".encode()
    while data := os.read(proc.stdout.fileno(), 1 << 20):
        now = time.perf_counter()
        if not first:
            first = now
        parts.append(data)
        if end_mark in data:
            last = now
    proc.wait()
    proc.stdout.close()
    got = sum(1 for line in b"".join(parts).splitlines() if NUMBERED.search(line + b"\n"))
    if got != n:
        print(f"honcho: {got} of {n} numbered lines seen", file=sys.stderr)
    return {"terminal": last - first, "lines": float(got)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-honcho", action="store_true")
    parser.add_argument(
        "--queue-mib",
        type=int,
        default=64,
        help="printer queue bound; the whole burst (~13 MiB) must fit for a lossless terminal",
    )
    args = parser.parse_args()
    n = args.lines

    rows: list[tuple[str, list[float]]] = []
    file_times, term_times = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(devstack_run(n, Path(tmp), args.queue_mib * 2**20))
        file_times.append(result["file"])
        term_times.append(result["terminal"])
    rows.append(("devstack -> log file", file_times))
    rows.append(("devstack -> terminal pipe", term_times))
    if not args.no_honcho:
        honcho_times = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                h = honcho_run(n, Path(tmp))
            if h is None:
                break
            honcho_times.append(h["terminal"])
        if honcho_times:
            rows.append(("honcho -> terminal pipe", honcho_times))

    print(
        f"{n} lines of {WIDTH + 1} bytes, {args.runs} runs, printer queue {args.queue_mib} MiB;"
        " verified: 0 lost/dup/spliced"
    )
    print(f"{'path':<28}{'median s':>10}{'best s':>10}{'lines/s (median)':>20}")
    for name, times in rows:
        med = statistics.median(times)
        print(f"{name:<28}{med:>10.3f}{min(times):>10.3f}{n / med:>20,.0f}")


if __name__ == "__main__":
    main()
