"""``pump_terminal``: a pseudo-terminal's output as log lines (issue 17, point 2)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.logs.chunk import LogChunk
from devstack.logs.hub import pump_terminal


async def _feed(reader: asyncio.StreamReader, pieces: list[bytes | float]) -> None:
    """Bytes are written to the reader; a float is a pause of that many seconds."""
    for piece in pieces:
        if isinstance(piece, float):
            await asyncio.sleep(piece)
        else:
            reader.feed_data(piece)
            await asyncio.sleep(0)
    reader.feed_eof()


def run(pieces: list[bytes | float], quiet: float = 0.05) -> list[LogChunk]:
    async def go() -> list[LogChunk]:
        reader = asyncio.StreamReader()
        got: list[LogChunk] = []
        feeding = asyncio.ensure_future(_feed(reader, pieces))
        async with asyncio.timeout(10):
            await pump_terminal(reader, "app", got.append, quiet=quiet)
        await feeding
        return got

    return asyncio.run(go())


def lines(chunks: list[LogChunk]) -> list[str]:
    return "".join(c.text for c in chunks).split("\n")[:-1]


def test_crlf_from_the_line_discipline_is_one_line_each() -> None:
    chunks = run([b"one\r\ntwo\r\n\r\nthree\r\n"])
    assert lines(chunks) == ["one", "two", "", "three"]
    assert all(c.stream == "stdout" and c.lines == c.text.count("\n") for c in chunks)


def test_a_crlf_split_between_reads_is_still_one_line() -> None:
    assert lines(run([b"one\r", b"\ntwo\r", b"\n"])) == ["one", "two"]


def test_a_lone_carriage_return_and_escapes_are_kept() -> None:
    assert lines(run([b"50%\r100%\r\n\x1b[1mbold\x1b[0m\r\n"])) == [
        "50%\r100%",
        "\x1b[1mbold\x1b[0m",
    ]


def test_a_prompt_without_newline_is_delivered_after_the_quiet_time() -> None:
    got: list[LogChunk] = []

    async def go() -> None:
        reader = asyncio.StreamReader()
        pumping = asyncio.ensure_future(pump_terminal(reader, "app", got.append, quiet=0.05))
        reader.feed_data(b"> here\r\n(Pdb) ")
        async with asyncio.timeout(5):
            while len(lines(got)) < 2:  # the prompt comes while the program still waits
                await asyncio.sleep(0.01)
        assert lines(got) == ["> here", "(Pdb) "]
        reader.feed_data(b"p 6*7\r\n42\r\n")
        reader.feed_eof()
        await pumping

    asyncio.run(go())
    assert lines(got) == ["> here", "(Pdb) ", "p 6*7", "42"]


def test_a_line_written_in_quick_pieces_stays_one_line() -> None:
    assert lines(run([b"Loading", b"...", b" done\r\n"], quiet=5.0)) == ["Loading... done"]


def test_a_final_carriage_return_at_eof_is_kept() -> None:
    assert lines(run([b"end\r"])) == ["end\r"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=6))
def test_however_it_is_split_the_text_is_the_crlf_folded_stream(
    data: bytes, cuts: list[int]
) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces: list[bytes | float] = []
    start = 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    text = "".join(c.text for c in run(pieces, quiet=5.0))
    expected = data.replace(b"\r\n", b"\n")
    if expected and not expected.endswith(b"\n"):
        expected += b"\n"
    assert text == expected.decode("utf-8", "replace")
