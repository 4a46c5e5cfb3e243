"""RELIABILITY 47: devstack's own folder inside a Next.js + Tailwind v4 project is never
seen by the project's watchers.

The user's report: stack.toml at the root of a create-next-app project, so .devstack/
(its socket, state.json, logs) sits in `next dev`'s folder. Tailwind v4 scans every
file no .gitignore excludes and registers each as a dependency of the CSS: every log
line another service wrote made the frontend recompile, and Turbopack, reading
.devstack/devstack.sock as one, answered 500. Here the example frontend (what
create-next-app makes today, Tailwind v4 included) runs beside a chatty service whose
logs land in that .devstack/, and the frontend must answer 200 without one recompile.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_botexcel import EXAMPLE, require_pnpm

from conftest import free_port, program
from support.stackrun import RunningStack, devstack_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WINDOW = 8.0  # seconds of chatter (about 800 log lines) watched for recompiles
# What `next dev` prints when it (re)compiles: "○ Compiling / ...", "✓ Compiled in 80ms".
RECOMPILE = re.compile(r"^frontend\s+\| .*\bCompil(ing|ed)\b", re.MULTILINE)


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
    (root / "stack.toml").write_text(
        f"""\
[services.frontend]
cmd = "pnpm dev --port ${{port}} --hostname 127.0.0.1"
port = {port}
health.http = "/"
health.start_period = "300s"
env = {{ NEXT_TELEMETRY_DISABLED = "1" }}

[services.chatty]
cmd = "{sys.executable} -u {program("chatty")} text-red-500 bg-blue-500"
"""
    )
    return root


def test_devstacks_own_files_never_make_next_dev_recompile(project: Path) -> None:
    text = (project / "stack.toml").read_text()
    port = int(re.search(r"^port = (\d+)$", text, re.MULTILINE)[1])  # type: ignore[index]
    with RunningStack(project, env=devstack_env()) as stack:
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
        assert [p for p in tailwind_sees(project) if ".devstack" in p] == []
        time.sleep(2.0)  # the first compile's own lines are printed
        before = len(RECOMPILE.findall(stack.output()))
        logged = (project / ".devstack" / "logs" / "chatty.log").stat().st_size
        statuses = []
        end = time.monotonic() + WINDOW
        while time.monotonic() < end:
            statuses.append(get(f"http://127.0.0.1:{port}/"))
            time.sleep(0.5)
        output = stack.output()
        assert (project / ".devstack" / "logs" / "chatty.log").stat().st_size > logged
        recompiles = len(RECOMPILE.findall(output)) - before
        assert recompiles == 0, output[-3000:]
        assert set(statuses) == {200}, (statuses, output[-3000:])
        assert "FATAL" not in output and "devstack.sock" not in output, output[-3000:]
    assert (project / ".devstack" / ".gitignore").read_text().splitlines()[1] == "*"
