"""Generated Dockerfiles (export/dockerfile.py), parsed with dockerfile-parse (no engine here)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from devstack.export.dockerfile import Dockerfile, dockerfile_for, in_image
from devstack.export.production import production

# Every instruction a Dockerfile may hold: anything else is a syntax error for docker build.
INSTRUCTIONS = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "CMD"}


def parsed(dockerfile: Dockerfile, tmp_path: Path) -> list[tuple[str, str]]:
    """(instruction, value) pairs, checked to be a Dockerfile docker would read."""
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.text.encode()), env_replace=False)
    steps = [(s["instruction"], s["value"]) for s in parser.structure]
    steps = [(i, v) for i, v in steps if i != "COMMENT"]
    assert steps[0][0] == "FROM", steps
    assert {i for i, _ in steps} <= INSTRUCTIONS, steps
    for instruction, value in steps:
        if instruction == "CMD":
            assert isinstance(json.loads(value), list)  # exec form
    return steps


def make(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def build(
    root: Path,
    argv: list[str],
    setup: str | None = None,
    folder: str = "svc",
    port: int | None = 5000,
) -> Dockerfile:
    prod = production(argv, port=port, cwd=root / folder, env={})
    found = dockerfile_for(
        "svc", argv, root / folder, root, setup, prod, prod.command if prod else argv
    )
    assert found is not None
    return found


def runs(steps: list[tuple[str, str]]) -> list[str]:
    return [v for i, v in steps if i == "RUN"]


def test_pip_requirements(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"requirements.txt": "flask\n", "api.py": "app = 1\n"})
    found = build(tmp_path, ["flask", "--app", "api", "run"])
    steps = parsed(found, tmp_path)
    assert ("FROM", "python:3.12-slim") in steps
    assert ("WORKDIR", "/app/svc") in steps
    assert steps.index(("COPY", "svc/requirements.txt ./")) < steps.index(("COPY", "svc/ ./"))
    assert runs(steps) == ["pip install -r requirements.txt", "pip install gunicorn"]
    assert ("CMD", '["gunicorn", "--bind", "0.0.0.0:5000", "api:app"]') in steps
    assert found.name == "Dockerfile.svc" and found.notes == []
    assert "**/.venv" in found.ignore and "**/node_modules" in found.ignore


def test_gunicorn_in_requirements_is_not_installed_twice(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"requirements.txt": "flask\ngunicorn==23\n"})
    steps = parsed(build(tmp_path, ["flask", "run"]), tmp_path)
    assert runs(steps) == ["pip install -r requirements.txt"]


def test_uv(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"pyproject.toml": "[project]\nname='x'\n", "uv.lock": "version = 1\n"})
    steps = parsed(build(tmp_path, ["uv", "run", "uvicorn", "main:app"]), tmp_path)
    assert ("COPY", "svc/pyproject.toml svc/uv.lock ./") in steps
    assert runs(steps) == ["pip install uv", "uv sync --frozen --no-dev --no-install-project"]
    assert any(i == "ENV" and "UV_PROJECT_ENVIRONMENT=/usr/local" in v for i, v in steps)


def test_poetry(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"pyproject.toml": "", "poetry.lock": ""})
    steps = parsed(build(tmp_path, ["python", "main.py"]), tmp_path)
    assert ("COPY", "svc/pyproject.toml svc/poetry.lock ./") in steps
    assert runs(steps) == [
        "pip install poetry && poetry config virtualenvs.create false",
        "poetry install --no-root --only main",
    ]


def test_pipenv(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"Pipfile": "", "Pipfile.lock": "{}"})
    steps = parsed(build(tmp_path, ["python", "main.py"]), tmp_path)
    assert runs(steps) == ["pip install pipenv", "pipenv install --system --deploy"]


def test_npm(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"package.json": "{}", "package-lock.json": "{}"})
    steps = parsed(build(tmp_path, ["node", "server.js"]), tmp_path)
    assert ("FROM", "node:22-slim") in steps
    assert ("COPY", "svc/package.json svc/package-lock.json ./") in steps
    assert runs(steps) == ["npm ci"]
    assert ("ENV", "NODE_ENV=production") in steps


def test_pnpm_next(tmp_path: Path) -> None:
    package = {"scripts": {"dev": "next dev"}, "engines": {"node": "^20.11"}}
    make(tmp_path / "svc", {"package.json": json.dumps(package), "pnpm-lock.yaml": ""})
    steps = parsed(build(tmp_path, ["pnpm", "dev"], setup="pnpm install", port=3000), tmp_path)
    assert ("FROM", "node:20-slim") in steps
    assert runs(steps) == [
        "corepack enable pnpm",
        "pnpm install --frozen-lockfile",
        "node_modules/.bin/next build",
    ]
    start = ["node_modules/.bin/next", "start", "-p", "3000", "-H", "0.0.0.0"]
    assert ("CMD", json.dumps(start)) in steps


def test_yarn(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"package.json": "{}", "yarn.lock": ""})
    steps = parsed(build(tmp_path, ["yarn", "start"]), tmp_path)
    assert runs(steps) == ["corepack enable yarn", "yarn install --frozen-lockfile"]


def test_setup_steps_become_build_steps_or_notes(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"pyproject.toml": "", ".python-version": "3.11.9\n"})
    setup = "python3 -m venv .venv && .venv/bin/pip install -e . ; flask db upgrade"
    found = build(tmp_path, ["python3", "main.py"], setup=setup)
    steps = parsed(found, tmp_path)
    assert ("FROM", "python:3.11-slim") in steps
    assert runs(steps) == ["pip install -e ."]  # needs the source: after the COPY
    assert steps.index(("COPY", "svc/ ./")) < steps.index(("RUN", "pip install -e ."))
    assert found.notes == [
        "setup step `flask db upgrade` (services.svc.setup): run it where it can reach what "
        "it needs (a migration: a one-off service or an entrypoint)"
    ]
    assert "# NOT RUN: setup step `flask db upgrade`" in found.text
    assert "# setup `python3 -m venv .venv`: not needed" in found.text


def test_setup_requirements_file_is_installed_first(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"requirements-dev.txt": "", "requirements.txt": ""})
    setup = ".venv/bin/pip install -r requirements-dev.txt"
    steps = parsed(build(tmp_path, ["python3", "app.py"], setup=setup), tmp_path)
    assert ("COPY", "svc/requirements-dev.txt ./") in steps
    assert runs(steps) == ["pip install -r requirements-dev.txt"]


def test_node_build_script_in_setup(tmp_path: Path) -> None:
    make(tmp_path / "svc", {"package.json": "{}", "package-lock.json": "{}"})
    setup = "npm ci && npm run build"
    steps = parsed(build(tmp_path, ["node", "dist/server.js"], setup=setup), tmp_path)
    assert runs(steps) == ["npm ci", "npm run build"]


def test_service_at_the_stack_root(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": ""})
    steps = parsed(build(tmp_path, ["python3", "app.py"], folder="."), tmp_path)
    assert ("WORKDIR", "/app") in steps and ("COPY", "requirements.txt ./") in steps


@pytest.mark.parametrize("argv", [["./bin/server"], ["go", "run", "."], ["redis-server"]])
def test_no_dockerfile_for_other_programs(tmp_path: Path, argv: list[str]) -> None:
    make(tmp_path / "svc", {"requirements.txt": ""})
    assert dockerfile_for("svc", argv, tmp_path / "svc", tmp_path, None, None) is None


def test_no_dockerfile_outside_the_build_context(tmp_path: Path) -> None:
    make(tmp_path / "elsewhere", {"requirements.txt": ""})
    root = tmp_path / "stack"
    root.mkdir()
    argv = ["python3", "app.py"]
    assert dockerfile_for("svc", argv, tmp_path / "elsewhere", root, None, None) is None


@pytest.mark.parametrize(
    ("argv", "expected", "said"),
    [
        (
            ["uv", "run", "--frozen", "celery", "-A", "p", "worker"],
            ["celery", "-A", "p", "worker"],
            "`uv run --frozen` dropped",
        ),
        (["poetry", "run", "python", "main.py"], ["python", "main.py"], "`poetry run` dropped"),
        ([".venv/bin/gunicorn", "app:app"], ["gunicorn", "app:app"], "the image has no virtualenv"),
        (["/home/me/p/venv/bin/python", "m.py"], ["python", "m.py"], "run as `python`"),
        (["python3", "main.py"], ["python3", "main.py"], None),
    ],
)
def test_commands_as_the_image_runs_them(
    argv: list[str], expected: list[str], said: str | None
) -> None:
    command, notes = in_image(argv)
    assert command == expected
    assert (said in notes[0]) if said else notes == []


@pytest.mark.parametrize("line", ["-r base.txt", "-e .", "./libs/shared", "pkg @ file:///x"])
def test_requirements_that_need_the_source_install_after_it(tmp_path: Path, line: str) -> None:
    make(tmp_path / "svc", {"requirements.txt": f"flask\n{line}\n", "base.txt": ""})
    steps = parsed(build(tmp_path, ["python3", "app.py"]), tmp_path)
    assert steps.index(("COPY", "svc/ ./")) < steps.index(
        ("RUN", "pip install -r requirements.txt")
    )
    assert ("COPY", "svc/requirements.txt ./") not in steps


def test_pipenv_with_the_pipfile_above_the_service_and_its_python_version(
    tmp_path: Path,
) -> None:
    # Field trial (moro23/django-postgres-docker): Pipfile at the top, manage.py in app/;
    # the Dockerfile ran `pipenv install --deploy` before copying any Pipfile (nothing to
    # install: the build stops), on python 3.12 where the Pipfile requires 3.11 (--deploy
    # refuses a Python the Pipfile does not name).
    make(tmp_path, {"Pipfile": '[requires]\npython_version = "3.11"\n', "Pipfile.lock": "{}"})
    make(tmp_path / "app", {"manage.py": ""})
    argv = ["pipenv", "run", "python", "manage.py", "runserver", "127.0.0.1:8000"]
    found = build(tmp_path, argv, setup="pipenv install --deploy", folder="app", port=8000)
    steps = parsed(found, tmp_path)
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app/app") in steps
    copy = steps.index(("COPY", "Pipfile Pipfile.lock /app/"))
    assert copy < steps.index(("RUN", "pipenv install --system --deploy"))


def test_the_python_version_from_runtime_txt(tmp_path: Path) -> None:
    # Heroku's runtime.txt (python-3.11.9) names the Python a Procfile app runs on.
    make(tmp_path / "svc", {"requirements.txt": "flask\n", "runtime.txt": "python-3.11.9\n"})
    steps = parsed(build(tmp_path, ["python", "main.py"]), tmp_path)
    assert steps[0] == ("FROM", "python:3.11-slim")


def test_a_shell_line_running_python_gets_the_python_image(tmp_path: Path) -> None:
    # Field trial (thisiskennyb/book_club): a one-shot `migrate` service,
    # `.venv/bin/python manage.py migrate && echo migrated` with shell = true, became a
    # PLACEHOLDER build, and the virtualenv path stayed in the line (not in the image).
    make(tmp_path / "svc", {"requirements.txt": "django\n"})
    argv = ["/bin/sh", "-c", "cd . && .venv/bin/python manage.py migrate && echo migrated"]
    steps = parsed(build(tmp_path, argv, port=None), tmp_path)
    assert steps[0] == ("FROM", "python:3.12-slim")
    assert runs(steps) == ["pip install -r requirements.txt"]
    command, notes = in_image(argv)
    assert command == ["/bin/sh", "-c", "cd . && python manage.py migrate && echo migrated"]
    assert notes == ["`.venv/bin/python` run as `python`: the image has no virtualenv"]
    assert in_image(["/bin/sh", "-c", "echo $HOME"]) == (["/bin/sh", "-c", "echo $HOME"], [])


@pytest.mark.parametrize(
    ("file", "text", "image"),
    [
        (".nvmrc", "v18.17.0\n", "node:18-slim"),
        (".nvmrc", "20\n", "node:20-slim"),
        (".node-version", "18.19.1\n", "node:18-slim"),
        (".nvmrc", "lts/iron\n", "node:20-slim"),
        (".nvmrc", "lts/*\n", "node:22-slim"),  # the newest LTS: the default
    ],
)
def test_the_node_version_from_nvmrc(tmp_path: Path, file: str, text: str, image: str) -> None:
    # The brief's case: a project pinning Node with .nvmrc (nvm, fnm) and no engines.node
    # got node:22, whatever it pins.
    make(tmp_path / "svc", {"package.json": "{}", "package-lock.json": "{}"})
    (tmp_path / file).write_text(text)  # at the top, above the service's folder
    steps = parsed(build(tmp_path, ["node", "server.js"]), tmp_path)
    assert steps[0] == ("FROM", image)


def test_a_pnpm_workspace_app_installs_with_the_workspace_lockfile(tmp_path: Path) -> None:
    # Field trial: apps/web of a pnpm workspace whose root is the stack's directory (the
    # build context): the Dockerfile ran `npm install` without the lockfile (npm does not
    # know pnpm's `workspace:*` dependencies), saying "build from the workspace root",
    # which it already was.
    make(tmp_path, {"package.json": '{"packageManager": "pnpm@9.12.0"}'})
    make(tmp_path, {"pnpm-workspace.yaml": "packages:\n  - apps/*\n", "pnpm-lock.yaml": ""})
    make(tmp_path / "apps" / "web", {"package.json": '{"scripts": {"dev": "next dev"}}'})
    argv = ["pnpm", "dev", "--port", "3000"]
    found = build(tmp_path, argv, "pnpm install --frozen-lockfile", folder="apps/web", port=3000)
    steps = parsed(found, tmp_path)
    assert ("WORKDIR", "/app/apps/web") in steps
    copy = steps.index(("COPY", ". /app/"))
    assert copy < steps.index(("RUN", "pnpm install --frozen-lockfile"))
    assert ("RUN", "corepack enable pnpm") in steps
    assert not [n for n in found.notes if "lockfile" in n]
