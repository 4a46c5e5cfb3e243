"""Where a missing Python program or package should come from: the service's requirements,
and the setup step (its own, or a sibling's in the same directory) that installs them.

A missing gunicorn that requirements.txt lists is not fixed by ``pip install
gunicorn`` but by running the setup that installs the requirements; the checks say
which, and whether that setup has run.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from devstack.procs.setuprecord import read_record
from devstack.project.venv import venv_of
from devstack.spec import ServiceSpec, StackSpec

# Import names whose distribution is named otherwise (pip install NAME).
DISTRIBUTIONS = {
    "yaml": "PyYAML",
    "dotenv": "python-dotenv",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "sklearn": "scikit-learn",
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
}
# A setup line that installs Python packages (or makes the venv they go in).
_INSTALLS = re.compile(
    r"\bpip3?\s+install\b|\buv\s+(pip|sync)\b|\bpoetry\s+install\b|\bpipenv\s+(install|sync)\b"
    r"|\bpdm\s+(install|sync)\b|-m\s+venv\b|\bvirtualenv\b|\bhatch\b|\brye\s+sync\b"
)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def listed_in(cwd: Path, distribution: str) -> Path | None:
    """The requirements*.txt or pyproject.toml in ``cwd`` that lists ``distribution``."""
    want = normalized(distribution)
    for path in sorted(cwd.glob("requirements*.txt")):
        if want in _requirement_names(path):
            return path
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and want in _pyproject_names(pyproject):
        return pyproject
    return None


def _requirement_names(path: Path) -> set[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return set()
    names = set()
    for line in lines:
        found = _NAME.match(line.split("#", 1)[0])
        if found and not line.lstrip().startswith("-"):
            names.add(normalized(found[1]))
    return names


def _pyproject_names(path: Path) -> set[str]:
    try:
        data = tomllib.loads(path.read_text(errors="replace"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    project = data.get("project") or {}
    specs = list(project.get("dependencies") or [])
    for extra in (project.get("optional-dependencies") or {}).values():
        specs += list(extra or [])
    groups = data.get("dependency-groups") or {}
    specs += [s for group in groups.values() for s in (group or []) if isinstance(s, str)]
    poetry = (data.get("tool") or {}).get("poetry") or {}
    specs += list((poetry.get("dependencies") or {}).keys())
    names = set()
    for spec in specs:
        found = _NAME.match(str(spec))
        if found:
            names.add(normalized(found[1]))
    return names


@dataclass(frozen=True, slots=True)
class Setup:
    """The setup step that makes ``spec``'s environment, and whether it has run."""

    service: str
    line: str
    ran: bool

    def fix(self, what: str) -> str:
        """The command that runs it, and why it would bring ``what``."""
        if self.ran:
            return (
                f"devstack setup {self.service} --force (runs its setup step again: "
                f"{self.line}; it ran before, yet {what} is missing)"
            )
        return f"devstack setup {self.service} (runs its setup step: {self.line})"


def setup_for(spec: ServiceSpec, stack: StackSpec | None) -> Setup | None:
    """The setup that installs Python packages for ``spec``: its own, else a sibling's
    in the same directory or virtualenv (a `backend-setup` beside `backend` and `worker`)."""
    if spec.setup is not None and _INSTALLS.search(spec.setup):
        return Setup(spec.name, spec.setup, _ran(stack, spec.name))
    if stack is None:
        return None
    venv = venv_of(spec)
    for other in stack.services.values():
        if other.name == spec.name or other.setup is None or not _INSTALLS.search(other.setup):
            continue
        other_venv = venv_of(other)
        if other.cwd == spec.cwd or (venv is not None and other_venv == venv):
            return Setup(other.name, other.setup, _ran(stack, other.name))
    return None


def _ran(stack: StackSpec | None, service: str) -> bool:
    if stack is None:
        return False
    return read_record(stack.state_dir(), service, stack.file) is not None
