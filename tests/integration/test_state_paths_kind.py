"""Issue 19, point 7: a path of the state folder of the wrong kind (``.devstack/logs``
a regular file, ``state.json`` a directory) is one clear error and exit 2, for ``up``
and ``up -d``, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import program
from support.stackrun import downed_at_end, run_devstack, write_stack


@pytest.mark.parametrize("detach", [False, True], ids=["up", "up-d"])
@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("logs", lambda p: p.write_text("not a folder\n"), "is not a directory"),
        ("state.json", lambda p: p.mkdir(), "is a directory"),
        ("devstack.sock", lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["logs-is-a-file", "state-json-is-a-folder", "socket-is-a-folder"],
)
def test_a_state_path_of_the_wrong_kind_is_one_clear_error_and_exit_2(
    tmp_path: Path, detach: bool, name: str, make: object, kind: str
) -> None:
    write_stack(
        tmp_path,
        f'[services.api]\ncmd = "{sys.executable} {program("sleeper")}"\n',
    )
    state = tmp_path / ".devstack"
    state.mkdir(mode=0o700)
    assert callable(make)
    make(state / name)
    with downed_at_end(tmp_path):
        done = run_devstack(tmp_path, "up", *(["-d"] if detach else []), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"{state / name} {kind}; devstack keeps " in done.stderr, done.stderr
    assert f"remove it (rm -r {state / name})" in done.stderr, done.stderr
    assert not (state / "supervisor.pid").exists()  # nothing was started
