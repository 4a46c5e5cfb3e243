"""Where a missing Python program or package should come from: the service's requirements,
and the setup step (its own, or a sibling's in the same directory) that installs them.

A missing gunicorn that requirements.txt lists is not fixed by ``pip install
gunicorn`` but by running the setup that installs the requirements; the checks say
which, and whether that setup has run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devstack.procs.setuprecord import read_record
from devstack.project.venv import venv_of
from devstack.spec import ServiceSpec, StackSpec

# A setup line that installs Python packages (or makes the venv they go in).
_INSTALLS = re.compile(
    r"\bpip3?\s+install\b|\buv\s+(pip|sync)\b|\bpoetry\s+install\b|\bpipenv\s+(install|sync)\b"
    r"|\bpdm\s+(install|sync)\b|-m\s+venv\b|\bvirtualenv\b|\bhatch\b|\brye\s+sync\b"
)

# A setup line that makes the venv itself (after `rm -rf .venv` it is there again).
_MAKES_VENV = re.compile(
    r"-m\s+venv\b|\bvirtualenv\b|\buv\s+(sync|venv)\b|\bpoetry\s+install\b"
    r"|\bpipenv\s+(install|sync)\b|\bpdm\s+(install|sync)\b|\bhatch\b|\brye\s+sync\b"
)


def listed_in(cwd: Path, distribution: str, root: Path | None = None) -> Path | None:
    """The file to install from (requirements*.txt, pyproject.toml, Pipfile...) that
    declares ``distribution``, in ``cwd`` or, given the stack's ``root``, up to it."""
    from devstack.checks.declared import manifests

    found = manifests(cwd, root or cwd).find(distribution)
    return found.source if found is not None else None


@dataclass(frozen=True, slots=True)
class Setup:
    """The setup step that makes ``spec``'s environment, and whether it has run."""

    service: str
    line: str
    ran: bool

    @property
    def makes_venv(self) -> bool:
        """Whether it makes the venv it installs into (``-m venv``, ``uv sync``...), not
        only installs into one that must exist (``.venv/bin/pip install``)."""
        return _MAKES_VENV.search(self.line) is not None

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
