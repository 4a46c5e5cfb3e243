"""``devstack scale SVC=N``: the number of copies of a service with replicas, in the
running stack. New copies pass their checks before any starts; removed ones stop,
highest numbers first. One line per copy started or stopped."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of
from devstack.errors import UsageError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers

_PAIR = re.compile(r"([^=]+)=(\d+)")


def add_parser(sub: Subparsers) -> None:
    scale = sub.add_parser(
        "scale", help="set the copies of a service with replicas in the running stack"
    )
    scale.add_argument(
        "pairs", nargs="+", metavar="SVC=N", help="a service with replicas and its copies (1..64)"
    )
    add_file_option(scale)
    scale.set_defaults(func=cmd_scale)


def parse_pairs(pairs: list[str]) -> list[tuple[str, int]]:
    """``["worker=5"]`` -> ``[("worker", 5)]``; a usage error for anything else."""
    parsed = []
    for pair in pairs:
        match = _PAIR.fullmatch(pair)
        if match is None:
            raise UsageError(f"{pair!r} is not SVC=N", hint="e.g. devstack scale worker=5")
        parsed.append((match.group(1), int(match.group(2))))
    return parsed


def cmd_scale(args: argparse.Namespace) -> int:
    from devstack.cli.startstop import print_results
    from devstack.control.client import ControlClient

    code = 0
    pairs = parse_pairs(args.pairs)
    with ControlClient.connect(state_of(args)) as client:  # a WAITING command: no reply timeout
        for name, count in pairs:
            code = max(code, print_results(client.call("scale", {"name": name, "count": count})))
    return code
