"""The client side of the control protocol's ``attach`` (docs/protocol.md): this
process's terminal becomes the terminal of an interactive service until the detach key.

Used by ``devstack attach`` and by the dashboard's attach key (which suspends its own
screen meanwhile). The terminal is put in raw mode (every key, Ctrl-C included, goes to
the service, as if typed in its own terminal) and restored on every way out. Ctrl-]
detaches and leaves the service running: telnet's escape key, one key that readline,
pdb, shells and editors leave unbound, so nothing a user types at a prompt is held back
(docker's Ctrl-P Ctrl-Q would delay readline's Ctrl-P, "previous line", in pdb).
Ctrl-\\ is not it either: in the service's terminal it is SIGQUIT, and it is passed on
as such. Stdlib only: the client commands import no heavy dependency.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: every command's parser imports this module
    from devstack.control.client import ControlClient
    from devstack.paths import StatePaths

DETACH_KEY = b"\x1d"  # Ctrl-]
DETACH_NAME = "Ctrl-]"


def connect(paths: StatePaths, service: str, in_fd: int, out_fd: int) -> tuple[ControlClient, str]:
    """A connection attached to ``service`` (its window size sent), and the name of what
    it attached to (a service with replicas: its first copy, unless one was named); the
    supervisor's refusal (not interactive, no such service) raised as its one-line error."""
    window = window_of(in_fd) or window_of(out_fd)
    request: dict[str, object] = {"name": service}
    if window is not None:
        request["rows"], request["cols"] = window
    from devstack.control.client import ControlClient

    client = ControlClient.connect(paths, timeout=None)
    try:
        reply = client.call("attach", request)
    except BaseException:
        client.close()
        raise
    attached = reply.get("attached") if isinstance(reply, dict) else None
    return client, str(attached or service)


def run_attached(client: ControlClient, in_fd: int, out_fd: int) -> str:
    """Relay in raw mode until the attachment ends: why (``detached``, taken over, its
    process ended); ControlError when the supervisor went away."""
    with _raw(in_fd):
        reason = _relay(client, in_fd, out_fd)
    if reason is None:
        from devstack.control.client import ControlError

        raise ControlError("the stack stopped while attached")
    return reason


def window_of(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if not size.lines or not size.columns:  # a terminal that never had a size set
        return None
    return size.lines, size.columns


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """Raw mode on a terminal ``fd`` (no-op for a pipe), restored on every exit path:
    an error, SIGTERM and SIGHUP too (turned into an exception that unwinds to here)."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    handlers = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _relay(client: ControlClient, in_fd: int, out_fd: int) -> str | None:
    """Keys to the service, its output here, window sizes to it, until the attachment
    ends: why (``detached``, taken over, its process ended), or None when the
    supervisor went away."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def resized(_signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(wake_w, b"w")

    previous = signal.signal(signal.SIGWINCH, resized)
    try:
        reading = [in_fd, client.fileno(), wake_r]
        while True:
            if not client.has_reply():
                ready, _, _ = select.select(reading, [], [])
            else:
                ready = [client.fileno()]
            if wake_r in ready:
                os.read(wake_r, 512)
                window = window_of(in_fd) or window_of(out_fd)
                if window is not None:
                    client.send("resize", {"rows": window[0], "cols": window[1]})
            if in_fd in ready:
                keys = os.read(in_fd, 4096)
                cut = keys.find(DETACH_KEY)
                if cut >= 0 or not keys:  # the detach key, or the end of a piped stdin
                    keys = keys[: max(cut, 0)]
                    if keys:
                        client.send("input", {"data": _encode(keys)})
                    return _detach(client)
                client.send("input", {"data": _encode(keys)})
            if client.fileno() in ready:
                ended = _show(client, out_fd)
                if ended is not None:
                    return ended or None
    finally:
        signal.signal(signal.SIGWINCH, previous)
        os.close(wake_r)
        os.close(wake_w)


def _encode(data: bytes) -> str:
    from devstack.control.protocol import encode_bytes

    return encode_bytes(data)


def _show(client: ControlClient, out_fd: int) -> str | None:
    """One reply: output written out (None), or the end: its reason ("" when the
    connection closed)."""
    from devstack.control.protocol import decode_bytes

    reply = client.receive()
    if reply is None:
        return ""
    if not reply.ok:  # a request of ours was refused; the attachment goes on
        from devstack.control.client import ControlError

        message = reply.error.message if reply.error else "refused"
        raise ControlError(f"the supervisor refused a request while attached: {message}")
    result = reply.result if isinstance(reply.result, dict) else {}
    if "output" in result:
        data = decode_bytes(result["output"], "output")
        while data:
            data = data[os.write(out_fd, data) :]
        return None
    if result.get("end") is True:
        return str(result.get("reason") or "ended")
    return None


def _detach(client: ControlClient) -> str | None:
    """Ask to detach, and show what comes until the supervisor confirms (bounded)."""
    client.send("detach")
    deadline = 5.0
    while True:
        ready, _, _ = select.select([client.fileno()], [], [], deadline)
        if not ready and not client.has_reply():
            return "detached"
        ended = _show(client, sys.stdout.fileno())
        if ended is not None:
            return ended or "detached"
