"""The supervisor under a minute of continuous restarts: memory and descriptors stay flat.

The ten-minute figure is benchmarks/bench_churn.py's (docs/benchmarks.md); this test
runs the same churn for long enough to catch a leak per restart.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import free_port, program
from devstack.control.client import ControlClient
from devstack.paths import StatePaths
from support.stackrun import downed_at_end, run_devstack, supervisor_pid, write_stack

PY = sys.executable
CHURN = 60.0  # seconds of restarts
WARMUP = 20.0  # the per-service tails of recent lines fill up in this time


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_rss_and_fds_flat_under_a_minute_of_restarts(tmp_path: Path) -> None:
    """Reliability case 45 (docs/reliability.md): RSS of the last part within a few MiB
    of the first once the bounded buffers are full; descriptors the same."""
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{PY} {program("listener")} {port}"
        port = {port}
        health.tcp = "127.0.0.1:{port}"

        [services.worker]
        cmd = "{PY} {program("sleeper")}"
        """,
    )
    with downed_at_end(tmp_path):
        assert run_devstack(tmp_path, "up", "-d", timeout=60).returncode == 0
        pid = supervisor_pid(tmp_path)
        assert pid is not None
        sup = psutil.Process(pid)
        paths = StatePaths.of_file(tmp_path / "stack.toml")
        samples: list[tuple[float, int, int]] = []
        restarts = 0
        t0 = time.monotonic()
        while (now := time.monotonic()) - t0 < CHURN:
            with ControlClient.connect(paths, timeout=None) as client:
                results = client.call(
                    "restart", {"names": ["api", "worker"], "with_dependents": False}
                )
            assert isinstance(results, list) and all(r["ok"] for r in results), results
            restarts += len(results)
            samples.append((now - t0, sup.memory_info().rss, sup.num_fds()))
    early = [s for s in samples if WARMUP <= s[0] < WARMUP + 10]
    late = [s for s in samples if s[0] >= CHURN - 10]
    assert early and late and restarts > 20, (restarts, len(samples))
    grew = (statistics.mean(s[1] for s in late) - statistics.mean(s[1] for s in early)) / 2**20
    assert grew < 4.0, f"RSS grew {grew:.1f} MiB over {restarts} restarts"
    assert max(s[2] for s in late) <= max(s[2] for s in early) + 2, (early[-1], late[-1])
