"""The child's environment: where each variable comes from, and who wins.

Layers, later wins: devstack's own environment (``os.environ`` at load) < the
stack's ``env_file`` (s) < the service's ``env_file`` (s) < the service's ``env``
table < ``PORT`` (when the service declares a port). ``PYTHONUNBUFFERED=1`` is
added unless some layer set it (Python block-buffers a pipe: honcho #136, #217).
``.env`` files are read with honcho's parser (KEY=value lines, shell quoting).
An env file is a regular file of at most ``MAX_ENV_FILE`` bytes: a FIFO would block
the read forever, and ``/dev/urandom`` would never end.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from honcho.environ import parse as _honcho_parse


def parse_env(text: str) -> dict[str, str]:
    """The variables of a .env file's text."""
    parsed: dict[str, str] = _honcho_parse(text)
    return dict(parsed)


# bytes; real ones are a few KiB. honcho parses with shlex, in pure Python: a
# bigger file would take seconds to read on each load. Documented (env_file).
MAX_ENV_FILE = 256 * 1024


def read_env_file(path: Path) -> dict[str, str]:
    """The variables in ``path``; OSError (FileNotFoundError...) is the caller's to report,
    its ``strerror`` saying why (also for a file that is not regular, too big or binary)."""
    text = _read_bounded(path).decode("utf-8", errors="replace")
    if "\0" in text:
        raise OSError(errno.EINVAL, "it holds a NUL byte (a binary file?)")
    return parse_env(text)


def _read_bounded(path: Path) -> bytes:
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting;
    # fstat then refuses it (and devices) before a read could block or never end.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file (a {_kind(mode)})")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > MAX_ENV_FILE:
                raise OSError(errno.EFBIG, f"larger than {MAX_ENV_FILE // 1024} KiB")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "directory" if stat.S_ISDIR(mode) else "special file"


def merge_env(
    base: Mapping[str, str], layers: Iterable[Mapping[str, str]], port: int | None = None
) -> dict[str, str]:
    """``base`` updated by each layer in turn, then PORT and PYTHONUNBUFFERED."""
    env = dict(base)
    for layer in layers:
        env.update(layer)
    if port is not None:
        env["PORT"] = str(port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
