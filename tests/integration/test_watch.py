"""Watch mode end to end: real files edited in a temporary project under a real
``devstack up``, a real HTTP service answering with its pid and its code's version."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, is_alive
from support.stackrun import RunningStack, run_devstack

PY = sys.executable

SERVER = """\
import http.server, os
import helper

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.getpid()} {helper.VERSION}".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def project(root: Path, port: int) -> Path:
    """A service directory: server.py imports helper.py (VERSION); the import check loads it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "server.py").write_text(SERVER)
    (root / "helper.py").write_text('VERSION = "1"\n')
    return root


def service_toml(name: str, cwd: str, port: int, extra: str = "") -> str:
    return (
        f'[services.{name}]\ncmd = "{PY} server.py"\ncwd = "{cwd}"\nport = {port}\n'
        f'health.http = "/"\ncheck.import = "server:Handler"\nwatch = ["**/*.py"]\n{extra}\n'
    )


def answer(port: int) -> tuple[int, str]:
    """(pid, version) the service answers with."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        pid, version = reply.read().decode().split()
    return int(pid), version


def wait_count(stack: RunningStack, text: str, n: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while stack.output().count(text) < n:
        assert time.monotonic() < deadline, f"not {n}x {text!r}:\n{stack.output()}"
        time.sleep(0.02)


def ps_json(root: Path) -> dict[str, dict[str, object]]:
    done = run_devstack(root, "ps", "--json")
    assert done.returncode == 0, done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)["services"]}


def test_edit_restarts_broken_import_keeps_the_old_process_fix_restarts(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    (tmp_path / "stack.toml").write_text(service_toml("web", ".", port))
    helper = tmp_path / "helper.py"
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"\[healthy\]")
        first, _ = answer(port)

        helper.write_text('VERSION = "2"\n')
        wait_count(stack, "[watch] restarted", 1)
        second, version = answer(port)
        assert (version, second != first, is_alive(first)) == ("2", True, False)
        assert "[watch] changed: helper.py" in stack.output()

        # A broken import: the checks fail on the new code, the old process keeps serving.
        helper.write_text("from nowhere_at_all import thing\n")
        wait_count(stack, "[watch] checks failed; the running process is kept", 1)
        assert answer(port) == (second, "2")
        row = ps_json(tmp_path)["web"]
        assert (row["state"], row["stale"], row["pid"]) == ("healthy", "check failed", second)
        assert "healthy (stale: check failed)" in run_devstack(tmp_path, "ps").stdout

        # Saved again, still broken the same way: the failure is not printed again.
        helper.write_text("from nowhere_at_all import thing  # still\n")
        wait_count(stack, "[watch] changed: helper.py", 3)
        time.sleep(1.0)  # long enough for its checks to have run
        assert stack.output().count("No module named 'nowhere_at_all'") == 1
        assert answer(port) == (second, "2")

        # The fix restarts it.
        helper.write_text('VERSION = "3"\n')
        wait_count(stack, "[watch] restarted", 2)
        third, version = answer(port)
        assert version == "3" and third != second
        assert ps_json(tmp_path)["web"]["stale"] is None


def test_edits_under_ignored_paths_do_nothing(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    extra = 'watch_ignore = ["generated"]\nwatch_debounce = "50ms"'
    (tmp_path / "stack.toml").write_text(service_toml("web", ".", port, extra))
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"\[healthy\]")
        pid, _ = answer(port)
        for rel in (
            ".venv/lib/x.py",
            "venv/x.py",
            "node_modules/pkg/x.py",
            "__pycache__/x.py",
            ".git/x.py",
            "generated/x.py",
            "notes.txt",
            "server.log",
            ".helper.py.swp",
            "helper.py~",
            ".#helper.py",
            "4913",
        ):
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x = 1\n")
        time.sleep(1.5)  # 30x the debounce
        assert "[watch]" not in stack.output()
        assert answer(port)[0] == pid
        # The watcher was alive all along: a watched file still restarts it.
        (tmp_path / "helper.py").write_text('VERSION = "2"\n')
        wait_count(stack, "[watch] restarted", 1)


def test_a_burst_of_100_writes_is_one_restart(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    # A debounce longer than the default: the burst stays one burst even when a loaded
    # machine pauses the writing loop for a few hundred ms (it did, on 2 busy cores).
    (tmp_path / "stack.toml").write_text(service_toml("web", ".", port, 'watch_debounce = "1s"'))
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"\[healthy\]")
        for i in range(100):
            (tmp_path / ("helper.py" if i % 2 else f"mod{i % 10}.py")).write_text(
                f'VERSION = "{i}"\n'
            )
        wait_count(stack, "[watch] restarted", 1)
        time.sleep(1.5)
        out = stack.output()
        assert out.count("[watch] changed") == 1, out
        assert out.count("[start]") == 2, out
        assert "[watch] changed: helper.py, mod0.py, mod2.py and 3 more" in out
        assert answer(port)[1] == "99"


