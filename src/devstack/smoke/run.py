"""Sending the ``[[smoke]]`` requests and reading the running stack (the I/O half).

Requests go out with httpx, without the environment's proxies (``trust_env=False``:
an ``HTTP_PROXY`` must not carry a loopback request elsewhere) and without
following redirects. The stack's ``ps`` rows and log lines come over the control
socket, like ``devstack ps`` and ``devstack logs``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from devstack.checks.command import shown
from devstack.control.client import ControlClient, ps_rows
from devstack.errors import ConfigError, NoStackRunning
from devstack.logs.files import read_lines
from devstack.paths import StatePaths
from devstack.runtime.refusals import event_addresses, refused_addresses, url_port
from devstack.smoke import cause, judge
from devstack.smoke.result import HEALTHY_STATES, StepResult
from devstack.spec import ServiceSpec, SmokeSpec, StackSpec

# Events that open the explanation of a bad state; their indented lines follow them.
_BLOCK_HEADS = ("[check failed]", "[failed]", "[crashed]", "[not started]")
_BAD_STATES = frozenset({"failed", "blocked", "not started", "unhealthy", "crashed", "stopped"})
_BODY_KEPT = 64 * 1024
# Where a moved port may still be written: config files at the top of a service's cwd.
_CONFIG_SUFFIXES = frozenset(
    [
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".mts",
        ".json",
        ".toml",
        ".yaml",
        ".yml",
        ".ini",
        ".cfg",
        ".conf",
        ".env",
        ".py",
    ]
)
_CONFIG_MAX_BYTES = 256 * 1024
_CONFIG_MAX_FILES = 200


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None
    body: str
    error: str | None
    took: float


def send(http: httpx.Client, spec: SmokeSpec) -> Answer:
    """One request; a refused connection or a timeout is an Answer without status."""
    headers = dict(spec.headers)
    if spec.is_json:
        headers.setdefault("Content-Type", "application/json")
    t0 = time.monotonic()
    try:
        response = http.request(
            spec.method, spec.url, headers=headers, content=spec.body, timeout=spec.timeout
        )
    except httpx.ConnectError as exc:
        refused = "refused" in str(exc).lower() or "errno 111" in str(exc).lower()
        error = "connection refused" if refused else f"cannot connect: {exc}"
        return Answer(None, "", error, time.monotonic() - t0)
    except httpx.TimeoutException:
        return Answer(None, "", f"no answer within {spec.timeout:g}s", time.monotonic() - t0)
    except httpx.HTTPError as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}", time.monotonic() - t0)
    took = time.monotonic() - t0
    return Answer(response.status_code, response.text[:_BODY_KEPT], None, took)


class StackView:
    """The running stack as the control socket shows it: ps rows and log lines."""

    def __init__(self, paths: StatePaths, last_rows: Sequence[dict[str, object]] = ()) -> None:
        self.paths = paths
        # What ps said last: a supervisor with nothing left running (every service
        # blocked or failed) ends, and its story is still to be told.
        self._last = {str(r["name"]): r for r in last_rows}

    def rows(self) -> dict[str, dict[str, object]]:
        """``ps`` rows by service name; the last ones seen once the stack has ended."""
        live = ps_rows(self.paths)
        if live is not None:
            self._last = {str(r["name"]): r for r in live}
        return self._last

    def lines(self, service: str, since: float | None, streams: Sequence[str]) -> list[str]:
        """The kept lines of ``service`` since ``since`` (epoch s), of the given streams."""
        request: dict[str, object] = {
            "names": [service],
            "n": None,
            "since": since,
            "follow": False,
        }
        out: list[str] = []
        try:
            client = ControlClient.connect(self.paths, timeout=10.0)
        except NoStackRunning:  # ended: its log file is the record
            kept = read_lines(self.paths, service)
            return [x.text for x in kept if x.stream in streams and x.time >= (since or 0.0)]
        with client:
            for result in client.stream("logs", request):
                chunk = result.get("chunk") if isinstance(result, dict) else None
                if isinstance(chunk, dict) and chunk.get("stream") in streams:
                    out += str(chunk.get("text", "")).splitlines()
        return out

    def log_shows(self, service: str, text: str, since: float, timeout: float) -> bool:
        """Whether ``service`` printed a line containing ``text`` after ``since`` (polls)."""
        deadline = time.monotonic() + timeout
        while True:
            if any(text in line for line in self.lines(service, since, ("stdout", "stderr"))):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def refusals(self, service: str, since: float, timeout: float = 1.0) -> list[str]:
        """``service``'s lines since ``since`` (output and events) once one tells of a
        refused connection; all of them at ``timeout`` (its output may trail its answer)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines(service, since, ("stdout", "stderr", "event"))
            text = "\n".join(lines)
            if refused_addresses(text) or event_addresses(lines) or time.monotonic() >= deadline:
                return lines
            time.sleep(0.1)

    def explanation(self, service: str) -> list[str]:
        """The indented lines under the last event that explains a bad state (check failed...)."""
        events = self.lines(service, None, ("event",))
        for i in range(len(events) - 1, -1, -1):
            if events[i].startswith(_BLOCK_HEADS):
                block = []
                for line in events[i + 1 : i + 9]:
                    if not line.startswith(" "):
                        break
                    block.append(line.strip())
                return block
        return []


