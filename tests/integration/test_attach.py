"""Interactive services and ``devstack attach`` (issue 17, point 2), end to end.

A real stack (``devstack up -d``) with a real Python program stopped at ``breakpoint()``
in a pseudo-terminal; the real ``devstack attach`` driven through a pty of the test's
own, as a user's terminal drives it. Every read has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port
from support.attachterm import AttachTerminal, InTerminal
from support.stackrun import devstack_env, downed_at_end, run_devstack, write_stack

# Stops at breakpoint(); on `c` prints the answer, then sleeps until stopped.
PROGRAM = """\
import os
import sys
import time

print("program started", flush=True)
print("a line on stderr", file=sys.stderr, flush=True)
answer = 6
breakpoint()
print("continued", answer * 7, flush=True)
while True:
    time.sleep(1)
"""

STACK = """\
[services.app]
cmd = "{python} app.py"
interactive = true

[services.plain]
cmd = "{python} -c 'import time; print(\\"plain up\\", flush=True); time.sleep(600)'"
"""


def _stack(root: Path, python: str) -> None:
    (root / "app.py").write_text(PROGRAM)
    write_stack(root, STACK.format(python=python))


@contextlib.contextmanager
def _at_breakpoint(root: Path) -> Iterator[None]:
    """The stack up (-d), its `app` stopped at pdb's prompt; ended by `down` after."""
    _stack(root, sys.executable)
    with downed_at_end(root):
        _up(root)
        _wait_for_log(root, "app", "(Pdb)")  # the prompt is logged without its newline
        yield


