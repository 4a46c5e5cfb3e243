"""The proxy check (issue 15, point 8): the frontend's own hard-coded backend address.

The incident's chain: next.config.js rewrote /api to http://127.0.0.1:5328 while the
backend served another port; every API call answered 500 ECONNREFUSED. The configs here
are real ones (tests/fixtures/frontend-proxy/README.md says where from), run through
``devstack check`` as a user would; the listening port is a real socket.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import free_port
from support.stackrun import run_devstack

pytestmark = pytest.mark.timeout(120)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "frontend-proxy"
PACKAGE = {"name": "web", "version": "1.0.0", "scripts": {"dev": "next dev"}}


def frontend(root: Path, fixture: str, port_in_file: int, port: int) -> Path:
    """web/ holding the real config file, its target port replaced by ``port``."""
    web = root / "web"
    web.mkdir(exist_ok=True)
    (web / "package.json").write_text(json.dumps(PACKAGE))
    source = FIXTURES / fixture
    (web / source.name).write_text(source.read_text().replace(str(port_in_file), str(port)))
    return web


def stack(root: Path, backend_port: int, frontend_port: int, extra: str = "") -> None:
    backend = f"{sys.executable} -m http.server ${{port}} --bind 127.0.0.1"
    (root / "stack.toml").write_text(
        textwrap.dedent(f"""\
        [services.backend]
        cmd = "{backend}"
        port = {backend_port}

        [services.web]
        cwd = "web"
        cmd = "pnpm dev --port ${{port}}"
        port = {frontend_port}
        depends_on = ["backend"]
        """)
        + textwrap.dedent(extra)
    )


def proxy_results(root: Path) -> tuple[int, list[dict[str, object]]]:
    ran = run_devstack(root, "check", "--json", timeout=60)
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    payload = json.loads(ran.stdout)
    return ran.returncode, [r for r in payload["services"]["web"] if r["check"] == "proxy"]


def test_a_next_rewrite_to_a_port_no_service_declares_names_the_backend(tmp_path: Path) -> None:
    dead, backend, web = free_port(), free_port(), free_port()
    frontend(tmp_path, "rl-maze/next.config.js", 5328, dead)
    stack(tmp_path, backend, web)
    text = run_devstack(tmp_path, "check", timeout=60)
    assert text.returncode == 0, text.stdout + text.stderr  # a warning, not a failure
    assert (
        f"web      warn  proxy       web/next.config.js:7 rewrites /api/:path* to "
        f"http://127.0.0.1:{dead}/api/:path*: port {dead}, which no service of the stack "
        "declares and nothing listens on"
    ) in text.stdout
    assert f"it most likely means backend (port {backend})" in text.stdout
    fix = (
        'fix: in stack.toml: [services.web] env = { BACKEND_URL = "${services.backend.url}" }; '
        "in web/next.config.js:7: destination: `${process.env.BACKEND_URL}/api/:path*`"
    )
    assert fix in text.stdout

    rc, results = proxy_results(tmp_path)
    (result,) = results
    assert (result["status"], result["kind"]) == ("warn", "frontend-proxy")
    assert (result["file"], result["line"]) == ("web/next.config.js", 7)

    # Something outside the stack listens there: the address may well be meant for it.
    with socket.create_server(("127.0.0.1", dead)):
        rc, results = proxy_results(tmp_path)
    assert rc == 0 and [r["status"] for r in results] == ["ok"], results


def test_a_vite_proxy_on_the_backends_port_is_ok_and_on_another_is_warned(
    tmp_path: Path,
) -> None:
    backend, web = free_port(), free_port()
    frontend(tmp_path, "llm-rag-agent/vite.config.ts", 8000, backend)
    stack(tmp_path, backend, web)
    rc, results = proxy_results(tmp_path)
    assert rc == 0
    assert [(r["status"], r["summary"]) for r in results] == [
        ("ok", "1 proxy target in vite.config.ts, each a service's")
    ]

    moved = free_port()
    stack(tmp_path, moved, web)  # the backend now runs elsewhere; the config did not follow
    rc, results = proxy_results(tmp_path)
    (result,) = results
    assert result["status"] == "warn" and result["line"] == 10
    assert str(result["summary"]).startswith(
        f"web/vite.config.ts:10 proxies /api to http://127.0.0.1:{backend}: port {backend}"
    )
    assert f"it most likely means backend (port {moved})" in result["details"]
    assert str(result["fix"]).endswith("in web/vite.config.ts:10: target: process.env.BACKEND_URL")


def test_a_proxy_to_the_frontends_own_port_would_call_itself(tmp_path: Path) -> None:
    backend, web = free_port(), free_port()
    frontend(tmp_path, "llm-rag-agent/vite.config.ts", 8000, web)
    stack(tmp_path, backend, web)
    rc, results = proxy_results(tmp_path)
    (result,) = results
    assert rc == 0
    assert f"port {web}, web's own port: the proxy would call itself" in str(result["summary"])
    assert f"it most likely means backend (port {backend})" in result["details"]


def test_a_fallback_the_stack_replaces_is_not_judged(tmp_path: Path) -> None:
    dead, backend, web = free_port(), free_port(), free_port()
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    (web_dir / "package.json").write_text(json.dumps(PACKAGE))
    (web_dir / "next.config.mjs").write_text(
        "export default {\n  async rewrites() {\n    return [{ source: '/api/:path*',\n"
        "      destination: "
        f"`${{process.env.API_URL || 'http://localhost:{dead}'}}/api/:path*` }}];\n"
        "  },\n};\n"
    )
    stack(tmp_path, backend, web)
    rc, results = proxy_results(tmp_path)
    (result,) = results
    assert result["status"] == "warn" and result["line"] == 4
    assert 'env = { API_URL = "${services.backend.url}" }' in str(result["fix"])

    # Set in the env files Next.js reads before next.config: the fallback is not used.
    (web_dir / ".env.local").write_text(f"API_URL=http://127.0.0.1:{backend}\n")
    rc, results = proxy_results(tmp_path)
    assert results == []
    (web_dir / ".env.local").unlink()
    # Set by the stack: same.
    stack(tmp_path, backend, web, 'env = { API_URL = "${services.backend.url}" }\n')
    rc, results = proxy_results(tmp_path)
    assert rc == 0 and results == []


def test_check_proxy_false_switches_it_off(tmp_path: Path) -> None:
    dead, backend, web = free_port(), free_port(), free_port()
    frontend(tmp_path, "rl-maze/next.config.js", 5328, dead)
    stack(tmp_path, backend, web, "check.proxy = false\n")
    rc, results = proxy_results(tmp_path)
    assert rc == 0 and results == []


def test_a_proxy_to_another_http_service_than_the_one_depended_on(tmp_path: Path) -> None:
    backend, admin, web = free_port(), free_port(), free_port()
    frontend(tmp_path, "llm-rag-agent/vite.config.ts", 8000, admin)
    admin_cmd = f"{sys.executable} -m http.server ${{port}} --bind 127.0.0.1"
    stack(tmp_path, backend, web, f'\n[services.admin]\ncmd = "{admin_cmd}"\nport = {admin}\n')
    rc, results = proxy_results(tmp_path)
    assert rc == 0
    (result,) = results
    assert f"port {admin}, which is admin's, though web depends on backend, not admin" in str(
        result["summary"]
    )
    assert f"it most likely means backend (port {backend})" in result["details"]


def test_an_env_file_url_on_a_database_port_is_the_wrong_service(tmp_path: Path) -> None:
    backend, db, web = free_port(), free_port(), free_port()
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    (web_dir / "package.json").write_text(json.dumps(PACKAGE))
    (web_dir / ".env").write_text("NEXTAUTH_URL=http://localhost:3000\n")
    (web_dir / ".env.local").write_text(f"# local\nNEXT_PUBLIC_API_URL=http://localhost:{db}/api\n")
    db_service = f'\n[services.db]\ncmd = "postgres -p ${{port}}"\nport = {db}\n'
    stack(tmp_path, backend, web, db_service)
    _rc, results = proxy_results(tmp_path)  # postgres may not be installed: rc 0 or 1
    (result,) = results
    assert result["summary"] == (
        f"web/.env.local:2 sets NEXT_PUBLIC_API_URL to http://localhost:{db}/api: port {db}, "
        "which is db's, and db speaks postgres, not http"
    )
    assert (result["file"], result["line"], result["kind"]) == (
        "web/.env.local",
        2,
        "frontend-proxy",
    )
    assert result["fix"] == (
        "in stack.toml: [services.web] env = "
        '{ NEXT_PUBLIC_API_URL = "${services.backend.url}/api" } '
        "(it wins over web/.env.local:2), or correct that line"
    )


def test_a_port_variable_with_a_fallback_gets_that_variable_set(tmp_path: Path) -> None:
    """Field trial: `${process.env.FLASK_PORT || 5329}` got "add a BACKEND_URL variable",
    where setting the FLASK_PORT the config already reads is the whole fix."""
    backend, web, dead = free_port(), free_port(), free_port()
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "package.json").write_text(json.dumps(PACKAGE))
    (folder / "next.config.js").write_text(
        "module.exports = {\n"
        "  rewrites: async () => [\n"
        "    { source: '/api/:path*',\n"
        "      destination: `http://127.0.0.1:${process.env.FLASK_PORT || "
        + str(dead)
        + "}/api/:path*` },\n"
        "  ],\n"
        "};\n"
    )
    stack(tmp_path, backend, web)
    _rc, results = proxy_results(tmp_path)
    (result,) = results
    assert result["status"] == "warn", result
    assert result["fix"] == (
        'in stack.toml: [services.web] env = { FLASK_PORT = "${services.backend.port}" } '
        "(web/next.config.js:4 reads process.env.FLASK_PORT)"
    ), result
