"""devstack init on package.json projects: the dev script's parts, Node dev servers, the
frontend's proxy target and the Python app beside it.

tests/data/init/*.nextjs-flask.* have the shape of vercel's Next.js + Flask starter:
``concurrently "pnpm run next-dev" "pnpm run flask-dev"``, the API in api/index.py on
5328, reached through a rewrite in next.config.js.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.errors import ConfigError
from devstack.export.frompackage import dev_parts, infer_package, read_scripts
from devstack.export.fromprocfile import Inferred, render_toml

DATA = Path(__file__).parents[2] / "data" / "init"


def nextjs_flask(root: Path, *, scripts: dict[str, str] | None = None) -> Path:
    """The starter's files in ``root``; ``scripts`` replaces package.json's scripts."""
    data = json.loads((DATA / "package.nextjs-flask.json").read_text())
    if scripts is not None:
        data["scripts"] = scripts
    (root / "package.json").write_text(json.dumps(data, indent=2))
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: '6.0'\n")
    (root / "requirements.txt").write_text("Flask==3.0.3\n")
    shutil.copy(DATA / "next.config.nextjs-flask.js", root / "next.config.js")
    (root / "api").mkdir()
    shutil.copy(DATA / "index.nextjs-flask.py", root / "api" / "index.py")
    return root / "package.json"


def services(package_json: Path) -> dict[str, Inferred]:
    return {s.name: s for s in infer_package(package_json)[0]}


def test_concurrently_parts_become_services(tmp_path: Path) -> None:
    found = services(nextjs_flask(tmp_path))
    assert list(found) == ["next", "flask"]
    next_, flask = found["next"], found["flask"]
    assert (next_.cmd, next_.port) == ("pnpm run next-dev --port ${port}", 3000)
    assert (flask.cmd, flask.port, flask.app) == (
        "python3 -m flask --app api/index run -p 5328",
        5328,
        "index:app",
    )
    # pip3 install && ...: a setup step into a venv, not a pip run at every start.
    assert flask.setup == "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    assert flask.setup_inputs == ["requirements.txt"]
    # pnpm 10+ fails the starter's install on sharp's unapproved build script.
    assert next_.setup == "pnpm install --frozen-lockfile --config.strict-dep-builds=false"
    (tmp_path / "pnpm-workspace.yaml").write_text("allowBuilds:\n  sharp: true\n")
    assert services(tmp_path / "package.json")["next"].setup == "pnpm install --frozen-lockfile"
    # next.config.js rewrites /api to 127.0.0.1:5328: next waits for flask.
    assert next_.depends_on == {"flask": "next.config.js's proxy targets flask's port 5328"}


def test_env_assignments_of_the_script_reach_the_service(tmp_path: Path) -> None:
    """The starter's `FLASK_DEBUG=1 pip3 install ... && python3 -m flask ...`: init made
    the pip part the setup and lost the variable; the app ran with debug off."""
    package = nextjs_flask(tmp_path)
    flask = services(package)["flask"]
    assert flask.env == {"FLASK_DEBUG": "1"}
    assert flask.setup == "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    text = render_toml(infer_package(package)[0], "package.json", None)
    assert 'env = { FLASK_DEBUG = "1" }' in text
    # As a shell reads it, the assignment was pip's alone: the comment says so.
    assert (
        "# FLASK_DEBUG=1: the script sets it before `pip3 install -r requirements.txt`, and a"
        " shell gives such an assignment to that command alone (now the setup step)"
    ) in text
    (tmp_path / "stack.toml").write_text(text)
    stack = load_stack(tmp_path / "stack.toml", environ={"PATH": "/bin"})
    assert stack.services["flask"].env["FLASK_DEBUG"] == "1"


def test_env_of_the_serving_step_and_pinned_requirements_are_kept(tmp_path: Path) -> None:
    scripts = {
        "dev": "pip install flask==3.0.3 && FLASK_DEBUG=1 APP_MODE=dev python3 -m flask"
        " --app api/index run -p 5328"
    }
    dev = services(nextjs_flask(tmp_path, scripts=scripts))["dev"]
    assert dev.env == {"FLASK_DEBUG": "1", "APP_MODE": "dev"}
    assert dev.setup == "python3 -m venv .venv && .venv/bin/pip install flask==3.0.3"
    assert not any("FLASK_DEBUG" in note for note in dev.notes)


@pytest.mark.parametrize(
    ("dev", "expected"),
    [
        (
            'concurrently -k -n web,api -c blue,green "pnpm:next-dev" "pnpm:flask-dev"',
            [("web", "pnpm run next-dev"), ("api", "pnpm run flask-dev")],
        ),
        (
            'concurrently --kill-others --names=web,api "npm run next-dev" "npm run flask-dev"',
            [("web", "npm run next-dev"), ("api", "npm run flask-dev")],
        ),
        (
            'concurrently "npm:dev:*"',
            [("api", "npm run dev:api"), ("web", "npm run dev:web")],
        ),
        ("run-p dev:api dev:web", [("api", "npm run dev:api"), ("web", "npm run dev:web")]),
        (
            "concurrently 'vite --port 5174' 'uvicorn main:app --port 8001'",
            [("vite", "vite --port 5174"), ("uvicorn", "uvicorn main:app --port 8001")],
        ),
    ],
)
def test_concurrently_forms(dev: str, expected: list[tuple[str, str]]) -> None:
    scripts = {
        "dev": dev,
        "next-dev": "next dev",
        "flask-dev": "flask --app api run -p 5328",
        "dev:api": "uvicorn main:app --port 8000",
        "dev:web": "vite",
    }
    _, parts = dev_parts(scripts)
    assert [(p.name, p.command) for p in parts] == expected


@pytest.mark.parametrize(
    ("script", "cmd", "port"),
    [
        ("next dev", "npm run dev -- --port ${port}", 3000),
        ("next dev --turbopack -p 3001", "npm run dev", 3001),
        ("vite", "npm run dev -- --port ${port}", 5173),
        ("vite --port 4000", "npm run dev", 4000),
        ("nuxt dev", "npm run dev -- --port ${port}", 3000),
        ("astro dev", "npm run dev -- --port ${port}", 4321),
    ],
)
def test_node_dev_servers_and_their_ports(tmp_path: Path, script: str, cmd: str, port: int) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"dev": script}}))
    svc = services(tmp_path / "package.json")["dev"]
    assert (svc.cmd, svc.port) == (cmd, port)


def test_python_entry_point_found_when_no_script_runs_it(tmp_path: Path) -> None:
    nextjs_flask(tmp_path, scripts={"dev": "next dev"})
    found = services(tmp_path / "package.json")
    backend = found["backend"]
    # The rewrite's port, so the proxy reaches it; Flask's CLI with the file's path.
    assert (backend.port, backend.cmd, backend.app) == (
        5328,
        "flask --app api/index run --port ${port}",
        "index:app",
    )
    assert found["dev"].depends_on == {
        "backend": "next.config.js's proxy targets backend's port 5328"
    }


def test_package_json_stack_loads(tmp_path: Path) -> None:
    found = services(nextjs_flask(tmp_path))
    text = render_toml(found.values(), "package.json", None, what="its dev script")
    (tmp_path / "stack.toml").write_text(text)
    data = tomllib.loads(text)
    assert data["services"]["next"]["depends_on"] == {"flask": "healthy"}
    stack = load_stack(tmp_path / "stack.toml", environ={"PATH": "/bin"})
    assert stack.services["next"].port == 3000
    assert stack.services["flask"].setup is not None


def test_bad_json_is_one_error_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{\n  "scripts": {\n    "dev": "next dev",\n  }\n}\n')
    with pytest.raises(ConfigError) as caught:
        read_scripts(tmp_path / "package.json")
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].line == 4


def test_vite_proxy_and_a_fastapi_part(tmp_path: Path) -> None:
    scripts = {"dev": "concurrently -k -n web,api 'vite' 'uvicorn main:app --port 8001'"}
    (tmp_path / "package.json").write_text(json.dumps({"scripts": scripts}))
    (tmp_path / "vite.config.ts").write_text(
        "export default defineConfig({\n  server: {\n"
        "    proxy: { '/api': { target: 'http://localhost:8001', changeOrigin: true } },\n"
        "  },\n})\n"
    )
    found = services(tmp_path / "package.json")
    assert (found["web"].cmd, found["web"].port) == ("npx vite --port ${port}", 5173)
    assert (found["api"].cmd, found["api"].port, found["api"].app) == (
        "uvicorn main:app --port 8001",
        8001,
        "main:app",
    )
    assert found["web"].depends_on == {"api": "vite.config.ts's proxy targets api's port 8001"}


@pytest.mark.parametrize(
    ("files", "cmd", "port"),
    [
        (
            {"main.py": "from fastapi import FastAPI\napp = FastAPI()\n"},
            "uvicorn main:app --port ${port}",
            8000,
        ),
        (
            {"app.py": "from flask import Flask\n\ndef create_app():\n    return Flask('a')\n"},
            "flask --app app run --port ${port}",
            5000,
        ),
        (
            {"manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 's')\n"},
            "python3 manage.py runserver 127.0.0.1:${port}",
            8000,
        ),
    ],
)
def test_python_entry_points(tmp_path: Path, files: dict[str, str], cmd: str, port: int) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"dev": "vite"}}))
    backend = services(tmp_path / "package.json")["backend"]
    assert (backend.cmd, backend.port) == (cmd, port)
