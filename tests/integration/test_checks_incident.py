"""The incident, reproduced with real flask, gunicorn and uvicorn in a test virtualenv.

`uvicorn main:app` where main.py is an argparse CLI whose import of `log_to_ndjson`
fails, while the web app is the Flask `app` in api.py. Each check is asserted
word for word: these messages are the product.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service, check_stack
from devstack.config import load_stack
from devstack.spec import StackSpec

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
# Building the venv once (pip) may take longer than one test's default limit.
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def backend(tmp_path: Path, web_venv: Path) -> Path:
    """The incident's backend directory, with its .venv."""
    directory = tmp_path / "backend"
    shutil.copytree(FIXTURES / "incident", directory)
    for name in ("asgi_app.py", "asgi_class.py", "not_callable.py", "factory_app.py"):
        shutil.copy(FIXTURES / "apps" / name, directory / name)
    (directory / ".venv").symlink_to(web_venv)
    return directory


def stack_of(root: Path, cmd: str, port: int = 5000, extra: str = "") -> StackSpec:
    (root / "stack.toml").write_text(
        f'[services.backend]\ncmd = "{cmd}"\ncwd = "backend"\nport = {port}\n{extra}'
    )
    return load_stack(root / "stack.toml", root)


def run_check(root: Path, cmd: str, extra: str = "") -> dict[str, CheckResult]:
    stack = stack_of(root, cmd, extra=extra)
    results = asyncio.run(check_service(stack.services["backend"], stack, skip=("port",)))
    return {r.check: r for r in results}


def test_uvicorn_main_app_explains_the_cli_and_names_the_flask_app(
    tmp_path: Path, backend: Path
) -> None:
    results = run_check(tmp_path, "uvicorn main:app")
    assert results["executable"].summary == "uvicorn found (.venv/bin/uvicorn)"
    imp = results["import"]
    assert imp.status == "fail"
    assert imp.summary == "main.py could not be imported"
    assert imp.details == (
        "ImportError: cannot import name 'log_to_ndjson' from 'converter' (converter.py)",
        "at main.py:5: from converter import convert_input, log_to_ndjson",
        "main.py was found, but something it imports is missing",
        "main.py is a command-line program (argparse and a __main__ block, no app object), "
        "not a web app",
        "Web apps found here: api:app (Flask, WSGI), asgi_app:app (ASGI callable), "
        "factory_app:create_app() (Flask factory, WSGI) "
        "-> try: gunicorn api:app --bind 127.0.0.1:5000",
    )
    assert imp.fix == "gunicorn api:app --bind 127.0.0.1:5000"


def test_gunicorn_main_app(tmp_path: Path, backend: Path) -> None:
    results = run_check(tmp_path, "gunicorn main:app --bind 127.0.0.1:${port} --workers 2")
    imp = results["import"]
    assert imp.summary == "main.py could not be imported"
    assert imp.details[0] == (
        "ImportError: cannot import name 'log_to_ndjson' from 'converter' (converter.py)"
    )
    assert imp.details[1] == "at main.py:5: from converter import convert_input, log_to_ndjson"
    assert imp.fix == "gunicorn api:app --bind 127.0.0.1:5000 --workers 2"


def test_gunicorn_api_application_lists_app(tmp_path: Path, backend: Path) -> None:
    imp = run_check(tmp_path, "gunicorn api:application --bind 127.0.0.1:${port}")["import"]
    assert imp.status == "fail"
    assert imp.summary == "api.py has no attribute 'application'"
    assert imp.details == (
        "it defines: app (Flask, WSGI), create_context, health",
        "try: gunicorn api:app --bind 127.0.0.1:5000",
    )
    assert imp.fix == "gunicorn api:app --bind 127.0.0.1:5000"


