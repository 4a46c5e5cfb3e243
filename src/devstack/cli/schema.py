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
    schema.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from devstack.config import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0
