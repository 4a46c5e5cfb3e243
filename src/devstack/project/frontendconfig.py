"""Where a frontend's dev server sends API traffic, read from next.config.* and vite.config.*.

The files are JavaScript; they are read, never run. Comments are blanked out (strings
kept, lines kept), then each loopback URL in a string is taken when the key it is the
value of says it is a proxy target: Next's ``destination``, Vite's ``target`` or the
path key of Vite's shorthand (``'/api': 'http://localhost:8000'``), a variable later
used as one of those, or an ``env`` entry (``API_URL: 'http://...'``). A URL given as
the fallback of an environment variable (``process.env.API_URL || 'http://...'``,
``${process.env.PORT || 5328}``) carries that variable's name: when it is set, the
literal is not used. Anything the reader does not recognise is left out: a miss, never
a false target. Files are read once per content.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

CONFIG_STEMS = ("next.config", "vite.config")
CONFIG_EXTENSIONS = ("js", "mjs", "ts", "cjs", "mts")
# A loopback URL as configs write it; the port a number or ``${process.env.X || 5328}``.
LOOPBACK_URL = re.compile(
    r"(?P<scheme>https?|wss?)://(?P<host>localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):"
    r"(?:(?P<port>\d{1,5})|\$\{\s*(?:process\.env\.(?P<portvar>\w+)|[^}|?]*?)\s*(?:\|\||\?\?)\s*"
    r"(?P<fallback>\d{1,5})\s*\})"
)
_MAX_BYTES = 256 * 1024
_LOOK_BACK = 400  # characters before a URL searched for its key
_KEY = re.compile(r"""(?:(['"])(?P<quoted>[^'"\n]{1,200})\1|(?P<name>[A-Za-z_$][\w$]*))\s*:\s*""")
_ASSIGNED = re.compile(r"(?:const|let|var)\s+(?P<var>[A-Za-z_$][\w$]*)\s*=\s*$")
_ENV_FALLBACK = re.compile(r"process\.env\.(?P<var>\w+)\s*(?:\|\||\?\?)\s*$")
_SOURCE = re.compile(r"""source\s*:\s*(['"`])(?P<path>[^'"`\n]+)\1""")
_PROXY_ENTRY = re.compile(r"""(['"])(?P<path>[/^][^'"\n]*)\1\s*:\s*\{[^{}]*$""")
_PROXY_KEYS = frozenset({"destination", "target"})
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """One place the frontend's dev server sends requests: ``file``:``line`` says ``url``."""

    file: Path
    line: int
    url: str  # the string literal's text up to its end (``http://127.0.0.1:5328/api/:path*``)
    scheme: str
    host: str
    port: int
    route: str | None  # what is sent there: "/api/:path*" (a rewrite's source, a proxy key)
    key: str  # "destination", "target", "/api", or an env entry's name
    env_var: str | None = None  # the variable that, when set, replaces the literal


def config_files(folder: Path) -> list[Path]:
    return [
        folder / f"{stem}.{ext}"
        for stem in CONFIG_STEMS
        for ext in CONFIG_EXTENSIONS
        if (folder / f"{stem}.{ext}").is_file()
    ]


def proxy_targets(folder: Path) -> list[ProxyTarget]:
    """The proxy targets of the Next/Vite config files in ``folder``."""
    found: list[ProxyTarget] = []
    for path in config_files(folder):
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_size <= _MAX_BYTES:
            found += _targets(path, st.st_size, st.st_mtime_ns)
    return found


@functools.lru_cache(maxsize=32)
def _targets(path: Path, _size: int, _mtime_ns: int) -> list[ProxyTarget]:
    try:
        text = blank_comments(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []
    found = []
    for match in LOOPBACK_URL.finditer(text):
        target = _target(path, text, match)
        if target is not None:
            found.append(target)
    return found


def _target(path: Path, text: str, match: re.Match[str]) -> ProxyTarget | None:
    start = match.start()
    quote = text[start - 1] if start else ""
    if quote not in "'\"`":
        return None
    before = text[max(0, start - _LOOK_BACK) : start - 1]
    env_var = match.group("portvar")
    fallback = _ENV_FALLBACK.search(before)
    if fallback is not None:
        env_var = fallback.group("var")
        before = before[: fallback.start()]
    key = _key_of(before, text, start)
    if key is None:
        return None
    end = text.find(quote, match.end())
    url = text[start : end if end != -1 and "\n" not in text[start:end] else match.end()]
    port = int(match.group("port") or match.group("fallback"))
    route = key if key[:1] in "/^" else _route(before)
    return ProxyTarget(
        path,
        text.count("\n", 0, start) + 1,
        url,
        match.group("scheme"),
        match.group("host").strip("[]"),
        port,
        route,
        key,
        env_var,
    )


def _key_of(before: str, text: str, start: int) -> str | None:
    """The proxy key a string starting at ``start`` is the value of, or None."""
    assigned = _ASSIGNED.search(before)
    if assigned is not None:  # const backend = "http://..."; later: target: backend
        var = re.escape(assigned.group("var"))
        used = re.search(
            rf"""(?:\b(destination|target)|(['"])([/^][^'"\n]*)\2)\s*:\s*{var}\b""",
            text[start:],
        )
        if used is None:
            return None
        return used.group(1) or used.group(3)
    last = _last(_KEY, before)
    if last is None:
        return None
    between = before[last.end() :].replace("`${", "")  # `${process.env.X || 'http://...'}`
    if any(c in between for c in ",{}[];") or between.count("?") > 1:
        return None  # the key of another value
    key = last.group("quoted") or last.group("name") or ""
    if key in _PROXY_KEYS or key[:1] in "/^" or _ENV_NAME.match(key):
        return key
    return None


def _route(before: str) -> str | None:
    """The rewrite's ``source`` next to its ``destination`` (same object, written before),
    or the path key of the Vite proxy entry a ``target`` is in."""
    found = _last(_SOURCE, before)
    if found is not None:
        return found.group("path")
    entry = _PROXY_ENTRY.search(before)
    return entry.group("path") if entry else None


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 (the last one is wanted)
        pass
    return found


def blank_comments(text: str) -> str:
    """``text`` with JavaScript comments replaced by spaces (newlines kept): string
    literals, ``http://`` in them included, are left alone. A regex literal holding a
    quote may confuse it; the reader then finds less, never more than the file says."""
    out = list(text)
    i, n = 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote or (c == "\n" and quote != "`"):
                quote = ""
        elif c in "'\"`":
            quote = c
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out[i:end] = " " * (end - i)
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out[i:end] = [ch if ch == "\n" else " " for ch in text[i:end]]
            i = end
            continue
        i += 1
    return "".join(out)
