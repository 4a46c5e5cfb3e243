"""devstack init on real project shapes, through the CLI: init, then config and check.

A Next.js + Flask starter (package.json's ``concurrently`` dev script, api/index.py,
a rewrite in next.config.js) and a Heroku-style Flask app (Procfile with a quoted
factory, Celery worker/beat, a release phase, Redis). The Flask app imports in the
session's test virtualenv (conftest's web_venv: real flask and gunicorn), linked as .venv.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import free_port
from support.stackrun import run_devstack

DATA = Path(__file__).parents[1] / "data" / "init"

pytestmark = pytest.mark.timeout(240)  # the first run builds the test virtualenv


def nextjs_flask(root: Path, next_port: int, api_port: int) -> None:
    """vercel's Next.js + Flask starter in shape, on free ports."""
    data = json.loads((DATA / "package.nextjs-flask.json").read_text())
    scripts = data["scripts"]
    scripts["next-dev"] = f"next dev -p {next_port}"
    scripts["flask-dev"] = scripts["flask-dev"].replace("5328", str(api_port))
    (root / "package.json").write_text(json.dumps(data, indent=2))
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: '6.0'\n")
    (root / "requirements.txt").write_text("Flask\n")
    config = (DATA / "next.config.nextjs-flask.js").read_text()
    (root / "next.config.js").write_text(config.replace("5328", str(api_port)))
    (root / "api").mkdir()
    shutil.copy(DATA / "index.nextjs-flask.py", root / "api" / "index.py")


def test_package_json_dev_script_to_a_checked_stack(tmp_path: Path, web_venv: Path) -> None:
    next_port, api_port = free_port(), free_port()
    nextjs_flask(tmp_path, next_port, api_port)
    (tmp_path / ".venv").symlink_to(web_venv)
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert f"flask: port {api_port}" in done.stdout
    # It wrote setup steps: `check` before them would only note what they install.
    assert done.stdout.splitlines()[-1] == (
        "next: devstack setup, then devstack check, then devstack up"
    )
    services = tomllib.loads((tmp_path / "stack.toml").read_text())["services"]
    assert services["next"]["depends_on"] == {"flask": "healthy"}
    assert services["flask"]["cmd"].startswith("python3 -m flask --app api/index run")
    assert run_devstack(tmp_path, "config").returncode == 0
    checked = run_devstack(tmp_path, "check", timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "index:app imports" in checked.stdout


def test_init_from_package_json_reads_json(tmp_path: Path) -> None:
    nextjs_flask(tmp_path, free_port(), free_port())
    done = run_devstack(tmp_path, "init", "--from", "package.json")
    assert done.returncode == 0, done.stderr
    assert "cannot read this line" not in done.stderr
    assert "# Written by `devstack init` from package.json" in (tmp_path / "stack.toml").read_text()
    (tmp_path / "package.json").write_text('{\n  "scripts": {\n    "dev": "next dev",\n  }\n}\n')
    bad = run_devstack(tmp_path, "init", "--from", "package.json", "--force")
    assert bad.returncode == 2
    assert bad.stderr.count("package.json:4") == 1 and "not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_heroku_procfile_to_a_checked_stack(tmp_path: Path, web_venv: Path) -> None:
    port = free_port()
    shutil.copy(DATA / "Procfile.heroku-flask", tmp_path / "Procfile")
    (tmp_path / ".env").write_text(f"PORT={port}\n")
    (tmp_path / "app.py").write_text(
        "from flask import Flask\n\n\ndef create_app():\n    app = Flask(__name__)\n"
        "    app.add_url_rule('/', 'home', lambda: 'ok')\n    return app\n"
    )
    (tmp_path / ".venv").symlink_to(web_venv)
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert f"web: port {port}" in done.stdout and "imports app:create_app()" in done.stdout
    services = tomllib.loads((tmp_path / "stack.toml").read_text())["services"]
    assert services["web"]["cmd"] == "gunicorn 'app:create_app()'"
    assert services["web"]["depends_on"] == {"release": "completed"}
    assert services["release"]["restart"] == "no"
    assert run_devstack(tmp_path, "config").returncode == 0
    # web: the factory imports in the venv's gunicorn Python, on the port of .env.
    checked = run_devstack(tmp_path, "check", "web", timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "app:create_app() imports" in checked.stdout


def test_a_python_app_alone(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from flask import Flask\n\napp = Flask(__name__)\n")
    (tmp_path / "requirements.txt").write_text("Flask\n")
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "stack.toml").read_text()
    assert text.startswith("# Written by `devstack init` from this directory")
    assert 'cmd = "flask --app app run --port ${port}"' in text
    assert run_devstack(tmp_path, "config").returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_devstack(empty, "init")
    assert nothing.returncode == 2 and "no Procfile, no package.json" in nothing.stderr
