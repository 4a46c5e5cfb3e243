"""What a Node project folder reveals: package.json, its lockfile and package manager,
and when its packages were last installed. Stdlib only, no processes.

package.json is read once per content (keyed by path, size and mtime): a check of
forty services reading one frontend's file parses it once.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

# Lockfile -> the package manager that writes it, in the order they are looked for.
LOCKFILES = {
    "pnpm-lock.yaml": "pnpm",
    "yarn.lock": "yarn",
    "bun.lockb": "bun",
    "bun.lock": "bun",
    "package-lock.json": "npm",
}
MANAGERS = ("pnpm", "npm", "yarn", "bun")
# What each manager writes inside node_modules at the end of an install: its mtime is
# when the packages were last installed (node_modules' own mtime moves with any entry).
_INSTALL_MARKERS = {
    "pnpm": (".modules.yaml", ".pnpm/lock.yaml"),
    "npm": (".package-lock.json",),
    "yarn": (".yarn-state.yml", ".yarn-integrity"),
}
# Yarn Plug'n'Play installs no node_modules at all.
_PNP_FILES = (".pnp.cjs", ".pnp.js", ".pnp.loader.mjs")
_DEPENDENCY_KEYS = ("dependencies", "devDependencies", "optionalDependencies")


@dataclass(frozen=True, slots=True)
class Package:
    """The parts of a package.json the checks read."""

    path: Path
    scripts: dict[str, str] = field(default_factory=dict)
    has_dependencies: bool = False
    has_runtime_dependencies: bool = False  # "dependencies" itself, not dev/optional ones
    engines_node: str | None = None
    package_manager: str | None = None  # the "packageManager" field's name ("pnpm")
    workspaces: bool = False


@dataclass(frozen=True, slots=True)
class Lockfile:
    path: Path
    manager: str


def read_package(folder: Path) -> Package | None:
    """``folder``'s package.json, or None (none there, unreadable, not a JSON object)."""
    path = folder / "package.json"
    try:
        st = path.stat()
    except OSError:
        return None
    return _parsed(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _parsed(path: Path, _size: int, _mtime_ns: int) -> Package | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    scripts = data.get("scripts")
    engines = data.get("engines")
    node = engines.get("node") if isinstance(engines, dict) else None
    manager = str(data.get("packageManager") or "").split("@", 1)[0]
    return Package(
        path,
        {k: v for k, v in scripts.items() if isinstance(v, str)}
        if isinstance(scripts, dict)
        else {},
        any(isinstance(data.get(k), dict) and data[k] for k in _DEPENDENCY_KEYS),
        isinstance(data.get("dependencies"), dict) and bool(data["dependencies"]),
        node if isinstance(node, str) and node.strip() else None,
        manager if manager in MANAGERS else None,
        bool(data.get("workspaces")),
    )


def find_lockfile(folder: Path, prefer: str | None = None) -> Lockfile | None:
    """The lockfile of the project ``folder`` belongs to: in ``folder`` or a parent (a
    workspace keeps one at its root), not above the repository's root (a ``.git``).
    Of several in one folder, ``prefer``'s (the manager the command runs)."""
    for parent in _upwards(folder):
        found = [Lockfile(parent / n, m) for n, m in LOCKFILES.items() if (parent / n).is_file()]
        if found:
            return next((lock for lock in found if lock.manager == prefer), found[0])
        if (parent / ".git").exists():
            return None
    return None


def node_modules(folder: Path) -> Path | None:
    """The node_modules Node resolves ``folder``'s packages from: the nearest upwards, as
    Node's own lookup goes (a workspace's root, a folder above the stack's)."""
    for parent in _upwards(folder):
        if (parent / "node_modules").is_dir():
            return parent / "node_modules"
    return None


def is_plug_n_play(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _PNP_FILES)


def installed_at(modules: Path, manager: str) -> tuple[float, Path]:
    """When the packages in ``modules`` were installed, and the file that says so (the
    manager's own record, else node_modules itself)."""
    for name in _INSTALL_MARKERS.get(manager, ()):
        try:
            return (modules / name).stat().st_mtime, modules / name
        except OSError:
            continue
    return modules.stat().st_mtime, modules


def _upwards(folder: Path) -> list[Path]:
    folder = Path(os.path.abspath(folder))
    return [folder, *folder.parents]
