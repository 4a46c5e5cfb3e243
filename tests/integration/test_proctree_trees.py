"""``proctree.trees``: the processes under some pids, read from those trees alone (the
dashboard's `ps` every 2 s), the same as the whole table gives them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import wait_until
from devstack.procs import proctree

# A child and a grandchild, the child started from a thread (its parent is that thread).
TREE = """\
import subprocess, sys, threading, time
def spawn():
    subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                      "time.sleep(60)"])
threading.Thread(target=spawn).start()
time.sleep(60)
"""


def _descendants(table: dict[int, proctree.Row], root: int) -> set[int]:
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += [r.pid for r in table.values() if r.ppid == pid]
    return found


def test_trees_reads_the_same_processes_as_the_whole_table() -> None:
    leader = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    try:
        wait_until(lambda: len(_descendants(proctree.table(), leader.pid)) == 3, timeout=20)
        expected = _descendants(proctree.table(), leader.pid)
        rows = proctree.trees([leader.pid, 999_999_999])  # a pid that is no process
        assert set(rows) == expected
        whole = proctree.table()
        for pid in expected:
            assert rows[pid].ppid == whole[pid].ppid
            assert rows[pid].create_time == whole[pid].create_time
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(10)
