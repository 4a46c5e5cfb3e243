"""What watch mode looks at, as pure logic: globs and ignores, the changed-files line,
which commands are Python services and which reload themselves.

No watchfiles here: ``devstack config`` and ``devstack check`` print the warnings of
:func:`config_warnings` without paying for it (``devstack.runtime.watch`` does the watching).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from devstack.spec import ServiceSpec, StackSpec

# Never a reason to restart: VCS, dependencies, caches, devstack's own logs and state,
# build output of self-reloading tools, and the files editors write beside the real one
# (vim: .swp/.swx, ~ backups and its "4913" write test; emacs: .#lock files).
DEFAULT_IGNORES: tuple[str, ...] = (
    ".git",
    ".hg",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".devstack",
    ".next",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.log",
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    "4913",
    "*.tmp",
)

# `devstack up --watch` gives a Python service without `watch` this one.
DEFAULT_PYTHON_WATCH: tuple[str, ...] = ("**/*.py",)

_PYTHON_SERVERS = frozenset(
    {"gunicorn", "uvicorn", "flask", "hypercorn", "daphne", "waitress-serve"}
)
_MODULE_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(.*\))?$")
_PYTHON = re.compile(r"^python[\d.]*$")
_PACKAGE_MANAGERS = frozenset({"npm", "pnpm", "yarn", "bun"})


@functools.lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over a path relative to the cwd: ``*`` and ``?`` stay inside one name,
    ``**/`` spans any number of directories (none too)."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, rel: str) -> bool:
    """``rel`` (a /-separated path under the cwd) matches ``pattern``. A pattern without
    a slash matches a name at any depth, as in .gitignore (``*.py`` is ``**/*.py``)."""
    pattern = pattern.removeprefix("./")
    if "/" not in pattern.rstrip("/"):
        return bool(_glob_regex(pattern.rstrip("/")).match(PurePosixPath(rel).name))
    return bool(_glob_regex(pattern.rstrip("/")).match(rel))


class WatchRules:
    """Which paths under ``root`` restart a service: matched by ``watch``, and neither
    the path nor a directory above it matched by an ignore, nor inside ``state_dir``
    (devstack's own folder, wherever ``state_dir`` put it: its logs are no edit)."""

    def __init__(
        self,
        root: Path,
        watch: Iterable[str],
        ignore: Iterable[str] = (),
        state_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.watch = tuple(watch)
        self.ignore = (*DEFAULT_IGNORES, *ignore)
        self._own = None if state_dir is None else self.relative(os.fspath(state_dir))

    def relative(self, path: str) -> str | None:
        """``path`` relative to the root, /-separated; None outside it."""
        try:
            rel = os.path.relpath(path, self.root)
        except ValueError:
            return None
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return None
        return rel.replace(os.sep, "/")

    def ignored(self, rel: str) -> bool:
        if self._own is not None and (rel == self._own or rel.startswith(self._own + "/")):
            return True
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if any(glob_match(p, prefix) for p in self.ignore):
                return True
        return False

    def wants(self, path: str) -> bool:
        rel = self.relative(path)
        if rel is None or self.ignored(rel):
            return False
        return any(glob_match(p, rel) for p in self.watch)

    def __call__(self, change: object, path: str) -> bool:
        """The ``watch_filter`` of watchfiles (called with a Change and a path)."""
        return self.wants(path)


def summarize(paths: Iterable[str], root: Path, limit: int = 3) -> str:
    """``app.py, models/user.py and 4 more``: the changed files, relative to ``root``."""
    rels = sorted({os.path.relpath(p, root) for p in paths})
    shown = ", ".join(rels[:limit])
    more = len(rels) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def failure_key(message: str) -> str:
    """What makes a failed restart the same failure again: each failed check's summary
    and its first detail (the exception), not the quoted source line that a save with
    the same error changed."""
    kept: list[str] = []
    first_detail = False
    for line in message.splitlines():
        if not line.startswith(" "):
            kept.append(line)
            first_detail = True
        elif first_detail:
            kept.append(line)
            first_detail = False
    return "\n".join(kept)


def _words(spec: ServiceSpec) -> list[str]:
    if spec.shell:
        try:
            return shlex.split(spec.cmd)
        except ValueError:
            return spec.cmd.split()
    return list(spec.argv)


def is_python_service(spec: ServiceSpec) -> bool:
    """What ``up --watch`` watches by default: a command run by python (any
    python3.x, a venv's too), a Python app server (gunicorn, uvicorn, flask, hypercorn,
    daphne, waitress-serve), or one naming a ``module:app`` (or an import check)."""
    words = _words(spec)
    if not words:
        return False
    exe = PurePosixPath(words[0]).name
    if _PYTHON.match(exe) or exe in _PYTHON_SERVERS:
        return True
    return spec.check_import is not None or any(_MODULE_APP.match(w) for w in words[1:])


def self_reloading(spec: ServiceSpec) -> str | None:
    """The words of a command that restarts itself on edits (``uvicorn --reload``,
    ``next dev``...), else None."""
    words = _words(spec)
    names = [PurePosixPath(w).name for w in words]
    for i, name in enumerate(names):
        rest = names[i + 1 :]
        if name == "next" and rest[:1] == ["dev"]:
            return "next dev"
        if name in _PACKAGE_MANAGERS and (rest[:1] == ["dev"] or rest[:2] == ["run", "dev"]):
            return f"{name} {' '.join(rest[: 1 if rest[:1] == ['dev'] else 2])}"
        if name == "vite" and (not rest or rest[0] in ("dev", "serve") or rest[0].startswith("-")):
            return "vite"
        if name == "nodemon":
            return "nodemon"
        if name in ("uvicorn", "gunicorn", "hypercorn") and "--reload" in rest:
            return f"{name} --reload"
        if name == "flask" and "run" in rest and ({"--debug", "--reload"} & set(rest)):
            return "flask run " + ("--debug" if "--debug" in rest else "--reload")
        if name == "manage.py" and "runserver" in rest and "--noreload" not in rest:
            return "manage.py runserver"
        if name == "node" and "--watch" in rest:
            return "node --watch"
    return None


def config_warnings(stack: StackSpec) -> list[str]:
    """One line per service whose ``watch`` would restart a command that already
    reloads itself (every edit would restart it twice), unless ``watch_force``."""
    where = stack.file.name if stack.file is not None else "stack.toml"
    lines = []
    for spec in stack.services.values():
        if not spec.watch or spec.watch_force:
            continue
        tool = self_reloading(spec)
        if tool is not None:
            lines.append(
                f"warning: {where}: services.{spec.name}.watch: {tool!r} reloads by itself, "
                "so each edit would restart it twice; remove watch, or set watch_force = true"
            )
    return lines


def print_warnings(stack: StackSpec) -> None:
    """The warnings of :func:`config_warnings` on stderr (up, config and check say them)."""
    for line in config_warnings(stack):
        print(f"devstack: {line}", file=sys.stderr)
