"""What several commands share: the ``--file`` option, SVC..., the exit-code epilog,
and the state folder of the stack a command names."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from devstack.paths import StatePaths
from devstack.stackfile import find_stack_file

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_CODES = """exit codes:
  0    ok
  1    a check, a smoke check or a service failed
  2    bad usage or configuration (nothing was started)
  3    no stack is running (client commands)
  130  interrupted (Ctrl-C); 143 after SIGTERM, 129 after SIGHUP
  141  the reader of the output went away (devstack logs | head)
"""
FILE_HELP = (
    "stack.toml (or Procfile) to use; repeat to merge files in order, later wins "
    "(default: ./stack.toml with ./stack.local.toml over it, then ./Procfile)"
)
NO_COLOR_HELP = "no colours (also: NO_COLOR=1)"
ALL_SERVICES = "services (default: all)"


def add_file_option(
    parser: argparse.ArgumentParser,
    flags: tuple[str, ...] = ("-f", "--file"),
    help: str = FILE_HELP,
) -> None:
    """``-f/--file FILE``, repeatable (``--file`` alone where ``-f`` means something else):
    ``args.file`` is the list given, or None."""
    parser.add_argument(
        *flags, dest="file", action="append", default=None, metavar="FILE", help=help
    )


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    """``--profile NAME`` (repeatable); none given: ``DEVSTACK_PROFILES``."""
    parser.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        metavar="NAME",
        help="also enable the services of this profile (repeatable; "
        "default: DEVSTACK_PROFILES=a,b)",
    )


def add_services(
    parser: argparse.ArgumentParser, nargs: str = "*", help: str | None = ALL_SERVICES
) -> None:
    parser.add_argument("services", nargs=nargs, metavar="SVC", help=help)


def state_of(args: argparse.Namespace) -> StatePaths:
    """The state folder of the stack that ``--file`` (the first given; else ./stack.toml)
    defines: the first file's, whatever the files merged over it."""
    return StatePaths.of_file(find_stack_file(args.file[0] if args.file else None, os.getcwd()))
