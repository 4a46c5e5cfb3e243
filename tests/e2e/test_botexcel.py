"""The repository's stack.toml end to end: examples/botexcel (Flask + gunicorn backend,
Next.js + pnpm frontend) with its real setup steps, smoke checks and the incident.

The backend's venv and the frontend's node_modules are built once, by `devstack setup`
itself, into a template under tests/.cache/ (keyed by the inputs); each test copies the
example to its own root on free ports, links the template's venv, hard-links its
node_modules and its setup fingerprints, so only the lifecycle test pays for a setup.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import free_port
from support.stackrun import RunningStack, run_devstack

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "botexcel"
CACHE = REPO / "tests" / ".cache"
PNPM = "12.21.0"  # the version .ci/run installs
# The incident's backend had uvicorn installed (not in requirements.txt: the app is WSGI).
INCIDENT_EXTRA = "uvicorn==0.54.0"
GUNICORN_CMD = 'cmd = "gunicorn api:app --bind 127.0.0.1:${port} --workers 2 --timeout 120"'
UVICORN_CMD = 'cmd = "uvicorn main:app --host 127.0.0.1 --port ${port}"'
PROXY = "/api/agent/context/create"

# Next's dev server compiles on the first request: tens of seconds on a busy 2-core box.
# No xdist_group: pytest-xdist 3.8 cannot group under pytest 9 (it renames item._nodeid,
# which pytest 9 no longer reads). The template is shared through a file lock instead.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def require_pnpm() -> None:
    if shutil.which("pnpm"):
        return
    hint = f"pnpm is not installed (npm install -g pnpm@{PNPM}; .ci/run does this)"
    if os.environ.get("CI"):
        pytest.fail(hint)
    pytest.skip(hint)


def copy_example(root: Path, backend_port: int = 5000, frontend_port: int = 3000) -> None:
    """The example's sources (no venv, node_modules, build output) and stack.toml on the ports."""
    shutil.copytree(
        EXAMPLE,
        root / "examples" / "botexcel",
        ignore=shutil.ignore_patterns(
            ".venv",
            "node_modules",
            ".next",
            "next-env.d.ts",
            "*.tsbuildinfo",
            "audit.ndjson",
            "__pycache__",
        ),
    )
    text = (REPO / "stack.toml").read_text()
    for old, new in ((5000, backend_port), (3000, frontend_port)):
        assert f"\nport = {old}\n" in text
        text = text.replace(f"\nport = {old}\n", f"\nport = {new}\n")
    (root / "stack.toml").write_text(text)


