"""The program's entry point: what has to happen before the CLI is even imported.

`devstack up` looks its stack up in the config cache here, or else forks its
config-validating child (earlyvalidate), before argparse and the CLI load: the
child's path to a validated stack.toml is the critical path of a first `up`, and
those imports are of no use to it. Everything else goes straight to
``devstack.cli.main``.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        if sys.argv[1:2] == ["up"]:
            _start_up(sys.argv[2:])
        from devstack.cli import main as cli_main
    except KeyboardInterrupt:  # Ctrl-C this early: the same exit as later, no traceback
        from devstack.errors import EXIT_INTERRUPTED

        return EXIT_INTERRUPTED
    return cli_main()


def _start_up(args: list[str]) -> None:
    import gc

    gc.disable()  # startup makes long-lived objects only; run_stack freezes them
    import devstack.speccache  # noqa: F401  (both processes need it: import it once)
    from devstack.earlyvalidate import begin

    begin(args)
