"""The console script (``devstack``) and ``python -m devstack``."""

from __future__ import annotations


def main() -> int:
    try:
        from devstack.cli.main import main as cli_main
    except KeyboardInterrupt:  # Ctrl-C while the CLI still imports: the same exit as later
        from devstack.errors import EXIT_INTERRUPTED

        return EXIT_INTERRUPTED
    return cli_main()
