"""state.json and reaping what a crashed supervisor left behind (reliability
cases 7, 8 of docs/reliability.md)."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import is_alive, python_cmd, wait_until
from devstack.procs.process import ProcessRecord
from devstack.procs.statefile import StackStillRunning, StateFile, reap_stale
from support.minisup import MiniSupervisor


def record(pid: int, create_time: float, token: str = "f" * 32) -> ProcessRecord:
    return ProcessRecord(pid=pid, pgid=pid, sid=pid, create_time=create_time, token=token)


def test_state_file_is_private_and_complete(tmp_path: Path) -> None:
    path = tmp_path / ".devstack" / "state.json"
    state = StateFile(path, stack_id="abc")
    rec = record(123, 1.5)
    state.record("backend", rec)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    me = psutil.Process()
    assert data["supervisor"] == {"pid": me.pid, "create_time": me.create_time()}
    assert data["stack_id"] == "abc"
    assert ProcessRecord.from_json(data["services"]["backend"]) == rec
    state.record("frontend", record(124, 2.5))
    state.forget("backend")
    assert set(json.loads(path.read_text())["services"]) == {"frontend"}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left
    state.clear()
    assert not path.exists()


def test_no_state_file_means_nothing_to_reap(tmp_path: Path) -> None:
    assert reap_stale(tmp_path / "state.json") == []


def test_unreadable_state_file_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert reap_stale(path) == []
    assert not path.exists()


def test_reused_pid_is_not_signalled(tmp_path: Path) -> None:
    """Reliability case 8: the record names a live unrelated process with another create time."""
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        path = tmp_path / "state.json"
        real = psutil.Process(bystander.pid).create_time()
        path.write_text(
            json.dumps(
                {
                    "supervisor": {"pid": 999_999_999, "create_time": 1.0},
                    "stack_id": "forged-stack-id",
                    "services": {"backend": record(bystander.pid, real - 1000.0).to_json()},
                }
            )
        )
        lines = reap_stale(path)
        assert is_alive(bystander.pid)
        assert len(lines) == 1
        assert f"record was stale: pid {bystander.pid} is now another program" in lines[0]
        assert "not signalled" in lines[0]
        assert not path.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_live_supervisor_is_not_reaped(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        path = tmp_path / "state.json"
        created = psutil.Process(other.pid).create_time()
        path.write_text(
            json.dumps({"supervisor": {"pid": other.pid, "create_time": created}, "services": {}})
        )
        with pytest.raises(StackStillRunning, match="still running"):
            reap_stale(path)
        assert path.exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("mode", ["fork", "setsid"])
def test_next_up_reaps_what_a_killed_supervisor_left(tmp_path: Path, mode: str) -> None:
    """Reliability case 7: guardian disabled, supervisor SIGKILLed: reap_stale kills the
    survivors."""
    path = tmp_path / ".devstack" / "state.json"
    leaders: list[int] = []
    grandchildren: list[int] = []
    try:
        with MiniSupervisor(
            ["--services", 3, "--no-guardian", "--state", path],
            python_cmd("sleeper", "--grandchild", mode),
        ) as sup:
            for event in sup.events():
                if "lines" in event:
                    leaders.append(event["pid"])
                    grandchildren += [
                        int(t.split()[1]) for t in event["lines"] if "grandchild" in t
                    ]
                if event.get("ready"):
                    break
            sup.proc.send_signal(signal.SIGKILL)
            sup.proc.wait(timeout=10)
        if sys.platform == "linux":
            # pdeathsig takes the leaders; grandchildren have no such signal.
            wait_until(lambda: not any(is_alive(pid) for pid in leaders), timeout=5)
        assert all(is_alive(pid) for pid in grandchildren)
        lines = reap_stale(path)
        assert not any(is_alive(pid) for pid in leaders + grandchildren)
        text = "\n".join(lines)
        for pid in grandchildren:
            assert f"pid {pid} " in text
        assert "reaped" in text
        assert not path.exists()
    finally:
        for pid in leaders + grandchildren:
            if is_alive(pid):
                psutil.Process(pid).kill()
