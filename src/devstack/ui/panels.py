"""The check panel (``c``) and the help screen (``?``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from devstack.ui.logstore import Line

# States a dependent cannot get past (a cause in the chain).
DEAD_ENDS = ("failed", "blocked", "not started", "stopped", "crashed", "backoff")

KEYS = [
    ("up/down, j/k", "select a service"),
    ("enter, l", "show the selected service's logs"),
    ("a", "show all services' logs"),
    ("r", "restart the selected service (checks first; a failing check keeps it running)"),
    ("s", "stop the selected service, or start it when it is not running"),
    ("c", "check report and cause chain of the selected service"),
    ("A", "attach to the selected interactive service (Ctrl-] detaches and comes back)"),
    ("/", "search the logs (n next, N previous)"),
    ("f", "filter: show only the lines holding a text (empty: all)"),
    ("w", "wrap long lines"),
    ("t", "timestamps"),
    ("pgup/pgdn, home", "scroll the logs; end follows again"),
    ("?", "this help"),
    ("q", "quit (the stack keeps running; after `up --ui` it stops)"),
]


def cause_chain(name: str, rows: dict[str, dict[str, object]]) -> list[str]:
    """``name`` and, depth first, each dependency in a dead end: "db: failed: exit 1"."""
    chain: list[str] = []
    seen: set[str] = set()
    todo = [(name, 0)]
    while todo:
        current, depth = todo.pop()
        if current in seen or current not in rows:
            continue
        seen.add(current)
        row = rows[current]
        reason = f": {row['reason']}" if row.get("reason") else ""
        chain.append(f"{'  ' * depth}{current}: {row.get('state')}{reason}")
        deps = row.get("depends_on")
        for dep in reversed(deps if isinstance(deps, list) else []):
            dep_row = rows.get(str(dep), {})
            if dep_row.get("state") in DEAD_ENDS:
                todo.append((str(dep), depth + 1))
    return chain


def check_report(
    name: str, rows: dict[str, dict[str, object]], events: list[Line], kept: str | None
) -> str:
    """The panel's text: the state and cause chain, what the last restart from the
    dashboard said when it kept the old process, and devstack's own lines about it."""
    parts = ["Cause chain", *(f"  {line}" for line in cause_chain(name, rows))]
    if kept:
        parts += ["", "Last restart from here", *(f"  {line}" for line in kept.splitlines())]
    parts += ["", f"devstack's lines about {name} (checks, starts, exits)"]
    parts += [f"  {line.text}" for line in events[-60:]] or ["  (none kept)"]
    return "\n".join(parts)


class TextPanel(ModalScreen[None]):
    """A scrollable text over the dashboard; Escape (or its key again) closes it."""

    DEFAULT_CSS = """
    TextPanel { align: center middle; }
    TextPanel > VerticalScroll {
        width: 90%; height: auto; max-height: 80%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,c,question_mark", "dismiss", "close")
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._heading = title
        self._body = text

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self._heading
            yield Static(self._body, markup=False, id="panel-text")


def help_text() -> str:
    width = max(len(k) for k, _ in KEYS)
    return "\n".join(f"{key.ljust(width)}  {what}" for key, what in KEYS)
