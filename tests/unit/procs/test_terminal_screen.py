"""``last_screen``: what a new ``devstack attach`` sees first (issue 17, point 2)."""

from __future__ import annotations

from devstack.procs.terminal import last_screen


def test_the_last_rows_lines_from_a_line_start() -> None:
    data = b"".join(f"line {i}\r\n".encode() for i in range(100)) + b"(Pdb) "
    assert last_screen(data, 3) == b"line 98\r\nline 99\r\n(Pdb) "
    assert last_screen(b"a\r\nb\r\nc\r\n", 2) == b"b\r\nc\r\n"


def test_fewer_lines_than_rows_is_all_of_it_or_from_the_first_whole_line() -> None:
    assert last_screen(b"a\r\nb\r\n", 24) == b"a\r\nb\r\n"
    # The kept bytes are the cut end of more output: its first, partial, line is skipped.
    assert last_screen(b"\x1b[31mtail of a line\r\nb\r\n", 24, whole=False) == b"b\r\n"


def test_nothing_for_no_output_or_no_rows() -> None:
    assert last_screen(b"", 24) == b""
    assert last_screen(b"a\n", 0) == b""
