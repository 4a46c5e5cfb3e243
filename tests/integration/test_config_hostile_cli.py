"""The hostile stack.toml cases of issue 19, point 7, through the real CLI: `devstack
config`, `check` and `up` each exit 2 with one screen naming the file, the key and the
reason, no traceback, and `up` starts nothing (a second, valid service would write a
marker file). The loader's side of each case, and the fuzzer's finds, are in
tests/unit/config/test_config_hostile.py.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from support.stackrun import run_devstack

# A valid service that would leave a mark if anything were started.
MARKER = f'[services.marker]\ncmd = ["{sys.executable}", "-c", "open(\'STARTED\', \'w\')"]\n'
API = '[services.api]\ncmd = "python3 app.py"\n'

CASES = {
    "nested arrays 1000 deep": (
        "x = " + "[" * 1000 + "]" * 1000 + "\n" + API,
        None,
        "arrays or inline tables are nested too deeply to read",
    ),
    "health.log regex nested 1000 deep": (
        API + 'health.log = "' + "(" * 1000 + "a" + ")" * 1000 + '"\n',
        "services.api.health.log",
        "the regular expression is nested or repeated too deeply",
    ),
    "NUL byte in a cmd argument": (
        '[services.api]\ncmd = ["python3", "app.py\\u0000"]\n',
        "services.api.cmd.[1]",
        "holds a NUL byte",
    ),
    "venv ~nosuchuser/x": (
        API + 'venv = "~nosuchuser/x"\n',
        "services.api.venv",
        "cannot expand '~nosuchuser': no such user",
    ),
    "a 5,000-character cwd": (
        API + f'cwd = "{"a" * 5000}"\n',
        "services.api.cwd",
        "not a usable path (File name too long)",
    ),
    "env_file /dev/urandom": (
        API + 'env_file = "/dev/urandom"\n',
        "services.api.env_file",
        "not a regular file (a device)",
    ),
    "env_file a FIFO": (
        API + 'env_file = "env.fifo"\n',
        "services.api.env_file",
        "not a regular file (a FIFO)",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_config_is_exit_2_on_one_screen_for_config_check_and_up(
    tmp_path: Path, name: str
) -> None:
    """Reliability case 44 (docs/reliability.md), through the CLI."""
    toml, key, reason = CASES[name]
    (tmp_path / "stack.toml").write_text(MARKER + toml, encoding="utf-8")
    os.mkfifo(tmp_path / "env.fifo")
    file = str(tmp_path / "stack.toml")
    for command in ("config", "check", "up"):
        done = run_devstack(tmp_path, command, timeout=60)
        shown = f"devstack {command}:\n{done.stdout}{done.stderr}"
        assert done.returncode == 2, shown
        assert "Traceback" not in done.stderr, shown
        lines = done.stderr.splitlines()
        assert lines[0].startswith("error: invalid configuration (1 problem)"), shown
        assert len(lines) <= 4 and max(map(len, lines)) <= 400, shown
        assert lines[1].startswith(f"  {file}"), shown
        assert (key or "") in lines[1] and reason in lines[1], shown
    assert not (tmp_path / "STARTED").exists()
    assert not (tmp_path / ".devstack" / "state.json").exists()


def test_a_check_cmd_path_that_is_no_program_is_a_failed_check_not_a_traceback(
    tmp_path: Path,
) -> None:
    """Found by running `devstack check` on fuzzed stacks that load: `check.cmd =
    ["./nope"]` (a path, so not looked up on PATH) ended in a FileNotFoundError
    traceback out of the check runner's TaskGroup, exit 1."""
    (tmp_path / "stack.toml").write_text(MARKER + API + 'check.cmd = ["./nope --fast"]\n')
    done = run_devstack(tmp_path, "check", "api", timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert "api  fail  cmd         `./nope --fast`: cannot run: No such file or directory" in (
        done.stdout
    )


def test_a_program_path_no_file_can_have_is_a_failed_check_not_a_traceback(
    tmp_path: Path,
) -> None:
    """Found by running `devstack check` on fuzzed stacks that load: a setup step (or a
    cmd) whose program is a 6,000-character path ended in an ENAMETOOLONG traceback."""
    long = "a/" * 3000 + "tool"
    (tmp_path / "stack.toml").write_text(MARKER + API + f'setup = "{long} install"\n')
    done = run_devstack(tmp_path, "check", "api", timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^api\s+fail\s+setup\s+a/a/a/", done.stdout, re.M), done.stdout
