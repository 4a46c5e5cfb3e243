"""``devstack ps``: state, pid, health, CPU and memory of each service of the running stack."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of
from devstack.control.rowtext import cell, cpu, duration, health, size

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    ps = sub.add_parser("ps", help="state, pid, health, CPU and memory of each service")
    add_file_option(ps)
    ps.add_argument("--json", action="store_true", help="stable JSON (devstack docs protocol)")
    ps.set_defaults(func=cmd_ps)


def cmd_ps(args: argparse.Namespace) -> int:
    from devstack.control.client import ControlClient

    with ControlClient.connect(state_of(args)) as client:
        status = client.call("status")
        rows = client.call("ps")
    if not isinstance(rows, list):
        rows = []
    if args.json:
        out = {"v": 1, "stack": status, "services": rows}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        active = status.get("profiles") if isinstance(status, dict) else None
        sys.stdout.write(ps_table(rows, active if isinstance(active, list) else []))
    return 0


def ps_table(rows: list[dict[str, object]], profiles: list[str] | None = None) -> str:
    """The ``devstack ps`` table (pure: unit-testable); ``profiles``: the active ones."""
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
        table.append(
            [
                str(row.get("name")),
                state,
                cell(row.get("pid")),
                duration(row.get("uptime")),
                cell(row.get("restarts")),
                health(row.get("health")),
                cell(row.get("port")),
                cell(row.get("url")),
                cpu(row.get("cpu_percent")),
                size(row.get("rss")),
            ]
        )
        if row.get("reason"):
            notes.append(f"{row.get('name')}: {row.get('reason')}")
        if row.get("log_file"):
            notes.append(f"{row.get('name')}: log file {row.get('log_file')}")
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    if profiles:
        notes.append(f"profiles: {', '.join(map(str, profiles))}")
    return "\n".join(lines + notes) + "\n"
