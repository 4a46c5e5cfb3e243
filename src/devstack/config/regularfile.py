"""Reading a file the user pointed devstack at (stack.toml, a Procfile, an env file):
a regular file, bounded in size. A FIFO would block the read forever and
``/dev/urandom`` would never end; both are refused before a byte is read.

Stdlib only: the spec cache reads its inputs with it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; OSError (FileNotFoundError...) otherwise, its ``strerror``
    saying why (also for a file that is not regular, or is larger than ``limit``)."""
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
            if size > limit:
                raise OSError(errno.EFBIG, f"larger than {limit // 1024} KiB")
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
