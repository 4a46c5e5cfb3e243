"""Issue 13 point 3: the env check's rules, with real sockets (a free port is checked
free): a warning, never a block; a suggestion names only a service that speaks the URL's
scheme, keeps the path and names the file; localhost vs ::1 for Node clients only, once;
and the per-service opt-outs (check.env, check.env_ignore, check.import, check.port,
check.executable, check.syntax)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from conftest import free_port
from devstack.checks.checkresult import CheckResult
from devstack.checks.runner import check_service, check_stack
from devstack.config import load_stack
from devstack.procs import portowners as ports
from devstack.spec import StackSpec
from support.stackrun import listener_on


def load(root: Path, toml: str) -> StackSpec:
    (root / "stack.toml").write_text(toml)
    return load_stack(root / "stack.toml", root)


def checks_of(stack: StackSpec, name: str) -> list[CheckResult]:
    return asyncio.run(check_service(stack.services[name], stack))


def of(results: list[CheckResult], check: str) -> list[CheckResult]:
    return [r for r in results if r.check == check]


def free_near(port: int) -> int:
    """A free port just above ``port`` (the nearest to it, for the old distance-only guess)."""
    for candidate in range(port + 1, port + 50):
        if ports.is_port_free(candidate, "127.0.0.1"):
            return candidate
    raise AssertionError("no free port near")


def three_services(root: Path, worker_env: str) -> tuple[StackSpec, int, int]:
    """redis, web (http) and a worker whose env is ``worker_env``: (stack, web, redis)."""
    web, redis = free_port(), free_port()
    stack = load(
        root,
        f'[services.redis]\ncmd = "redis-server --port ${{port}}"\nport = {redis}\n\n'
        f'[services.web]\ncmd = "python -m http.server ${{port}}"\nport = {web}\n\n'
        f'[services.worker]\ncmd = "python -c pass"\nenv = {{ {worker_env} }}\n',
    )
    return stack, web, redis


def test_http_url_names_the_http_service_with_its_path_never_redis(tmp_path: Path) -> None:
    redis = free_port()
    nowhere = free_near(redis)  # closest to redis's port: the old guess named redis
    web = free_port()
    stack = load(
        tmp_path,
        f'[services.redis]\ncmd = "redis-server --port ${{port}}"\nport = {redis}\n\n'
        f'[services.web]\ncmd = "python -m http.server ${{port}}"\nport = {web}\n\n'
        '[services.worker]\ncmd = "python -c pass"\n'
        f'env = {{ OKTA_REDIRECT_URI = "http://localhost:{nowhere}/auth/okta/callback?x=1" }}\n',
    )
    [env] = of(checks_of(stack, "worker"), "env")
    assert env.status == "warn"
    assert env.details[0] == f"it most likely means web (port {web})"
    assert env.fix == (
        "in stack.toml: [services.worker] env = { OKTA_REDIRECT_URI = "
        '"${services.web.url}/auth/okta/callback?x=1" }'
    )


def test_redis_url_names_the_redis_service_keeping_host_and_db(tmp_path: Path) -> None:
    web = free_port()
    nowhere = free_near(web)  # closest to web's port: only redis speaks redis://
    stack, _, redis = three_services(tmp_path, f'REDIS_URL = "redis://localhost:{nowhere}/0"')
    [env] = of(checks_of(stack, "worker"), "env")
    assert env.details[0] == f"it most likely means redis (port {redis})"
    assert env.fix == (
        'in stack.toml: [services.worker] env = { REDIS_URL = "redis://localhost:'
        '${services.redis.port}/0" }'
    )


def test_a_scheme_no_service_speaks_names_none(tmp_path: Path) -> None:
    nowhere = free_port()
    stack, _, _ = three_services(
        tmp_path, f'DATABASE_URL = "postgresql+psycopg://u:p@localhost:{nowhere}/app"'
    )
    [env] = of(checks_of(stack, "worker"), "env")
    assert env.status == "warn"
    assert env.fix is None
    assert env.details[0] == "no service of the stack is known to serve postgresql+psycopg://"
    assert not any("most likely" in d for d in env.details)


def test_a_value_from_an_env_file_is_fixed_in_that_file(tmp_path: Path) -> None:
    web, nowhere = free_port(), free_port()
    (tmp_path / ".env").write_text(
        f"# shared\nCALLBACK=http://localhost:{nowhere}/cb\nOTHER=http://localhost:{nowhere}/x\n"
    )
    stack = load(
        tmp_path,
        '[stack]\nenv_file = ".env"\n\n'
        f'[services.web]\ncmd = "python -m http.server ${{port}}"\nport = {web}\n\n'
        '[services.worker]\ncmd = "python -c pass"\n'
        f'env = {{ OTHER = "http://localhost:{nowhere}/y" }}\n',
    )
    env = of(checks_of(stack, "worker"), "env")
    by_var = {r.summary.split("=", 1)[0]: r for r in env}
    assert by_var["CALLBACK"].summary.startswith(
        f"CALLBACK=http://localhost:{nowhere}/cb (.env:2) points at port"
    )
    assert by_var["CALLBACK"].fix == f"in .env:2: CALLBACK=http://localhost:{web}/cb"
    # OTHER is stack.toml's (it wins over .env's line): fixed there, with a reference.
    assert "(.env" not in by_var["OTHER"].summary
    assert by_var["OTHER"].fix == (
        'in stack.toml: [services.worker] env = { OTHER = "${services.web.url}/y" }'
    )


def test_localhost_warning_only_for_node_and_once_per_shared_line(tmp_path: Path) -> None:
    backend = free_port()
    (tmp_path / ".env").write_text(f"API_URL=http://localhost:{backend}/api\n")
    stack = load(
        tmp_path,
        '[stack]\nenv_file = ".env"\n\n'
        f'[services.backend]\ncmd = "python -m http.server ${{port}} --bind 127.0.0.1"\n'
        f"port = {backend}\n\n"
        '[services.worker]\ncmd = "python -c pass"\n\n'
        '[services.beat]\ncmd = "celery -A app beat"\n\n'
        '[services.frontend]\ncmd = "pnpm dev"\n\n'
        '[services.admin]\ncmd = "cd admin && exec npx vite"\nshell = true\n',
    )
    results = asyncio.run(check_stack(stack))
    warned = {name: of(rs, "localhost") for name, rs in results.items()}
    assert [name for name, ws in warned.items() if ws] == ["frontend"]
    [warn] = warned["frontend"]
    assert warn.summary == (
        f"API_URL=http://localhost:{backend}/api (.env:1) uses localhost, but backend binds "
        "only 127.0.0.1; localhost resolves to ::1 first (Node 17+)"
    )
    assert warn.details[-1] == "also in the env of admin"
    assert warn.fix == f"in .env:1: API_URL=http://127.0.0.1:{backend}/api"


def test_check_env_false_and_env_ignore(tmp_path: Path) -> None:
    nowhere = free_port()
    urls = f'A = "http://localhost:{nowhere}/a", B = "http://localhost:{nowhere}/b"'
    stack = load(
        tmp_path,
        f'[services.off]\ncmd = "python -c pass"\nenv = {{ {urls} }}\ncheck.env = false\n\n'
        f'[services.some]\ncmd = "python -c pass"\nenv = {{ {urls} }}\n'
        'check.env_ignore = ["A"]\n',
    )
    assert of(checks_of(stack, "off"), "env") == []
    assert [r.summary.split("=")[0] for r in of(checks_of(stack, "some"), "env")] == ["B"]


def test_check_import_false(tmp_path: Path) -> None:
    (tmp_path / "api.py").write_text("raise RuntimeError('not importable')\n")
    stack = load(
        tmp_path,
        '[services.on]\ncmd = "python -m uvicorn api:app"\n\n'
        '[services.off]\ncmd = "python -m uvicorn api:app"\ncheck.import = false\n',
    )
    assert of(checks_of(stack, "on"), "import")  # the check runs (and fails) by default
    assert of(checks_of(stack, "off"), "import") == []


def test_check_port_executable_and_syntax_false(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "broken.py").write_text("def (:\n")
    stack = load(
        tmp_path,
        f'[services.held]\ncmd = "python -m http.server ${{port}}"\nport = {port}\n'
        "check.port = false\n\n"
        '[services.missing]\ncmd = "no-such-program-xyz"\ncheck.executable = false\n\n'
        '[services.broken]\ncmd = "python broken.py"\ncheck.syntax = false\n',
    )
    holder: subprocess.Popen[bytes]
    with listener_on(port) as holder:
        assert holder.poll() is None
        assert of(checks_of(stack, "held"), "port") == []
    assert of(checks_of(stack, "missing"), "executable") == []
    assert of(checks_of(stack, "broken"), "syntax") == []
    assert not any(r.failed for name in stack.services for r in checks_of(stack, name))