# The event that last set a service's state, as ps would name it (for a stack that ended).
_EVENT_STATES = {
    "[check failed]": ("blocked", "failed its checks: "),
    "[blocked]": ("blocked", ""),
    "[not started]": ("not started", ""),
    "[failed]": ("failed", ""),
    "[crashed]": ("crashed", ""),
    "[exited]": ("exited", None),
    "[stopped]": ("stopped", None),
    "[healthy]": ("healthy", None),
    "[unhealthy]": ("unhealthy", ""),
    "[start]": ("starting", None),
}


def state_from_events(events: Sequence[str]) -> tuple[str, str | None] | None:
    """The (state, reason) a service's event lines end in, or None if none says."""
    for line in reversed(events):
        for head, (state, prefix) in _EVENT_STATES.items():
            if line.startswith(head):
                rest = line[len(head) :].strip()
                return state, None if prefix is None or not rest else prefix + rest
    return None


def rows_from_logs(view: StackView, names: Sequence[str], since: float) -> list[dict[str, object]]:
    """ps-like rows of a stack that has already ended, from its services' log files
    (lines since ``since``, epoch s: an earlier run's are not this one's story)."""
    rows: list[dict[str, object]] = []
    for name in names:
        found = state_from_events(view.lines(name, since, ("event",)))
        if found is not None:
            rows.append({"name": name, "state": found[0], "reason": found[1]})
    return rows


def services_step(rows: Mapping[str, Mapping[str, object]]) -> StepResult:
    """The first step: every service reached a good state (but one that `up SVC` left
    out: not started is not a failure; a request to it is still explained)."""
    bad = [
        f"{name} is {row.get('state')}" + (f": {row['reason']}" if row.get("reason") else "")
        for name, row in rows.items()
        if str(row.get("state")) in _BAD_STATES and row.get("requested") is not False
    ]
    return StepResult(name="services", kind="services", failures=tuple(bad))


def run_checks(stack: StackSpec, view: StackView) -> list[StepResult]:
    """The ``services`` step, then every ``[[smoke]]`` request in order."""
    rows = view.rows()
    results = [services_step(rows)]
    with httpx.Client(trust_env=False, follow_redirects=False) as http:
        for spec in stack.smoke:
            results.append(_run_one(stack, view, http, spec))
    return _written_at(stack, results)


def _written_at(stack: StackSpec, results: list[StepResult]) -> list[StepResult]:
    """Each failed request with the file and line of its ``[[smoke]]`` (stack.toml, a
    later ``-f`` or an included file), the stack's files read only when one failed."""
    from devstack.config.layers import read_again

    if all(r.ok for r in results) or stack.file is None or stack.from_procfile:
        return results
    try:
        layered = read_again(stack)
    except ConfigError:  # edited since the stack was loaded: nothing sure to name
        return results
    out = results[:1]
    for index, result in enumerate(results[1:]):
        if not result.ok:
            file, line = layered.where(("smoke", f"[{index}]"))
            result = replace(result, file=shown(file, stack.root), line=line)
        out.append(result)
    return out


def _run_one(stack: StackSpec, view: StackView, http: httpx.Client, spec: SmokeSpec) -> StepResult:
    since = time.time()
    answer = send(http, spec)
    found = judge.failures(spec, answer.status, answer.body, answer.error)
    log = spec.log_service, spec.log_contains
    if (
        answer.status is not None
        and log[0] is not None
        and log[1] is not None
        and not view.log_shows(log[0], log[1], since - 0.05, spec.timeout)
    ):
        found.append(
            f"{log[0]}'s output shows no {log[1]!r} within {spec.timeout:g}s of the request"
        )
    chain: list[str] = []
    if found:
        rows = view.rows()
        bad = [n for n, r in rows.items() if str(r.get("state")) not in HEALTHY_STATES]
        details = {name: view.explanation(name) for name in bad}
        port = url_port(spec.url)
        owner = None if port is None else cause.owner_of(stack, port)
        seen = [] if owner is None else view.refusals(owner.name, since - 0.05)
        chain = cause.explain(
            stack, rows, spec.url, answer.status, answer.body, details, seen, where_written
        )
    return StepResult(
        name=spec.name,
        kind="request",
        method=spec.method,
        url=spec.url,
        expect_status=spec.expect_status,
        status=answer.status,
        error=answer.error,
        time=answer.took,
        failures=tuple(found),
        cause=tuple(chain),
        body=judge.body_excerpt(answer.body) if found else "",
    )


def where_written(svc: ServiceSpec, port: int) -> list[str]:
    """Where a loopback address on ``port`` is written among ``svc``'s env files and the
    config files at the top of its cwd (``next.config.js:6``), as paths from its cwd."""
    pattern = cause.port_pattern(port)
    found: list[str] = []
    for path in _config_files(svc):
        try:
            if path.stat().st_size > _CONFIG_MAX_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not pattern.search(text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                found.append(f"{shown(path, svc.cwd)}:{number}")
                break
    return found


def _config_files(svc: ServiceSpec) -> list[Path]:
    files = list(svc.env_files)
    try:
        entries = sorted(svc.cwd.iterdir())[:_CONFIG_MAX_FILES]
    except OSError:
        entries = []
    for path in entries:
        named = path.name.startswith(".env") or path.name == "Procfile"
        if (named or path.suffix in _CONFIG_SUFFIXES) and path.is_file() and path not in files:
            files.append(path)
    return files
