"""Wiring that survives the move (issue 18 point 1): loopback URLs rewritten for the
target, browser-facing ones flagged and kept, a proxy config named with its file:line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devstack.export.compose import compose_target, export_compose, to_compose
from devstack.export.source import load_source
from devstack.export.wiring import Target, Wiring, is_browser_facing, wire
from support.exportstacks import flask_celery_redis, next_flask, write

REPO = Path(__file__).parents[3]
SCHEMA = json.loads((REPO / "tests" / "data" / "compose-spec.json").read_text())
ENVIRON = {"PATH": "/usr/bin:/bin"}


def compose(file: Path) -> tuple[str, Any]:
    text = to_compose(load_source(file, ENVIRON), file.parent)
    data = yaml.safe_load(text)
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    return text, data


def wiring_of(file: Path, target: Target | None = None) -> Wiring:
    source = load_source(file, ENVIRON)
    return wire(source, target or compose_target(source))


def by_kind(wiring: Wiring, kind: str) -> list[Any]:
    return [f for f in wiring.findings if f.kind == kind]


def test_hard_coded_redis_url_is_rewritten_to_the_compose_name(tmp_path: Path) -> None:
    # The issue: `REDIS_URL: "redis://127.0.0.1:6390/0"` was kept, and a container's
    # 127.0.0.1 is itself. The redis service declares 6390: its command listens there
    # in its container too, so that is the port compose reaches it on.
    text, data = compose(flask_celery_redis(tmp_path))
    web = data["services"]["web"]["environment"]
    assert web["REDIS_URL"] == "redis://redis:6390/0"
    # user:password@ and a SQLAlchemy driver scheme kept.
    assert web["DATABASE_URL"] == "postgresql+psycopg://app:secret@db:5433/app"
    assert "# was redis://127.0.0.1:6390/0 (stack.toml): rewritten for compose" in text
    assert "127.0.0.1:6390" not in json.dumps(data["services"]["web"]["environment"])


def test_an_env_file_value_becomes_an_environment_override(tmp_path: Path) -> None:
    file = flask_celery_redis(tmp_path)
    before = (tmp_path / "worker.env").read_text()
    text, data = compose(file)
    worker = data["services"]["worker"]
    assert worker["env_file"] == ["worker.env"]
    assert worker["environment"]["REDIS_URL"] == "redis://redis:6390/0"
    assert "# was redis://localhost:6390/0 (worker.env:1): rewritten for compose" in text
    assert (tmp_path / "worker.env").read_text() == before  # the user's file is not edited
    assert "3 hard-coded loopback URLs" in text  # the header's summary


def test_rewrites_follow_the_targets_addressing(tmp_path: Path) -> None:
    # The seam Kubernetes will use: a Service DNS name, and an image's own port.
    source = load_source(flask_celery_redis(tmp_path), ENVIRON)

    def address(name: str) -> tuple[str, int | None]:
        port = 6379 if name == "redis" else source.stack.services[name].port
        return f"{name}.shop.svc.cluster.local", port

    wiring = wire(source, Target("kubernetes", address))
    assert wiring.services["web"].env["REDIS_URL"] == (
        "redis://redis.shop.svc.cluster.local:6379/0"
    )
    assert wiring.services["worker"].env["REDIS_URL"] == (
        "redis://redis.shop.svc.cluster.local:6379/0"
    )
    assert wiring.text("web", "${services.redis.host}:${services.redis.port}") == (
        "redis.shop.svc.cluster.local:6379"
    )
    assert [(r.service, r.var, r.where) for r in wiring.rewrites] == [
        ("web", "REDIS_URL", "stack.toml"),
        ("web", "DATABASE_URL", "stack.toml"),
        ("worker", "REDIS_URL", "worker.env:1"),
    ]


def test_a_services_own_url_is_kept_and_flagged(tmp_path: Path) -> None:
    # The issue: a browser-facing BASE_URL became http://web:5001.
    _, data = compose(flask_celery_redis(tmp_path))
    assert data["services"]["web"]["environment"]["BASE_URL"] == "http://127.0.0.1:5001"
    [flag] = by_kind(wiring_of(tmp_path / "stack.toml"), "browser-url")
    assert flag.service == "web" and "BASE_URL" in flag.summary and flag.breaks


def test_next_config_rewrite_is_a_warning_with_file_and_line(tmp_path: Path) -> None:
    wiring = wiring_of(next_flask(tmp_path))
    [proxy] = by_kind(wiring, "proxy-config")
    assert (proxy.service, proxy.file, proxy.line) == ("web", "web/next.config.js", 7)
    assert "http://127.0.0.1:5328/api/:path*" in proxy.summary
    assert "http://api:5328" in proxy.summary
    assert proxy.fix == (
        'in stack.toml: [services.web] env = { API_URL = "${services.api.url}" }; '
        "in web/next.config.js:7: destination: `${process.env.API_URL}/api/:path*`"
    )
    assert proxy.breaks


def test_next_public_url_is_flagged_not_rewritten(tmp_path: Path) -> None:
    file = next_flask(tmp_path)
    wiring = wiring_of(file)
    [flag] = by_kind(wiring, "browser-url")
    assert (flag.file, flag.line) == ("web/.env.local", 1)
    assert "NEXT_PUBLIC_API_URL=http://127.0.0.1:5001" in flag.summary
    assert "NEXT_PUBLIC_API_URL" not in wiring.services["web"].env  # .env.local's value stays
    _, data = compose(file)
    assert "NEXT_PUBLIC_API_URL" not in data["services"]["web"]["environment"]


def test_browser_facing_reference_keeps_the_local_address(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "python3 api.py"
                port = 5001

                [services.web]
                cmd = "npx vite --port ${port}"
                port = 5173

                [services.web.env]
                VITE_API_URL = "${services.api.url}"
                API_URL = "${services.api.url}"
                CORS_ORIGIN = "http://localhost:5173"
                """
        },
    )
    text, data = compose(file)
    env = data["services"]["web"]["environment"]
    assert env["VITE_API_URL"] == "http://127.0.0.1:5001"  # not http://api:5001
    assert env["API_URL"] == "http://api:5001"  # server-side: the compose name
    assert env["CORS_ORIGIN"] == "http://localhost:5173"
    flagged = {f.summary.split("=")[0] for f in by_kind(wiring_of(file), "browser-url")}
    assert flagged == {"VITE_API_URL", "CORS_ORIGIN"}
    assert "# browser-facing: kept as devstack resolves it (http://127.0.0.1:5001)" in text


