"""``devstack attach SVC``: this terminal becomes the terminal of an interactive service.

The client itself (raw mode, the relay, the detach key) is control/attachclient.py,
which the dashboard's attach key runs too.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of
from devstack.control.attachclient import DETACH_NAME

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    attach = sub.add_parser(
        "attach",
        help=f"type into an interactive service (pdb at a breakpoint()); {DETACH_NAME} detaches",
        description=f"Connects this terminal to a service that has `interactive = true`: keys "
        f"go to it, its output comes here (its last screen first). {DETACH_NAME} detaches "
        "and leaves it running; a later attach takes over from an earlier one.",
    )
    attach.add_argument("service", help="the service's name")
    add_file_option(attach)
    attach.set_defaults(func=cmd_attach)


def cmd_attach(args: argparse.Namespace) -> int:
    from devstack.control import attachclient

    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    client, name = attachclient.connect(state_of(args), args.service, in_fd, out_fd)
    with client:
        _say(f"attached to {name}; {DETACH_NAME} detaches (it keeps running)")
        reason = attachclient.run_attached(client, in_fd, out_fd)
    _say(f"detached from {name}: {reason}")
    return 0


def _say(text: str) -> None:
    # Not in raw mode (the terminal would not return the carriage).
    sys.stderr.write(f"[devstack attach] {text}\n")
    sys.stderr.flush()
