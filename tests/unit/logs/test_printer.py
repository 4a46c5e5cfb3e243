"""The terminal printer: formatting, colour rules, and a writer that never blocks its caller."""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import time
from collections.abc import Iterator

import pytest

from devstack.logs.chunk import LogChunk, make_chunk
from devstack.logs.printer import PALETTE, LineFormatter, Printer, colour_of

ESC = "\x1b["


def out(service: str, text: str) -> LogChunk:
    return make_chunk(service, "stdout", text, 0.0)


@pytest.fixture(autouse=True)
def no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)


def test_plain_output_is_aligned_on_the_longest_name() -> None:
    f = LineFormatter(["backend", "frontend-dev"], color=False)
    assert f.output(out("backend", "one\ntwo\n")) == ("backend       | one\nbackend       | two\n")
    assert f.output(out("frontend-dev", "x\n")) == "frontend-dev  | x\n"


def test_short_names_are_padded_to_the_devstack_label() -> None:
    f = LineFormatter(["backend"], color=False)
    assert f.output(out("backend", "text\n")) == "backend   | text\n"
    assert f.event("backend", "[start] pid 4121") == "backend   * [start] pid 4121\n"
    assert f.message("stopping the stack") == "devstack  * stopping the stack\n"


def test_multi_line_event_keeps_the_prefix_on_every_line() -> None:
    f = LineFormatter(["backend"], color=False)
    text = "[failed] exit 1\nlast lines:\n  Traceback\n"
    assert f.event("backend", text, "error") == (
        "backend   * [failed] exit 1\nbackend   * last lines:\nbackend   *   Traceback\n"
    )


def test_colour_is_by_name_not_by_position() -> None:
    a = LineFormatter(["backend", "frontend"], color=True).output(out("backend", "x\n"))
    b = LineFormatter(["frontend", "zeta", "backend"], color=True).output(out("backend", "x\n"))
    assert a.startswith(f"{ESC}{colour_of('backend')}m")
    assert a == b
    assert colour_of("backend") in PALETTE


def test_colour_is_stable_across_processes() -> None:
    import subprocess
    import sys

    code = "from devstack.logs.printer import colour_of; print(colour_of('backend'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {colour_of("backend") + "\n"}


def test_event_tag_is_bold_and_coloured_by_level() -> None:
    f = LineFormatter(["api"], color=True)
    assert f"{ESC}1;32m[healthy]{ESC}0m ok" in f.event("api", "[healthy] ok", "ok")
    assert f"{ESC}1;33m[unhealthy]{ESC}0m" in f.event("api", "[unhealthy] x", "warn")
    assert f"{ESC}1;31m[failed]{ESC}0m" in f.event("api", "[failed] x", "error")
    assert f"{ESC}1m[start]{ESC}0m" in f.event("api", "[start] pid 1", "info")


def test_without_colour_there_is_no_escape_but_the_services_own_pass_through() -> None:
    f = LineFormatter(["api"], color=False)
    service_text = f"{ESC}31mred{ESC}0m\n"
    assert f.output(out("api", service_text)) == f"api       | {service_text}"
    assert ESC not in f.event("api", "[failed] x", "error")
    assert ESC not in f.message("m", "warn")


def read_all(fd: int) -> bytes:
    data = []
    while chunk := os.read(fd, 65536):
        data.append(chunk)
    return b"".join(data)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    fds = {r, w}
    yield r, w
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def test_printer_writes_everything_in_order_to_an_fd(pipe: tuple[int, int]) -> None:
    r, w = pipe
    p = Printer(["api"], out=w, color=False)
    p.event("api", "[start] pid 1")
    p.output(out("api", "a\nb\n"))
    p.message("done", "ok")
    p.close()
    os.close(w)
    assert read_all(r).decode() == (
        "api       * [start] pid 1\napi       | a\napi       | b\ndevstack  * done\n"
    )


def test_printer_writes_to_a_file_object_without_fd() -> None:
    buf = io.BytesIO()
    p = Printer(["api"], out=buf)
    p.output(out("api", "x\n"))
    p.close()
    assert buf.getvalue() == b"api       | x\n"


