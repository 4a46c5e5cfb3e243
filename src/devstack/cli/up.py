"""``devstack up``: the stack in the foreground (or ``-d``: in the background)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import (
    EXIT_CODES,
    NO_COLOR_HELP,
    add_file_option,
    add_profile_option,
    add_services,
)

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.paths import StatePaths


def add_parser(sub: Subparsers) -> None:
    up = sub.add_parser(
        "up",
        help="start the stack in the foreground and stream its logs",
        description="Start the services (or SVC... and what they depend on) in dependency order, "
        "those with profiles only when one is active (--profile), "
        "gate each on its dependencies' health, restart crashes with backoff, stream logs. "
        "Ctrl-C stops everything gracefully; a second Ctrl-C kills at once.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_services(up, help="services to start (default: all)")
    add_file_option(up)
    add_profile_option(up)
    up.add_argument("--no-color", action="store_true", help=NO_COLOR_HELP)
    up.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background (devstack's own lines in .devstack/supervisor.log, "
        "the services' output in .devstack/logs/); return once "
        "every service is healthy/running or has failed",
    )
    up.add_argument(
        "--ui",
        action="store_true",
        help="start in the background and open the dashboard (devstack ui); "
        "quitting it stops the stack, as Ctrl-C of up does",
    )
    up.add_argument(
        "--no-setup",
        action="store_true",
        help="skip the services' setup steps (devstack setup runs them alone)",
    )
    # `up -d`'s supervisor: its output file (supervisor.log) gets devstack's own lines;
    # the services' output is in their rotated log files already.
    up.add_argument("--events-only", action="store_true", help=argparse.SUPPRESS)
    watching = up.add_mutually_exclusive_group()
    watching.add_argument(
        "--watch",
        dest="watch",
        action="store_const",
        const=True,
        help='also watch every Python service without a watch key (watch = ["**/*.py"])',
    )
    watching.add_argument(
        "--no-watch",
        dest="watch",
        action="store_const",
        const=False,
        help="no restart on file changes, whatever the services' watch keys say",
    )
    up.set_defaults(func=cmd_up, watch=None)


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from devstack.cli.detach import connect_running, detach, up_into_running
    from devstack.cli.options import state_of
    from devstack.config import load_for_command, profiles
    from devstack.spec import require_services

    if args.ui and args.detach:
        from devstack.errors import UsageError

        raise UsageError("up: --ui and -d do not go together", hint="devstack ui attaches later")
    paths = state_of(args)
    running = connect_running(paths)
    if running is not None:  # never a second supervisor in one directory
        allowed = None
        if not args.services:  # what the active profiles enable, not the rest
            loaded = load_for_command(args.file, cached=True)
            allowed = profiles.to_start(profiles.activate(loaded, args.profiles, os.environ), [])
        code = up_into_running(running, paths.root, list(args.services), allowed=allowed)
        return _open_ui(paths, owns_stack=False) if args.ui else code
    stack = load_for_command(args.file, cached=True)
    named = require_services(stack, args.services)  # worker: its copies (replicas)
    stack = profiles.activate(stack, args.profiles, os.environ)
    names = profiles.to_start(stack, named)
    if args.detach or args.ui:  # --ui: the supervisor in the background, the dashboard in front
        assert stack.file is not None
        code = detach(
            stack.file,
            stack.root,
            list(args.services),
            no_setup=args.no_setup,
            watch=args.watch,
            profiles=stack.profiles,
            layers=stack.layers,
            settle=not args.ui,
        )
        if not args.ui or code != 0:
            return code
        return _open_ui(paths, owns_stack=True)
    from devstack.runtime.supervisor import run_stack
    from devstack.runtime.watchrules import print_warnings

    color = False if args.no_color else None
    if stack.from_procfile:
        print(
            "devstack: running the Procfile (PORT numbered as honcho does); health probes and "
            "dependencies need a stack.toml (devstack init writes one)",
            file=sys.stderr,
        )
    print_warnings(stack)
    return run_stack(
        stack,
        names,
        color=color,
        setup=not args.no_setup,
        watch=args.watch,
        print_output=not args.events_only,
        forward_stdin=True,
    )


def _open_ui(paths: StatePaths, owns_stack: bool) -> int:
    from devstack.cli.ui import open_dashboard
    from devstack.errors import NoStackRunning

    try:
        return open_dashboard(paths, owns_stack=owns_stack)
    except NoStackRunning:
        return 1  # every service ended at once: the supervisor is gone (detach said why)