def test_two_services_in_different_folders_restart_independently(tmp_path: Path) -> None:
    a, b = free_port(), free_port()
    project(tmp_path / "a", a)
    project(tmp_path / "b", b)
    (tmp_path / "stack.toml").write_text(
        service_toml("a", "a", a) + service_toml("b", "b", b, 'depends_on = ["a"]')
    )
    with RunningStack(tmp_path) as stack:
        wait_count(stack, "[healthy]", 2)
        pid_a, pid_b = answer(a)[0], answer(b)[0]
        (tmp_path / "b" / "helper.py").write_text('VERSION = "b2"\n')
        wait_count(stack, "[watch] restarted", 1)
        assert answer(b)[1] == "b2" and answer(b)[0] != pid_b
        (tmp_path / "a" / "helper.py").write_text('VERSION = "a2"\n')
        wait_count(stack, "[watch] restarted", 2)
        time.sleep(0.5)
        # a's change restarted a only: b (its dependent) kept its process.
        assert answer(a)[1] == "a2" and answer(a)[0] != pid_a
        assert answer(b)[1] == "b2" and stack.output().count("[start]") == 4


def test_restart_dependents_on_change(tmp_path: Path) -> None:
    a, b = free_port(), free_port()
    project(tmp_path / "a", a)
    project(tmp_path / "b", b)
    (tmp_path / "stack.toml").write_text(
        service_toml("a", "a", a, "restart_dependents_on_change = true")
        + service_toml("b", "b", b, 'depends_on = ["a"]')
    )
    with RunningStack(tmp_path) as stack:
        wait_count(stack, "[healthy]", 2)
        pid_b = answer(b)[0]
        (tmp_path / "a" / "helper.py").write_text('VERSION = "a2"\n')
        wait_count(stack, "[watch] restarted", 2)
        assert answer(a)[1] == "a2" and answer(b)[0] != pid_b


def test_no_watch_turns_it_off(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    (tmp_path / "stack.toml").write_text(service_toml("web", ".", port, 'watch_debounce = "50ms"'))
    with RunningStack(tmp_path, "--no-watch") as stack:
        stack.wait_for(r"\[healthy\]")
        pid, _ = answer(port)
        (tmp_path / "helper.py").write_text('VERSION = "2"\n')
        time.sleep(1.0)
        assert "watching" not in stack.output() and "[watch]" not in stack.output()
        assert answer(port) == (pid, "1")


def test_up_watch_watches_a_python_service_without_a_watch_key(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    toml = service_toml("web", ".", port).replace('watch = ["**/*.py"]\n', "")
    (tmp_path / "stack.toml").write_text(toml)
    with RunningStack(tmp_path, "--watch") as stack:
        stack.wait_for(r"\[healthy\]")
        assert "watching for changes: web" in stack.output()
        (tmp_path / "helper.py").write_text('VERSION = "2"\n')
        wait_count(stack, "[watch] restarted", 1)
        assert answer(port)[1] == "2"


def test_config_warning_for_watch_on_a_self_reloading_command(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "/nonexistent/bin/uvicorn main:app --reload"\nwatch = ["**/*.py"]\n'
    )
    for command in ("config", "check"):
        done = run_devstack(tmp_path, command)
        assert "stack.toml: services.api.watch: 'uvicorn --reload' reloads by itself" in (
            done.stderr
        ), command
        assert "Traceback" not in done.stderr
    assert run_devstack(tmp_path, "config").returncode == 0
    up = run_devstack(tmp_path, "up", "--no-setup")  # blocked at once: no such uvicorn
    assert "services.api.watch: 'uvicorn --reload' reloads by itself" in up.stderr + up.stdout
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "/nonexistent/bin/uvicorn main:app --reload"\nwatch = ["**/*.py"]\n'
        "watch_force = true\n"
    )
    assert "reloads by itself" not in run_devstack(tmp_path, "config").stderr


def test_a_restart_applies_watch_keys_edited_in_stack_toml(tmp_path: Path) -> None:
    port = free_port()
    project(tmp_path, port)
    no_watch = service_toml("web", ".", port).replace('watch = ["**/*.py"]\n', "")
    (tmp_path / "stack.toml").write_text(no_watch)
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"\[healthy\]")
        # Not watched at first: an edit does nothing.
        (tmp_path / "helper.py").write_text('VERSION = "2"\n')
        time.sleep(1.0)
        assert "[watch]" not in stack.output()
        # watch added in stack.toml, taken by a restart: edits restart it from then on.
        extra = 'watch_debounce = "50ms"'
        (tmp_path / "stack.toml").write_text(service_toml("web", ".", port, extra))
        assert run_devstack(tmp_path, "restart", "web").returncode == 0
        stack.wait_for(r"\[watch\] watching \*\*/\*\.py")
        (tmp_path / "helper.py").write_text('VERSION = "3"\n')
        wait_count(stack, "[watch] restarted", 1)
        assert answer(port)[1] == "3"
        # Narrowed to another glob: helper.py no longer counts, config.cfg does.
        narrowed = service_toml("web", ".", port, extra).replace("**/*.py", "*.cfg")
        (tmp_path / "stack.toml").write_text(narrowed)
        assert run_devstack(tmp_path, "restart", "web").returncode == 0
        stack.wait_for(r"\[watch\] watching \*\.cfg")
        (tmp_path / "helper.py").write_text('VERSION = "4"\n')
        time.sleep(1.0)
        assert stack.output().count("[watch] restarted") == 1
        (tmp_path / "config.cfg").write_text("x\n")
        wait_count(stack, "[watch] restarted", 2)
        # Removed: watching ends.
        (tmp_path / "stack.toml").write_text(no_watch)
        assert run_devstack(tmp_path, "restart", "web").returncode == 0
        stack.wait_for(r"\[watch\] no longer watched")
        (tmp_path / "config.cfg").write_text("y\n")
        time.sleep(1.0)
        assert stack.output().count("[watch] restarted") == 2


