"""Issue 19, point 6 (Reliability case 43, docs/reliability.md): ``up -d``'s
supervisor.log holds devstack's own lines, not a second copy of every service line
(those are in the rotated ``logs/SERVICE.log``), so it does not grow with a busy stack."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import program, wait_until
from support.stackrun import downed_at_end, run_devstack, write_stack


def test_43_up_d_supervisor_log_does_not_grow_with_service_output(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        f'[services.chatty]\ncmd = "{sys.executable} -u {program("chatty")} {"x" * 100}"\n',
    )
    state = tmp_path / ".devstack"
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        service_log = state / "logs" / "chatty.log"
        wait_until(lambda: "chatty line 000300 " in service_log.read_text(), timeout=30)
        supervisor_log = (state / "supervisor.log").read_text()
    assert "chatty line" not in supervisor_log, supervisor_log[-2000:]
    assert len(supervisor_log) < 4096, len(supervisor_log)  # 300 service lines are ~45 KB
    assert "[start] pid" in supervisor_log  # devstack's own lines stay
    logs = run_devstack(tmp_path, "logs", "chatty", "-n", "5")  # the output is still there
    assert logs.returncode == 0 and "chatty line" in logs.stdout, logs.stdout + logs.stderr