def test_a_port_no_service_declares_is_left_with_a_note(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "python3 api.py"
                port = 5001
                env = { SENTRY_URL = "http://127.0.0.1:9999/1" }
                """
        },
    )
    text, data = compose(file)
    assert data["services"]["api"]["environment"]["SENTRY_URL"] == "http://127.0.0.1:9999/1"
    assert "# left as is: no service of the stack declares port 9999" in text
    [note] = by_kind(wiring_of(file), "unknown-port")
    assert not note.breaks and "9999" in note.summary


def test_config_reading_an_env_variable_gets_it_set(tmp_path: Path) -> None:
    # `process.env.API_URL || 'http://127.0.0.1:5328'`: setting API_URL is the rewrite.
    file = next_flask(tmp_path)
    (tmp_path / "web" / "next.config.js").write_text(
        textwrap.dedent("""\
        module.exports = {
          async rewrites() {
            return [{ source: '/api/:path*',
              destination: `${process.env.API_URL || 'http://127.0.0.1:5328'}/api/:path*` }]
          },
        }
        """)
    )
    (tmp_path / "web" / ".env.local").unlink()
    wiring = wiring_of(file)
    assert wiring.services["web"].env["API_URL"] == "http://api:5328"
    assert not by_kind(wiring, "proxy-config")
    [build] = by_kind(wiring, "build-time-env")
    assert not build.breaks and build.line == 4


def test_vite_proxy_target_is_a_warning(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "uvicorn main:app --port ${port}"
                port = 8000

                [services.web]
                cmd = "npx vite --port ${port}"
                cwd = "web"
                port = 5173
                """,
            "web/package.json": "{}",
            "web/vite.config.ts": """\
                export default {
                  server: { proxy: { '/api': 'http://localhost:8000' } },
                }
                """,
        },
    )
    [proxy] = by_kind(wiring_of(file), "proxy-config")
    assert (proxy.file, proxy.line) == ("web/vite.config.ts", 2)
    assert "process.env.API_URL" in (proxy.fix or "")


