"""The control server on a real Unix socket, with a fake StackControl (reliability cases
23-28, 30, 31 of docs/reliability.md): modes, other uids, no TCP, hostile requests,
bounds, idle clients, long paths."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import wait_until
from devstack.control import protocol as p
from devstack.control.client import ControlClient
from devstack.control.server import ControlServer, remove_stale, serve
from devstack.errors import DevstackError, NoStackRunning, UsageError
from devstack.logs.chunk import LogChunk, make_chunk
from devstack.logs.hub import LogSubscription
from devstack.paths import StatePaths, UnsafeStateDir


class FakeControl:
    """The supervisor's side, in memory; records every call that reached it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.history: list[LogChunk] = [
            make_chunk("api", "stdout", "one", 1.0),
            make_chunk("web", "stdout", "two", 2.0),
        ]
        self.queued_on_subscribe: list[LogChunk] = []
        self.subs: list[LogSubscription] = []

    def status(self) -> dict[str, object]:
        return {"pid": os.getpid(), "started": 1.0, "stack": "demo", "file": None, "root": "/"}

    def service_names(self) -> list[str]:
        return ["api", "web"]

    def ps(self) -> list[dict[str, object]]:
        return [{"name": n, "state": "healthy"} for n in self.service_names()]

    def log_history(self, names: list[str], n: int | None, since: float | None) -> list[LogChunk]:
        self.calls.append(("log_history", names))
        return [c for c in self.history if c.service in names]

    def subscribe_logs(self) -> LogSubscription:
        sub = LogSubscription(100)
        for chunk in self.queued_on_subscribe:
            sub.offer(chunk)
        self.subs.append(sub)
        return sub

    def unsubscribe_logs(self, sub: LogSubscription) -> None:
        self.subs.remove(sub)

    def emit(self, chunk: LogChunk) -> None:
        for sub in self.subs:
            sub.offer(chunk)

    async def restart(self, names: list[str], with_dependents: bool) -> list[dict[str, object]]:
        self.calls.append(("restart", names))
        await asyncio.sleep(0.01)
        return [{"name": n, "ok": True, "took": 0.01, "message": "healthy"} for n in names]

    async def stop(self, names: list[str]) -> list[dict[str, object]]:
        self.calls.append(("stop", names))
        return [{"name": n, "ok": True, "took": 0.0, "message": "stopped"} for n in names]

    async def start(self, names: list[str]) -> list[dict[str, object]]:
        self.calls.append(("start", names))
        return [{"name": n, "ok": True, "took": 0.0, "message": "healthy"} for n in names]

    async def down(self, force: bool = False) -> None:
        self.calls.append(("down", force))


class Running:
    """A real asyncio control server in a thread of the test process."""

    def __init__(self, root: Path, control: FakeControl, **kwargs: float) -> None:
        self.root = root
        self.control = control
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: ControlServer = self.run(serve(control, StatePaths(root), **kwargs))

    def run(self, coro: object) -> ControlServer:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def start_server(root: Path, control: FakeControl, **kwargs: float) -> Running:
    """Like Running(), but the loop thread is stopped if serve() raises."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        fut = asyncio.run_coroutine_threadsafe(serve(control, StatePaths(root), **kwargs), loop)
        fut.result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    raise AssertionError("serve() was expected to fail")


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def running(tmp_path: Path, control: FakeControl) -> Iterator[Running]:
    server = Running(tmp_path, control, idle_timeout=0.5)
    try:
        yield server
    finally:
        server.close()


def raw(path: Path, data: bytes, timeout: float = 10.0) -> list[dict[str, object]]:
    """Send bytes, read reply lines until the server closes or goes quiet."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(os.fspath(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return [json.loads(line) for line in received.splitlines()]


def test_ps_status_hello_over_the_socket(running: Running) -> None:
    with ControlClient.connect(StatePaths(running.root)) as client:
        assert client.call("ps") == [
            {"name": "api", "state": "healthy"},
            {"name": "web", "state": "healthy"},
        ]
        hello = client.call("hello")
        assert isinstance(hello, dict)
        assert hello["protocol"] == 1 and hello["services"] == ["api", "web"]
        assert client.call("down", {"force": True}) is None
    assert ("down", True) in running.control.calls


