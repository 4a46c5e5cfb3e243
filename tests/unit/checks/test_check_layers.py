"""The env check of a layered stack with replicas (issue 16, point 5): the values checked
are the merged ones, a warning names the file (stack.local.toml, an included file) and
line that set the value, and its fix is a reference devstack accepts (a copy's own name,
``${services.api.2.url}``, is not one)."""

from __future__ import annotations

from pathlib import Path

from devstack.checks.envwiring import check_env
from devstack.checks.written import where_set
from devstack.config import load_stack

STACK = """\
include = ["sub/stack.toml"]

[services.web]
cmd = "python3 -m http.server ${port}"
port = 7411
env = { BACKEND = "http://127.0.0.1:7411/" }
"""
INCLUDED = """\
[services.api]
cmd = "python3 -m http.server ${port}"
port = 7430
replicas = 2
env = { WHERE = "sub" }
"""
LOCAL = """\
[services.web]
env = { BACKEND = "http://127.0.0.1:7999/" }
"""


def stack_of(root: Path) -> object:
    (root / "sub").mkdir()
    (root / "stack.toml").write_text(STACK)
    (root / "sub" / "stack.toml").write_text(INCLUDED)
    (root / "stack.local.toml").write_text(LOCAL)
    return load_stack(None, cwd=root, environ={"PATH": "/usr/bin:/bin"})


def test_env_warning_names_the_override_and_a_reference_that_loads(tmp_path: Path) -> None:
    # Before: "fix: in stack.toml: [services.web] env = { BACKEND =
    # "${services.api.2.url}/" }": the wrong file, and a reference the config refuses.
    stack = stack_of(tmp_path)
    [warning] = [r for r in check_env(stack.services["web"], stack, {}) if r.status == "warn"]
    assert "7999" in warning.summary  # the merged value: stack.local.toml's
    assert warning.fix == (
        'in stack.local.toml: [services.web] env = { BACKEND = "${services.api.url}/" }'
    )
    assert (warning.file, warning.line) == ("stack.local.toml", 2)
    assert "it most likely means api (its first copy, api.1: port 7430)" in warning.details


def test_where_set_finds_a_copys_value_in_its_included_file(tmp_path: Path) -> None:
    stack = stack_of(tmp_path)
    assert where_set(stack, "api.2", ("env", "WHERE")) == (tmp_path / "sub" / "stack.toml", 5)
    assert where_set(stack, "web", ("env", "BACKEND")) == (tmp_path / "stack.local.toml", 2)
    assert where_set(stack, "web", ("env", "NOPE")) is None
