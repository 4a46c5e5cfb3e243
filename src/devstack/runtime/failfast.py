"""While a service starts: how often to probe, and when waiting longer cannot help (pure).

The start-up wait ends early, with the cause, instead of running out ``start_period``
when one of these holds (each is certain enough that more waiting would not change it):

- the service's own processes listen, but not where the probe looks, for
  ``LISTEN_GRACE`` seconds in which they were idle (a dev server that took another
  port, ignored ``PORT``, or bound ``localhost`` as IPv6 only). Idle: a command that
  runs two servers (``concurrently "vite" "uvicorn ..."``) listens on the first one's
  port while the second still imports, busy on the CPU;
- the http probe got the same 4xx answer ``STATUS_REPEATS`` times in a row over at
  least ``STATUS_SPAN`` seconds (a path that needs a login, or does not exist);
- the output shows a server's own fatal start-up line while a reloader keeps the
  process alive (``FATAL_LINES``): nothing changes until a file does.

No clock or I/O here: the caller passes ``now`` and what it saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devstack.runtime.crashcause import crash_cause

# While an http probe's port accepts but the request fails, the delay between requests
# doubles from start_interval up to START_BACKOFF_CAP, then grows with the time the
# requests have failed (BACKOFF_SHARE of it) up to BACKOFF_MAX: an app that answers
# errors while it warms up for a minute gets a few dozen requests, not thousands, and
# is seen ready at most a quarter of its warm-up late.
START_BACKOFF_CAP = 1.0
BACKOFF_SHARE = 0.25
BACKOFF_MAX = 5.0
# The same 4xx this many times in a row, over at least STATUS_SPAN seconds.
STATUS_REPEATS = 5
# Long enough for an app that listens first and adds its routes after an async
# set-up (a database connection, migrations).
STATUS_SPAN = 10.0
# The tree listens elsewhere (and not on the probed address) this long.
LISTEN_GRACE = 5.0
# ... while its processes used at most this share of one CPU.
IDLE_SHARE = 0.1
# How often to look where the tree listens while the probe fails.
LISTEN_CHECK_EVERY = 1.0
# A fatal line counts once the process has outlived it this long: a server without a
# reloader exits right after it, and that is a crash (the restart policy decides).
FATAL_GRACE = 1.0
# Debugger ports a process opens before its server listens (node --inspect, debugpy):
# listening there says nothing about where the server will listen.
DEBUGGER_PORTS = frozenset({"9229", "5678"})
# A client error waiting cannot fix; 408, 425 and 429 can pass by themselves.
_TRANSIENT_4XX = frozenset({408, 425, 429})

_STATUS_HINTS = {
    400: "bad request: the app refuses the request itself (Django: is 127.0.0.1 in ALLOWED_HOSTS?)",
    401: "needs a login: probe a path that needs none, or set health.expect_status = [401] "
    "if that answer means up",
    403: "forbidden: probe a path that needs no login, or set health.expect_status = [403] "
    "if that answer means up",
    404: 'no such path: set health.http to a path the app serves (e.g. "/")',
    405: "method not allowed: the probe sends GET; probe a path that answers GET",
}


def next_delay(previous: float, *, failing_for: float, start_interval: float) -> float:
    """The delay after a failed request, the requests having failed for ``failing_for``
    seconds: the last delay doubled (from start_interval, up to START_BACKOFF_CAP), or
    BACKOFF_SHARE of ``failing_for`` (up to BACKOFF_MAX), whichever is longer."""
    doubled = min(max(previous * 2, start_interval), max(START_BACKOFF_CAP, start_interval))
    return max(doubled, min(failing_for * BACKOFF_SHARE, BACKOFF_MAX))


def is_settled_4xx(status: int | None) -> bool:
    """A client error that repeating the same request will not change."""
    return status is not None and 400 <= status < 500 and status not in _TRANSIENT_4XX


def status_verdict(describe: str, status: int, times: int) -> str:
    """``GET http://.../health -> 403, 5 times in a row: forbidden: probe a path...``."""
    hint = _STATUS_HINTS.get(
        status,
        f"a client error waiting will not change: probe another path, or set "
        f"health.expect_status = [{status}] if that answer means up",
    )
    return f"{describe} -> {status}, {times} times in a row: {hint}"


