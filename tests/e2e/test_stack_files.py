"""The repository's own stack files: valid against the committed schema, loadable, and the
Procfile runs the same services with the same commands on the same ports."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from devstack.config import load_stack
from devstack.config.procfile import load_procfile

REPO = Path(__file__).resolve().parents[2]
STACKS = [REPO / "stack.toml", REPO / "examples" / "demo" / "stack.toml"]


@pytest.mark.parametrize("path", STACKS, ids=lambda p: str(p.relative_to(REPO)))
def test_stack_files_match_the_schema_editors_use(path: Path) -> None:
    schema = json.loads((REPO / "stack.schema.json").read_text())
    jsonschema.validate(tomllib.loads(path.read_text()), schema)
    assert load_stack(path, path.parent).services


def test_the_procfile_runs_the_stack_toml_services() -> None:
    stack = load_stack(REPO / "stack.toml", REPO)
    procfile = load_procfile(REPO / "Procfile", {})
    assert list(procfile.services) == list(stack.services) == ["backend", "frontend"]
    text = (REPO / "Procfile").read_text()
    for name, service in stack.services.items():
        line = next(line for line in text.splitlines() if line.startswith(f"{name}:"))
        assert f"cd {service.cwd.relative_to(REPO)} && " in line
        assert str(service.port) in line
    assert "gunicorn api:app --bind 127.0.0.1:5000 --workers 2 --timeout 120" in text
    assert "pnpm dev --port 3000 --hostname 127.0.0.1" in text
    assert "BOTEXCEL_API_BASE=http://127.0.0.1:5000" in text
