"""Audit trail of the API: one JSON object per line (NDJSON), client IPs masked."""

from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from pathlib import Path

# The log sits beside this file unless BOTEXCEL_AUDIT_LOG says otherwise.
AUDIT_LOG = Path(os.environ.get("BOTEXCEL_AUDIT_LOG", Path(__file__).with_name("audit.ndjson")))
_lock = threading.Lock()


def mask_ip(address: str | None) -> str:
    """Keep the network, hide the host: 203.0.113.7 -> 203.0.113.0, IPv6 to its /48."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "-"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def record(
    event: str, *, client_ip: str | None, status: int, **fields: object
) -> dict[str, object]:
    """Append one event; gunicorn's workers are separate processes, so each line is one write."""
    entry: dict[str, object] = {
        "ts": round(time.time(), 3),
        "event": event,
        "client": mask_ip(client_ip),
        "status": status,
        **fields,
    }
    line = json.dumps(entry, sort_keys=True) + "\n"
    with _lock, AUDIT_LOG.open("a", encoding="utf-8") as log:
        log.write(line)
    return entry
