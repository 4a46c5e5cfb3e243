"""Who answers a port: listening sockets and the processes that hold them.

Used before a start (is the port free? if not, who holds it?) and after a probe
passes (is it our process answering, or a stale copy?). psutil only; importable
without asyncio, httpx or pydantic so client commands stay fast.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from devstack.errors import DevstackError

# A command line shown in a message is cut here: one line, one screen.
MAX_CMDLINE = 300

_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class PortHolder:
    """A process with a listening socket on the port (pid None: the OS would not say)."""

    pid: int | None
    name: str
    cmdline: str
    username: str | None
    cwd: str | None
    create_time: float | None

    def describe(self) -> str:
        """ "pid 4121 (gunicorn api:app --bind 127.0.0.1:5000)"."""
        if self.pid is None:
            return "a process this user cannot see (another user's, or outside this container)"
        shown = self.cmdline or self.name or "?"
        if len(shown) > MAX_CMDLINE:
            shown = shown[: MAX_CMDLINE - 3] + "..."
        return f"pid {self.pid} ({shown})"


UNKNOWN_HOLDER = PortHolder(
    pid=None, name="", cmdline="", username=None, cwd=None, create_time=None
)


def listeners(port: int, host: str | None = None) -> list[PortHolder]:
    """Processes with a LISTEN socket on ``port``, oldest first.

    With ``host``, only sockets bound to that address or to a wildcard that covers
    it (0.0.0.0 covers every IPv4 address, :: every address on a dual-stack host);
    a ``host`` that is itself a wildcard is covered by every address of its family.
    """
    wanted = None if host is None else _resolve(host)
    pids: dict[int | None, None] = {}
    for pid, ip in _listen_sockets(port):
        if wanted is None or any(_covers(ip, w) for w in wanted):
            pids[pid] = None
    holders = [h for h in (_holder(pid) for pid in pids) if h is not None]
    holders.sort(key=lambda h: (h.create_time is None, h.create_time or 0.0, h.pid or 0))
    return holders


def is_port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind ``host:port`` now (bound with SO_REUSEADDR and closed).

    Raises DevstackError when the address itself cannot be bound (not local, or a
    privileged port), since "in use" would then be the wrong explanation.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As servers do: TIME_WAIT leftovers of a previous run do not count as "held".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise DevstackError(
                f"cannot bind {host}:{port}: {exc.strerror or exc}",
                hint="use a local address (127.0.0.1) and a port above 1023",
            ) from exc
    return True


def holder_in_tree(
    port: int, host: str, tree_pids: set[int], *, describe_ours: bool = True
) -> tuple[bool, PortHolder | None]:
    """Is ``host:port`` answered by a process of ``tree_pids``?

    (True, our holder) if so (with ``describe_ours=False``, (True, None) when one of
    ``tree_pids`` itself listens: reading its user, cmdline and cwd is skipped at every
    start); otherwise (False, the foreign holder) so the caller can name it,
    (False, UNKNOWN_HOLDER) when something holds the port but the OS hides who, and
    (False, None) when nothing listens.
    """
    # Fast path: ask only the tree's own processes (a few fds each) before the
    # machine-wide scan, which reads every process's fds (tens of ms on a busy box).
    for pid in sorted(tree_pids):
        if _pid_listens(pid, port, host):
            if not describe_ours:
                return True, None
            ours = _holder(pid)
            if ours is not None:
                return True, ours
    holders = listeners(port, host)
    for holder in holders:
        if holder.pid is not None and holder.pid in tree_pids:
            return True, holder
    if not holders and not _listening_pids_visible():
        # macOS without privileges: only our own tree's sockets can be read.
        for pid in tree_pids:
            if _pid_listens(pid, port, host):
                ours = _holder(pid)
                if ours is not None:
                    return True, ours
    if holders:
        visible = [h for h in holders if h.pid is not None]
        return False, (visible or holders)[0]
    if not is_port_free(port, host):
        return False, UNKNOWN_HOLDER
    return False, None


def listens_elsewhere(port: int, host: str, tree_pids: Iterable[int]) -> list[str]:
    """Where ``tree_pids`` listen (TCP) when none of their sockets takes ``host:port``.

    Empty when one of them takes it, or when they listen nowhere. Each entry is a
    port ("5173"), or address:port when the port is the probed one on another address
    ("[::1]:3000": a server that bound ``localhost`` as IPv6 only).
    """
    wanted = _resolve(host)
    found: dict[str, None] = {}
    for pid in tree_pids:
        try:
            conns = _proc_connections(psutil.Process(pid))
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for conn in conns:
            if conn.status != psutil.CONN_LISTEN or not conn.laddr:
                continue
            try:
                ip = ipaddress.ip_address(str(conn.laddr.ip).split("%", 1)[0])
            except ValueError:
                continue
            if conn.laddr.port == port:
                if any(_covers(ip, w) for w in wanted):
                    return []
                shown = f"[{ip}]" if ip.version == 6 else str(ip)
                found[f"{shown}:{port}"] = None
            else:
                found[str(conn.laddr.port)] = None
    return sorted(found, key=lambda a: (":" in a, int(a.rsplit(":", 1)[-1])))


def _listen_sockets(port: int) -> list[tuple[int | None, _Ip]]:
    """(pid, bound address) of every TCP LISTEN socket on ``port`` the OS shows us."""
    try:
        conns: Iterable[Any] = psutil.net_connections(kind="inet")
        return _filter(conns, port, pid=None)
    except psutil.AccessDenied:
        pass
    # macOS: the system-wide table needs root; read each visible process instead.
    found: list[tuple[int | None, _Ip]] = []
    for proc in psutil.process_iter():
        try:
            found += _filter(_proc_connections(proc), port, pid=proc.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def _listening_pids_visible() -> bool:
    try:
        psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return False
    return True


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_TCP_LISTEN = 10


def _linux_listen_addresses(pid: int, port: int) -> list[_Ip] | None:
    """Addresses ``pid`` listens on at ``port``, read from /proc (None: not Linux / no access).

    psutil parses every row of the tcp tables in Python; while services start, fast
    probes leave thousands of TIME_WAIT rows there. A regex over the raw table, in C,
    picks out just the LISTEN rows (state 0A) on this port, matched by socket inode.
    """
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1].encode())
    if not inodes:
        return []
    listening = _netlink_listeners(port)
    if listening is not None:
        return [ip for inode, ip in listening if str(inode).encode() in inodes]
    row = re.compile(
        rb"^\s*\d+: ([0-9A-F]+):%04X [0-9A-F]+:0000 0A(?:\s+\S+){5}\s+(\d+)\s" % port, re.M
    )
    found: list[_Ip] = []
    for table, size in ((f"/proc/{pid}/net/tcp", 4), (f"/proc/{pid}/net/tcp6", 16)):
        try:
            with open(table, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for match in row.finditer(data):
            if match.group(2) in inodes:
                found.append(_proc_net_ip(match.group(1), size))
    return found


def _netlink_listeners(port: int) -> list[tuple[int, _Ip]] | None:
    """(inode, address) of every TCP LISTEN socket on ``port``, via NETLINK_SOCK_DIAG.

    Asking the kernel for LISTEN sockets only walks its (small) listening hash;
    reading /proc/net/tcp walks every bucket of the established hash, tens of ms
    on a machine with much memory. None when netlink is unavailable.
    """
    found: list[tuple[int, _Ip]] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                req = (
                    struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
                    + struct.pack("!HH", 0, 0)
                    + bytes(32)
                    + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
                )
                header = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 0x301, 1, 0)
                nl.send(header + req)
                found += _read_diag(nl, port)
    except (OSError, AttributeError, struct.error):
        return None
    return found


def _read_diag(nl: socket.socket, port: int) -> list[tuple[int, _Ip]]:
    found: list[tuple[int, _Ip]] = []
    while True:
        data = nl.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == 3:  # NLMSG_DONE
                return found
            if kind == 2:  # NLMSG_ERROR
                raise OSError("sock_diag error")
            body = offset + 16
            family, _state = struct.unpack_from("=BB", data, body)
            sport = struct.unpack_from("!H", data, body + 4)[0]
            src = data[body + 8 : body + 24]
            inode = struct.unpack_from("=I", data, body + 68)[0]
            if sport == port:
                ip: _Ip = (
                    ipaddress.IPv4Address(src[:4])
                    if family == socket.AF_INET
                    else ipaddress.IPv6Address(src)
                )
                found.append((inode, ip))
            offset += (length + 3) & ~3
        if not data:
            return found


def _proc_net_ip(hexaddr: bytes, size: int) -> _Ip:
    """/proc/net/tcp's address: 32-bit words in host byte order (little-endian here)."""
    raw = bytes.fromhex(hexaddr.decode())
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words) if size == 16 else ipaddress.IPv4Address(words)


