"""The command line: argparse, ``cmd_<name>(args) -> int``; the only place errors become exit codes.

Imports here stay light: each command imports what it needs when it runs, so the
client commands never pay for asyncio, pydantic or httpx; nor for argparse or
pathlib: their usual command lines are read by devstack.clientargs.
"""

from __future__ import annotations

import json
import os
import sys

from devstack import __version__
from devstack.clientargs import FILE, add_arguments, add_option
from devstack.clientargs import parse as parse_client
from devstack.errors import EXIT_INTERRUPTED, DevstackError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (client start time)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from types import SimpleNamespace

    from devstack.earlyvalidate import EarlyValidator
    from devstack.spec import StackSpec

EXIT_CODES = """exit codes:
  0    ok
  1    a check, a smoke check or a service failed
  2    bad usage or configuration (nothing was started)
  3    no stack is running (client commands)
  130  interrupted (Ctrl-C); 143 after SIGTERM, 129 after SIGHUP
"""


def _add_file_option(parser: argparse.ArgumentParser) -> None:
    add_option(parser, FILE)  # a str: the client commands never import pathlib


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's subparser (argparse setup is not free)."""
    import argparse

    from devstack.argparser import Parser

    parser = Parser(
        prog="devstack",
        description="Run a local development stack: checks first, dependency order, "
        "health, restarts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(sub)
    return parser


if TYPE_CHECKING:
    from devstack.argparser import Parser

    Subparsers = argparse._SubParsersAction[Parser]


def _add_up(sub: Subparsers) -> None:
    import argparse

    up = sub.add_parser(
        "up",
        help="start the stack in the foreground and stream its logs",
        description="Start the services (or SVC... and what they depend on) in dependency order, "
        "gate each on its dependencies' health, restart crashes with backoff, stream logs. "
        "Ctrl-C stops everything gracefully; a second Ctrl-C kills at once.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(up, "up")
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


def _add_config(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="print the resolved configuration")
    _add_file_option(config)
    config.set_defaults(func=cmd_config)


def _add_check(sub: Subparsers) -> None:
    check = sub.add_parser(
        "check",
        help="run every preflight check, start nothing",
        description="Check each service (or SVC...): executable, app import, port, env wiring, "
        "check.cmd. One line per check; exit 1 if any failed.",
    )
    check.add_argument("services", nargs="*", metavar="SVC", help="services to check")
    _add_file_option(check)
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.set_defaults(func=cmd_check)


def _add_verify(sub: Subparsers) -> None:
    import argparse
    from pathlib import Path

    verify = sub.add_parser(
        "verify",
        help="start the stack (or use the running one), run the [[smoke]] checks",
        description="Start the stack in the background if none runs (stopped again at the end "
        "unless --keep), wait until every service has an outcome, send each [[smoke]] request, "
        "print a pass/fail table with the cause of each failure. Exit 1 if a step failed.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file_option(verify)
    verify.add_argument("--keep", action="store_true", help="leave a stack verify started running")
    verify.add_argument("--json", action="store_true", help="print the results as JSON")
    verify.add_argument(
        "--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML to FILE"
    )
    verify.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from devstack.commands.verify import cmd_verify as verify

    return verify(args)


def _add_schema(sub: Subparsers) -> None:
    schema = sub.add_parser("schema", help="print the JSON Schema of stack.toml (for editors)")
    schema.set_defaults(func=cmd_schema)


def _add_init(sub: Subparsers) -> None:
    from pathlib import Path

    init = sub.add_parser(
        "init",
        help="write a commented stack.toml from a Procfile or package.json",
        description="One service per Procfile line (else per part of package.json's dev "
        "script, else the Python web app found here), with the port, probe, import check and "
        "dependencies its command reveals. Never overwrites without --force.",
    )
    init.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="FILE",
        help="the Procfile or package.json to read (default: ./Procfile, then ./package.json)",
    )
    init.add_argument(
        "-f",
        "--file",
        type=Path,
        default=None,
        metavar="OUT",
        help="where to write (default: ./stack.toml)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=cmd_init)


def _add_export(sub: Subparsers) -> None:
    export = sub.add_parser(
        "export",
        help="write the stack as compose.yaml, systemd units or a Procfile",
        description="compose: compose.yaml (fill in the image placeholders); systemd: one unit "
        "per service and a target; procfile: a Procfile, with what it cannot express on stderr.",
    )
    export.add_argument("format", choices=["compose", "systemd", "procfile"])
    _add_file_option(export)
    export.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PATH",
        help="file (systemd: directory) to write; default beside stack.toml; - for stdout",
    )
    export.add_argument(
        "--force", action="store_true", help="replace a file not written by devstack export"
    )
    export.set_defaults(func=cmd_export)


def _load(
    args: argparse.Namespace,
    *,
    cached: bool = False,
    early: EarlyValidator | None = None,
) -> StackSpec:
    """The resolved stack; with ``cached``, from .devstack/ when nothing it came from changed.

    With ``early`` (the child forked at the start of `up`), a miss is validated there
    while this process imports the supervisor; a bad config is reported from here.
    """
    from pathlib import Path

    from devstack.paths import StatePaths
    from devstack.stackfile import find_stack_file, is_procfile

    file = find_stack_file(args.file, Path.cwd())
    cache = StatePaths.of_file(file).spec_cache
    use_cache = cached and not is_procfile(file)
    if use_cache:
        from devstack import speccache
        from devstack.earlyvalidate import take_cached

        # Read by the entry point already when `up` runs as the program.
        hit = take_cached(file) or speccache.load(cache, file, os.environ)
        if hit is None and early is not None and early.validate(file, cache, _import_supervisor):
            hit = speccache.load(cache, file, os.environ)
        if hit is not None:
            return hit
    if early is not None:
        early.discard()  # a Procfile, or the child failed: it has nothing left to do
    return _validate(file, cache if use_cache else None)


def _validate(file: Path, cache: Path | None) -> StackSpec:
    """stack.toml through the config models; kept in ``cache`` when given."""
    if cache is not None:
        from devstack.earlyvalidate import keep_validated

        return keep_validated(file, cache)
    from pathlib import Path

    from devstack.config import load_stack

    return load_stack(file, Path.cwd())


def _import_supervisor() -> None:
    """What `up` imports after the config (asyncio, psutil, the supervisor, the checks)."""
    import devstack.checks.runner
    import devstack.control.server
    import devstack.supervisor  # noqa: F401


def cmd_up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devstack.commands.detach import connect_running, detach, up_into_running
    from devstack.earlyvalidate import EarlyValidator
    from devstack.paths import StateLayout
    from devstack.stackfile import find_stack_file

    early = EarlyValidator.take()  # forked by the entry point when run as the program
    file = find_stack_file(args.file, Path.cwd())
    root = file.parent
    running = connect_running(StateLayout.of_file(str(file)))
    if early is not None and (running is not None or args.detach):
        early.discard()
        early = None
    if running is not None:  # never a second supervisor in one directory
        return up_into_running(running, root, list(args.services))
    # The child validates a config cache miss while this process imports the
    # supervisor (they overlap on two cores); nothing else runs until it is reaped.
    try:
        stack = _load(args, cached=True, early=early)
    finally:
        if early is not None:
            early.discard()  # a cache hit, or an error: the child is not needed
    from devstack.spec import require_services

    require_services(stack, args.services)
    if args.detach:
        assert stack.file is not None
        return detach(
            stack.file, stack.root, list(args.services), no_setup=args.no_setup, watch=args.watch
        )
    from devstack.supervisor import run_stack

    color = False if args.no_color else None
    if stack.from_procfile:
        print(
            "devstack: running the Procfile (PORT numbered as honcho does); health probes and "
            "dependencies need a stack.toml (devstack init writes one)",
            file=sys.stderr,
        )
    _print_watch_warnings(stack)
    return run_stack(stack, args.services, color=color, setup=not args.no_setup, watch=args.watch)


def _print_watch_warnings(stack: StackSpec) -> None:
    from devstack.watchrules import print_warnings

    print_warnings(stack)


def _add_setup(sub: Subparsers) -> None:
    import argparse

    setup = sub.add_parser(
        "setup",
        help="run the services' setup steps alone (venvs, pnpm install), start nothing",
        description="Run the setup step of each service (or SVC... and what they depend on) "
        "whose inputs changed since its last successful run, in dependency order; "
        "independent ones at once. Exit 1 if one fails.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    setup.add_argument("services", nargs="*", metavar="SVC", help="services (default: all)")
    _add_file_option(setup)
    setup.add_argument(
        "--force", action="store_true", help="run them even when their inputs are unchanged"
    )
    setup.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR=1)")
    setup.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    from devstack.commands.setup import cmd_setup as run

    return run(args, _load(args, cached=True))


def cmd_config(args: argparse.Namespace) -> int:
    from devstack.config import dump_resolved

    stack = _load(args)
    _print_watch_warnings(stack)
    text = dump_resolved(stack)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from devstack.commands.check import cmd_check as run_checks

    return run_checks(args)


def _client_parser(sub: Subparsers, name: str, help: str, description: str | None = None) -> None:
    """A client command's subparser: its arguments from the table the hand parser reads."""
    parser = sub.add_parser(name, help=help, description=description)
    add_arguments(parser, name)
    parser.set_defaults(func=CLIENT_COMMANDS[name])


def _add_ps(sub: Subparsers) -> None:
    _client_parser(sub, "ps", help="state, pid, health, CPU and memory of each service")


def _add_logs(sub: Subparsers) -> None:
    _client_parser(
        sub,
        "logs",
        help="logs of the running stack, or of the log files when none runs",
        description="Merged in time order. -f follows (the stack file is --file here).",
    )


def _add_restart(sub: Subparsers) -> None:
    _client_parser(
        sub,
        "restart",
        help="checks, stop, start and wait healthy; a failed check keeps the old one",
    )


def _add_stop(sub: Subparsers) -> None:
    _client_parser(sub, "stop", help="stop services of the running stack")


def _add_start(sub: Subparsers) -> None:
    _client_parser(sub, "start", help="start stopped services (after their dependencies)")


def _add_down(sub: Subparsers) -> None:
    _client_parser(sub, "down", help="stop the running stack; Ctrl-C kills at once")


def cmd_ps(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_ps(args)


def cmd_logs(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_logs(args)


def cmd_restart(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_restart(args)


def cmd_stop(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_stop(args)


def cmd_start(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_start(args)


def cmd_down(args: argparse.Namespace) -> int:
    from devstack.commands import control

    return control.cmd_down(args)


# The client commands (clientargs.COMMAND_ARGS has their arguments, and up's).
CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ps": cmd_ps,
    "logs": cmd_logs,
    "restart": cmd_restart,
    "stop": cmd_stop,
    "start": cmd_start,
    "down": cmd_down,
}


def cmd_init(args: argparse.Namespace) -> int:
    from devstack.commands.init import cmd_init as run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from devstack.commands.export import cmd_export as run

    return run(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from devstack.config import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0


def _add_exec(sub: Subparsers) -> None:
    from devstack.commands.exec import add_parser

    add_parser(sub).set_defaults(func=cmd_exec)


def cmd_exec(args: argparse.Namespace) -> int:
    from devstack.commands.exec import cmd_exec as run

    return run(args, _load(args, cached=True))


def _add_docs(sub: Subparsers) -> None:
    from devstack.commands.docs import add_parser

    add_parser(sub)


# Every command: its name and the function that adds its subparser. A new command
# adds one entry here; its work lives in devstack.commands.<name>.
COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "up": _add_up,
    "setup": _add_setup,
    "check": _add_check,
    "ps": _add_ps,
    "logs": _add_logs,
    "restart": _add_restart,
    "stop": _add_stop,
    "start": _add_start,
    "down": _add_down,
    "verify": _add_verify,
    "config": _add_config,
    "schema": _add_schema,
    "init": _add_init,
    "export": _add_export,
    "exec": _add_exec,
    "docs": _add_docs,
}


# Client commands that end within moments of their reply (not `logs -f`, not `up`).
_SHORT_LIVED = frozenset({"ps", "restart", "stop", "start", "down"})


def _short_lived_process() -> None:
    """No garbage collection in a process that lives ~50 ms: none while it runs, and
    the one at exit skips what is frozen, instead of walking every object the imports
    made (~10 ms of a ~50 ms `devstack ps`)."""
    import atexit
    import gc

    gc.disable()
    atexit.register(gc.freeze)  # at exit: what the command made is frozen too


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] and sys.argv[1] in _SHORT_LIVED:
        _short_lived_process()  # only as the program: a caller passing argv keeps its gc
    argv = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | SimpleNamespace
    fast = parse_client(argv)  # a client command line, without building argparse's parser
    if fast is not None:
        fast.func = cmd_up if fast.command == "up" else CLIENT_COMMANDS[fast.command]
        args = fast
    else:
        parser = build_parser(only=argv[0] if argv and argv[0] in COMMANDS else None)
        args = parser.parse_args(argv)
    if os.environ.get("DEVSTACK_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG)
    try:
        result: int = args.func(args)
        return result
    except DevstackError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
