"""One line saying why a process died, read from its last output lines and exit status.

Pure: no I/O. Used for the ``[crashed]`` line, ``ps``'s reason and what every
dependent is told (``frontend: not started: backend crashed: ImportError: ...``).
In order: a traceback's exception line, a known server message, a shell's "command
not found" (``runtime/notfound.py``), redis' config error banner, the last line that
says the program gave up (``FATAL: lock file "postmaster.pid" already exists``), npm's
own error code and message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from devstack.runtime.notfound import parse_not_found

_TRACE_FILE = re.compile(r'^\s*File "([^"]+)", line (\d+)')
_PY_ERROR = re.compile(
    r"^(?:[\w.]+\.)?(ModuleNotFoundError|ImportError|SyntaxError|IndentationError|"
    r"NameError|AttributeError|KeyError|TypeError|ValueError|RuntimeError|"
    r"FileNotFoundError|PermissionError|OSError|ConnectionRefusedError)\b:?\s*(.*)$"
)
_TRACEBACK = "Traceback (most recent call last):"
# Any other exception line of a traceback (psycopg2.OperationalError: ..., KeyError: 'X'),
# and the socket module's lower-case ones (gaierror: a host name that does not resolve).
_ANY_EXCEPTION = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Failure|Timeout)"
    r"|socket\.(?:gaierror|herror|timeout))"
    r"(?::\s*(.*))?$"
)
# The line a program prints when it gives up: postgres' FATAL, a logger's [ERROR],
# node's "Error: ...", Go's "panic: ...". The last such line is the key line.
_KEY_LINE = re.compile(
    r"(?:^|[\s\]])\[?(FATAL|PANIC|CRITICAL|ERROR|Error|error|fatal|panic)(?:\]\s*|:\s+)(\S.*)$"
)
# redis-server's config error: a banner without a colon, the directive and the reason
# on the lines after it.
_REDIS_CONFIG = re.compile(r"^\*\*\* FATAL CONFIG FILE ERROR \(Redis [^)]*\) \*\*\*$")
# npm's own error (npm 7+: `npm error code EUSAGE`, npm 6: `npm ERR! code ...`), then
# its message on the lines after; a numeric code is a script's exit, not npm's error.
_NPM_CODE = re.compile(r"^npm (?:error|ERR!) code (E[A-Z0-9_]+)$")
_NPM_LINE = re.compile(r"^npm (?:error|ERR!)\s*(.*)$")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"address already in use|EADDRINUSE", re.I), "port already in use"),
    (re.compile(r"Failed to find attribute '([^']+)' in '([^']+)'"), "gunicorn: no {0} in {1}"),
    (re.compile(r"Error loading ASGI app\.?\s*(.*)"), "uvicorn: error loading ASGI app: {0}"),
    (re.compile(r"Cannot find module '([^']+)'"), "node: cannot find module {0}"),
)


def crash_cause(lines: Sequence[str], exit_text: str) -> str | None:
    """The most telling cause in ``lines`` (oldest first), or None when nothing stands out.

    A Python traceback wins: its exception line, with the last frame's file:line
    that is the user's own (not site-packages or the standard library).
    """
    cause = _python_error(lines)
    if cause is not None:
        return cause
    for line in reversed(lines):
        for pattern, text in _PATTERNS:
            found = pattern.search(line)
            if found:
                message = text.format(*(g.strip() for g in found.groups()))
                if text == "port already in use":
                    return f"port already in use: {line.strip()}"
                return message
    not_found = parse_not_found(lines)
    if not_found is not None:
        return not_found.describe()
    key = _redis_config_error(lines) or _key_line(lines) or _npm_error(lines)
    if key is not None:
        return key
    if exit_text in ("exit 127",):
        return "command not found (exit 127)"
    return None


def _key_line(lines: Sequence[str]) -> str | None:
    """The last line that says the program failed, from its keyword on, spaces squeezed."""
    for line in reversed(lines):
        found = _KEY_LINE.search(line.rstrip())
        if found:
            return " ".join(f"{found.group(1)}: {found.group(2)}".split())
    return None


def _redis_config_error(lines: Sequence[str]) -> str | None:
    """``FATAL CONFIG FILE ERROR: 'DIRECTIVE': REASON`` from redis' last such banner."""
    for index in range(len(lines) - 1, -1, -1):
        if not _REDIS_CONFIG.match(lines[index].strip()):
            continue
        after = [line.strip() for line in lines[index + 1 : index + 4] if line.strip()]
        directive = [line[4:] for line in after if line.startswith(">>> ")][:1]
        reason = [line for line in after if not line.startswith((">>> ", "Reading "))][:1]
        return ": ".join(["FATAL CONFIG FILE ERROR", *directive, *reason])
    return None


def _npm_error(lines: Sequence[str]) -> str | None:
    """``npm error CODE: first line of its message`` from npm's last error code line."""
    for index in range(len(lines) - 1, -1, -1):
        code = _NPM_CODE.match(lines[index].strip())
        if not code:
            continue
        for line in lines[index + 1 :]:
            text = _NPM_LINE.match(line.strip())
            if text is None:
                break
            if text[1]:
                return f"npm error {code[1]}: {text[1]}"
        return f"npm error {code[1]}"
    return None


def _python_error(lines: Sequence[str]) -> str | None:
    for index in range(len(lines) - 1, -1, -1):
        found = _PY_ERROR.match(lines[index].strip()) or _after_traceback(lines, index)
        if not found:
            continue
        kind, message = found.group(1), found.group(2).strip()
        where = _user_frame(lines[:index], kind, message)
        text = f"{kind}: {message}" if message else kind
        return f"{text} ({where})" if where else text
    return None


def _after_traceback(lines: Sequence[str], index: int) -> re.Match[str] | None:
    """The exception line of a traceback, whatever the exception's class."""
    line = lines[index]
    if line[:1].isspace() or not any(ln.startswith(_TRACEBACK) for ln in lines[:index]):
        return None
    if index == 0 or not lines[index - 1][:1].isspace():
        return None  # an exception line follows a frame's indented source line
    return _ANY_EXCEPTION.match(line.strip())


def _user_frame(before: Sequence[str], kind: str, message: str) -> str | None:
    """The last traceback frame in the user's own code, as ``file:line``."""
    if kind in ("SyntaxError", "IndentationError"):
        for line in reversed(before):
            found = _TRACE_FILE.match(line)
            if found:
                return f"{_short(found.group(1))}:{found.group(2)}"
    for line in reversed(before):
        found = _TRACE_FILE.match(line)
        if found and not _is_library(found.group(1)):
            return f"{_short(found.group(1))}:{found.group(2)}"
    return None


def _is_library(path: str) -> bool:
    return (
        "site-packages" in path
        or "dist-packages" in path
        or path.startswith("<frozen")
        or "/lib/python3" in path
    )


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]
