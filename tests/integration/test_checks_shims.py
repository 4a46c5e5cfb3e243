"""The import check behind version-manager shims (issue 13 point 2; reliability
case 48 of docs/reliability.md).

`flask` on PATH is a bash shim, as pyenv writes it, that execs through a manager
script; the manager here is a small bash script that answers `which` with the test
venv's flask and `exec` by exec'ing it. devstack must ask the manager and import the
app with the venv's Python, never run its probe with the shim's bash; a shim it cannot
ask is a warning that does not block the service.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import pytest

from conftest import free_port
from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service
from devstack.config import load_stack

pytestmark = pytest.mark.timeout(240)

FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/api/health")
def health():
    return {"status": "ok"}
"""

# pyenv's own shim text (pyenv 2.x `pyenv rehash`), with its root in the test's tmp dir.
PYENV_SHIM = """\
#!/usr/bin/env bash
set -e
[ -n "$PYENV_DEBUG" ] && set -x

program="${{0##*/}}"

export PYENV_ROOT="{root}"
exec "{root}/libexec/pyenv" exec "$program" "$@"
"""

# The manager: `which PROGRAM` prints the real program, `exec PROGRAM ARGS` runs it.
FAKE_PYENV = """\
#!/usr/bin/env bash
set -e
echo "$PWD $*" >> "{root}/asked.log"
command="$1"; shift
program="$1"; shift
case "$command" in
  which) echo "{bin}/$program" ;;
  exec) exec "{bin}/$program" "$@" ;;
  *) echo "fake pyenv: no command $command" >&2; exit 1 ;;
esac
"""

# A shim of a manager devstack does not know: it works, but nobody can be asked.
UNKNOWN_SHIM = """\
#!/usr/bin/env bash
exec "{bin}/$(basename "$0")" "$@"
"""


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A Next.js-starter-like Flask API in api/index.py, with no virtualenv of its own."""
    _script(tmp_path / "api" / "index.py", FLASK_APP)
    return tmp_path


def pyenv_root(tmp_path: Path, venv: Path) -> Path:
    root = tmp_path / "pyenv"
    _script(root / "shims" / "flask", PYENV_SHIM.format(root=root))
    _script(root / "libexec" / "pyenv", FAKE_PYENV.format(root=root, bin=venv / "bin"))
    return root


def checks(
    root: Path, monkeypatch: pytest.MonkeyPatch, shims: Path, skip: tuple[str, ...] = ()
) -> dict[str, CheckResult]:
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    (root / "stack.toml").write_text(
        '[services.api]\ncmd = "flask --app api/index run --port ${port}"\nport = 5328\n'
    )
    stack = load_stack(root / "stack.toml", root)
    results = asyncio.run(check_service(stack.services["api"], stack, skip=("port", *skip)))
    return {r.check: r for r in results}


def import_check(root: Path, monkeypatch: pytest.MonkeyPatch, shims: Path) -> CheckResult:
    return checks(root, monkeypatch, shims)["import"]


def test_pyenv_shim_is_resolved_through_its_manager(
    app_dir: Path, web_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = pyenv_root(app_dir, web_venv)
    imp = import_check(app_dir, monkeypatch, root / "shims")
    assert (imp.status, imp.summary) == ("ok", "index:app imports; WSGI app (Flask)")
    # Asked in the service's directory, where .python-version would select the version.
    assert (root / "asked.log").read_text().splitlines() == [f"{app_dir} which flask"]


def test_a_shim_its_manager_cannot_resolve_is_a_warning_naming_why(
    app_dir: Path, web_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = pyenv_root(app_dir, web_venv)
    # The manager fails to answer (status 1, not pyenv's certain 127, which the
    # executable check blocks on): devstack repeats its words.
    _script(
        root / "libexec" / "pyenv",
        '#!/usr/bin/env bash\necho "pyenv: $2: command not found" >&2\nexit 1\n',
    )
    found = checks(app_dir, monkeypatch, root / "shims")
    # Not pyenv's "command not found" with 127: the shim may fail otherwise, or not at all.
    exe = found["executable"]
    assert exe.status == "warn"
    assert exe.details == ("`pyenv which flask` said:", "  pyenv: flask: command not found")
    imp = found["import"]
    assert imp.status == "warn"
    assert imp.summary == (
        "skipped: devstack cannot tell which Python runs it: flask is a pyenv shim "
        f"({root / 'shims' / 'flask'}), and `pyenv which flask` answered: "
        "pyenv: flask: command not found"
    )


# pyenv-which's own answer when .python-version selects a version without the program.
PYENV_NOT_FOUND = """\
#!/usr/bin/env bash
echo "$PWD $* PYENV_ROOT=$PYENV_ROOT" >> "{root}/asked.log"
{{ echo "pyenv: $2: command not found"
  echo
  echo "The \\`$2' command exists in these Python versions:"
  echo "  3.11.7"
  echo
  echo "Note: See 'pyenv help global' for tips on allowing multiple"
  echo "      Python versions to be found at the same time."
}} >&2
exit 127
"""


def test_executable_check_fails_on_a_pyenv_shim_without_the_program_for_the_selected_version(
    app_dir: Path, web_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The field trial: `.python-version` 3.12, flask only in 3.11.7; `check` said
    `flask found (/root/.pyenv/shims/flask)`, then `up` exited 127."""
    root = pyenv_root(app_dir, web_venv)
    _script(root / "libexec" / "pyenv", PYENV_NOT_FOUND.format(root=root))
    (app_dir / ".python-version").write_text("3.12\n")
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    found = checks(app_dir, monkeypatch, root / "shims")
    exe = found["executable"]
    assert exe.status == "fail"
    assert exe.summary == (
        "flask (pyenv/shims/flask) is a pyenv shim, and pyenv has no flask for "
        "the version selected here"
    )
    assert exe.details[:3] == (
        "`pyenv which flask` said:",
        "  pyenv: flask: command not found",
        "  The `flask' command exists in these Python versions:",
    )
    assert exe.fix is not None
    assert exe.fix.startswith(f"pyenv local 3.11.7 (in {app_dir}), or install it into the ")
    assert "pyenv exec pip install flask" in exe.fix
    assert "import" not in found  # nothing to import with: the executable failed
    # Asked once, in the service's cwd, with the PYENV_ROOT the shim itself exports.
    assert (root / "asked.log").read_text().splitlines() == [
        f"{app_dir} which flask PYENV_ROOT={root}"
    ]