def test_a_service_started_after_up_is_watched_from_its_start(tmp_path: Path) -> None:
    """Issue 13, point 6: `up other` left web out; `devstack start web` starts it, and its
    watch key then applies as it would have under `up`."""
    port, other = free_port(), free_port()
    project(tmp_path / "web", port)
    project(tmp_path / "other", other)
    (tmp_path / "stack.toml").write_text(
        service_toml("web", "web", port) + service_toml("other", "other", other)
    )
    with RunningStack(tmp_path, "other") as stack:
        stack.wait_for(r"other\s+\* \[healthy\]")
        assert "web" not in stack.output().replace("watching for changes: other", "")
        started = run_devstack(tmp_path, "start", "web")
        assert started.returncode == 0, started.stdout + started.stderr
        stack.wait_for(r"web\s+\* \[watch\] watching \*\*/\*\.py \(started on request\)")
        first, _ = answer(port)
        (tmp_path / "web" / "helper.py").write_text('VERSION = "2"\n')
        wait_count(stack, "[watch] restarted", 1)
        pid, version = answer(port)
        assert version == "2" and pid != first


def _inotify_instances(pid: int) -> int:
    """The inotify instances process ``pid`` holds (one per watchfiles watcher)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            continue  # closed meanwhile
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/fd")
def test_the_copies_of_a_service_share_one_watch_and_restart_in_one_batch(tmp_path: Path) -> None:
    """Field trial of issue 16: `up --watch` with 4 copies of a gunicorn app watched the
    same folder 4 times (an inotify instance and a recursive watch of the tree each: 64
    copies of a big monorepo part run into the inotify limit), and one save restarted
    them in two batches (the checks ran twice)."""
    project(tmp_path, 0)
    (tmp_path / "stack.toml").write_text(
        f'[services.worker]\ncmd = ["{PY}", "-c", "import helper, time; time.sleep(600)"]\n'
        'replicas = 3\nwatch = ["**/*.py"]\nwatch_debounce = "100ms"\n'
    )
    with RunningStack(tmp_path) as stack:
        for copy in (1, 2, 3):
            stack.wait_for(rf"^worker\.{copy} .*\[start\]", timeout=30)
        deadline = time.monotonic() + 10
        while _inotify_instances(stack.proc.pid) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # let any further watcher start: there must be none
        assert _inotify_instances(stack.proc.pid) == 1
        (tmp_path / "helper.py").write_text('VERSION = "2"\n')
        wait_count(stack, "[watch] restarted", 3, timeout=30)
        out = stack.output()
        first_restarted = out.index("[watch] restarted")
        for copy in (1, 2, 3):
            changed = re.search(rf"^worker\.{copy} +\* \[watch\] changed: helper\.py", out, re.M)
            assert changed is not None and changed.start() < first_restarted, out
