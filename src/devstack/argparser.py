"""devstack's argparse parser class: help laid out at the terminal's width, without shutil.

Imported only when argparse parses the command line: the client commands' usual
lines are read by devstack.clientargs and never load argparse.
"""

from __future__ import annotations

import argparse
import os
import sys


def columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (bz2, lzma: ~8 ms)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Parser(argparse.ArgumentParser):
    """argparse makes a help formatter for every add_argument, and the formatter imports
    shutil only to learn the terminal width: pass the width (same rule) instead.
    Subparsers are made with this class too (add_subparsers' default parser_class)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=columns() - 2)  # type: ignore[call-arg]
