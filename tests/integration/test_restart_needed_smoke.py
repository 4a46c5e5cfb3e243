"""`ps` says `restart needed` only for changes that affect a service: an edit of a
`[[smoke]]` entry is not one (issue 19, point 4), while an edit of the service's own
table is. The real CLI against a real detached stack."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import free_port, program
from support.stackrun import downed_at_end, run_devstack

SMOKE = """
[[smoke]]
name = "home"
url = "${services.web.url}/"
expect_status = [200]
"""
EDITS = [
    ('name = "home"', 'name = "home page"'),
    ("expect_status = [200]", "expect_status = [200, 204]"),
    ('url = "${services.web.url}/"', 'url = "${services.web.url}/health"'),
    ("[[smoke]]", '[[smoke]]\nbody_contains = ["${services.web.url}"]\nmethod = "POST"'),
    (
        "[[smoke]]",
        '[[smoke]]\njson = { to = "${services.web.url}" }\n'
        'log_service = "web"\nlog_contains = "GET"',
    ),
]


def restart_needed(root: Path) -> bool:
    done = run_devstack(root, "ps", "--json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)["services"]
    return bool(row["restart_needed"])


def test_editing_a_smoke_entry_is_no_restart_needed(tmp_path: Path) -> None:
    port = free_port()
    toml = tmp_path / "stack.toml"
    toml.write_text(
        f'[services.web]\ncmd = ["{sys.executable}", "{program("http_server")}", "{port}"]\n'
        f'port = {port}\nhealth.http = "/"\n' + SMOKE
    )
    with downed_at_end(tmp_path):
        up = run_devstack(tmp_path, "up", "-d", timeout=90)
        assert up.returncode == 0, up.stdout + up.stderr
        assert restart_needed(tmp_path) is False
        for n, (old, new) in enumerate(EDITS, start=1):
            toml.write_text(toml.read_text().replace(old, new, 1))
            os.utime(toml, ns=(n * 10**9, n * 10**9))  # mtime resolution: seen as a change
            assert run_devstack(tmp_path, "config").returncode == 0
            assert restart_needed(tmp_path) is False, (old, new)
        # The service's own table: restart needed (so the file was read again above).
        toml.write_text(toml.read_text().replace('health.http = "/"', 'env = { MODE = "b" }'))
        os.utime(toml, ns=(99 * 10**9, 99 * 10**9))
        assert restart_needed(tmp_path) is True
