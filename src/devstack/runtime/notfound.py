"""A shell's "command not found" line: which command, in which script and line, and
whether the service's virtualenv has it.

The shells word it differently (bash: ``./run-worker.sh: line 5: celery: command not
found``, dash: ``./run-worker.sh: 5: celery: not found``, zsh: ``./run-worker.sh:5:
command not found: celery``); each becomes ``run-worker.sh:5: celery``. Parsing is
pure; ``venv_hint`` looks at the venv's files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.checks.command import shown
from devstack.project.venv import BIN_DIR, find_venv, venv_of
from devstack.spec import ServiceSpec

_SHAPES = (
    # bash and busybox (`line 5:`), dash (`5:`); bash prefixes a builtin (`exec: celery`)
    re.compile(r"^(?P<script>.+?): (?:line )?(?P<line>\d+): (?P<cmd>.+?): (?:command )?not found$"),
    re.compile(r"^(?P<script>.+?):(?P<line>\d+): command not found: (?P<cmd>.+)$"),  # zsh
    re.compile(r"^(?P<script>[^:]+): (?P<cmd>[^:]+): command not found$"),  # bash, no line
)
# `sh -c '...'` names the shell, not a file: no script to point at.
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "-c"})
_PATH_SET = re.compile(r"^\s*(?:export\s+)?PATH=")
_KEEPS_PATH = re.compile(r"\$\{?PATH\b")  # PATH=$PATH:... keeps the venv's bin


@dataclass(frozen=True, slots=True)
class NotFound:
    command: str
    script: str | None  # as the shell named it, without a leading ./; None: a `sh -c` line
    line: int | None

    def describe(self) -> str:
        where = f"{self.script}:{self.line}: " if self.script and self.line else ""
        if self.script and not self.line:
            where = f"{self.script}: "
        return f"{where}{self.command}: command not found"


def parse_not_found(lines: Sequence[str]) -> NotFound | None:
    """The last "command not found" line a shell printed in ``lines``, or None."""
    for raw in reversed(lines):
        text = raw.strip()
        for shape in _SHAPES:
            found = shape.match(text)
            if found is None:
                continue
            groups = found.groupdict()
            command = groups["cmd"].rsplit(": ", 1)[-1].strip()
            named = groups["script"].removeprefix("./")
            if os.path.basename(named) in _SHELLS:
                return NotFound(command, None, None)
            line = int(groups["line"]) if groups.get("line") else None
            return NotFound(command, named, line)
    return None


def venv_hint(found: NotFound, spec: ServiceSpec) -> str | None:
    """Whether a virtualenv of the service has the command, and how to reach it.

    devstack puts the service's venv's bin first on its PATH (``project.venv.activate``):
    a command found there was lost on the way (the script set PATH). A venv beside the
    script that devstack does not activate is named with the key that would.
    """
    if "/" in found.command:
        return None
    venv = venv_of(spec)
    if venv is not None:
        return _in_service_venv(found, spec, venv)
    script_dir = (spec.cwd / found.script).parent if found.script else spec.cwd
    other = find_venv(script_dir)
    if other is None or not _runnable(other, found.command):
        return None
    command = shown(other / BIN_DIR / found.command, spec.cwd)
    return (
        f"{command} exists, but devstack activates no venv for this service: "
        f'set venv = "{shown(other, spec.cwd)}" or call {command} in the script'
    )


def _in_service_venv(found: NotFound, spec: ServiceSpec, venv: Path) -> str:
    bin_dir = venv / BIN_DIR
    command = shown(bin_dir / found.command, spec.cwd)
    if not _runnable(venv, found.command):
        return f"{found.command} is not in {shown(bin_dir, spec.cwd)} either"
    if str(bin_dir) not in spec.env.get("PATH", "").split(os.pathsep):
        return f"{command} exists: activate the venv in the script or call {command}"
    setter = _path_setter(found, spec.cwd)
    if setter is not None:
        return f"{command} exists, but {setter} sets PATH without it: call {command} there"
    return (
        f"{command} exists and devstack puts {shown(bin_dir, spec.cwd)} on the service's "
        f"PATH: the script changes PATH before it; call {command}"
    )


def _runnable(venv: Path, command: str) -> bool:
    return os.access(venv / BIN_DIR / command, os.X_OK)


def _path_setter(found: NotFound, cwd: Path) -> str | None:
    """``script:line`` of the last PATH= before the failing line that drops the old PATH."""
    if found.script is None:
        return None
    path = cwd / found.script
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    end = found.line or len(lines)
    for number in range(min(end, len(lines)), 0, -1):
        line = lines[number - 1]
        if _PATH_SET.match(line) and not _KEEPS_PATH.search(line):
            return f"{found.script}:{number}"
    return None
