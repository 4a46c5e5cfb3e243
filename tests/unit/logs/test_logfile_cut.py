"""Reliability case 42 (docs/reliability.md): a log file left ending inside a line (a
full disk, a killed writer) is ended before the next record, in this run or the next."""

from __future__ import annotations

from pathlib import Path

from devstack.logs.chunk import make_chunk
from devstack.logs.files import LogFile, read_lines
from devstack.paths import StatePaths


def test_next_run_ends_a_cut_line_before_its_first_record(tmp_path: Path) -> None:
    path = StatePaths(tmp_path).log_file("api")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"2026-11-28T12:00:00.123Z stdout | whole\n2026-11-28T12:00:00.124Z stdo")
    f = LogFile(path)
    f.write(make_chunk("api", "stdout", "next run\n"))
    f.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b"2026-11-28T12:00:00.124Z stdo"  # the cut line, ended as it was
    assert lines[2].endswith(b" stdout | next run")  # a record of its own
    assert [line.text for line in read_lines(StatePaths(tmp_path), "api")] == ["whole", "next run"]


def test_a_file_ending_in_a_newline_gets_nothing_added(tmp_path: Path) -> None:
    path = StatePaths(tmp_path).log_file("api")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"2026-11-28T12:00:00.123Z stdout | whole\n")
    LogFile(path).close()
    assert path.read_bytes() == b"2026-11-28T12:00:00.123Z stdout | whole\n"
    empty = path.with_name("new.log")
    LogFile(empty).close()
    assert empty.read_bytes() == b""


def test_a_closed_file_opens_again_on_the_next_write(tmp_path: Path) -> None:
    """After a failed write (closed by it), the next write tries again: not disabled for good."""
    path = StatePaths(tmp_path).log_file("api")
    f = LogFile(path)
    f.write(make_chunk("api", "stdout", "one\n"))
    f.close()  # as a failed write leaves it
    with path.open("ab") as cut:
        cut.write(b"2026-11-28T12:00:00.124Z stdout | half of a li")
    f.write(make_chunk("api", "stdout", "two\n"))
    f.close()
    # The cut record stays what it was (half a line), the next one is whole.
    texts = [line.text for line in read_lines(StatePaths(tmp_path), "api")]
    assert texts == ["one", "half of a li", "two"]
