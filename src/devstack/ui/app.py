"""The dashboard: the service table over the log pane, a status line and the keys.

What it shows comes from a ``Source``: the running stack over the control socket
(``LiveSource``), or, in the snapshot tests, fixed rows and lines. State rows arrive
as the supervisor's ``watch`` stream sends them; CPU, memory and probe latency come
from a ``ps`` every ``PS_EVERY`` seconds.

An action on a service (restart, stop, start) runs in a thread of its own and says
its outcome in the status line; a restart whose checks failed keeps the old process,
and ``c`` shows what the checks said. ``selected`` is the service the keys act on.
``A`` attaches to it when it is interactive: the dashboard suspends itself, the real
terminal runs the same client as ``devstack attach`` until Ctrl-], then it comes back.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import ClassVar, Protocol

from rich.text import Text
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Input, Static

from devstack.control import attachclient, rowtext
from devstack.control.client import ControlClient
from devstack.errors import DevstackError
from devstack.paths import StatePaths
from devstack.ui import feed
from devstack.ui.logstore import Line, LogStore, View
from devstack.ui.logview import LogView
from devstack.ui.panels import TextPanel, check_report, help_text

PS_EVERY = 2.0  # seconds between two `ps` (CPU%, RSS, probe latency)
DRAIN_EVERY = 0.1  # seconds between two moves of received lines into the pane
_UP = ("starting", "running", "healthy", "unhealthy")
_ON_THE_WAY = ("pending", "setup", "waiting", "checking", "spawning", "crashed", "backoff")
STATE_STYLES = {
    "healthy": "green",
    "running": "green",
    "starting": "yellow",
    "spawning": "yellow",
    "checking": "yellow",
    "waiting": "yellow",
    "backoff": "yellow",
    "unhealthy": "bold red",
    "crashed": "red",
    "failed": "bold red",
    "blocked": "bold red",
    "not started": "red",
    "stopped": "dim",
    "exited": "dim",
}
COLUMNS = ("SERVICE", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "CPU%", "RSS", "PORT/URL")


class Source(Protocol):
    """Where the dashboard's facts come from, and where its requests go."""

    def start(self, app: Dashboard) -> None: ...
    def request(self, cmd: str, args: dict[str, object] | None = None) -> object: ...
    def history(self, name: str) -> list[Line]: ...
    def attach(self, name: str) -> tuple[ControlClient, str]: ...
    def close(self) -> None: ...


class LiveSource:
    """The running stack: ``watch`` and ``logs -f`` read in threads, requests sent on
    connections of their own."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.inbox = feed.LogInbox()
        self.streams = feed.Streams(paths)

    def start(self, app: Dashboard) -> None:
        def on_rows(rows: list[dict[str, object]]) -> None:
            app.from_thread(app.apply_rows, rows, False)

        def run(target: Callable[[], str]) -> None:
            why = target()
            if not self.streams.closed:
                app.from_thread(app.stream_ended, why)

        app.inbox = self.inbox
        for target in (
            lambda: feed.watch_states(self.streams, on_rows),
            lambda: feed.follow_logs(self.streams, self.inbox),
        ):
            threading.Thread(target=run, args=(target,), daemon=True).start()

    def request(self, cmd: str, args: dict[str, object] | None = None) -> object:
        return feed.call(self.paths, cmd, args)

    def history(self, name: str) -> list[Line]:
        return feed.history(self.paths, name)

    def attach(self, name: str) -> tuple[ControlClient, str]:
        return attachclient.connect(self.paths, name, *_terminal_fds())

    def close(self) -> None:
        self.streams.close()


def _terminal_fds() -> tuple[int, int]:
    """The real terminal's stdin and stdout (Textual replaces ``sys.stdout``)."""
    stdin, stdout = sys.__stdin__, sys.__stdout__
    return (0 if stdin is None else stdin.fileno(), 1 if stdout is None else stdout.fileno())


