"""``devstack schema``: the JSON Schema of stack.toml, for editors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers


def add_parser(sub: Subparsers) -> None:
    schema = sub.add_parser("schema", help="print the JSON Schema of stack.toml (for editors)")
    schema.add_argument(
        "--override",
        action="store_true",
        help="the schema of an override file (stack.local.toml, a later -f): it holds only "
        "what it changes, so no key is required",
    )
    schema.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from devstack.config import json_schema

    sys.stdout.write(json.dumps(json_schema(override=args.override), indent=2) + "\n")
    return 0
