"""A virtualenv whose Python is gone (issue 15 point 7), named as such with the command that
makes it again, through ``devstack check`` as a user runs it. Real virtualenvs
(``--without-pip``: nothing is installed), made from a Python that is then removed, as a
Homebrew or pyenv upgrade removes one.

Before: ``gunicorn api:app`` from such a venv was "executable ok" and a skipped import
check ("a devstack limitation"), exit 0; ``python app.py`` silently ran another Python
on the PATH and was "ok".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.stackrun import run_devstack

pytestmark = pytest.mark.timeout(240)

# What pip writes for a console script, with the venv's python in the first line.
CONSOLE_SCRIPT = (
    "#!{python}\nimport re\nimport sys\nfrom gunicorn.app.wsgiapp import run\n"
    'if __name__ == "__main__":\n    sys.exit(run())\n'
)


def venv(directory: Path, base: Path | None = None, *, copies: bool = False) -> Path:
    """A venv in ``directory/.venv`` made by ``base`` (a python), with a gunicorn script."""
    python = str(base) if base is not None else sys.executable
    argv = [python, "-m", "venv", "--without-pip", *(["--copies"] if copies else [])]
    subprocess.run([*argv, str(directory / ".venv")], check=True, timeout=60)
    script = directory / ".venv" / "bin" / "gunicorn"
    script.write_text(CONSOLE_SCRIPT.format(python=directory / ".venv" / "bin" / "python"))
    script.chmod(0o755)
    return directory / ".venv"


def removable_python(root: Path) -> Path:
    """A Python installation that can be removed: a link to the real one in its own bin."""
    base = root / "base" / "bin"
    base.mkdir(parents=True)
    (base / "python3").symlink_to(os.path.realpath(sys.executable))
    return base / "python3"


def stack(root: Path, cmd: str, extra: str = "") -> None:
    (root / "stack.toml").write_text(
        f'[services.backend]\ncmd = "{cmd}"\ncwd = "backend"\nport = 5000\n'
        f"check.port = false\n{extra}"
    )


def results(root: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    text = run_devstack(root, "check", timeout=120)
    data = json.loads(run_devstack(root, "check", "--json", timeout=120).stdout)
    exe = next(r for r in data["services"]["backend"] if r["check"] == "executable")
    return text, exe


def set_up_then_lose_python(
    root: Path,
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """Run the setup step, remove the Python the venv's links point to, then check."""
    assert run_devstack(root, "setup", timeout=120).returncode == 0
    for name in ("python", "python3"):
        link = root / "backend" / ".venv" / "bin" / name
        link.unlink()
        link.symlink_to(root / "gone" / "python3.11")
    return results(root)


def test_a_venv_whose_python_was_removed_fails_with_the_command_that_remakes_it(
    tmp_path: Path,
) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "api.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (backend / "requirements.txt").write_text("flask\ngunicorn\n")
    base = removable_python(tmp_path)
    venv(backend, base)
    shutil.rmtree(tmp_path / "base")
    stack(tmp_path, "gunicorn api:app --bind 127.0.0.1:${port}")
    ran, exe = results(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    out = ran.stdout
    assert "fail  executable  the virtualenv .venv is broken: its Python is gone" in out, out
    assert f".venv/bin/python is a link to {base}, which no longer exists" in out, out
    fix = "python3 -m venv --clear .venv && .venv/bin/python -m pip install -r requirements.txt"
    assert f"fix: {fix}" in out, out
    assert "could not run" not in out, out
    assert (exe["kind"], exe["fix"]) == ("broken-venv", fix)
    # The venv's python named by its path: the same (it was "not found").
    stack(tmp_path, ".venv/bin/python -m gunicorn api:app --bind 127.0.0.1:${port}")
    ran, exe = results(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (exe["kind"], exe["fix"]) == ("broken-venv", fix)


def test_python_of_a_broken_venv_with_a_setup_step_gets_the_setup_again(tmp_path: Path) -> None:
    """`python app.py` used to run the next Python on the PATH and pass; the fix named
    (remove the venv, the setup step again) is run and the check then passes."""
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "app.py").write_text("print('hi')\n")
    setup = f"{sys.executable} -m venv --without-pip .venv"
    stack(tmp_path, "python app.py", f'setup = "{setup}"\n')
    ran, exe = set_up_then_lose_python(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    fix = "rm -rf backend/.venv && devstack setup backend --force"
    assert "the virtualenv .venv is broken: its Python is gone" in ran.stdout, ran.stdout
    assert (exe["kind"], exe["fix"]) == ("broken-venv", fix)
    shutil.rmtree(backend / ".venv")
    assert run_devstack(tmp_path, "setup", "backend", "--force", timeout=120).returncode == 0
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "python found (.venv/bin/python)" in ran.stdout, ran.stdout


def test_a_setup_that_only_installs_into_the_venv_gets_the_venv_made_first(
    tmp_path: Path,
) -> None:
    """`devstack init` writes `setup = ".venv/bin/pip install -r requirements.txt"`; the fix
    `rm -rf .venv && devstack setup backend --force` then failed (`.venv/bin/pip: not
    found`, seen in a field trial). The venv is made first; the fix named is run and the
    check then passes."""
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "app.py").write_text("print('hi')\n")
    (backend / "requirements.txt").write_text("# nothing to install\n")
    subprocess.run([sys.executable, "-m", "venv", str(backend / ".venv")], check=True, timeout=120)
    setup = ".venv/bin/pip install -q --no-index -r requirements.txt"
    stack(tmp_path, "python app.py", f'setup = "{setup}"\n')
    ran, exe = set_up_then_lose_python(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    # One line, run beside stack.toml as every devstack command is: the venv's path too.
    fix = "python3 -m venv --clear backend/.venv && devstack setup backend --force"
    assert (exe["kind"], exe["fix"]) == ("broken-venv", fix)
    made = subprocess.run(
        fix,
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert made.returncode == 0, made.stdout + made.stderr
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_moved_venv_whose_scripts_name_the_old_path(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    venv(old)
    backend = tmp_path / "backend"
    old.rename(backend)
    (backend / "pyproject.toml").write_text(
        '[project]\nname = "a"\nversion = "1"\ndependencies = ["flask", "gunicorn"]\n'
    )
    stack(tmp_path, "gunicorn api:app --bind 127.0.0.1:${port}")
    ran, exe = results(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        f".venv/bin/gunicorn starts with #!{old}/.venv/bin/python, which does not exist "
        "(the virtualenv was moved or renamed since it was made)"
    ) in ran.stdout, ran.stdout
    assert exe["kind"] == "broken-venv"
    assert exe["fix"] == "python3 -m venv --clear .venv && .venv/bin/python -m pip install -e '.'"


def test_a_copied_python_whose_home_is_gone_but_starts_is_not_blocked(tmp_path: Path) -> None:
    """pyvenv.cfg's home removed, the copied interpreter still finds its library: it is
    asked to start, and it does, so nothing is said."""
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "app.py").write_text("print('hi')\n")
    venv(backend, removable_python(tmp_path), copies=True)
    shutil.rmtree(tmp_path / "base")
    stack(tmp_path, "python app.py")
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "ok    executable  python found (.venv/bin/python)" in ran.stdout, ran.stdout
