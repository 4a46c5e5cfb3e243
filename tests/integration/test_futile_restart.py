"""The real `devstack up` on a command that cannot run: failed after the second identical
immediate failure, with the cause (Reliability case 13 (docs/reliability.md)), while a
service that crashes after running a while keeps being restarted with backoff."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from support.stackrun import RunningStack, events, write_stack


def test_a_command_the_shell_cannot_find_is_failed_after_two_attempts(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        [services.web]
        cmd = "nosuchcmd --x"
        shell = true
        # As if the command vanished between the check and the start.
        check.executable = false
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"web\s+\* \[failed\]", timeout=30)
        assert stack.wait(timeout=30) == 1  # a service failed: exit 1 (docs: exit codes)
    out = stack.output()
    assert len(re.findall(r"^web\s+\* \[start\] pid", out, re.M)) == 2, out
    assert re.search(
        r"\[failed\] exit 127 twice within 1s: (/bin/)?sh: 1: nosuchcmd: not found: restarting"
        r" cannot help; fix the command",
        out,
    ), out
    assert "restart 2 of" not in out


def test_a_crash_after_running_a_while_is_still_restarted(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        [services.flaky]
        cmd = "echo 'FATAL: lost the connection'; sleep 1.5; exit 3"
        shell = true
        backoff = "100ms"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"(?s)(flaky\s+\* \[restart in.*){2}", timeout=30)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    assert "flaky" not in events(out, "failed"), out
    assert "restart 2 of 5" in out
