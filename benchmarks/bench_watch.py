"""Watch mode's benchmarks (rows of benchmarks/run.py's table, `--only watch`).

- latency: a write to a watched file -> the old process receiving SIGTERM, median,
  with the default debounce (200 ms) and a low one (10 ms). The service's checks run
  in between (they are part of the path users get).
- idle: supervisor CPU over a quiet period while watching a 20,000-file tree, against
  the same stack under `up --no-watch` in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import psutil
from run import LISTEN, PY, cpu_seconds, free_ports, start_devstack, stop, wait_ports

HERE = Path(__file__).resolve().parent
STAMP = str(HERE / "programs" / "term_stamp.py")
Row = tuple[str, str, str, str]


def _first_stamp_after(path: Path, t0: float, timeout: float = 30.0) -> float:
    """The first SIGTERM stamp at or after ``t0``. (With a 10 ms debounce on a slow
    machine a write's truncate and its data can make two batches, so two restarts:
    counting stamps would then pair a write with an earlier restart.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            later = [s for s in (float(x) for x in path.read_text().split()) if s >= t0]
            if later:
                return min(later)
        time.sleep(0.002)
    raise TimeoutError(f"no SIGTERM stamp after {t0} in {path}")


def _latencies(debounce: str, writes: int) -> list[float]:
    [port] = free_ports(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stamps = root / "stamps.txt"
        (root / "app.py").write_text("VERSION = 0\n")
        (root / "stack.toml").write_text(
            f'[services.web]\ncmd = "{PY} {STAMP} {port} {stamps}"\nport = {port}\n'
            f'watch = ["**/*.py"]\nwatch_debounce = "{debounce}"\n'
        )
        proc = start_devstack(root)
        out: list[float] = []
        try:
            wait_ports([port])
            time.sleep(0.5)  # the watcher is set up and the probe has passed
            for i in range(1, writes + 1):
                t0 = time.time()
                (root / "app.py").write_text(f"VERSION = {i}\n")
                out.append(_first_stamp_after(stamps, t0) - t0)
                wait_ports([port])
                time.sleep(0.3)  # the new process is healthy; the next write is a new batch
        finally:
            stop(proc)
    return out


def watch_latency(writes: int) -> list[Row]:
    rows: list[Row] = []
    for debounce, target in (("200ms", "target <= 300 ms"), ("10ms", "")):
        times = _latencies(debounce, writes)
        med = statistics.median(times) * 1000
        rows.append(
            (
                f"watch: write -> old process SIGTERM, debounce {debounce}, median of {writes}"
                if not rows
                else f"same, debounce {debounce}",
                "devstack",
                f"{med:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})",
                target,
            )
        )
    return rows


def _tree(root: Path, files: int, per_dir: int = 100) -> None:
    for i in range(files):
        d = root / f"pkg{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir()
            (d / "__init__.py").write_text("")
        (d / f"mod{i % per_dir:03d}.py").write_text(f"X = {i}\n")


def _idle_cpu(root: Path, port: int, seconds: float, *args: str) -> float:
    proc = start_devstack(root, *args)
    try:
        wait_ports([port])
        time.sleep(2.0)  # watches registered, probe moved to its interval
        sup = psutil.Process(proc.pid)
        c0 = cpu_seconds(sup)
        time.sleep(seconds)
        return cpu_seconds(sup) - c0
    finally:
        stop(proc)


def watch_idle(files: int, seconds: float) -> list[Row]:
    [port] = free_ports(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _tree(root, files)
        (root / "stack.toml").write_text(
            f'[services.web]\ncmd = "{PY} {LISTEN} {port} 0"\nport = {port}\nwatch = ["**/*.py"]\n'
        )
        watching = _idle_cpu(root, port, seconds)
        floor = _idle_cpu(root, port, seconds, "--no-watch")
    pct = watching / seconds * 100
    return [
        (
            f"watch: idle, {files:,} watched files, {seconds:g} s",
            "supervisor CPU",
            f"{watching:.3f} s = {pct:.2f}% of a core",
            f"--no-watch {floor:.3f} s; target <= 1%",
        )
    ]
