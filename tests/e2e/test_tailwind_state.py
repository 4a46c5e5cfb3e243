"""Reliability case 47 (docs/reliability.md): devstack's own folder inside a Next.js +
Tailwind v4 project is never seen by the project's watchers.

The user's report: stack.toml at the root of a create-next-app project (a git clone), so
.devstack/ (socket, state.json, logs) sits in `next dev`'s folder. Tailwind v4 reads
every file no ignore rule hides and hands each, and each folder, to the bundler as a
dependency of the CSS. Before: Turbopack read .devstack/devstack.sock and answered
500; webpack (`next dev --webpack`, the reporter's Next 15 default) rebuilt on every
log line (188 rebuild messages in 8 s to an open tab). .devstack/.gitignore of `*`
hides the files; .git/info/exclude hides the folder itself, which webpack otherwise
watches whole. Here an open tab (the HMR socket) counts rebuilds while a chatty
service's logs land in that .devstack/: none, and the page answers 200.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_botexcel import EXAMPLE, require_pnpm

from conftest import free_port, program, wait_until
from support.stackrun import RunningStack, devstack_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WINDOW = 8.0  # seconds of chatter (about 800 log lines) watched for rebuilds


# Tailwind v4's own scanner (the one @tailwindcss/postcss runs): the files it reads,
# each registered as a dependency of the CSS (Turbopack then read .devstack/devstack.sock).
SCAN = """
const postcss = require.resolve("@tailwindcss/postcss", { paths: [process.cwd()] });
const { Scanner } = require(require.resolve("@tailwindcss/oxide", { paths: [postcss] }));
const source = { base: process.cwd(), pattern: "**/*", negated: false };
const scanner = new Scanner({ sources: [source] });
scanner.scan();
console.log(JSON.stringify(scanner.files));
"""


def tailwind_sees(root: Path) -> list[str]:
    done = subprocess.run(
        ["node", "-e", SCAN], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen: list[str] = json.loads(done.stdout)
    assert any(p.endswith("page.tsx") for p in seen), seen  # the scanner did scan
    return seen


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example frontend with stack.toml at its root, as in the report."""
    require_pnpm()
    root = tmp_path / "landing"
    source = EXAMPLE / "botexcel-landing"
    subprocess.run(["cp", "-r", str(source), str(root)], check=True, timeout=60)
    for leftover in ("node_modules", ".next", ".devstack"):
        subprocess.run(["rm", "-rf", str(root / leftover)], check=True, timeout=60)
    # From pnpm's store (hard links): the example's own install, without a download.
    install = subprocess.run(
        ["pnpm", "install", "--frozen-lockfile", "--prefer-offline"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    port = free_port()
    # A cloned starter is a git repository (.gitignore: node_modules, .next).
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    (root / "stack.toml").write_text(
        f"""\
[services.frontend]
cmd = "pnpm dev --port ${{port}} --hostname 127.0.0.1"
port = {port}
# The port's tcp probe: an http one would render the page, which Turbopack reports
# on the HMR socket as a build like any other.
health.start_period = "300s"
env = {{ NEXT_TELEMETRY_DISABLED = "1" }}

[services.chatty]
cmd = "{sys.executable} -u {program("chatty")} text-red-500 bg-blue-500"
"""
    )
    return root


class BrowserTab:
    """What an open page keeps with `next dev`: its HMR websocket, on which the server
    says each rebuild ("building", then "built"). Next 16 prints no line for those."""

    def __init__(self, port: int) -> None:
        self.received = bytearray()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            f"GET /_next/hmr HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Origin: http://127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while data := self._sock.recv(65536):
                self.received += data

    def rebuilds(self) -> int:
        text = bytes(self.received)
        return text.count(b'"type":"building"') + text.count(b'"type":"built"')

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=10)


# Turbopack is what create-next-app's `next dev` runs today; webpack is what the
# reporter's Next 15 ran (`next dev --webpack` now).
@pytest.mark.parametrize("bundler", ["", "--webpack"], ids=["turbopack", "webpack"])
def test_devstacks_own_files_never_make_next_dev_recompile(project: Path, bundler: str) -> None:
    toml = project / "stack.toml"
    toml.write_text(toml.read_text().replace("pnpm dev --port", f"pnpm dev {bundler} --port"))
    port = int(re.search(r"^port = (\d+)$", toml.read_text(), re.MULTILINE)[1])  # type: ignore[index]
    # Run from the folder above: the test's copy of what devstack prints (a terminal, for
    # the user) is written there, not among the project's sources.
    with RunningStack(project.parent, "-f", str(toml), env=devstack_env()) as stack:
        stack.wait_for(r"^chatty\s+\| chatty line", timeout=60)
        stack.wait_for(r"^frontend\s+\* \[start\]", timeout=60)
        # The first request compiles the page and its CSS (Tailwind scans the folder).
        deadline = time.monotonic() + 300
        while True:
            try:
                status = get(f"http://127.0.0.1:{port}/")
                break
            except OSError:  # not listening yet
                assert time.monotonic() < deadline, stack.output()[-3000:]
                time.sleep(0.2)
        assert status == 200, stack.output()[-3000:]
        tab = BrowserTab(port)
        try:
            wait_until(lambda: b'"type":"sync"' in tab.received, timeout=60)
            time.sleep(2.0)  # what the first compile still had to say
            before = tab.rebuilds()
            logged = (project / ".devstack" / "logs" / "chatty.log").stat().st_size
            time.sleep(WINDOW)  # no request meanwhile: Turbopack says "built" for each one
            recompiles = tab.rebuilds() - before
        finally:
            tab.close()
        statuses = [get(f"http://127.0.0.1:{port}/") for _ in range(3)]
        output = stack.output()
        assert (project / ".devstack" / "logs" / "chatty.log").stat().st_size > logged
        assert recompiles == 0, (recompiles, output[-3000:])
        assert [p for p in tailwind_sees(project) if ".devstack" in p] == []
        assert set(statuses) == {200}, (statuses, output[-3000:])
        assert "FATAL" not in output and "devstack.sock" not in output, output[-3000:]
    assert (project / ".devstack" / ".gitignore").read_text().splitlines()[1] == "*"
