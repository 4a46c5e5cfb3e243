"""export compose|systemd|procfile of a stack with stack.local.toml and included files
(issue 16, points 2 and 3): the merged values, each service's paths from its own folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from devstack.export.compose import to_compose
from devstack.export.source import load_source
from devstack.export.systemd import to_systemd
from devstack.export.toprocfile import to_procfile

ENV = {"PATH": "/usr/bin:/bin"}


def monorepo(root: Path) -> None:
    files = {
        "stack.toml": """\
            include = ["services/api/stack.toml"]

            [services.web]
            cmd = "python3 -m http.server ${port}"
            port = 8000
            env = { API_BASE = "${services.api.url}" }
            """,
        "services/api/stack.toml": """\
            [services.api]
            cmd = "python3 app.py --port ${port}"
            port = 5000
            env_file = ".env"
            env = { MODE = "dev" }
            """,
        "services/api/.env": "API_WORD=x\n",
        "stack.local.toml": '[services.api]\nenv.MODE = "local"\n',
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def test_compose_follows_the_included_file_and_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monorepo(tmp_path)
    monkeypatch.chdir(tmp_path)  # found as `devstack export` finds it: stack.local.toml merged
    source = load_source(None, ENV)
    data = yaml.safe_load(to_compose(source, tmp_path))
    api, web = data["services"]["api"], data["services"]["web"]
    assert api["working_dir"].endswith("/services/api")
    assert api["env_file"] == ["services/api/.env"]
    assert api["environment"]["MODE"] == "local"
    assert api["command"] == ["python3", "app.py", "--port", "5000"]
    assert web["environment"]["API_BASE"] == "http://api:5000"


def test_systemd_units_run_each_service_in_its_own_folder_and_check_the_same_files(
    tmp_path: Path,
) -> None:
    monorepo(tmp_path)
    source = load_source([tmp_path / "stack.toml", tmp_path / "stack.local.toml"], ENV)
    units = to_systemd(source)
    api = next(text for name, text in units.items() if name.endswith("-api.service"))
    assert f"WorkingDirectory={tmp_path / 'services' / 'api'}" in api.splitlines()
    assert "Environment=MODE=local" in api.splitlines()
    # The check is not run by the unit (devstack may not be installed where it runs): its
    # comment names the same files.
    check = next(line for line in api.splitlines() if "`devstack check" in line)
    assert f"-f {tmp_path / 'stack.toml'} -f {tmp_path / 'stack.local.toml'} api`" in check


def test_procfile_cds_into_the_included_services_folder(tmp_path: Path) -> None:
    monorepo(tmp_path)
    text, _lost = to_procfile(load_source([tmp_path / "stack.toml"], ENV))
    api = next(line for line in text.splitlines() if line.startswith("api:"))
    assert "cd services/api" in api
