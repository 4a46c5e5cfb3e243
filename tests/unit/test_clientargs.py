"""The hand parser of the client commands and `up`: whatever it takes, it takes exactly
as argparse (built from the same table) would; everything else is left to argparse."""

from __future__ import annotations

import contextlib
import io
import itertools
import random

import pytest

from devstack.cli import CLIENT_COMMANDS, build_parser, cmd_up
from devstack.clientargs import COMMAND_ARGS, parse

# Words a client command line is made of: options, values, names, and what only
# argparse handles (help, abbreviations, attached values, --, negative numbers).
WORDS = [
    "api",
    "web",
    "-f",
    "--file",
    "stack.toml",
    "--file=x.toml",
    "--json",
    "--json=1",
    "--with-dependents",
    "--follow",
    "-n",
    "--lines",
    "3",
    "-1",
    "x",
    "--lines=2",
    "--since",
    "5m",
    "--timestamps",
    "--no-color",
    "--no-setup",
    "-d",
    "--detach",
    "--watch",
    "--no-watch",
    "-h",
    "--help",
    "--js",
    "-fstack.toml",
    "--",
    "-",
    "",
]


def argparse_result(argv: list[str]) -> dict[str, object] | None:
    """argparse's namespace for ``argv`` (without func), or None when it exits."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            ns = build_parser(only=argv[0]).parse_args(argv)
    except SystemExit:
        return None
    return {k: v for k, v in vars(ns).items() if k != "func"}


def test_the_table_and_the_commands_agree() -> None:
    assert set(COMMAND_ARGS) == {*CLIENT_COMMANDS, "up"}


@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_what_parse_takes_argparse_takes_the_same_way(command: str) -> None:
    rng = random.Random(command)  # a fixed sample of each command's lines
    lines = [[command]] + [[command, w] for w in WORDS]
    lines += [[command, *pair] for pair in itertools.product(WORDS, repeat=2)]
    lines += [[command, *rng.choices(WORDS, k=rng.randint(3, 6))] for _ in range(1500)]
    taken = 0
    for argv in lines:
        fast = parse(argv)
        if fast is None:
            continue
        taken += 1
        assert vars(fast) == argparse_result(argv), argv
    assert taken > 10  # the sample did exercise the fast path


@pytest.mark.parametrize(
    "argv",
    [
        ["ps"],
        ["ps", "--json"],
        ["ps", "-f", "stack.toml", "--json"],
        ["ps", "--file=stack.toml"],
        ["logs", "-n", "3"],
        ["logs", "api", "web", "-f", "--since", "5m", "--timestamps", "--no-color"],
        ["logs", "--file", "stack.toml", "--lines=0"],
        ["restart"],
        ["restart", "api", "--with-dependents"],
        ["stop", "api"],
        ["start", "-f", "stack.toml", "api", "web"],
        ["down"],
        ["up"],
        ["up", "api", "web", "--no-color"],
        ["up", "-d", "-f", "stack.toml", "--no-setup"],
    ],
)
def test_the_usual_lines_skip_argparse(argv: list[str]) -> None:
    fast = parse(argv)
    assert fast is not None
    assert vars(fast) == argparse_result(argv)


def test_up_runs_the_same_command_either_way() -> None:
    assert build_parser(only="up").parse_args(["up"]).func is cmd_up


@pytest.mark.parametrize(
    "argv",
    [
        ["ps", "--help"],
        ["ps", "-h"],
        ["ps", "--js"],  # argparse's abbreviation
        ["ps", "extra"],
        ["stop"],  # SVC required: argparse's error, exit 2
        ["stop", "a", "-f", "stack.toml", "b"],  # argparse refuses a split SVC list
        ["logs", "-n", "x"],
        ["logs", "-n", "-1"],  # a negative number: argparse's rule, then -n's own check
        ["logs", "-n"],
        ["logs", "--", "api"],
        ["up", "--watch"],  # a mutually exclusive pair: argparse's alone
        ["up", "--no-watch", "api"],
        ["config"],
        [],
    ],
)
def test_the_rest_goes_to_argparse(argv: list[str]) -> None:
    assert parse(argv) is None
