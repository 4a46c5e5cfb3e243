"""``devstack export compose|systemd|procfile``: write the stack for another runner.

Output goes beside stack.toml unless ``-o`` says otherwise (``-o -``: stdout, for
compose and procfile). A file that exists and was not written by a devstack export
is never replaced without ``--force`` (a hand-written Procfile is precious).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, add_profile_option
from devstack.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.export.source import ExportSource

MARK = "Written by `devstack export"
DEFAULT_OUT = {"compose": "compose.yaml", "systemd": "systemd", "procfile": "Procfile"}


def add_parser(sub: Subparsers) -> None:
    export = sub.add_parser(
        "export",
        help="write the stack as compose.yaml, systemd units or a Procfile",
        description="compose: compose.yaml (fill in the image placeholders); systemd: one unit "
        "per service and a target; procfile: a Procfile, with what it cannot express on stderr.",
    )
    export.add_argument("format", choices=["compose", "systemd", "procfile"])
    add_file_option(export)
    add_profile_option(export)
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


def cmd_export(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from devstack.config import profiles
    from devstack.export.source import load_source

    source = load_source(args.file)
    assert source.stack.file is not None
    # compose writes every service with its profiles; systemd's target and a Procfile
    # get what the active profiles enable (the rest: systemd units started by name).
    stack = profiles.activate(source.stack, args.profiles, os.environ)
    profiles.to_start(stack, [])
    source = dataclasses.replace(source, stack=stack)
    target: str = args.output or str(source.stack.root / DEFAULT_OUT[args.format])
    out = None if target == "-" else Path(target).absolute()
    if args.format == "systemd":
        if out is None:
            raise UsageError("systemd units are files: give -o a directory")
        return _systemd(source, out, args.force)
    if args.format == "compose":
        from devstack.export.compose import to_compose

        if out is not None and not args.force:
            _check_compose_precedence(out)
        text = to_compose(source, out.parent if out else Path.cwd())
        warnings: list[str] = []
    else:
        from devstack.export.toprocfile import to_procfile

        text, warnings = to_procfile(source)
    if warnings:
        print("devstack: a Procfile cannot express (left out):", file=sys.stderr)
        for line in warnings:
            print(f"  - {line}", file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    _write(out, text, args.force)
    print(f"wrote {out}")
    return EXIT_OK


def _systemd(source: ExportSource, out: Path, force: bool) -> int:
    from devstack.export.systemd import to_systemd, unit_prefix

    units = to_systemd(source)
    out.mkdir(parents=True, exist_ok=True)
    for name in units:
        _check_writable(out / name, force)
    for name, text in units.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    target = f"{unit_prefix(source.stack.name)}.target"
    print(
        f"install: sudo cp {out}/* /etc/systemd/system/ && sudo systemctl daemon-reload"
        f" && sudo systemctl start {target}"
    )
    return EXIT_OK


def _write(path: Path, text: str, force: bool) -> None:
    _check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _check_compose_precedence(out: Path) -> None:
    """Refuse to write a compose file under one of compose's default names beside
    another: `docker compose up` would then run whichever comes first in its order,
    the project's own file or the export, without a word about the other."""
    from devstack.export.compose import DEFAULT_FILES

    if out.name not in DEFAULT_FILES:
        return
    for name in DEFAULT_FILES:
        other = out.with_name(name)
        if name == out.name or not other.exists():
            continue
        ours_first = DEFAULT_FILES.index(out.name) < DEFAULT_FILES.index(name)
        raise UsageError(
            f"{other} exists: with {out.name} beside it, `docker compose` would run "
            + (f"{out.name} instead of it" if ours_first else f"it and ignore {out.name}")
            + f" (compose reads the first of {', '.join(DEFAULT_FILES)})",
            hint="write elsewhere with -o (e.g. -o devstack.compose.yaml, then "
            "`docker compose -f devstack.compose.yaml up`), or --force",
        )


def _check_writable(path: Path, force: bool) -> None:
    if force or not path.exists():
        return
    try:
        ours = MARK in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        ours = False
    if not ours:
        raise UsageError(
            f"{path} exists and was not written by devstack export",
            hint="use --force to replace it, or -o to write elsewhere",
        )