class _Writes(io.BytesIO):
    """A file object without fd that counts the writer thread's writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.arrived = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        n = super().write(data)
        self.arrived.set()
        return n


def test_events_of_one_loop_iteration_wake_the_writer_once() -> None:
    """With defer_wakeups, 40 events put by the loop's thread in one iteration reach the
    output in one write (one wakeup of the writer thread), in order, none lost."""
    import asyncio

    buf = _Writes()
    p = Printer(["api"], out=buf, color=False)

    async def burst() -> None:
        p.defer_wakeups(asyncio.get_running_loop())
        for i in range(40):
            p.event("api", f"[start] {i}")
            time.sleep(0.0005)  # the GIL is free: a notified writer would write each line
        await asyncio.sleep(0)  # the wakeup runs in the next iteration
        assert await asyncio.to_thread(buf.arrived.wait, 10)

    asyncio.run(burst())
    # Once the loop has ended, a line wakes the writer directly (nothing would run a callback).
    p.message("after the loop")
    p.close()
    lines = buf.getvalue().decode().splitlines()
    assert lines == [f"api       * [start] {i}" for i in range(40)] + ["devstack  * after the loop"]
    assert buf.writes == 2


def test_no_color_wins_over_an_explicit_request(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, w = pipe
    monkeypatch.setenv("NO_COLOR", "1")
    p = Printer(["api"], out=w, color=True)
    p.event("api", "[failed] x", "error")
    p.output(out("api", "plain\n"))
    p.close()
    os.close(w)
    assert ESC.encode() not in read_all(r)


def test_auto_colour_follows_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = os.openpty()
    try:
        assert Printer(["api"], out=slave).format.color is True
        monkeypatch.setenv("NO_COLOR", "")  # empty: not set
        assert Printer(["api"], out=slave).format.color is True
        monkeypatch.setenv("NO_COLOR", "yes")
        assert Printer(["api"], out=slave).format.color is False
    finally:
        os.close(master)
        os.close(slave)


def test_auto_colour_is_off_for_a_pipe(pipe: tuple[int, int]) -> None:
    p = Printer(["api"], out=pipe[1])
    assert p.format.color is False
    p.close()


MARKER = re.compile(r"^api {7}\* \[(\d+) lines? not shown, see: devstack logs api\]$")


def test_a_stalled_reader_never_blocks_output_and_dropped_lines_are_counted(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    p = Printer(["api"], out=w, color=False, max_queue_bytes=64 * 1024)
    sent = 0
    started = time.monotonic()
    # Far more than the pipe (64 KiB) and the queue hold, while nobody reads.
    for i in range(2000):
        p.output(out("api", "".join(f"n{i:05d}-{j:02d} {'x' * 40}\n" for j in range(10))))
        sent += 10
    # Events are never dropped, even when the queue is over its bound.
    p.event("api", "[still here]")
    assert time.monotonic() - started < 30  # it returned: no blocking on a full pipe
    assert p.dropped_total > 0

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(r)))
    reader.start()
    p.output(out("api", "after the stall\n"))
    sent += 1
    p.close()
    os.close(w)
    reader.join(10)
    lines = got[0].decode().splitlines()

    shown = [ln for ln in lines if ln.startswith("api       | ")]
    markers = [int(m.group(1)) for ln in lines if (m := MARKER.match(ln))]
    assert markers, "no 'not shown' marker was printed"
    assert len(shown) + sum(markers) == sent
    assert "api       * [still here]" in lines
    assert lines[-1] == "api       | after the stall" or MARKER.match(lines[-1])
    # Whatever was shown is whole and in order.
    numbers = [ln.split("| ", 1)[1].split(" ")[0] for ln in shown if "after" not in ln]
    assert numbers == sorted(numbers)
    assert all(ln.endswith("x" * 40) for ln in shown[:-1])


def test_a_marker_comes_even_if_the_service_goes_quiet(pipe: tuple[int, int]) -> None:
    r, w = pipe
    p = Printer(["api"], out=w, color=False, max_queue_bytes=100)
    p.output(out("api", "a" * 90 + "\n"))
    p.output(out("api", "b" * 90 + "\n"))  # over the bound while the first is queued or written
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(r)))
    reader.start()
    p.close()
    os.close(w)
    reader.join(10)
    lines = got[0].decode().splitlines()
    dropped = sum(int(m.group(1)) for ln in lines if (m := MARKER.match(ln)))
    shown = [ln for ln in lines if "| " in ln]
    assert len(shown) + dropped == 2


def test_a_closed_reader_does_not_crash_the_printer(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.close(r)
    p = Printer(["api"], out=w, color=False)
    for _ in range(100):
        p.output(out("api", "x\n"))
    p.event("api", "[still fine]")
    p.close()
    assert p.broken
    p.output(out("api", "after close is ignored\n"))


def test_default_output_is_stdout_even_without_a_file_descriptor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = Printer(["api"])  # capsys replaces sys.stdout with a stream that has no fd
    p.output(out("api", "to stdout\n"))
    p.close()
    assert capsys.readouterr().out == "api       | to stdout\n"
