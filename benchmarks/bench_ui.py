"""The dashboard under a flood (issue 17, point 1; a row set of benchmarks/run.py,
`--only ui`).

Two services print 100,000 numbered lines each (200,000 in all) at a paced rate, with
no dashboard attached and with the real `devstack ui` running in tmux (a real terminal)
attached to the same kind of stack, alternated in one run (``repeats`` of each; the
medians and the load average are reported: the machine's load moves these figures).
Measured:

- lines in the log files (every one of the 200,000 must be there, dashboard or not);
- the supervisor's CPU seconds over the flood, with the dashboard vs without;
- key-press latency while it floods: `w` sent with tmux send-keys -> the status line
  showing the change in the captured pane (polled; tmux's own time included), median;
- the lines the dashboard skipped (its status line), which the files still hold.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from run import PY, cpu_seconds, env

HERE = Path(__file__).resolve().parent
PACED = str(HERE / "programs" / "paced_lines.py")
Row = tuple[str, str, str, str]
PER_SERVICE = 100_000


def _stack(root: Path, go: Path, rate: float) -> None:
    (root / "stack.toml").write_text(
        "".join(
            f'[services.{name}]\ncmd = "{PY} {PACED} {go} {PER_SERVICE} {prefix} {rate:g}"\n'
            for name, prefix in (("flood_a", "A"), ("flood_b", "B"))
        )
    )


def _lines_in_files(root: Path) -> int:
    total = 0
    for name, prefix in (("flood_a", b"A"), ("flood_b", b"B")):
        path = root / ".devstack" / "logs" / f"{name}.log"
        if path.exists():
            total += len(set(re.findall(prefix + rb"(\d{6}) stdout", path.read_bytes())))
    return total


def _devstack(root: Path, *args: str) -> None:
    big = dict(env(), DEVSTACK_LOG_MAX_BYTES=str(1 << 30))  # one file per service
    subprocess.run(
        [PY, "-m", "devstack", *args],
        cwd=root,
        env=big,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class _Tmux:
    def __init__(self, root: Path) -> None:
        self.socket = f"devstack-bench-{uuid.uuid4().hex[:8]}"
        tenv = dict(env(), TERM="xterm-256color")
        tenv.pop("NO_COLOR", None)
        self.run(
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            "140",
            "-y",
            "40",
            f"{PY} -m devstack ui",
            env=tenv,
            cwd=root,
        )

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=10,
        ).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "ui")

    def status(self) -> str:
        lines = [ln for ln in self.screen().splitlines() if " | logs: " in ln]
        return lines[-1] if lines else ""

    def close(self) -> None:
        self.run("kill-server")


def _flood(rate: float, with_ui: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        go = root / "go"
        _stack(root, go, rate)
        _devstack(root, "up", "-d")
        sup = psutil.Process(int((root / ".devstack" / "supervisor.pid").read_text().split()[0]))
        tmux = _Tmux(root) if with_ui else None
        try:
            if tmux is not None:
                deadline = time.monotonic() + 30
                while "flood_b" not in tmux.screen() or " | logs: " not in tmux.screen():
                    assert time.monotonic() < deadline, tmux.screen()
                    time.sleep(0.1)
                time.sleep(1.0)
            cpu0, t0 = cpu_seconds(sup), time.perf_counter()
            go.touch()
            latencies: list[float] = []
            deadline = time.monotonic() + 120
            while _lines_in_files(root) < 2 * PER_SERVICE and time.monotonic() < deadline:
                if tmux is not None:
                    wrapped = " | wrap" in tmux.status()
                    sent = time.perf_counter()
                    tmux.run("send-keys", "-t", "ui", "w")
                    while (" | wrap" in tmux.status()) == wrapped:
                        if time.perf_counter() - sent > 10:
                            break
                        time.sleep(0.002)
                    latencies.append(time.perf_counter() - sent)
                    time.sleep(0.2)
                else:
                    time.sleep(0.2)
            out["took"] = time.perf_counter() - t0
            out["cpu"] = cpu_seconds(sup) - cpu0
            out["lines"] = _lines_in_files(root)
            out["latencies"] = latencies
            if tmux is not None:
                time.sleep(2.0)  # the dashboard catches up: its status says what it skipped
                found = re.search(r"(\d+) lines skipped", tmux.status())
                out["skipped"] = int(found.group(1)) if found else 0
        finally:
            if tmux is not None:
                tmux.close()
            _devstack(root, "down")
    return out


def ui_flood(rate: float = 20_000, repeats: int = 3) -> list[Row]:
    if shutil.which("tmux") is None:
        return [("dashboard under a flood", "-", "skipped", "tmux is not installed")]
    load0 = os.getloadavg()[0]
    plains: list[dict[str, object]] = []
    uis: list[dict[str, object]] = []
    for k in range(repeats):
        # Alternate the order, so a change of the machine's load hits both alike.
        for with_ui in (False, True) if k % 2 == 0 else (True, False):
            (uis if with_ui else plains).append(_flood(rate, with_ui=with_ui))
    load1 = os.getloadavg()[0]
    total = 2 * PER_SERVICE
    lat = [x * 1000 for run in uis for x in run["latencies"]]  # type: ignore[attr-defined]
    plain_cpu = [float(run["cpu"]) for run in plains]  # type: ignore[arg-type]
    ui_cpu = [float(run["cpu"]) for run in uis]  # type: ignore[arg-type]
    ratios = [u / p for u, p in zip(ui_cpu, plain_cpu, strict=True) if p]
    ratio = statistics.median(ratios) if ratios else float("nan")
    what = f"{total:,} lines, 2 services, {rate * 2:,.0f} lines/s"
    runs = f"median of {repeats}, load {load0:.1f}-{load1:.1f}"
    lines_plain = ", ".join(f"{run['lines']:,}" for run in plains)
    lines_ui = ", ".join(f"{run['lines']:,}" for run in uis)
    skipped = ", ".join(f"{run.get('skipped', 0):,}" for run in uis)
    return [
        (f"{what}: log files", "devstack (no ui)", lines_plain, f"target {total:,} (none lost)"),
        (
            f"{what}: log files",
            "devstack + ui",
            lines_ui,
            f"target {total:,}; the dashboard skipped (and counted) {skipped}",
        ),
        (
            f"{what}: supervisor CPU ({runs})",
            "devstack + ui",
            f"{statistics.median(ui_cpu):.3f} s vs {statistics.median(plain_cpu):.3f} s without"
            f" (each run: {', '.join(f'{r - 1:+.0%}' for r in ratios)})",
            f"{(ratio - 1) * 100:+.0f}%  target <= +10%",
        ),
        (
            f"{what}: key press -> screen ({runs})",
            "devstack ui (tmux)",
            f"median {statistics.median(lat):.0f} ms (n={len(lat)}, max {max(lat):.0f} ms)"
            if lat
            else "n/a",
            "target <= 100 ms median",
        ),
    ]


if __name__ == "__main__":
    for row in ui_flood():
        print("  ".join(row))
