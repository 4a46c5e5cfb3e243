"""Where the state folder is (DEVSTACK_STATE_DIR, [stack] state_dir, .devstack) and the
.gitignore that keeps the project's own tools (git, Tailwind v4, watchers) out of it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.paths import (
    GITIGNORE,
    StatePaths,
    UnsafeStateDir,
    configured_state_dir,
    resolve_state_dir,
)

STACK = '[services.api]\ncmd = "sleep 60"\n'


def test_state_folder_gets_a_gitignore_of_everything(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    paths.prepare()
    ignore = paths.dir / ".gitignore"
    assert ignore.read_text() == GITIGNORE
    assert GITIGNORE.splitlines()[0].startswith("#") and GITIGNORE.splitlines()[1] == "*"
    assert paths.dir.stat().st_mode & 0o777 == 0o700


def test_existing_state_folder_without_one_gets_it_and_a_users_own_stays(tmp_path: Path) -> None:
    """Users of earlier versions have a .devstack/ without a .gitignore."""
    old = tmp_path / ".devstack"
    old.mkdir(mode=0o700)
    (old / "state.json").write_text("{}")
    StatePaths(tmp_path).prepare()
    assert (old / ".gitignore").read_text() == GITIGNORE
    (old / ".gitignore").write_text("*.log\n")
    StatePaths(tmp_path).prepare()
    assert (old / ".gitignore").read_text() == "*.log\n"


def test_git_sees_nothing_of_the_state_folder(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    (tmp_path / "app.py").write_text("")
    paths = StatePaths(tmp_path)
    paths.prepare()
    (paths.log_dir / "api.log").write_text("a line\n")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert status.stdout == "?? app.py\n"


@pytest.mark.parametrize("mode", [0o755, 0o770])
def test_unsafe_existing_folder_is_still_refused_and_left_alone(tmp_path: Path, mode: int) -> None:
    wide = tmp_path / ".devstack"
    wide.mkdir()
    wide.chmod(mode)
    with pytest.raises(UnsafeStateDir, match="mode"):
        StatePaths(tmp_path).prepare()
    assert not (wide / ".gitignore").exists()


def test_symlinked_state_folder_is_still_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / ".devstack").symlink_to(target)
    with pytest.raises(UnsafeStateDir, match="symbolic link"):
        StatePaths(tmp_path).prepare()
    assert not (target / ".gitignore").exists()


def test_a_state_dir_with_missing_parents_is_made(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path, tmp_path / "var" / "run" / "devstack")
    paths.prepare()
    assert paths.dir.stat().st_mode & 0o777 == 0o700
    assert (paths.dir / ".gitignore").exists() and paths.log_dir.is_dir()
    assert paths.state_file == tmp_path / "var" / "run" / "devstack" / "state.json"


def test_env_wins_over_the_key_which_wins_over_the_default() -> None:
    env = {"DEVSTACK_STATE_DIR": "/tmp/ds-state"}
    assert resolve_state_dir("/proj", "var/ds", env) == "/tmp/ds-state"
    assert resolve_state_dir("/proj", "var/ds", {}) == "/proj/var/ds"
    assert resolve_state_dir("/proj", None, {}) == "/proj/.devstack"
    assert resolve_state_dir("/proj", "../ds", {}) == "/ds"
    assert resolve_state_dir("/proj", None, {"DEVSTACK_STATE_DIR": "rel"}) == "/proj/rel"
    assert resolve_state_dir("/proj", None, {"DEVSTACK_STATE_DIR": ""}) == "/proj/.devstack"
    home = os.path.expanduser("~")
    assert resolve_state_dir("/proj", "~/ds", {}) == os.path.join(home, "ds")


def test_client_reads_the_key_as_the_loader_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ps/logs/down read [stack] state_dir with tomllib; up loads it through the models:
    both land on the same folder."""
    monkeypatch.delenv("DEVSTACK_STATE_DIR", raising=False)
    file = tmp_path / "stack.toml"
    file.write_text('[stack]\nstate_dir = "var/ds"\n\n' + STACK)
    assert configured_state_dir(str(file)) == "var/ds"
    stack = load_stack(file)
    assert stack.state_dir() == tmp_path / "var" / "ds"
    assert StatePaths.of_file(str(file)).dir == tmp_path / "var" / "ds"
    assert StatePaths.of_stack(stack) == StatePaths.of_file(file)
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path / "env"))
    assert load_stack(file).state_dir() == tmp_path / "env"
    assert StatePaths.of_file(str(file)).dir == tmp_path / "env"


