"""``devstack check [SVC...] [--json]``: every preflight check, nothing started.

One line per check (ok / warn / fail), the details under each failure and
warning; exit 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from devstack.cli.options import add_file_option, add_profile_option, add_services
from devstack.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from devstack.checks.checkresult import CheckResult
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    check = sub.add_parser(
        "check",
        help="run every preflight check, start nothing",
        description="Check each service (or SVC...): executable, app import, port, env wiring, "
        "check.cmd. One line per check; exit 1 if any failed.",
    )
    add_services(check, help="services to check")
    add_file_option(check)
    add_profile_option(check)
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from devstack.checks.runner import check_stack
    from devstack.config import load_for_command, profiles
    from devstack.runtime.watchrules import print_warnings
    from devstack.spec import require_services

    stack = load_for_command(args.file)
    names = require_services(stack, args.services)  # worker: its copies (replicas)
    stack = profiles.activate(stack, args.profiles, os.environ)
    if not names and profiles.known(stack):  # what `up` would start, as `up` says it
        names = profiles.to_start(stack, [])
    print_warnings(stack)
    from devstack.procs.setuprecord import pending

    # Setup steps `up` would run first: what they install is not checked before they ran.
    state = stack.state_dir()
    waiting = {
        name: why
        for name, spec in stack.services.items()
        if (why := pending(spec, state, stack.file)) is not None
    }
    results = asyncio.run(check_stack(stack, names, setup_pending=waiting))
    if args.json:
        failed = any(r.failed for rs in results.values() for r in rs)
        payload = {
            "ok": not failed,
            "services": {n: [r.to_json() for r in rs] for n, rs in results.items()},
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        failed = print_results(results, sys.stdout)
    return EXIT_FAILED if failed else EXIT_OK


def render(results: dict[str, list[CheckResult]]) -> list[str]:
    """The text report: ``backend  fail  import  main.py could not be imported`` and details."""
    width = max((len(n) for n in results), default=0)
    lines: list[str] = []
    for name, checks in results.items():
        if not checks:
            lines.append(f"{name:<{width}}  -     (nothing to check)")
        for r in checks:
            lines.append(f"{name:<{width}}  {r.status:<4}  {r.check:<10}  {r.summary}")
            if r.status != "ok":
                pad = " " * (width + 20)
                lines += [f"{pad}{d}" for d in r.details]
                if r.fix and not any(r.fix in d for d in r.details):
                    lines.append(f"{pad}fix: {r.fix}")
    return lines


def print_results(results: dict[str, list[CheckResult]], out: TextIO) -> bool:
    """Print the report; True when a check failed."""
    for line in render(results):
        out.write(line + "\n")
    failed = [r for rs in results.values() for r in rs if r.failed]
    warned = sum(r.status == "warn" for rs in results.values() for r in rs)
    total = sum(len(rs) for rs in results.values())
    out.write(f"{total} checks: {len(failed)} failed, {warned} warnings\n")
    return bool(failed)
