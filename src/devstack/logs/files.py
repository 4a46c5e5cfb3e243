"""The log files: ``LogFile`` writes them (rotating by size), the rest reads them back.

One line per line of output, in ``.devstack/logs/SERVICE.log`` (rotated to
``SERVICE.log.1`` ... ``.N``, oldest last)::

    2026-11-28T12:00:00.123Z stdout | text

``devstack logs`` without a running stack, and ``verify`` after its stack has ended,
read the files through ``read_lines`` and ``follow``. Stdlib only: the client imports this.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.logs.chunk import LogChunk
    from devstack.paths import StatePaths

_FILE_LINE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z (stdout|stderr|event) *\| (.*)", re.S
)
_STAMP = "%Y-%m-%dT%H:%M:%S"
_FOLLOW_POLL = 0.2  # seconds between looks at the files


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line read back from a log file."""

    service: str
    stream: str  # "stdout" | "stderr" | "event"
    time: float  # epoch seconds
    text: str  # without its newline


def format_time(when: float) -> str:
    """UTC ISO 8601 with milliseconds: 2026-11-28T12:00:00.123Z."""
    seconds, millis = divmod(round(when * 1000), 1000)
    return time.strftime(_STAMP, time.gmtime(seconds)) + f".{millis:03d}Z"


def file_lines(chunk: LogChunk) -> bytes:
    """The chunk as log file lines: "2026-11-28T12:00:00.123Z stdout | text"."""
    prefix = f"{format_time(chunk.time)} {chunk.stream:<6} | "
    body = chunk.text[:-1].replace("\n", "\n" + prefix)
    return (prefix + body + "\n").encode("utf-8", "replace")


def parse_file_line(service: str, raw: str) -> LogLine | None:
    """One log-file line ``2026-11-28T12:00:00.123Z stdout | text`` -> LogLine."""
    match = _FILE_LINE.fullmatch(raw.rstrip("\n"))
    if match is None:
        return None
    stamp, millis, stream, text = match.groups()
    when = calendar.timegm(time.strptime(stamp, _STAMP)) + int(millis) / 1000
    return LogLine(service, stream, when, text)


def kept_services(paths: StatePaths) -> list[str]:
    """The services that have a log file, sorted."""
    try:
        files = os.listdir(paths.log_dir)
    except OSError:
        files = []
    return sorted(f.removesuffix(".log") for f in files if f.endswith(".log"))


def read_lines(paths: StatePaths, service: str) -> list[LogLine]:
    """Every kept line of ``service``: rotated backups (oldest first), then the current file."""
    current = paths.log_file(service)
    backups: list[Path] = []
    while (backup := _backup(current, len(backups) + 1)).exists():
        backups.append(backup)
    lines: list[LogLine] = []
    for path in [*reversed(backups), current]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for raw in text.splitlines():
            line = parse_file_line(service, raw)
            if line is not None:
                lines.append(line)
    return lines


def follow(paths: StatePaths, services: list[str]) -> Iterator[LogLine]:
    """New lines appended to the log files, across rotation (polling; Ctrl-C ends it)."""
    offsets: dict[str, tuple[int, int]] = {}  # service -> (inode, offset)
    pending: dict[str, str] = {}
    for name in services:
        try:
            info = os.stat(paths.log_file(name))
            offsets[name] = (info.st_ino, info.st_size)
        except OSError:
            offsets[name] = (0, 0)
    while True:
        for name in services:
            path = paths.log_file(name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            inode, offset = offsets[name]
            if info.st_ino != inode or info.st_size < offset:
                # Rotated: the rest of the old file is now .1; read it first.
                yield from _read_rest(_backup(path, 1), inode, offset, name)
                inode, offset = info.st_ino, 0
            if info.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read(info.st_size - offset)
                text = pending.pop(name, "") + data.decode("utf-8", "replace")
                *complete, rest = text.split("\n")
                if rest:
                    pending[name] = rest
                for raw in complete:
                    line = parse_file_line(name, raw)
                    if line is not None:
                        yield line
                offset = info.st_size
            offsets[name] = (inode, offset)
        time.sleep(_FOLLOW_POLL)


def _backup(current: Path, n: int) -> Path:
    return current.with_name(f"{current.name}.{n}")


def _read_rest(path: Path, inode: int, offset: int, name: str) -> Iterator[LogLine]:
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_ino != inode:
                return
            f.seek(offset)
            data = f.read()
    except OSError:
        return
    for raw in data.decode("utf-8", "replace").splitlines():
        line = parse_file_line(name, raw)
        if line is not None:
            yield line


class LogFile:
    """``.devstack/logs/SERVICE.log`` with size-based rotation (SERVICE.log.1 ... .N).

    A line is never split across two files. A file exceeds ``max_bytes`` only when a
    single line is longer than that. A write that fails (a full disk) closes the file
    and raises; the next write opens it again, and an opening that finds the file
    ending inside a line (cut by that failure, or by a killed writer of an earlier
    run) ends that line first: a record never continues a cut one.
    """

    def __init__(self, path: Path, max_bytes: int = 10 * 2**20, backups: int = 3) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be positive and backups not negative")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = -1
        self._size = 0
        self._open()

    def _open(self) -> None:
        # Read access too: the last byte says whether the file ends inside a line.
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older file may have been created wider
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                _write_all(fd, b"\n")
                size += 1
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._size = size

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def write(self, chunk: LogChunk) -> None:
        self.write_bytes(file_lines(chunk))

    def write_bytes(self, data: bytes) -> None:
        """Append complete lines, rotating between lines when the file is full.

        Raises OSError (ENOSPC...) with the file closed; the next call tries again."""
        try:
            if self._fd < 0:
                self._open()
            self._append(data)
        except OSError:
            self.close()
            raise

    def _append(self, data: bytes) -> None:
        while data:
            room = self.max_bytes - self._size
            if len(data) <= room:
                self._write_all(data)
                return
            cut = data.rfind(b"\n", 0, room) if room > 0 else -1
            if cut == -1:
                if self._size > 0:
                    self._rotate()
                    continue
                cut = data.find(b"\n")  # one line longer than max_bytes: it goes whole
                if cut == -1:
                    cut = len(data) - 1
            self._write_all(data[: cut + 1])
            data = data[cut + 1 :]
            if data:
                self._rotate()

    def _write_all(self, data: bytes) -> None:
        _write_all(self._fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for n in range(self.backups - 1, 0, -1):
                older = _backup(self.path, n)
                if older.exists():
                    os.replace(older, _backup(self.path, n + 1))
            os.replace(self.path, _backup(self.path, 1))
        self._open()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
