"""A shell's "command not found" line, in each shell's own words (copied from real runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.runtime.notfound import NotFound, parse_not_found, venv_hint
from devstack.spec import ServiceSpec


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (
            "./run-worker.sh: line 5: celery: command not found",
            NotFound("celery", "run-worker.sh", 5),
        ),
        ("./run-worker.sh: 5: celery: not found", NotFound("celery", "run-worker.sh", 5)),
        ("bin/run.sh: line 2: exec: celery: not found", NotFound("celery", "bin/run.sh", 2)),
        ("./run-worker.sh:5: command not found: celery", NotFound("celery", "run-worker.sh", 5)),
        ("sh: 1: gunicorn: not found", NotFound("gunicorn", None, None)),
        ("bash: line 1: gunicorn: command not found", NotFound("gunicorn", None, None)),
        ("bash: celery: command not found", NotFound("celery", None, None)),
    ],
)
def test_each_shells_wording(line: str, found: NotFound) -> None:
    assert parse_not_found(["starting", line]) == found


def test_described_as_script_line_command() -> None:
    assert NotFound("celery", "run-worker.sh", 5).describe() == (
        "run-worker.sh:5: celery: command not found"
    )
    assert NotFound("gunicorn", None, None).describe() == "gunicorn: command not found"


def test_other_lines_are_not_taken_for_it() -> None:
    assert parse_not_found(["404: page not found", "user not found", "all good"]) is None


def venv_with(path: Path, *commands: str) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for name in commands:
        (path / "bin" / name).write_text("#!/bin/sh\n")
        (path / "bin" / name).chmod(0o755)
    return path


def service(cwd: Path, path: str) -> ServiceSpec:
    return ServiceSpec("worker", "./run.sh", ("./run.sh",), cwd, {"PATH": path})


def test_venv_hint_says_where_the_command_went(tmp_path: Path) -> None:
    venv = venv_with(tmp_path / ".venv", "celery")
    found = NotFound("celery", "run.sh", 4)
    script = tmp_path / "run.sh"
    on_path = service(tmp_path, f"{venv / 'bin'}:/usr/bin")
    script.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\nexport PATH=$PATH:/opt/x\ncelery\n")
    assert venv_hint(found, on_path) == (
        ".venv/bin/celery exists, but run.sh:2 sets PATH without it: call .venv/bin/celery there"
    )
    script.write_text("#!/bin/sh\nexport PATH=$PATH:/opt/x\n\ncelery\n")
    assert venv_hint(found, on_path) == (
        ".venv/bin/celery exists and devstack puts .venv/bin on the service's PATH: "
        "the script changes PATH before it; call .venv/bin/celery"
    )
    assert venv_hint(found, service(tmp_path, "/usr/bin")) == (
        ".venv/bin/celery exists: activate the venv in the script or call .venv/bin/celery"
    )
    assert venv_hint(NotFound("flower", "run.sh", 4), on_path) == (
        "flower is not in .venv/bin either"
    )


def test_venv_hint_names_a_venv_beside_the_script(tmp_path: Path) -> None:
    venv_with(tmp_path / "worker" / ".venv", "celery")
    found = NotFound("celery", "worker/run.sh", 5)
    assert venv_hint(found, service(tmp_path, "/usr/bin")) == (
        "worker/.venv/bin/celery exists, but devstack activates no venv for this service: "
        'set venv = "worker/.venv" or call worker/.venv/bin/celery in the script'
    )
    assert venv_hint(NotFound("celery", None, None), service(tmp_path, "/usr/bin")) is None