def test_socket_and_dir_are_private_from_the_first_instant(
    tmp_path: Path, control: FakeControl
) -> None:
    """Reliability case 23: stat polled while the server starts never sees a wider socket."""
    sock_path = tmp_path / ".devstack" / "devstack.sock"
    seen: set[int] = set()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.add(stat.S_IMODE(sock_path.lstat().st_mode))

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        server = Running(tmp_path, control)
        wait_until(lambda: seen)
    finally:
        stop.set()
        poller.join()
    try:
        assert seen == {0o600}
        assert stat.S_IMODE((tmp_path / ".devstack").stat().st_mode) == 0o700
        assert stat.S_ISSOCK(sock_path.lstat().st_mode)
    finally:
        server.close()
    assert not sock_path.exists()  # close() removes it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_client_of_another_uid_is_refused_and_logged(
    control: FakeControl, caplog: pytest.LogCaptureFixture
) -> None:
    """Reliability case 24: nobody cannot reach the socket; with the modes opened up by hand,
    SO_PEERCRED still refuses it; the server keeps serving."""
    # pytest's tmp dirs are 0700: this test needs a root nobody can traverse to.
    root = Path(tempfile.mkdtemp(prefix="devstack-uid-"))
    os.chmod(root, 0o711)
    running = Running(root, control)
    try:
        _refuse_other_uid(running, caplog)
    finally:
        running.close()
        shutil.rmtree(root)


def _refuse_other_uid(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    path = running.server.path

    def as_nobody() -> str:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: only raw syscalls, then _exit
            try:
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                try:
                    s.connect(os.fspath(path))
                    s.sendall(b'{"v":1,"cmd":"ps","args":{}}\n')
                    out = b"reply:" + s.recv(65536)
                except OSError as exc:
                    out = f"error:{type(exc).__name__}".encode()
                os.write(w, out)
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        return data.decode()

    assert as_nobody() == "error:PermissionError"
    with caplog.at_level(logging.WARNING, logger="devstack.control.server"):
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o666)
        try:
            # Closed without an answer (a reset: the request was never read).
            assert as_nobody() in ("reply:", "error:ConnectionResetError", "error:BrokenPipeError")
        finally:
            os.chmod(path, 0o600)
            os.chmod(path.parent, 0o700)
        wait_until(lambda: "refused a connection from uid 65534" in caplog.text)
    assert running.control.calls == []
    with ControlClient.connect(StatePaths(running.root)) as client:
        assert client.call("ps")


def test_no_tcp_listener(running: Running) -> None:
    """Reliability case 25."""
    me = psutil.Process()
    conns = me.net_connections("inet") if hasattr(me, "net_connections") else me.connections("inet")
    assert [c for c in conns if c.status == psutil.CONN_LISTEN] == []
    unix = me.net_connections("unix") if hasattr(me, "net_connections") else me.connections("unix")
    assert any(c.laddr == os.fspath(running.server.path) for c in unix)


