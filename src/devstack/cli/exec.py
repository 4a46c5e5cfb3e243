"""``devstack exec SVC -- CMD``: a one-off command as the service would run it.

The command gets the service's cwd and environment (env files, the ``env`` table with
its ``${...}`` resolved, ``PORT``, its virtualenv's bin first on ``PATH``), then
devstack *becomes* it (``execve``): the terminal, Ctrl-C and the exit status are the
command's own, with no devstack process in between. No supervisor is needed, and a
running one is neither asked nor disturbed.

A service with ``replicas``: ``exec worker`` runs as its first copy (``worker.1``:
its port, ``${replica}`` 1), ``exec worker.2`` as that copy; a copy ``devstack scale``
added past stack.toml's count is found in the running stack's state file.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option
from devstack.errors import UsageError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.spec import ServiceSpec, StackSpec

# What a shell answers for a command it cannot find, or cannot run.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


def add_parser(sub: Subparsers) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "exec",
        help="run a one-off command in a service's cwd, environment and venv",
        description="Run CMD in SVC's working directory with its environment (env files, "
        "env, PORT) and its virtualenv first on PATH, e.g. `devstack exec backend -- flask "
        "db upgrade`. The terminal, Ctrl-C and the exit status are the command's. "
        "No running stack is needed. A service with replicas: its first copy "
        "(`exec worker.2` for another).",
        usage="devstack exec [-h] [-f FILE] SVC -- CMD [ARG...]",
    )
    parser.add_argument(
        "service", metavar="SVC", help="the service whose cwd, environment and venv to use"
    )
    add_file_option(parser)
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, metavar="CMD", help="the command and its arguments"
    )
    parser.set_defaults(func=cmd_exec)


def command_of(args: argparse.Namespace) -> list[str]:
    """The command after ``--``; a usage error when there is none."""
    argv = list(args.command)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if argv and argv[0].startswith("-"):  # `exec SVC -f FILE -- CMD`
        raise UsageError(
            f"{argv[0]} after the service name: options of devstack exec go before it",
            hint=f"devstack exec {argv[0]} ... {args.service} -- COMMAND [ARG...]",
        )
    if not argv:
        raise UsageError(
            f"no command given to run in {args.service}",
            hint=f"devstack exec {args.service} -- COMMAND [ARG...]",
        )
    return argv


def exec_env(spec: ServiceSpec) -> dict[str, str]:
    """The environment ``up`` gives the service, without the spawn's tracking token
    (a supervisor would take a process carrying it for one of the service's own)."""
    env = dict(spec.env)
    env["DEVSTACK_SERVICE"] = spec.name
    return env


def resolve(program: str, env: dict[str, str]) -> str | None:
    """``program`` as the shell would find it: on the env's PATH, or a path (from cwd)."""
    import shutil

    if os.sep in program:
        return program if os.path.exists(program) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


def cmd_exec(args: argparse.Namespace) -> int:
    from devstack.config import load_for_command
    from devstack.project.venv import with_found_venv
    from devstack.spec import require_services

    stack = _scaled(load_for_command(args.file, cached=True), args.service)
    name = require_services(stack, [args.service])[0]  # a service with replicas: copy 1
    argv = command_of(args)
    spec = with_found_venv(stack.services[name])  # a venv made since the config was read
    env = exec_env(spec)
    os.chdir(spec.cwd)
    program = resolve(argv[0], env)
    if program is None:
        print(
            f"devstack exec: {argv[0]}: command not found "
            f"(looked in {spec.name}'s PATH: {_shown_path(env)})",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    sys.stdout.flush()
    sys.stderr.flush()
    # Python ignores SIGPIPE and SIGXFSZ for itself; an exec'd program would inherit that.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(program, argv, env)
    except OSError as exc:  # found but not runnable: a directory, no x bit, bad interpreter
        print(f"devstack exec: {argv[0]}: {exc.strerror}", file=sys.stderr)
        return EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_NOT_EXECUTABLE


def _scaled(stack: StackSpec, name: str) -> StackSpec:
    """``stack`` with the copies a running stack has when ``name`` is a copy past
    stack.toml's count that ``devstack scale`` added (its state file records it)."""
    group, _, number = name.rpartition(".")
    if name in stack.services or not number.isdigit() or f"{group}.1" not in stack.services:
        return stack
    from devstack.config import load_stack
    from devstack.paths import StatePaths
    from devstack.procs.statefile import recorded_services

    running = recorded_services(StatePaths.of_stack(stack).state_file)
    if name not in running:
        return stack
    copies = [n.rpartition(".")[2] for n in running if n.rpartition(".")[0] == group]
    count = max(int(n) for n in copies if n.isdigit())
    return load_stack(stack.layers or None, stack.root, replicas={group: count})


def _shown_path(env: dict[str, str], limit: int = 4) -> str:
    dirs = [d for d in env.get("PATH", "").split(os.pathsep) if d]
    shown = ", ".join(dirs[:limit])
    return shown + (f" and {len(dirs) - limit} more" if len(dirs) > limit else "") or "(empty)"
