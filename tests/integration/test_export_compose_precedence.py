"""`devstack export compose` beside a project's own compose file (issue 19, point 4):
compose runs the first of compose.yaml, compose.yml, docker-compose.yaml,
docker-compose.yml it finds, so a compose.yaml written beside docker-compose.yaml
silently replaced the project's own stack for `docker compose up`."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.stackrun import run_devstack

STACK = '[services.api]\ncmd = "python3 -m http.server ${port}"\nport = 5000\n'
THEIRS = "services:\n  db:\n    image: postgres:16\n"


@pytest.mark.parametrize("theirs", ["docker-compose.yaml", "docker-compose.yml", "compose.yml"])
def test_export_compose_refuses_to_shadow_the_projects_compose_file(
    tmp_path: Path, theirs: str
) -> None:
    (tmp_path / "stack.toml").write_text(STACK)
    (tmp_path / theirs).write_text(THEIRS)
    refused = run_devstack(tmp_path, "export", "compose")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert not (tmp_path / "compose.yaml").exists()
    assert (tmp_path / theirs).read_text() == THEIRS
    lines = refused.stderr.splitlines()
    assert lines[0] == (
        f"error: {tmp_path / theirs} exists: with compose.yaml beside it, `docker compose` "
        "would run compose.yaml instead of it (compose reads the first of compose.yaml, "
        "compose.yml, docker-compose.yaml, docker-compose.yml)"
    )
    assert "-o devstack.compose.yaml" in lines[1] and "--force" in lines[1]
    assert "Traceback" not in refused.stderr

    elsewhere = run_devstack(tmp_path, "export", "compose", "-o", "devstack.compose.yaml")
    assert elsewhere.returncode == 0, elsewhere.stderr
    forced = run_devstack(tmp_path, "export", "compose", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "compose.yaml").is_file()


def test_export_compose_to_a_name_compose_ignores_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(STACK)
    (tmp_path / "compose.yaml").write_text(THEIRS)
    refused = run_devstack(tmp_path, "export", "compose", "-o", "docker-compose.yml")
    assert refused.returncode == 2
    assert "would run it and ignore docker-compose.yml" in refused.stderr
    assert not (tmp_path / "docker-compose.yml").exists()


def test_export_compose_with_no_other_compose_file_writes_compose_yaml(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(STACK)
    assert run_devstack(tmp_path, "export", "compose").returncode == 0
    again = run_devstack(tmp_path, "export", "compose")  # its own output: replaced
    assert again.returncode == 0, again.stderr
