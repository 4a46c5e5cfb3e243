"""The repository's own stack.toml (the README's first command) comes up healthy and stops clean."""

from __future__ import annotations

import re
import shutil
import signal
import urllib.request
from pathlib import Path

from conftest import free_port, is_alive
from support.stackrun import RunningStack

REPO = Path(__file__).resolve().parents[2]


def test_demo_stack_comes_up_in_order_and_serves(tmp_path: Path) -> None:
    api, web = free_port(), free_port()
    shutil.copytree(REPO / "examples" / "demo", tmp_path / "examples" / "demo")
    text = (REPO / "stack.toml").read_text()
    text = text.replace("port = 5000", f"port = {api}").replace("port = 5100", f"port = {web}")
    (tmp_path / "stack.toml").write_text(text)
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