def _pid_listens(pid: int, port: int, host: str) -> bool:
    if sys.platform.startswith("linux") and sys.byteorder == "little":
        addresses = _linux_listen_addresses(pid, port)
        if addresses is not None:
            wanted = _resolve(host)
            return any(_covers(ip, w) for ip in addresses for w in wanted)
    try:
        conns = _proc_connections(psutil.Process(pid))
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    wanted = _resolve(host)
    return any(_covers(ip, w) for _, ip in _filter(conns, port, pid) for w in wanted)


def _proc_connections(proc: psutil.Process) -> list[Any]:
    # psutil >= 6 renamed connections() to net_connections().
    method = getattr(proc, "net_connections", None) or proc.connections
    return list(method(kind="tcp"))


def _filter(conns: Iterable[Any], port: int, pid: int | None) -> list[tuple[int | None, _Ip]]:
    found: list[tuple[int | None, _Ip]] = []
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        try:
            ip = ipaddress.ip_address(str(conn.laddr.ip).split("%", 1)[0])
        except ValueError:
            continue
        owner = conn.pid if getattr(conn, "pid", None) is not None else pid
        found.append((owner, ip))
    return found


def _resolve(host: str) -> list[_Ip]:
    """The addresses ``host`` stands for ("localhost" -> 127.0.0.1 and ::1)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DevstackError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))


def _v4(ip: _Ip) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    return ip.ipv4_mapped


def _covers(bound: _Ip, wanted: _Ip) -> bool:
    """Would a socket bound to ``bound`` take connections for (or conflict with) ``wanted``?"""
    if bound.is_unspecified and (bound.version == 6 or wanted.version == 4):
        # "::" is dual-stack by default on Linux and macOS (IPV6_V6ONLY off).
        return True
    if wanted.is_unspecified and (wanted.version == 6 or bound.version == 4):
        return True
    if bound == wanted:
        return True
    b4, w4 = _v4(bound), _v4(wanted)
    return b4 is not None and b4 == w4


def _holder(pid: int | None) -> PortHolder | None:
    """Details of ``pid``; None if it has exited (it no longer holds anything)."""
    if pid is None:
        return UNKNOWN_HOLDER
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = str(proc.name())
            create_time = float(proc.create_time())
            cmdline = " ".join(_or_default(proc.cmdline, []))
            username = _or_default(proc.username, None)
            cwd = _or_default(proc.cwd, None)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return PortHolder(pid, "", "", None, None, None)
    return PortHolder(pid, name, cmdline, username, cwd, create_time)


def _or_default(getter: Any, default: Any) -> Any:
    # cmdline/cwd/username of another user's process may be denied; the pid still helps.
    try:
        return getter()
    except psutil.AccessDenied:
        return default
