"""``devstack restart``, ``stop`` and ``start``: one request to the running supervisor,
which answers once each service has its outcome; one line per service."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, add_services, state_of

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    restart = sub.add_parser(
        "restart", help="checks, stop, start and wait healthy; a failed check keeps the old one"
    )
    add_services(restart)
    add_file_option(restart)
    restart.add_argument(
        "--with-dependents", action="store_true", help="also restart what depends on them"
    )
    restart.set_defaults(func=cmd_restart)
    stop = sub.add_parser("stop", help="stop services of the running stack")
    add_services(stop, "+", help=None)
    add_file_option(stop)
    stop.set_defaults(func=cmd_stop)
    start = sub.add_parser("start", help="start stopped services (after their dependencies)")
    add_services(start, "+", help=None)
    add_file_option(start)
    start.set_defaults(func=cmd_start)


def cmd_restart(args: argparse.Namespace) -> int:
    request = {"names": args.services, "with_dependents": args.with_dependents}
    return _call(args, "restart", request)


def cmd_stop(args: argparse.Namespace) -> int:
    return _call(args, "stop", {"names": args.services})


def cmd_start(args: argparse.Namespace) -> int:
    return _call(args, "start", {"names": args.services})


def _call(args: argparse.Namespace, cmd: str, request: dict[str, object]) -> int:
    from devstack.control.client import ControlClient

    with ControlClient.connect(state_of(args)) as client:  # a WAITING command: no reply timeout
        return print_results(client.call(cmd, request))


def print_results(results: object) -> int:
    """One line per service: ok or failed, how long it took, the supervisor's message."""
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
