"""Probes and port owners against real servers on loopback (reliability cases 19, 21 of
docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conftest import free_port, is_alive, python_cmd, wait_until
from devstack.procs.portowners import holder_in_tree, is_port_free, listeners
from devstack.runtime.probes import CmdProbe, HttpProbe, ProbeResult, TcpProbe, http_client

Serve = Callable[..., tuple[subprocess.Popen[bytes], int]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a test server program; return (process, port) once it listens."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: object, port: int = 0) -> tuple[subprocess.Popen[bytes], int]:
        proc = subprocess.Popen(
            python_cmd(name, port, *args), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        started.append(proc)
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=10):
                pytest.fail(f"{name} did not say it was listening within 10s")
        line = proc.stdout.readline().decode()
        match = re.match(r"listening on (\d+)", line)
        assert match, f"{name} said {line!r}"
        return proc, int(match.group(1))

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def http_probe(url: str, *, timeout: float = 5.0, expect: tuple[int, ...] = ()) -> ProbeResult:
    async def main() -> ProbeResult:
        async with http_client() as client:
            return await HttpProbe(url, timeout=timeout, expect_status=expect, client=client).run()

    return asyncio.run(main())


# --- http -------------------------------------------------------------------------


def test_http_200_is_ok_and_names_the_status(serve: Serve) -> None:
    _, port = serve("http_server", "--path", "/api/health")
    url = f"http://127.0.0.1:{port}/api/health"
    result = http_probe(url)
    assert result.ok
    assert result.detail == f"GET {url} -> 200"
    assert result.latency >= 0


def test_http_500_is_not_ok_with_the_status_in_detail(serve: Serve) -> None:
    _, port = serve("http_server", "--status", "500")
    url = f"http://127.0.0.1:{port}/"
    result = http_probe(url)
    assert not result.ok
    assert result.detail == f"GET {url} -> 500 (expected 2xx/3xx)"


def test_http_redirect_is_not_followed_and_counts_as_up(serve: Serve) -> None:
    _, port = serve("http_server", "--status", "302")
    result = http_probe(f"http://127.0.0.1:{port}/")
    assert result.ok
    assert result.detail.endswith("-> 302")


def test_http_expect_status_is_honoured(serve: Serve) -> None:
    _, port = serve("http_server", "--status", "401")
    url = f"http://127.0.0.1:{port}/"
    assert http_probe(url, expect=(200, 401)).ok
    denied = http_probe(url, expect=(200, 204))
    assert not denied.ok
    assert denied.detail == f"GET {url} -> 401 (expected 200, 204)"
    # 200 is 2xx but not in the list: the list wins.
    _, port2 = serve("http_server")
    assert not http_probe(f"http://127.0.0.1:{port2}/", expect=(204,)).ok


def test_http_wrong_path_is_404_not_ok(serve: Serve) -> None:
    _, port = serve("http_server", "--path", "/api/health")
    result = http_probe(f"http://127.0.0.1:{port}/nope")
    assert not result.ok
    assert "-> 404" in result.detail


def test_http_connection_refused_detail() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    result = http_probe(url)
    assert not result.ok
    assert result.detail == f"GET {url}: connection refused"


def test_http_ignores_proxy_settings_from_the_environment(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = serve("http_server")
    # A proxy that would refuse: a probe that used it would fail.
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert http_probe(f"http://127.0.0.1:{port}/").ok


def test_http_flapping_server_goes_from_ok_to_not_ok(serve: Serve) -> None:
    _, port = serve("http_server", "--flap-after", "0.5")
    url = f"http://127.0.0.1:{port}/"
    assert http_probe(url).ok  # the probe right after "listening" lands well before 0.5s
    wait_until(lambda: not http_probe(url).ok, timeout=10)
    assert "-> 500" in http_probe(url).detail


def test_hanging_endpoint_times_out_at_timeout_each_time(serve: Serve) -> None:
    """Reliability case 21: a server that accepts and never answers."""
    _, port = serve("hang_http")
    url = f"http://127.0.0.1:{port}/health"

    async def main() -> list[ProbeResult]:
        async with http_client() as client:
            probe = HttpProbe(url, timeout=0.3, client=client)
            return [await probe.run() for _ in range(3)]

    for result in asyncio.run(main()):
        assert not result.ok
        assert result.detail == f"GET {url}: timed out after 0.3s"
        assert result.latency >= 0.3 * 0.9  # it waited for the timeout, not less


def test_hanging_probe_does_not_hold_up_another_probe(serve: Serve) -> None:
    """Reliability case 21: while one probe hangs, a probe of another server keeps answering."""
    _, hang_port = serve("hang_http")
    _, ok_port = serve("http_server")
    order: list[str] = []
    fast_results: list[ProbeResult] = []

    async def main() -> ProbeResult:
        async with http_client() as client:
            hang = HttpProbe(f"http://127.0.0.1:{hang_port}/", timeout=3.0, client=client)
            fast = HttpProbe(f"http://127.0.0.1:{ok_port}/", timeout=3.0, client=client)

            async def hanging() -> ProbeResult:
                result = await hang.run()
                order.append("hang")
                return result

            async def answering() -> None:
                # Probe repeatedly; every one must finish while the hang is pending.
                for _ in range(3):
                    fast_results.append(await fast.run())
                order.append("fast")

            hang_result, _ = await asyncio.gather(hanging(), answering())
            return hang_result

    hang_result = asyncio.run(main())
    assert order == ["fast", "hang"]
    assert [r.ok for r in fast_results] == [True, True, True]
    assert not hang_result.ok
    assert "timed out after 3s" in hang_result.detail


# --- tcp --------------------------------------------------------------------------


def test_tcp_open_port_is_ok(serve: Serve) -> None:
    _, port = serve("http_server")
    result = asyncio.run(TcpProbe("127.0.0.1", port, timeout=5).run())
    assert result.ok
    assert result.detail == f"connect 127.0.0.1:{port}: open"


def test_tcp_closed_port_is_refused() -> None:
    port = free_port()
    result = asyncio.run(TcpProbe("127.0.0.1", port, timeout=5).run())
    assert not result.ok
    assert result.detail == f"connect 127.0.0.1:{port}: connection refused"


def test_tcp_connect_that_does_not_finish_at_once_times_out() -> None:
    # A full accept queue drops the SYN: connect is "in progress", never answered.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        waiting = [socket.socket() for _ in range(3)]
        try:
            for client in waiting:
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
            result = asyncio.run(TcpProbe("127.0.0.1", port, timeout=0.3).run())
        finally:
            for client in waiting:
                client.close()
    assert not result.ok
    assert result.detail == f"connect 127.0.0.1:{port}: timed out after 0.3s"
    assert result.latency >= 0.3


def test_tcp_probe_of_an_ipv6_literal_and_of_a_host_name() -> None:
    try:
        server6 = socket.socket(socket.AF_INET6)
        server6.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server6, socket.socket() as server4:
        server6.listen()
        server4.bind(("127.0.0.1", 0))
        server4.listen()
        port6, port4 = server6.getsockname()[1], server4.getsockname()[1]
        ipv6 = asyncio.run(TcpProbe("::1", port6, timeout=5).run())
        by_name = asyncio.run(TcpProbe("localhost", port4, timeout=5).run())
    assert ipv6.ok and ipv6.detail == f"connect [::1]:{port6}: open"
    assert by_name.ok and by_name.detail == f"connect localhost:{port4}: open"


# --- cmd --------------------------------------------------------------------------


def py(code: str) -> str:
    """A command line running ``code`` with this interpreter."""
    return shlex.join([sys.executable, "-c", code])


def cmd_probe(command: str, timeout: float = 10.0, cwd: Path | None = None) -> CmdProbe:
    return CmdProbe(command, cwd=cwd or Path.cwd(), env=dict(os.environ), timeout=timeout)


def test_cmd_exit_0_is_ok() -> None:
    result = asyncio.run(cmd_probe(py("print('accepting connections')")).run())
    assert result.ok
    assert result.detail.endswith(": exit 0")


def test_cmd_exit_1_reports_the_last_line_of_output() -> None:
    code = "import sys; print('first'); print('no response', file=sys.stderr); sys.exit(1)"
    probe = cmd_probe(py(code))
    result = asyncio.run(probe.run())
    assert not result.ok
    assert result.detail == f"{probe.describe()}: exit 1: no response"


def test_cmd_runs_in_cwd_with_env(tmp_path: Path) -> None:
    code = "import os, sys; sys.exit(0 if os.path.exists('marker') else 3)"
    (tmp_path / "marker").write_text("")
    assert asyncio.run(cmd_probe(py(code), cwd=tmp_path).run()).ok
    assert not asyncio.run(cmd_probe(py(code), cwd=Path(__file__).parent).run()).ok


def test_cmd_not_found() -> None:
    result = asyncio.run(cmd_probe("no-such-command-devstack-test --x").run())
    assert not result.ok
    assert "command not found: no-such-command-devstack-test" in result.detail


SLEEP_WITH_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('pids', child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def test_cmd_timeout_kills_the_command_and_its_children() -> None:
    probe = cmd_probe(py(SLEEP_WITH_GRANDCHILD), timeout=1.0)
    result = asyncio.run(probe.run())
    assert not result.ok
    assert "timed out after 1s, killed" in result.detail
    match = re.search(r"last output: pids (\d+)", result.detail)
    assert match, result.detail
    grandchild = int(match.group(1))
    wait_until(lambda: not is_alive(grandchild), timeout=5)
    assert not [p for p in psutil.Process().children(recursive=True) if is_alive(p.pid)]


def test_cmd_cancelled_probe_kills_and_reaps_its_command() -> None:
    """The caller gave up (e.g. shutdown): the command must not outlive the probe."""
    probe = cmd_probe(py(SLEEP_WITH_GRANDCHILD), timeout=60)

    async def main() -> None:
        task = asyncio.create_task(probe.run())
        # Until the command runs, there is nothing to kill.
        deadline = time.monotonic() + 10
        while not psutil.Process().children(recursive=True):
            assert time.monotonic() < deadline, "probe command did not start"
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    wait_until(
        lambda: not [p for p in psutil.Process().children(recursive=True) if is_alive(p.pid)],
        timeout=5,
    )


# --- ports ------------------------------------------------------------------------


def test_listeners_names_the_pid_and_cmdline_of_a_real_server(serve: Serve) -> None:
    proc, port = serve("http_server", "--path", "/api/health")
    holders = listeners(port, "127.0.0.1")
    assert [h.pid for h in holders] == [proc.pid]
    holder = holders[0]
    assert "http_server.py" in holder.cmdline
    assert holder.create_time == psutil.Process(proc.pid).create_time()
    assert holder.describe().startswith(f"pid {proc.pid} (")
    assert "http_server.py" in holder.describe()
    assert listeners(port) == holders  # any address


def test_listener_on_loopback_does_not_cover_another_address(serve: Serve) -> None:
    _, port = serve("http_server")
    assert listeners(port, "127.0.0.2") == []


def test_wildcard_bind_covers_loopback(serve: Serve) -> None:
    proc, port = serve("http_server", "--host", "0.0.0.0")
    assert [h.pid for h in listeners(port, "127.0.0.1")] == [proc.pid]
    assert [h.pid for h in listeners(port, "127.0.0.2")] == [proc.pid]
    assert not is_port_free(port, "127.0.0.1")


def test_stale_copy_answering_the_port_is_named(serve: Serve) -> None:
    """Reliability case 19: the probe passes, but the answer comes from another process."""
    stale, port = serve("http_server", "--path", "/api/health")
    assert http_probe(f"http://127.0.0.1:{port}/api/health").ok

    ours, holder = holder_in_tree(port, "127.0.0.1", {stale.pid})
    assert ours
    assert holder is not None and holder.pid == stale.pid
    # The probe only asks whether: no details of its own process.
    assert holder_in_tree(port, "127.0.0.1", {stale.pid}, describe_ours=False) == (True, None)
    ours, holder = holder_in_tree(port, "127.0.0.1", {os.getpid()}, describe_ours=False)
    assert not ours and holder is not None and holder.pid == stale.pid

    # The service's own tree is some other set of pids: the answer is foreign.
    ours, holder = holder_in_tree(port, "127.0.0.1", {os.getpid()})
    assert not ours
    assert holder is not None and holder.pid == stale.pid
    assert "http_server.py" in holder.describe()


def test_holder_in_tree_when_nothing_listens() -> None:
    assert holder_in_tree(free_port(), "127.0.0.1", {os.getpid()}) == (False, None)


def test_is_port_free_while_held_and_after_exit(serve: Serve) -> None:
    proc, port = serve("http_server")
    assert not is_port_free(port)
    proc.kill()
    proc.wait(timeout=10)
    wait_until(lambda: is_port_free(port), timeout=10)
    assert listeners(port) == []
