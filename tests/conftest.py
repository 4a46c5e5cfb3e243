"""Shared fixtures: the leak guard, free ports, waiting to a deadline, test programs."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

PROGRAMS = Path(__file__).parent / "support" / "programs"
LEAK_TAG = "DEVSTACK_TEST_LEAK_TAG"


def program(name: str) -> str:
    """Absolute path of a tiny test program in tests/support/programs/."""
    path = PROGRAMS / f"{name}.py"
    assert path.exists(), path
    return str(path)


def python_cmd(name: str, *args: object) -> list[str]:
    """argv running a test program with this interpreter."""
    return [sys.executable, program(name), *(str(a) for a in args)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return set(out.split())


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def is_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tagged_processes(tag: str) -> list[psutil.Process]:
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(LEAK_TAG) == tag:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _live_children() -> list[psutil.Process]:
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.fixture(autouse=True)
def leak_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test that leaves a process running.

    Every process a test starts inherits a per-test tag in its environment (services
    get the supervisor's environment), so even a grandchild that called setsid and
    was re-parented to init is found. Leftovers are killed, then the test fails.
    """
    tag = uuid.uuid4().hex
    previous = os.environ.get(LEAK_TAG)
    os.environ[LEAK_TAG] = tag
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(LEAK_TAG, None)
        else:
            os.environ[LEAK_TAG] = previous
        deadline = time.monotonic() + 3.0
        leftovers: list[psutil.Process] = []
        while time.monotonic() < deadline:
            leftovers = {p.pid: p for p in _tagged_processes(tag) + _live_children()}.values()  # type: ignore[assignment]
            leftovers = list(leftovers)
            if not leftovers:
                break
            time.sleep(0.05)
        if leftovers:
            described = []
            for proc in leftovers:
                try:
                    described.append(f"{proc.pid} {' '.join(proc.cmdline())}")
                    proc.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
            pytest.fail("test left processes running:\n  " + "\n  ".join(described))


# A real virtualenv with flask, gunicorn and uvicorn, for the import checks.
CACHE = Path(__file__).parent / ".cache"
REQUIREMENTS = ("flask==3.1.3", "gunicorn==27.0.1", "uvicorn==0.54.0")


# The other servers the import check reads (issue 15, point 6), and uv for `uv run`.
SERVER_REQUIREMENTS = (
    *REQUIREMENTS,
    *("hypercorn==0.18.0", "waitress==3.0.2", "granian==2.8.9", "uvicorn-worker==0.4.0"),
    *("fastapi==0.165.0", "fastapi-cli==0.0.34", "django==5.2.19", "uv==0.13.9"),
)


@pytest.fixture(scope="session")
def web_venv() -> Path:
    """A virtualenv with flask, gunicorn and uvicorn, cached in tests/.cache/ across runs."""
    return _cached_venv(REQUIREMENTS)


@pytest.fixture(scope="session")
def servers_venv() -> Path:
    """``web_venv`` plus hypercorn, waitress, granian, uvicorn-worker, fastapi-cli, django
    and uv, cached the same way."""
    return _cached_venv(SERVER_REQUIREMENTS)


def _cached_venv(requirements: tuple[str, ...]) -> Path:
    key = hashlib.sha256(repr((sys.version, requirements)).encode()).hexdigest()[:12]
    venv = CACHE / f"venv-{key}"
    CACHE.mkdir(exist_ok=True)
    # xdist workers share the cache: one builds, the others wait on the lock.
    with open(CACHE / "venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "bin" / "gunicorn").exists():
            building = CACHE / f"building-{key}-{os.getpid()}"
            shutil.rmtree(building, ignore_errors=True)
            try:
                subprocess.run(
                    [sys.executable, "-m", "venv", str(building)],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                subprocess.run(
                    [str(building / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                shutil.rmtree(building, ignore_errors=True)
                pytest.skip(
                    f"could not build the test virtualenv ({' '.join(requirements)}): {exc}"
                )
            # Scripts carry the build path in their shebang; venvs do not move, so rebuild
            # the scripts' shebangs for the final location.
            _relocate(building, venv)
    return venv


@pytest.fixture
def backend(tmp_path: Path, web_venv: Path) -> Path:
    """``tmp_path/backend`` with ``web_venv`` as its ``.venv``: a Flask service's folder."""
    directory = tmp_path / "backend"
    directory.mkdir()
    (directory / ".venv").symlink_to(web_venv)
    return directory


def _relocate(building: Path, venv: Path) -> None:
    old, new = str(building).encode(), str(venv).encode()
    for script in (building / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            data = script.read_bytes()
            if data.startswith(b"#!") and old in data.split(b"\n", 1)[0]:
                script.write_bytes(data.replace(old, new, 1))
    cfg = building / "pyvenv.cfg"
    cfg.write_bytes(cfg.read_bytes().replace(old, new))
    for activate in (building / "bin").glob("activate*"):
        activate.write_bytes(activate.read_bytes().replace(old, new))
    os.rename(building, venv)
