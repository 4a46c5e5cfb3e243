"""``devstack ui``: the full-screen dashboard of the running stack.

Textual is imported here, when the command runs, and by no other command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of

if TYPE_CHECKING:
    import argparse

    from devstack.cli.options import Subparsers
    from devstack.paths import StatePaths


def add_parser(sub: Subparsers) -> None:
    ui = sub.add_parser(
        "ui",
        help="a live dashboard of the running stack: states, logs, restart/stop/start",
        description="A full-screen dashboard attached to the running stack (up or up -d): "
        "the services' states, health, CPU and memory, their logs (search, filter), and "
        "restart / stop / start / check of the selected service. q quits and leaves the "
        "stack running; ? lists the keys.",
    )
    add_file_option(ui)
    ui.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    return open_dashboard(state_of(args))


def open_dashboard(paths: StatePaths, owns_stack: bool = False) -> int:
    """The dashboard of the stack of ``paths`` until q; NoStackRunning (exit 3) when
    none runs. ``owns_stack`` (``up --ui``): quitting stops the stack, as Ctrl-C of
    ``up`` would."""
    from devstack.control.client import ControlClient

    with ControlClient.connect(paths) as client:  # no stack: exit 3 before the screen
        status = client.call("status")
    stack = str(status.get("stack") or "") if isinstance(status, dict) else ""
    from devstack.ui.app import run_dashboard

    code = run_dashboard(paths, stack, owns_stack=owns_stack)
    if owns_stack:
        from devstack.cli.down import down
        from devstack.errors import NoStackRunning

        try:
            return down(paths)
        except NoStackRunning:
            return code  # stopped from elsewhere meanwhile
    return code
