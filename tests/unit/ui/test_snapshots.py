"""Snapshots of the dashboard's main screens (issue 17, point 1): fixed size, fixed rows
and lines (no pids, times or ports of a real run), so a change of layout shows as a diff.
Update with: pytest tests/unit/ui --snapshot-update."""

from __future__ import annotations

import asyncio
from typing import Any

from devstack.ui.app import Dashboard
from devstack.ui.logstore import Line

SIZE = (120, 32)
ROWS: list[dict[str, object]] = [
    {
        "name": "db",
        "state": "healthy",
        "pid": 1001,
        "restarts": 0,
        "health": {"ok": True, "detail": "tcp", "latency": 0.002},
        "port": 5432,
        "cpu_percent": 0.4,
        "rss": 52_428_800,
        "depends_on": [],
    },
    {
        "name": "backend",
        "state": "blocked",
        "pid": None,
        "restarts": 0,
        "reason": "failed its checks: app.py does not compile",
        "port": 5000,
        "depends_on": ["db"],
    },
    {
        "name": "frontend",
        "state": "not started",
        "pid": None,
        "restarts": 0,
        "reason": "depends on backend (healthy), which is blocked: failed its checks: "
        "app.py does not compile",
        "url": "http://127.0.0.1:3000",
        "depends_on": ["backend"],
    },
    {"name": "worker", "state": "stopped", "pid": None, "restarts": 2, "depends_on": []},
]
LINES = [
    Line("db", "event", 0.0, "[start] pid 1001, port 5432"),
    Line("db", "stdout", 0.0, "database system is ready to accept connections"),
    Line("db", "event", 0.0, "[healthy] tcp 127.0.0.1:5432 in 0.31s"),
    Line("backend", "event", 0.0, "[check failed] app.py does not compile"),
    Line("backend", "event", 0.0, "  SyntaxError: invalid syntax (app.py:3)"),
    Line("backend", "event", 0.0, "[blocked] failed its checks"),
    *(Line("worker", "stdout", 0.0, f"job {n} done in {n}ms") for n in range(1, 16)),
]


class StaticSource:
    """Fixed facts; requests answer nothing."""

    def start(self, app: Dashboard) -> None:
        app.apply_rows(ROWS)
        app.add_lines(LINES)

    def request(self, cmd: str, args: dict[str, object] | None = None) -> object:
        return []

    def history(self, name: str) -> list[Line]:
        return [line for line in LINES if line.service == name]

    def close(self) -> None:
        pass


def dashboard() -> Dashboard:
    return Dashboard(StaticSource(), stack="shop")


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(dashboard(), terminal_size=SIZE)


def test_one_services_logs_with_a_search(snap_compare: Any) -> None:
    press = ["j", "j", "j", "enter", "slash", *"job 1", "enter"]
    assert snap_compare(dashboard(), terminal_size=SIZE, press=press)


def test_check_panel_of_a_not_started_service(snap_compare: Any) -> None:
    async def open_panel(pilot: Any) -> None:
        await pilot.press("j", "j", "c")
        for _ in range(200):  # the panel comes once its history is read (a thread)
            if pilot.app.screen.query("#panel-text"):
                break
            await pilot.pause(0.02)

    assert snap_compare(dashboard(), terminal_size=SIZE, run_before=open_panel)


def test_help(snap_compare: Any) -> None:
    assert snap_compare(dashboard(), terminal_size=SIZE, press=["question_mark"])


def test_q_quits_the_dashboard() -> None:
    """q ends the app (an attribute of the app once shadowed Textual's own and hung it)."""

    async def go() -> int | None:
        app = dashboard()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(asyncio.wait_for(go(), 30)) == 0
