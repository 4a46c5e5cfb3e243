"""``venv = PATH``: a path that does not exist is a config error naming it, unless the
service's own setup step may be what creates it (issue 19, point 4)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from devstack.config import load_stack, speccache
from devstack.errors import ConfigError


def write(tmp_path: Path, service: str) -> Path:
    (tmp_path / "api").mkdir(exist_ok=True)
    file = tmp_path / "stack.toml"
    file.write_text(
        '[services.api]\ncwd = "api"\ncmd = "python app.py"\n' + textwrap.dedent(service)
    )
    return file


def make_venv(path: Path) -> None:
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")


def test_a_venv_path_that_does_not_exist_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """Field trial: `venv = "../.venvs/api"` (a typo) was ignored without a word, and the
    service ran the system's gunicorn."""
    write(tmp_path, 'venv = "../.venvs/api"\n')
    with pytest.raises(ConfigError) as caught:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    [problem] = caught.value.problems
    assert problem.key_path == "services.api.venv"
    assert problem.line == 4
    assert problem.message == f"virtualenv not found: {tmp_path / '.venvs' / 'api'}"
    assert "setup" in (problem.hint or "")


def test_a_venv_the_services_setup_step_may_create_is_not_an_error_before_it_ran(
    tmp_path: Path,
) -> None:
    write(tmp_path, 'venv = "env"\nsetup = "python3 -m venv env"\n')
    spec = load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    venv = tmp_path / "api" / "env"
    assert spec.services["api"].venv == venv
    assert spec.services["api"].env["PATH"].split(os.pathsep)[0] == str(venv / "bin")


def test_an_existing_venv_path_loads(tmp_path: Path) -> None:
    write(tmp_path, 'venv = "~/venvs/api"\n')
    make_venv(tmp_path / "home" / "venvs" / "api")
    home = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    old = os.environ.get("HOME")
    os.environ["HOME"] = home["HOME"]  # Path.expanduser reads the process's HOME
    try:
        spec = load_stack(cwd=tmp_path, environ=home)
    finally:
        if old is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = old
    assert spec.services["api"].venv == tmp_path / "home" / "venvs" / "api"


def test_a_written_venv_removed_since_the_cached_load_is_a_cache_miss(tmp_path: Path) -> None:
    file = write(tmp_path, 'venv = "env"\n')
    make_venv(tmp_path / "api" / "env")
    env = {"PATH": "/usr/bin:/bin"}
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    assert speccache.load(cache, file, env) is not None
    for part in ("pyvenv.cfg", "bin"):
        target = tmp_path / "api" / "env" / part
        target.rmdir() if target.is_dir() else target.unlink()
    (tmp_path / "api" / "env").rmdir()
    assert speccache.load(cache, file, env) is None
    with pytest.raises(ConfigError, match="virtualenv not found"):
        load_stack(file, tmp_path, environ=env)