@pytest.mark.parametrize(
    "text",
    [STACK, '[stack]\nname = "x"\n' + STACK, "[stack\nbroken", "[stack]\nstate_dir = 5\n"],
)
def test_no_usable_key_means_the_default(tmp_path: Path, text: str) -> None:
    file = tmp_path / "stack.toml"
    file.write_text(text)
    assert configured_state_dir(str(file)) is None
    assert configured_state_dir(str(tmp_path / "Procfile")) is None
    assert configured_state_dir(str(tmp_path / "missing.toml")) is None


def test_procfile_stack_honours_the_env(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: sleep 60\n")
    env = {"PATH": os.environ["PATH"], "DEVSTACK_STATE_DIR": str(tmp_path / "st")}
    assert load_stack(tmp_path / "Procfile", environ=env).state_dir() == tmp_path / "st"
    plain = {"PATH": os.environ["PATH"]}
    assert load_stack(tmp_path / "Procfile", environ=plain).state_dir() == tmp_path / ".devstack"


def test_a_bad_key_is_a_config_error(tmp_path: Path) -> None:
    from devstack.errors import ConfigError

    file = tmp_path / "stack.toml"
    file.write_text('[stack]\nstate_dir = ""\n\n' + STACK)
    with pytest.raises(ConfigError, match="state_dir"):
        load_stack(file)


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_a_new_state_folder_is_excluded_in_its_repository(tmp_path: Path) -> None:
    """The folder itself, not only what is in it: Tailwind v4 hands every folder no ignore
    rule hides to webpack, which then rebuilds on each write in it."""
    assert git(tmp_path, "init", "-q").returncode == 0
    (tmp_path / "web").mkdir()
    assert git(tmp_path, "check-ignore", "-q", "web/.devstack").returncode == 1
    StatePaths(tmp_path / "web").prepare()
    exclude = tmp_path / ".git" / "info" / "exclude"
    assert "/web/.devstack/" in exclude.read_text().splitlines()
    assert git(tmp_path, "check-ignore", "-q", "web/.devstack").returncode == 0
    (tmp_path / "web" / ".devstack" / ".gitignore").unlink()  # as an earlier devstack left it
    StatePaths(tmp_path / "web").prepare()
    assert exclude.read_text().count("/web/.devstack/") == 1


def test_a_folder_the_project_ignores_already_leaves_git_alone(tmp_path: Path) -> None:
    assert git(tmp_path, "init", "-q").returncode == 0
    (tmp_path / ".gitignore").write_text(".devstack/\n")
    exclude = tmp_path / ".git" / "info" / "exclude"
    before = exclude.read_text() if exclude.exists() else None
    StatePaths(tmp_path).prepare()
    assert (exclude.read_text() if exclude.exists() else None) == before


def test_a_worktree_excludes_in_the_common_git_dir(tmp_path: Path) -> None:
    main, tree = tmp_path / "main", tmp_path / "tree"
    assert git(tmp_path, "init", "-q", str(main)).returncode == 0
    (main / "a.txt").write_text("a")
    git(main, "add", "a.txt")
    commit = git(main, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    assert commit.returncode == 0, commit.stderr
    assert git(main, "worktree", "add", "-q", str(tree)).returncode == 0
    StatePaths(tree).prepare()
    assert "/.devstack/" in (main / ".git" / "info" / "exclude").read_text().splitlines()
    assert git(tree, "status", "--porcelain", "--untracked-files=all").stdout == ""