def test_uvicorn_api_app_is_wsgi_under_an_asgi_server(tmp_path: Path, backend: Path) -> None:
    imp = run_check(tmp_path, "uvicorn api:app --port ${port}")["import"]
    assert imp.status == "fail"
    assert imp.summary == "api:app is a WSGI app (Flask), but uvicorn serves ASGI apps"
    assert imp.fix == "gunicorn api:app --bind 127.0.0.1:5000"
    assert "(or add --interface wsgi, which uvicorn supports for WSGI apps)" in imp.details


def test_uvicorn_interface_wsgi_is_accepted(tmp_path: Path, backend: Path) -> None:
    imp = run_check(tmp_path, "uvicorn api:app --interface wsgi --port ${port}")["import"]
    assert (imp.status, imp.summary) == ("ok", "api:app imports; WSGI app (Flask)")


@pytest.mark.parametrize(
    ("module", "framework"), [("asgi_app", "ASGI callable"), ("asgi_class", "Router")]
)
def test_asgi_app_under_plain_gunicorn(
    tmp_path: Path, backend: Path, module: str, framework: str
) -> None:
    imp = run_check(tmp_path, f"gunicorn {module}:app --bind 127.0.0.1:${{port}}")["import"]
    assert imp.status == "fail"
    assert imp.summary == (
        f"{module}:app is an ASGI app ({framework}), "
        "but gunicorn without an ASGI worker class serves WSGI apps"
    )
    assert imp.fix == (
        f"gunicorn {module}:app --bind 127.0.0.1:5000 -k uvicorn.workers.UvicornWorker"
    )


def test_asgi_app_under_gunicorn_with_uvicorn_worker(tmp_path: Path, backend: Path) -> None:
    imp = run_check(
        tmp_path, "gunicorn asgi_app:app -k uvicorn.workers.UvicornWorker -b 127.0.0.1:${port}"
    )["import"]
    assert (imp.status, imp.summary) == ("ok", "asgi_app:app imports; ASGI app (ASGI callable)")


def test_flask_app_api_run(tmp_path: Path, backend: Path) -> None:
    results = run_check(tmp_path, "flask --app api run --port ${port}")
    assert results["executable"].summary == "flask found (.venv/bin/flask)"
    assert (results["import"].status, results["import"].summary) == (
        "ok",
        "api:app imports; WSGI app (Flask)",
    )


def test_not_callable_and_check_import(tmp_path: Path, backend: Path) -> None:
    imp = run_check(tmp_path, "gunicorn not_callable:app --bind 127.0.0.1:${port}")["import"]
    assert (imp.status, imp.summary) == ("fail", "not_callable:app is not a callable app (dict)")
    imp = run_check(tmp_path, "python -c pass", extra='check.import = "main:app"\n')["import"]
    assert imp.summary == "main.py could not be imported"
    assert imp.fix == "check.import = 'api:app'"


def test_module_not_found_is_told_apart(tmp_path: Path, backend: Path) -> None:
    imp = run_check(tmp_path, "uvicorn mian:app --port ${port}")["import"]
    assert imp.summary == "module 'mian' not found (looked in .)"
    assert imp.details[0] == "ModuleNotFoundError: No module named 'mian'"
    (backend / "needs_dep.py").write_text("import not_installed_pkg\napp = None\n")
    imp = run_check(tmp_path, "uvicorn needs_dep:app --port ${port}")["import"]
    assert imp.summary == "needs_dep.py could not be imported"
    assert imp.details[:3] == (
        "ModuleNotFoundError: No module named 'not_installed_pkg'",
        "at needs_dep.py:1: import not_installed_pkg",
        "needs_dep.py was found, but something it imports is missing",
    )


