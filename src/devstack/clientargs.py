"""The arguments of the client commands and of `up`: one table for argparse and for a
hand parser.

argparse's import and its parser build (gettext looks for a translation of every
message it formats) take ~7 ms of a ~45 ms `devstack ps`, and ~8 ms of `up`'s way to
its first spawn. ``parse`` reads the command lines these commands are given in
practice from ``COMMAND_ARGS``; anything
it does not take exactly as argparse would (--help, an abbreviated or unknown option,
a bad value, a missing SVC, ``--``) returns None, and argparse, built from the same
table by ``add_arguments``, parses it instead: its help, its errors, its exit code 2.
"""

from __future__ import annotations

from types import SimpleNamespace  # loaded already: re (the console script's) imports types

from devstack.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (client start time)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence


class Option(Record):
    """An option: a flag (store_true) when ``convert`` is None, else one value."""

    __slots__ = ("convert", "dest", "flags", "help", "metavar")

    def __init__(
        self,
        flags: tuple[str, ...],
        dest: str,
        help: str,
        convert: Callable[[str], object] | None = None,
        metavar: str | None = None,
    ) -> None:
        self.flags = flags
        self.dest = dest
        self.help = help
        self.convert = convert
        self.metavar = metavar


class ClientArgs(Record):
    """A command's arguments: SVC... (``nargs`` "*" or "+", None: none) and options;
    ``others`` are the values of what only argparse reads (``parse`` leaves any such
    line to it), as its parser sets them when they are not given."""

    __slots__ = ("nargs", "options", "others", "services_help")

    def __init__(
        self,
        options: tuple[Option, ...],
        nargs: str | None = None,
        services_help: str = "",
        others: dict[str, object] | None = None,
    ) -> None:
        self.options = options
        self.nargs = nargs
        self.services_help = services_help
        self.others = others or {}


FILE = Option(
    ("-f", "--file"),
    "file",
    "stack.toml (or Procfile) to use; default: ./stack.toml, then ./Procfile",
    str,
)
_SERVICES = "services (default: all)"

COMMAND_ARGS: dict[str, ClientArgs] = {
    # --watch and --no-watch, a mutually exclusive pair, are added by the CLI itself.
    "up": ClientArgs(
        (
            FILE,
            Option(("--no-color",), "no_color", "no colours (also: NO_COLOR=1)"),
            Option(
                ("-d", "--detach"),
                "detach",
                "run in the background (output in .devstack/supervisor.log); return once "
                "every service is healthy/running or has failed",
            ),
            Option(
                ("--no-setup",),
                "no_setup",
                "skip the services' setup steps (devstack setup runs them alone)",
            ),
        ),
        "*",
        "services to start (default: all)",
        others={"watch": None},
    ),
    "ps": ClientArgs((FILE, Option(("--json",), "json", "stable JSON (devstack docs protocol)"))),
    "logs": ClientArgs(
        (
            Option(("--file",), "file", "stack.toml (or Procfile) to use", str),
            Option(("-f", "--follow"), "follow", "keep printing new lines"),
            Option(("-n", "--lines"), "lines", "last N lines", int, "N"),
            Option(("--since",), "since", 'e.g. "5m", "30s"', str, "DURATION"),
            Option(("--timestamps",), "timestamps", "prefix each line with its time"),
            Option(("--no-color",), "no_color", "no colours (also: NO_COLOR=1)"),
        ),
        "*",
        _SERVICES,
    ),
    "restart": ClientArgs(
        (
            FILE,
            Option(("--with-dependents",), "with_dependents", "also restart what depends on them"),
        ),
        "*",
        _SERVICES,
    ),
    "stop": ClientArgs((FILE,), "+"),
    "start": ClientArgs((FILE,), "+"),
    "down": ClientArgs((FILE,)),
}


def add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    if option.convert is None:
        parser.add_argument(*option.flags, dest=option.dest, action="store_true", help=option.help)
    else:
        parser.add_argument(
            *option.flags,
            dest=option.dest,
            type=option.convert,
            default=None,
            metavar=option.metavar,
            help=option.help,
        )


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Declare ``command``'s arguments on its argparse subparser."""
    spec = COMMAND_ARGS[command]
    if spec.nargs is not None:
        parser.add_argument(
            "services", nargs=spec.nargs, metavar="SVC", help=spec.services_help or None
        )
    for option in spec.options:
        add_option(parser, option)


def parse(argv: Sequence[str]) -> SimpleNamespace | None:
    """``argv`` (command first) as argparse would parse it, or None: let argparse do it."""
    spec = COMMAND_ARGS.get(argv[0]) if argv else None
    if spec is None:
        return None
    by_flag = {flag: option for option in spec.options for flag in option.flags}
    values: dict[str, object] = {o.dest: False if o.convert is None else None for o in spec.options}
    services: list[str] = []
    run_ended = False  # argparse takes SVC... as one run: `stop a -f x b` is an error there
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-") or word == "-":
            if run_ended:
                return None
            services.append(word)
            continue
        run_ended = bool(services)
        name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        option = by_flag.get(name)
        if option is None:  # -h, --help, --jso (argparse's abbreviations), -fFILE, --
            return None
        if option.convert is None:
            if equals:
                return None
            values[option.dest] = True
            continue
        if not equals:
            given = next(words, None)
            if given is None or given.startswith("-"):  # argparse's rules for "-1" and "-"
                return None
            value = given
        try:
            values[option.dest] = option.convert(value)
        except ValueError:
            return None
    if (spec.nargs is None and services) or (spec.nargs == "+" and not services):
        return None
    if spec.nargs is not None:
        values["services"] = services
    return SimpleNamespace(command=argv[0], **values, **spec.others)
