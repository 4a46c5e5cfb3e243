"""Client commands: ps, logs, restart, stop, start, down (stdlib only: they start fast).

Each finds the stack directory (``--file`` or ./stack.toml), talks to its supervisor
over the control socket, and prints. ``logs`` without a running stack reads the
log files in ``.devstack/logs/``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from devstack.control.client import ControlClient, is_pid_alive
from devstack.errors import EXIT_INTERRUPTED, NoStackRunning, UsageError
from devstack.paths import StateLayout, recorded_pid
from devstack.record import Record
from devstack.stackfile import locate_stack_file

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start time)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Iterator

# The printer's look (printer.py imports asyncio via logs.py, so it is mirrored here).
_PALETTE = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
_RESET = "\x1b[0m"
# Patterns are compiled on first use (re caches them): ps and restart never need them.
_DURATION = r"(\d+(?:\.\d+)?)(ms|h|m|s)"
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_FILE_LINE = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z (stdout|stderr|event) *\| (.*)"
_SAFE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


def _layout(args: argparse.Namespace) -> StateLayout:
    """Where the state of the stack (``--file``, else ./stack.toml) is."""
    return StateLayout.of_file(locate_stack_file(args.file, os.getcwd()))


def _connect(args: argparse.Namespace, timeout: float | None = 30.0) -> ControlClient:
    return ControlClient.connect(_layout(args), timeout)


# --- ps ---------------------------------------------------------------------------------


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _size(rss: object) -> str:
    if not isinstance(rss, int):
        return "-"
    value = float(rss)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "-"


def _health(health: object) -> str:
    if not isinstance(health, dict):
        return "-"
    word = "ok" if health.get("ok") else "failing"
    latency = health.get("latency")
    if isinstance(latency, int | float):
        word += f" {latency * 1000:.0f}ms" if latency < 1 else f" {latency:.1f}s"
    return word


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def ps_table(rows: list[dict[str, object]]) -> str:
    """The ``devstack ps`` table (pure: unit-testable)."""
    head = ["SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "PORT", "URL", "CPU%"]
    head.append("RSS")
    table = [head]
    notes: list[str] = []
    for row in rows:
        state = str(row.get("state"))
        if row.get("stale"):
            state += f" (stale: {row['stale']})"
        if row.get("restart_needed"):
            state += " (restart needed)"
        cpu = row.get("cpu_percent")
        table.append(
            [
                str(row.get("name")),
                state,
                _cell(row.get("pid")),
                _duration(row.get("uptime")),
                _cell(row.get("restarts")),
                _health(row.get("health")),
                _cell(row.get("port")),
                _cell(row.get("url")),
                f"{cpu:.1f}" if isinstance(cpu, int | float) else "-",
                _size(row.get("rss")),
            ]
        )
        if row.get("reason"):
            notes.append(f"{row.get('name')}: {row.get('reason')}")
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return "\n".join(lines + notes) + "\n"


def cmd_ps(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        status = client.call("status") if args.json else None  # the table does not show it
        rows = client.call("ps")
    if not isinstance(rows, list):
        rows = []
    if args.json:
        out = {"v": 1, "stack": status, "services": rows}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(ps_table(rows))
    return 0


# --- restart / stop / start / down --------------------------------------------------------


def _print_results(results: object) -> int:
    rows = results if isinstance(results, list) else []
    width = max([8, *(len(str(r.get("name"))) for r in rows if isinstance(r, dict))])
    failed = False
    for row in rows:
        if not isinstance(row, dict):
            continue
        ok = row.get("ok") is True
        failed |= not ok
        took = row.get("took")
        took_text = f"{took:.2f}s" if isinstance(took, int | float) else "-"
        message = str(row.get("message") or "").split("\n")
        head = f"{str(row.get('name')).ljust(width)}  {'ok' if ok else 'failed':<6}  {took_text:>7}"
        print(f"{head}  {message[0]}".rstrip())
        for extra in message[1:]:
            print(f"{'':{width}}  {extra}")
    return 1 if failed else 0


def cmd_restart(args: argparse.Namespace) -> int:
    with _connect(args) as client:  # a WAITING command: no reply timeout
        results = client.call(
            "restart", {"names": args.services, "with_dependents": args.with_dependents}
        )
    return _print_results(results)


def cmd_stop(args: argparse.Namespace) -> int:
    with _connect(args) as client:  # a WAITING command: no reply timeout
        return _print_results(client.call("stop", {"names": args.services}))


def cmd_start(args: argparse.Namespace) -> int:
    with _connect(args) as client:  # a WAITING command: no reply timeout
        return _print_results(client.call("start", {"names": args.services}))


def _wait_gone(paths: StateLayout, pid: int | None, timeout: float = 10.0) -> None:
    """After ``down``: until the supervisor process itself has exited (bounded)."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while is_pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def cmd_down(args: argparse.Namespace) -> int:
    paths = _layout(args)
    pid = recorded_pid(paths.pid_file)
    client = ControlClient.connect(paths, timeout=None)
    try:
        try:
            client.send("down", {"force": False})
            client.receive()  # None: the supervisor closed as it ended, which is fine
        except KeyboardInterrupt:
            # Ctrl-C during down: kill at once (a second connection, force).
            print("devstack: killing every process now", file=sys.stderr)
            try:
                with ControlClient.connect(paths, timeout=None) as forced:
                    forced.send("down", {"force": True})
                    forced.receive()
            except NoStackRunning:
                pass
            _wait_gone(paths, pid)
            return EXIT_INTERRUPTED
    finally:
        client.close()
    _wait_gone(paths, pid)
    print(f"stack in {paths.root} is down")
    return 0


