"""Finding the stack file and the .devstack layout: str for the client, Path for the
supervisor, from the same code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.errors import ConfigError
from devstack.paths import StateLayout, StatePaths, recorded_pid
from devstack.stackfile import find_stack_file, is_procfile, locate_stack_file, stack_root


def test_default_is_stack_toml_then_procfile(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: sleep 1\n")
    assert locate_stack_file(None, str(tmp_path)) == str(tmp_path.resolve() / "Procfile")
    (tmp_path / "stack.toml").write_text("")
    assert locate_stack_file(None, str(tmp_path)) == str(tmp_path.resolve() / "stack.toml")


def test_file_option_relative_absolute_directory_and_symlink(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "dev.toml").write_text("")
    (sub / "stack.toml").write_text("")
    (tmp_path / "link.toml").symlink_to(sub / "dev.toml")
    cwd = str(tmp_path)
    real = str((sub / "dev.toml").resolve())
    assert locate_stack_file("sub/dev.toml", cwd) == real
    assert locate_stack_file(str(sub / "dev.toml"), "/") == real
    assert locate_stack_file("link.toml", cwd) == real  # resolved, as Path.resolve() does
    assert locate_stack_file("sub/", cwd) == str((sub / "stack.toml").resolve())


def test_find_stack_file_is_locate_as_a_path(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text("")
    found = find_stack_file(Path("stack.toml"), tmp_path)
    assert isinstance(found, Path)
    assert found == Path(locate_stack_file("stack.toml", str(tmp_path)))
    assert find_stack_file(None, tmp_path) == found
    assert find_stack_file("stack.toml", tmp_path) == found  # --file is a str now


def test_stack_root_is_the_files_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stack.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert stack_root(None) == str(tmp_path.resolve())


def test_missing_file_and_empty_directory_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        locate_stack_file("./nope.toml", str(tmp_path))
    assert f"{tmp_path / 'nope.toml'}: no such file" in missing.value.render()
    with pytest.raises(ConfigError) as empty:
        locate_stack_file(".", str(tmp_path))
    assert f"no stack.toml or Procfile in {tmp_path}\n" in empty.value.render() + "\n"
    assert missing.value.exit_code == empty.value.exit_code == 2


def test_is_procfile_takes_str_and_path() -> None:
    assert is_procfile("/a/Procfile") and is_procfile(Path("/a/Procfile.dev"))
    assert not is_procfile("/Procfile/stack.toml")


def test_state_paths_are_the_layout_as_paths(tmp_path: Path) -> None:
    paths, layout = StatePaths(tmp_path), StateLayout(str(tmp_path))
    assert paths.layout == layout
    pairs = [
        (paths.dir, layout.dir),
        (paths.state_file, layout.state_file),
        (paths.pid_file, layout.pid_file),
        (paths.socket, layout.socket),
        (paths.log_dir, layout.log_dir),
        (paths.log_file("api"), layout.log_file("api")),
    ]
    for as_path, as_str in pairs:
        assert isinstance(as_path, Path) and isinstance(as_str, str)
        assert as_path == Path(as_str)
        assert as_str.startswith(os.path.join(str(tmp_path), ".devstack"))
    assert layout.log_file("api") == str(tmp_path / ".devstack" / "logs" / "api.log")


def test_prepare_makes_private_dirs_and_recorded_pid_reads_the_pid(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    paths.prepare()
    assert paths.dir.stat().st_mode & 0o777 == 0o700
    assert paths.log_dir.is_dir() and paths.log_dir.stat().st_mode & 0o077 == 0
    assert recorded_pid(paths.pid_file) is None  # no file yet
    paths.pid_file.write_text("1234 1700000000.5\n")
    assert recorded_pid(paths.pid_file) == recorded_pid(paths.layout.pid_file) == 1234
    paths.pid_file.write_text("garbage\n")
    assert recorded_pid(paths.pid_file) is None
