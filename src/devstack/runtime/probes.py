"""Health probes: http, tcp, cmd and log, each returning a ``ProbeResult``.

The probe reports, the service decides: nothing here knows about services, states
or retries. Every ``detail`` is one self-contained line that starts with what was
probed, so the caller can print it as is::

    GET http://127.0.0.1:5000/api/health -> 200
    GET http://127.0.0.1:5000/api/health -> 500 (expected 2xx/3xx)
    GET http://127.0.0.1:5000/api/health: connection refused
    connect 127.0.0.1:5000: timed out after 1s
    cmd `pg_isready`: exit 1: no response
    log /Ready in/: matched: Ready in 2.1s

httpx is slow to import, so it is imported only when an http probe is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import re
import shlex
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from devstack.errors import ConfigError
from devstack.spec import HealthSpec

if TYPE_CHECKING:
    import httpx

# A detail is one line; a runaway last line of output must not flood the terminal.
MAX_DETAIL_OUTPUT = 200
# Only the tail of a probe command's output is read: it holds the last line.
OUTPUT_TAIL_BYTES = 4096
# After the group is SIGKILLed, how long to wait for it to be reaped.
KILL_REAP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe saw."""

    ok: bool
    detail: str  # one line, starting with what was probed
    latency: float  # seconds the probe took
    status: int | None = None  # http: the status answered, if any


class Probe(Protocol):
    async def run(self) -> ProbeResult: ...

    def describe(self) -> str: ...


def format_seconds(seconds: float) -> str:
    """``1`` -> "1s", ``0.25`` -> "0.25s": durations as users write them."""
    return f"{seconds:g}s"


def describe_error(exc: BaseException) -> str:
    """A short lower-case reason for a failed connection, from the cause chain.

    httpx wraps httpcore which wraps the OSError; the errno is what users recognise.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset"
        if isinstance(current, OSError) and current.errno is not None:
            return (current.strerror or errno.errorcode.get(current.errno, "error")).lower()
        current = current.__cause__ or current.__context__
    text = str(exc).strip().splitlines()
    if text and text[0]:
        return one_line(text[0])
    return type(exc).__name__


def one_line(text: str, limit: int = MAX_DETAIL_OUTPUT) -> str:
    """Collapse whitespace runs and cut to ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        return flat[: limit - 3] + "..."
    return flat


def last_line(output: bytes) -> str:
    """The last non-blank line of some output, decoded leniently, shortened."""
    for line in reversed(output.decode("utf-8", errors="replace").splitlines()):
        if line.strip():
            return one_line(line)
    return ""


def status_ok(status: int, expect_status: tuple[int, ...]) -> bool:
    """Empty ``expect_status`` means any 2xx or 3xx (redirects are not followed)."""
    if expect_status:
        return status in expect_status
    return 200 <= status < 400


def _expected_text(expect_status: tuple[int, ...]) -> str:
    if not expect_status:
        return "2xx/3xx"
    return ", ".join(str(s) for s in expect_status)


