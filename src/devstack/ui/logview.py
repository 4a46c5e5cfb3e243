"""The log pane: a Line API widget over the kept lines, drawing only what is visible.

Appending costs a list append and a width sum per line (no rendering), so a flood
redraws one screen per refresh, not one line per line. With wrap on, a line takes
``ceil(width of its text / pane width)`` rows, cut by cells.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from itertools import accumulate

from rich.cells import cell_len
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from devstack.logs.printer import STACK_NAME, colour_of
from devstack.ui.logstore import Line, LogStore, View, matches, next_match

MATCH = Style(color="black", bgcolor="yellow")
CURRENT = Style(color="black", bgcolor="dark_orange", bold=True)
_DIM = Style(dim=True)
_ERROR_TAGS = ("[failed]", "[crashed]", "[blocked]", "[check failed]", "[internal error]")
_WARN_TAGS = ("[restart in", "[check warning]", "[unhealthy]", "[log file]", "[stopping]")


def _ansi_colour(code: str) -> Color:
    """A printer colour (SGR "36", "96") as a Rich colour: the names keep their colours."""
    return Color.from_ansi(int(code[1]) + (8 if code[0] == "9" else 0))


def event_style(text: str) -> Style:
    """devstack's own lines: bold, red or yellow by what they say (as on the terminal)."""
    if text.startswith(_ERROR_TAGS):
        return Style(bold=True, color="red")
    if text.startswith(_WARN_TAGS):
        return Style(bold=True, color="yellow")
    return Style(bold=True)


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { background: $surface; scrollbar-size-vertical: 1; }
    """

    def __init__(self, store: LogStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.view = View()
        self.wrap = False
        self.timestamps = False
        self.search = ""
        self.current: int | None = None  # index into shown of the current match
        self.follow = True
        self.holding = False  # at a search match: reaching the end does not follow
        self.shown: list[Line] = []
        self._cells: list[int] = []  # each shown line's width in cells (without prefix)
        self._widest = 0
        self._base = Style()  # the widget's own style while it paints
        self._starts: list[int] | None = None  # wrap: first row of each line (cached)
        self._name_width = len(STACK_NAME)
        self._name_styles: dict[str, Style] = {}

    # --- what is shown ---------------------------------------------------------------

    def set_names(self, names: list[str]) -> None:
        self._name_width = max([len(STACK_NAME), *map(len, names)])
        self._name_styles = {n: Style(color=_ansi_colour(colour_of(n))) for n in names}

    def _prefix_len(self) -> int:
        stamp = 13 if self.timestamps else 0  # "12:00:01.250 "
        name = 0 if self.view.service is not None else self._name_width + 3  # "api | "
        return stamp + name

    def rebuild(self) -> None:
        """The shown lines again, from the store (a new view or filter)."""
        self.shown = [line for line in self.store.lines if self.view.shows(line)]
        self._cells = [_cells(line.text) for line in self.shown]
        self._widest = max(self._cells, default=0)
        self.current = None
        self.relayout()

    def append(self, lines: list[Line]) -> None:
        """Lines just added to the store."""
        new = [line for line in lines if self.view.shows(line)]
        if not new:
            return
        limit = self.store.lines.maxlen or len(self.shown) + len(new)
        cells = [_cells(line.text) for line in new]
        self.shown += new
        self._cells += cells
        self._widest = max(self._widest, *cells)  # an upper bound once lines are dropped
        excess = len(self.shown) - limit
        if excess > 0:  # gone from the store: gone from the pane
            del self.shown[:excess]
            del self._cells[:excess]
            if self.current is not None:
                self.current = self.current - excess if self.current >= excess else None
        self.relayout()

    def relayout(self) -> None:
        """The rows the shown lines take (after new lines, wrap, timestamps, a resize)."""
        self._starts = None
        prefix = self._prefix_len()
        if self.wrap:
            width = self._pane_width()
            self._set_virtual_size(Size(width, sum(self._heights(width))))
        else:
            self._set_virtual_size(Size(prefix + self._widest, len(self.shown)))
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        old = self.virtual_size
        if size == old:
            return
        if size.width == old.width and size.height > old.height > self.size.height > 0:
            # Only taller, with the scrollbar already there: a repaint does, not the new
            # layout of the whole screen that setting virtual_size asks for (a flood
            # would reflow the dashboard at every batch of lines).
            self.set_reactive(LogView.virtual_size, size)
            self._scroll_update(size)
            return
        self.virtual_size = size

    def _pane_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _heights(self, width: int) -> list[int]:
        prefix = self._prefix_len()
        # ceil((prefix + cells) / width), and one row for an empty line
        return [((prefix + cells or 1) - 1) // width + 1 for cells in self._cells]

    def _row_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *accumulate(self._heights(self._pane_width()))][:-1]
        return self._starts

    def on_resize(self) -> None:
        self.relayout()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value:
            self.follow = False  # scrolled up: stay there
        elif new_value >= self.max_scroll_y and not self.holding:
            self.follow = True  # scrolled down to the end: follow again

    def row_of(self, index: int) -> int:
        return self._row_starts()[index] if self.wrap else index

    # --- search ---------------------------------------------------------------------

    def find(self, backwards: bool = False) -> int | None:
        """Move to the next (previous) line holding the search term; its index."""
        if self.current is not None:
            start = self.current
        else:  # from what is on screen: the last visible line going up, the first down
            top = int(self.scroll_y)
            start = self._index_at(top + (self.size.height if backwards else -1))
        found = next_match(self.shown, self.search, start, backwards)
        self.current = found
        if found is not None:
            row = self.row_of(found)
            self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
            self.follow = False  # new lines would push the match away (end follows again)
            self.holding = True
        self.refresh()
        return found

    def _index_at(self, row: int) -> int:
        if not self.wrap:
            return row
        return bisect_right(self._row_starts(), row) - 1

    def match_count(self) -> int:
        term = self.search.lower()
        return sum(term in line.text.lower() for line in self.shown) if term else 0

    # --- drawing --------------------------------------------------------------------

    def line_text(self, line: Line, current: bool = False) -> Text:
        text = Text(no_wrap=True, end="")
        if self.timestamps:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
            text.append(f"{stamp}.{int(line.time % 1 * 1000):03d} ", _DIM)
        if self.view.service is None:
            style = self._name_styles.get(line.service, Style())
            text.append(line.service.ljust(self._name_width), style)
            text.append(" * " if line.is_event else " | ", _DIM)
        start = len(text)
        text.append(line.text, event_style(line.text.lstrip()) if line.is_event else None)
        for a, b in matches(line.text, self.search):
            text.stylize(CURRENT if current else MATCH, start + a, start + b)
        return text

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style once per paint, not once per line (each read walks the DOM).
        self._base = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self._pane_width()
        style = self._base
        if self.wrap:
            index = self._index_at(row)
            if not 0 <= index < len(self.shown):
                return Strip.blank(width, style)
            part = row - self._row_starts()[index]
            strip = self._strip(index).crop(part * width, (part + 1) * width)
            return strip.crop_extend(0, width, style)
        if not 0 <= row < len(self.shown):
            return Strip.blank(width, style)
        return self._strip(row).crop_extend(scroll_x, scroll_x + width, style)

    def _strip(self, index: int) -> Strip:
        text = self.line_text(self.shown[index], current=index == self.current)
        text.style = self._base  # beneath the line's own styles
        return Strip(text.render(self.app.console))
