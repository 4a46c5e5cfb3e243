"""The stdlib demo stack (examples/demo/stack.toml) comes up healthy and stops clean."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

from conftest import free_port, is_alive
from support.demo import copy_demo_stack
from support.stackrun import RunningStack


def test_demo_stack_comes_up_in_order_and_serves(tmp_path: Path) -> None:
    api, web = free_port(), free_port()
    copy_demo_stack(tmp_path, {5000: api, 5100: web})
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web\s+\* \[healthy\]", timeout=30)
        out = stack.output()
        assert out.index("api       * [healthy]") < out.index("web       * [start]")
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/api/hello", timeout=5) as resp:
            assert b"hello from the api" in resp.read()
        pids = [int(p) for p in re.findall(r"\[start\] pid (\d+)", stack.output())]
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    assert not any(is_alive(p) for p in pids)
