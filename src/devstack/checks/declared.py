"""The Python dependencies a service declares, read from its cwd upwards.

requirements*.txt (following ``-r`` includes), pyproject.toml (``[project]``
dependencies, optional dependencies, dependency groups, ``[tool.poetry]``), Pipfile
and uv.lock, from the service's directory up to the stack's root or the repository's
root. Each file is parsed once per run (keyed by its size and mtime), and only on the
way to a message: a missing module, a missing program, a virtualenv to recreate (so
this module, and packaging, are imported only there).
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Import names whose distribution is named otherwise (pip install NAME).
DISTRIBUTIONS = {
    "yaml": "PyYAML",
    "dotenv": "python-dotenv",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "bs4": "beautifulsoup4",
    "jwt": "PyJWT",
    "jose": "python-jose",
    "dateutil": "python-dateutil",
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient",
    "Crypto": "pycryptodome",
    "OpenSSL": "pyOpenSSL",
    "magic": "python-magic",
    "multipart": "python-multipart",
    "socketio": "python-socketio",
    "engineio": "python-engineio",
    "attr": "attrs",
    "google.protobuf": "protobuf",
    "flask_cors": "Flask-Cors",
    "requests_oauthlib": "requests-oauthlib",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "fitz": "PyMuPDF",
    "serial": "pyserial",
    "usb": "pyusb",
    "zmq": "pyzmq",
    "Levenshtein": "python-Levenshtein",
    "slugify": "python-slugify",
    "telegram": "python-telegram-bot",
    "git": "GitPython",
    "ldap": "python-ldap",
    "win32api": "pywin32",
    "markdown": "Markdown",
    "pkg_resources": "setuptools",
    "distutils": "setuptools",  # gone from the standard library in 3.12
}
# Folders that end the walk upwards: a repository's root.
_VCS = (".git", ".hg", ".svn")
_OPTION = re.compile(r"\s+--?[A-Za-z][\w-]*(?:[ =]\S+)?")
_REQUIREMENT_FILES = "requirements*.txt"
_Reader = Callable[[Path], list["Declaration"]]


@dataclass(frozen=True, slots=True)
class Declaration:
    """Where a distribution is declared, and how that file gets installed."""

    distribution: str  # as written: "PyYAML"
    path: Path  # the file naming it (an included requirements file, too)
    line: int | None
    source: Path  # the file to install from (the top requirements file, pyproject.toml)
    form: str  # "requirements", "project", "extra", "group", "poetry", "pipfile", "uv.lock"
    section: str | None = None  # the extra or group name, Pipfile's "dev-packages"


@dataclass(frozen=True, slots=True)
class Manifests:
    """The dependency files found from a service's cwd upwards, nearest first."""

    files: tuple[Path, ...]
    declarations: dict[str, Declaration]  # canonical name -> its nearest declaration

    def find(self, distribution: str) -> Declaration | None:
        from packaging.utils import canonicalize_name

        return self.declarations.get(canonicalize_name(distribution))

    def declared(self, candidates: list[str]) -> Declaration | None:
        """The first of ``candidates`` (distribution names) that is declared."""
        for name in candidates:
            found = self.find(name)
            if found is not None:
                return found
        return None

    def extending(self, name: str) -> Declaration | None:
        """A declared distribution whose name extends ``name`` (``google-cloud`` ->
        google-cloud-storage): the part of a namespace package that is missing."""
        from packaging.utils import canonicalize_name

        stem = canonicalize_name(name) + "-"
        return next((d for n, d in self.declarations.items() if n.startswith(stem)), None)


def distribution_candidates(module: str) -> list[str]:
    """The distributions that likely provide ``module``, a name Python could not find,
    best first. Python names the first part it could not find, so the packages above a
    dotted name were found: ``yaml.foo`` is no sign PyYAML is missing, while
    ``google.cloud`` (a namespace ``google`` found) is google-cloud-*. A top-level name:
    the known distribution (``yaml`` -> PyYAML), the name itself, ``python-NAME``."""
    from packaging.utils import canonicalize_name

    if "." in module:
        names = [DISTRIBUTIONS.get(module, ""), module.replace(".", "-")]
    else:
        names = [DISTRIBUTIONS.get(module, ""), module, f"python-{module}", f"py{module}"]
    return list(dict.fromkeys(canonicalize_name(n) for n in names if n))


