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
    assert kinds(found) == {
        ("redis", "no-image"),
        ("db", "no-image"),
        ("web", "no-image"),
        ("worker", "no-image"),
        ("web", "setup-dropped"),
        ("web", "dev-server"),  # flask run
        ("web", "browser-url"),  # BASE_URL = "${url}"
    }
    assert all(f.breaks for f in found)
    # The rewritten REDIS_URLs are not findings: they survive the move.
    assert not any("REDIS_URL" in f.summary for f in found)


def test_next_flask_to_compose(tmp_path: Path) -> None:
    file = next_flask(tmp_path)
    found = check_handover(load_source(file, ENVIRON), "compose", tmp_path)
    assert ("web", "proxy-config") in kinds(found)
    assert ("web", "browser-url") in kinds(found)
    dev = {f.service: f.summary for f in found if f.kind == "dev-server"}
    assert dev["web"].startswith("`next dev` is a development server")  # through pnpm dev
    assert dev["api"].startswith("`flask run`")


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
                """
        },
    )
    found = check_handover(load_source(file, ENVIRON), "compose", tmp_path)
    assert kinds(found) == {
        ("api", "no-image"),
        ("api", "loopback-bind"),
        ("api", "no-healthcheck"),
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