def test_the_check_never_imports_other_files(
    tmp_path: Path, backend: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(FIXTURES / "apps" / "side_effect.py", backend / "side_effect.py")
    marker = tmp_path / "imported.marker"
    monkeypatch.setenv("SIDE_EFFECT_MARKER", str(marker))
    imp = run_check(tmp_path, "uvicorn main:app --port ${port}")["import"]
    assert "side_effect:app (Flask, WSGI)" in imp.details[-1]
    assert not marker.exists()


def test_the_fix_passes(tmp_path: Path, backend: Path) -> None:
    stack = stack_of(tmp_path, "gunicorn api:app --bind 127.0.0.1:${port}")
    results = asyncio.run(check_stack(stack))["backend"]
    assert [r.status for r in results] == ["ok"] * len(results)
    assert [r.check for r in results] == ["executable", "import", "port", "env"]


def test_devstack_check_command(tmp_path: Path, backend: Path) -> None:
    (tmp_path / "stack.toml").write_text(
        '[services.backend]\ncmd = "uvicorn main:app --port ${port}"\ncwd = "backend"\n'
        "port = 5000\n\n"
        '[services.frontend]\ncmd = "python -m http.server ${port}"\nport = 3000\n'
        'depends_on = { backend = "healthy" }\n'
        'env = { API_BASE = "${services.backend.url}" }\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-m", "devstack", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert "backend   fail  import      main.py could not be imported" in lines
    assert any("-> try: gunicorn api:app --bind 127.0.0.1:5000" in ln for ln in lines)
    assert any(ln.startswith("frontend  ok    executable  python found") for ln in lines)
    run = subprocess.run(
        [sys.executable, "-m", "devstack", "check", "backend", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    payload = json.loads(run.stdout)
    assert payload["ok"] is False and list(payload["services"]) == ["backend"]
    checks = {c["check"]: c for c in payload["services"]["backend"]}
    assert checks["import"]["fix"] == "gunicorn api:app --bind 127.0.0.1:5000"


@pytest.mark.parametrize(
    "cmd",
    [
        "flask --app factory_app run --port ${port}",
        # TOML \" -> shell-quoted target, as a user would write it.
        "gunicorn \\\"factory_app:create_app('dev')\\\" --bind 127.0.0.1:${port}",
        "uvicorn --factory factory_app:create_app --interface wsgi --port ${port}",
    ],
)
def test_factories(tmp_path: Path, backend: Path, cmd: str) -> None:
    imp = run_check(tmp_path, cmd)["import"]
    assert imp.status == "ok", imp
    assert imp.summary.endswith("imports; WSGI app (Flask)")


def _incident_stack(root: Path, backend_cmd: str) -> int:
    from conftest import free_port

    port = free_port()
    (root / "stack.toml").write_text(
        f"""
[services.backend]
cmd = "{backend_cmd}"
cwd = "backend"
port = {port}
health.http = "/api/health"

[services.frontend]
cmd = "sleep 30"
depends_on = {{ backend = "healthy" }}
env = {{ BOTEXCEL_API_BASE = "${{services.backend.url}}" }}
"""
    )
    return port


def test_up_with_the_incident_blocks_backend_and_explains_why_frontend_waits(
    tmp_path: Path, backend: Path
) -> None:
    """The incident through `devstack up`: nothing listens, the cause chain is printed."""
    from support.stackrun import RunningStack

    port = _incident_stack(tmp_path, "uvicorn main:app --port ${port}")
    with RunningStack(tmp_path) as stack:
        assert stack.wait(timeout=60) == 1
    out = stack.output()
    assert "backend   * [check failed] main.py could not be imported" in out
    assert "ImportError: cannot import name 'log_to_ndjson' from 'converter'" in out
    assert f"try: gunicorn api:app --bind 127.0.0.1:{port}" in out
    assert (
        "frontend  * [not started] depends on backend (healthy), which is blocked: "
        "failed its checks: main.py could not be imported"
    ) in out
    assert "[start]" not in out


def test_up_with_the_fix_brings_both_up(tmp_path: Path, backend: Path) -> None:
    import signal

    from support.stackrun import RunningStack

    _incident_stack(tmp_path, "gunicorn api:app --bind 127.0.0.1:${port} --workers 2")
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^backend\s+\* \[healthy\] GET .*/api/health -> 200", timeout=60)
        stack.wait_for(r"^frontend\s+\* \[start\]", timeout=30)
        workers = stack.descendants()
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    assert not [p for p in workers if p.is_running() and p.status() != "zombie"]
