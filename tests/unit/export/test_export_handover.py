"""export --check (issue 18 point 6): what would not survive the move, per target."""

from __future__ import annotations

from pathlib import Path

from devstack.export.handover import check_handover, render, title
from devstack.export.source import load_source
from devstack.export.wiring import Finding
from support.exportstacks import flask_celery_redis, next_flask, write

ENVIRON = {"PATH": "/usr/bin:/bin"}


def kinds(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.service, f.kind) for f in findings}


def test_flask_celery_redis_to_compose(tmp_path: Path) -> None:
    file = flask_celery_redis(tmp_path)
    found = check_handover(load_source(file, ENVIRON), "compose", tmp_path)
    # What the export now writes survives: redis and db run their official images, web
    # and worker build from generated Dockerfiles (pip install -r requirements.txt is
    # their install step), flask run runs as gunicorn.
    assert kinds(found) == {
        ("web", "browser-url"),  # BASE_URL = "${url}"
        ("web", "dev-server"),  # flask run: exported as gunicorn, a note
        ("db", "changed"),  # -D pgdata dropped, no password: the image's notes
    }
    assert [(f.service, f.kind) for f in found if f.breaks] == [("web", "browser-url")]
    [dev] = [f for f in found if f.kind == "dev-server"]
    assert dev.summary == (
        "`flask run` is a development server: compose runs its production counterpart "
        "instead, `gunicorn --bind 0.0.0.0:5001 app:app`"
    )
    # The rewritten REDIS_URLs are not findings: they survive the move.
    assert not any("REDIS_URL" in f.summary for f in found)


def test_next_flask_to_compose(tmp_path: Path) -> None:
    file = next_flask(tmp_path)
    found = check_handover(load_source(file, ENVIRON), "compose", tmp_path)
    assert ("web", "proxy-config") in kinds(found)
    assert ("web", "browser-url") in kinds(found)
    dev = {f.service: f for f in found if f.kind == "dev-server"}
    # through pnpm dev, exported as next build + next start: a note, not a break
    assert dev["web"].summary.startswith("`next dev` is a development server: compose runs")
    assert dev["api"].summary.startswith("`flask run` is a development server: compose runs")
    assert not dev["web"].breaks and not dev["api"].breaks


def test_what_the_export_cannot_replace_still_breaks(tmp_path: Path) -> None:
    """A setup step the Dockerfile cannot express, a dev server with no known counterpart
    and a command with no image: breaks, for compose and Kubernetes alike."""
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "flask --app app run --port ${port}"
                port = 5001
                setup = "pip install -r requirements.txt && flask db upgrade"

                [services.site]
                cmd = "astro dev --port ${port}"
                port = 4321

                [services.search]
                cmd = "./bin/search --port ${port}"
                port = 7700
                setup = "./bin/fetch-index"
                """,
            "app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
            "requirements.txt": "flask\n",
            "package.json": '{"name": "site"}\n',
        },
    )
    source = load_source(file, ENVIRON)
    for target in ("compose", "kubernetes"):
        found = check_handover(source, target, tmp_path)
        breaking = {(f.service, f.kind) for f in found if f.breaks}
        assert breaking == {
            ("api", "setup-dropped"),  # flask db upgrade: NOT RUN in Dockerfile.api
            ("site", "dev-server"),  # astro dev: no counterpart known
            ("search", "no-image"),
            ("search", "setup-dropped"),
        }, target
        [dropped] = [f for f in found if (f.service, f.kind) == ("api", "setup-dropped")]
        assert "`flask db upgrade`" in dropped.summary and "Dockerfile.api" in dropped.summary
        [astro] = [f for f in found if f.service == "site" and f.kind == "dev-server"]
        assert astro.fix is not None and "astro build" in astro.fix
        assert ("api", "dev-server") in {(f.service, f.kind) for f in found if not f.breaks}


def test_same_machine_targets_keep_loopback(tmp_path: Path) -> None:
    source = load_source(flask_celery_redis(tmp_path), ENVIRON)
    for target in ("systemd", "procfile"):
        found = check_handover(source, target, tmp_path)
        breaking = {(f.service, f.kind) for f in found if f.breaks}
        assert breaking == {("web", "dev-server"), ("web", "setup-dropped")}, target
    notes = [f for f in check_handover(source, "procfile", tmp_path) if not f.breaks]
    assert any("health probes" in f.summary for f in notes)


def test_a_stack_that_survives_compose_but_for_its_image(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "gunicorn app:app --bind 127.0.0.1:${port}"
                port = 8000
                health.log = "Listening"

                [services.cache]
                cmd = "./bin/cache --port ${port}"
                port = 9000
                """
        },
    )
    found = check_handover(load_source(file, ENVIRON), "compose", tmp_path)
    # gunicorn gets a generated Dockerfile: no-image only for the PLACEHOLDER build.
    assert kinds(found) == {
        ("api", "loopback-bind"),
        ("api", "no-healthcheck"),
        ("cache", "no-image"),
    }
    assert [f.kind for f in found if not f.breaks] == ["no-healthcheck"]


def test_render_groups_by_service_breaks_first() -> None:
    found = [
        Finding("web", "unknown-port", "a note", breaks=False),
        Finding("api", "dev-server", "`flask run` ...", "gunicorn"),
        Finding("web", "proxy-config", "next.config.js:4 ...", "read process.env.API_URL"),
    ]
    text = render(found, title(found, "compose"))
    assert text.splitlines() == [
        "compose: 2 things would break after the move, 1 note",
        "  web",
        "    break  next.config.js:4 ...",
        "           fix: read process.env.API_URL",
        "    note   a note",
        "  api",
        "    break  `flask run` ...",
        "           fix: gunicorn",
    ]
    assert title([], "systemd") == "systemd: nothing found that would not survive the move"


def test_an_initdb_setup_is_what_the_official_image_does_itself(tmp_path: Path) -> None:
    # Field trial (thisiskennyb/book_club + a local Postgres): `initdb` as the db's setup
    # was a break, "run it against the postgres container"; the image's entrypoint
    # initialises an empty data directory on its first start.
    setups = {
        "db": "test -d .pgdata || initdb -D .pgdata -U postgres --auth=trust",
        "other": "initdb -D .pg2 -U app",  # a user the image would not create
        "cache": "redis-cli flushall",  # not an initialisation
    }
    commands = {
        "db": "postgres -D .pgdata -p 5454",
        "other": "postgres -D .pg2 -p 5455",
        "cache": "redis-server",
    }
    stack = "".join(
        f'[services.{name}]\ncmd = "{commands[name]}"\nsetup = "{setups[name]}"\n'
        for name in setups
    )
    file = write(tmp_path, {"stack.toml": stack})
    for target in ("compose", "kubernetes"):
        found = check_handover(load_source(file, {}), target, tmp_path)
        dropped = {f.service: f for f in found if f.kind == "setup-dropped"}
        assert set(dropped) == {"other", "cache"}, target
        [note] = [f for f in found if f.service == "db" and "initialises" in f.summary]
        assert not note.breaks
        assert note.summary == (
            f"setup `{setups['db']}`: not needed, the postgres image initialises its empty "
            "data directory itself on its first start"
        )
        assert "POSTGRES_USER=app" in (dropped["other"].fix or ""), target
