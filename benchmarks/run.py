"""devstack's benchmarks: one command, one table, ratios measured in the same run.

    python benchmarks/run.py [--quick] [--only NAME ...]

Each row compares devstack with a floor measured in the same run: `floor.py`, a plain
script that spawns the same programs itself in dependency order and polls their ports
(and honcho, which does the job without health gating, where it applies). Speed is
never asserted in tests; this table is where it is measured. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
LISTEN = str(HERE / "programs" / "listen_after.py")
LINES = str(HERE.parent / "tests" / "support" / "programs" / "lines.py")
PY = sys.executable


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def is_alive(proc: psutil.Process) -> bool:
    """Running: a zombie (exited, waiting to be reaped) is not alive."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of every thread of ``proc``: nanoseconds from schedstat on Linux
    (cpu_times counts 10 ms ticks, too coarse for an idle process), else cpu_times."""
    try:
        total = 0
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except OSError:
        t = proc.cpu_times()
        return t.user + t.system


def accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_ports(ports: list[int], timeout: float = 60.0) -> float:
    """Seconds until every port accepts (polled every 5 ms)."""
    t0 = time.perf_counter()
    pending = list(ports)
    while pending:
        pending = [p for p in pending if not accepts(p)]
        if pending:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"ports never opened: {pending[:5]}")
            time.sleep(0.005)
    return time.perf_counter() - t0


def env() -> dict[str, str]:
    e = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
    return e


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stack_toml(services: list[tuple[str, list[str], int, str | None]], extra: str = "") -> str:
    out = []
    for name, argv, port, dep in services:
        cmd = " ".join(argv)
        out.append(f'[services.{name}]\ncmd = "{cmd}"\nport = {port}\n{extra}')
        if dep:
            out.append(f'depends_on = {{ {dep} = "healthy" }}')
        out.append("")
    return "\n".join(out)


def start_devstack(
    root: Path, *args: str, stdout: int | None = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PY, "-m", "devstack", "up", *args],
        cwd=root,
        env=env(),
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


# --- cold start ------------------------------------------------------------------------


def cold_start(n: int, delay_ms: int, repeats: int) -> list[tuple[str, str, str, str]]:
    half = n // 2
    results: dict[str, list[float]] = {
        "floor": [],
        "devstack": [],
        "devstack (config cached)": [],
        "honcho": [],
    }
    for _ in range(repeats):
        ports = free_ports(n)
        names = [f"s{i:02d}" for i in range(n)]
        argv = [[PY, LISTEN, str(p), str(delay_ms)] for p in ports]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            # floor: level 0 = first half, level 1 = second half
            spec = {
                "levels": [
                    [[argv[i], ports[i]] for i in range(half)],
                    [[argv[i], ports[i]] for i in range(half, n)],
                ]
            }
            (root / "floor.json").write_text(json.dumps(spec))
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [PY, str(HERE / "floor.py"), str(root / "floor.json")],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_ports(ports)
            results["floor"].append(time.perf_counter() - t0)
            stop(proc)
            # devstack: second half depends on the first half, gated on health (tcp probe)
            services = [
                (names[i], argv[i], ports[i], names[i - half] if i >= half else None)
                for i in range(n)
            ]
            (root / "stack.toml").write_text(stack_toml(services))
            # First run validates stack.toml; the second finds it in .devstack/spec-cache.json.
            for who in ("devstack", "devstack (config cached)"):
                t0 = time.perf_counter()
                proc = start_devstack(root)
                wait_ports(ports)
                results[who].append(time.perf_counter() - t0)
                stop(proc, signal.SIGINT)
            # honcho: no gating at all
            if shutil.which("honcho"):
                (root / "Procfile").write_text(
                    "".join(f"{names[i]}: {' '.join(argv[i])}\n" for i in range(n))
                )
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    ["honcho", "start"],
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                wait_ports(ports)
                results["honcho"].append(time.perf_counter() - t0)
                stop(proc)
    floor = statistics.median(results["floor"])
    rows = [
        (
            "cold start: 40 services, 200 ms each, half gated on the other half",
            "floor (spawn in order + poll ports)",
            f"{floor:.3f} s",
            f"1.00x  (median of {len(results['floor'])})",
        )
    ]
    for who in ("devstack", "devstack (config cached)", "honcho"):
        if results[who]:
            m = statistics.median(results[who])
            # Each repeat runs the floor and every contender back to back: the ratio of
            # the same repeat cancels the machine's drift between repeats.
            ratios = sorted(t / f for t, f in zip(results[who], results["floor"], strict=True))
            spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
            target = "target <= 1.10x" if who.startswith("devstack") else "(no gating)"
            ratio = statistics.median(ratios)
            rows.append(("", who, f"{m:.3f} s", f"{ratio:.2f}x ({spread})  {target}"))
    return rows


# --- kill -> respawn ---------------------------------------------------------------------


def listener_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.pid
    return None


def kill_respawn_times(port: int, kills: int) -> list[float]:
    times = []
    for _ in range(kills):
        pid = None
        deadline = time.monotonic() + 10
        while pid is None and time.monotonic() < deadline:
            if accepts(port):
                pid = listener_pid(port)
            if pid is None:
                time.sleep(0.01)
        if pid is None:
            raise RuntimeError("listener never came back")
        time.sleep(0.05)  # let the supervisor settle into its steady state
        proc = psutil.Process(pid)
        t0 = time.perf_counter()
        proc.kill()
        proc.wait(5)
        while not accepts(port):
            time.sleep(0.001)
        times.append(time.perf_counter() - t0)
    return times


def kill_respawn(kills: int) -> list[tuple[str, str, str, str]]:
    (port,) = free_ports(1)
    argv = [PY, LISTEN, str(port), "0"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "floor.json").write_text(json.dumps({"levels": [[[argv, port]]]}))
        proc = subprocess.Popen(
            [PY, str(HERE / "floor.py"), str(root / "floor.json")],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        floor = statistics.median(kill_respawn_times(port, kills))
        stop(proc)
        (root / "stack.toml").write_text(
            stack_toml(
                [("svc", argv, port, None)], extra='max_restarts = 1000\nbackoff_reset = "10ms"'
            )
        )
        proc = start_devstack(root)
        mine = statistics.median(kill_respawn_times(port, kills))
        stop(proc, signal.SIGINT)
    return [
        (
            f"SIGKILL -> port accepting again (median of {kills})",
            "floor (poll + respawn)",
            f"{floor * 1000:.1f} ms",
            "",
        ),
        (
            "",
            "devstack",
            f"{mine * 1000:.1f} ms",
            f"+{(mine - floor) * 1000:.1f} ms  target <= +15 ms",
        ),
    ]


# --- idle cost -----------------------------------------------------------------------------


def idle(n: int, seconds: float) -> list[tuple[str, str, str, str]]:
    ports = free_ports(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        services = [(f"s{i:02d}", [PY, LISTEN, str(p), "0"], p, None) for i, p in enumerate(ports)]
        (root / "stack.toml").write_text(stack_toml(services))
        proc = start_devstack(root)
        wait_ports(ports)
        time.sleep(1.0)  # every probe has passed and moved to its interval
        sup = psutil.Process(proc.pid)
        c0 = cpu_seconds(sup)
        time.sleep(seconds)
        cpu = cpu_seconds(sup) - c0
        pss = sup.memory_full_info().pss / 2**20
        rss = sup.memory_info().rss / 2**20
        guardian = [c for c in sup.children() if "devstack.procs.guardian" in " ".join(c.cmdline())]
        gpss = guardian[0].memory_full_info().pss / 2**20 if guardian else 0.0
        stop(proc, signal.SIGINT)
    per10 = cpu * 10 / seconds
    return [
        (
            f"idle: {n} services with probes, {seconds:g} s",
            "supervisor CPU",
            f"{per10:.3f} s / 10 s",
            "target <= 0.05 s",
        ),
        ("", "supervisor PSS (RSS)", f"{pss:.1f} MB ({rss:.1f})", "target <= 40 MB"),
        ("", "guardian PSS", f"{gpss:.1f} MB", ""),
    ]


# --- log throughput -----------------------------------------------------------------------


def lines_through(n: int) -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "stack.toml").write_text(
            textwrap.dedent(f"""
            [services.gen]
            cmd = "{PY} {LINES} {n} --prefix L"
            restart = "no"
        """)
        )
        proc = start_devstack(root, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        first = last = None
        data = bytearray()
        while chunk := os.read(fd, 1 << 20):
            now = time.perf_counter()
            data += chunk
            if first is None and b"| L000001 " in data:
                first = now
            last_line = f"| L{n:06d} ".encode()
            if last is None and last_line in data[-len(chunk) - 64 :]:
                last = now
        seen = set(re.findall(rb"\| L(\d+) ", bytes(data)))
        proc.stdout.close()
        proc.wait()
        log_file = root / ".devstack" / "logs" / "gen.log"
        in_file = len(re.findall(rb"\| L\d+", log_file.read_bytes())) if log_file.exists() else 0
    span = (last - first) if first and last else float("nan")
    rows.append(
        (
            f"{n:,} lines from one service",
            "devstack terminal stream",
            f"{span:.3f} s ({n / span:,.0f} lines/s)" if span == span else "n/a",
            f"target <= 0.2 s; seen {len(seen):,}, in log file {in_file:,}",
        )
    )
    return rows


# --- shutdown -----------------------------------------------------------------------------


def shutdown(n: int) -> list[tuple[str, str, str, str]]:
    ports = free_ports(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        services = [
            (f"s{i:02d}", [PY, LISTEN, str(p), "0", "--grandchild"], p, None)
            for i, p in enumerate(ports)
        ]
        (root / "stack.toml").write_text(stack_toml(services))
        proc = start_devstack(root)
        wait_ports(ports)
        time.sleep(0.5)
        tree = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "listen_after" in " ".join(p.cmdline())
        ]
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        alive = tree
        while alive and time.perf_counter() - t0 < 10:
            alive = [p for p in alive if is_alive(p)]
            if alive:
                time.sleep(0.002)
        took = time.perf_counter() - t0
        proc.wait(10)
    return [
        (
            f"SIGTERM to {n} services with grandchildren",
            f"{len(tree)} processes all gone",
            f"{took * 1000:.0f} ms",
            f"target <= 300 ms; left alive: {len(alive)}",
        )
    ]


# --- client commands against a detached stack ---------------------------------------------


def _detached(root: Path, n: int) -> list[int]:
    ports = free_ports(n)
    services = [(f"s{i:02d}", [PY, LISTEN, str(p), "0"], p, None) for i, p in enumerate(ports)]
    (root / "stack.toml").write_text(stack_toml(services))
    subprocess.run(
        [PY, "-m", "devstack", "up", "-d"],
        cwd=root,
        env=env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return ports


def _down(root: Path) -> None:
    subprocess.run([PY, "-m", "devstack", "down"], cwd=root, env=env(), stdout=subprocess.DEVNULL)


def _walls(argvs: list[list[str]], cwd: Path, runs: int) -> list[float]:
    """Median wall time of each command, run in turn (the same load for each)."""
    times: list[list[float]] = [[] for _ in argvs]
    for _ in range(runs):
        for argv, samples in zip(argvs, times, strict=True):
            t0 = time.perf_counter()
            subprocess.run(argv, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, check=True)
            samples.append(time.perf_counter() - t0)
    return [statistics.median(samples) for samples in times]


def _devstack_command() -> list[str]:
    """`devstack` as users type it: the console script beside this Python (else -m)."""
    script = Path(PY).parent / "devstack"
    return [str(script)] if script.exists() else [PY, "-m", "devstack"]


def client_commands(runs: int) -> list[tuple[str, str, str, str]]:
    devstack = _devstack_command()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ports = _detached(root, 10)
        try:
            floor, ps, ps_m = _walls(
                [[PY, "-c", "pass"], [*devstack, "ps"], [PY, "-m", "devstack", "ps"]], root, runs
            )
            # restart: from the command's start to the new process accepting, minus the
            # program's own start time (measured by starting it directly, in turn with
            # each restart so that both see the same load on a shared machine).
            own: list[float] = []
            restart = []
            for _ in range(max(3, runs // 2)):
                (port,) = free_ports(1)
                t0 = time.perf_counter()
                proc = subprocess.Popen([PY, LISTEN, str(port), "0"])
                wait_ports([port])
                own.append(time.perf_counter() - t0)
                proc.kill()
                proc.wait()
                t0 = time.perf_counter()
                subprocess.run(
                    [*devstack, "restart", "s00"],
                    cwd=root,
                    env=env(),
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
                wait_ports([ports[0]])
                restart.append(time.perf_counter() - t0)
        finally:
            _down(root)
    over = statistics.median(restart) - statistics.median(own)
    return [
        (
            "devstack ps, 10-service stack (median)",
            "python -c pass (floor)",
            f"{floor * 1000:.0f} ms",
            "",
        ),
        ("", "devstack ps", f"{ps * 1000:.0f} ms", "target <= 100 ms"),
        ("", "python -m devstack ps", f"{ps_m * 1000:.0f} ms", ""),
        (
            "devstack restart SVC -> accepting",
            "program's own start",
            f"{statistics.median(own) * 1000:.0f} ms",
            "",
        ),
        (
            "",
            "devstack restart",
            f"{statistics.median(restart) * 1000:.0f} ms",
            f"+{over * 1000:.0f} ms  target <= +100 ms",
        ),
    ]


# --- devstack check on the incident --------------------------------------------------------


def check_incident(runs: int) -> list[tuple[str, str, str, str]]:
    """`devstack check` on the incident fixture vs the app's own import time (same venv)."""
    cache = HERE.parent / "tests" / ".cache"
    venvs = sorted(cache.glob("venv-*/bin/gunicorn")) if cache.exists() else []
    if not venvs:
        return [
            (
                "devstack check on the incident",
                "skipped",
                "no test venv",
                "run the tests once: they build tests/.cache/venv-*",
            )
        ]
    venv = venvs[0].parent.parent
    fixture = HERE.parent / "tests" / "fixtures" / "incident"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(fixture, root / "backend")
        (root / "backend" / ".venv").symlink_to(venv)
        (port,) = free_ports(1)
        (root / "stack.toml").write_text(
            f'[services.backend]\ncmd = "uvicorn main:app --port {port}"\n'
            f'cwd = "backend"\nport = {port}\n'
        )
        imports, checks = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                [str(venv / "bin" / "python"), "-c", "import api"],
                cwd=root / "backend",
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            imports.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(
                [PY, "-m", "devstack", "check"], cwd=root, env=env(), stdout=subprocess.DEVNULL
            )
            checks.append(time.perf_counter() - t0)
    own, mine = statistics.median(imports), statistics.median(checks)
    return [
        (
            "devstack check, incident fixture (median)",
            "python -c 'import api' (the app's own)",
            f"{own * 1000:.0f} ms",
            "",
        ),
        (
            "",
            "devstack check",
            f"{mine * 1000:.0f} ms",
            f"+{(mine - own) * 1000:.0f} ms  target <= +1500 ms",
        ),
    ]


