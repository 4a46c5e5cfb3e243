"""``devstack up`` next to a running stack, and ``devstack up -d``.

A second ``up`` in a directory never starts a second supervisor: it asks the running
one to start SVC... (with what they need), or without names the services the first
``up`` left out; with nothing new to start it says the stack runs (pid, since when).
``up -d`` starts the supervisor in a session of its own, devstack's own lines (events,
not the services' output, which is in ``logs/``) in ``.devstack/supervisor.log``, and
returns once every service has an outcome.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from devstack.control.client import ControlClient, ps_rows
from devstack.errors import EXIT_FAILED, EXIT_OK, DevstackError, NoStackRunning
from devstack.paths import StatePaths
from devstack.states import ServiceState

# A start has an outcome once no service is still on its way.
_ON_THE_WAY = {
    "pending",
    "setup",
    "waiting",
    "checking",
    "spawning",
    "starting",
    "crashed",
    "backoff",
}
_BAD = {"failed", "blocked", "not started"}


def is_settled(rows: list[dict[str, object]] | None) -> bool:
    """Every service has an outcome: none is still on its way to running or healthy."""
    return rows is not None and not any(r["state"] in _ON_THE_WAY for r in rows)


def connect_running(paths: StatePaths) -> ControlClient | None:
    try:
        return ControlClient.connect(paths, timeout=30.0)
    except NoStackRunning:
        return None


def up_into_running(
    client: ControlClient, root: Path, names: list[str], allowed: list[str] | None = None
) -> int:
    """What ``up`` does when a supervisor already serves ``root``; ``allowed``: without
    names, the services that may start (those the active profiles enable)."""
    with client:
        if not names:  # the whole stack: what the first `up` was not asked for
            rows = client.call("ps")
            assert isinstance(rows, list)
            names = [
                str(r["name"])
                for r in rows
                if r.get("requested") is False and (allowed is None or r["name"] in allowed)
            ]
        results = client.call("start", {"names": names}) if names else []
        assert isinstance(results, list)
        started = [r for r in results if r.get("started") is not False]
        if started:  # the outcomes of this command's starts, not the states of the rest
            return print_results(started)
        status = client.call("status")
    assert isinstance(status, dict)
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(status["started"])))
    print(f"the stack in {root} is already running (pid {status['pid']}, since {since})")
    for r in results:
        print(f"  {r['name']}: {r['message']}")
    print("  see it with: devstack ps; follow it with: devstack logs -f")
    return EXIT_OK


def print_results(results: object) -> int:
    assert isinstance(results, list)
    failed = False
    for r in results:
        mark = "ok" if r["ok"] else "FAILED"
        failed |= not r["ok"]
        print(f"{r['name']}: {mark} in {float(r['took']):.2f}s: {r['message']}")
    return EXIT_FAILED if failed else EXIT_OK


def detach(
    stack_file: Path,
    root: Path,
    names: list[str],
    timeout: float = 600.0,
    *,
    no_setup: bool = False,
    watch: bool | None = None,
    outcome: list[dict[str, object]] | None = None,
    profiles: tuple[str, ...] = (),
    layers: tuple[Path, ...] = (),
    settle: bool = True,
) -> int:
    """Start the supervisor in the background and wait until every service has an outcome.

    ``layers``: the ``-f`` files given (``StackSpec.layers``); none: the supervisor finds
    stack.toml (and stack.local.toml) in ``root`` as the caller did.

    ``outcome`` receives the ``ps`` rows of that moment (the supervisor may end right
    after, when nothing is left running). ``settle=False`` (``up --ui``): return as soon
    as the supervisor answers, saying nothing; the dashboard shows the start."""
    paths = StatePaths.of_file(stack_file)
    paths.prepare()
    log_path = paths.dir / "supervisor.log"
    with open(log_path, "ab") as log:
        # The file keeps every run's output: this run's begins here.
        run_starts = os.fstat(log.fileno()).st_size
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devstack",
                "up",
                "--no-color",
                "--events-only",  # the services' output is in logs/, rotated
                *(arg for f in layers for arg in ("--file", str(f))),
                *(["--no-setup"] if no_setup else []),
                *({True: ["--watch"], False: ["--no-watch"], None: []}[watch]),
                *(f"--profile={p}" for p in profiles),
                *names,
            ],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal: Ctrl-C and a closed terminal leave it be
            env=dict(os.environ),  # the same env: the spec cache key stays the same
        )
    deadline = time.monotonic() + timeout
    rows: list[dict[str, object]] | None = None
    while time.monotonic() < deadline:
        rows = ps_rows(paths)
        if is_settled(rows) and all(ServiceState(str(r["state"])).is_final for r in rows or ()):
            # Nothing is left for that supervisor to run: it is ending. Return once it
            # has, so the next command (verify, up) does not find a stack on its way out.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(5.0, max(0.0, deadline - time.monotonic())))
        if proc.poll() is not None:
            tail = lines_since(log_path, run_starts)[-15:]
            print(f"devstack: the supervisor exited ({proc.returncode}); last lines of {log_path}:")
            print("\n".join(f"  {line}" for line in tail))
            return EXIT_FAILED if proc.returncode in (0, 1) else proc.returncode
        if not settle and rows is not None:
            return EXIT_OK
        if is_settled(rows):
            break
        time.sleep(0.05)
    else:
        raise DevstackError(
            f"the stack did not settle within {timeout:g}s", hint="see: devstack ps"
        )
    assert rows is not None
    if outcome is not None:
        outcome.extend(rows)
    print(f"devstack: supervisor pid {proc.pid}, output in {log_path}")
    bad = False
    for r in rows:
        detail = f" pid {r['pid']}" if r.get("pid") else ""
        where = f" {r['url']}" if r.get("url") else ""
        told = r["state"] in _BAD or r.get("requested") is False  # not requested: how to start
        reason = f": {r['reason']}" if told and r.get("reason") else ""
        print(f"  {r['name']}: {r['state']}{detail}{where}{reason}")
        bad |= r["state"] in _BAD
    return EXIT_FAILED if bad else EXIT_OK


def lines_since(path: Path, offset: int, limit: int = 1 << 20) -> list[str]:
    """The lines written to ``path`` after ``offset`` (at most the last ``limit`` bytes)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = max(offset if offset <= size else 0, size - limit)  # smaller: truncated
        f.seek(start)
        lines = f.read().decode("utf-8", "replace").splitlines()
    return lines[1:] if start > offset else lines  # not a cut first line
