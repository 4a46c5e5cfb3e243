"""The control server: a same-user Unix socket inside the supervisor's event loop.

Safety (supervisord's CVE-2017-11610 is the lesson): the socket is created under a
umask that makes it 0600 from its first instant, in the 0700 ``.devstack`` directory;
a peer of another uid is refused and logged; verbs come from an allowlist, service
names are checked against the stack, a request line is bounded and an idle
connection is closed. Nothing received is passed to a shell or evaluated. No TCP.

Peer credentials: Linux ``SO_PEERCRED``; macOS/BSD ``LOCAL_PEERCRED`` when the
socket module has it. Elsewhere the check is the socket file itself (0600 in a 0700
directory owned by us, verified after bind): only our uid (and root) can connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import errno
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.control import protocol as p
from devstack.control.seam import StackControl
from devstack.errors import DevstackError, UsageError
from devstack.paths import StatePaths, make_private_dir, recorded_pid
from devstack.spec import copies_of, expand_names, group_of, known_names

if TYPE_CHECKING:
    from devstack.logs.chunk import LogChunk
    from devstack.logs.hub import LogSubscription
    from devstack.procs.terminal import Attachment

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 10.0  # seconds without a complete request
_FOLLOW_POLL = 1.0  # how often a follower's connection is checked for a hang-up
_BATCH_TICK = 0.1  # seconds: a rate-bounded follower gets at most one reply a tick
_BURST_SECONDS = 10  # a rate-bounded follower's lines saved while quiet, in seconds of rate


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end, or None where the platform cannot say."""
    if hasattr(socket, "SO_PEERCRED"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return int(uid)
    local_peercred = getattr(socket, "LOCAL_PEERCRED", None)
    if local_peercred is not None:
        # struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }
        raw = sock.getsockopt(0, local_peercred, struct.calcsize("2I h 16I"))
        _version, uid = struct.unpack_from("2I", raw)
        return int(uid)
    return None


def _is_live(path: Path) -> bool:
    """Something accepts connections on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            return False
    return True


def _is_supervisor(pid: int) -> bool:
    """``pid`` is alive and is a devstack supervisor (not a reused pid of another program)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return any("devstack" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def remove_stale(paths: StatePaths) -> bool:
    """Remove the socket and pid file a dead supervisor left; True if anything was removed.

    Never removes a socket that still accepts connections, nor anything while the
    recorded pid is a live devstack supervisor.
    """
    pid = recorded_pid(paths.pid_file)
    if pid is not None and pid != os.getpid() and _is_supervisor(pid):
        return False
    location = Path(p.socket_location(paths.dir))
    if _is_live(location):
        return False
    removed = False
    for path in {location, paths.socket, paths.pid_file, paths.dir / p.SOCKET_PATH_FILE}:
        try:
            if path.is_socket() or path.is_file():
                path.unlink()
                removed = True
        except OSError as exc:
            log.debug("could not remove stale %s: %s", path, exc)
    return removed


def _choose_path(paths: StatePaths) -> Path:
    """The socket path: .devstack/devstack.sock, or the short fallback when too long."""
    record = paths.dir / p.SOCKET_PATH_FILE
    default = Path(p.default_socket(paths.dir))
    if p.fits(default):
        record.unlink(missing_ok=True)
        return default
    short = Path(p.short_socket(os.fspath(paths.root.resolve())))
    make_private_dir(short.parent)
    old = os.umask(0o077)
    try:
        record.write_text(f"{short}\n")
    finally:
        os.umask(old)
    log.info("socket path %s is too long; using %s", default, short)
    return short


def _bind(path: Path) -> socket.socket:
    if path.exists() or path.is_symlink():
        if _is_live(path):
            raise DevstackError(
                f"a stack is already running here (its socket {path} answers)",
                hint="use devstack ps / devstack down, or run this in another directory",
            )
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # 0177: the socket is 0600 from the instant bind() creates it, never wider.
    old = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise DevstackError(f"cannot create the control socket {path}: {exc}") from None
    finally:
        os.umask(old)
    info = path.lstat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        sock.close()
        raise DevstackError(f"the control socket {path} is not private to you after bind")
    sock.listen(64)
    sock.setblocking(False)
    return sock


class ControlServer:
    """The running server; ``await close()`` stops it and removes the socket."""

    def __init__(
        self, control: StackControl, path: Path, idle_timeout: float, max_line: int
    ) -> None:
        self.control = control
        self.path = path
        self.idle_timeout = idle_timeout
        self.max_line = max_line
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.BaseTransport] = set()

    async def _start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            # limit: readuntil() refuses a line past max_line instead of buffering it.
            reader = asyncio.StreamReader(limit=self.max_line + 1)
            return _Protocol(reader, self._handle, self._transports)

        self._server = await loop.create_unix_server(protocol, sock=sock)

    async def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        # A connection accepted just now may have a handler that never ran its first step,
        # or a transport still being made: let those steps run, then close what is open.
        for _ in range(3):
            await asyncio.sleep(0)
            for transport in list(self._transports):
                transport.close()
        await server.wait_closed()
        with contextlib.suppress(OSError):
            self.path.unlink()

    # --- one connection -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            if self._is_allowed(writer):
                await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            # close() at shutdown: the connection ends here. Not re-raised: asyncio's
            # stream callback would print a CancelledError traceback for the task.
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _is_allowed(self, writer: asyncio.StreamWriter) -> bool:
        sock = writer.get_extra_info("socket")
        try:
            uid = peer_uid(sock)
        except OSError as exc:
            log.warning("control socket: cannot read the peer's credentials (%s): refused", exc)
            return False
        if uid is None or uid == os.getuid():
            return True
        log.warning(
            "control socket: refused a connection from uid %d (not uid %d)", uid, os.getuid()
        )
        return False

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    line = await reader.readuntil(b"\n")
            except TimeoutError:
                log.info("control socket: idle connection closed after %ss", self.idle_timeout)
                await self._send(writer, p.fail("idle connection closed", kind=p.REFUSED))
                return
            except asyncio.LimitOverrunError:
                # Close without reading the rest: the bound holds whatever the client sends.
                await self._send(
                    writer,
                    p.fail(f"request longer than {self.max_line} bytes", kind=p.REFUSED),
                )
                return
            except asyncio.IncompleteReadError:
                return  # hung up (possibly mid-line)
            try:
                request = p.decode_request(line, self.max_line)
                p.check_args(request)
                if request.cmd == "logs":
                    await self._logs(request, reader, writer)
                    return
                if request.cmd == "attach":
                    await self._attach(request, reader, writer)
                    return
                if request.cmd == "watch":
                    await self._watch(reader, writer)
                    return
                reply = await self._dispatch(request)
            except p.ProtocolError as exc:
                reply = p.fail(exc.message, exc.hint, exc.kind)
            except DevstackError as exc:
                reply = p.fail(exc.message, exc.hint, "failed")
            await self._send(writer, reply)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, reply: p.Reply) -> None:
        writer.write(p.encode_reply(reply))
        await writer.drain()

    def _names(self, request: p.Request) -> list[str]:
        """The request's service names, each one checked against the stack; a replicated
        service's name stands for its copies (``worker``: ``worker.1``, ``worker.2``...)."""
        known = self.control.service_names()
        names = expand_names(known, p.arg_names(request))
        for name in names:
            if name not in known:
                shown = repr(name)[:80]
                close = difflib.get_close_matches(name, known_names(known), n=1)
                hint = f"did you mean {close[0]}?" if close else f"services: {', '.join(known)}"
                raise p.ProtocolError(f"no service named {shown}", hint=hint, kind=p.USAGE)
        return names

    def _replicated(self, name: str) -> None:
        """``name`` is a service with replicas; else a usage error that says what to do."""
        known = self.control.service_names()
        if copies_of(known, name):
            return
        shown = repr(name)[:80]
        if name in known:
            raise p.ProtocolError(
                f"{shown} has no replicas: only a service with replicas is scaled",
                hint=f"write replicas = 1 in [services.{group_of(name)}] and restart the stack",
                kind=p.USAGE,
            )
        groups = [n for n in known_names(known) if copies_of(known, n)]
        close = difflib.get_close_matches(name, groups, n=1)
        hint = (
            f"did you mean {close[0]}?"
            if close
            else "services with replicas: " + (", ".join(groups) or "none")
        )
        raise p.ProtocolError(f"no service with replicas named {shown}", hint=hint, kind=p.USAGE)

    async def _dispatch(self, request: p.Request) -> p.Reply:
        control = self.control
        cmd = request.cmd
        # An explicit table: nothing received is ever looked up as an attribute.
        if cmd == "hello":
            return p.ok(
                {"protocol": p.VERSION, **control.status(), "services": control.service_names()}
            )
        if cmd == "status":
            return p.ok(control.status())
        if cmd == "ps":
            return p.ok(control.ps())
        if cmd == "restart":
            names = self._names(request)
            with_dependents = p.arg_bool(request, "with_dependents")
            return p.ok(await control.restart(names, with_dependents))
        if cmd == "stop":
            return p.ok(await control.stop(self._names(request)))
        if cmd == "start":
            return p.ok(await control.start(self._names(request)))
        if cmd == "down":
            await control.down(force=p.arg_bool(request, "force"))
            return p.ok(None)
        if cmd == "scale":
            name, count = p.scale_args(request)
            self._replicated(name)
            return p.ok(await control.scale(name, count))
        if cmd in ("input", "resize", "detach"):
            raise p.ProtocolError(f"{cmd}: only on a connection that attached", kind=p.USAGE)
        raise p.ProtocolError(f"unknown command {cmd!r}")  # unreachable: decode checks

    async def _logs(
        self, request: p.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        args = p.logs_args(request)
        asked = set(args.names)
        names = self._names(request) or self.control.service_names()
        wanted = set(names)
        if not args.follow:
            for chunk in self.control.log_history(names, args.n, args.since):
                writer.write(p.encode_reply(p.ok(p.chunk_result(chunk))))
                await writer.drain()
            await self._send(writer, p.ok({"end": True}))
            return
        # Subscribe, then read the history in the same loop turn (no await between):
        # every chunk is either in the history or in the queue; the ones in both are
        # dropped from the queue by identity. No gap, no duplicate.
        sub = self.control.subscribe_logs()
        try:
            history = self.control.log_history(names, args.n, args.since)
            seen = {id(c) for c in history}
            keep = history  # holds the objects so their ids stay unique while compared
            for chunk in history:
                writer.write(p.encode_reply(p.ok(p.chunk_result(chunk))))
                await writer.drain()

            def wanted_chunk(chunk: LogChunk) -> bool:
                if id(chunk) in seen:
                    seen.discard(id(chunk))
                    return False
                if chunk.service not in wanted and not _added_copy(chunk.service, asked):
                    return False
                return args.since is None or chunk.time >= args.since

            if args.rate is None:
                await self._follow_all(sub, wanted_chunk, reader, writer)
            else:
                await self._follow_bounded(sub, wanted_chunk, args.rate, reader, writer)
            del keep
        finally:
            self.control.unsubscribe_logs(sub)

    async def _follow_all(
        self,
        sub: LogSubscription,
        wanted: Callable[[LogChunk], bool],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Every chunk, one reply each (``logs -f``); what queued meanwhile is written
        together and drained once."""
        dropped = 0
        while not reader.at_eof():
            try:
                async with asyncio.timeout(_FOLLOW_POLL):
                    chunks = [await sub.get()]
            except TimeoutError:
                continue
            while not sub.empty():
                chunks.append(sub.get_nowait())
            if sub.dropped_lines != dropped:
                lost, dropped = sub.dropped_lines - dropped, sub.dropped_lines
                writer.write(p.encode_reply(p.ok({"dropped": lost})))
            writer.writelines(p.encode_reply(p.ok(p.chunk_result(c))) for c in chunks if wanted(c))
            await writer.drain()

    async def _follow_bounded(
        self,
        sub: LogSubscription,
        wanted: Callable[[LogChunk], bool],
        rate: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """At most one reply a tick, with at most ``rate`` lines a second of each
        service over time (bursts of up to ``_BURST_SECONDS`` of them; of a flood the
        newest) and the count of the lines left out (the dashboard)."""
        from devstack.logs.thinning import LineBudget

        loop = asyncio.get_running_loop()
        budget = LineBudget(rate, rate * _BURST_SECONDS)
        dropped = 0
        sent = -_BATCH_TICK
        while not reader.at_eof():
            chunks: list[LogChunk] = []
            if sub.empty():  # quiet: wait for a line (a flood never waits here)
                try:
                    async with asyncio.timeout(_FOLLOW_POLL):
                        chunks.append(await sub.get())
                except TimeoutError:
                    continue
                wait = sent + _BATCH_TICK - loop.time()
                if wait > 0:  # what comes before the tick ends goes in the same reply
                    await asyncio.sleep(wait)
            while not sub.empty():
                chunks.append(sub.get_nowait())
            sent = loop.time()
            kept, skipped = budget.take([c for c in chunks if wanted(c)], sent)
            skipped += sub.dropped_lines - dropped
            dropped = sub.dropped_lines
            if kept or skipped:
                writer.write(p.encode_reply(p.ok(p.batch_result(kept, skipped))))
                await writer.drain()
            await asyncio.sleep(_BATCH_TICK)  # one wake-up a tick while it floods

    async def _attach(
        self, request: p.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """The connection becomes the service's terminal until either side ends it."""
        args = p.attach_args(request)
        # A service with replicas: its first copy (as `exec`); a copy's name: that copy.
        name = self._names(p.Request("attach", {"names": [args.name]}))[0]
        try:
            attachment = self.control.attach(name, args.rows)
        except UsageError as exc:  # not interactive
            await self._send(writer, p.fail(exc.message, exc.hint, p.USAGE))
            return
        if args.rows is not None and args.cols is not None:
            attachment.resize(args.rows, args.cols)
        try:
            await self._send(writer, p.ok({"attached": name}))
            if attachment.screen:
                await self._send(writer, p.ok({"output": p.encode_bytes(attachment.screen)}))
            keys = asyncio.ensure_future(self._attached_keys(attachment, reader, writer))
            output = asyncio.ensure_future(self._attached_output(attachment, writer))
            try:
                await asyncio.wait([keys, output], return_when=asyncio.FIRST_COMPLETED)
            finally:
                keys.cancel()
                output.cancel()
                await asyncio.gather(keys, output, return_exceptions=True)
            attachment.detach()  # a no-op when it ended otherwise (taken over, process gone)
            if not writer.is_closing():
                await self._send(writer, p.ok({"end": True, "reason": attachment.reason}))
        finally:
            attachment.detach()

    async def _attached_keys(
        self, attachment: Attachment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """``input`` / ``resize`` requests until ``detach`` or the client hangs up."""
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            try:
                request = p.decode_request(line, self.max_line)
                p.check_args(request)
                if request.cmd == "input":
                    attachment.write(p.input_data(request))
                elif request.cmd == "resize":
                    attachment.resize(*p.resize_args(request))
                elif request.cmd == "detach":
                    return
                else:
                    raise p.ProtocolError(
                        f"{request.cmd}: not while attached (input, resize, detach)", kind=p.USAGE
                    )
            except p.ProtocolError as exc:
                # Written, not drained: the output task is the one that waits on the socket.
                writer.write(p.encode_reply(p.fail(exc.message, exc.hint, exc.kind)))

    @staticmethod
    async def _attached_output(attachment: Attachment, writer: asyncio.StreamWriter) -> None:
        """The service's output to the client, until the attachment ends."""
        while True:
            data = await attachment.queue.get()
            # What else is queued goes in the same reply.
            while data is not None and not attachment.queue.empty():
                more = attachment.queue.get_nowait()
                if more is None:
                    attachment.queue.put_nowait(None)
                    break
                data += more
            if data is None:
                return
            await ControlServer._send(writer, p.ok({"output": p.encode_bytes(data)}))

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Every service's state row, then each changed one as it changes, until the
        client hangs up. A slow client holds at most one pending name per service."""
        control = self.control
        feed = control.subscribe_states()
        try:
            rows = [control.state_row(n) for n in control.service_names()]
            await self._send(writer, p.ok({"states": rows}))
            while not reader.at_eof():
                try:
                    async with asyncio.timeout(_FOLLOW_POLL):
                        names = await feed.get()
                except TimeoutError:
                    continue
                for name in names:
                    writer.write(p.encode_reply(p.ok({"state": control.state_row(name)})))
                await writer.drain()
        finally:
            control.unsubscribe_states(feed)


def _added_copy(service: str, asked: set[str]) -> bool:
    """``service`` is a copy (``devstack scale`` added it since the follow began) of a
    service asked for, or every service was."""
    group = group_of(service)
    return group != service and (not asked or group in asked)


class _Protocol(asyncio.StreamReaderProtocol):
    """A stream protocol that keeps the set of open transports (closed by ``close()``)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        transports: set[asyncio.BaseTransport],
    ) -> None:
        super().__init__(reader, handle)
        self._open = transports
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._open.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._open.discard(self._transport)
        super().connection_lost(exc)


async def serve(
    control: StackControl,
    paths: StatePaths,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    max_line: int = p.MAX_LINE,
) -> ControlServer:
    """Create ``.devstack`` (0700, or check the existing one) and serve the control socket.

    Raises ``UnsafeStateDir`` naming the path when ``.devstack`` is a symlink, another
    user's or open to others, and ``DevstackError`` when a live stack already answers.
    """
    paths.prepare()
    path = _choose_path(paths)
    try:
        sock = _bind(path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise DevstackError(
                f"the control socket path {path} is longer than {p.SOCKET_PATH_MAX} bytes"
            ) from None
        raise
    server = ControlServer(control, path, idle_timeout, max_line)
    try:
        await server._start(sock)
    except BaseException:
        sock.close()
        raise
    return server
