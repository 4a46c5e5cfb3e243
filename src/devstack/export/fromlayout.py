"""``devstack init`` in a repository whose parts live in folders of their own.

``frontend/`` + ``backend/``, ``web/`` + ``api/``, ``client/`` + ``server/``, the
folders of ``apps/`` (one level), or a folder holding a Django project's ``manage.py``
(``app/manage.py``): each folder with a package.json dev script is read as ``init``
reads one (``export/frompackage.py``), each with a Python web app gets the service that
serves it. Every service runs in its folder (``cwd``) and is named after it. A frontend
whose dev proxy (next.config.*, vite.config.*) sends requests to a local port serves the
backend there: the backend gets that port, and the frontend waits for
it to be ``healthy``.
"""

from __future__ import annotations

import re
from pathlib import Path

from devstack.errors import ConfigError
from devstack.export.frompackage import (
    depend_on_proxy_targets,
    dev_parts,
    entry_app,
    infer_package,
    is_django_project,
    proxy_targets,
    python_entry,
    read_scripts,
)
from devstack.export.fromprocfile import Inferred

# The usual names of a repository's two halves, the frontend's first.
FOLDERS = ("frontend", "backend", "web", "api", "client", "server", "ui")
GROUPS = ("apps",)  # folders whose every sub-folder is a part


def part_folders(root: Path) -> list[Path]:
    """The folders of ``root`` that hold a part: a package.json dev script or a Python app."""
    try:
        here = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    except OSError:
        return []
    # Backend/ and Frontend/ too: the names as the repository spells them.
    candidates = [here[name] for name in FOLDERS if name in here]
    for group in GROUPS:
        if group in here:
            candidates += sorted(p for p in here[group].iterdir() if p.is_dir())
    if not is_django_project(root):
        # A Django project one level down (app/manage.py beside a Dockerfile and a Pipfile).
        candidates += sorted(
            p for p in here.values() if p not in candidates and is_django_project(p)
        )
    return [
        folder
        for folder in candidates
        if folder.is_dir() and not folder.name.startswith(".") and _is_part(folder)
    ]


def _is_part(folder: Path) -> bool:
    if (folder / "package.json").is_file():
        try:
            if dev_parts(read_scripts(folder / "package.json"))[0] is not None:
                return True
        except ConfigError:  # not JSON: `init` names the line when it reads it
            return True
    return python_entry(folder, {}, set()) is not None


def root_app_too(root: Path) -> bool:
    """Is there a Python app in a file of ``root`` itself (app.py beside frontend/)?"""
    app = entry_app(root)
    return app is not None and app.path.parent == root


def infer_layout(root: Path) -> tuple[list[Inferred], list[str]]:
    """The services of ``root``'s part folders (cwd relative to ``root``), and head notes;
    a Python app in ``root``'s own files (app.py beside frontend/) is one more."""
    folders = part_folders(root)
    services: list[Inferred] = []
    notes: list[str] = []
    node_folders: list[tuple[Path, list[Inferred], dict[int, str]]] = []
    for folder in folders:
        if not (folder / "package.json").is_file():
            continue
        found, found_notes = infer_package(folder / "package.json", depend=False)
        if not found:
            continue
        _place(found, folder, root)
        node_folders.append((folder, found, proxy_targets(folder)))
        services += found
        notes += found_notes
    targets = {port: f"{f.name}/{file}" for f, _, t in node_folders for port, file in t.items()}
    for folder in folders:
        if any(folder == f for f, _, _ in node_folders):
            continue
        entry = python_entry(folder, targets, {s.port for s in services})
        if entry is not None:
            _place([entry], folder, root)
            services.append(entry)
    if root_app_too(root):
        entry = python_entry(root, targets, {s.port for s in services})
        if entry is not None:
            names = {s.name for s in services}
            entry.name = next(n for n in ("backend", "app", "python-app") if n not in names)
            services.append(entry)
    for _folder, dependents, own in node_folders:
        depend_on_proxy_targets(dependents, own, owners=services)
    _unique_ports(services)
    return services, notes


def _place(found: list[Inferred], folder: Path, root: Path) -> None:
    """Run in ``folder``, named after it (``frontend``; ``frontend-next``... for several)."""
    rel = folder.relative_to(root).as_posix()
    base = re.sub(r"[^a-z0-9_-]", "-", folder.name.lower()).strip("-") or "app"
    for svc in found:
        svc.name = base if len(found) == 1 else f"{base}-{svc.name}"
        svc.cwd = rel if svc.cwd in (None, ".") else f"{rel}/{svc.cwd}"


def _unique_ports(services: list[Inferred]) -> None:
    """Two dev servers on one default port (two Next apps): the later one moves up."""
    taken: set[int] = set()
    for svc in services:
        if svc.port is None:
            continue
        if svc.port in taken and "default port" in svc.port_reason:
            port = svc.port
            while port in taken:
                port += 1
            svc.notes.append(f"# port {port}: {svc.port} is another service's here")
            svc.port = port
        taken.add(svc.port)
