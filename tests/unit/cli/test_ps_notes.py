"""``devstack ps`` notes under the table: a paused log file (issue 19, point 5)."""

from __future__ import annotations

from devstack.cli.ps import ps_table


def row(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "api", "state": "healthy", "pid": 42, "reason": None}
    base.update(extra)
    return base


def test_a_paused_log_file_is_a_note_naming_why() -> None:
    problem = "disabled since 12:00:01: No space left on device (35 lines not written)"
    text = ps_table([row(log_file=problem), row(name="web", log_file=None)])
    assert text.splitlines()[-1] == f"api: log file {problem}"
    assert "web: log file" not in text
