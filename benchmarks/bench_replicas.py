"""Replicas against separate services (a row of benchmarks/run.py's table, `--only replicas`).

Issue 16's closing figures, each pair measured in the same run, back to back:

- cold start, 40 listeners: 10 services x `replicas = 4` against 40 separate services
  (the same tiny server on the same 40 ports, no dependencies), from `devstack up` to
  every port accepting; the first `up` of each layout validates stack.toml, the second
  reads the spec cache.
- an idle `devstack ps` against a detached stack of 40 copies (10 x 4), and against the
  40 separate services.

Standalone: `python benchmarks/bench_replicas.py [--quick]`.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from run import LISTEN, PY, _devstack_command, _down, _walls, env, start_devstack, stop, wait_ports

Row = tuple[str, str, str, str]
GROUPS, COPIES = 10, 4
DELAY_MS = 200  # each listener's own start, as in the cold-start row


def free_ranges(groups: int, copies: int) -> list[int]:
    """The first port of ``groups`` runs of ``copies`` consecutive free ports (held together
    while chosen, so no two runs overlap), below the kernel's ephemeral range: each layout
    starts twice on the same ports, and a probe's or a poll's closed client connection
    keeps its ephemeral port in TIME_WAIT, which no server may bind for a minute."""
    bases: list[int] = []
    candidates = list(range(20000, 32000 - copies, copies))
    random.shuffle(candidates)
    with ExitStack() as held:
        for base in candidates:
            if len(bases) == groups:
                break
            try:
                for port in range(base, base + copies):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
            bases.append(base)
    return bases


def replicated_toml(bases: list[int]) -> str:
    return "".join(
        f'[services.g{i:02d}]\ncmd = "{PY} {LISTEN} ${{port}} {DELAY_MS}"\n'
        f"port = {base}\nreplicas = {COPIES}\n\n"
        for i, base in enumerate(bases)
    )


def separate_toml(bases: list[int]) -> str:
    return "".join(
        f'[services.s{i:02d}_{k}]\ncmd = "{PY} {LISTEN} ${{port}} {DELAY_MS}"\n'
        f"port = {base + k}\n\n"
        for i, base in enumerate(bases)
        for k in range(COPIES)
    )


def _ports(bases: list[int]) -> list[int]:
    return [b + k for b in bases for k in range(COPIES)]


def _up_time(root: Path, ports: list[int]) -> float:
    t0 = time.perf_counter()
    proc = start_devstack(root)
    try:
        wait_ports(ports)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def cold_start(repeats: int) -> list[Row]:
    layouts = {"separate": separate_toml, "replicas": replicated_toml}
    runs: dict[str, list[float]] = {f"{k}{c}": [] for k in layouts for c in ("", " cached")}
    for _ in range(repeats):
        bases = free_ranges(GROUPS, COPIES)
        for name, toml in layouts.items():
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                (root / "stack.toml").write_text(toml(bases))
                runs[name].append(_up_time(root, _ports(bases)))
                runs[f"{name} cached"].append(_up_time(root, _ports(bases)))
    rows: list[Row] = []
    for cached in ("", " cached"):
        base = runs[f"separate{cached}"]
        mine = runs[f"replicas{cached}"]
        ratios = sorted(m / b for m, b in zip(mine, base, strict=True))
        label = "config cached" if cached else "config validated"
        rows.append(
            (
                f"cold start, 40 listeners ({label}, median of {repeats})"
                if not rows
                else f"  ({label})",
                "40 separate services",
                f"{statistics.median(base):.3f} s",
                "1.00x",
            )
        )
        rows.append(
            (
                "",
                f"{GROUPS} services x replicas = {COPIES}",
                f"{statistics.median(mine):.3f} s",
                f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})",
            )
        )
    return rows


def ps_idle(runs: int) -> list[Row]:
    devstack = _devstack_command()
    bases = free_ranges(GROUPS, COPIES)
    walls: dict[str, float] = {}
    for name, toml in (("separate", separate_toml), ("replicas", replicated_toml)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "stack.toml").write_text(toml(bases))
            up = [PY, "-m", "devstack", "up", "-d"]
            subprocess.run(up, cwd=root, env=env(), check=True, stdout=subprocess.DEVNULL)
            try:
                wait_ports(_ports(bases))
                time.sleep(1.0)  # every probe passed and at its interval: idle
                walls[name] = _walls([[*devstack, "ps"]], root, runs)[0]
            finally:
                _down(root)
    ratio = walls["replicas"] / walls["separate"]
    return [
        (
            f"devstack ps, 40 processes (median of {runs})",
            "40 separate services",
            f"{walls['separate'] * 1000:.0f} ms",
            "",
        ),
        (
            "",
            f"{GROUPS} x replicas = {COPIES} (40 copies)",
            f"{walls['replicas'] * 1000:.0f} ms",
            f"{ratio:.2f}x",
        ),
    ]


def replicas(quick: bool) -> list[Row]:
    return cold_start(1 if quick else 7) + ps_idle(5 if quick else 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    for row in replicas(args.quick):
        print("  ".join(row))


if __name__ == "__main__":
    main()
