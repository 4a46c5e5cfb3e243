"""``devstack logs``: the running stack's lines, or without one its log files.

Lines look as on the live terminal (the printer's prefix and colours), merged in
time order; ``--timestamps`` puts the log files' time format in front.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from devstack.cli.options import NO_COLOR_HELP, add_file_option, add_services, state_of
from devstack.errors import UsageError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.logs.files import LogLine
    from devstack.paths import StatePaths

_SAFE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


def add_parser(sub: Subparsers) -> None:
    logs = sub.add_parser(
        "logs",
        help="logs of the running stack, or of the log files when none runs",
        description="Merged in time order. -f follows (the stack file is --file here).",
    )
    add_services(logs)
    add_file_option(logs, ("--file",), help="stack.toml (or Procfile) to use")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=None, metavar="N", help="last N lines")
    logs.add_argument("--since", default=None, metavar="DURATION", help='e.g. "5m", "30s"')
    logs.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
    logs.add_argument("--no-color", action="store_true", help=NO_COLOR_HELP)
    logs.set_defaults(func=cmd_logs)


def parse_since(text: str, now: float | None = None) -> float:
    """``--since 5m`` -> epoch seconds (now - 5 minutes); durations as stack.toml has them."""
    from devstack.config.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    return (time.time() if now is None else now) - seconds


class LineFormat:
    """Lines as the live terminal shows them: ``NAME  | text``, events with ``*``."""

    def __init__(self, names: Sequence[str], color: bool, timestamps: bool) -> None:
        from devstack.logs.printer import LineFormatter

        self._formatter = LineFormatter(names, color)
        self.timestamps = timestamps

    def format(self, line: LogLine) -> str:
        from devstack.logs.files import format_time

        prefix = self._formatter.prefix(line.service, "*" if line.stream == "event" else "|")
        if self.timestamps:
            prefix = format_time(line.time) + " " + prefix
        return prefix + line.text


def cmd_logs(args: argparse.Namespace) -> int:
    from devstack.control.client import ControlClient
    from devstack.errors import NoStackRunning
    from devstack.logs.files import LogLine
    from devstack.logs.printer import colour_enabled

    if args.lines is not None and args.lines < 0:
        raise UsageError("-n must be 0 or more")
    paths = state_of(args)
    since = parse_since(args.since) if args.since else None
    color = colour_enabled(None, not args.no_color and sys.stdout.isatty())
    try:
        client = ControlClient.connect(paths, timeout=None)
    except NoStackRunning:
        return _from_files(args, paths, since, color)
    request: dict[str, object] = {
        "names": args.services,
        "n": args.lines,
        "since": since,
        "follow": args.follow,
    }
    from devstack.spec import expand_names

    with client:
        hello = client.call("hello")
        known = hello.get("services", []) if isinstance(hello, dict) else []
        shown = expand_names([str(n) for n in known], args.services) if args.services else known
        fmt = LineFormat([str(n) for n in shown], color, args.timestamps)
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
                _write(fmt.format(LogLine(service, stream, stamp, text)))
            if args.follow:
                sys.stdout.flush()
    return 0


def _from_files(
    args: argparse.Namespace, paths: StatePaths, since: float | None, color: bool
) -> int:
    from devstack.logs.files import follow, read_lines

    names = _services(paths, args.services)
    merged: list[LogLine] = []
    for name in names:
        lines = [ln for ln in read_lines(paths, name) if since is None or ln.time >= since]
        if args.lines is not None:
            lines = lines[-args.lines :] if args.lines > 0 else []
        merged += lines
    merged.sort(key=lambda ln: ln.time)  # stable: each service keeps its own order
    fmt = LineFormat(names, color, args.timestamps)
    _write_all(fmt, merged)
    if args.follow:
        for line in follow(paths, names):
            _write_all(fmt, [line])
    return 0


def _services(paths: StatePaths, wanted: list[str]) -> list[str]:
    """``wanted``, each with a log file (a usage error names the others), else all kept."""
    import difflib

    from devstack.logs.files import kept_services
    from devstack.spec import expand_names

    found = kept_services(paths)
    wanted = expand_names(found, wanted)  # worker: worker.1, worker.2... (replicas)
    for name in wanted:
        if not re.fullmatch(_SAFE_NAME, name) or name not in found:
            close = difflib.get_close_matches(name, found, n=1)
            hint = f"did you mean {close[0]}?" if close else f"logs kept: {', '.join(found)}"
            if not found:
                hint = f"no service's log is kept here: no stack has run in {paths.root}"
            raise UsageError(f"no log file for a service named {name!r} in {paths.log_dir}", hint)
    return wanted or found


def _write_all(fmt: LineFormat, lines: Iterable[LogLine]) -> None:
    for line in lines:
        _write(fmt.format(line))
    sys.stdout.flush()


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