def test_ipv6_and_several_urls_in_one_value(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.a]
                cmd = "python3 a.py"
                port = 7001

                [services.b]
                cmd = "python3 b.py"
                port = 7002
                env = { PEERS = "http://[::1]:7001/x,http://0.0.0.0:7002/y,http://127.0.0.1:7001" }
                """
        },
    )
    _, data = compose(file)
    # b's own URL among others is no public address: each is rewritten.
    assert data["services"]["b"]["environment"]["PEERS"] == (
        "http://a:7001/x,http://b:7002/y,http://a:7001"
    )


def test_browser_prefixes() -> None:
    for var in ("NEXT_PUBLIC_API", "VITE_API", "REACT_APP_API", "PUBLIC_API", "GATSBY_X"):
        assert is_browser_facing(var)
    for var in ("API_URL", "REDIS_URL", "DATABASE_URL", "BACKEND"):
        assert not is_browser_facing(var)


def test_a_config_reading_only_the_port_is_still_reported(tmp_path: Path) -> None:
    # `http://127.0.0.1:${process.env.FLASK_PORT || 5328}`: setting FLASK_PORT (even from
    # the stack) leaves the host on loopback; the fix takes the whole address instead.
    file = next_flask(tmp_path)
    (tmp_path / "web" / "next.config.js").write_text(
        "module.exports = { async rewrites() { return [{ source: '/api/:path*',\n"
        "  destination: `http://127.0.0.1:${process.env.FLASK_PORT || 5328}/api/:path*` }] } }\n"
    )
    text = file.read_text().replace(
        'depends_on = { api = "healthy" }',
        'depends_on = { api = "healthy" }\nenv = { FLASK_PORT = "${services.api.port}" }',
    )
    file.write_text(text)
    [proxy] = by_kind(wiring_of(file), "proxy-config")
    assert proxy.line == 2
    assert "reads only the port from process.env.FLASK_PORT: the host stays 127.0.0.1" in (
        proxy.summary
    )
    assert proxy.fix == (
        'in stack.toml: [services.web] env = { API_URL = "${services.api.url}" }; '
        "in web/next.config.js:2: destination: `${process.env.API_URL}/api/:path*`"
    )


def test_a_shared_env_file_naming_a_service_is_not_its_public_address(tmp_path: Path) -> None:
    # [stack] env_file reaches every service, api included: API_URL there is a client's.
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [stack]
                env_file = ".env"

                [services.api]
                cmd = "python3 api.py"
                port = 5000

                [services.worker]
                cmd = "python3 worker.py"
                """,
            ".env": "API_URL=http://localhost:5000/v1\n",
        },
    )
    wiring = wiring_of(file)
    assert not wiring.findings
    assert wiring.services["worker"].env["API_URL"] == "http://api:5000/v1"
    assert wiring.services["api"].env["API_URL"] == "http://api:5000/v1"


def test_a_reader_failure_is_devstacks_bug_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import devstack.export.wiring as wiring_module

    def broken(folder: Path) -> list[Any]:
        raise ValueError("unbalanced quote")

    monkeypatch.setattr(wiring_module, "proxy_targets", broken)
    wiring = wiring_of(next_flask(tmp_path))
    [error] = by_kind(wiring, "export-error")
    assert error.service == "web" and not error.breaks
    assert error.summary == (
        "the proxy config could not be read for wiring (a devstack bug): "
        "ValueError: unbalanced quote"
    )
    assert by_kind(wiring, "browser-url")  # the env files were still read


def test_the_real_nextjs_flask_starter_config_is_reported(tmp_path: Path) -> None:
    # tests/fixtures/frontend-proxy/rl-maze: Vercel's nextjs-flask shape, verbatim.
    file = next_flask(tmp_path)
    real = REPO / "tests" / "fixtures" / "frontend-proxy" / "rl-maze" / "next.config.js"
    (tmp_path / "web" / "next.config.js").write_text(real.read_text())
    [proxy] = by_kind(wiring_of(file), "proxy-config")
    assert (proxy.file, proxy.line) == ("web/next.config.js", 7)
    assert proxy.summary.startswith(
        "web/next.config.js:7 sends to http://127.0.0.1:5328/api/:path* (api), which in "
        "compose is http://api:5328"
    )