def test_hostile_requests_get_error_replies_and_reach_nothing(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reliability case 26 (CVE-2017-11610 lesson)."""
    monkeypatch.chdir(tmp_path)
    path = running.server.path
    hostile = [
        {"v": 1, "cmd": "__class__", "args": {}},
        {"v": 1, "cmd": "restart", "args": {"names": ["$(touch x)"]}},
        {"v": 1, "cmd": "restart; rm -rf ~", "args": {}},
        {"v": 1, "cmd": "logs", "args": {"names": ["../../etc/passwd"]}},
        {"v": 1, "cmd": "stop", "args": {"names": ["api"], "shell": "touch x"}},
        {"v": 1, "cmd": "ps", "args": {"__init__": {"__globals__": 1}}},
    ]
    for request in hostile:
        [reply] = raw(path, json.dumps(request).encode() + b"\n")
        assert reply["ok"] is False, request
        assert isinstance(reply["error"], dict) and reply["error"]["message"]
    with ControlClient.connect(StatePaths(running.root)) as client:
        with pytest.raises(UsageError, match="no service named '\\$\\(touch x\\)'"):
            client.call("restart", {"names": ["$(touch x)"]})
        with pytest.raises(UsageError, match="no service named 'apj'") as info:
            client.call("stop", {"names": ["apj"]})
        assert info.value.hint == "did you mean api?"
        assert client.call("ps")
    assert not (tmp_path / "x").exists()
    assert running.control.calls == []


def test_garbage_huge_line_unknown_verb_wrong_version(running: Running) -> None:
    """Reliability case 27: an error reply each, memory bounded, the next request served."""
    path = running.server.path
    rss = psutil.Process().memory_info().rss
    for data, expected in [
        (b"\x00\xffgarbage{{{\n", "not a JSON line"),
        (b'{"v":1,"cmd":"reboot","args":{}}\n', "unknown command 'reboot'"),
        (b'{"v":7,"cmd":"ps","args":{}}\n', "unsupported protocol version 7"),
    ]:
        [reply] = raw(path, data)
        assert expected in reply["error"]["message"]  # type: ignore[index]
    # 10 MB without a newline: refused after 64 KiB, the connection closed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(os.fspath(path))
        # The server stops reading after the bound: the send may fail, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"x" * (10 * 2**20))
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    if received:  # the reply may be lost to the reset of a closed-with-unread-data socket
        assert b"longer than 65536 bytes" in received
    assert psutil.Process().memory_info().rss - rss < 20 * 2**20
    with ControlClient.connect(StatePaths(running.root)) as client:
        assert client.call("ps")


def test_half_a_line_then_idle_is_closed_others_served(running: Running) -> None:
    """Reliability case 28 (idle timeout 0.5 s in this test)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.settimeout(10)
        idle.connect(os.fspath(running.server.path))
        idle.sendall(b'{"v":1,"cmd":"p')
        with ControlClient.connect(StatePaths(running.root)) as client:
            assert client.call("ps")
        received = b""
        while chunk := idle.recv(65536):  # returns b"" once the server closed it
            received += chunk
    assert b"idle connection closed" in received


def test_several_requests_on_one_connection(running: Running) -> None:
    with ControlClient.connect(StatePaths(running.root)) as client:
        for _ in range(5):
            assert client.call("status") == running.control.status()
        assert client.call("restart", {"names": ["api"], "with_dependents": False}) == [
            {"name": "api", "ok": True, "took": 0.01, "message": "healthy"}
        ]


def test_logs_history_then_end(running: Running) -> None:
    with ControlClient.connect(StatePaths(running.root)) as client:
        results = list(client.stream("logs", {"names": ["api"]}))
    assert [r["chunk"]["text"] for r in results] == ["one\n"]  # type: ignore[index]


def test_logs_follow_no_gap_no_duplicate_at_the_seam(running: Running) -> None:
    control = running.control
    seam = control.history[1]
    # A chunk both in the history and in the new subscription's queue, then a later one.
    control.queued_on_subscribe = [seam, make_chunk("api", "stdout", "three", 3.0)]
    with ControlClient.connect(StatePaths(running.root)) as client:
        stream = client.stream("logs", {"follow": True})
        texts = [next(stream)["chunk"]["text"] for _ in range(3)]  # type: ignore[index]
        assert texts == ["one\n", "two\n", "three\n"]
        running.loop.call_soon_threadsafe(control.emit, make_chunk("web", "stderr", "four", 4.0))
        assert next(stream)["chunk"]["text"] == "four\n"  # type: ignore[index]
    wait_until(lambda: not control.subs, timeout=10)  # unsubscribed after the hang-up


def test_long_root_uses_the_short_socket_path(tmp_path: Path, control: FakeControl) -> None:
    """Reliability case 30 (overmind #63)."""
    root = tmp_path / ("d" * 60) / ("e" * 60)
    root.mkdir(parents=True)
    assert not p.fits(root / ".devstack" / "devstack.sock")
    server = Running(root, control)
    try:
        path = server.server.path
        assert p.fits(path) and str(path).startswith(f"/tmp/devstack-{os.getuid()}/")
        assert (root / ".devstack" / "socket-path").read_text().strip() == str(path)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        with ControlClient.connect(StatePaths(root)) as client:
            assert client.call("ps")
    finally:
        server.close()
    with pytest.raises(NoStackRunning):
        ControlClient.connect(StatePaths(root))


@pytest.mark.parametrize("how", ["symlink", "0777", "other-uid"])
def test_unsafe_state_dir_is_refused_naming_it(
    tmp_path: Path, control: FakeControl, how: str
) -> None:
    """Reliability case 31."""
    state = tmp_path / ".devstack"
    if how == "symlink":
        target = tmp_path / "elsewhere"
        target.mkdir(mode=0o700)
        state.symlink_to(target)
    else:
        state.mkdir()
        os.chmod(state, 0o777 if how == "0777" else 0o700)
        if how == "other-uid":
            if os.geteuid() != 0:
                pytest.skip("needs root to give the directory to another uid")
            os.chown(state, 65534, 65534)
    with pytest.raises(UnsafeStateDir) as info:
        start_server(tmp_path, control)
    assert str(state) in info.value.message and info.value.hint
    assert not any(state.glob("*.sock"))


def test_a_second_server_never_replaces_a_live_socket(running: Running) -> None:
    with pytest.raises(DevstackError, match="already running"):
        start_server(running.root, FakeControl())
    with ControlClient.connect(StatePaths(running.root)) as client:
        assert client.call("ps")


def test_remove_stale_removes_dead_files_never_a_live_socket(
    tmp_path: Path, control: FakeControl
) -> None:
    """Reliability case 29, the server's half: dead pid + refused socket are cleaned."""
    paths = StatePaths(tmp_path)
    paths.prepare()
    dead = psutil.Popen(["true"])
    dead.wait()
    paths.pid_file.write_text(f"{dead.pid}\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(os.fspath(paths.socket))  # a socket file nobody listens on
    with pytest.raises(NoStackRunning):
        ControlClient.connect(StatePaths(tmp_path))
    assert remove_stale(paths) is True
    assert not paths.socket.exists() and not paths.pid_file.exists()
    assert remove_stale(paths) is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(os.fspath(paths.socket))
        live.listen(1)  # a socket that accepts: a live supervisor's
        paths.pid_file.write_text(f"{dead.pid}\n")
        assert remove_stale(paths) is False
        assert paths.socket.exists() and paths.pid_file.exists()


def _flood(running: Running, bursts: int, chunks: int, lines: int) -> int:
    """``bursts`` times, ``chunks`` chunks of ``lines`` numbered lines of api at once
    (more than the subscription holds: the oldest are dropped); the lines sent."""
    control, sent = running.control, 0
    for _ in range(bursts):
        batch = []
        for _ in range(chunks):
            text = "".join(f"line {sent + i}\n" for i in range(lines))
            batch.append(LogChunk("api", "stdout", text, 5.0, lines))
            sent += lines
        batch.append(make_chunk("api", "event", f"[event] after {sent}", 5.0))
        running.loop.call_soon_threadsafe(lambda b=batch: [control.emit(c) for c in b])
        threading.Event().wait(0.3)  # the follower takes the queue between two bursts
    return sent


def test_a_rate_bounded_follower_gets_few_large_replies_and_the_count_of_the_rest(
    running: Running,
) -> None:
    """The dashboard's feed (issue 17): a flood of 60,000 lines in 600 chunks reaches a
    follower that asked for 100 lines a second as a few replies of whole ticks; every
    line is either sent or counted as skipped (the queue's overflow included), the rate
    leaves none of devstack's event lines out, and the newest line is among the sent."""
    with ControlClient.connect(StatePaths(running.root), timeout=10) as client:
        stream = client.stream("logs", {"names": ["api"], "follow": True, "rate": 100})
        assert next(stream) == {
            "chunk": {"service": "api", "stream": "stdout", "time": 1.0, "text": "one\n"}
        }
        wait_until(lambda: running.control.subs, timeout=10)
        total = _flood(running, bursts=4, chunks=150, lines=100)
        replies: list[dict[str, object]] = []
        got = skipped = 0
        texts: list[str] = []
        while got + skipped < total + 4:  # + the 4 event lines
            result = next(stream)
            assert isinstance(result, dict) and "chunks" in result, result
            replies.append(result)
            for chunk in result["chunks"]:  # type: ignore[union-attr]
                got += chunk["text"].count("\n")
                texts.append(chunk["text"])
            skipped += int(result["skipped"])  # type: ignore[call-overload]
    assert got + skipped == total + 4
    assert len(replies) <= 8  # one a tick at most, not one per chunk (600)
    assert skipped >= total - 4 * 1000  # at most the burst and a few ticks of the rate
    joined = "".join(texts)
    assert joined.count("[event] after") == 4
    assert f"line {total - 1}\n" in joined  # the newest line was sent


def test_a_rate_below_one_is_a_usage_error(running: Running) -> None:
    paths = StatePaths(running.root)
    with ControlClient.connect(paths) as client, pytest.raises(UsageError, match="rate must"):
        list(client.stream("logs", {"follow": True, "rate": 0}))


def test_the_dashboards_reader_counts_what_the_supervisor_left_out(running: Running) -> None:
    """ui/feed.py's reader: the lines it got and the lines it was told were skipped add
    up to every line of the flood (the status line shows the skipped)."""
    from devstack.ui import feed

    inbox = feed.LogInbox()
    streams = feed.Streams(StatePaths(running.root))
    reader = threading.Thread(target=feed.follow_logs, args=(streams, inbox), daemon=True)
    reader.start()
    try:
        wait_until(lambda: running.control.subs, timeout=10)
        got = len(inbox.take())  # the history
        total = _flood(running, bursts=3, chunks=200, lines=50)
        seen: list[str] = []

        def all_counted() -> bool:
            seen.extend(line.text for line in inbox.take())
            return len(seen) + inbox.skipped == total + 3

        wait_until(all_counted, timeout=10)
        assert inbox.skipped > 0 and got == 2
        assert f"line {total - 1}" in seen
    finally:
        streams.close()
        reader.join(10)
