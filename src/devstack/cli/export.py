"""``devstack export compose|systemd|procfile|kubernetes``: write the stack for another runner.

Output goes beside stack.toml unless ``-o`` says otherwise (``-o -``: stdout, for
compose and procfile; systemd and kubernetes write a directory). A file that
exists and was not written by a devstack export is never replaced without
``--force`` (a hand-written Procfile is precious). What the compose export could
not rewrite is listed on stderr, by service.

``--check [FORMAT]`` (compose by default) writes nothing: it lists what would not
survive the move (``export.handover``) and exits 1 when anything would break, 0
otherwise (2: bad usage or config, as every command).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, add_profile_option
from devstack.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.export.source import ExportSource

MARK = "Written by `devstack export"
DEFAULT_OUT = {
    "compose": "compose.yaml",
    "systemd": "systemd",
    "procfile": "Procfile",
    "kubernetes": "kubernetes",
}


def add_parser(sub: Subparsers) -> None:
    export = sub.add_parser(
        "export",
        help="write the stack as compose.yaml, systemd units, a Procfile or Kubernetes manifests",
        description="compose: compose.yaml and a Dockerfile.NAME per Python/Node service "
        "(official images for well-known servers; loopback URLs to a service rewritten to its "
        "compose name, what cannot be on stderr); systemd: one unit "
        "per service and a target; procfile: a Procfile, with what it cannot express on stderr; "
        "kubernetes: a directory of manifests and a kustomization.yaml (`kubectl apply -k DIR`). "
        "--check writes nothing and lists what would not survive the move: exit 1 if anything "
        "would break, 0 if not, 2 on bad usage or config.",
    )
    export.add_argument(
        "format",
        nargs="?",
        choices=["compose", "systemd", "procfile", "kubernetes"],
        help="the target",
    )
    export.add_argument(
        "--check",
        action="store_true",
        help="write nothing: list what would not survive the move (default target: compose); "
        "exit 1 if anything would break",
    )
    export.add_argument("--json", action="store_true", help="with --check: print JSON")
    add_file_option(export)
    add_profile_option(export)
    export.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PATH",
        help="file (systemd, kubernetes: directory) to write; default beside stack.toml; "
        "- for stdout",
    )
    export.add_argument(
        "--force", action="store_true", help="replace a file not written by devstack export"
    )
    export.add_argument(
        "--system",
        action="store_true",
        help="systemd: system units (/etc/systemd/system, User=) instead of user units "
        "(systemctl --user, ~/.config/systemd/user, no sudo)",
    )
    export.add_argument(
        "--run-as",
        default=None,
        metavar="NAME",
        help="systemd --system: the user the services run as (default: you; "
        "under sudo, the user who ran sudo)",
    )
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    import dataclasses

    from devstack.config import profiles
    from devstack.export.source import load_source

    if args.json and not args.check:
        raise UsageError("--json goes with --check", hint="devstack export --check --json")
    if args.format is None and not args.check:
        raise UsageError(
            "export needs a format: compose, systemd, procfile or kubernetes",
            hint="devstack export compose (or --check to see what would not survive the move)",
        )
    source = load_source(args.file)
    assert source.stack.file is not None
    # compose writes every service with its profiles; systemd's target and a Procfile
    # get what the active profiles enable (the rest: systemd units started by name).
    stack = profiles.activate(source.stack, args.profiles, os.environ)
    profiles.to_start(stack, [])
    source = dataclasses.replace(source, stack=stack)
    if args.check:
        return _check(source, args.format or "compose", source.stack.root, args.json)
    target: str = args.output or str(source.stack.root / DEFAULT_OUT[args.format])
    out = None if target == "-" else Path(target).absolute()
    if args.format == "systemd":
        if out is None:
            raise UsageError("systemd units are files: give -o a directory")
        return _systemd(source, out, args.force, _system_user(args))
    if args.system or args.run_as is not None:
        raise UsageError(f"--system and --run-as are for systemd, not {args.format}")
    if args.format == "kubernetes":
        if out is None:
            raise UsageError("Kubernetes manifests are files: give -o a directory")
        return _kubernetes(source, out, args.force)
    if args.format == "compose":
        return _compose(source, out, args.force)
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


def _compose(source: ExportSource, out: Path | None, force: bool) -> int:
    """compose.yaml, and the Dockerfiles it builds from beside it; what the move
    changes or cannot express on stderr."""
    from devstack.export.compose import export_compose

    if out is not None and not force:
        _check_compose_precedence(out)
    done = export_compose(source, out.parent if out else Path.cwd())
    _print_wiring(source)
    if done.notes:
        print("devstack: the compose export changes or cannot express:", file=sys.stderr)
        for line in done.notes:
            print(f"  - {line}", file=sys.stderr)
    if out is None:
        sys.stdout.write(done.text)
        if done.files:
            print(
                f"devstack: not written (the output is stdout): {', '.join(done.files)}; "
                "export with -o FILE to get them",
                file=sys.stderr,
            )
        return EXIT_OK
    for name in done.files:
        _check_writable(out.parent / name, force)
    _write(out, done.text, force)
    print(f"wrote {out}")
    for name, text in done.files.items():
        _write(out.parent / name, text, force)
        print(f"wrote {out.parent / name}")
    return EXIT_OK


def _check(source: ExportSource, target: str, out_dir: Path, as_json: bool) -> int:
    import json

    from devstack.export.handover import check_handover, render, title

    findings = check_handover(source, target, out_dir)
    breaks = any(f.breaks for f in findings)
    if as_json:
        payload = {
            "target": target,
            "ok": not breaks,
            "findings": [f.to_json() for f in findings],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(render(findings, title(findings, target)))
    return EXIT_FAILED if breaks else EXIT_OK


def _print_wiring(source: ExportSource, kubernetes: bool = False) -> None:
    """What the compose (Kubernetes) export could not rewrite, on stderr, one screen
    by service."""
    from devstack.export.compose import compose_target
    from devstack.export.handover import render
    from devstack.export.kubernetes import kube_target
    from devstack.export.wiring import wire

    target = kube_target(source) if kubernetes else compose_target(source)
    findings = wire(source, target).findings
    if findings:
        title = f"devstack: to change by hand for {target.name} (not rewritten):"
        sys.stderr.write(render(findings, title))


def _systemd(source: ExportSource, out: Path, force: bool, system_user: str | None) -> int:
    from devstack.export.systemd import install_steps, notes, to_systemd, unit_prefix

    units = to_systemd(source, system_user)
    out.mkdir(parents=True, exist_ok=True)
    for name in units:
        _check_writable(out / name, force)
    for name, text in units.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    steps = install_steps(unit_prefix(source.stack.name), str(out), system_user is not None)
    kind = f"system units, run as {system_user}" if system_user else "user units"
    print(f"devstack: install ({kind}): {steps[0]}", file=sys.stderr)
    for line in steps[1:]:
        print(f"  {line}", file=sys.stderr)
    left = notes(source, system_user)
    if left:
        print("devstack: the units leave to you:", file=sys.stderr)
        for line in left:
            print(f"  - {line}", file=sys.stderr)
    if system_user is None and os.geteuid() == 0:
        print(
            "  (you are root: these are root's user units; for a server's services, "
            "--system --run-as NAME)",
            file=sys.stderr,
        )
    return EXIT_OK


def _kubernetes(source: ExportSource, out: Path, force: bool) -> int:
    from devstack.export.kubernetes import to_kubernetes

    export = to_kubernetes(source, out)
    _print_wiring(source, kubernetes=True)
    for name in export.files:
        _check_writable(out / name, force)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in export.files.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    lost = {name: notes for name, notes in export.notes.items() if notes}
    if lost:
        print(
            "devstack: not carried over to Kubernetes as written (comments in the files):",
            file=sys.stderr,
        )
        for name, notes in lost.items():
            for note in notes:
                print(f"  - {name}: {note}", file=sys.stderr)
    # The secrets' paths are relative to the directory, as in kustomization.yaml.
    print(f"then, in {out}:")
    for line in export.builds:
        print(f"  {line}")
    print("  make the images reachable by the cluster (push them, or kind load docker-image)")
    if export.placeholders:
        print(f"  build the images marked PLACEHOLDER ({', '.join(export.placeholders)})")
    for line in export.secrets:
        print(f"  {line}")
    print("  kubectl apply -k .")
    return EXIT_OK


def _system_user(args: argparse.Namespace) -> str | None:
    """The ``User=`` of system units (None: user units). Never root unless named."""
    if not args.system:
        if args.run_as is not None:
            raise UsageError(
                "--run-as is for system units: user units run as the user who starts them",
                hint="add --system, or leave --run-as out",
            )
        return None
    if args.run_as is not None:
        return str(args.run_as)
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() != 0:
        return me
    by_sudo = os.environ.get("SUDO_USER", "")
    if by_sudo and by_sudo != "root":
        return by_sudo
    raise UsageError(
        "system units would run as root: you are root and did not name a user",
        hint="--run-as NAME (the account the services run as; --run-as root if you mean it)",
    )


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
