"""A module that is not found, named for what it is (issue 15 points 2, 3 and 5), with real
Flask apps in a real virtualenv, through ``devstack check`` as a user runs it:

- a dependency the service declares (requirements*.txt, pyproject.toml, from its cwd
  up to the stack's folder) but that is not installed in its interpreter;
- one it never declared: the distribution to install (``requests_oauthlib`` ->
  requests-oauthlib) and the interpreter it goes into;
- a typo of a module beside the file that imports it (serializers vs serialisers.py);
- the app's module in a subfolder of where the service runs: ``cwd`` (verified by
  importing it there), not a dotted path that breaks its own sibling imports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.stackrun import run_devstack

pytestmark = pytest.mark.timeout(240)

FLASK_APP = "from flask import Flask\n{imports}\napp = Flask(__name__)\n"


def gunicorn(cwd: str = "backend", extra: str = "") -> str:
    return (
        '[services.backend]\ncmd = "gunicorn api:app --bind 127.0.0.1:${port}"\n'
        f'cwd = "{cwd}"\nport = 5000\ncheck.port = false\n{extra}'
    )


def check(root: Path, toml: str) -> tuple[str, dict[str, object]]:
    """``devstack check``'s text and the import result of ``check --json``."""
    (root / "stack.toml").write_text(toml)
    text = run_devstack(root, "check", timeout=120)
    assert text.returncode == 1, text.stdout + text.stderr
    data = run_devstack(root, "check", "--json", timeout=120)
    results = json.loads(data.stdout)["services"]["backend"]
    return text.stdout, next(r for r in results if r["check"] == "import")


def test_a_dependency_declared_up_in_pyproject_but_not_installed(
    tmp_path: Path, backend: Path
) -> None:
    """The stack's folder declares it (pyproject.toml one level up from the service):
    it was not looked for there, and the fix installed the module alone."""
    (backend / "api.py").write_text(FLASK_APP.format(imports="import yaml"))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "1"\ndependencies = ["flask", "PyYAML>=6"]\n'
    )
    out, imp = check(tmp_path, gunicorn())
    assert "PyYAML is declared in ../pyproject.toml, but not installed in .venv" in out, out
    assert (imp["kind"], imp["file"], imp["line"]) == ("not-installed", "api.py", 2)
    assert imp["fix"] == ".venv/bin/python -m pip install -e '..'"
    (tmp_path / "uv.lock").write_text('version = 1\n[[package]]\nname = "pyyaml"\n')
    _, imp = check(tmp_path, gunicorn())
    assert imp["fix"] == "uv sync (in ..)"


def test_a_dependency_an_included_requirements_file_declares(tmp_path: Path, backend: Path) -> None:
    (backend / "api.py").write_text(FLASK_APP.format(imports="import dateutil.parser"))
    (backend / "requirements").mkdir()
    (backend / "requirements" / "base.txt").write_text("flask\npython-dateutil==2.9\n")
    (backend / "requirements.txt").write_text("-r requirements/base.txt\ngunicorn\n")
    out, imp = check(tmp_path, gunicorn())
    assert (
        "python-dateutil is declared in requirements/base.txt:2, but not installed in .venv"
    ) in out, out
    assert re.search(r"fix: \.venv/bin/python -m pip install -r requirements\.txt$", out, re.M)
    assert imp["kind"] == "not-installed"


def test_an_undeclared_dependency_names_its_distribution_and_interpreter(
    tmp_path: Path, backend: Path
) -> None:
    (backend / "api.py").write_text(
        FLASK_APP.format(imports="from requests_oauthlib import OAuth2Session")
    )
    (backend / "requirements.txt").write_text("flask\ngunicorn\n")
    out, imp = check(tmp_path, gunicorn())
    assert "requests-oauthlib is not declared in requirements.txt" in out, out
    assert "install it into .venv (the service's Python), and add it to requirements.txt" in out, (
        out
    )
    assert imp["fix"] == ".venv/bin/python -m pip install requests-oauthlib"
    assert (imp["kind"], imp["file"], imp["line"]) == ("undeclared", "api.py", 2)