class Dashboard(App[int]):
    TITLE = "devstack"
    CSS = """
    #table { height: auto; max-height: 50%; }
    #logs { height: 1fr; border-top: solid $primary; }
    #prompt { display: none; }
    #prompt.shown { display: block; }
    #status { height: 1; background: $panel; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "move(1)", "down", show=False),
        Binding("k", "move(-1)", "up", show=False),
        Binding("l", "focus_logs", "logs of"),
        Binding("a", "all_logs", "all logs"),
        Binding("r", "restart", "restart"),
        Binding("s", "stop_start", "stop/start"),
        Binding("c", "check", "check"),
        Binding("A", "attach", "attach"),
        Binding("slash", "prompt('search')", "search"),
        Binding("n", "find(False)", "next", show=False),
        Binding("N", "find(True)", "previous", show=False),
        Binding("f", "prompt('filter')", "filter"),
        Binding("w", "wrap", "wrap"),
        Binding("t", "timestamps", "time"),
        Binding("pageup", "scroll_logs(-1)", show=False),
        Binding("pagedown", "scroll_logs(1)", show=False),
        Binding("home", "logs_top", show=False),
        Binding("end", "logs_end", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit_ui", "quit"),
        Binding("ctrl+c", "quit_ui", show=False, priority=True),  # as Ctrl-C of `up`
    ]

    def __init__(self, source: Source, *, stack: str = "", owns_stack: bool = False) -> None:
        super().__init__()
        self.source = source
        self.stack_name = stack
        self.owns_stack = owns_stack  # `up --ui`: quitting stops the stack
        self.inbox: feed.LogInbox | None = None
        self.store = LogStore()
        self.rows: dict[str, dict[str, object]] = {}
        self.names: list[str] = []
        self.kept: dict[str, str] = {}  # service -> why the last restart kept it
        self.message = ""
        self.ended: str | None = None
        self._up_since: dict[str, float] = {}  # service -> monotonic start of its process
        self._prompting: str | None = None
        self._status = ""
        self._ending = False
        self._skipped_shown = 0
        self._shown_cells: dict[tuple[str, str], str | Text] = {}

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield table
        yield LogView(self.store, id="logs")
        yield Input(id="prompt")
        yield Static(id="status")
        yield Footer()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#table", DataTable)

    @property
    def logs(self) -> LogView:
        return self.query_one("#logs", LogView)

    def on_mount(self) -> None:
        self.title = f"devstack: {self.stack_name}" if self.stack_name else "devstack"
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self.table.add_column("PROBLEM", key="PROBLEM")
        self.table.focus()
        self.source.start(self)
        self.set_interval(DRAIN_EVERY, lambda: self._guarded(self.drain))
        self.set_interval(1.0, lambda: self._guarded(self._tick))
        self.set_interval(PS_EVERY, lambda: self._guarded(self._poll_ps))
        self._poll_ps()
        self.show_status()

    def on_unmount(self) -> None:
        self._ending = True
        self.source.close()

    # --- facts in -----------------------------------------------------------------------

    def apply_rows(self, rows: list[dict[str, object]], full: bool = True) -> None:
        """State rows (``watch``) or whole rows (``ps``, ``full``) into the table."""
        now = time.monotonic()
        for row in rows:
            name = str(row.get("name"))
            if row.get("state") == "removed":  # a copy `devstack scale` removed
                self._remove_row(name)
                continue
            known = self.rows.setdefault(name, {})
            known.update(row)
            uptime = row.get("uptime")
            if isinstance(uptime, int | float):
                self._up_since[name] = now - float(uptime)
            elif "uptime" in row:
                self._up_since.pop(name, None)
            if name not in self.names:
                self.names.append(name)
                self.table.add_row(*self._cells(name), key=name)
                self.logs.set_names(self.names)
            else:
                self._update_row(name)
        if not full:
            self.show_status()

    def _remove_row(self, name: str) -> None:
        if name not in self.names:
            return
        self.names.remove(name)
        self.rows.pop(name, None)
        self._up_since.pop(name, None)
        # A copy scaled back later gets a new row: nothing of this one's cells is drawn.
        self._shown_cells = {k: v for k, v in self._shown_cells.items() if k[0] != name}
        self.table.remove_row(name)
        self.logs.set_names(self.names)

    def _update_row(self, name: str) -> None:
        for column, value in zip((*COLUMNS, "PROBLEM"), self._cells(name), strict=True):
            if self._shown_cells.get((name, column)) != value:  # each update costs a layout
                self._shown_cells[name, column] = value
                self.table.update_cell(name, column, value, update_width=True)

    def _cells(self, name: str) -> list[str | Text]:
        row = self.rows[name]
        state = str(row.get("state"))
        shown = state
        if row.get("stale"):
            shown += f" (stale: {row['stale']})"
        if row.get("restart_needed"):
            shown += " (restart needed)"
        since = self._up_since.get(name)
        up = state in _UP
        where = row.get("url") or row.get("port")
        return [
            name,
            Text(shown, style=STATE_STYLES.get(state, "")),
            rowtext.health(row.get("health")) if up else "-",
            rowtext.cell(row.get("pid")),
            rowtext.duration(time.monotonic() - since) if up and since is not None else "-",
            rowtext.cell(row.get("restarts")),
            rowtext.cpu(row.get("cpu_percent")) if up else "-",
            rowtext.size(row.get("rss")) if up else "-",
            rowtext.cell(where),
            self._problem(name, row),
        ]

    def _problem(self, name: str, row: dict[str, object]) -> Text:
        if name in self.kept and row.get("stale"):
            # "checks failed; the running process is kept" then the first failed check
            said = self.kept[name].splitlines() or [""]
            return Text(f"restart refused: {said[min(1, len(said) - 1)].strip()}", style="red")
        reason = row.get("reason")
        health = row.get("health")
        if reason:
            return Text(str(reason), style="red" if row.get("state") in _BAD else "")
        if isinstance(health, dict) and health.get("ok") is False and row.get("state") in _UP:
            return Text(str(health.get("detail") or "probe failing"), style="red")
        return Text("")

    def drain(self) -> None:
        """Move the lines received since the last call into the pane."""
        if self.inbox is None:
            return
        lines = self.inbox.take()
        if lines:
            self.store.add(lines)
            self.logs.append(lines)
        if lines or self.inbox.skipped != self._skipped_shown:
            self.show_status()

    def add_lines(self, lines: list[Line]) -> None:
        """Lines straight into the pane (a source without an inbox)."""
        self.store.add(lines)
        self.logs.append(lines)

    def _tick(self) -> None:
        for name in self.names:
            if self.rows[name].get("state") in _UP:
                self._update_row(name)

    def _poll_ps(self) -> None:
        if self.ended is None:
            self._in_thread(lambda: self.source.request("ps"), self._got_ps)

    def _got_ps(self, rows: object) -> None:
        if isinstance(rows, list):
            self.apply_rows([r for r in rows if isinstance(r, dict)])

    def stream_ended(self, why: str) -> None:
        self.ended = why
        self.show_status()

    # --- what the keys do ------------------------------------------------------------

    @property
    def selected(self) -> str | None:
        """The service the keys act on: the table's cursor row."""
        row = self.table.cursor_row
        return self.names[row] if 0 <= row < len(self.names) else None

    def action_move(self, step: int) -> None:
        if step > 0:
            self.table.action_cursor_down()
        else:
            self.table.action_cursor_up()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_focus_logs()  # Enter on a row

    def action_focus_logs(self) -> None:
        self._set_view(View(self.selected, self.logs.view.filter))

    def action_all_logs(self) -> None:
        self._set_view(View(None, self.logs.view.filter))

    def _set_view(self, view: View) -> None:
        self.logs.view = view
        self.logs.follow, self.logs.holding = True, False
        self.logs.rebuild()
        self.show_status()

    def action_wrap(self) -> None:
        self.logs.wrap = not self.logs.wrap
        self.logs.relayout()
        self.show_status()

    def action_timestamps(self) -> None:
        self.logs.timestamps = not self.logs.timestamps
        self.logs.relayout()
        self.show_status()

    def action_scroll_logs(self, pages: int) -> None:
        self.logs.scroll_to(y=self.logs.scroll_y + pages * self.logs.size.height, animate=False)

    def action_logs_top(self) -> None:
        self.logs.scroll_home(animate=False)

    def action_logs_end(self) -> None:
        self.logs.follow, self.logs.holding = True, False
        self.logs.scroll_end(animate=False)
        self.show_status()

    def action_prompt(self, what: str) -> None:
        prompt = self.query_one("#prompt", Input)
        self._prompting = what
        prompt.placeholder = f"{what} (enter to apply, empty to clear, escape to cancel)"
        prompt.value = self.logs.search if what == "search" else self.logs.view.filter
        prompt.add_class("shown")
        self.screen.set_focus(prompt)  # now: keys typed right after `/` go to it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        what, self._prompting = self._prompting, None
        self._close_prompt()
        if what == "search":
            self.logs.search = event.value
            self.logs.current = None
            if event.value:
                self.action_find(True)  # the latest line holding it
            self.logs.refresh()
        elif what == "filter":
            self._set_view(View(self.logs.view.service, event.value))
        self.show_status()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", None)
        if key == "escape" and self._prompting is not None:
            self._prompting = None
            self._close_prompt()

    def _close_prompt(self) -> None:
        self.query_one("#prompt", Input).remove_class("shown")
        self.screen.set_focus(self.table)

    def action_find(self, backwards: bool) -> None:
        if not self.logs.search:
            self.message = "no search yet: / to search"
        elif self.logs.find(backwards) is None:
            self.message = f"not found: {self.logs.search}"
        else:
            self.message = ""
        self.show_status()

    def action_restart(self) -> None:
        name = self.selected
        if name is not None:
            self._act(name, "restart", f"restarting {name} (checks first)")

    def action_stop_start(self) -> None:
        name = self.selected
        if name is None:
            return
        state = self.rows.get(name, {}).get("state")
        if state in _UP or state in _ON_THE_WAY:
            self._act(name, "stop", f"stopping {name}")
        else:
            self._act(name, "start", f"starting {name}")

    def _act(self, name: str, cmd: str, doing: str) -> None:
        self.message = doing
        self.show_status()
        self._in_thread(
            lambda: self.source.request(cmd, {"names": [name]}),
            lambda results: self._acted(name, cmd, results),
        )

    def _acted(self, name: str, cmd: str, results: object) -> None:
        said = []
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            text = str(result.get("message") or "")
            if result.get("ok"):
                first = text.splitlines()[0] if text else ""
                said.append(f"{result.get('name')}: {cmd} ok: {first}")
                if cmd == "restart":
                    self.kept.pop(name, None)
            else:
                first = text.splitlines()[0] if text else ""
                said.append(f"{result.get('name')}: {cmd} failed: {first}")
                if cmd == "restart":
                    self.kept[str(result.get("name"))] = text
        if isinstance(results, Exception):
            said.append(f"{name}: {cmd}: {results}")
        self.message = "; ".join(said) + ("  (c: details)" if name in self.kept else "")
        if name in self.rows:
            self._update_row(name)
        self.show_status()

    def action_check(self) -> None:
        name = self.selected
        if name is None:
            return
        self._in_thread(lambda: self.source.history(name), lambda lines: self._check(name, lines))

    def _check(self, name: str, history: object) -> None:
        # devstack's own lines about it: the check report of its last start is among
        # them. The supervisor keeps the last lines of each service; what the pane
        # kept is the fallback (the supervisor gone, or an error).
        lines = history if isinstance(history, list) and history else list(self.store.lines)
        events = [line for line in lines if line.service == name and line.is_event]
        text = check_report(name, self.rows, events, self.kept.get(name))
        self.push_screen(TextPanel(f"{name}: check report and cause chain", text))

    def action_attach(self) -> None:
        """The real terminal becomes the selected service's (as ``devstack attach``)
        until the detach key; the supervisor's refusal said in the status line."""
        name = self.selected
        if name is None:
            return
        try:
            client, name = self.source.attach(name)
        except DevstackError as exc:
            hint = f"; {exc.hint}" if exc.hint else ""
            self.message = f"attach: {exc.message}{hint}"
            self.show_status()
            return
        in_fd, out_fd = _terminal_fds()
        try:
            with client, self.suspend():
                said = f"attached to {name}; {attachclient.DETACH_NAME} detaches and comes back"
                os.write(out_fd, f"[devstack ui] {said}\r\n".encode())
                reason = attachclient.run_attached(client, in_fd, out_fd)
            self.message = f"detached from {name}: {reason}"
        except SuspendNotSupported:  # no terminal of its own (a test's headless app)
            self.message = f"attach: not in this terminal; use devstack attach {name}"
        except DevstackError as exc:  # the stack stopped while attached
            self.message = f"attach: {exc.message}"
        self.refresh()
        self.show_status()

    def action_help(self) -> None:
        self.push_screen(TextPanel("keys", help_text()))

    def action_quit_ui(self) -> None:
        self._ending = True
        self.exit(0)

    # --- helpers ----------------------------------------------------------------------

    def _in_thread(self, work: Callable[[], object], done: Callable[[object], None]) -> None:
        """``work`` in a thread (a request may wait for a whole start), then ``done``
        with its result (or the exception) on the screen's thread."""

        def run() -> None:
            try:
                result = work()
            except Exception as exc:  # said in the status line, never a traceback
                result = exc
            self.from_thread(done, result)

        threading.Thread(target=run, daemon=True).start()

    def from_thread(self, fn: Callable[..., None], *args: object) -> None:
        """Run ``fn(*args)`` on the screen's thread, unless the dashboard is closing."""

        with contextlib.suppress(RuntimeError):  # the app has ended
            self.call_from_thread(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., None], *args: object) -> None:
        """``fn(*args)`` (a timer's, a thread's), unless the dashboard is closing."""
        if self._ending:
            return
        with contextlib.suppress(NoMatches):  # its widgets are being removed
            fn(*args)

    def show_status(self) -> None:
        logs = self.logs
        parts = [self.stack_name or "devstack"]
        parts.append(f"logs: {logs.view.service or 'all'}")
        if logs.view.filter:
            parts.append(f"filter: {logs.view.filter}")
        if logs.search:
            parts.append(f"search: {logs.search} ({logs.match_count()})")
        parts.append("following" if logs.follow else "paused (end: follow)")
        if logs.wrap:
            parts.append("wrap")
        if logs.timestamps:
            parts.append("timestamps")
        skipped = 0 if self.inbox is None else self.inbox.skipped
        self._skipped_shown = skipped
        if skipped:
            parts.append(f"{skipped} lines skipped (in the log files)")
        if self.ended:
            parts.append(f"{self.ended} (q quits)")
        if self.message:
            parts.append(self.message)
        text = " | ".join(parts)
        if text != self._status:  # an update lays the screen out again: only on a change
            self._status = text
            self.query_one("#status", Static).update(Text(text, no_wrap=True))


_BAD = ("failed", "blocked", "not started", "crashed", "unhealthy")


def run_dashboard(paths: StatePaths, stack: str, owns_stack: bool = False) -> int:
    app = Dashboard(LiveSource(paths), stack=stack, owns_stack=owns_stack)
    return app.run() or 0
