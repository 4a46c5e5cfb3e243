"""``devstack verify``: bring the stack up (or use the running one), run ``[[smoke]]``, report.

A stack verify starts itself (as ``up -d`` does) is stopped again at the end unless
``--keep``; a stack that was already running is left running. Exit 0 when every
step passed, 1 when one failed or the stack could not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from devstack.cli.options import EXIT_CODES, add_file_option, add_profile_option
from devstack.errors import EXIT_FAILED, EXIT_OK, DevstackError

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.paths import StatePaths
    from devstack.smoke.result import StepResult
    from devstack.spec import StackSpec

SETTLE_TIMEOUT = 600.0  # as long as up -d waits


def add_parser(sub: Subparsers) -> None:
    verify = sub.add_parser(
        "verify",
        help="start the stack (or use the running one), run the [[smoke]] checks",
        description="Start the stack in the background if none runs (stopped again at the end "
        "unless --keep), wait until every service has an outcome, send each [[smoke]] request, "
        "print a pass/fail table with the cause of each failure. Exit 1 if a step failed.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_file_option(verify)
    add_profile_option(verify)
    verify.add_argument("--keep", action="store_true", help="leave a stack verify started running")
    verify.add_argument("--json", action="store_true", help="print the results as JSON")
    verify.add_argument(
        "--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML to FILE"
    )
    verify.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    import os

    from devstack.cli.detach import connect_running
    from devstack.config import load_for_command, profiles
    from devstack.paths import StatePaths

    # A config error ends here: exit 2, nothing started.
    stack = profiles.activate(load_for_command(args.file, cached=True), args.profiles, os.environ)
    profiles.to_start(stack, [])
    assert stack.file is not None
    root = stack.root
    paths = StatePaths.of_stack(stack)
    running = connect_running(paths)
    started = running is None
    if running is not None:
        running.close()
    # --json keeps stdout for the JSON; progress goes to stderr then.
    progress = sys.stderr if args.json else sys.stdout
    error: str | None = None
    results: list[StepResult] = []
    outcome: list[dict[str, object]] = []  # ps rows once settled, should the supervisor end
    try:
        error = _start(stack, progress, outcome) if started else _settle(paths)
        if error is None:
            verb = "started" if started else "using"
            print(f"devstack: {verb} the stack in {root}", file=progress)
            from devstack.smoke.run import StackView, run_checks

            results = run_checks(stack, StackView(paths, outcome))
        # The results, then what becomes of the stack (`stack in ... is down`).
        code = _report(args, results, error, stack.file, started)
    finally:
        if started and not args.keep:
            _down(args, progress)
    return code


def _start(stack: StackSpec, progress: TextIO, outcome: list[dict[str, object]]) -> str | None:
    """Start the stack detached; None once every service has an outcome (``outcome``
    gets their ps rows), else why it could not be started."""
    from devstack.cli.detach import detach

    assert stack.file is not None
    from devstack.config.profiles import enabled

    root, names = stack.root, enabled(stack)

    captured = io.StringIO()
    since = time.time()
    try:
        with contextlib.redirect_stdout(captured):
            detach(
                stack.file,
                root,
                [],
                timeout=SETTLE_TIMEOUT,
                outcome=outcome,
                profiles=stack.profiles,
                layers=stack.layers,
            )
    except DevstackError as exc:
        return captured.getvalue() + exc.render()
    if not outcome:  # it ended first (nothing left running): its log files tell the rest
        from devstack.paths import StatePaths
        from devstack.smoke.run import StackView, rows_from_logs

        outcome.extend(rows_from_logs(StackView(StatePaths.of_stack(stack)), names, since))
    if not outcome:
        return "devstack: the stack could not be started\n" + captured.getvalue().rstrip()
    progress.write(captured.getvalue())
    _reap_when_it_ends(stack)
    return None


def _reap_when_it_ends(stack: StackSpec) -> None:
    """The supervisor is this process's child here (unlike after up -d): reap it when it
    exits, or ``down`` would wait on its zombie as if it were still alive."""
    from devstack.paths import StatePaths, recorded_pid

    pid = recorded_pid(StatePaths.of_stack(stack).pid_file)
    if pid is not None:
        threading.Thread(target=_reap, args=(pid,), daemon=True).start()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _settle(paths: StatePaths) -> str | None:
    """Wait until every service of the running stack has an outcome (as up -d does)."""
    from devstack.cli.detach import is_settled
    from devstack.control.client import ps_rows

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not is_settled(rows := ps_rows(paths)):
        if rows is None:
            return f"the stack in {paths.root} stopped while verify waited for it"
        if time.monotonic() > deadline:
            return f"the running stack did not settle within {SETTLE_TIMEOUT:g}s (see devstack ps)"
        time.sleep(0.05)
    return None


def _down(args: argparse.Namespace, progress: TextIO) -> None:
    from devstack.cli.down import cmd_down
    from devstack.errors import NoStackRunning

    with contextlib.redirect_stdout(progress), contextlib.suppress(NoStackRunning):
        cmd_down(args)  # NoStackRunning: it had already ended


def _report(
    args: argparse.Namespace,
    results: list[StepResult],
    error: str | None,
    file: Path,
    started: bool,
) -> int:
    from devstack.smoke import report

    if args.junit is not None:
        args.junit.write_text(report.junit(results, error))
    ok = error is None and all(r.ok for r in results)
    if args.json:
        payload = report.to_json(
            results, stack=str(file), started=started, kept=started and args.keep, error=error
        )
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        if error is not None:
            print(error)
        if results:
            sys.stdout.write(report.table(results))
    return EXIT_OK if ok else EXIT_FAILED