def test_a_local_module_name_with_a_typo(tmp_path: Path, backend: Path) -> None:
    """`from serializers import dump` with serialisers.py beside api.py: it used to be
    "pip install serializers"."""
    (backend / "api.py").write_text(FLASK_APP.format(imports="from serializers import dump"))
    (backend / "serialisers.py").write_text("def dump(x):\n    return x\n")
    out, imp = check(tmp_path, gunicorn())
    assert "did you mean serialisers (serialisers.py beside api.py)?" in out, out
    assert (
        "(if serializers is a package to install instead: "
        ".venv/bin/python -m pip install serializers)"
    ) in out, out
    assert not re.search("^ *fix: .*pip install", out, re.M), out
    assert (imp["kind"], imp["file"], imp["line"]) == ("typo", "api.py", 2)
    assert imp["fix"] == "did you mean serialisers (serialisers.py beside api.py)?"


def test_a_typo_inside_the_apps_own_package(tmp_path: Path, backend: Path) -> None:
    (backend / "shop").mkdir()
    (backend / "shop" / "__init__.py").write_text("")
    (backend / "shop" / "models.py").write_text("ITEMS = []\n")
    (backend / "shop" / "views.py").write_text("from .modles import ITEMS\n")
    (backend / "api.py").write_text(FLASK_APP.format(imports="import shop.views"))
    out, imp = check(tmp_path, gunicorn())
    assert "did you mean shop.models (models.py beside views.py)?" in out, out
    assert (imp["kind"], imp["file"], imp["line"]) == ("typo", "shop/views.py", 1)


def test_a_module_in_a_subfolder_gets_the_cwd_that_imports_it(
    tmp_path: Path, backend: Path
) -> None:
    """server/api.py imports models.py beside it: `gunicorn server.api:app` (what the
    scan suggested) fails on that import; cwd = server, verified by importing it there,
    works. A subfolder where it does not import is not suggested."""
    (backend / "aaa").mkdir()
    (backend / "aaa" / "api.py").write_text("raise RuntimeError('an old copy')\n")
    (backend / "server").mkdir()
    (backend / "server" / "api.py").write_text(FLASK_APP.format(imports="from models import db"))
    (backend / "server" / "models.py").write_text("db = object()\n")
    out, imp = check(tmp_path, gunicorn())
    fix = 'set cwd = "backend/server" and venv = "../.venv" in [services.backend]'
    assert "server/api.py is there, and imports when run from server/" in out, out
    assert "(not as server.api: it imports models.py from its own folder)" in out, out
    assert "(or keep the cwd: gunicorn --chdir server does the same)" in out, out
    assert f"fix: {fix}" in out, out
    assert "server.api:app" not in out, out
    assert (imp["kind"], imp["fix"]) == ("wrong-cwd", fix)
    # The fix, applied, passes the check.
    toml = gunicorn("backend/server", 'venv = "../.venv"\n')
    (tmp_path / "stack.toml").write_text(toml)
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "api:app imports; WSGI app (Flask)" in ran.stdout
    # So does gunicorn's own --chdir.
    chdir = gunicorn().replace("gunicorn api:app", "gunicorn --chdir server api:app")
    (tmp_path / "stack.toml").write_text(chdir)
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_missing_server_declared_in_the_stack_folders_requirements(tmp_path: Path) -> None:
    """The executable check reads the same declarations, up to the stack's folder: gunicorn
    in ../requirements.txt is installed from it, not alone."""
    import subprocess
    import sys

    backend = tmp_path / "backend"
    backend.mkdir()
    venv = [sys.executable, "-m", "venv", "--without-pip", str(backend / ".venv")]
    subprocess.run(venv, check=True, timeout=60)
    (tmp_path / "requirements.txt").write_text("flask\ngunicorn==23.0.0\n")
    (tmp_path / "stack.toml").write_text(gunicorn(extra='env = { PATH = "/nonexistent" }\n'))
    ran = run_devstack(tmp_path, "check", "--json", timeout=120)
    exe = next(
        r for r in json.loads(ran.stdout)["services"]["backend"] if r["check"] == "executable"
    )
    assert exe["summary"] == "gunicorn: not found (looked in .venv/bin, PATH)"
    assert exe["fix"] == ".venv/bin/pip install -r ../requirements.txt"