def distribution_of(module: str) -> str:
    """What to ``pip install`` for a missing ``module``: a known name, else the name itself."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        known = DISTRIBUTIONS.get(".".join(parts[:i]))
        if known is not None:
            return known
    return parts[0].replace("_", "-")


def manifests(cwd: Path, root: Path | None = None) -> Manifests:
    """The dependency files from ``cwd`` up to ``root`` (the stack's folder) or the
    repository's root, whichever comes first; nearer files win a name declared twice."""
    from packaging.utils import canonicalize_name

    files: list[Path] = []
    declarations: dict[str, Declaration] = {}
    for directory in _upwards(cwd.resolve(), root.resolve() if root else None):
        for path, found in _in_directory(directory):
            files.append(path)
            for decl in found:
                declarations.setdefault(canonicalize_name(decl.distribution), decl)
    return Manifests(tuple(files), declarations)


def _upwards(cwd: Path, root: Path | None) -> Iterator[Path]:
    home = Path.home()
    for directory in (cwd, *cwd.parents):
        if directory == directory.parent or (directory == home and directory != cwd):
            return  # never the filesystem's root or the home folder above a project
        yield directory
        if directory == root or any((directory / v).exists() for v in _VCS):
            return


def _in_directory(directory: Path) -> Iterator[tuple[Path, tuple[Declaration, ...]]]:
    files = sorted(
        directory.glob(_REQUIREMENT_FILES), key=lambda p: (p.name != "requirements.txt", p.name)
    )
    for path in files:
        yield path, _cached(_requirements, path)
    for name, reader in (
        ("pyproject.toml", _pyproject),
        ("Pipfile", _pipfile),
        ("uv.lock", _uv_lock),
    ):
        path = directory / name
        if path.is_file():
            yield path, _cached(reader, path)


def _cached(reader: _Reader, path: Path) -> tuple[Declaration, ...]:
    found, included = _read(reader, path, _stamp(path))
    if any(_stamp(p) != stamp for p, stamp in included):
        _read.cache_clear()  # an included file changed (-r base.txt)
        found, included = _read(reader, path, _stamp(path))
    return found


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=256)
def _read(
    reader: _Reader, path: Path, stamp: tuple[int, int] | None
) -> tuple[tuple[Declaration, ...], tuple[tuple[Path, tuple[int, int] | None], ...]]:
    """The declarations of ``path`` and the stamps of the other files they came from.
    The stamp (mtime, size) is in the key: a file edited while the supervisor runs is
    read again."""
    if stamp is None:
        return (), ()
    found = tuple(reader(path))
    others = {d.path for d in found if d.path != path}
    return found, tuple((p, _stamp(p)) for p in sorted(others))


def _requirements(
    path: Path, source: Path | None = None, seen: frozenset[Path] = frozenset()
) -> list[Declaration]:
    """A requirements file's names, its ``-r`` includes' too (``-c`` constraints are no
    declarations; ``-e``, URLs and paths name no distribution we can match)."""
    source = source or path
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found: list[Declaration] = []
    for number, line in _logical_lines(text):
        include = re.match(r"^(?:-r|--requirement)(?:\s+|=)(\S+)", line)
        if include:
            target = (path.parent / include[1]).resolve()
            if target not in seen and target.is_file():
                found += _requirements(target, source, seen | {path.resolve()})
            continue
        if line.startswith("-"):
            continue
        requirement = _requirement(_OPTION.sub("", line))
        if requirement is not None:
            found.append(Declaration(requirement, path, number, source, "requirements"))
    return found


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each line without its comment, continuations joined."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            yield start, whole


def _requirement(text: str) -> str | None:
    """The distribution name of one PEP 508 requirement, or None (a path, a URL)."""
    from packaging.requirements import InvalidRequirement, Requirement

    for candidate in (text, text.split(";", 1)[0]):
        try:
            return Requirement(candidate.strip()).name
        except InvalidRequirement:
            continue
    return None


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(errors="replace"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _table(data: object, *keys: str) -> dict[str, object]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _pyproject(path: Path) -> list[Declaration]:
    data = _toml(path)
    found: list[Declaration] = []

    def add(specs: object, form: str, section: str | None = None) -> None:
        for spec in specs if isinstance(specs, list) else ():
            name = _requirement(spec) if isinstance(spec, str) else None
            if name is not None:
                found.append(Declaration(name, path, None, path, form, section))

    project = _table(data, "project")
    add(project.get("dependencies"), "project")
    for extra, specs in _table(project, "optional-dependencies").items():
        add(specs, "extra", extra)
    for group, specs in _table(data, "dependency-groups").items():
        add(specs, "group", group)  # {include-group = ...} entries name no distribution
    poetry = _table(data, "tool", "poetry")
    sections: list[tuple[str | None, dict[str, object]]] = [
        (None, _table(poetry, "dependencies")),
        ("dev", _table(poetry, "dev-dependencies")),
    ]
    sections += [(g, _table(poetry, "group", g, "dependencies")) for g in _table(poetry, "group")]
    for section, table in sections:
        for name in table:
            if name.lower() != "python":
                found.append(Declaration(name, path, None, path, "poetry", section))
    return found


def _pipfile(path: Path) -> list[Declaration]:
    data = _toml(path)
    return [
        Declaration(name, path, None, path, "pipfile", None if section == "packages" else section)
        for section in ("packages", "dev-packages")
        for name in _table(data, section)
    ]


def _uv_lock(path: Path) -> list[Declaration]:
    packages = _toml(path).get("package")
    return [
        Declaration(p["name"], path, None, path, "uv.lock")
        for p in (packages if isinstance(packages, list) else ())
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    ]


def install_command(decl: Declaration, python: str, cwd: Path) -> str:
    """The command that installs what ``decl``'s file declares into ``python``'s environment
    (run in ``cwd``, the service's directory)."""
    where = os.path.relpath(decl.source.parent, cwd)
    within = "" if where == "." else f" (in {where})"
    if decl.form == "requirements":
        return f"{python} -m pip install -r {os.path.relpath(decl.source, cwd)}"
    if (decl.source.parent / "uv.lock").is_file() or decl.form == "uv.lock":
        flag = {"extra": " --extra", "group": " --group"}.get(decl.form, "")
        return f"uv sync{flag}{f' {decl.section}' if flag else ''}{within}"
    if decl.form == "poetry" or (decl.source.parent / "poetry.lock").is_file():
        group = f" --with {decl.section}" if decl.section and decl.form == "poetry" else ""
        return f"poetry install{group}{within}"
    if decl.form == "pipfile":
        return f"pipenv install{' --dev' if decl.section else ''}{within}"
    if decl.form == "group":
        return f"{python} -m pip install --group {os.path.relpath(decl.source, cwd)}:{decl.section}"
    extra = f"[{decl.section}]" if decl.form == "extra" else ""
    return f"{python} -m pip install -e '{where}{extra}'"
