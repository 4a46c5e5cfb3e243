"""A/B of the cold start: an earlier revision against the working tree, in one run.

    python benchmarks/ab_cold.py REV [--repeats N]

The machine's speed drifts by tens of percent within minutes here, so a change is
judged by running both versions alternately in the same run: each repeat starts the
same 40-service stack (as `run.py --only cold`) with REV's devstack (a git worktree
put first on PYTHONPATH) and with the working tree's, each first on a cache miss
(stack.toml validated) then on a hit, alternating which goes first. Prints the
medians and every time.
"""

from __future__ import annotations

import argparse
import compileall
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run as bench

ROOT = Path(__file__).resolve().parents[1]


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), rev], check=True
    )
    compileall.compile_dir(into / "src" / "devstack", quiet=1)
    return into / "src"


def _gate(i: int) -> str | None:
    return f"s{i - 20:02d}" if i >= 20 else None


def _up(root: Path, pythonpath: str | None) -> subprocess.Popen[bytes]:
    env = bench.env()
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.Popen(
        [bench.PY, "-m", "devstack", "up"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the earlier revision (commit, tag, branch)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "src" / "devstack", quiet=1)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        old_src = _worktree(args.rev, Path(scratch) / "old")
        try:
            contenders = [(args.rev, str(old_src)), ("working tree", None)]
            for repeat in range(args.repeats):
                ports = bench.free_ports(40)
                # As run.py: the second half depends on the first half, gated on health.
                services = [
                    (f"s{i:02d}", [bench.PY, bench.LISTEN, str(p), "200"], p, _gate(i))
                    for i, p in enumerate(ports)
                ]
                for who, pythonpath in contenders[:: 1 if repeat % 2 == 0 else -1]:
                    with tempfile.TemporaryDirectory() as tmp:
                        root = Path(tmp)
                        (root / "stack.toml").write_text(bench.stack_toml(services))
                        for kind in ("cache miss", "cache hit"):
                            t0 = time.perf_counter()
                            proc = _up(root, pythonpath)
                            bench.wait_ports(ports)
                            times.setdefault(f"{who}, {kind}", []).append(time.perf_counter() - t0)
                            bench.stop(proc, signal.SIGINT)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_src.parent)],
                check=False,
            )
    width = max(len(k) for k in times)
    for key, values in times.items():
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{key.ljust(width)}  median {statistics.median(values):.3f} s   ({shown})")
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"\npython {sys.version.split()[0]}, {args.repeats} repeats, {when}")


if __name__ == "__main__":
    main()
