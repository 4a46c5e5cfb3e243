"""``devstack docs [TOPIC] [--path]``: the reference pages that ship inside the package.

An installed devstack has no repository beside it, so error hints name this command,
never a ``docs/...md`` path. The pages are package data (``devstack/docs/``, links to
the repository's docs/ so there is one copy of each).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from devstack.errors import UsageError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from devstack.cli.options import Subparsers

# topic -> (file in devstack/docs/, what it covers); the first is the default.
TOPICS: dict[str, tuple[str, str]] = {
    "stack-toml": ("stack-toml.md", "every key of stack.toml, interpolation, env, checks, verify"),
    "interop": ("interop.md", "Procfiles, init, export compose/systemd/procfile"),
    "protocol": ("protocol.md", "the control socket and ps --json"),
}
DEFAULT_TOPIC = "stack-toml"


def add_parser(sub: Subparsers) -> None:
    listing = "\n".join(f"  {name:<11} {what}" for name, (_, what) in TOPICS.items())
    docs = sub.add_parser(
        "docs",
        help="print a reference page (default: the stack.toml reference)",
        description="Print a reference page that ships with devstack, or its path (--path).",
        epilog=f"topics:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    docs.add_argument(
        "topic", nargs="?", default=DEFAULT_TOPIC, metavar="TOPIC", help="default: stack-toml"
    )
    docs.add_argument("--path", action="store_true", help="print the file's path instead")
    docs.set_defaults(func=cmd_docs)


def page(topic: str) -> Traversable:
    """The packaged page of ``topic``; UsageError naming the topics for another."""
    from importlib.resources import files

    entry = TOPICS.get(topic.removesuffix(".md"))
    if entry is None:
        raise UsageError(
            f"no reference page named {topic!r}",
            hint="topics: " + ", ".join(TOPICS) + " (devstack docs TOPIC)",
        )
    return files("devstack") / "docs" / entry[0]


def cmd_docs(args: argparse.Namespace) -> int:
    found = page(args.topic)
    if args.path:
        sys.stdout.write(f"{found}\n")
        return 0
    sys.stdout.write(found.read_text(encoding="utf-8"))
    return 0