def _up(root: Path) -> None:
    up = run_devstack(root, "up", "-d", timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr


def _ps(root: Path) -> dict[str, dict[str, object]]:
    ps = run_devstack(root, "ps", "--json")
    assert ps.returncode == 0, ps.stderr
    return {row["name"]: row for row in json.loads(ps.stdout)["services"]}


def _wait_for_log(root: Path, name: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        logs = run_devstack(root, "logs", name).stdout
        if text in logs:
            return logs
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the logs of {name} within {timeout}s:\n{logs}")
        time.sleep(0.1)


def test_pdb_at_a_breakpoint_answers_through_attach_and_detaching_leaves_it_running(
    tmp_path: Path,
) -> None:
    with _at_breakpoint(tmp_path):
        rows = _ps(tmp_path)
        assert rows["app"]["interactive"] is True and rows["plain"]["interactive"] is False
        pid = rows["app"]["pid"]
        with AttachTerminal(tmp_path, "app") as term:
            term.read_until(b"Ctrl-] detaches")
            term.read_until(b"(Pdb) ")  # the last screen first: the prompt is there
            term.write(b"p answer * 7\r")
            term.read_until(b"42\r\n")
            term.write(b"\x03")  # Ctrl-C goes to the service (pdb), not to attach
            term.read_until(b"--KeyboardInterrupt--")
            assert term.proc.poll() is None
            term.write(b"\x1d")  # Ctrl-]
            assert term.wait() == 0, term.seen
            assert b"detached from app: detached" in term.seen
        row = _ps(tmp_path)["app"]
        assert row["pid"] == pid and row["state"] == "running", row
        # Attach again: still in pdb (nothing was typed meanwhile); `c` continues.
        with AttachTerminal(tmp_path, "app") as term:
            term.read_until(b"(Pdb) ")
            term.write(b"c\r")
            term.read_until(b"continued 42")
            term.write(b"\x1d")
            assert term.wait() == 0, term.seen
        assert _ps(tmp_path)["app"]["pid"] == pid
        # The service's lines reach `devstack logs` and its log file, each exactly once:
        # one line per \r\n, and a prompt flushed while pdb waited is a line of its own
        # (or begins the echoed command typed within the quiet time).
        _wait_for_log(tmp_path, "app", "continued 42")
        logs = subprocess.run(  # bytes: text mode would read a lone \r as a newline
            [sys.executable, "-m", "devstack", "logs", "app"],
            cwd=tmp_path,
            env=devstack_env(),
            capture_output=True,
            timeout=30,
        ).stdout.decode()
        shown = re.findall(r"^app +\| (.*)$", logs.replace("\r", "\\r"), re.MULTILINE)
        shown = [x.replace("\\r", "\r") for x in shown]
        file = (tmp_path / ".devstack" / "logs" / "app.log").read_bytes().decode()
        kept = [ln.split(" | ", 1)[1] for ln in file.split("\n") if " stdout | " in ln]
        assert shown == kept, (shown, kept)
        # (readline redraws its line when the window changes: "\r\x1b[K\r(Pdb) " stays.)
        for line in ("program started", "a line on stderr", "p answer * 7", "42", "c"):
            found = [x for x in kept if re.fullmatch(rf"(.*\(Pdb\) )?{re.escape(line)}", x)]
            assert len(found) == 1, (line, kept)
        assert "\r\n" not in file
        assert kept[kept.index("42") + 1].startswith("(Pdb) "), kept


def test_attach_to_a_service_that_is_not_interactive_is_a_one_line_usage_error(
    tmp_path: Path,
) -> None:
    _stack(tmp_path, sys.executable)
    with downed_at_end(tmp_path):
        _up(tmp_path)
        result = run_devstack(tmp_path, "attach", "plain")
        assert result.returncode == 2, result
        assert result.stderr.splitlines()[0] == (
            "error: plain is not interactive (its stdin is closed)"
        ), result.stderr
        assert "set `interactive = true` under [services.plain]" in result.stderr
        unknown = run_devstack(tmp_path, "attach", "ap")
        assert unknown.returncode == 2 and "did you mean app?" in unknown.stderr


def test_attach_with_no_stack_running_exits_3(tmp_path: Path) -> None:
    _stack(tmp_path, sys.executable)
    result = run_devstack(tmp_path, "attach", "app")
    assert result.returncode == 3, result


def test_the_latest_attach_wins_and_the_former_is_told(tmp_path: Path) -> None:
    with _at_breakpoint(tmp_path), AttachTerminal(tmp_path, "app") as first:
        first.read_until(b"(Pdb) ")
        later = AttachTerminal(tmp_path, "app")
        later.read_until(b"Ctrl-] detaches")
        assert first.wait() == 0, first.seen
        assert b"another `devstack attach` took over" in first.seen
        later.write(b"p 6*7\r")
        later.read_until(b"42\r\n")
        later.write(b"\x1d")
        try:
            assert later.wait() == 0, later.seen
        finally:
            later.close()


def test_a_restart_ends_the_attachment_and_a_stopped_service_cannot_be_attached(
    tmp_path: Path,
) -> None:
    with _at_breakpoint(tmp_path):
        with AttachTerminal(tmp_path, "app") as term:
            term.read_until(b"(Pdb) ")
            restart = run_devstack(tmp_path, "restart", "app", timeout=60)
            assert restart.returncode == 0, restart.stdout + restart.stderr
            assert term.wait() == 0, term.seen
            assert b"detached from app: its process ended" in term.seen
        stop = run_devstack(tmp_path, "stop", "app", timeout=60)
        assert stop.returncode == 0, stop.stderr
        result = run_devstack(tmp_path, "attach", "app")
        assert result.returncode == 1, result
        assert "app is not running (stopped)" in result.stderr
        assert "devstack start app" in result.stderr


@pytest.mark.parametrize("how", ["detach", "SIGTERM", "SIGHUP"])
def test_the_terminal_modes_are_restored_on_every_way_out(tmp_path: Path, how: str) -> None:
    with _at_breakpoint(tmp_path):
        with AttachTerminal(tmp_path, "app") as term:
            assert term.modes() == (True, True)  # a fresh terminal: canonical, echo
            term.read_until(b"(Pdb) ")
            assert term.modes() == (False, False)  # raw while attached
            if how == "detach":
                term.write(b"\x1d")
                assert term.wait() == 0
            else:
                term.proc.send_signal(getattr(signal, how))
                assert term.wait() == 130, term.seen
            assert term.modes() == (True, True)
        assert _ps(tmp_path)["app"]["state"] == "running"


def test_the_window_size_is_forwarded(tmp_path: Path) -> None:
    with _at_breakpoint(tmp_path), AttachTerminal(tmp_path, "app", rows=33, cols=101) as term:
        term.read_until(b"(Pdb) ")
        term.write(b"p tuple(os.get_terminal_size(0))\r")
        term.read_until(b"(101, 33)")
        term.resize(40, 120)  # SIGWINCH to the client -> TIOCSWINSZ on the service's pty
        term.read_until(b"(Pdb) ")
        deadline_tries = 50
        for _ in range(deadline_tries):
            term.write(b"p tuple(os.get_terminal_size(0))\r")
            seen = term.read_until(b"(Pdb) ")
            if b"(120, 40)" in seen:
                break
        else:
            raise AssertionError(term.seen)
        term.write(b"\x1d")
        assert term.wait() == 0


FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return "ok"


@app.get("/answer")
def answer():
    question = "six times seven"
    breakpoint()
    return f"{question} is {6 * 7}"
"""


@pytest.mark.parametrize(
    "server",
    [
        "flask --app app run --port ${port}",
        # a worker with no timeout, or gunicorn kills it while pdb waits
        "gunicorn app:app -b 127.0.0.1:${port} -w 1 --timeout 0 --access-logfile -",
    ],
    ids=["flask-run", "gunicorn"],
)
def test_a_breakpoint_in_a_flask_view_is_reached_through_attach(
    tmp_path: Path, web_venv: Path, server: str
) -> None:
    """The user's goal: a request hangs at ``breakpoint()`` in a view; ``devstack
    attach``, a look around in pdb, ``c``: the request completes."""
    (tmp_path / "app.py").write_text(FLASK_APP)
    port = free_port()
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{web_venv}/bin/{server}"
        port = {port}
        health.http = "/health"
        interactive = true
        check.import = false
        """,
    )
    answers: queue.Queue[str] = queue.Queue()

    def ask() -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/answer", timeout=60) as r:
                answers.put(f"{r.status} {r.read().decode()}")
        except OSError as exc:
            answers.put(f"error {exc}")

    with downed_at_end(tmp_path):
        _up(tmp_path)
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        _wait_for_log(tmp_path, "web", "(Pdb)")
        assert answers.empty()  # the request hangs at the breakpoint
        with AttachTerminal(tmp_path, "web") as term:
            term.read_until(b"(Pdb) ")
            term.write(b"p question\r")
            term.read_until(b"'six times seven'")
            term.write(b"c\r")
            assert answers.get(timeout=30) == "200 six times seven is 42"
            term.read_until(b"GET /answer HTTP/1.")  # the access log line, live
            term.write(b"\x1d")
            assert term.wait() == 0, term.seen
        asker.join(timeout=5)


def test_a_foreground_up_with_one_interactive_service_forwards_what_is_typed(
    tmp_path: Path,
) -> None:
    """`devstack up` in a terminal, as a user runs it: it says where typing goes; a
    line typed at pdb's prompt is answered; Ctrl-C still stops the stack."""
    _stack(tmp_path, sys.executable)
    with InTerminal(tmp_path, "up", controlling=True) as term:
        term.read_until(b"what you type goes to app (interactive)", timeout=30)
        term.read_until(b"(Pdb) ")
        term.write(b"p answer * 7\n")
        term.read_until(b"| 42")
        term.write(b"\x03")  # Ctrl-C: SIGINT to `up`, the terminal's foreground job
        assert term.wait(timeout=30) == 130, term.seen


def test_a_foreground_up_with_no_interactive_service_says_nothing_of_stdin(
    tmp_path: Path,
) -> None:
    write_stack(tmp_path, f"[services.plain]\ncmd = \"{sys.executable} -c 'print(1)'\"\n")
    with InTerminal(tmp_path, "up", controlling=True) as term:
        assert term.wait(timeout=30) == 0, term.seen
        assert b"plain     * [exited] exit 0" in term.seen, term.seen
        assert b"what you type" not in term.seen


def test_attach_to_a_service_with_replicas_is_its_first_copy_or_the_one_named(
    tmp_path: Path,
) -> None:
    # Issue 16, point 5: before, `attach repl` (two copies) was "the supervisor closed
    # the connection without answering" (a KeyError in the supervisor).
    show = "import os; print('copy', os.environ['N'], flush=True); import time; time.sleep(600)"
    write_stack(
        tmp_path,
        f"""
        [services.repl]
        cmd = ["{sys.executable}", "-c", "{show}"]
        interactive = true
        replicas = 2
        env = {{ N = "${{replica}}" }}

        [services.plain]
        cmd = ["{sys.executable}", "-c", "import time; time.sleep(600)"]
        replicas = 2
        """,
    )
    with downed_at_end(tmp_path):
        _up(tmp_path)
        _wait_for_log(tmp_path, "repl.2", "copy 2")
        first = run_devstack(tmp_path, "attach", "repl")  # stdin at its end: detaches
        assert first.returncode == 0, first.stdout + first.stderr
        assert "attached to repl.1;" in first.stderr and "copy 1" in first.stdout
        second = run_devstack(tmp_path, "attach", "repl.2")
        assert second.returncode == 0 and "copy 2" in second.stdout, second
        plain = run_devstack(tmp_path, "attach", "plain.2")
        assert plain.returncode == 2, plain
        assert "set `interactive = true` under [services.plain] in" in plain.stderr
