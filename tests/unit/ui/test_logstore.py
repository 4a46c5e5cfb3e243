"""The log pane's pure parts: chunks to lines, the view, search (issue 17, point 1)."""

from __future__ import annotations

from devstack.ui.feed import LogInbox
from devstack.ui.logstore import Line, LogStore, View, matches, next_match, split_chunk
from devstack.ui.panels import cause_chain


def lines(*texts: str, service: str = "api") -> list[Line]:
    return [Line(service, "stdout", 0.0, t) for t in texts]


def test_a_chunk_becomes_its_lines_without_colour_escapes() -> None:
    chunk = {"service": "api", "stream": "stderr", "time": 5.0, "text": "a\x1b[31mred\x1b[0m\nb\n"}
    assert split_chunk(chunk) == [
        Line("api", "stderr", 5.0, "ared"),
        Line("api", "stderr", 5.0, "b"),
    ]


def test_the_store_keeps_the_last_lines_and_counts_all() -> None:
    store = LogStore(max_lines=3)
    store.add(lines("1", "2", "3", "4", "5"))
    assert [line.text for line in store.lines] == ["3", "4", "5"]
    assert store.added == 5


def test_the_view_shows_one_service_and_the_filtered_lines() -> None:
    api, web = Line("api", "stdout", 0, "GET /x 200"), Line("web", "event", 0, "[start] pid 1")
    assert View().shows(api) and View().shows(web)
    assert View("api").shows(api) and not View("api").shows(web)
    assert View(None, "get /X").shows(api) and not View(None, "get").shows(web)


def test_search_finds_every_match_and_goes_round() -> None:
    assert matches("Error: error", "ERROR") == [(0, 5), (7, 12)]
    shown = lines("a needle", "b", "c needle", "d")
    assert next_match(shown, "needle", 0) == 2
    assert next_match(shown, "needle", 2) == 0  # round the end
    assert next_match(shown, "needle", 2, backwards=True) == 0
    assert next_match(shown, "absent", 0) is None


def test_an_inbox_the_screen_does_not_drain_skips_and_counts_the_oldest_lines() -> None:
    inbox = LogInbox(max_lines=4)
    inbox.put(lines("1", "2", "3"))
    inbox.put(lines("4", "5", "6"))
    inbox.count_dropped(10)  # what the supervisor's queue dropped for this reader
    assert [line.text for line in inbox.take()] == ["3", "4", "5", "6"]
    assert inbox.skipped == 12
    assert inbox.take() == []


def test_the_cause_chain_follows_dependencies_in_a_dead_end() -> None:
    rows: dict[str, dict[str, object]] = {
        "web": {"state": "not started", "reason": "api is blocked", "depends_on": ["api", "db"]},
        "api": {"state": "blocked", "reason": "app.py does not compile", "depends_on": []},
        "db": {"state": "healthy", "reason": None, "depends_on": []},
    }
    assert cause_chain("web", rows) == [
        "web: not started: api is blocked",
        "  api: blocked: app.py does not compile",
    ]
