"""Watch mode's pure rules: globs and ignores, the changed-files line, Python services,
self-reloading commands and their config warning."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from devstack.runtime.watch import watched_specs
from devstack.runtime.watchrules import (
    WatchRules,
    config_warnings,
    failure_key,
    glob_match,
    is_python_service,
    self_reloading,
    summarize,
)
from devstack.spec import ServiceSpec, StackSpec

ROOT = Path("/proj/backend")


def spec(cmd: str, **kw: object) -> ServiceSpec:
    return ServiceSpec(
        name="svc",
        cmd=cmd,
        argv=tuple(shlex.split(cmd)),
        cwd=ROOT,
        env={},
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("pattern", "rel", "hit"),
    [
        ("**/*.py", "app.py", True),
        ("**/*.py", "pkg/sub/mod.py", True),
        ("**/*.py", "pkg/mod.pyc", False),
        ("*.py", "pkg/sub/mod.py", True),  # no slash: the name at any depth
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/pkg/app.py", False),  # * stays inside one name
        ("src/**", "src/pkg/app.py", True),
        ("./templates/*.html", "templates/a.html", True),
        ("conf/[ab].toml", "conf/b.toml", True),
        ("conf/[!ab].toml", "conf/b.toml", False),
        ("?.txt", "x.txt", True),
    ],
)
def test_glob_match(pattern: str, rel: str, hit: bool) -> None:
    assert glob_match(pattern, rel) is hit


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/proj/backend/app.py", True),
        ("/proj/backend/pkg/models.py", True),
        ("/proj/backend/.venv/lib/site.py", False),
        ("/proj/backend/venv/lib/site.py", False),
        ("/proj/backend/node_modules/x/index.py", False),
        ("/proj/backend/pkg/__pycache__/models.py", False),
        ("/proj/backend/.git/hooks/pre-commit.py", False),
        ("/proj/backend/.devstack/logs/web.py", False),
        ("/proj/backend/.next/server.py", False),
        ("/proj/backend/app.py.swp", False),
        ("/proj/backend/.app.py.swx", False),
        ("/proj/backend/app.py~", False),
        ("/proj/backend/.#app.py", False),
        ("/proj/backend/4913", False),
        ("/proj/backend/generated/out.py", False),  # watch_ignore
        ("/proj/backend/notes.txt", False),  # not watched
        ("/proj/other/app.py", False),  # outside the cwd
        ("/proj/backend", False),
    ],
)
def test_rules_watch_globs_minus_default_and_own_ignores(path: str, wanted: bool) -> None:
    rules = WatchRules(ROOT, ["**/*.py", "**/*.swp", "**/*~", "4913"], ["generated"])
    assert rules.wants(path) is wanted
    assert rules(object(), path) is wanted  # as watchfiles' watch_filter


def test_ignored_log_files_even_when_watched() -> None:
    rules = WatchRules(ROOT, ["**/*"])
    assert not rules.wants("/proj/backend/server.log")
    assert not rules.wants("/proj/backend/x.tmp")
    assert rules.wants("/proj/backend/settings.toml")


def test_summary_names_the_first_few_then_a_count() -> None:
    assert summarize(["/proj/backend/app.py"], ROOT) == "app.py"
    paths = [f"/proj/backend/m{i}.py" for i in range(7)] + ["/proj/backend/m0.py"]
    assert summarize(paths, ROOT) == "m0.py, m1.py, m2.py and 4 more"
    assert summarize(["/proj/backend/a.py", "/proj/backend/pkg/b.py"], ROOT) == "a.py, pkg/b.py"


@pytest.mark.parametrize(
    ("cmd", "python"),
    [
        ("python app.py", True),
        ("python3.12 -m flask run", True),
        (".venv/bin/python manage.py runserver", True),
        ("gunicorn -b 127.0.0.1:5000 app:app", True),
        ("uvicorn main:app", True),
        ("/opt/venv/bin/hypercorn main:app", True),
        ("some-launcher mypkg.wsgi:application", True),
        ("node server.js", False),
        ("pnpm dev", False),
        ("redis-server --port 6379", False),
    ],
)
def test_python_service(cmd: str, python: bool) -> None:
    assert is_python_service(spec(cmd)) is python


def test_python_service_through_a_shell() -> None:
    s = dataclasses.replace(spec("x"), cmd="exec gunicorn app:app", shell=True)
    s = dataclasses.replace(s, argv=("/bin/sh", "-c", s.cmd))
    assert is_python_service(s)


@pytest.mark.parametrize(
    ("cmd", "tool"),
    [
        ("next dev -p 3000", "next dev"),
        ("node_modules/.bin/next dev", "next dev"),
        ("next start", None),
        ("pnpm dev", "pnpm dev"),
        ("npm run dev", "npm run dev"),
        ("pnpm start", None),
        ("vite", "vite"),
        ("vite --port 5173", "vite"),
        ("vite build", None),
        ("flask run --debug", "flask run --debug"),
        ("flask --app app run --reload", "flask run --reload"),
        ("flask run", None),
        ("uvicorn main:app --reload", "uvicorn --reload"),
        ("uvicorn main:app", None),
        ("gunicorn --reload app:app", "gunicorn --reload"),
        ("gunicorn app:app", None),
        ("python manage.py runserver", "manage.py runserver"),
        ("python manage.py runserver --noreload", None),
        ("nodemon server.js", "nodemon"),
    ],
)
def test_self_reloading(cmd: str, tool: str | None) -> None:
    assert self_reloading(spec(cmd)) == tool


def _stack(*specs: ServiceSpec) -> StackSpec:
    return StackSpec("s", ROOT, ROOT / "stack.toml", {s.name: s for s in specs})


def test_config_warning_for_watch_on_a_self_reloading_command_unless_forced() -> None:
    web = dataclasses.replace(spec("uvicorn main:app --reload"), name="web", watch=("**/*.py",))
    [line] = config_warnings(_stack(web))
    assert "stack.toml: services.web.watch" in line
    assert "'uvicorn --reload' reloads by itself" in line
    assert "watch_force = true" in line
    assert config_warnings(_stack(dataclasses.replace(web, watch_force=True))) == []
    assert config_warnings(_stack(dataclasses.replace(web, watch=()))) == []


def test_up_watch_adds_the_default_to_python_services_only() -> None:
    api = dataclasses.replace(spec("gunicorn app:app"), name="api")
    dev = dataclasses.replace(spec("uvicorn main:app --reload"), name="dev")
    ui = dataclasses.replace(spec("node server.js"), name="ui")
    own = dataclasses.replace(spec("node server.js"), name="own", watch=("src/**",))
    specs = {s.name: s for s in (api, dev, ui, own)}
    assert list(watched_specs(specs, default_python=False)) == ["own"]
    chosen = watched_specs(specs, default_python=True)
    assert list(chosen) == ["api", "own"]
    assert chosen["api"].watch == ("**/*.py",)
    assert chosen["own"].watch == ("src/**",)


def test_failure_key_ignores_the_quoted_line_but_not_the_error() -> None:
    def message(error: str, source: str) -> str:
        return (
            "checks failed; the running process is kept\n[import] server.py could not be "
            f"imported\n  {error}\n  at helper.py:1: {source}\n  server.py was found"
        )

    same = message("ModuleNotFoundError: No module named 'x'", "import x")
    again = message("ModuleNotFoundError: No module named 'x'", "import x  # still")
    other = message("ModuleNotFoundError: No module named 'y'", "import y")
    assert failure_key(same) == failure_key(again)
    assert failure_key(same) != failure_key(other)


@pytest.mark.parametrize(
    "state_dir",
    [ROOT / ".devstack", ROOT / "var" / "state", Path("/proj/.devstack"), None],
)
def test_state_folder_never_watched_even_by_everything(state_dir: Path | None) -> None:
    """devstack's own logs, state.json and socket are no edit, wherever state_dir put them."""
    rules = WatchRules(ROOT, ["**/*"], state_dir=state_dir)
    own = state_dir or ROOT / ".devstack"
    for name in (
        "state.json",
        "logs/chatty.log",
        "logs/chatty.log.1",
        "devstack.sock",
        ".gitignore",
    ):
        assert not rules.wants(f"{own}/{name}"), name
    assert rules.wants(f"{ROOT}/var/other.json")
    assert rules.wants(f"{ROOT}/app.py")