class HttpProbe:
    """GET a URL with a shared client; healthy on an expected status.

    Redirects are not followed and the body is not read (a streaming endpoint
    must not hold the probe). ``timeout`` bounds the whole probe, not each phase.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        expect_status: tuple[int, ...] = (),
        client: httpx.AsyncClient,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.expect_status = expect_status
        self.client = client
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # A bare connect to the URL's port, which no server logs (None: no host in the URL).
        self._connect = TcpProbe(parts.hostname, port, timeout=timeout) if parts.hostname else None

    def describe(self) -> str:
        return f"GET {self.url}"

    async def run(self) -> ProbeResult:
        started = time.monotonic()
        ok, detail, status = await self._get()
        return ProbeResult(ok, detail, time.monotonic() - started, status)

    async def accepts(self) -> ProbeResult:
        """Only connect to the URL's host and port and close: ok once the port accepts.

        Unlike a request, this leaves no line in the app's access log, so a starting
        service can be asked this often. Its detail reads as the request's would.
        """
        if self._connect is None:
            return ProbeResult(True, self.describe(), 0.0)
        started = time.monotonic()
        ok, reason = await self._connect.reach()
        return ProbeResult(ok, f"{self.describe()}: {reason}", time.monotonic() - started)

    async def _get(self) -> tuple[bool, str, int | None]:
        import httpx  # already loaded: the client exists

        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream(
                    "GET", self.url, timeout=self.timeout, follow_redirects=False
                ) as response:
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return (
                False,
                f"{self.describe()}: timed out after {format_seconds(self.timeout)}",
                None,
            )
        except (httpx.HTTPError, OSError) as exc:
            return False, f"{self.describe()}: {describe_error(exc)}", None
        if status_ok(status, self.expect_status):
            return True, f"{self.describe()} -> {status}", status
        expected = _expected_text(self.expect_status)
        return False, f"{self.describe()} -> {status} (expected {expected})", status


class TcpProbe:
    """Healthy when a TCP connection to host:port is accepted."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        try:  # an IP literal takes a bare socket; a name is resolved by asyncio each time
            version = ipaddress.ip_address(host).version
            self._family: socket.AddressFamily | None = (
                socket.AF_INET6 if version == 6 else socket.AF_INET
            )
        except ValueError:
            self._family = None

    def describe(self) -> str:
        return f"tcp {_host_port(self.host, self.port)}"

    async def run(self) -> ProbeResult:
        started = time.monotonic()
        ok, detail = await self.reach()
        where = f"connect {_host_port(self.host, self.port)}"
        return ProbeResult(ok, f"{where}: {detail}", time.monotonic() - started)

    async def reach(self) -> tuple[bool, str]:
        """Connect and close: (True, "open") or (False, why not)."""
        try:
            await self._connect()
        except TimeoutError:
            return False, f"timed out after {format_seconds(self.timeout)}"
        except OSError as exc:
            return False, describe_error(exc)
        return True, "open"

    async def _connect(self) -> None:
        """Connect and close; OSError when refused, TimeoutError past the timeout."""
        if self._family is None:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
            writer.close()
            # A reset while closing is fine: the connection was accepted.
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        # A bare non-blocking socket, connected here. On loopback the answer is there
        # when connect returns "in progress": a refusal (the usual answer while a
        # service starts) is already in SO_ERROR, and most accepted connects are
        # already established. Only the rest waits on the loop. ~a tenth of
        # loop.sock_connect's cost, which matters at 50 probes/s while starting.
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            error = sock.connect_ex((self.host, self.port))
            if error == errno.EINPROGRESS:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if not error and not _established(sock):
                    async with asyncio.timeout(self.timeout):
                        await _writable(sock)
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error))
        finally:
            sock.close()


def _established(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:  # ENOTCONN: the handshake is still on its way
        return False
    return True


async def _writable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def answered() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, answered)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


class CmdProbe:
    """Run a command (no shell); healthy on exit 0.

    The command gets its own session so that at the timeout, or if the probe is
    cancelled, its whole process group is killed and reaped. Output goes to an
    unlinked temporary file, so nothing has to drain a pipe and a grandchild that
    escaped the group cannot hold the probe open; only its tail is read.
    """

    def __init__(self, command: str, *, cwd: Path, env: Mapping[str, str], timeout: float) -> None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ConfigError.one(
                f"health command {command!r} cannot be split: {exc}",
                key_path="health.cmd",
                hint="balance the quotes in the command",
            ) from exc
        if not argv:
            raise ConfigError.one("health command is empty", key_path="health.cmd")
        self.command = command
        self.argv = argv
        self.cwd = cwd
        self.env = dict(env)
        self.timeout = timeout

    def describe(self) -> str:
        return f"cmd `{self.command}`"

    async def run(self) -> ProbeResult:
        started = time.monotonic()
        ok, detail = await self._run()
        return ProbeResult(ok, f"{self.describe()}: {detail}", time.monotonic() - started)

    async def _run(self) -> tuple[bool, str]:
        with tempfile.TemporaryFile() as output:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                )
            except FileNotFoundError:
                return False, f"command not found: {self.argv[0]} (cwd {self.cwd})"
            except PermissionError:
                return False, f"not executable: {self.argv[0]}"
            try:
                async with asyncio.timeout(self.timeout):
                    code = await proc.wait()
            except TimeoutError:
                # The finally below kills and reaps; say what was seen last.
                tail = _read_tail(output)
                said = f"; last output: {tail}" if tail else ""
                return False, f"timed out after {format_seconds(self.timeout)}, killed{said}"
            finally:
                if proc.returncode is None:
                    _kill_group(proc.pid)
                    # Reaped even when we were cancelled: no zombie is left behind.
                    async with asyncio.timeout(KILL_REAP_TIMEOUT):
                        await proc.wait()
            tail = _read_tail(output)
        if code == 0:
            return True, "exit 0"
        reason = f"exit {code}" if code > 0 else f"killed by {_signal_name(-code)}"
        return False, f"{reason}: {tail}" if tail else reason


