"""The log pipeline with real child processes: pump -> LogHub -> LogFile + Printer.

Reliability cases 32-36 of docs/reliability.md, each test named after its case: 32 many
lines from two services, 33 a 1 MiB line, 34 a partial last line, 35 a stalled
terminal, 36 invalid UTF-8 and ANSI escapes.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import python_cmd
from devstack.logs.hub import LogHub, pump
from devstack.logs.printer import Printer

FILE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr|event ) \| (.*)$")


async def run_service(hub: LogHub, name: str, argv: Sequence[str], timeout: float = 40) -> int:
    """Spawn one child, pump both its pipes into the hub until EOF; its exit code."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(
                pump(proc.stdout, name, "stdout", hub.output),
                pump(proc.stderr, name, "stderr", hub.output),
            )
            return await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def terminal_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").splitlines()


def file_records(path: Path) -> list[tuple[str, str]]:
    """(stream, text) of every line of a log file; fails on a malformed line."""
    records = []
    for line in path.read_text().splitlines():
        m = FILE_LINE.match(line)
        assert m, f"malformed log file line: {line[:200]!r}"
        records.append((m.group(1).strip(), m.group(2)))
    return records


LINE = re.compile(r"^(alpha|beta)(\d{6}) (stdout|stderr) x+$")


def check_numbered(texts: list[str], service: str, n: int) -> None:
    """Every line 1..n exactly once, whole, from this service only."""
    numbers = []
    for text in texts:
        m = LINE.match(text)
        assert m, f"spliced or damaged line: {text[:200]!r}"
        assert m.group(1) == service, f"{service} got a line of {m.group(1)}"
        numbers.append(int(m.group(2)))
    counts = Counter(numbers)
    assert [k for k, c in counts.items() if c > 1] == [], "duplicated lines"
    assert set(counts) == set(range(1, n + 1)), f"{n - len(counts)} lines missing"


def test_32_two_services_200000_lines_complete_unduplicated_unspliced(tmp_path: Path) -> None:
    per_service = 100_000
    term = tmp_path / "terminal.out"
    logs = tmp_path / "logs"

    async def main() -> list[int]:
        with term.open("wb") as out:
            printer = Printer(["alpha", "beta"], out=out, color=False, max_queue_bytes=1 << 30)
            hub = LogHub(printer, logs)
            try:
                return await asyncio.gather(
                    *(
                        run_service(
                            hub,
                            name,
                            python_cmd(
                                "lines",
                                per_service,
                                "--stream",
                                "both",
                                "--prefix",
                                name,
                                "--width",
                                40,
                            ),
                        )
                        for name in ("alpha", "beta")
                    )
                )
            finally:
                hub.close()
                assert printer.dropped_total == 0

    assert asyncio.run(main()) == [0, 0]

    by_service: dict[str, list[str]] = {"alpha": [], "beta": []}
    for line in terminal_lines(term):
        name, sep, text = line.partition(" | ")
        assert sep, f"not a service output line: {line!r}"
        by_service[name.strip()].append(text)
    for name, texts in by_service.items():
        check_numbered(texts, name, per_service)
        records = file_records(logs / f"{name}.log")
        check_numbered([text for _, text in records], name, per_service)
        for stream, text in records:
            assert text.split(" ")[1] == stream  # each line recorded under its own stream
        # Within one stream, lines keep their order.
        for stream in ("stdout", "stderr"):
            numbers = [int(t[len(name) : len(name) + 6]) for s, t in records if s == stream]
            assert numbers == sorted(numbers)


def test_33_a_one_mebibyte_line_without_newline_is_cut_with_a_marker(tmp_path: Path) -> None:
    term = tmp_path / "terminal.out"

    async def main() -> int:
        with term.open("wb") as out:
            hub = LogHub(Printer(["big"], out=out, color=False), tmp_path / "logs")
            try:
                return await run_service(hub, "big", python_cmd("big_line", 2**20 + 5000))
            finally:
                hub.close()

    assert asyncio.run(main()) == 0
    records = file_records(tmp_path / "logs" / "big.log")
    assert [s for s, _ in records] == ["stdout"] * 3
    assert records[0][1] == "b" * 2**20 + " [devstack: line cut at 1048576 bytes]"
    assert [t for _, t in records[1:]] == ["after-1", "after-2"]
    shown = terminal_lines(term)
    assert shown[0].endswith("b" * 1000 + " [devstack: line cut at 1048576 bytes]")
    assert shown[1:] == ["big       | after-1", "big       | after-2"]


