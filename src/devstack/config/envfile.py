"""The child's environment: where each variable comes from, and who wins.

Layers, later wins: devstack's own environment (``os.environ`` at load) < the
stack's ``env_file`` (s) < the service's ``env_file`` (s) < the service's ``env``
table < ``PORT`` (when the service declares a port). ``PYTHONUNBUFFERED=1`` is
added unless some layer set it (Python block-buffers a pipe: honcho #136, #217).
``.env`` files are read with honcho's parser (KEY=value lines, shell quoting).
An env file is a regular file of at most ``MAX_ENV_FILE`` bytes.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from pathlib import Path

from honcho.environ import parse as _honcho_parse

from devstack.config.regularfile import read_regular_file


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
    text = read_regular_file(path, MAX_ENV_FILE).decode("utf-8", errors="replace")
    if "\0" in text:
        raise OSError(errno.EINVAL, "it holds a NUL byte (a binary file?)")
    return parse_env(text)


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