def _read_tail(output: IO[bytes]) -> str:
    fileno = output.fileno()
    size = os.fstat(fileno).st_size
    data = os.pread(fileno, OUTPUT_TAIL_BYTES, max(0, size - OUTPUT_TAIL_BYTES))
    return last_line(data)


def _kill_group(pid: int) -> None:
    """SIGKILL the probe's group (it is its own session leader, so pgid == pid)."""
    # Already gone (ESRCH), or on macOS a group of only zombies (EPERM).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class LogProbe:
    """Healthy once a line of the service's output matches ``pattern``.

    The caller feeds it whole lines; the pattern is searched in each line on its
    own (so it never matches across two lines). ``reset`` forgets the match when
    the service restarts.
    """

    def __init__(self, pattern: str) -> None:
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise ConfigError.one(
                f"health log pattern /{pattern}/ is not a valid regular expression: {exc}",
                key_path="health.log",
            ) from exc
        self.pattern = pattern
        self.matched: str | None = None

    def describe(self) -> str:
        return f"log /{self.pattern}/"

    def feed(self, text: str) -> None:
        if self.matched is not None:
            return  # cheap once matched: the service may log a lot
        for line in text.splitlines():
            if self.regex.search(line):
                self.matched = line
                return

    def reset(self) -> None:
        self.matched = None

    async def run(self) -> ProbeResult:
        if self.matched is None:
            return ProbeResult(False, f"{self.describe()}: no matching line yet", 0.0)
        return ProbeResult(True, f"{self.describe()}: matched: {one_line(self.matched)}", 0.0)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_host_port(target: str) -> tuple[str, int]:
    """ "127.0.0.1:5000" or "[::1]:5000" -> (host, port); ConfigError otherwise."""
    host, sep, port_text = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError.one(
            f"health tcp target {target!r} is not host:port",
            key_path="health.tcp",
            hint='write it as "127.0.0.1:5000"',
        )
    return host, int(port_text)


def http_client() -> httpx.AsyncClient:
    """The client probes share: no proxies from the environment, no redirects."""
    import httpx

    return httpx.AsyncClient(trust_env=False, follow_redirects=False)


def make_probe(
    health: HealthSpec,
    *,
    cwd: Path,
    env: Mapping[str, str],
    client_factory: Callable[[], httpx.AsyncClient],
) -> Probe:
    """The probe a health spec describes. ``client_factory`` is called for http only."""
    if health.kind == "http":
        return HttpProbe(
            health.target,
            timeout=health.timeout,
            expect_status=health.expect_status,
            client=client_factory(),
        )
    if health.kind == "tcp":
        host, port = parse_host_port(health.target)
        return TcpProbe(host, port, timeout=health.timeout)
    if health.kind == "cmd":
        return CmdProbe(health.target, cwd=cwd, env=env, timeout=health.timeout)
    if health.kind == "log":
        return LogProbe(health.target)
    raise ConfigError.one(f"unknown health probe kind {health.kind!r}", key_path="health")