# --- logs -------------------------------------------------------------------------------


class Line(Record):
    __slots__ = ("service", "stream", "text", "time")

    def __init__(self, service: str, stream: str, time: float, text: str) -> None:
        self.service = service
        self.stream = stream
        self.time = time
        self.text = text  # without its newline


def parse_since(text: str, now: float | None = None) -> float:
    """``--since 5m`` -> epoch seconds (now - 5 minutes)."""
    parts = re.findall(_DURATION, text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(
            f"--since {text!r} is not a duration", hint='e.g. "30s", "5m", "1h", "1m30s"'
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return (time.time() if now is None else now) - seconds


class LineFormat:
    """Lines as the live terminal shows them: ``NAME  | text``, events with ``*``."""

    def __init__(self, names: Iterable[str], color: bool, timestamps: bool) -> None:
        from zlib import crc32  # only logs needs it: not imported by ps and restart

        self.width = max([8, *(len(n) for n in names)])
        self.color = color
        self.timestamps = timestamps
        self._crc32 = crc32

    def format(self, line: Line) -> str:
        sep = "*" if line.stream == "event" else "|"
        prefix = f"{line.service.ljust(self.width)}  {sep} "
        if self.color:
            code = _PALETTE[self._crc32(line.service.encode("utf-8", "replace")) % len(_PALETTE)]
            prefix = f"\x1b[{code}m{prefix}{_RESET}"
        if self.timestamps:
            prefix = _iso(line.time) + " " + prefix
        return prefix + line.text


def _iso(when: float) -> str:
    seconds, millis = divmod(round(when * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def parse_file_line(service: str, raw: str) -> Line | None:
    """One log-file line ``2026-11-28T12:00:00.123Z stdout | text`` -> Line."""
    match = re.fullmatch(_FILE_LINE, raw.rstrip("\n"), re.S)
    if match is None:
        return None
    import calendar  # only logs read from files need it (it imports datetime)

    stamp, millis, stream, text = match.groups()
    when = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000
    return Line(service, stream, when, text)


def _log_names(paths: StateLayout, wanted: list[str]) -> list[str]:
    try:
        files = os.listdir(paths.log_dir)
    except OSError:
        files = []
    found = sorted(f[: -len(".log")] for f in files if f.endswith(".log"))
    for name in wanted:
        if not re.fullmatch(_SAFE_NAME, name) or name not in found:
            import difflib

            close = difflib.get_close_matches(name, found, n=1)
            hint = f"did you mean {close[0]}?" if close else f"logs kept: {', '.join(found)}"
            raise UsageError(f"no log file for a service named {name!r} in {paths.log_dir}", hint)
    return wanted or found


def _file_lines(paths: StateLayout, name: str) -> list[Line]:
    """Every kept line of ``name``: rotated backups (oldest first), then the current file."""
    current = paths.log_file(name)
    backups = []
    n = 1
    while os.path.exists(backup := f"{current}.{n}"):
        backups.append(backup)
        n += 1
    lines: list[Line] = []
    for path in [*reversed(backups), current]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for raw in text.splitlines():
            line = parse_file_line(name, raw)
            if line is not None:
                lines.append(line)
    return lines


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _logs_from_files(args: argparse.Namespace, paths: StateLayout, fmt_color: bool) -> int:
    names = _log_names(paths, args.services)
    since = parse_since(args.since) if args.since else None
    merged: list[Line] = []
    for name in names:
        lines = [ln for ln in _file_lines(paths, name) if since is None or ln.time >= since]
        if args.lines is not None:
            lines = lines[-args.lines :] if args.lines > 0 else []
        merged += lines
    merged.sort(key=lambda ln: ln.time)  # stable: each service keeps its own order
    fmt = LineFormat(names, fmt_color, args.timestamps)
    for line in merged:
        _write(fmt.format(line))
    sys.stdout.flush()
    if args.follow:
        for line in _follow_files(paths, names):
            _write(fmt.format(line))
            sys.stdout.flush()
    return 0


def _follow_files(paths: StateLayout, names: list[str]) -> Iterator[Line]:
    """New lines appended to the log files, across rotation (polling; Ctrl-C ends it)."""
    offsets: dict[str, tuple[int, int]] = {}  # name -> (inode, offset)
    pending: dict[str, str] = {}
    for name in names:
        try:
            info = os.stat(paths.log_file(name))
            offsets[name] = (info.st_ino, info.st_size)
        except OSError:
            offsets[name] = (0, 0)
    while True:
        for name in names:
            path = paths.log_file(name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            inode, offset = offsets[name]
            if info.st_ino != inode or info.st_size < offset:
                # Rotated: the rest of the old file is now .1; read it first.
                yield from _read_rest(path + ".1", inode, offset, name)
                inode, offset = info.st_ino, 0
            if info.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read(info.st_size - offset)
                text = pending.pop(name, "") + data.decode("utf-8", "replace")
                *complete, rest = text.split("\n")
                if rest:
                    pending[name] = rest
                for raw in complete:
                    line = parse_file_line(name, raw)
                    if line is not None:
                        yield line
                offset = info.st_size
            offsets[name] = (inode, offset)
        time.sleep(0.2)


def _read_rest(path: str, inode: int, offset: int, name: str) -> Iterator[Line]:
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_ino != inode:
                return
            f.seek(offset)
            data = f.read()
    except OSError:
        return
    for raw in data.decode("utf-8", "replace").splitlines():
        line = parse_file_line(name, raw)
        if line is not None:
            yield line


def _color(args: argparse.Namespace) -> bool:
    if args.no_color or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def cmd_logs(args: argparse.Namespace) -> int:
    if args.lines is not None and args.lines < 0:
        raise UsageError("-n must be 0 or more")
    paths = _layout(args)
    color = _color(args)
    try:
        client = ControlClient.connect(paths, timeout=None)
    except NoStackRunning:
        return _logs_from_files(args, paths, color)
    request: dict[str, object] = {
        "names": args.services,
        "n": args.lines,
        "since": parse_since(args.since) if args.since else None,
        "follow": args.follow,
    }
    with client:
        hello = client.call("hello")
        known = hello.get("services", []) if isinstance(hello, dict) else []
        fmt = LineFormat(args.services or [str(n) for n in known], color, args.timestamps)
        for result in client.stream("logs", request):
            if not isinstance(result, dict):
                continue
            if "dropped" in result:
                print(f"[devstack: {result['dropped']} lines not shown (too slow)]")
                continue
            chunk = result.get("chunk")
            if not isinstance(chunk, dict):
                continue
            service, stream = str(chunk.get("service")), str(chunk.get("stream"))
            when = chunk.get("time")
            stamp = float(when) if isinstance(when, int | float) else 0.0
            for text in str(chunk.get("text", "")).split("\n")[:-1]:
                _write(fmt.format(Line(service, stream, stamp, text)))
            if args.follow:
                sys.stdout.flush()
    return 0
