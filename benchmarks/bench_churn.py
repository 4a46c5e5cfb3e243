"""Memory under restart churn (a row of benchmarks/run.py's table, `--only churn`).

Two services (a probed listener and a quiet sleeper) restarted one after the other
through the control socket, as fast as the supervisor answers, for a while (10 min;
`--quick` 2 min). The supervisor's RSS is sampled every few seconds; the row gives the
mean of the first minute and of the last, and the growth per minute between them.

Standalone: `python benchmarks/bench_churn.py --minutes 3` prints the samples too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from run import LISTEN, PY, free_ports, start_devstack, stop, wait_ports

from devstack.control.client import ControlClient
from devstack.paths import StatePaths

HERE = Path(__file__).resolve().parent
SLEEP = str(HERE.parent / "tests" / "support" / "programs" / "sleeper.py")
Row = tuple[str, str, str, str]
_SAMPLE = 5.0  # seconds between RSS samples


def _restart_loop(root: Path, until: float, counts: list[int]) -> None:
    paths = StatePaths.of_file(root / "stack.toml")
    while time.monotonic() < until:
        with ControlClient.connect(paths, timeout=None) as client:
            results = client.call("restart", {"names": ["api", "worker"], "with_dependents": False})
        assert isinstance(results, list) and all(r["ok"] for r in results), results
        counts[0] += len(results)


def samples(minutes: float) -> tuple[list[tuple[float, int]], int]:
    """(seconds since the churn began, supervisor RSS bytes) every few seconds, and the
    number of service restarts done."""
    [port] = free_ports(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "stack.toml").write_text(
            f'[services.api]\ncmd = "{PY} {LISTEN} {port} 0"\nport = {port}\n'
            f'health.tcp = "127.0.0.1:{port}"\n\n'
            f'[services.worker]\ncmd = "{PY} {SLEEP}"\n'
        )
        proc = start_devstack(root)
        try:
            wait_ports([port])
            time.sleep(1.0)  # the probe has passed; the control socket is up
            sup = psutil.Process(proc.pid)
            t0 = time.monotonic()
            until = t0 + minutes * 60
            counts = [0]
            driver = threading.Thread(target=_restart_loop, args=(root, until, counts))
            driver.start()
            out: list[tuple[float, int]] = []
            while driver.is_alive():
                out.append((time.monotonic() - t0, sup.memory_info().rss))
                driver.join(_SAMPLE)
            out.append((time.monotonic() - t0, sup.memory_info().rss))
        finally:
            stop(proc)
    return out, counts[0]


def first_last(points: list[tuple[float, int]]) -> tuple[float, float, float]:
    """Mean RSS (MiB) of the first minute, of the last minute, and the span between
    the two minutes' midpoints (minutes)."""
    end = points[-1][0]
    first = [rss for t, rss in points if t <= 60]
    last = [rss for t, rss in points if t >= end - 60]
    span = max((end - 60) / 60, 1e-9)  # midpoint of the last minute - midpoint of the first
    return statistics.mean(first) / 2**20, statistics.mean(last) / 2**20, span


def churn(minutes: float) -> list[Row]:
    points, restarts = samples(minutes)
    first, last, span = first_last(points)
    return [
        (
            f"restart churn, {minutes:g} min: supervisor RSS, first vs last minute",
            "devstack",
            f"{first:.1f} -> {last:.1f} MiB ({(last - first) / span:+.2f} MiB/min), "
            f"{restarts} restarts",
            "target: flat (within noise)",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    points, restarts = samples(args.minutes)
    for t, rss in points:
        print(f"{t:7.1f} s  {rss / 2**20:6.1f} MiB")
    first, last, span = first_last(points)
    print(
        f"{restarts} restarts; RSS first minute {first:.1f} MiB, last minute {last:.1f} MiB, "
        f"{(last - first) / span:+.2f} MiB/min"
    )


if __name__ == "__main__":
    sys.exit(main())
