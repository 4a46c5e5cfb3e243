"""Run the real ``devstack`` command against a stack.toml in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from conftest import is_alive


def write_stack(root: Path, toml: str) -> Path:
    path = root / "stack.toml"
    path.write_text(textwrap.dedent(toml))
    return path


def devstack_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run_devstack(
    root: Path, *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A devstack command that ends by itself (config, schema, bad input); ``env``: extra vars."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=root,
        env=devstack_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class RunningStack:
    """``devstack up`` in the background, its merged output captured to a file.

    It runs in its own session, as a user's terminal would not: the test sends
    signals to it explicitly, and ``close`` kills whatever is left.
    """

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.out_path = root / "devstack-output.txt"
        self._out = self.out_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "up", *args],
            cwd=root,
            env=env or devstack_env(),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.out_path.read_bytes().decode("utf-8", "replace")

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first match of ``pattern`` (multiline regex) in the output, waiting for it."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                found = regex.search(self.output())
                if found:
                    return found
                raise AssertionError(
                    f"devstack exited ({self.proc.returncode}) before printing {pattern!r}:\n"
                    + self.output()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s; output:\n{self.output()}")
            time.sleep(0.02)

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._out.close()

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def listener_on(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Another program listening on ``port`` (the test's squatter), until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "programs" / "listener.py"), str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()  # "listening on PORT"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def events(output: str, tag: str) -> list[str]:
    """Service names in the order they printed ``[tag]`` events (``backend * [start] ...``)."""
    return re.findall(rf"^(\S+)\s+\* \[{re.escape(tag)}\]", output, re.MULTILINE)


def supervisor_pid(root: Path) -> int | None:
    """The pid in ``root``'s .devstack/supervisor.pid (a running or killed supervisor)."""
    try:
        return int((root / ".devstack" / "supervisor.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def downed_at_end(root: Path) -> Iterator[None]:
    """Whatever stack the block leaves running in ``root`` is ended: ``devstack down``,
    then SIGKILL of the supervisor's group if that did not end it."""
    try:
        yield
    finally:
        pid = supervisor_pid(root)
        try:
            ok = run_devstack(root, "down").returncode in (0, 3)
        except subprocess.TimeoutExpired:
            ok = False
        if pid is not None and (not ok or is_alive(pid)):
            kill_group(pid)