def test_a_rewrite_behind_a_node_env_test_says_production_takes_the_other_branch(
    tmp_path: Path,
) -> None:
    # digitros/nextjs-fastapi: `NODE_ENV === "development" ? "http://127.0.0.1:8000/..." :
    # "/api/"`; the image runs `next start` (NODE_ENV=production), so replacing the URL in
    # the development branch alone leaves the backend unreachable.
    file = next_flask(tmp_path)
    (tmp_path / "web" / "next.config.js").write_text(
        "module.exports = { rewrites: async () => [\n"
        "  { source: '/api/py/:path*',\n"
        "    destination:\n"
        "      process.env.NODE_ENV === 'development'\n"
        "        ? 'http://127.0.0.1:5328/api/py/:path*'\n"
        "        : '/api/' },\n"
        "] }\n"
    )
    [proxy] = by_kind(wiring_of(file), "proxy-config")
    assert proxy.line == 5
    assert "behind a process.env.NODE_ENV test (web/next.config.js:4)" in proxy.summary
    assert "the production server runs with NODE_ENV=production" in proxy.summary
    assert proxy.fix.endswith(
        "destination: `${process.env.API_URL}/api/py/:path*`, in both branches "
        "(or without the NODE_ENV test)"
    )


def web_with(root: Path, other: str, env: str) -> Path:
    """A stack of web (port 5000) and ``other`` that share the stack-wide ``.env``."""
    web = '[stack]\nenv_file = ".env"\n\n[services.web]\ncmd = "python3 web.py"\nport = 5000\n\n'
    return write(root, {"stack.toml": web + other, ".env": env})


def test_a_base_url_in_a_shared_env_file_is_a_public_address(tmp_path: Path) -> None:
    # snyk-labs/ai-promoter: `.env` BASE_URL=http://localhost:5000, the address its links
    # and emails use, became http://web:5000 (the issue's own BASE_URL case, via a file).
    other = '[services.worker]\ncmd = "python3 worker.py"\n'
    file = web_with(
        tmp_path, other, "BASE_URL=http://localhost:5000\nSITE_URL=http://localhost:5000/\n"
    )
    wiring = wiring_of(file)
    for name in ("web", "worker"):
        assert "BASE_URL" not in wiring.services[name].env
        assert "SITE_URL" not in wiring.services[name].env
    urls = {(f.service, f.summary.split("=")[0]) for f in by_kind(wiring, "browser-url")}
    assert urls == {(s, v) for s in ("web", "worker") for v in ("BASE_URL", "SITE_URL")}
    for var in ("BASE_URL", "APP_BASE_URL", "SITE_URL", "EXTERNAL_URL", "CANONICAL_URL"):
        assert is_browser_facing(var), var
    for var in ("API_BASE_URL", "BACKEND_URL", "DATABASE_URL"):
        assert not is_browser_facing(var), var


def test_an_official_images_server_is_not_wired_from_the_apps_env_file(tmp_path: Path) -> None:
    # Field trial (snyk-labs/ai-promoter): the stack-wide .env's OKTA_REDIRECT_URI was a
    # "break" six times, once per service, redis and postgres included; their servers read
    # none of the app's variables, so their containers need no rewrite and no finding.
    other = '[services.redis]\ncmd = "redis-server --port 6390"\nport = 6390\n'
    env = "REDIS_URL=redis://localhost:6390/0\nOKTA_REDIRECT_URI=http://localhost:5000/callback\n"
    file = web_with(tmp_path, other, env)
    wiring = wiring_of(file)
    assert [f.service for f in wiring.findings] == ["web"]
    assert wiring.services["web"].env == {"REDIS_URL": "redis://redis:6390/0"}
    assert wiring.services["redis"].env == {}


def test_a_password_from_an_env_file_is_not_written_into_compose_yaml(tmp_path: Path) -> None:
    # Field trial (snyk-labs/ai-promoter, .env DATABASE_URL with a password): the
    # rewritten URL, password and all, was written into compose.yaml (a file people
    # commit; the .env it came from is not), once as the value and once in its comment.
    other = '[services.db]\ncmd = "postgres -p 5433"\nport = 5433\n'
    file = web_with(tmp_path, other, "DATABASE_URL=postgresql://app:s3cret@localhost:5433/shop\n")
    text, data = compose(file)
    assert "s3cret" not in text
    assert data["services"]["web"]["environment"]["DATABASE_URL"] == (
        "postgresql://app:${DATABASE_URL_PASSWORD:?the password of DATABASE_URL in .env}"
        "@db:5433/shop"
    )
    out = export_compose(load_source(file, ENVIRON), tmp_path)
    assert (
        "web: DATABASE_URL's password (.env:1) is not copied into compose.yaml: set "
        "DATABASE_URL_PASSWORD where docker compose runs (its shell, or a .env beside "
        "compose.yaml)"
    ) in out.notes