def cache_key() -> str:
    """What the setup steps install from: their lines, their inputs, Python and pnpm."""
    stack = tomllib.loads((REPO / "stack.toml").read_text())
    parts = [sys.version, PNPM, INCIDENT_EXTRA]
    parts += [repr(sorted(s.items())) for s in stack["services"].values()]
    for name in (
        "backend/requirements.txt",
        "botexcel-landing/package.json",
        "botexcel-landing/pnpm-lock.yaml",
    ):
        parts.append((EXAMPLE / name).read_text())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def template() -> Path:
    """A root whose setup steps ran (devstack setup), shared by the tests; built once."""
    require_pnpm()
    CACHE.mkdir(exist_ok=True)
    built = CACHE / f"botexcel-{cache_key()}"
    # xdist workers share the cache: one builds, the others wait on the lock.
    with open(CACHE / "botexcel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (built / "ready").exists():
            shutil.rmtree(built, ignore_errors=True)  # a build that was interrupted
            built.mkdir()
            copy_example(built)
            done = run_devstack(built, "setup", timeout=540)
            assert done.returncode == 0, done.stdout + done.stderr
            pip = built / "examples/botexcel/backend/.venv/bin/pip"
            subprocess.run(
                [str(pip), "install", "-q", INCIDENT_EXTRA],
                check=True,
                timeout=240,
                capture_output=True,
            )
            (built / "ready").write_text("")
    return built


@pytest.fixture
def root(tmp_path: Path, template: Path) -> Iterator[Path]:
    """The example on free ports in tmp_path, its setup already done (the template's)."""
    copy_example(tmp_path, free_port(), free_port())
    example = "examples/botexcel"
    (tmp_path / example / "backend/.venv").symlink_to(template / example / "backend/.venv")
    shutil.copytree(
        template / example / "botexcel-landing/node_modules",
        tmp_path / example / "botexcel-landing/node_modules",
        symlinks=True,
        copy_function=os.link,
    )
    (tmp_path / ".devstack").mkdir(mode=0o700)
    shutil.copytree(template / ".devstack/setup", tmp_path / ".devstack/setup")
    yield tmp_path
    run_devstack(tmp_path, "down", timeout=60)  # a failed test's detached stack, if any


def ports(root: Path) -> tuple[int, int]:
    stack = tomllib.loads((root / "stack.toml").read_text())["services"]
    return stack["backend"]["port"], stack["frontend"]["port"]


def break_like_the_incident(root: Path, *, gate_frontend: bool = True) -> None:
    """uvicorn on main.py (the CLI) whose import fails, as in the incident."""
    stack = root / "stack.toml"
    text = stack.read_text()
    assert GUNICORN_CMD in text
    text = text.replace(GUNICORN_CMD, UVICORN_CMD)
    if not gate_frontend:
        gate = 'depends_on = { backend = "healthy" }\n'
        assert gate in text
        text = text.replace(gate, "")
    stack.write_text(text)
    main = root / "examples/botexcel/backend/main.py"
    anchor = "from converter import convert_csv, write_records\n"
    source = main.read_text()
    assert anchor in source
    main.write_text(source.replace(anchor, anchor + "from converter import log_to_ndjson\n"))


def verify_json(root: Path) -> tuple[int, dict[str, object]]:
    done = run_devstack(root, "verify", "--json", timeout=540)
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON:\n{done.stdout}\n{done.stderr}") from None


def steps_by_name(report: dict[str, object]) -> dict[str, dict[str, object]]:
    steps = report["steps"]
    assert isinstance(steps, list)
    return {step["name"]: step for step in steps}


def test_verify_passes_and_the_backend_audits_the_proxied_requests(root: Path) -> None:
    code, report = verify_json(root)
    assert code == 0, json.dumps(report, indent=1)
    assert report["ok"] is True and report["started"] is True and report["kept"] is False
    steps = steps_by_name(report)
    assert list(steps) == [
        "services",
        "backend health",
        "proxy: no token -> 401",
        "proxy: no file_id -> 400",
        "proxy reaches backend -> 201",
    ]
    assert [s["status"] for s in list(steps.values())[1:]] == [200, 401, 400, 201]
    # Each request reached the backend through the proxy: audited, client IP masked.
    audit = root / "examples/botexcel/backend/audit.ndjson"
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["status"], e["client"]) for e in entries] == [
        (401, "127.0.0.0"),
        (400, "127.0.0.0"),
        (201, "127.0.0.0"),
    ]
    log = (root / ".devstack/logs/backend.log").read_text()
    assert f"POST {PROXY} 201" in log


def test_the_incident_blocks_the_backend_and_verify_names_the_cause(root: Path) -> None:
    break_like_the_incident(root)
    backend_port, _ = ports(root)
    with RunningStack(root) as stack:
        assert stack.wait(timeout=240) == 1, stack.output()
        out = stack.output()
    assert re.search(r"^backend\s+\* \[check failed\] main.py could not be imported$", out, re.M)
    assert "ImportError: cannot import name 'log_to_ndjson' from 'converter' (converter.py)" in out
    assert f"try: gunicorn api:app --bind 127.0.0.1:{backend_port}" in out
    gated = r"^frontend\s+\* \[not started\] depends on backend \(healthy\), which is blocked"
    assert re.search(gated, out, re.M), out
    assert not re.search(r"^frontend\s+\* \[start\]", out, re.M), out

    done = run_devstack(root, "verify", timeout=540)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "backend is blocked: failed its checks: main.py could not be imported" in done.stdout
    assert "cause: ImportError: cannot import name 'log_to_ndjson'" in done.stdout


