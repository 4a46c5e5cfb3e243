"""`devstack ui` (issue 17, point 1) through Textual's pilot against a real stack of tiny
real programs started with `devstack up -d`: the table's states, `r` and its new pid, a
refused restart, the check panel of a blocked service, search, filter, stop/start."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from conftest import free_port, program
from devstack.control.client import ControlClient
from devstack.paths import StatePaths
from devstack.ui.app import Dashboard, LiveSource
from support.stackrun import downed_at_end, run_devstack, write_stack

pytest.importorskip("textual")

SIZE = (140, 40)
APP = """\
import sys, time
n = 0
while True:
    n += 1
    print(f"worker tick {n} needle-{n % 7}", flush=True)
    time.sleep(0.05)
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Path]:
    """web (healthy), worker (running, chatty), broken (blocked: a syntax error) and
    after (not started: it needs broken), running under `up -d`."""
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "bad.py").write_text("def broken(:\n    pass\n")
    py = sys.executable
    write_stack(
        tmp_path,
        f"""
        [services.web]
        cmd = "{py} {program("listener")} {port}"
        port = {port}
        health.http = "/"
        [services.worker]
        cmd = "{py} app.py"
        [services.broken]
        cmd = "{py} bad.py"
        [services.after]
        cmd = "{py} app.py"
        depends_on = {{ broken = "started" }}
        """,
    )
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 1, up.stdout + up.stderr  # broken is blocked
        yield tmp_path


def test_watch_streams_every_state_then_each_change_as_it_happens(stack: Path) -> None:
    """The `watch` request the dashboard's table follows: the states at once, then each
    change pushed by the supervisor (no polling: stopping, then stopped)."""
    paths = StatePaths.of_file(stack / "stack.toml")
    with ControlClient.connect(paths, timeout=30.0) as watcher:
        results = watcher.stream("watch")
        first = next(results)
        assert isinstance(first, dict)
        states = {row["name"]: row["state"] for row in first["states"]}
        assert states == {
            "web": "healthy",
            "worker": "running",
            "broken": "blocked",
            "after": "not started",
        }
        assert {row["name"]: row["depends_on"] for row in first["states"]}["after"] == ["broken"]
        with ControlClient.connect(paths) as client:
            client.call("stop", {"names": ["worker"]})
        seen = []
        for result in results:
            assert isinstance(result, dict)
            row = result["state"]
            seen.append((row["name"], row["state"]))
            if seen[-1] == ("worker", "stopped"):
                break
        assert seen == [("worker", "stopping"), ("worker", "stopped")]


def dashboard(root: Path) -> Dashboard:
    return Dashboard(LiveSource(StatePaths.of_file(root / "stack.toml")), stack="test")


async def until(pilot: object, predicate: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the app run until ``predicate`` holds (fail at the deadline)."""
    pause: Callable[[float], Awaitable[None]] = pilot.pause  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await pause(0.05)


def plain(app: Dashboard, index: int) -> str:
    """The pane's line ``index`` as drawn (its prefix included)."""
    return app.logs.line_text(app.logs.shown[index]).plain


def panel(app: Dashboard) -> str:
    found = app.screen.query("#panel-text")
    return str(found.first().render()) if found else ""


def cell(app: Dashboard, name: str, column: str) -> str:
    return str(app.table.get_cell(name, column))


def test_the_table_shows_each_services_state_and_reason(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.names) == 4 and app.rows["web"].get("rss"))
            assert cell(app, "web", "STATE") == "healthy"
            assert cell(app, "worker", "STATE") == "running"
            assert cell(app, "broken", "STATE") == "blocked"
            assert cell(app, "after", "STATE") == "not started"
            assert cell(app, "web", "HEALTH").startswith("ok ")  # with the probe's latency
            assert cell(app, "web", "PID") == str(app.rows["web"]["pid"])
            assert cell(app, "web", "RSS").endswith("iB")  # the tree's memory, from ps
            assert cell(app, "web", "PORT/URL").startswith("http://127.0.0.1:")
            assert "bad.py does not compile" in cell(app, "broken", "PROBLEM")
            assert "which is blocked" in cell(app, "after", "PROBLEM")

    asyncio.run(go())


def test_r_restarts_the_selected_service_and_the_new_pid_appears(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.rows.get("worker", {}).get("pid"))
            old = app.rows["worker"]["pid"]
            await pilot.press("j")  # web -> worker
            assert app.selected == "worker"
            await pilot.press("r")
            await until(
                pilot,
                lambda: (
                    app.rows["worker"].get("pid") not in (None, old)
                    and app.rows["worker"]["state"] == "running"
                ),
            )
            new = app.rows["worker"]["pid"]
            await until(pilot, lambda: cell(app, "worker", "PID") == str(new))
            await until(pilot, lambda: "restart ok" in app.message)
            assert cell(app, "worker", "RESTARTS") == "0"  # asked for: not a crash restart

    asyncio.run(go())


