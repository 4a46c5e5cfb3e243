"""`devstack check` on a fresh clone, before the setup steps ran (issue 13, field trial).

`init` wrote `setup = "python3 -m venv .venv && .venv/bin/pip install -r
requirements.txt"`; `check` then failed the import (`No module named 'fastapi'`) with
rc 1, though `up` works: it runs the setup first. What the setup provides is not
checked until it ran, or again once its inputs changed; `check` says so and exits 0.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.procs.setuprecord import fingerprint, write_record
from support.stackrun import run_devstack

pytestmark = pytest.mark.timeout(120)

APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/api/py/hello")
def hello():
    return {"message": "hello"}
"""
MISSING = "devstack_fieldck_not_installed"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return run_devstack(root, "check", timeout=60)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone: the app, its requirements, a stack.toml with setup steps; no .venv."""
    (tmp_path / "api").mkdir()
    # The interpreter running the tests has fastapi installed? Import a module nobody has.
    (tmp_path / "api" / "index.py").write_text(APP.replace("fastapi", MISSING))
    (tmp_path / "requirements.txt").write_text(f"{MISSING}\ncelery\n")
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent(f"""\
        [services.fastapi]
        cmd = "{sys.executable} -m uvicorn api.index:app --port ${{port}}"
        port = 8000
        setup = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
        setup_inputs = ["requirements.txt"]

        [services.worker]
        cmd = "celery -A api.index worker"
        """)
    )
    return tmp_path


def test_check_before_the_first_setup_notes_what_setup_provides_and_exits_0(
    clone: Path,
) -> None:
    ran = check(clone)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    note = (
        "not checked: the setup step has not run yet"
        " (devstack setup fastapi, or devstack up runs it)"
    )
    assert any(line.startswith("fastapi  warn  import") and note in line for line in lines)
    # A sibling whose packages that setup installs (celery, same directory) waits for it too.
    assert any(line.startswith("worker   warn  executable") and note in line for line in lines)
    assert "checks: 0 failed," in ran.stdout


def test_check_after_setup_ran_checks_again_and_a_changed_input_is_named(
    clone: Path,
) -> None:
    stack = load_stack(clone / "stack.toml", clone)
    spec = stack.services["fastapi"]
    assert spec.setup is not None
    now = fingerprint(spec.setup, spec.cwd, spec.setup_inputs)
    write_record(stack.state_dir(), "fastapi", now, 1.0)
    ran = check(clone)
    assert ran.returncode == 1  # the setup ran, yet the module is missing: a verdict
    assert f"No module named '{MISSING}'" in ran.stdout
    (clone / "requirements.txt").write_text(f"{MISSING}\ncelery\nhttpx\n")
    ran = check(clone)
    assert ran.returncode == 0, ran.stdout
    assert (
        "not checked: the setup step must run again (requirements.txt changed)"
        " (devstack setup fastapi, or devstack up runs it)"
    ) in ran.stdout


def test_a_note_for_a_sibling_stays_its_own_and_keeps_the_facts(clone: Path) -> None:
    """Seen in a field trial: `check --json` gave the sibling's note `"service":
    "fastapi"` (the setup's owner) under `worker`, and every note lost its kind, file
    and line (a typo beside the importing file was `"kind": null`)."""
    import json

    (clone / "api" / "helpers.py").write_text("def greet():\n    return 'hi'\n")
    (clone / "api" / "index.py").write_text("from helper import greet\n" + APP)
    ran = run_devstack(clone, "check", "--json", timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    services = json.loads(ran.stdout)["services"]
    for name, results in services.items():
        assert {r["service"] for r in results} == {name}, results
    worker = next(r for r in services["worker"] if r["check"] == "executable")
    assert worker["status"] == "warn"
    imp = next(r for r in services["fastapi"] if r["check"] == "import")
    assert imp["status"] == "warn"
    assert (imp["kind"], imp["file"], imp["line"]) == ("typo", "api/index.py", 1), imp
    # No install cures a typo: its own fix stays, the pending setup is a note under it.
    assert imp["fix"] == "did you mean helpers (helpers.py beside index.py)?", imp
    assert "the setup step has not run yet" in imp["details"][-1], imp
