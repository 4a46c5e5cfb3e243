"""Refused connections in a service's output, mapped to the service that should answer.

``connect ECONNREFUSED 127.0.0.1:5000`` from a Next.js frontend means nothing listens
on the backend's port; devstack knows which service declared that port and what
became of it, and says so right after the line, once per episode. Pure parsing here.
"""

from __future__ import annotations

import re

# (regex, host group, port group): Node, Python requests/urllib3, curl.
_FORMS = (
    re.compile(r"ECONNREFUSED\s+\[?([0-9A-Za-z.:\-]+)\]?:(\d{1,5})\b"),
    re.compile(r"host='([^']+)', port=(\d{1,5})\).*(?:Connection refused|ECONNREFUSED)"),
    re.compile(r"Failed to connect to (\S+) port (\d{1,5})\b.*(?:refused|Couldn't connect)"),
)
_HINT = ("ECONNREFUSED", "refused", "Couldn't connect")


def refused_addresses(text: str) -> list[tuple[str, int]]:
    """(host, port) of every refused connection named in ``text`` (several lines)."""
    if not any(h in text for h in _HINT):  # the common case costs one scan
        return []
    found: list[tuple[str, int]] = []
    for form in _FORMS:
        for match in form.finditer(text):
            address = (match.group(1).strip("[]"), int(match.group(2)))
            if address not in found:
                found.append(address)
    return found


def is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::") or host.startswith("127.")
