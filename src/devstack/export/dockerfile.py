"""A Dockerfile for a Python or Node service, from what its folder holds.

Target-agnostic: compose builds it, Kubernetes would push the image it builds. The
build context is the stack's directory; the service's folder is copied to
``/app/<cwd>`` (the working directory the exporters write). Dependencies are
installed before the source is copied, so an edit does not reinstall them.

How dependencies are installed, in order of what the folder has:

- uv.lock: ``uv sync --frozen --no-dev --no-install-project`` into the image's Python
- poetry.lock: ``poetry install --no-root --only main`` (no virtualenv)
- Pipfile: ``pipenv install --system --deploy``
- requirements.txt: ``pip install -r requirements.txt``
- pyproject.toml alone: ``pip install .`` (after the source)
- package.json: by its lockfile, ``pnpm install --frozen-lockfile`` (corepack),
  ``yarn install --frozen-lockfile``, ``npm ci``; ``npm install`` without one

The service's ``setup`` step is read command by command: an install command
(``pip install ...``, ``uv sync``, ``npm/pnpm/yarn install``...) becomes the install
step, a build script (``npm run build``) a build step, creating a virtualenv is not
needed (the image is the environment), and anything else is not run: it is listed
in :attr:`Dockerfile.notes` (the exporter prints them on stderr) and as a comment in
the file, never dropped silently.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devstack.export.production import Production
from devstack.project.nodepackage import find_lockfile, read_package
from devstack.project.servers import parse_celery, server_of, unwrapped

PYTHON_IMAGE = "python:{version}-slim"
PYTHON_VERSION = "3.12"
NODE_IMAGE = "node:{version}-slim"
NODE_VERSION = "22"  # an active LTS line that still ships corepack (pnpm, yarn)
# nvm's names of LTS lines (`lts/iron` in .nvmrc)
_LTS_NAMES = {"gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_VENV_BIN = re.compile(r"(^|/)\.?venv/bin/")
# A virtualenv's program as a word of a shell line: `.venv/bin/python`, `/p/venv/bin/x`.
_VENV_WORD = re.compile(r"(?<![^\s;&|(])(?P<path>[^\s;&|()'\"]*\.?venv/bin/)(?P<program>[\w.-]+)")
_SHELL_SPLIT = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_NODE_PROGRAMS = frozenset(
    {"node", "npm", "npx", "pnpm", "yarn", "next", "vite", "nodemon", "nuxt", "nuxi", "astro"}
    | {"react-scripts"}
)
_SPLIT = re.compile(r"\s*(?:&&|;|\n)\s*")
_INSTALL_WORDS = frozenset({"install", "i", "ci", "add"})
IGNORED = (
    ".git",
    ".devstack",
    "**/.venv",
    "**/venv",
    "**/node_modules",
    "**/__pycache__",
    "**/.next",
    "**/.pytest_cache",
    "**/.mypy_cache",
    # compose passes env files at run time (env_file:); secrets stay out of the image
    "**/.env",
)


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A generated Dockerfile and its ignore file (``NAME.dockerignore``: BuildKit reads
    the one beside a Dockerfile of that name)."""

    name: str  # "Dockerfile.api"
    text: str
    ignore: str
    runtime: Literal["python", "node"]
    notes: list[str] = field(default_factory=list)  # what it cannot express
    dropped: list[str] = field(default_factory=list)  # setup commands no build step runs


@dataclass(slots=True)
class _Plan:
    """The lines of a Dockerfile being written."""

    runtime: Literal["python", "node"]
    folder: Path
    rel: str  # the folder, relative to the build context ("." or "backend")
    early: list[str] = field(default_factory=list)  # dependency files copied first
    # COPY lines of dependency files outside the folder (a Pipfile above it), first too
    early_copies: list[str] = field(default_factory=list)
    install: list[str] = field(default_factory=list)  # before the source
    after: list[str] = field(default_factory=list)  # after the source
    comments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    how: str = ""
    installed: bool = False  # the setup step had an install command


