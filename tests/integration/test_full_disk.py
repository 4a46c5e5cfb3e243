"""A full disk under the state folder (a real 2 MiB tmpfs): Reliability case 42
(docs/reliability.md) and Reliability case 43 (docs/reliability.md), issue 19 points 5-6.

The log file of a service is paused, not lost for good: the terminal and ``ps`` say so,
writing resumes once there is space, and no record is ever spliced onto a cut line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from conftest import program, wait_until
from devstack.logs.files import parse_file_line
from devstack.logs.printer import Printer
from devstack.procs.process import ProcessRecord
from devstack.procs.statefile import StateFile
from support.stackrun import RunningStack, devstack_env, run_devstack, write_stack
from support.tmpfs import fill, small_tmpfs

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr|event) *\| ")


def assert_no_splice(text: str) -> None:
    """Every line is one record: at most one timestamp-and-stream prefix, at its start."""
    for line in text.splitlines():
        stamps = _STAMP.findall(line)
        assert len(stamps) <= 1, f"spliced line: {line!r}"
        if stamps:
            assert _STAMP.match(line), f"record after a cut line: {line!r}"


def record(pid: int) -> ProcessRecord:
    return ProcessRecord(pid=pid, pgid=pid, sid=pid, create_time=1.5, token="f" * 32)


def numbers(text: str) -> list[int]:
    found = []
    for raw in text.splitlines():
        line = parse_file_line("chatty", raw)
        if line is not None and (m := re.match(r"chatty line (\d+) ", line.text)):
            found.append(int(m.group(1)))
    return found


def test_42_a_full_disk_pauses_the_log_file_says_so_and_writing_resumes_unspliced(
    tmp_path: Path,
) -> None:
    write_stack(
        tmp_path,
        f'[services.chatty]\ncmd = "{sys.executable} -u {program("chatty")} {"x" * 60}"\n',
    )
    with small_tmpfs(tmp_path / "state") as state:
        env = devstack_env(DEVSTACK_STATE_DIR=str(state))
        log = state / "logs" / "chatty.log"
        with RunningStack(tmp_path, env=env) as up:
            up.wait_for(r"chatty\s+\| chatty line 000010")
            filler = fill(state)
            up.wait_for(
                r"chatty\s+\* \[log file\] disabled: .*chatty\.log: No space left on device"
            )
            ps = run_devstack(tmp_path, "ps", env={"DEVSTACK_STATE_DIR": str(state)})
            assert ps.returncode == 0, ps.stdout + ps.stderr
            assert re.search(
                r"^chatty: log file disabled since \S+: No space left on device \(\d+ lines? "
                r"not written\)$",
                ps.stdout,
                re.M,
            ), ps.stdout
            rows = run_devstack(tmp_path, "ps", "--json", env={"DEVSTACK_STATE_DIR": str(state)})
            row = json.loads(rows.stdout)["services"][0]
            assert row["log_file"].startswith("disabled since"), row
            before = numbers(log.read_text(errors="replace"))
            filler.unlink()  # space comes back
            up.wait_for(r"chatty\s+\* \[log file\] written again; \d+ lines? not written while")
            wait_until(lambda: numbers(log.read_text(errors="replace"))[-1] > max(before) + 50)
            out = up.output()
        text = log.read_text(errors="replace")
    assert out.count("[log file] disabled") == 1, out  # once, not per chunk
    assert "log file of chatty" not in out, out  # no second, raw logging line
    assert out.count("[log file] written again") == 1, out
    assert "Traceback" not in out, out
    assert_no_splice(text)
    after = numbers(text.split("[log file] written again", 1)[1])
    assert after and after == sorted(after) and after[0] > max(before), (before[-3:], after[:3])
    assert after == list(range(after[0], after[0] + len(after)))  # none lost once resumed


def test_43_state_json_on_a_full_disk_keeps_the_last_good_state_and_says_so_once(
    tmp_path: Path,
) -> None:
    told: list[tuple[str, str]] = []
    with small_tmpfs(tmp_path / "state") as state:
        path = state / "state.json"
        states = StateFile(path, "abc", lambda text, level: told.append((text, level)))
        states.record("api", record(101))
        good = path.read_text()
        filler = fill(state)
        for pid in (102, 103, 104):  # three changes while full: no raise, one notice
            states.record(f"svc{pid}", record(pid))
        assert path.read_text() == good
        assert json.loads(good)["services"].keys() == {"api"}
        assert told == [
            (
                f"{path} not updated: No space left on device; it keeps the last state "
                "written (tried again on each change)",
                "warn",
            )
        ]
        assert sorted(p.name for p in state.iterdir()) == ["filler", "state.json"]  # no temp
        filler.unlink()
        states.record("web", record(105))
        assert json.loads(path.read_text())["services"].keys() == {
            "api",
            "svc102",
            "svc103",
            "svc104",
            "web",
        }
        assert told[1:] == [(f"{path} written again", "info")]


def test_43_supervisor_log_on_a_full_disk_resumes_unspliced(tmp_path: Path) -> None:
    """`up -d`'s output file filling up does not end devstack's output for good."""
    with small_tmpfs(tmp_path / "state") as state:
        fd = os.open(state / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            printer = Printer(["api"], out=fd, color=False)
            printer.message("before the disk filled")
            wait_until(lambda: (state / "supervisor.log").stat().st_size > 0)
            filler = fill(state)
            printer.message("lost " + "y" * 9000)  # more than a page: cut on a full disk
            wait_until(lambda: printer.error is not None)
            filler.unlink()
            printer.message("after space came back")
            printer.close()
        finally:
            os.close(fd)
        text = (state / "supervisor.log").read_text()
    assert not printer.broken
    lines = text.splitlines()
    assert lines[0].endswith("before the disk filled"), lines
    assert lines[-1].endswith("after space came back"), lines  # a line of its own
    assert all(line.endswith(("filled", "back")) or "lost" in line for line in lines), lines
