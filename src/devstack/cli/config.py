"""``devstack config``: the resolved configuration, as devstack will run it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, add_profile_option

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="print the resolved configuration")
    add_file_option(config)
    add_profile_option(config)
    config.add_argument(
        "--profiles",
        dest="list_profiles",
        action="store_true",
        help="list the profiles the services name, one a line (active ones marked *)",
    )
    config.add_argument(
        "--origins",
        action="store_true",
        help="each value as written, merged over the files, with the file and line it came from",
    )
    config.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    import os

    from devstack.config import dump_resolved, load_for_command, profiles
    from devstack.runtime.watchrules import print_warnings

    stack = profiles.activate(load_for_command(args.file), args.profiles, os.environ)
    if args.list_profiles:
        for name in profiles.known(stack):
            print(f"{name} *" if name in stack.profiles else name)
        return 0
    profiles.to_start(stack, [])  # a dependency the active profiles leave out: say so now
    if args.origins and not stack.from_procfile:
        from devstack.config.layers import read_again
        from devstack.config.problems import dump_origins

        sys.stdout.write(dump_origins(read_again(stack).values(), stack.root))
        return 0
    print_warnings(stack)
    text = dump_resolved(stack)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
