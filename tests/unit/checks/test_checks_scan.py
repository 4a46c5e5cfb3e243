"""The ast scan for web apps and command-line programs: reads files, never imports them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from devstack.checks.scan import cli_kind, scan_web_apps

FIXTURES = Path(__file__).parents[2] / "fixtures"


def test_incident_directory(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "incident", tmp_path / "backend")
    apps = scan_web_apps(tmp_path / "backend")
    assert [a.describe() for a in apps] == ["api:app (Flask, WSGI)"]
    assert cli_kind(tmp_path / "backend" / "main.py") == "argparse"
    assert cli_kind(tmp_path / "backend" / "api.py") is None
    assert cli_kind(tmp_path / "backend" / "converter.py") is None


def test_frameworks_factories_and_callables(tmp_path: Path) -> None:
    (tmp_path / "fast.py").write_text("from fastapi import FastAPI\napi = FastAPI()\n")
    (tmp_path / "star.py").write_text("import starlette.applications as s\napp = s.Starlette()\n")
    (tmp_path / "fact.py").write_text(
        "from flask import Flask\n\ndef create_app():\n    app = Flask(__name__)\n    return app\n"
    )
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "wsgi.py").write_text(
        "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"
    )
    shutil.copy(FIXTURES / "apps" / "asgi_app.py", tmp_path / "raw.py")
    described = [a.describe() for a in scan_web_apps(tmp_path)]
    assert described == [
        "fact:create_app() (Flask factory, WSGI)",
        "fast:api (FastAPI, ASGI)",
        "raw:app (ASGI callable)",
        "star:app (Starlette, ASGI)",
        "proj.wsgi:application (Django, WSGI)",
    ]


def test_skips_virtualenvs_hidden_and_vendored_dirs(tmp_path: Path) -> None:
    for d in (".venv", "node_modules", ".git", "venv2"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (tmp_path / "venv2" / "pyvenv.cfg").write_text("home = /usr\n")
    assert scan_web_apps(tmp_path) == []


def test_broken_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def (:\n")
    (tmp_path / "good.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    assert [a.target for a in scan_web_apps(tmp_path)] == ["good:app"]


def test_scan_never_imports(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(FIXTURES / "apps" / "side_effect.py", tmp_path / "side_effect.py")
    marker = tmp_path / "imported.marker"
    monkeypatch.setenv("SIDE_EFFECT_MARKER", str(marker))
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    assert [a.target for a in scan_web_apps(tmp_path)] == ["side_effect:app"]
    assert cli_kind(tmp_path / "side_effect.py") is None
    assert not marker.exists()
    assert "side_effect" not in set(sys.modules) - before


def test_imports_of_follows_local_and_relative_imports(tmp_path: Path) -> None:
    from devstack.checks.scan import imports_of

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "settings.py").write_text("import yaml\n")
    (tmp_path / "pkg" / "web.py").write_text("from . import settings\nimport flask\n")
    (tmp_path / "wsgi.py").write_text("from pkg.web import app\nimport os\n")
    files, outside = imports_of(tmp_path / "wsgi.py", [tmp_path])
    assert files == {
        (tmp_path / n).resolve()
        for n in ("wsgi.py", "pkg/__init__.py", "pkg/web.py", "pkg/settings.py")
    }
    assert outside == {"os", "flask", "yaml"}


def test_requirements_and_pyproject_listings(tmp_path: Path) -> None:
    from devstack.checks.provides import listed_in

    (tmp_path / "requirements-dev.txt").write_text("-r base.txt\npython_dotenv==1.0 ; extra\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["Flask>=3", "gunicorn[gevent]"]\n'
    )
    assert listed_in(tmp_path, "python-dotenv") == tmp_path / "requirements-dev.txt"
    assert listed_in(tmp_path, "gunicorn") == tmp_path / "pyproject.toml"
    assert listed_in(tmp_path, "flask") == tmp_path / "pyproject.toml"
    assert listed_in(tmp_path, "PyYAML") is None
