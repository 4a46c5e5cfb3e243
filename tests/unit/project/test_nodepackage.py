"""A Node project's package.json, lockfile and node_modules, as the node check reads them."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.project.nodepackage import find_lockfile, node_modules, read_package


def test_package_json_parts(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps(
            {
                "scripts": {"dev": "next dev", "bad": 1},
                "devDependencies": {"next": "16"},
                "engines": {"node": ">=20"},
                "packageManager": "pnpm@10.2.0",
            }
        )
    )
    package = read_package(tmp_path)
    assert package is not None
    assert package.scripts == {"dev": "next dev"}
    assert package.has_dependencies and package.engines_node == ">=20"
    assert package.package_manager == "pnpm"
    (tmp_path / "package.json").write_text("[1, 2]")
    assert read_package(tmp_path) is None  # not an object: nothing to read
    (tmp_path / "package.json").write_text("{not json")
    assert read_package(tmp_path) is None


def test_a_workspace_lockfile_and_node_modules_at_its_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    (tmp_path / "node_modules").mkdir()
    web = tmp_path / "apps" / "web"
    web.mkdir(parents=True)
    lock = find_lockfile(web)
    assert lock is not None and (lock.path, lock.manager) == (tmp_path / "pnpm-lock.yaml", "pnpm")
    assert node_modules(web) == tmp_path / "node_modules"


def test_the_commands_manager_wins_among_several_lockfiles(tmp_path: Path) -> None:
    (tmp_path / "pnpm-lock.yaml").write_text("")
    (tmp_path / "package-lock.json").write_text("{}")
    assert find_lockfile(tmp_path, prefer="npm").manager == "npm"  # type: ignore[union-attr]
    assert find_lockfile(tmp_path).manager == "pnpm"  # type: ignore[union-attr]


def test_no_lockfile_above_the_repository(tmp_path: Path) -> None:
    (tmp_path / "package-lock.json").write_text("{}")  # someone else's, above the repo
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert find_lockfile(repo) is None
