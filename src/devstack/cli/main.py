"""The parser, built from one module per command, and ``main``: the only place errors
become exit codes.

Each command module has ``add_parser(sub)``, which declares the command's arguments
and sets ``func``, the function that runs it. Command modules import what their
command needs when it runs: the client commands (ps, logs, stop, start, restart,
down) never load asyncio, httpx, pydantic, psutil or watchfiles.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from devstack import __version__
from devstack.cli import (
    attach,
    check,
    config,
    docs,
    down,
    export,
    init,
    logs,
    ps,
    scale,
    schema,
    setup,
    startstop,
    ui,
    up,
    verify,
)
from devstack.cli import exec as exec_
from devstack.cli.options import EXIT_CODES
from devstack.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, DevstackError
from devstack.stackfile import find_stack_file, given_files, included_by

# In the order `devstack --help` lists them; a new command adds its module here.
COMMANDS = [up, setup, check, ps, logs, ui, startstop, down, verify, config, schema, init, export]
COMMANDS += [exec_, docs, scale]
COMMANDS += [attach]

# Client commands that end within moments of their reply (not `logs -f`, not `up`).
_SHORT_LIVED = frozenset({"ps", "restart", "stop", "start", "down", "scale"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devstack",
        description="Run a local development stack: checks first, dependency order, "
        "health, restarts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _short_lived_process() -> None:
    """No garbage collection in a process that ends right after its reply: none while
    it runs, and the one at exit skips what is frozen instead of walking every object
    the imports made."""
    import atexit
    import gc

    gc.disable()
    atexit.register(gc.freeze)  # at exit: what the command made is frozen too


def _note_includer(file: object) -> None:
    """After an error of a command run on a monorepo part's stack.toml alone: the file
    that includes it, where the stack is (its other services, its running supervisor)."""
    given = given_files(file) if isinstance(file, str | os.PathLike | list) else ()
    try:
        used = find_stack_file(given[0] if given else None, os.getcwd())
    except (DevstackError, OSError):
        return
    top = included_by(used)
    if top is not None:
        print(f"  note: {used} is included by {top}: run devstack in {top.parent}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] and sys.argv[1] in _SHORT_LIVED:
        _short_lived_process()  # only as the program: a caller passing argv keeps its gc
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if os.environ.get("DEVSTACK_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG)
    try:
        result: int = args.func(args)
        return result
    except DevstackError as exc:
        print(exc.render(), file=sys.stderr)
        _note_includer(getattr(args, "file", None))
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `devstack logs | head`: the reader went away. No traceback, and stdout points
        # at /dev/null so the flush at exit does not fail on the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