def test_a_server_in_the_venv_of_a_subfolder_is_named_not_installed_again(
    tmp_path: Path, backend: Path
) -> None:
    """Seen in a field trial (FastAPI + Vite, as its README runs it: from the repository's
    root, with backend/.venv): `cwd = "."` said `uvicorn: not found`, fix `python -m venv
    .venv && .venv/bin/pip install uvicorn (in the root)`: a second venv. The venv that
    has it is named, and the venv key that uses it."""
    (backend / "api.py").write_text(FLASK_APP.format(imports=""))
    toml = gunicorn(".").replace("gunicorn api:app", "gunicorn backend.api:app")
    (tmp_path / "stack.toml").write_text(toml)
    text = run_devstack(tmp_path, "check", timeout=120)
    assert text.returncode == 1, text.stdout + text.stderr
    data = json.loads(run_devstack(tmp_path, "check", "--json", timeout=120).stdout)
    exe = next(r for r in data["services"]["backend"] if r["check"] == "executable")
    assert exe["status"] == "fail"
    assert "backend/.venv/bin/gunicorn exists" in text.stdout, text.stdout
    assert exe["fix"] == 'set venv = "backend/.venv" in [services.backend]', exe
    assert "python -m venv .venv" not in text.stdout, text.stdout
    # The fix, applied, passes the check.
    (tmp_path / "stack.toml").write_text(toml + 'venv = "backend/.venv"\n')
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_flask_gets_its_path_form_beside_the_cwd_fix(tmp_path: Path, backend: Path) -> None:
    """Seen in a field trial (the Next.js + Flask starter, `flask --app index run` from the
    repository's root, api/index.py): only `set cwd = "api"` was said, which also moves
    the setup step; flask's own path form keeps the cwd, and works."""
    (backend / "api").mkdir()
    (backend / "api" / "index.py").write_text(FLASK_APP.format(imports="from models import db"))
    (backend / "api" / "models.py").write_text("db = object()\n")
    toml = gunicorn().replace("gunicorn api:app", "flask --app index run")
    out, imp = check(tmp_path, toml)
    assert imp["kind"] == "wrong-cwd", imp
    assert "(or keep the cwd: flask --app api/index does the same)" in out, out
    (tmp_path / "stack.toml").write_text(toml.replace("--app index", "--app api/index"))
    ran = run_devstack(tmp_path, "check", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_with_a_setup_step_the_fix_keeps_the_cwd(tmp_path: Path, backend: Path) -> None:
    """Field trial: `set cwd = "api"` also moves the setup step, whose
    `.venv/bin/pip install -r requirements.txt` then fails there; with a setup step the
    fix is the form that keeps the cwd, and the cwd change is the alternative."""
    (backend / "api").mkdir()
    (backend / "api" / "index.py").write_text(FLASK_APP.format(imports="from models import db"))
    (backend / "api" / "models.py").write_text("db = object()\n")
    toml = gunicorn(extra='setup = "true"\n').replace("gunicorn api:app", "flask --app index run")
    (tmp_path / "stack.toml").write_text(toml)
    data = run_devstack(tmp_path, "check", "--json", timeout=120)
    results = json.loads(data.stdout)["services"]["backend"]
    imp = next(r for r in results if r["check"] == "import")
    assert imp["kind"] == "wrong-cwd", imp
    assert imp["fix"] == "flask --app api/index (keeps the cwd, where the setup step runs)", imp
    assert any("moves the setup step's folder too" in d for d in imp["details"]), imp
