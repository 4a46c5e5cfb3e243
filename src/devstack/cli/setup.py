"""``devstack setup [SVC...] [--profile NAME]... [--force]``: run the setup steps alone,
start nothing. Without SVC: those of what ``up`` would start (the active profiles')."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from devstack.cli.options import (
    EXIT_CODES,
    NO_COLOR_HELP,
    add_file_option,
    add_profile_option,
    add_services,
)
from devstack.errors import EXIT_OK

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    setup = sub.add_parser(
        "setup",
        help="run the services' setup steps alone (venvs, pnpm install), start nothing",
        description="Run the setup step of each service `up` would start (or SVC... and "
        "what they depend on) whose inputs changed since its last successful run, in "
        "dependency order; independent ones at once. Exit 1 if one fails.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_services(setup)
    add_file_option(setup)
    add_profile_option(setup)
    setup.add_argument(
        "--force", action="store_true", help="run them even when their inputs are unchanged"
    )
    setup.add_argument("--no-color", action="store_true", help=NO_COLOR_HELP)
    setup.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    import os

    from devstack import graph
    from devstack.config import load_for_command, profiles
    from devstack.paths import StatePaths
    from devstack.runtime.setuponly import run_setup_only
    from devstack.runtime.supervisor import running_supervisor
    from devstack.spec import require_services

    stack = load_for_command(args.file, cached=True)
    named = require_services(stack, args.services)  # worker: its copies (replicas)
    stack = profiles.activate(stack, args.profiles, os.environ)
    if not named and profiles.known(stack):  # what `up` would start, as `check` does
        named = profiles.to_start(stack, [])
    deps = {n: list(s.depends_on) for n, s in stack.services.items()}
    chosen = graph.closure(deps, named) if named else set(stack.services)
    order = [n for n in graph.start_order(deps) if n in chosen]
    if not any(stack.services[n].setup for n in order):
        where = stack.file or stack.root
        print(f"devstack: no setup step to run ({where} declares none for these services)")
        return EXIT_OK
    color = False if args.no_color else None
    code = run_setup_only(stack, order, force=args.force, color=color)
    if code == EXIT_OK and running_supervisor(StatePaths.of_stack(stack)) is not None:
        # The running processes were started before this setup: they do not see it yet.
        names = " ".join(n for n in order if stack.services[n].setup)
        print(f"devstack: the stack is running; to use this: devstack restart {names}")
    return code
