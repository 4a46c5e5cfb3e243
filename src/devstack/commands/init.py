"""``devstack init [--from Procfile] [--force] [-f OUT]``: write a commented stack.toml.

The Procfile is parsed as ``devstack up`` parses it (a bad line is an error with
its line number), ports are numbered from ``.env``'s PORT like honcho does, and
the written file is loaded back with devstack's own loader before this returns:
what ``init`` writes, ``up`` runs. An existing file is never replaced without
``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devstack.errors import EXIT_OK, UsageError
from devstack.stackfile import PROCFILE, STACK_FILE


def cmd_init(args: argparse.Namespace) -> int:
    from devstack.config import load_stack
    from devstack.config.procfile import procfile_env, read_procfile
    from devstack.errors import ConfigError
    from devstack.export.fromprocfile import infer_services, render_toml

    cwd = Path.cwd()
    out = _absolute(args.file or Path(STACK_FILE), cwd)
    if out.is_dir():
        out = out / STACK_FILE
    if out.exists() and not args.force:
        raise UsageError(
            f"{out} already exists; devstack init does not overwrite it",
            hint="use --force to replace it, or -f OTHER.toml to write elsewhere",
        )
    procfile = _absolute(args.source or Path(PROCFILE), cwd)
    if not procfile.is_file():
        raise UsageError(
            f"no Procfile at {procfile}",
            hint="point at one with --from PATH (stack.toml's format: devstack docs stack-toml)",
        )
    entries = read_procfile(procfile)
    _, env_files, base = procfile_env(procfile.parent, os.environ, procfile)
    env_file = os.path.relpath(env_files[0], out.parent) if env_files else None
    services = infer_services(entries, procfile.parent, base)
    rel = os.path.relpath(procfile.parent, out.parent)
    for svc in services:
        if rel != ".":
            svc.cwd = os.path.normpath(os.path.join(rel, svc.cwd or "."))
    shown = os.path.relpath(procfile, out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_toml(services, shown, env_file), encoding="utf-8")
    try:
        load_stack(out, cwd)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        print(f"devstack: wrote {out}, but it does not load as it is: edit it", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    for svc in services:
        bits = [f"port {svc.port} ({svc.port_reason})" if svc.port else "no port"]
        if svc.app:
            bits.append(f"imports {svc.app}")
        if svc.depends_on:
            bits.append("depends on " + ", ".join(svc.depends_on))
        print(f"  {svc.name}: {'; '.join(bits)}")
    print("next: devstack check, then devstack up")
    return EXIT_OK


def _absolute(path: Path, cwd: Path) -> Path:
    return path if path.is_absolute() else cwd / path