BENCHES: dict[str, Callable[[bool], list[tuple[str, str, str, str]]]] = {
    "cold": lambda q: cold_start(40, 200, 1 if q else 7),
    "respawn": lambda q: kill_respawn(5 if q else 20),
    "idle": lambda q: idle(20, 3.0 if q else 10.0),
    "lines": lambda q: lines_through(200_000),
    "shutdown": lambda q: shutdown(10),
    "client": lambda q: client_commands(8 if q else 20),
    "check": lambda q: check_incident(3 if q else 7),
    "watch": lambda q: _watch(q),
    "churn": lambda q: _churn(q),
    "replicas": lambda q: _replicas(q),
    "ui": lambda q: _ui(q),
}


def _ui(quick: bool) -> list[tuple[str, str, str, str]]:
    import bench_ui  # benchmarks/ is on sys.path: run.py is run as a script

    return bench_ui.ui_flood(repeats=2 if quick else 3)


def _watch(quick: bool) -> list[tuple[str, str, str, str]]:
    import bench_watch  # benchmarks/ is on sys.path: run.py is run as a script

    return bench_watch.watch_latency(5 if quick else 15) + bench_watch.watch_idle(
        20_000, 5.0 if quick else 10.0
    )


def _churn(quick: bool) -> list[tuple[str, str, str, str]]:
    import bench_churn  # benchmarks/ is on sys.path: run.py is run as a script

    return bench_churn.churn(2.0 if quick else 10.0)


def _replicas(quick: bool) -> list[tuple[str, str, str, str]]:
    import bench_replicas  # benchmarks/ is on sys.path: run.py is run as a script

    return bench_replicas.replicas(quick)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    args = parser.parse_args()
    # A regular install writes bytecode at install time; an editable one under
    # PYTHONDONTWRITEBYTECODE=1 would recompile devstack on every start. Compile once,
    # as an installed devstack would be.
    import compileall

    import devstack

    compileall.compile_dir(Path(devstack.__file__).parent, quiet=1)
    rows: list[tuple[str, str, str, str]] = []
    for name in args.only or BENCHES:
        rows += BENCHES[name](args.quick)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("benchmark", "who", "result", "vs floor / target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)))
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