def runtime_of_service(argv: Sequence[str], folder: Path) -> Literal["python", "node"] | None:
    """ "python" or "node" when the command runs one of them (a server, a wrapper, a
    venv's program), else None: a Dockerfile for anything else is the user's."""
    words = list(argv[unwrapped(argv) :]) if argv else []
    if not words:
        return None
    line = _shell_line(words)
    if line is not None:  # the first command of the line that runs Python or Node
        for command in _SHELL_SPLIT.split(line):
            try:
                found = runtime_of_service(_past_assignments(shlex.split(command)), folder)
            except ValueError:
                return None
            if found is not None:
                return found
        return None
    exe = os.path.basename(words[0])
    if exe in _NODE_PROGRAMS:
        return "node"
    if unwrapped(argv) or _PYTHON.match(exe) or _VENV_BIN.search(words[0]):
        return "python"
    if server_of(argv) is not None or parse_celery(argv) is not None or exe == "celery":
        return "python"
    return None


def in_image(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """A Python command as the generated image runs it, and what changed: no ``uv run``
    / ``poetry run`` / ``pipenv run`` and no virtualenv path (the image's own Python
    holds the dependencies; the virtualenv is not copied)."""
    words = list(argv)
    notes: list[str] = []
    line = _shell_line(words)
    if line is not None:
        for match in _VENV_WORD.finditer(line):
            program = match["program"]
            notes.append(f"`{match[0]}` run as `{program}`: the image has no virtualenv")
        return [*words[:-1], _VENV_WORD.sub(r"\g<program>", line)], notes
    start = unwrapped(words)
    if start:
        notes.append(
            f"`{shlex.join(words[:start])}` dropped: the image's Python is the environment"
        )
        words = words[start:]
    if words and _VENV_BIN.search(words[0]):
        program = os.path.basename(words[0])
        notes.append(f"`{words[0]}` run as `{program}`: the image has no virtualenv")
        words[0] = program
    return words, notes


def _shell_line(words: Sequence[str]) -> str | None:
    """The line of ``sh -c LINE`` (a ``shell = true`` service), else None."""
    if len(words) == 3 and os.path.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        return words[2]
    return None


def _past_assignments(words: list[str]) -> list[str]:
    """``VAR=x exec prog ...`` -> ``prog ...``."""
    while words and (words[0] == "exec" or ("=" in words[0] and words[0][0] != "-")):
        words = words[1:]
    return words


def dockerfile_for(
    name: str,
    argv: Sequence[str],
    folder: Path,
    root: Path,
    setup: str | None,
    production: Production | None,
    command: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
) -> Dockerfile | None:
    """The Dockerfile of service ``name`` (None: not Python or Node, or its folder is
    outside the stack's directory, which is the build context); ``ignore``: more paths
    of the context kept out of the image."""
    runtime = production.runtime if production else runtime_of_service(argv, folder)
    if runtime is None or not folder.is_relative_to(root):
        return None
    rel = folder.relative_to(root).as_posix()
    plan = _Plan(runtime, folder, rel)
    _setup_steps(plan, setup, name)
    if not plan.installed:
        (_python_install if runtime == "python" else _node_install)(plan)
    if production is not None:
        plan.after += production.build
        for dist in production.needs:
            if not _declares(folder, dist):
                plan.comments.append(f"{dist}: the production server, not in the dependencies")
                plan.after.append(f"pip install {dist}")
    return Dockerfile(
        f"Dockerfile.{name}",
        _render(name, plan, command),
        _ignore_text(ignore),
        runtime,
        plan.notes,
        plan.dropped,
    )


def _render(name: str, plan: _Plan, command: Sequence[str] | None) -> str:
    workdir = "/app" if plan.rel == "." else f"/app/{plan.rel}"
    source = "." if plan.rel == "." else f"{plan.rel}/"
    if plan.runtime == "python":
        image = PYTHON_IMAGE.format(version=_python_version(plan.folder))
        env = ["PYTHONUNBUFFERED=1", "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"]
    else:
        image = NODE_IMAGE.format(version=_node_version(plan.folder))
        env = []
    lines = [
        f"# Written by `devstack export` for the service {name} ({plan.how}).",
        "# Build context: the stack's directory (ignore list: this file's name + .dockerignore).",
        f"FROM {image}",
    ]
    if env or plan.env:
        lines.append("ENV " + " ".join([*env, *plan.env]))
    lines.append(f"WORKDIR {workdir}")
    if plan.early:
        lines.append("# dependencies first: an edit of the source does not reinstall them")
        files = [f"{plan.rel}/{f}" if plan.rel != "." else f for f in plan.early]
        lines.append(f"COPY {' '.join(files)} ./")
    if plan.early_copies:
        lines.append("# dependencies first, from a folder above (where the installer finds them)")
        lines += plan.early_copies
    lines += [f"RUN {step}" for step in plan.install]
    lines.append(f"COPY {source} ./")
    lines += [f"# {c}" for c in plan.comments]
    lines += [f"RUN {step}" for step in plan.after]
    if plan.runtime == "node":
        lines.append("ENV NODE_ENV=production")
    lines += [f"# NOT RUN: {note}" for note in plan.notes]
    if command and not any("$" in word for word in command):
        lines.append(f"CMD {json.dumps(list(command))}")
    return "\n".join(lines) + "\n"


def _setup_steps(plan: _Plan, setup: str | None, name: str) -> None:
    """The setup step's commands turned into build steps, or into notes."""
    if not setup:
        return
    for command in (c for c in _SPLIT.split(setup.strip()) if c):
        try:
            words = shlex.split(command)
        except ValueError:
            plan.notes.append(f"setup step `{command}`: not a command line devstack can read")
            plan.dropped.append(command)
            continue
        kind = _setup_kind(words)
        if kind == "venv":
            plan.comments.append(f"setup `{command}`: not needed, the image is the environment")
        elif kind == "install":
            (_python_install if plan.runtime == "python" else _node_install)(plan, words)
            plan.installed = True
        elif kind == "build":
            plan.after.append(command)
        else:
            plan.dropped.append(command)
            plan.notes.append(
                f"setup step `{command}` (services.{name}.setup): run it where it can "
                "reach what it needs (a migration: a one-off service or an entrypoint)"
            )


def _setup_kind(words: list[str]) -> str:
    exe = os.path.basename(words[0]) if words else ""
    rest = words[1:]
    if (_PYTHON.match(exe) and rest[:2] == ["-m", "venv"]) or exe == "virtualenv":
        return "venv"
    if exe == "uv" and rest[:1] == ["venv"]:
        return "venv"
    if exe in ("pip", "pip3") or (_PYTHON.match(exe) and rest[:2] == ["-m", "pip"]):
        return "install"
    if exe == "uv" and (rest[:1] == ["sync"] or rest[:2] == ["pip", "install"]):
        return "install"
    if exe in ("poetry", "pipenv") and rest[:1] == ["install"]:
        return "install"
    if exe in ("npm", "pnpm", "yarn", "bun") and (not rest or rest[0] in _INSTALL_WORDS):
        return "install"
    if exe in ("npm", "pnpm", "yarn") and "build" in rest[:2]:
        return "build"
    return "other"


def _plain_pip(words: list[str]) -> str:
    """``.venv/bin/pip install -e .`` -> ``pip install -e .`` (the image's pip)."""
    at = next((i for i, w in enumerate(words) if w == "install"), 1)
    return shlex.join(["pip", *words[at:]])


def _python_install(plan: _Plan, words: list[str] | None = None) -> None:
    folder = plan.folder
    exe = os.path.basename(words[0]) if words else ""
    args = words[1:] if words else []
    if (words is None and (folder / "uv.lock").is_file()) or (exe == "uv" and args[:1] == ["sync"]):
        plan.how = "Python: uv.lock, uv sync"
        plan.early += [f for f in ("pyproject.toml", "uv.lock") if (folder / f).is_file()]
        plan.env.append("UV_PROJECT_ENVIRONMENT=/usr/local")  # the image's own Python
        extra = [a for a in args[1:] if a not in ("--frozen", "--locked", "--no-dev")]
        plan.install += [
            "pip install uv",
            shlex.join(["uv", "sync", "--frozen", "--no-dev", "--no-install-project", *extra]),
        ]
        return
    if (words is None and (folder / "poetry.lock").is_file()) or exe == "poetry":
        plan.how = "Python: poetry.lock, poetry install"
        plan.early += [f for f in ("pyproject.toml", "poetry.lock") if (folder / f).is_file()]
        plan.install += [
            "pip install poetry && poetry config virtualenvs.create false",
            "poetry install --no-root --only main",
        ]
        return
    if (words is None and (folder / "Pipfile").is_file()) or exe == "pipenv":
        plan.how = "Python: Pipfile, pipenv"
        plan.early += [f for f in ("Pipfile", "Pipfile.lock") if (folder / f).is_file()]
        if not plan.early:  # pipenv looks for the Pipfile in the folders above, too
            _pipfile_above(plan)
        plan.install += ["pip install pipenv", "pipenv install --system --deploy"]
        return
    if words is not None:  # pip install ...: early when it needs only requirement files
        files = _requirement_files(words)
        if files and all(_stands_alone(folder / f) for f in files) and "-e" not in words:
            plan.how = f"Python: {', '.join(files)}, pip"
            plan.early += files
            plan.install.append(_plain_pip(words))
        else:
            plan.how = "Python: pip"
            plan.after.append(_plain_pip(words))
        return
    requirements = sorted(p.name for p in folder.glob("requirements*.txt"))
    chosen = "requirements.txt" if "requirements.txt" in requirements else None
    if chosen is None and requirements:
        chosen = requirements[0]
        plan.comments.append(f"of {', '.join(requirements)}: {chosen} (edit to choose)")
    if chosen is not None:
        plan.how = f"Python: {chosen}, pip"
        if _stands_alone(folder / chosen):
            plan.early.append(chosen)
            plan.install.append(f"pip install -r {chosen}")
        else:
            plan.after.append(f"pip install -r {chosen}")
    elif (folder / "pyproject.toml").is_file():
        plan.how = "Python: pyproject.toml, pip"
        plan.after.append("pip install .")
    else:
        plan.how = "Python: no dependency file found, the standard library only"


def _in_context(plan: _Plan, folder: Path) -> str | None:
    """``folder`` relative to the build context ("" for its root), None when outside it."""
    parts = Path(plan.rel).parts if plan.rel != "." else ()
    root = plan.folder.parents[len(parts) - 1] if parts else plan.folder
    for base in (root, root.resolve()):
        if folder.is_relative_to(base):
            rel = folder.relative_to(base).as_posix()
            return "" if rel == "." else rel
    return None


def _pipfile_above(plan: _Plan) -> None:
    """The Pipfile of a folder above the service's, inside the build context, copied to
    the same place in the image (where pipenv, run in the service's folder, finds it)."""
    parts = Path(plan.rel).parts if plan.rel != "." else ()
    for up in range(1, len(parts) + 1):
        above = plan.folder.parents[up - 1]
        if (above / "Pipfile").is_file():
            rel = Path(*parts[:-up]).as_posix() if len(parts) > up else ""
            files = [f"{rel}/{f}" if rel else f for f in ("Pipfile", "Pipfile.lock")]
            files = [f for f in files if (plan.folder.parents[len(parts) - 1] / f).is_file()]
            plan.early_copies.append(f"COPY {' '.join(files)} /app/{rel + '/' if rel else ''}")
            return


def _stands_alone(requirements: Path) -> bool:
    """Can pip install this file with nothing else of the folder copied? Not when it
    includes another file (-r, -c) or installs a local path (-e ., ./pkg, file:)."""
    try:
        lines = requirements.read_text(errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r", "-c", "--requirement", "--constraint", "-e", "--editable")):
            return False
        if line.startswith((".", "/")) or "file:" in line:
            return False
    return True


def _requirement_files(words: list[str]) -> list[str]:
    files: list[str] = []
    for i, word in enumerate(words):
        if word in ("-r", "--requirement", "-c", "--constraint") and i + 1 < len(words):
            files.append(words[i + 1])
        elif word.startswith(("--requirement=", "--constraint=")):
            files.append(word.partition("=")[2])
    packages = [w for w in words[words.index("install") + 1 :] if not w.startswith("-")]
    return files if set(packages) <= set(files) else []


def _node_install(plan: _Plan, words: list[str] | None = None) -> None:
    folder = plan.folder
    package = read_package(folder)
    asked = os.path.basename(words[0]) if words else None
    lock = find_lockfile(folder, prefer=asked)
    outside = lock is not None and lock.path.parent not in (folder.resolve(), folder)
    workspace = _in_context(plan, lock.path.parent) if lock is not None and outside else None
    if lock is not None and workspace is not None and lock.manager == "pnpm":
        # pnpm installs the whole workspace from its root's lockfile, each project's
        # node_modules in its folder: the workspace is copied first, then installed.
        source = f"{workspace}/" if workspace else "."
        plan.early_copies.append(f"COPY {source} /app/{workspace}")
        plan.comments.append(
            f"the workspace's lockfile {Path(workspace, lock.path.name).as_posix()}: the "
            "workspace is copied before the install (an edit anywhere in it reinstalls)"
        )
        plan.install += ["corepack enable pnpm", "pnpm install --frozen-lockfile"]
        plan.how = f"Node: the workspace's {lock.path.name}, pnpm"
        return
    if lock is not None and outside:
        plan.notes.append(
            f"the lockfile is {lock.path} (a workspace's root, outside the service's folder): "
            "the install runs without it; build from the workspace root to use it"
        )
        lock = None
    manager = lock.manager if lock else (package.package_manager if package else None) or "npm"
    files = ["package.json"] if (folder / "package.json").is_file() else []
    if lock is not None:
        files.append(lock.path.name)
    plan.early += files
    if manager in ("pnpm", "yarn"):
        plan.install.append(f"corepack enable {manager}")
    command = {
        "pnpm": "pnpm install --frozen-lockfile",
        "yarn": "yarn install --frozen-lockfile",
        "npm": "npm ci",
        "bun": "npm install",
    }[manager]
    if lock is None:
        command = f"{manager} install" if manager != "bun" else "npm install"
    if manager == "yarn" and (folder / ".yarnrc.yml").is_file():
        command = "yarn install --immutable"  # yarn 2+
    if manager == "bun":
        plan.notes.append("bun's lockfile: installed with npm (a bun image is not written)")
    plan.how = f"Node: {lock.path.name if lock else 'package.json, no lockfile'}, {manager}"
    plan.install.append(command)


def _declares(folder: Path, dist: str) -> bool:
    """Does a dependency file of ``folder`` name ``dist``?"""
    pattern = re.compile(rf"(?im)^\s*[\"']?{re.escape(dist)}\b|[\"']{re.escape(dist)}[\"'\s<>=~\[]")
    names = ("pyproject.toml", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock")
    for path in [*folder.glob("requirements*.txt"), *(folder / n for n in names)]:
        try:
            if pattern.search(path.read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False


def _python_version(folder: Path) -> str:
    """From .python-version (pyenv, uv), else a Pipfile's ``[requires]`` (pipenv
    ``--deploy`` refuses another Python), else Heroku's runtime.txt (``python-3.11.9``),
    the nearest folder first; else :data:`PYTHON_VERSION`."""
    for parent in (folder, *folder.parents):
        found = _python_version_in(parent)
        if found is not None:
            return found
        if (parent / ".git").exists():
            break
    return PYTHON_VERSION


def _python_version_in(folder: Path) -> str | None:
    try:
        text = (folder / ".python-version").read_text().strip()
    except OSError:
        pass
    else:
        found = re.match(r"^(\d+\.\d+)", text)
        return found[1] if found else PYTHON_VERSION
    try:
        requires = tomllib.loads((folder / "Pipfile").read_text()).get("requires", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        requires = {}
    version = requires.get("python_version") or requires.get("python_full_version")
    if isinstance(version, str) and (found := re.match(r"^(\d+\.\d+)", version)):
        return found[1]
    try:
        text = (folder / "runtime.txt").read_text().strip()
    except OSError:
        return None
    found = re.match(r"^python-(\d+\.\d+)", text)
    return found[1] if found else None


def _node_version(folder: Path) -> str:
    """The major of package.json's engines.node when it names one line (``20``,
    ``^20.11``, ``20.x``), else of the nearest .nvmrc / .node-version (nvm, fnm:
    ``v18.17.0``, ``lts/iron``), else :data:`NODE_VERSION`."""
    package = read_package(folder)
    engines = package.engines_node if package else None
    found = re.match(r"^\s*[\^~]?(\d+)(\.[\dx*]+)*\s*$", engines or "")
    if found:
        return found[1]
    for parent in (folder, *folder.parents):
        for name in (".nvmrc", ".node-version"):
            try:
                text = (parent / name).read_text().strip().lower()
            except OSError:
                continue
            pinned = re.match(r"^v?(\d+)", text)
            if pinned:
                return pinned[1]
            return _LTS_NAMES.get(text.removeprefix("lts/"), NODE_VERSION)
        if (parent / ".git").exists():
            break
    return NODE_VERSION


def _ignore_text(more: Sequence[str] = ()) -> str:
    extra = [line for line in more if line not in IGNORED]
    return "# Written by `devstack export`\n" + "\n".join([*IGNORED, *extra]) + "\n"
