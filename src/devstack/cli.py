"""The command line: argparse, ``cmd_<name>(args) -> int``; the only place errors become exit codes.

Imports here stay light: each command imports what it needs when it runs, so the
client commands never pay for asyncio, pydantic or httpx.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from devstack import __version__
from devstack.errors import EXIT_INTERRUPTED, DevstackError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (client start time)
if TYPE_CHECKING:
    from pathlib import Path

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
    parser.add_argument(
        "-f",
        "--file",
        default=None,  # a str: the client commands never import pathlib
        help="stack.toml (or Procfile) to use; default: ./stack.toml, then ./Procfile",
    )


def _columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (bz2, lzma: ~8 ms)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """argparse makes a help formatter for every add_argument, and the formatter imports
    shutil only to learn the terminal width: pass the width (same rule) instead.
    Subparsers are made with this class too (add_subparsers' default parser_class)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's subparser (argparse setup is not free)."""
    parser = _Parser(
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
    Subparsers = argparse._SubParsersAction[_Parser]
else:
    Subparsers = argparse._SubParsersAction


def _add_up(sub: Subparsers) -> None:
    up = sub.add_parser(
        "up",
        help="start the stack in the foreground and stream its logs",
        description="Start the services (or SVC... and what they depend on) in dependency order, "
        "gate each on its dependencies' health, restart crashes with backoff, stream logs. "
        "Ctrl-C stops everything gracefully; a second Ctrl-C kills at once.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("services", nargs="*", metavar="SVC", help="services to start (default: all)")
    _add_file_option(up)
    up.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR=1)")
    up.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background (output in .devstack/supervisor.log); return once every "
        "service is healthy/running or has failed",
    )
    up.add_argument(
        "--no-setup",
        action="store_true",
        help="skip the services' setup steps (devstack setup runs them alone)",
    )
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
    from pathlib import Path

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
        help="write a commented stack.toml from a Procfile",
        description="One service per Procfile line, with the port, probe, import check and "
        "dependencies its command reveals. Never overwrites without --force.",
    )
    init.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="PROCFILE",
        help="the Procfile to read (default: ./Procfile)",
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
    meanwhile: Callable[[], None] | None = None,
    early: EarlyValidator | None = None,
) -> StackSpec:
    """The resolved stack; with ``cached``, from .devstack/ when nothing it came from changed.

    With ``early`` (the child forked at the start of `up`), a miss is validated there
    while this process runs ``meanwhile``; a bad config is reported from here.
    """
    from pathlib import Path

    from devstack.stackfile import find_stack_file, is_procfile

    file = find_stack_file(args.file, Path.cwd())
    cache = file.parent / ".devstack" / "spec-cache.json"
    use_cache = cached and not is_procfile(file)
    if use_cache:
        from devstack import speccache

        hit = speccache.load(cache, file, os.environ)
        if (
            hit is None
            and early is not None
            and meanwhile is not None
            and early.validate(file, cache, meanwhile)
        ):
            hit = speccache.load(cache, file, os.environ)
        if hit is not None:
            return hit
    if meanwhile is not None and early is not None:
        early.discard()  # a Procfile: nothing for the child to do
    return _validate(file, cache if use_cache else None)


def _validate(file: Path, cache: Path | None) -> StackSpec:
    """stack.toml through the config models; kept in ``cache`` when given."""
    if cache is not None:
        from devstack.earlyvalidate import keep_validated

        return keep_validated(file, cache)  # type: ignore[return-value]
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
    from devstack.stackfile import find_stack_file

    early = EarlyValidator.take()  # forked by the entry point when run as the program
    root = find_stack_file(args.file, Path.cwd()).parent
    running = connect_running(root)
    if early is not None and (running is not None or args.detach):
        early.discard()
        early = None
    if running is not None:  # never a second supervisor in one directory
        return up_into_running(running, root, list(args.services))
    # The child validates a config cache miss while this process imports the
    # supervisor (they overlap on two cores); nothing else runs until it is reaped.
    try:
        stack = _load(args, cached=True, meanwhile=_import_supervisor, early=early)
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


def _add_ps(sub: Subparsers) -> None:
    ps = sub.add_parser("ps", help="state, pid, health, CPU and memory of each service")
    _add_file_option(ps)
    ps.add_argument("--json", action="store_true", help="stable JSON (docs/protocol.md)")
    ps.set_defaults(func=cmd_ps)


def _add_logs(sub: Subparsers) -> None:
    logs = sub.add_parser(
        "logs",
        help="logs of the running stack, or of the log files when none runs",
        description="Merged in time order. -f follows (the stack file is --file here).",
    )
    logs.add_argument("services", nargs="*", metavar="SVC", help="services (default: all)")
    logs.add_argument("--file", default=None, help="stack.toml (or Procfile) to use")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=None, metavar="N", help="last N lines")
    logs.add_argument("--since", default=None, metavar="DURATION", help='e.g. "5m", "30s"')
    logs.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
    logs.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR=1)")
    logs.set_defaults(func=cmd_logs)


def _add_restart(sub: Subparsers) -> None:
    restart = sub.add_parser(
        "restart", help="checks, stop, start and wait healthy; a failed check keeps the old one"
    )
    restart.add_argument("services", nargs="*", metavar="SVC", help="services (default: all)")
    _add_file_option(restart)
    restart.add_argument(
        "--with-dependents", action="store_true", help="also restart what depends on them"
    )
    restart.set_defaults(func=cmd_restart)


def _add_stop(sub: Subparsers) -> None:
    parser = sub.add_parser("stop", help="stop services of the running stack")
    parser.add_argument("services", nargs="+", metavar="SVC")
    _add_file_option(parser)
    parser.set_defaults(func=cmd_stop)


def _add_start(sub: Subparsers) -> None:
    parser = sub.add_parser("start", help="start stopped services (after their dependencies)")
    parser.add_argument("services", nargs="+", metavar="SVC")
    _add_file_option(parser)
    parser.set_defaults(func=cmd_start)


def _add_down(sub: Subparsers) -> None:
    down = sub.add_parser("down", help="stop the running stack; Ctrl-C kills at once")
    _add_file_option(down)
    down.set_defaults(func=cmd_down)


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