def test_executable_check_names_what_a_resolved_shim_runs(
    app_dir: Path, web_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = pyenv_root(app_dir, web_venv)
    exe = checks(app_dir, monkeypatch, root / "shims")["executable"]
    assert (exe.status, exe.summary) == (
        "ok",
        f"flask found (pyenv/shims/flask, which runs {web_venv / 'bin' / 'flask'})",
    )


def test_an_interpreter_that_is_not_python_is_devstacks_limitation_in_one_line(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's symptom, reproduced: the probe run by bash. One line, no probe_app.py."""
    fake = _script(app_dir / "bin" / "python3", '#!/bin/sh\nexec /bin/bash "$@"\n')
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    (app_dir / "stack.toml").write_text(
        '[services.api]\ncmd = "python3 -m flask --app api/index run"\n'
    )
    stack = load_stack(app_dir / "stack.toml", app_dir)
    results = asyncio.run(check_service(stack.services["api"], stack, skip=("port",)))
    imp = {r.check: r for r in results}["import"]
    assert imp.status == "warn"
    assert imp.details == ()
    assert imp.summary.startswith(
        f"skipped: devstack's own import check could not run with {fake} (exit status 2: "
    )
    assert imp.summary.endswith("a devstack limitation, not a verdict on the app")
    assert "probe_app" not in imp.summary


def test_unknown_shim_warns_and_the_service_starts(
    app_dir: Path, web_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.stackrun import RunningStack

    shims = app_dir / "frobenv" / "shims"
    _script(shims / "flask", UNKNOWN_SHIM.format(bin=web_venv / "bin"))
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    port = free_port()
    (app_dir / "stack.toml").write_text(
        "[services.api]\n"
        'cmd = "flask --app api/index run --port ${port}"\n'
        f"port = {port}\n"
        'health.http = "/api/health"\n'
    )
    with RunningStack(app_dir) as stack:
        stack.wait_for(r"^api\s+\* \[healthy\] GET .*/api/health -> 200", timeout=60)
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output()
    assert (
        "[check warning] skipped: devstack cannot tell which Python runs it: flask is a "
        f"version-manager shim ({shims / 'flask'}), of a manager devstack does not know "
        "how to ask"
    ) in out
    assert "[check failed]" not in out
