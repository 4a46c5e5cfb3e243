"""``devstack init [--from FILE] [--force] [-f OUT]``: write a commented stack.toml.

From ``./Procfile``, else ``./package.json`` (its dev script, see
``export/frompackage.py``), else the Python web app found in the directory, else the
parts in its ``frontend/`` + ``backend/`` (and the like) folders (``export/fromlayout.py``);
``--from`` names either file (``*.json`` is read as a package.json). The Procfile is
parsed as ``devstack up`` parses it (a bad line is an error with its line number),
ports are numbered from ``.env``'s PORT like honcho does, and the written file is
loaded back with devstack's own loader before this returns: what ``init`` writes,
``up`` runs. An existing file is never replaced without ``--force``. stack.local.toml
(each developer's own values) goes into the .gitignore beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.errors import EXIT_OK, UsageError
from devstack.stackfile import LOCAL_FILE, PROCFILE, STACK_FILE

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.export.fromprocfile import Inferred

PACKAGE_JSON = "package.json"


def add_parser(sub: Subparsers) -> None:
    init = sub.add_parser(
        "init",
        help="write a commented stack.toml from a Procfile or package.json",
        description="One service per Procfile line (else per part of package.json's dev "
        "script, else the Python web app found here, else the parts in frontend/ + backend/, "
        "web/ + api/, client/ + server/ or apps/*), with the port, probe, import check and "
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


def cmd_init(args: argparse.Namespace) -> int:
    from devstack.config import load_stack
    from devstack.errors import ConfigError
    from devstack.export.fromprocfile import render_toml

    cwd = Path.cwd()
    out = _absolute(args.file or Path(STACK_FILE), cwd)
    if out.is_dir():
        out = out / STACK_FILE
    if out.exists() and not args.force:
        raise UsageError(
            f"{out} already exists; devstack init does not overwrite it",
            hint="use --force to replace it, or -f OTHER.toml to write elsewhere",
        )
    source = _source(args.source, cwd)
    if source.name.endswith(".json") or source.is_dir():
        services, notes, env_file = _from_package(source, out)
        what = "the services its dev script starts"
        if source.is_dir():
            what = "the Python web app found here"
            folders = sorted({svc.cwd for svc in services if svc.cwd})
            if folders:
                what = "the parts found in " + ", ".join(f"{f}/" for f in folders)
        elif not services:
            raise UsageError(
                f"{source} starts no service devstack can read (no dev script, no Python app)",
                hint="write stack.toml by hand (its format: devstack docs stack-toml)",
            )
    else:
        services, env_file = _from_procfile(source, out)
        notes, what = [], "one service per Procfile line"
    rel = os.path.relpath(source if source.is_dir() else source.parent, out.parent)
    for svc in services:
        if rel != ".":
            svc.cwd = os.path.normpath(os.path.join(rel, svc.cwd or "."))
    shown = os.path.relpath(source, out.parent)
    if source.is_dir():
        shown = "this directory" if shown == "." else shown
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_toml(services, shown, env_file, what=what, notes=notes)
    out.write_text(text, encoding="utf-8")
    try:
        load_stack(out, cwd)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        print(f"devstack: wrote {out}, but it does not load as it is: edit it", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    # stack.local.toml is merged only over a stack.toml found without -f.
    if out.name == STACK_FILE and _ignore_local_file(out.parent):
        print(f"added {LOCAL_FILE} to .gitignore (personal values merged over {out.name})")
    for svc in services:
        bits = [f"port {svc.port} ({svc.port_reason})" if svc.port else "no port"]
        if svc.setup:
            bits.append(f"setup: {svc.setup}")
        if svc.app:
            bits.append(f"imports {svc.app}")
        if svc.depends_on:
            bits.append("depends on " + ", ".join(svc.depends_on))
        print(f"  {svc.name}: {'; '.join(bits)}")
    if any(svc.setup for svc in services):
        # check before setup ran would only note what setup installs; setup first.
        print("next: devstack setup, then devstack check, then devstack up")
    else:
        print("next: devstack check, then devstack up")
    return EXIT_OK


def _ignore_local_file(folder: Path) -> bool:
    """``stack.local.toml`` listed in ``folder``'s .gitignore (made if missing): each
    developer's own override never reaches the repository. False when listed already."""
    ignore = folder / ".gitignore"
    try:
        text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        if any(line.strip().lstrip("/") == LOCAL_FILE for line in text.splitlines()):
            return False
        with ignore.open("a", encoding="utf-8") as f:
            f.write(("\n" if text and not text.endswith("\n") else "") + f"/{LOCAL_FILE}\n")
    except (OSError, UnicodeDecodeError):
        return False  # a .gitignore devstack cannot read or write: left as it is
    return True


def _source(given: Path | None, cwd: Path) -> Path:
    """The file to read: ``--from``, else ./Procfile, else ./package.json, else the directory
    (for its Python web app)."""
    if given is not None:
        path = _absolute(given, cwd)
        if not path.is_file():
            raise UsageError(
                f"no such file: {path}",
                hint="--from takes a Procfile or a package.json",
            )
        return path
    from devstack.export.fromlayout import part_folders
    from devstack.export.frompackage import dev_parts, python_entry, read_scripts

    if (cwd / PROCFILE).is_file():
        return cwd / PROCFILE
    package = cwd / PACKAGE_JSON
    # A root package.json without a dev script (a workspace's) says less than the
    # frontend/ and backend/ folders beside it.
    if package.is_file() and (
        dev_parts(read_scripts(package))[0] is not None or not part_folders(cwd)
    ):
        return package
    if python_entry(cwd, {}, set()) is not None or part_folders(cwd):
        return cwd
    raise UsageError(
        f"no Procfile, no package.json, no Python web app and no frontend/ + backend/"
        f" (web/ + api/, client/ + server/, apps/*) in {cwd}",
        hint="point at a file with --from PATH, or write stack.toml by hand"
        " (its format: devstack docs stack-toml)",
    )


def _from_procfile(procfile: Path, out: Path) -> tuple[list[Inferred], str | None]:
    from devstack.config.procfile import procfile_env, read_procfile
    from devstack.export.fromprocfile import infer_services

    entries = read_procfile(procfile)
    dotenv, env_files, base = procfile_env(procfile.parent, os.environ, procfile)
    env_file = os.path.relpath(env_files[0], out.parent) if env_files else None
    return infer_services(entries, procfile.parent, base, dotenv), env_file


def _from_package(source: Path, out: Path) -> tuple[list[Inferred], list[str], str | None]:
    from devstack.export.frompackage import infer_package, python_entry

    root = source if source.is_dir() else source.parent
    if source.is_dir():
        from devstack.export.fromlayout import infer_layout, part_folders

        if part_folders(root):  # frontend/ + backend/..., and an app.py beside them
            services, notes = infer_layout(root)
        else:
            entry = python_entry(root, {}, set())
            services, notes = ([entry] if entry else []), list[str]()
    else:
        services, notes = infer_package(source)
    dotenv = root / ".env"
    env_file = os.path.relpath(dotenv, out.parent) if dotenv.is_file() else None
    return services, notes, env_file


def _absolute(path: Path, cwd: Path) -> Path:
    return path if path.is_absolute() else cwd / path
