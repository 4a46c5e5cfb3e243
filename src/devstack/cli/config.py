"""``devstack config``: the resolved configuration, as devstack will run it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="print the resolved configuration")
    add_file_option(config)
    config.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from devstack.config import dump_resolved, load_for_command
    from devstack.runtime.watchrules import print_warnings

    stack = load_for_command(args.file)
    print_warnings(stack)
    text = dump_resolved(stack)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
