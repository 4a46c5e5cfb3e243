"""What a module that is not found most likely is: a dependency not installed (declared
in the service's requirements), one never declared, a typo of a module beside the file
that imports it, or the app's own module in a subfolder of where the service runs.

Read only after an import failed; the files are read, never imported (the import
check verifies a subfolder by importing there, with the probe).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.checks.declared import (
    DISTRIBUTIONS,
    distribution_candidates,
    distribution_of,
    install_command,
    manifests,
)
from devstack.checks.provides import setup_for
from devstack.project.venv import find_venv, venv_of
from devstack.spec import ServiceSpec, StackSpec

# Folders that hold no module of the app's own.
_SKIP = {"node_modules", "__pycache__", "site-packages", "build", "dist", "venv", "env"}
_MAX_DEPTH = 3
_MAX_DIRS = 400


@dataclass(frozen=True, slots=True)
class Hint:
    """The class of a missing module (``kind``), what shows it, and the fix."""

    kind: str  # "not-installed", "undeclared", "typo"
    details: tuple[str, ...]
    fix: str


def explain_missing(
    missing: str,
    importer: Path | None,
    paths: Sequence[Path],
    spec: ServiceSpec,
    stack: StackSpec | None,
    python: str,
    interpreter: str,
) -> Hint | None:
    """Why ``missing`` (a ``ModuleNotFoundError``'s name) is not found when ``importer``
    imports it. ``python``: the service's interpreter as shown (``.venv/bin/python``);
    ``interpreter``: its environment in words (``.venv``). None: no better idea than the
    file and line that imports it (a missing submodule of the app's own package)."""
    here = [importer.parent] if importer is not None else []
    dirs = list(dict.fromkeys([*here, *paths]))
    top = missing.split(".")[0]
    if any(_is_module(d, top) for d in dirs):
        typo = typo_of(missing, dirs)
        return _typo(typo, importer) if typo is not None else None
    found = manifests(spec.cwd, stack.root if stack else None)
    declared = found.declared(distribution_candidates(missing))
    if declared is None and "." in missing:
        declared = found.extending(missing.replace(".", "-"))
    if declared is not None:
        where = os.path.relpath(declared.path, spec.cwd)
        at = f"{where}:{declared.line}" if declared.line else where
        setup = setup_for(spec, stack)
        fix = (
            setup.fix(declared.distribution)
            if setup is not None
            else install_command(declared, python, spec.cwd)
        )
        return Hint(
            "not-installed",
            (f"{declared.distribution} is declared in {at}, but not installed in {interpreter}",),
            fix,
        )
    if "." in missing:
        return None  # its package is there; the line that imports it says the rest
    typo = typo_of(missing, dirs) if top not in DISTRIBUTIONS else None
    package = distribution_of(missing)
    if typo is not None:
        # `import requests` beside request.py may as well be a package never installed.
        hint = _typo(typo, importer)
        other = f"(if {top} is a package to install instead: {python} -m pip install {package})"
        return Hint(hint.kind, (*hint.details, other), hint.fix)
    if found.files:
        names = ", ".join(dict.fromkeys(os.path.relpath(f, spec.cwd) for f in found.files))
        said = f"{package} is not declared in {names}"
        declare = os.path.relpath(found.files[0], spec.cwd)
    else:
        said = f"{package} is not declared: no requirements*.txt, pyproject.toml or Pipfile here"
        declare = "requirements.txt"
    return Hint(
        "undeclared",
        (said, f"install it into {interpreter} (the service's Python), and add it to {declare}"),
        f"{python} -m pip install {package}",
    )


@dataclass(frozen=True, slots=True)
class Typo:
    """``wanted`` is not there; ``found`` (a file or package in ``directory``) is."""

    wanted: str
    found: str  # the dotted name to import instead
    path: Path  # serialisers.py, or the package's folder


def typo_of(missing: str, dirs: Sequence[Path]) -> Typo | None:
    """A module beside the importer (or under the app's own package) whose name is
    close to ``missing`` (difflib): ``serializers`` -> serialisers.py."""
    parts = missing.split(".")
    for base in dirs:
        here, prefix = base, list[str]()
        for part in parts[:-1]:
            if not (here / part).is_dir():
                break
            here, prefix = here / part, [*prefix, part]
        if len(prefix) != len(parts) - 1:
            continue
        names = _modules_in(here)
        close = difflib.get_close_matches(parts[-1], list(names), n=1, cutoff=0.8)
        if close:
            return Typo(missing, ".".join([*prefix, close[0]]), names[close[0]])
    return None


def _typo(typo: Typo, importer: Path | None) -> Hint:
    found = typo.path.name + ("/" if typo.path.is_dir() else "")
    beside = f"beside {importer.name}" if importer and importer.parent == typo.path.parent else ""
    where = beside or f"in {typo.path.parent}"
    said = f"{typo.wanted} is not found, {found} is {where}"
    return Hint("typo", (said,), f"did you mean {typo.found} ({found} {where})?")


def _modules_in(directory: Path) -> dict[str, Path]:
    """Importable names in ``directory``: name.py files and packages (an __init__.py)."""
    names: dict[str, Path] = {}
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return names
    for entry in entries:
        stem, ext = os.path.splitext(entry.name)
        if ext == ".py" and stem.isidentifier() and entry.is_file():
            names[stem] = Path(entry.path)
        elif entry.name.isidentifier() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
            names[entry.name] = Path(entry.path)
    return names


def _is_module(directory: Path, name: str) -> bool:
    return (directory / f"{name}.py").is_file() or (directory / name).is_dir()


def module_dirs(cwd: Path, module: str) -> list[Path]:
    """Subfolders of ``cwd`` (shallowest first) from which ``module`` would import:
    they hold its file or package. Virtualenvs, hidden and vendored folders are skipped."""
    rel = Path(*module.split("."))
    found: list[Path] = []
    for seen, (directory, dirs, _) in enumerate(os.walk(cwd), 1):
        here = Path(directory)
        depth = len(here.relative_to(cwd).parts)
        dirs[:] = sorted(
            d
            for d in dirs
            if depth < _MAX_DEPTH
            and not d.startswith(".")
            and d not in _SKIP
            and not (here / d / "pyvenv.cfg").exists()
        )
        if here != cwd and (
            (here / rel.with_suffix(".py")).is_file() or (here / rel / "__init__.py").is_file()
        ):
            found.append(here)
        if seen >= _MAX_DIRS:
            break
    return sorted(found, key=lambda d: (len(d.parts), str(d)))


def module_file(directory: Path, module: str) -> Path:
    """The file that defines ``module`` in ``directory`` (one ``module_dirs`` found)."""
    rel = Path(*module.split("."))
    plain = directory / rel.with_suffix(".py")
    return plain if plain.is_file() else directory / rel / "__init__.py"


def cwd_fix(spec: ServiceSpec, stack: StackSpec | None, directory: Path) -> str:
    """``cwd = "backend/server"`` for stack.toml (and the venv it used to find there)."""
    base = stack.root if stack is not None else spec.cwd.parent
    fix = f'cwd = "{os.path.relpath(directory, base)}"'
    venv = venv_of(spec)
    # A venv written in stack.toml (not the one found in cwd) is relative to cwd: with
    # another cwd it must be written again, even as the .venv found there.
    written = venv is not None and venv.parent != spec.cwd
    if venv is not None and (written or find_venv(directory) != venv):
        fix += f' and venv = "{os.path.relpath(venv, directory)}"'
    return f"set {fix} in [services.{spec.name}]"
