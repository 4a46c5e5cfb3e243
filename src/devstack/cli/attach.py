"""``devstack attach SVC``: this terminal becomes the terminal of an interactive service.

The terminal is put in raw mode (every key, Ctrl-C included, goes to the service, as
if typed in its own terminal) and restored on every way out. Ctrl-] detaches and
leaves the service running: telnet's escape key, one key that readline, pdb, shells
and editors leave unbound, so nothing a user types at a prompt is held back (docker's
Ctrl-P Ctrl-Q would delay readline's Ctrl-P, "previous line", in pdb). Ctrl-\\ is not
it either: in the service's terminal it is SIGQUIT, and it is passed on as such.
The client of the control protocol's ``attach`` (docs/protocol.md): stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from devstack.cli.options import add_file_option, state_of

if TYPE_CHECKING:
    from devstack.cli.options import Subparsers
    from devstack.control.client import ControlClient

DETACH_KEY = b"\x1d"  # Ctrl-]
DETACH_NAME = "Ctrl-]"


def add_parser(sub: Subparsers) -> None:
    attach = sub.add_parser(
        "attach",
        help=f"type into an interactive service (pdb at a breakpoint()); {DETACH_NAME} detaches",
        description=f"Connects this terminal to a service that has `interactive = true`: keys "
        f"go to it, its output comes here (its last screen first). {DETACH_NAME} detaches "
        "and leaves it running; a later attach takes over from an earlier one.",
    )
    attach.add_argument("service", help="the service's name")
    add_file_option(attach)
    attach.set_defaults(func=cmd_attach)


def _window(fd: int) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if not size.lines or not size.columns:  # a terminal that never had a size set
        return None
    return size.lines, size.columns


def cmd_attach(args: argparse.Namespace) -> int:
    from devstack.control.client import ControlClient, ControlError

    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    window = _window(in_fd) or _window(out_fd)
    request: dict[str, object] = {"name": args.service}
    if window is not None:
        request["rows"], request["cols"] = window
    with ControlClient.connect(state_of(args), timeout=None) as client:
        reply = client.call("attach", request)
        # The copy attached to, when the service has replicas (its first).
        attached = reply.get("attached") if isinstance(reply, dict) else None
        name = str(attached or args.service)
        _say(f"attached to {name}; {DETACH_NAME} detaches (it keeps running)")
        with _raw(in_fd):
            reason = _relay(client, in_fd, out_fd)
        if reason is None:
            raise ControlError("the stack stopped while attached")
    _say(f"detached from {name}: {reason}")
    return 0


def _say(text: str) -> None:
    # Not in raw mode (the terminal would not return the carriage).
    sys.stderr.write(f"[devstack attach] {text}\n")
    sys.stderr.flush()


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
                window = _window(in_fd) or _window(out_fd)
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
    from devstack.control.client import ControlError
    from devstack.control.protocol import decode_bytes

    reply = client.receive()
    if reply is None:
        return ""
    if not reply.ok:  # a request of ours was refused; the attachment goes on
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