def test_33_a_line_just_under_the_limit_is_delivered_whole(tmp_path: Path) -> None:
    async def main() -> int:
        hub = LogHub(None, tmp_path)
        try:
            return await run_service(hub, "big", python_cmd("big_line", 2**20 - 1))
        finally:
            hub.close()

    assert asyncio.run(main()) == 0
    texts = [t for _, t in file_records(tmp_path / "big.log")]
    assert texts == ["b" * (2**20 - 1), "after-1", "after-2"]


def test_34_a_last_line_without_newline_is_delivered(tmp_path: Path) -> None:
    term = tmp_path / "terminal.out"

    async def main() -> tuple[int, list[str]]:
        with term.open("wb") as out:
            hub = LogHub(Printer(["part"], out=out, color=False), tmp_path / "logs")
            try:
                code = await run_service(hub, "part", python_cmd("partial_last_line"))
                return code, hub.last_lines("part", 5)
            finally:
                hub.close()

    code, tail = asyncio.run(main())
    assert code == 0
    expected = ["line-1", "line-2", "tail-without-newline"]
    assert tail == expected
    assert [t for _, t in file_records(tmp_path / "logs" / "part.log")] == expected
    assert terminal_lines(term) == [f"part      | {t}" for t in expected]


def test_35_a_stalled_terminal_blocks_no_service_and_loses_nothing_from_the_file(
    tmp_path: Path,
) -> None:
    n = 50_000
    r, w = os.pipe()
    child_done = threading.Event()
    received: list[bytes] = []

    def slow_terminal() -> None:
        # The consumer pauses until the child has written everything and exited: a
        # deterministic stall instead of a guessed duration (reliability case 35 says 5 s).
        child_done.wait(30)
        while data := os.read(r, 65536):
            received.append(data)

    reader = threading.Thread(target=slow_terminal)
    reader.start()
    try:

        async def main() -> tuple[int, int]:
            printer = Printer(["chatty"], out=w, color=False, max_queue_bytes=32 * 1024)
            hub = LogHub(printer, tmp_path / "logs")
            try:
                code = await run_service(
                    hub, "chatty", python_cmd("lines", n, "--prefix", "alpha", "--width", 60)
                )
                # Everything is in the record before the terminal has read a byte.
                assert not received
                child_done.set()
                return code, printer.dropped_total
            finally:
                child_done.set()
                hub.close()

        code, dropped = asyncio.run(main())
    finally:
        os.close(w)
        reader.join(30)
        os.close(r)
    assert code == 0
    assert dropped > 0

    check_numbered([t for _, t in file_records(tmp_path / "logs" / "chatty.log")], "alpha", n)
    lines = b"".join(received).decode().splitlines()
    marker = re.compile(r"^chatty    \* \[(\d+) lines? not shown, see: devstack logs chatty\]$")
    not_shown = sum(int(m.group(1)) for ln in lines if (m := marker.match(ln)))
    shown = [ln.split(" | ", 1)[1] for ln in lines if " | " in ln]
    assert all(LINE.match(t) for t in shown)
    assert len(set(shown)) == len(shown)
    assert len(shown) + not_shown == n


def test_36_invalid_utf8_and_ansi_pass_without_devstack_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    term = tmp_path / "terminal.out"

    async def main() -> int:
        with term.open("wb") as out:
            printer = Printer(["bytes"], out=out, color=True)
            hub = LogHub(printer, tmp_path / "logs")
            try:
                hub.event("bytes", "[start] pid 1", "ok")
                code = await run_service(hub, "bytes", python_cmd("bad_bytes"))
                hub.event("bytes", "[exited] 0", "error")
                return code
            finally:
                hub.close()

    assert asyncio.run(main()) == 0
    shown = terminal_lines(term)
    assert shown == [
        "bytes     * [start] pid 1",
        "bytes     | bad:\ufffd\ufffd\ufffd(end",
        "bytes     | \x1b[31mred by the service\x1b[0m",
        "bytes     | split:\ufffd",
        "bytes     | done",
        "bytes     * [exited] 0",
    ]
    texts = [t for _, t in file_records(tmp_path / "logs" / "bytes.log")]
    assert texts[1:4] == [
        "bad:\ufffd\ufffd\ufffd(end",
        "\x1b[31mred by the service\x1b[0m",
        "split:\ufffd",
    ]