def test_frontend_alone_answers_500_econnrefused_and_verify_blames_the_backend(
    root: Path,
) -> None:
    break_like_the_incident(root, gate_frontend=False)
    backend_port, _ = ports(root)
    code, report = verify_json(root)
    assert code == 1, json.dumps(report, indent=1)
    step = steps_by_name(report)["proxy reaches backend -> 201"]
    assert step["status"] == 500
    assert f"ECONNREFUSED 127.0.0.1:{backend_port}" in str(step["body"])
    cause = "\n".join(step["cause"])  # type: ignore[arg-type]
    assert "frontend's, which is healthy" in cause
    assert f"ECONNREFUSED on port {backend_port}: backend's port" in cause
    assert "relies on backend (env BOTEXCEL_API_BASE), which is blocked" in cause
    assert "ImportError: cannot import name 'log_to_ndjson'" in cause


def alive(proc: psutil.Process) -> bool:
    """The same process (pid and start time), not a zombie."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def snapshot(stack: RunningStack) -> dict[psutil.Process, str]:
    """Every process of the running tree, with its command line (read while it lives)."""
    return {p: describe(p) for p in stack.descendants() if alive(p)}


def describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} [{proc.name()}] {' '.join(proc.cmdline())}"
    except psutil.Error:
        return f"{proc.pid} (gone)"


def up_until_healthy(root: Path) -> tuple[tuple[float, float], str, dict[psutil.Process, str]]:
    """``devstack up`` to a healthy frontend, then ``devstack down``: the times from the
    start to a healthy backend and to a healthy frontend, the output, and the process tree
    seen while it ran."""
    started = time.monotonic()
    with RunningStack(root) as stack:
        stack.wait_for(r"^backend\s+\* \[healthy\]", timeout=540)
        backend = time.monotonic() - started
        stack.wait_for(r"^frontend\s+\* \[healthy\]", timeout=540)
        frontend = time.monotonic() - started
        tree = snapshot(stack)
        # Reliability case 1 (docs/reliability.md): down returns 0 within stop_timeout
        # (10 s, the default) + 1 s.
        done = run_devstack(root, "down", timeout=11)
        assert done.returncode == 0, done.stdout + done.stderr
        stack.wait(timeout=10)
        return (backend, frontend), stack.output(), tree


def test_setup_once_then_skipped_faster_and_down_leaves_no_process(tmp_path: Path) -> None:
    require_pnpm()
    copy_example(tmp_path, free_port(), free_port())

    first, out, tree = up_until_healthy(tmp_path)
    assert re.search(r"^backend\s+\* \[setup\] running \(first run\)", out, re.M), out
    assert re.search(r"^frontend\s+\* \[setup\] running \(first run\)", out, re.M), out
    commands = list(tree.values())
    # The whole tree was seen: gunicorn's master and 2 workers, pnpm, node (next dev) and
    # the next-server it forks.
    assert sum("gunicorn api:app" in c for c in commands) >= 3, commands
    assert any("[pnpm] pnpm dev" in c for c in commands), commands
    assert any("[node] node " in c and "/next dev" in c for c in commands), commands
    assert any("[next-server " in c for c in commands), commands
    left = [c for p, c in tree.items() if alive(p)]
    assert left == [], left  # reliability case 1: nothing of the tree outlives down

    second, out, tree = up_until_healthy(tmp_path)
    assert re.search(r"^backend\s+\* \[setup\] skipped \(inputs unchanged\)", out, re.M), out
    assert re.search(r"^frontend\s+\* \[setup\] skipped \(inputs unchanged\)", out, re.M), out
    assert not any(alive(p) for p in tree)
    # The setup steps' time is saved: the backend (whose venv setup takes seconds) is
    # healthy sooner, and so is the frontend. Next's first compile varies by seconds with
    # the machine's load; the setup saved (>= 5 s here) outweighs it.
    assert second[0] < first[0], (first, second)
    assert second[1] < first[1], (first, second)
