"""``devstack down``: stop the running stack and wait until its supervisor has exited."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of
from devstack.errors import EXIT_INTERRUPTED, NoStackRunning

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.paths import StatePaths


def add_parser(sub: Subparsers) -> None:
    down = sub.add_parser("down", help="stop the running stack; Ctrl-C kills at once")
    add_file_option(down)
    down.set_defaults(func=cmd_down)


def cmd_down(args: argparse.Namespace) -> int:
    return down(state_of(args))


def down(paths: StatePaths) -> int:
    """Stop the stack of ``paths`` (NoStackRunning when none runs); Ctrl-C kills at once."""
    from devstack.control.client import ControlClient
    from devstack.paths import recorded_pid

    pid = recorded_pid(paths.pid_file)
    client = ControlClient.connect(paths, timeout=None)
    try:
        try:
            client.send("down", {"force": False})
            client.receive()  # None: the supervisor closed as it ended, which is fine
        except KeyboardInterrupt:
            # Ctrl-C during down: kill at once (a second connection, force).
            print("devstack: killing every process now", file=sys.stderr)
            try:
                with ControlClient.connect(paths, timeout=None) as forced:
                    forced.send("down", {"force": True})
                    forced.receive()
            except NoStackRunning:
                pass
            _wait_gone(pid)
            return EXIT_INTERRUPTED
    finally:
        client.close()
    _wait_gone(pid)
    print(f"stack in {paths.root} is down")
    return 0


def _wait_gone(pid: int | None, timeout: float = 10.0) -> None:
    """After ``down``: until the supervisor process itself has exited (bounded)."""
    from devstack.control.client import is_pid_alive

    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while is_pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
