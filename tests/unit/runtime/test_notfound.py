"""A shell's "command not found" line, in each shell's own words (copied from real runs)."""

from __future__ import annotations

import pytest

from devstack.runtime.notfound import NotFound, parse_not_found


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (
            "./run-worker.sh: line 5: celery: command not found",
            NotFound("celery", "run-worker.sh", 5),
        ),
        ("./run-worker.sh: 5: celery: not found", NotFound("celery", "run-worker.sh", 5)),
        ("bin/run.sh: line 2: exec: celery: not found", NotFound("celery", "bin/run.sh", 2)),
        ("./run-worker.sh:5: command not found: celery", NotFound("celery", "run-worker.sh", 5)),
        ("sh: 1: gunicorn: not found", NotFound("gunicorn", None, None)),
        ("bash: line 1: gunicorn: command not found", NotFound("gunicorn", None, None)),
        ("bash: celery: command not found", NotFound("celery", None, None)),
    ],
)
def test_each_shells_wording(line: str, found: NotFound) -> None:
    assert parse_not_found(["starting", line]) == found


def test_described_as_script_line_command() -> None:
    assert NotFound("celery", "run-worker.sh", 5).describe() == (
        "run-worker.sh:5: celery: command not found"
    )
    assert NotFound("gunicorn", None, None).describe() == "gunicorn: command not found"


def test_other_lines_are_not_taken_for_it() -> None:
    assert parse_not_found(["404: page not found", "user not found", "all good"]) is None
