"""`devstack export --check` and the compose export's stderr, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from support.exportstacks import flask_celery_redis, next_flask, write
from support.stackrun import run_devstack


def test_check_lists_what_would_break_and_writes_nothing(tmp_path: Path) -> None:
    flask_celery_redis(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_devstack(tmp_path, "export", "--check")
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    # Official images for redis and db, generated Dockerfiles (the pip install its build
    # step) and gunicorn for flask run: only the browser-facing BASE_URL breaks.
    assert lines[0] == "compose: 1 thing would break after the move, 3 notes"
    assert "  web" in lines and "  db" in lines and "  worker" not in lines
    assert "BASE_URL=http://127.0.0.1:5001 (stack.toml)" in run.stdout
    assert (
        "    note   `flask run` is a development server: compose runs its production "
        "counterpart instead, `gunicorn --bind 0.0.0.0:5001 app:app`"
    ) in lines
    assert "setup" not in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    # The export says the same on stderr: each --check note is one of its notes.
    export = run_devstack(tmp_path, "export", "compose", "-o", "out/compose.yaml")
    assert export.returncode == 0, export.stderr
    for line in lines:
        if line.startswith("    note   ") and "development server" not in line:
            assert f"  - db: {line.removeprefix('    note   ')}" in export.stderr
    assert "  - web: dev server `flask run` exported as its production counterpart" in (
        export.stderr
    )


def test_check_kubernetes_exit_codes(tmp_path: Path) -> None:
    flask_celery_redis(tmp_path)
    run = run_devstack(tmp_path, "export", "--check", "kubernetes", "--json")
    assert run.returncode == 1, run.stderr
    data = json.loads(run.stdout)
    assert data["target"] == "kubernetes" and data["ok"] is False
    breaking = [(f["service"], f["kind"]) for f in data["findings"] if f["breaks"]]
    assert breaking == [("web", "browser-url")]
    assert not (tmp_path / "kubernetes").exists()  # nothing written
    # Without the browser-facing variable, nothing breaks: exit 0 (notes only).
    stack = tmp_path / "stack.toml"
    stack.write_text(stack.read_text().replace('BASE_URL = "${url}"\n', ""))
    run = run_devstack(tmp_path, "export", "--check", "kubernetes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("kubernetes: 0 things would break after the move, 3 notes\n")


def test_check_json(tmp_path: Path) -> None:
    next_flask(tmp_path)
    run = run_devstack(tmp_path, "export", "--check", "compose", "--json")
    assert run.returncode == 1, run.stderr
    data = json.loads(run.stdout)
    assert data["target"] == "compose" and data["ok"] is False
    [proxy] = [f for f in data["findings"] if f["kind"] == "proxy-config"]
    assert (proxy["service"], proxy["file"], proxy["line"]) == ("web", "web/next.config.js", 7)
    assert proxy["breaks"] is True and "process.env.API_URL" in proxy["fix"]


def test_check_passes_when_nothing_would_break(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "stack.toml": """\
                [services.api]
                cmd = "gunicorn app:app --bind 127.0.0.1:${port}"
                port = 8000
                """
        },
    )
    run = run_devstack(tmp_path, "export", "--check", "systemd")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "systemd: nothing found that would not survive the move\n"
    # The same stack in a container binds loopback: compose would break.
    assert run_devstack(tmp_path, "export", "--check", "compose").returncode == 1


def test_bad_usage_is_exit_2(tmp_path: Path) -> None:
    flask_celery_redis(tmp_path)
    run = run_devstack(tmp_path, "export")
    assert run.returncode == 2 and "export needs a format" in run.stderr
    run = run_devstack(tmp_path, "export", "compose", "--json")
    assert run.returncode == 2 and "--json goes with --check" in run.stderr


def test_compose_export_rewrites_and_warns_on_stderr(tmp_path: Path) -> None:
    next_flask(tmp_path)
    (tmp_path / "web" / ".env").write_text("API_INTERNAL=http://localhost:5328/v1\n")
    run = run_devstack(tmp_path, "export", "compose", "-o", "devstack.compose.yaml")
    assert run.returncode == 0, run.stderr
    data = yaml.safe_load((tmp_path / "devstack.compose.yaml").read_text())
    assert data["services"]["web"]["environment"]["API_INTERNAL"] == "http://api:5328/v1"
    err = run.stderr.splitlines()
    assert err[0] == "devstack: to change by hand for compose (not rewritten):"
    assert err[1] == "  web"
    assert any(line.startswith("    break  web/next.config.js:7 sends to") for line in err)
    assert any("NEXT_PUBLIC_API_URL=http://127.0.0.1:5001 (web/.env.local:1)" in x for x in err)


def test_kubernetes_export_says_on_stderr_what_check_reports(tmp_path: Path) -> None:
    next_flask(tmp_path)
    check = run_devstack(tmp_path, "export", "--check", "kubernetes")
    assert check.returncode == 1, check.stderr
    run = run_devstack(tmp_path, "export", "kubernetes", "-o", "k8s")
    assert run.returncode == 0, run.stderr
    err = run.stderr.splitlines()
    assert err[0] == "devstack: to change by hand for kubernetes (not rewritten):"
    breaks = [line for line in check.stdout.splitlines() if line.startswith("    break  ")]
    assert breaks and all(line in err for line in breaks)
    assert "  - web: dev server `next dev` exported as its production counterpart" in run.stderr
