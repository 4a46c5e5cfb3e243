"""devstack's http and tcp probes as small programs another runner can execute.

Compose healthchecks run one of these inside the container: Python (stdlib only) or
Node, whichever the service's own image will have. systemd units run the bash form
after the start (``ExecStartPost=``), polling, so a unit counts as started only once
it answers; bash, not Python, so that no unit names devstack's own interpreter.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from devstack.spec import HealthSpec

WILDCARDS = ("0.0.0.0", "::", "[::]", "")
_NODE_PROGRAMS = frozenset({"node", "npm", "npx", "pnpm", "yarn", "next", "vite", "bun"})


def runtime_of(argv: Sequence[str]) -> str:
    """ "node" for a Node.js command (node, npm, next...), else "python"."""
    words = list(argv)
    if len(words) >= 3 and os.path.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            words = []
    first = os.path.basename(words[0]) if words else ""
    return "node" if first in _NODE_PROGRAMS else "python"


def local_url(url: str) -> str:
    """``url`` with a wildcard host replaced by 127.0.0.1 (what a probe connects to)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host not in WILDCARDS and host != "localhost":
        return url
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def tcp_address(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    return ("127.0.0.1" if host in WILDCARDS else host), int(port)


def python_probe(health: HealthSpec) -> str | None:
    """A ``python3 -c`` program that exits 0 when the probe passes; None for the kinds that
    are not a network probe (cmd, log)."""
    if health.kind == "http":
        expect = health.expect_status
        ok = f"c in {set(expect)!r}" if expect else "200 <= c < 400"
        url = local_url(health.target)
        check = (
            "import urllib.request as r, urllib.error as e\n"
            "def ok():\n"
            "    try:\n"
            f"        c = r.urlopen({url!r}, timeout={health.timeout:g}).status\n"
            "    except e.HTTPError as x:\n"
            "        c = x.code\n"
            "    except OSError:\n"
            "        return False\n"
            f"    return {ok}\n"
        )
    elif health.kind == "tcp":
        host, port = tcp_address(health.target)
        check = (
            "import socket\n"
            "def ok():\n"
            "    try:\n"
            f"        socket.create_connection(({host!r}, {port}), {health.timeout:g}).close()\n"
            "    except OSError:\n"
            "        return False\n"
            "    return True\n"
        )
    else:
        return None
    return check + "raise SystemExit(0 if ok() else 1)\n"


def node_probe(health: HealthSpec) -> str | None:
    """A ``node -e`` program (Node 18+) that exits 0 when the probe passes, once."""
    ms = int(health.timeout * 1000)
    if health.kind == "http":
        expect = list(health.expect_status)
        ok = f"{expect}.includes(r.status)" if expect else "r.status >= 200 && r.status < 400"
        url = local_url(health.target)
        return (
            f"fetch({url!r}, {{signal: AbortSignal.timeout({ms})}})"
            f".then(r => process.exit({ok} ? 0 : 1), () => process.exit(1))"
        )
    if health.kind == "tcp":
        host, port = tcp_address(health.target)
        return (
            f"const s = require('net').connect({port}, {host!r}); s.setTimeout({ms});"
            " s.on('connect', () => process.exit(0));"
            " s.on('error', () => process.exit(1)); s.on('timeout', () => process.exit(1))"
        )
    return None


# One http attempt in bash alone ($1 host, $2 port, $3 path, $4 Host header): the
# status line's code. Plain http only; https goes through curl.
_HTTP_STATUS = (
    'exec 3<>"/dev/tcp/$1/$2" || exit 1; '
    "printf 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' "
    '"$3" "$4" >&3; read -r _ code _ <&3 || exit 1; '
)
_HTTPS_STATUS = 'code=$(curl -sk -o /dev/null -w "%{http_code}" "$1") || exit 1; '


def bash_wait(health: HealthSpec, command: Sequence[str] | None = None) -> list[str] | None:
    """An argv that returns once the probe passes, polling: bash and coreutils' ``timeout``
    only (https: curl too); None for a log probe. ``command``: the cmd probe's argv
    (its program resolved by the caller); each attempt is bounded by the probe's timeout."""
    if health.kind == "cmd":
        attempt = list(command or shlex.split(health.target))
    elif health.kind == "tcp":
        host, port = tcp_address(health.target)
        attempt = ["/bin/bash", "-c", ': <>"/dev/tcp/$1/$2"', "tcp", host, str(port)]
    elif health.kind == "http":
        url = urlsplit(local_url(health.target))
        codes = "|".join(str(c) for c in health.expect_status) or "[23][0-9][0-9]"
        # A case pattern: the codes given, else any 2xx/3xx (as devstack's probe).
        judge = f"case $code in {codes}) exit 0;; esac; exit 1"
        if url.scheme == "https":
            attempt = ["/bin/bash", "-c", _HTTPS_STATUS + judge, "https", urlunsplit(url)]
        else:
            host, port = url.hostname or "127.0.0.1", url.port or 80
            path = urlunsplit(("", "", url.path or "/", url.query, ""))
            attempt = ["/bin/bash", "-c", _HTTP_STATUS + judge, "http", host, str(port), path]
            attempt.append(url.netloc)
    else:
        return None
    wait = f'until timeout {health.timeout:g} "$@" >/dev/null 2>&1; do sleep 0.2; done'
    return ["/bin/bash", "-c", wait, "probe", *attempt]
