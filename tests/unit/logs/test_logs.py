"""Unit tests of the log pipeline's pure parts: splitter, pump on a fed reader, tail, file, hub."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.logs.chunk import LogChunk, make_chunk
from devstack.logs.files import LogFile, file_lines
from devstack.logs.hub import LineSplitter, LogHub, LogTail, cut_marker, pump


def reference_lines(stream: bytes, max_line: int) -> bytes:
    """What a splitter must produce from ``stream`` in total, however it is fed."""
    parts = stream.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    out = []
    for line in parts:
        if len(line) > max_line:
            line = line[:max_line] + cut_marker(max_line)
        out.append(line + b"\n")
    return b"".join(out)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


def feed_all(splitter: LineSplitter, pieces: list[bytes]) -> list[bytes]:
    outs = [splitter.feed(p) for p in pieces]
    outs.append(splitter.flush())
    return outs


line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"."))


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_bytes, max_size=30),
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_random_splits_reproduce_the_lines_exactly(
    lines: list[bytes], trailing_newline: bool, cuts: list[int]
) -> None:
    stream = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    outs = feed_all(LineSplitter(), split_at(stream, cuts))
    assert b"".join(outs) == reference_lines(stream, 1 << 20)
    # Every delivery is made of complete lines only.
    assert all(o == b"" or o.endswith(b"\n") for o in outs)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_bytes, max_size=30),
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
    max_line=st.integers(min_value=1, max_value=12),
)
def test_random_splits_with_overlong_lines_cut_them_the_same_way(
    lines: list[bytes], trailing_newline: bool, cuts: list[int], max_line: int
) -> None:
    stream = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    splitter = LineSplitter(max_line)
    outs = feed_all(splitter, split_at(stream, cuts))
    assert b"".join(outs) == reference_lines(stream, max_line)
    assert splitter.cut_lines == sum(1 for line in lines if len(line) > max_line)


def test_no_newline_yet_delivers_nothing_then_the_line() -> None:
    s = LineSplitter()
    assert s.feed(b"abc") == b""
    assert s.feed(b"def") == b""
    assert s.feed(b"\nghi") == b"abcdef\n"
    assert s.flush() == b"ghi\n"
    assert s.flush() == b""


def test_flush_of_nothing_is_empty() -> None:
    s = LineSplitter()
    assert s.feed(b"a\n") == b"a\n"
    assert s.flush() == b""


def test_a_line_over_max_line_is_cut_with_a_marker_and_the_rest_dropped() -> None:
    s = LineSplitter(max_line=4)
    assert s.feed(b"abcd") == b""  # exactly max_line: maybe the newline comes next
    assert s.feed(b"ef") == b"abcd [devstack: line cut at 4 bytes]\n"
    assert s.feed(b"ghij") == b""  # still the dropped rest
    assert s.feed(b"kl\nok\n") == b"ok\n"
    assert s.cut_lines == 1
    assert s.dropped_bytes == len(b"efghijkl")
    assert s.flush() == b""


def test_a_line_of_exactly_max_line_is_kept_whole() -> None:
    s = LineSplitter(max_line=4)
    assert s.feed(b"abcd\nabcde\n") == b"abcd\nabcd [devstack: line cut at 4 bytes]\n"


def test_default_marker_names_one_mebibyte() -> None:
    assert cut_marker(1 << 20) == b" [devstack: line cut at 1048576 bytes]"


def run_pump(data: list[bytes], chunk_size: int = 65536) -> list[LogChunk]:
    async def go() -> list[LogChunk]:
        reader = asyncio.StreamReader()
        for piece in data:
            reader.feed_data(piece)
        reader.feed_eof()
        got: list[LogChunk] = []
        await pump(reader, "svc", "stdout", got.append, chunk_size)
        return got

    return asyncio.run(go())


def test_pump_delivers_chunks_of_complete_lines_and_the_partial_last_line() -> None:
    chunks = run_pump([b"one\ntw", b"o\nthree"], chunk_size=5)
    assert "".join(c.text for c in chunks) == "one\ntwo\nthree\n"
    assert all(c.text.endswith("\n") and c.lines == c.text.count("\n") for c in chunks)
    assert {(c.service, c.stream) for c in chunks} == {("svc", "stdout")}


def test_pump_replaces_invalid_utf8() -> None:
    chunks = run_pump([b"ok \xff\xfe end\n\xe2\x82"])
    text = "".join(c.text for c in chunks)
    assert text == "ok \ufffd\ufffd end\n\ufffd\n"


def test_pump_keeps_a_multibyte_character_split_between_reads() -> None:
    euro = "€".encode()
    chunks = run_pump([b"price " + euro[:1], euro[1:] + b"\n"], chunk_size=7)
    assert "".join(c.text for c in chunks) == "price €\n"


def chunk(service: str, text: str, stream: str = "stdout", when: float = 0.0) -> LogChunk:
    return make_chunk(service, stream, text, when)


def test_tail_keeps_the_last_lines_per_service() -> None:
    tail = LogTail(max_lines=5)
    for i in range(0, 20, 2):
        tail.add(chunk("a", f"a{i}\na{i + 1}\n"))
    tail.add(chunk("b", "b0\n"))
    assert tail.last("a", 3) == ["a17", "a18", "a19"]
    assert tail.last("a", 100) == ["a15", "a16", "a17", "a18", "a19"]
    assert tail.last("b") == ["b0"]
    assert tail.last("nobody") == []
    assert tail.last("a", 0) == []


def test_tail_memory_is_bounded_by_whole_chunks() -> None:
    tail = LogTail(max_lines=10)
    for i in range(1000):
        tail.add(chunk("a", f"{i}\n"))
    assert len(tail._chunks["a"]) == 10
    assert tail.last("a", 2) == ["998", "999"]


def test_file_lines_format() -> None:
    c = chunk("a", "one\ntwo\n", "stderr", when=1795867200.123)
    text = file_lines(c).decode()
    assert text == (
        "2026-11-28T12:00:00.123Z stderr | one\n2026-11-28T12:00:00.123Z stderr | two\n"
    )
    assert file_lines(chunk("a", "x", "event", 0.0)).decode().endswith(" event  | x\n")


def test_log_file_modes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "svc.log"
    f = LogFile(path)
    f.write(chunk("svc", "hello\n"))
    f.close()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().endswith("stdout | hello\n")


def read_all(path: Path, backups: int) -> list[str]:
    files = [path.with_name(f"{path.name}.{n}") for n in range(backups, 0, -1)] + [path]
    lines: list[str] = []
    for f in files:
        if f.exists():
            text = f.read_text()
            assert text == "" or text.endswith("\n")
            lines += text.splitlines()
    return lines


def test_rotation_loses_and_repeats_no_line_and_keeps_the_backup_count(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    f = LogFile(path, max_bytes=2000, backups=3)
    sent = []
    n = 0
    for size in [1, 7, 3, 12, 1, 30, 2, 5] * 4:
        text = "".join(f"line{n + i:05d}\n" for i in range(size))
        n += size
        f.write(chunk("svc", text))
        sent.append(text)
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["svc.log", "svc.log.1", "svc.log.2", "svc.log.3"]
    for p in tmp_path.iterdir():
        # Every file holds whole lines and stays under the limit (no line is that long).
        assert p.stat().st_size <= 2000
        assert all(
            re.fullmatch(r"\S+ stdout \| line\d{5}", ln) for ln in p.read_text().splitlines()
        )
    kept = [ln.rsplit(" ", 1)[1] for ln in read_all(path, 3)]
    expected = [f"line{i:05d}" for i in range(n)]
    # Oldest lines fall off the end of the last backup; the rest are all there, in order.
    assert kept == expected[len(expected) - len(kept) :]
    assert len(kept) > 100


def test_rotation_without_backups_starts_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    f = LogFile(path, max_bytes=100, backups=0)
    for i in range(20):
        f.write(chunk("svc", f"{i}\n"))
    f.close()
    assert [p.name for p in tmp_path.iterdir()] == ["svc.log"]
    assert path.read_text().splitlines()[-1].endswith("| 19")


def test_a_line_longer_than_max_bytes_goes_whole_into_one_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    f = LogFile(path, max_bytes=50, backups=5)
    f.write(chunk("svc", "short\n"))
    f.write(chunk("svc", "y" * 200 + "\nafter\n"))
    f.close()
    lines = read_all(path, 5)
    assert [ln.split(" | ", 1)[1] for ln in lines] == ["short", "y" * 200, "after"]


def test_log_file_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    for word in ("first", "second"):
        f = LogFile(path)
        f.write(chunk("svc", word + "\n"))
        f.close()
    assert [ln.split(" | ")[1] for ln in path.read_text().splitlines()] == ["first", "second"]


class RecordingPrinter:
    """Stands in for the terminal; checks that the file was written first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    def output(self, chunk: LogChunk) -> None:
        on_disk = (self.log_dir / f"{chunk.service}.log").read_text()
        assert on_disk.endswith(file_lines(chunk).decode())
        self.calls.append(("output", chunk.service, chunk.text))

    def event(self, service: str, text: str, level: str = "info") -> None:
        self.calls.append(("event", service, text, level))

    def message(self, text: str, level: str = "info") -> None:
        self.calls.append(("message", text, level))

    def close(self, timeout: float = 5.0) -> None:
        self.closed = True