def test_a_restart_whose_check_fails_keeps_the_process_and_says_why(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.rows.get("worker", {}).get("pid"))
            old = app.rows["worker"]["pid"]
            (stack / "app.py").write_text("def oops(:\n")
            await pilot.press("j", "r")
            await until(pilot, lambda: "restart failed" in app.message)
            assert "checks failed; the running process is kept" in app.message
            assert app.rows["worker"]["pid"] == old
            await until(pilot, lambda: "restart refused" in cell(app, "worker", "PROBLEM"))
            assert "app.py does not compile" in cell(app, "worker", "PROBLEM")
            await pilot.press("c")
            await until(pilot, lambda: app.screen.query("#panel-text"))
            text = str(app.screen.query_one("#panel-text").render())
            assert "Last restart from here" in text
            assert "app.py does not compile" in text

    asyncio.run(go())


def test_c_shows_the_check_report_and_cause_chain_of_a_blocked_service(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.names) == 4)
            await until(pilot, lambda: any(line.service == "broken" for line in app.store.lines))
            await pilot.press("j", "j", "j")  # after: not started, because of broken
            assert app.selected == "after"
            await pilot.press("c")
            await until(pilot, lambda: app.screen.query("#panel-text"))
            text = str(app.screen.query_one("#panel-text").render())
            assert "after: not started" in text
            assert "  broken: blocked: failed its checks: bad.py does not compile" in text
            await pilot.press("escape", "k", "c")  # broken itself: its check report
            await until(pilot, lambda: "broken: blocked" in panel(app))
            text = str(app.screen.query_one("#panel-text").render())
            assert "[check failed] bad.py does not compile" in text
            assert "SyntaxError: invalid syntax (bad.py:1)" in text

    asyncio.run(go())


def test_search_finds_a_line_and_filter_hides_the_others(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot, lambda: sum(line.service == "worker" for line in app.store.lines) > 8
            )
            await pilot.press("slash", *"needle-3", "enter")
            found = app.logs.current
            assert found is not None
            assert "needle-3" in app.logs.shown[found].text
            assert not app.logs.follow  # moved to the match: no longer following
            await pilot.press("N")
            before = app.logs.current
            assert before is not None and before < found
            assert "needle-3" in app.logs.shown[before].text
            await pilot.press("n")
            assert app.logs.current == found
            await pilot.press("f", *"needle-5", "enter")
            assert app.logs.shown
            assert all("needle-5" in line.text for line in app.logs.shown)
            await pilot.press("t")  # timestamps: 12:00:01.250 before each line
            assert re.match(r"\d\d:\d\d:\d\d\.\d{3} worker +\| worker tick", plain(app, 0))
            await pilot.press("w")  # wrap: as wide as the pane, no horizontal scroll
            assert app.logs.wrap and "wrap" in app.message + str(app.query_one("#status").render())
            assert app.logs.virtual_size.width == app.logs.scrollable_content_region.width
            await pilot.press("f", "ctrl+u", "enter")  # an empty filter: every line again
            assert any("needle-5" not in line.text for line in app.logs.shown)

    asyncio.run(go())


def test_s_stops_and_starts_the_selected_service(stack: Path) -> None:
    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.rows.get("worker", {}).get("state") == "running")
            await pilot.press("j", "s")
            await until(pilot, lambda: app.rows["worker"]["state"] == "stopped")
            assert cell(app, "worker", "PID") == "-"
            await pilot.press("s")
            await until(pilot, lambda: app.rows["worker"]["state"] == "running")

    asyncio.run(go())


def test_each_copy_is_a_row_and_scale_adds_and_removes_rows_live(tmp_path: Path) -> None:
    # Issue 16, point 5: the dashboard over a stack with replicas, scaled while it shows.
    (tmp_path / "app.py").write_text(APP)
    write_stack(
        tmp_path,
        f"""
        [services.worker]
        cmd = "{sys.executable} app.py"
        replicas = 2
        """,
    )
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr

        async def scale(count: int) -> None:
            done = await asyncio.to_thread(
                run_devstack, tmp_path, "scale", f"worker={count}", timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr

        async def go() -> None:
            app = dashboard(tmp_path)
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: app.names == ["worker.1", "worker.2"])
                assert cell(app, "worker.2", "STATE") == "running"
                await scale(3)
                await until(
                    pilot,
                    lambda: "worker.3" in app.names and cell(app, "worker.3", "STATE") == "running",
                )
                assert app.names == ["worker.1", "worker.2", "worker.3"]
                await scale(1)
                await until(pilot, lambda: app.names == ["worker.1"])
                await scale(2)
                await until(
                    pilot,
                    lambda: (
                        "worker.2" in app.names
                        and cell(app, "worker.2", "STATE") == "running"
                        and cell(app, "worker.2", "PID") == str(app.rows["worker.2"]["pid"])
                    ),
                )

        asyncio.run(go())


def test_attach_key_on_a_service_that_is_not_interactive_says_why(stack: Path) -> None:
    """`A` (issue 17, point 2) asks the supervisor to attach: a service without
    `interactive = true` gets `devstack attach`'s one-line reason in the status line,
    and the dashboard stays as it was."""

    async def go() -> None:
        app = dashboard(stack)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.rows.get("worker", {}).get("pid"))
            await pilot.press("j")
            assert app.selected == "worker"
            await pilot.press("A")
            await until(pilot, lambda: "attach:" in app.message)
            assert app.message.startswith("attach: worker is not interactive (its stdin is closed)")
            assert "interactive = true" in app.message  # the fix, as the CLI says it
            await until(pilot, lambda: "attach: worker is not interactive" in app._status)
            assert app.rows["worker"]["state"] == "running"

    asyncio.run(go())
