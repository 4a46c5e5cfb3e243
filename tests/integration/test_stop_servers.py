"""Stops the way real servers expect (reliability case 41 of docs/reliability.md): a
Celery worker finishes the task it is running on `restart` and on `down`; a gunicorn
request in flight completes during `restart`. The stop times are printed (-s shows them).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, wait_until
from support.stackrun import downed_at_end, run_devstack, write_stack

pytestmark = pytest.mark.slow

TASKS = """
import os
import time
from pathlib import Path

from celery import Celery

app = Celery("tasks", broker="filesystem://", backend="file://" + os.environ["RESULTS"])
app.conf.broker_transport_options = {
    "data_folder_in": os.environ["QUEUE"],
    "data_folder_out": os.environ["QUEUE"],
    "processed_folder": os.environ["PROCESSED"],
    "control_folder": os.environ["CONTROL"],
    "store_processed": True,
}
app.conf.broker_connection_retry_on_startup = True


@app.task(name="tasks.slow")
def slow(path):
    Path(path + ".started").write_text("")
    time.sleep(3)
    Path(path).write_text("done")
    return "ok"
"""


def celery_stack(root: Path) -> dict[str, str]:
    """A stack of one Celery worker (prefork, one process) on the filesystem transport."""
    env = {name: str(root / name.lower()) for name in ("QUEUE", "PROCESSED", "RESULTS", "CONTROL")}
    for folder in env.values():
        Path(folder).mkdir()
    (root / "tasks.py").write_text(TASKS)
    argv = [sys.executable, "-m", "celery", "-A", "tasks", "worker"]
    argv += ["--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat"]
    cmd = ", ".join(f'"{a}"' for a in argv)
    values = ", ".join(f'{k} = "{v}"' for k, v in env.items())
    write_stack(
        root,
        f"""
        [services.worker]
        cmd = [{cmd}]
        env = {{ {values}, PYTHONPATH = "{root}" }}
        """,
    )
    return env


def load_tasks(root: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker's tasks module, loaded in this process too (to send tasks, read results)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(f"tasks_{root.name}", root / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def send_slow_task(tasks: Any, root: Path, name: str) -> tuple[Any, Path]:
    """Send tasks.slow; wait until the worker runs it."""
    marker = root / name
    result = tasks.slow.delay(str(marker))
    wait_until(lambda: Path(f"{marker}.started").exists(), timeout=60)
    return result, marker


def worker_log(root: Path) -> str:
    return (root / ".devstack" / "logs" / "worker.log").read_text(errors="replace")


@pytest.mark.timeout(180)
def test_celery_worker_finishes_its_task_on_restart_and_on_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reliability case 41: `restart worker` and `down` send SIGTERM to Celery's main
    process alone (a warm shutdown: it waits for the task); before, its pool child got
    SIGTERM too (`ForkPoolWorker-1 ... exited with 'signal 15 (SIGTERM)'`) and the task
    stayed PENDING."""
    tasks = load_tasks(tmp_path, celery_stack(tmp_path), monkeypatch)
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        wait_until(lambda: " ready." in worker_log(tmp_path), timeout=60)

        first, marker = send_slow_task(tasks, tmp_path, "first")
        started = time.monotonic()
        restart = run_devstack(tmp_path, "restart", "worker", timeout=60)
        restart_took = time.monotonic() - started
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert marker.read_text() == "done"  # the task ran to its end before the stop ended
        assert first.get(timeout=10) == "ok" and first.state == "SUCCESS"

        wait_until(lambda: worker_log(tmp_path).count(" ready.") >= 2, timeout=60)
        second, marker = send_slow_task(tasks, tmp_path, "second")
        started = time.monotonic()
        down = run_devstack(tmp_path, "down", timeout=60)
        down_took = time.monotonic() - started
        assert down.returncode == 0, down.stdout + down.stderr
        assert marker.read_text() == "done"
        assert second.get(timeout=10) == "ok" and second.state == "SUCCESS"

    log = worker_log(tmp_path)
    assert not re.search(r"ForkPoolWorker-\d+.*exited with .signal", log), log
    assert "Warm shutdown" in log, log
    assert "killed after" not in log
    print(f"\ncelery: restart took {restart_took:.2f}s, down took {down_took:.2f}s")


FLASK_APP = """
import os
import time
from pathlib import Path

from flask import Flask

app = Flask(__name__)


@app.get("/slow")
def slow():
    Path(os.environ["MARKER"]).write_text(str(os.getpid()))
    time.sleep(2)
    return "slow done"
"""


@pytest.mark.timeout(180)
def test_gunicorn_request_in_flight_completes_during_restart(
    tmp_path: Path, web_venv: Path
) -> None:
    """Reliability case 41: `restart web` sends SIGTERM to gunicorn's master alone, which
    lets its sync worker answer the request it is serving before it stops."""
    port = free_port()
    marker = tmp_path / "in-flight"
    (tmp_path / "app.py").write_text(FLASK_APP)
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{web_venv}/bin/gunicorn app:app --bind 127.0.0.1:${{port}} --workers 2"
        port = {port}
        env = {{ MARKER = "{marker}" }}
        venv = "{web_venv}"
        """,
    )
    answers: list[object] = []

    def request() -> None:
        try:
            url = f"http://127.0.0.1:{port}/slow"
            with urllib.request.urlopen(url, timeout=30) as resp:
                answers.append((resp.status, resp.read()))
        except OSError as exc:
            answers.append(exc)

    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        client = threading.Thread(target=request)
        client.start()
        try:
            wait_until(marker.exists, timeout=30)
            started = time.monotonic()
            restart = run_devstack(tmp_path, "restart", "web", timeout=60)
            restart_took = time.monotonic() - started
        finally:
            client.join(timeout=40)
        assert restart.returncode == 0, restart.stdout + restart.stderr
    assert answers == [(200, b"slow done")], answers
    print(f"\ngunicorn: restart took {restart_took:.2f}s")
