"""Reliability case 37 (docs/reliability.md): the log file rotates at its size limit while
`devstack logs -f` follows.

The follower gets every line once; the files on disk hold the newest lines once
each, in at most the current file plus 3 backups."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

from support.stackrun import RunningStack, devstack_env, write_stack

N = 20_000


def test_rotation_while_following_loses_and_repeats_nothing(tmp_path: Path) -> None:
    # The service waits for the follower (a file appears) before printing.
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        f"for i in range(1, {N + 1}):\n"
        "    sys.stdout.write(f'L{i:06d} ' + 'x' * 40 + '\\n')\n"
        "    if i % 500 == 0: sys.stdout.flush(); time.sleep(0.01)\n"
        "sys.stdout.flush()\n"
        "time.sleep(60)\n"
    )
    (tmp_path / "gen.py").write_text(script)
    write_stack(tmp_path, f'[services.gen]\ncmd = "{sys.executable} gen.py"\n')
    env = devstack_env(DEVSTACK_LOG_MAX_BYTES=str(64 * 1024))
    with RunningStack(tmp_path, env=env) as stack:
        stack.wait_for(r"gen\s+\* \[start\]")
        follower = subprocess.Popen(
            [sys.executable, "-m", "devstack", "logs", "gen", "-f", "--no-color"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        seen: list[str] = []
        done = threading.Event()
        connected = threading.Event()  # the follower printed history: it is subscribed

        def read() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                connected.set()
                found = re.search(r"\| L(\d{6}) ", line)
                if found:
                    seen.append(found.group(1))
                    if int(found.group(1)) == N:
                        done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert connected.wait(20), "the follower printed nothing"
        go.write_text("")
        try:
            assert done.wait(60), f"follower saw {len(seen)} lines"
        finally:
            follower.terminate()
            follower.wait(10)
            reader.join(10)
            if follower.stdout is not None:
                follower.stdout.close()
        assert len(seen) == N and len(set(seen)) == N
        assert seen == sorted(seen)
    logs = tmp_path / ".devstack" / "logs"
    files = sorted(logs.glob("gen.log*"))
    assert 2 <= len(files) <= 4  # rotated, and at most 3 backups kept
    on_disk: list[str] = []
    for path in files:
        on_disk += re.findall(r"\| L(\d{6}) ", path.read_text())
    assert len(on_disk) == len(set(on_disk))  # nothing written twice
    assert f"{N:06d}" in on_disk  # the newest line is kept
