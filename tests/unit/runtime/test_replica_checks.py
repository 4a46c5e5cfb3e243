"""The checked restart of a service with replicas checks once for every copy, unless a
copy's values differ beyond its own port and url (issue 16, point 4)."""

from __future__ import annotations

from pathlib import Path

from devstack.checks.runner import check_key
from devstack.config import load_stack

STACK = """\
[services.worker]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1"
port = 5100
replicas = 3
env = { SELF = "${url}", LISTEN = "${host}:${port}" }
"""


def keys(tmp_path: Path, text: str) -> list[object]:
    (tmp_path / "stack.toml").write_text(text)
    stack = load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    return [check_key(spec) for spec in stack.services.values()]


def test_copies_that_differ_only_by_port_and_url_share_their_checks(tmp_path: Path) -> None:
    assert len(set(keys(tmp_path, STACK))) == 1


def test_a_value_of_the_copys_own_makes_it_checked_alone(tmp_path: Path) -> None:
    own = STACK.replace('SELF = "${url}"', 'SELF = "${url}", N = "${replica}"')
    assert len(set(keys(tmp_path, own))) == 3
    named = STACK.replace("--bind 127.0.0.1", "--bind 127.0.0.1 --name ${name}")
    assert len(set(keys(tmp_path, named))) == 3


def test_two_services_never_share_their_checks(tmp_path: Path) -> None:
    two = STACK + STACK.replace("worker", "other").replace("5100", "5200")
    assert len(set(keys(tmp_path, two))) == 2