def listen_verdict(addresses: list[str], port: int, host: str, declared: bool) -> str:
    """``listens on 5173, not 3000 as declared``, with the fix."""
    where = " and ".join(addresses)
    target = str(port) if all(":" not in a for a in addresses) else _host_port(host, port)
    how = "declared" if declared else "probed"
    if any(":" in a for a in addresses):
        fix = f"make it listen on {host} (e.g. --host {host}) or set host to the address it uses"
    else:
        fix = (
            f"pass the port to it (e.g. --port ${{port}}, or read PORT) "
            f"or set port = {addresses[0]}"
        )
    return f"listens on {where}, not {target} as {how}: {fix}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class StatusStreak:
    """The run of identical settled-4xx answers the http probe has seen."""

    status: int | None = None
    count: int = 0
    since: float = 0.0

    def see(self, status: int | None, now: float) -> int | None:
        """Record one answer; the status once the streak is long enough to give up."""
        if not is_settled_4xx(status):
            self.status, self.count = None, 0
            return None
        if status != self.status:
            self.status, self.count, self.since = status, 0, now
        self.count += 1
        if self.count >= STATUS_REPEATS and now - self.since >= STATUS_SPAN:
            return status
        return None


@dataclass(slots=True)
class ListenWatch:
    """How long the tree has listened only elsewhere, and how busy it was meanwhile."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (now, cpu seconds)
    next_check: float = float("-inf")

    def due(self, now: float) -> bool:
        """Time to look again: where the tree listens is a scan of the process table."""
        if now < self.next_check:
            return False
        self.next_check = now + LISTEN_CHECK_EVERY
        return True

    def see(self, elsewhere: list[str], now: float, cpu: float) -> list[str] | None:
        """``elsewhere``: where the tree listens, empty when on the probed address or
        nowhere; ``cpu``: the CPU seconds its processes have used so far. The addresses
        once that has lasted LISTEN_GRACE seconds in which the tree was idle."""
        shown = [a for a in elsewhere if a not in DEBUGGER_PORTS]
        if not shown:
            self.samples.clear()
            return None
        self.samples.append((now, cpu))
        # The newest sample at least LISTEN_GRACE old starts the window looked at.
        old = [s for s in self.samples if now - s[0] >= LISTEN_GRACE]
        if not old:
            return None
        del self.samples[: len(old) - 1]
        then, cpu_then = old[-1]
        # A process that ended takes its CPU time with it: less counts as idle.
        return shown if cpu - cpu_then <= IDLE_SHARE * (now - then) else None


@dataclass(frozen=True, slots=True)
class FatalLine:
    """A line a server prints when it cannot serve but stays alive (its reloader waits)."""

    server: str
    marker: re.Pattern[str]
    # Where the cause is: "line" (the rest of the marker line) or "traceback" (the
    # exception line of the traceback that follows the marker).
    cause: str
    # With "traceback": a frame that must be in it (it is the server's own start-up).
    frame: str = ""


FATAL_LINES: tuple[FatalLine, ...] = (
    # uvicorn (also under `uv run`): the module or attribute is not there; with --reload
    # the reloader stays up.
    FatalLine("uvicorn", re.compile(r"Error loading ASGI app\.?\s*(.*)$"), "line"),
    # uvicorn --reload: the app's import raised in the server's child process.
    FatalLine("uvicorn", re.compile(r"^Process SpawnProcess-\d+:$"), "traceback", frame="uvicorn"),
    # `python manage.py runserver`: the server's thread died (settings or an app failed
    # to import); the autoreloader keeps the process alive, never listening.
    FatalLine(
        "django runserver", re.compile(r"^Exception in thread django-main-thread:$"), "traceback"
    ),
)


@dataclass(slots=True)
class FatalLines:
    """Reads a starting service's output for one of ``FATAL_LINES``."""

    verdict: str | None = None
    _pending: FatalLine | None = None
    _after: list[str] = field(default_factory=list)
    _seen_at: float | None = None

    def settled(self, now: float) -> str | None:
        """The verdict once the process has stayed alive FATAL_GRACE seconds after it."""
        if self.verdict is None:
            return None
        if self._seen_at is None:
            self._seen_at = now
        return self.verdict if now - self._seen_at >= FATAL_GRACE else None

    def feed(self, text: str) -> None:
        if self.verdict is not None:
            return
        for line in text.splitlines():
            if self._pending is not None:
                self._after.append(line)
                self._conclude()
                if self.verdict is not None:
                    return
                continue
            for fatal in FATAL_LINES:
                found = fatal.marker.search(line)
                if found is None:
                    continue
                if fatal.cause == "line":
                    rest = found.group(1).strip() if found.groups() else ""
                    self.verdict = f"{fatal.server}: {rest or line.strip()}"
                    return
                self._pending, self._after = fatal, []
                break

    def _conclude(self) -> None:
        fatal = self._pending
        assert fatal is not None
        if len(self._after) > 400:  # not a traceback after all
            self._pending = None
            return
        cause = crash_cause(self._after, "")
        if cause is None or not any(fatal.frame in line for line in self._after):
            return
        self.verdict = f"{fatal.server}: {cause}; its reloader waits for a file change"
