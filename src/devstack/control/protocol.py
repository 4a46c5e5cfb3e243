"""The control protocol: one JSON object per line, both ways, with ``"v": 1``.

    request  {"v": 1, "cmd": "ps", "args": {}}
    reply    {"v": 1, "ok": true, "result": ...}
             {"v": 1, "ok": false, "error": {"message": "...", "hint": "...", "kind": "usage"}}

``logs`` streams: one reply per chunk (``{"chunk": {...}}``), then ``{"end": true}``;
with ``follow`` the connection stays open and live chunks keep coming instead.
``attach`` turns the connection into a terminal's: ``{"output": base64}`` replies come,
``input`` / ``resize`` / ``detach`` requests go, until ``{"end": true, "reason": ...}``.
``watch`` streams too: ``{"states": [rows]}``, then ``{"state": row}`` at each change.
docs/protocol.md is the user-facing description. The client imports this: stdlib only.
What the supervisor offers the server is ``seam.StackControl``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devstack.errors import DevstackError

if TYPE_CHECKING:
    from devstack.logs.chunk import LogChunk

VERSION = 1
MAX_LINE = 64 * 1024  # a request line longer than this is refused
COMMANDS: tuple[str, ...] = ("hello", "status", "ps", "logs", "watch", "restart", "stop")
COMMANDS += ("start", "down", "scale")
COMMANDS += ("attach", "input", "resize", "detach")  # the last three: only once attached
# Their reply comes once services started or stopped: a start may take its whole
# health.start_period, a stop its stop_timeout. The supervisor bounds them, so the client
# waits for the reply with no socket timeout (whatever its connection's timeout).
WAITING = ("restart", "stop", "start", "down", "scale")
# sun_path is 108 bytes on Linux (104 on macOS), including the final NUL.
SOCKET_PATH_MAX = 103 if sys.platform == "darwin" else 107
SOCKET_PATH_FILE = "socket-path"  # in .devstack/: where the socket is, when not there

# Error kinds: what the client turns them into.
USAGE = "usage"  # bad names or arguments: exit 2
PROTOCOL = "protocol"  # not a valid request
REFUSED = "refused"  # another user, idle, too long


class ProtocolError(DevstackError):
    """A line that is not a valid request or reply; ``kind`` says which error reply."""

    def __init__(self, message: str, hint: str | None = None, kind: str = PROTOCOL) -> None:
        super().__init__(message, hint)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Request:
    cmd: str
    args: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    message: str
    hint: str | None = None
    kind: str = PROTOCOL


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    result: object = None
    error: ErrorInfo | None = None


def ok(result: object) -> Reply:
    return Reply(True, result)


def fail(message: str, hint: str | None = None, kind: str = PROTOCOL) -> Reply:
    return Reply(False, None, ErrorInfo(message, hint, kind))


def _dump(obj: dict[str, object]) -> bytes:
    # ensure_ascii: a line is one line whatever the text holds (no raw U+2028 surprises).
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def encode_request(request: Request) -> bytes:
    return _dump({"v": VERSION, "cmd": request.cmd, "args": request.args})


def encode_reply(reply: Reply) -> bytes:
    if reply.ok:
        return _dump({"v": VERSION, "ok": True, "result": reply.result})
    error = reply.error or ErrorInfo("unknown error")
    return _dump(
        {
            "v": VERSION,
            "ok": False,
            "error": {"message": error.message, "hint": error.hint, "kind": error.kind},
        }
    )


def _load_object(line: bytes, max_line: int | None) -> dict[str, object]:
    if max_line is not None and len(line.rstrip(b"\n")) > max_line:
        raise ProtocolError(f"request longer than {max_line} bytes", kind=REFUSED)
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError(
            "not a JSON line", hint='send {"v": 1, "cmd": "...", "args": {...}}'
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object", hint='send {"v": 1, "cmd": "...", "args": {}}')
    version = obj.get("v")
    if version != VERSION or isinstance(version, bool):
        raise ProtocolError(
            f"unsupported protocol version {version!r}; this devstack speaks {VERSION}",
            hint="use the devstack command of the same version as the running stack",
        )
    return obj


def decode_request(line: bytes, max_line: int = MAX_LINE) -> Request:
    """A request line -> Request, or ProtocolError (the text of the error reply)."""
    obj = _load_object(line, max_line)
    unknown = set(obj) - {"v", "cmd", "args"}
    if unknown:
        raise ProtocolError(f"unknown request fields: {', '.join(sorted(unknown))}")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        shown = repr(cmd)[:60]
        raise ProtocolError(f"unknown command {shown}", hint=f"commands: {', '.join(COMMANDS)}")
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("args must be a JSON object", kind=USAGE)
    return Request(cmd, args)


def decode_reply(line: bytes) -> Reply:
    obj = _load_object(line, None)
    if obj.get("ok") is True:
        return Reply(True, obj.get("result"))
    error = obj.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise ProtocolError("malformed error reply")
    hint = error.get("hint")
    kind = error.get("kind")
    return fail(
        error["message"],
        hint if isinstance(hint, str) else None,
        kind if isinstance(kind, str) else PROTOCOL,
    )


# --- arguments of each command (reject, never coerce) ---------------------------------


@dataclass(frozen=True, slots=True)
class LogsArgs:
    names: list[str]
    n: int | None = None  # last n lines per service
    since: float | None = None  # epoch seconds
    follow: bool = False
    rate: int | None = None  # follow: at most this many lines a second per service


_ALLOWED_ARGS: dict[str, frozenset[str]] = {
    "hello": frozenset(),
    "status": frozenset(),
    "ps": frozenset(),
    "logs": frozenset({"names", "n", "since", "follow", "rate"}),
    "watch": frozenset(),
    "restart": frozenset({"names", "with_dependents"}),
    "stop": frozenset({"names"}),
    "start": frozenset({"names"}),
    "down": frozenset({"force"}),
    "attach": frozenset({"name", "rows", "cols"}),
    "input": frozenset({"data"}),
    "resize": frozenset({"rows", "cols"}),
    "detach": frozenset(),
    "scale": frozenset({"name", "count"}),
}


def check_args(request: Request) -> None:
    """ProtocolError (kind usage) for an argument the command does not take."""
    unknown = set(request.args) - _ALLOWED_ARGS[request.cmd]
    if unknown:
        raise ProtocolError(
            f"{request.cmd}: unknown arguments: {', '.join(sorted(unknown))[:200]}", kind=USAGE
        )


def arg_names(request: Request) -> list[str]:
    names = request.args.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError("names must be a list of strings", kind=USAGE)
    return list(names)


def arg_bool(request: Request, key: str) -> bool:
    value = request.args.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"{key} must be true or false", kind=USAGE)
    return value


def scale_args(request: Request) -> tuple[str, int]:
    """(service, copies) of a ``scale`` request; the count within 1..``MAX_REPLICAS``."""
    from devstack.spec import MAX_REPLICAS

    name, count = request.args.get("name"), request.args.get("count")
    if not isinstance(name, str):
        raise ProtocolError("name must be a string", kind=USAGE)
    if isinstance(count, bool) or not isinstance(count, int):
        raise ProtocolError("count must be a whole number", kind=USAGE)
    if not 1 <= count <= MAX_REPLICAS:
        raise ProtocolError(
            f"{name}={count}: a service runs 1 to {MAX_REPLICAS} copies",
            hint=f"to stop every copy: devstack stop {name}",
            kind=USAGE,
        )
    return name, count


def logs_args(request: Request) -> LogsArgs:
    n = request.args.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ProtocolError("n must be a whole number >= 0", kind=USAGE)
    since = request.args.get("since")
    if since is not None:
        if isinstance(since, bool) or not isinstance(since, int | float):
            raise ProtocolError("since must be epoch seconds", kind=USAGE)
        if not math.isfinite(since):
            raise ProtocolError("since must be finite", kind=USAGE)
        since = float(since)
    rate = request.args.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 1):
        raise ProtocolError("rate must be a whole number of lines a second >= 1", kind=USAGE)
    return LogsArgs(arg_names(request), n, since, arg_bool(request, "follow"), rate)


@dataclass(frozen=True, slots=True)
class AttachArgs:
    name: str
    rows: int | None = None  # the client's window, when it has one
    cols: int | None = None


def _size(request: Request, key: str) -> int | None:
    value = request.args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ProtocolError(f"{key} must be a whole number from 1 to 65535", kind=USAGE)
    return value


def attach_args(request: Request) -> AttachArgs:
    name = request.args.get("name")
    if not isinstance(name, str):
        raise ProtocolError("attach needs name, a service's name", kind=USAGE)
    return AttachArgs(name, _size(request, "rows"), _size(request, "cols"))


def resize_args(request: Request) -> tuple[int, int]:
    rows, cols = _size(request, "rows"), _size(request, "cols")
    if rows is None or cols is None:
        raise ProtocolError("resize needs rows and cols", kind=USAGE)
    return rows, cols


def encode_bytes(data: bytes) -> str:
    """Terminal bytes on the wire: base64 (they need not be UTF-8, nor whole characters)."""
    import base64

    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: object, key: str = "data") -> bytes:
    import base64
    import binascii

    if not isinstance(text, str):
        raise ProtocolError(f"{key} must be a base64 string", kind=USAGE)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{key} is not valid base64", kind=USAGE) from None


def input_data(request: Request) -> bytes:
    return decode_bytes(request.args.get("data"))


def chunk_fields(chunk: LogChunk) -> dict[str, object]:
    return {
        "service": chunk.service,
        "stream": chunk.stream,
        "time": chunk.time,
        "text": chunk.text,
    }


def chunk_result(chunk: LogChunk) -> dict[str, object]:
    return {"chunk": chunk_fields(chunk)}


def batch_result(chunks: list[LogChunk], skipped: int) -> dict[str, object]:
    """A rate-bounded follower's reply: the chunks of one tick, and the lines left out."""
    return {"chunks": [chunk_fields(c) for c in chunks], "skipped": skipped}


# --- where the socket is ------------------------------------------------------------------


def default_socket(state_dir: str | os.PathLike[str]) -> str:
    return os.path.join(state_dir, "devstack.sock")


def short_socket(root: str) -> str:
    """The fallback for a root too deep for sun_path: /tmp/devstack-UID/HASH.sock."""
    import hashlib  # the server's alone: the client reads SOCKET_PATH_FILE

    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    return f"/tmp/devstack-{os.getuid()}/{digest}.sock"


def fits(path: str | os.PathLike[str]) -> bool:
    return len(os.fsencode(path)) <= SOCKET_PATH_MAX


def socket_location(state_dir: str | os.PathLike[str]) -> str:
    """Where the running supervisor of ``state_dir`` listens (what the client connects to)."""
    try:
        with open(os.path.join(state_dir, SOCKET_PATH_FILE), encoding="utf-8") as f:
            recorded = f.read().strip()
    except OSError:
        return default_socket(state_dir)
    return recorded or default_socket(state_dir)