def test_hub_writes_file_then_tail_then_printer(tmp_path: Path) -> None:
    printer = RecordingPrinter(tmp_path)
    hub = LogHub(printer, tmp_path)  # type: ignore[arg-type]
    hub.output(chunk("api", "hello\n"))
    hub.event("api", "[start] pid 1\nsecond line", "ok")
    hub.message("stack message", "warn")
    assert hub.last_lines("api", 5) == ["hello", "[start] pid 1", "second line"]
    hub.close()
    assert printer.closed
    assert printer.calls == [
        ("output", "api", "hello\n"),
        ("event", "api", "[start] pid 1\nsecond line", "ok"),
        ("message", "stack message", "warn"),
    ]
    streams = [ln.split(" ")[1] for ln in (tmp_path / "api.log").read_text().splitlines()]
    assert streams == ["stdout", "event", "event"]
    hub.output(chunk("api", "after close\n"))  # ignored, no error


def test_hub_without_printer_or_dir_still_keeps_the_tail() -> None:
    hub = LogHub(None, None)
    hub.output(chunk("api", "x\n"))
    assert hub.last_lines("api") == ["x"]
    hub.close()


def test_subscribers_get_chunks_and_drop_the_oldest_when_full() -> None:
    async def go() -> None:
        hub = LogHub(None, None, subscriber_chunks=3)
        q = hub.subscribe()
        for i in range(5):
            hub.output(chunk("api", f"{i}\n"))
        got = [q.get_nowait().text for _ in range(q.qsize())]
        assert got == ["2\n", "3\n", "4\n"]
        assert q.dropped_chunks == 2 and q.dropped_lines == 2
        hub.unsubscribe(q)
        hub.output(chunk("api", "later\n"))
        assert q.empty()
        hub.close()

    asyncio.run(go())


def test_tail_can_leave_out_devstacks_event_lines() -> None:
    tail = LogTail()
    tail.add(chunk("a", "[start] pid 1", "event"))
    tail.add(chunk("a", "out 1\nout 2\n"))
    tail.add(chunk("a", "[exited] 1", "event"))
    assert tail.last("a", 2) == ["out 2", "[exited] 1"]
    assert tail.last("a", 5, events=False) == ["out 1", "out 2"]
