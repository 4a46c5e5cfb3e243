"""Finding the stack file and the .devstack layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.errors import ConfigError
from devstack.paths import StatePaths, recorded_pid
from devstack.stackfile import find_stack_file, included_by, is_procfile


def test_default_is_stack_toml_then_procfile(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: sleep 1\n")
    assert find_stack_file(None, str(tmp_path)) == tmp_path.resolve() / "Procfile"
    (tmp_path / "stack.toml").write_text("")
    assert find_stack_file(None, tmp_path) == tmp_path.resolve() / "stack.toml"


def test_file_option_relative_absolute_directory_and_symlink(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "dev.toml").write_text("")
    (sub / "stack.toml").write_text("")
    (tmp_path / "link.toml").symlink_to(sub / "dev.toml")
    cwd = str(tmp_path)
    real = (sub / "dev.toml").resolve()
    assert find_stack_file("sub/dev.toml", cwd) == real
    assert find_stack_file(sub / "dev.toml", "/") == real
    assert find_stack_file("link.toml", cwd) == real  # resolved, as Path.resolve() does
    assert find_stack_file("sub/", cwd) == (sub / "stack.toml").resolve()


def test_missing_file_and_empty_directory_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        find_stack_file("./nope.toml", tmp_path)
    assert f"{tmp_path / 'nope.toml'}: no such file" in missing.value.render()
    with pytest.raises(ConfigError) as empty:
        find_stack_file(".", tmp_path)
    assert f"no stack.toml or Procfile in {tmp_path}\n" in empty.value.render() + "\n"
    assert missing.value.exit_code == empty.value.exit_code == 2


def test_is_procfile_takes_str_and_path() -> None:
    assert is_procfile("/a/Procfile") and is_procfile(Path("/a/Procfile.dev"))
    assert not is_procfile("/Procfile/stack.toml")


def test_state_paths_default_to_dot_devstack_beside_the_stack_file(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    assert paths.dir == tmp_path / ".devstack"
    assert paths.log_file("api") == tmp_path / ".devstack" / "logs" / "api.log"
    assert paths.socket == tmp_path / ".devstack" / "devstack.sock"


def test_prepare_makes_private_dirs_and_recorded_pid_reads_the_pid(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    paths.prepare()
    assert paths.dir.stat().st_mode & 0o777 == 0o700
    assert paths.log_dir.is_dir() and paths.log_dir.stat().st_mode & 0o077 == 0
    assert recorded_pid(paths.pid_file) is None  # no file yet
    paths.pid_file.write_text("1234 1700000000.5\n")
    assert recorded_pid(paths.pid_file) == recorded_pid(str(paths.pid_file)) == 1234
    paths.pid_file.write_text("garbage\n")
    assert recorded_pid(paths.pid_file) is None


def test_included_by_names_the_top_file_that_includes_a_folders_stack_toml(
    tmp_path: Path,
) -> None:
    # Field trial of issue 16 (a monorepo): in services/api, whose stack.toml the top one
    # includes, `devstack ps` said "no stack is running" beside the running stack.
    services = tmp_path / "services"
    api = services / "api"
    api.mkdir(parents=True)
    (tmp_path / "stack.toml").write_text('include = ["services/stack.toml"]\n')
    (services / "stack.toml").write_text('include = ["api/stack.toml"]\n')
    (api / "stack.toml").write_text('[services.api]\ncmd = "true"\n')
    top = tmp_path.resolve() / "stack.toml"
    assert included_by(api / "stack.toml") == top  # through services/stack.toml
    assert included_by(services / "stack.toml") == top
    assert included_by(top) is None
    (tmp_path / "stack.toml").write_text("include = [")  # broken TOML: no answer, no error
    assert included_by(services / "stack.toml") is None
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "stack.toml").write_text("")
    assert included_by(lone / "stack.toml") is None
