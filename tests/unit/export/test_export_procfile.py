"""devstack export procfile: lines honcho runs as devstack would, and what is left out."""

from __future__ import annotations

import textwrap
from pathlib import Path

from devstack.config.procfile import load_procfile
from devstack.export.source import load_source
from devstack.export.toprocfile import to_procfile
from support.demo import copy_demo_stack


def test_example_stack(tmp_path: Path) -> None:
    copy_demo_stack(tmp_path)
    text, lost = to_procfile(load_source(tmp_path / "stack.toml", {}))
    assert text.splitlines()[1:] == [
        "api: cd examples/demo && PORT=5000 exec python3 api.py",
        "web: cd examples/demo && API_BASE=http://127.0.0.1:5000 PORT=5100 exec python3 web.py",
    ]
    assert lost == [
        "health probes (a Procfile runner never waits for readiness): api, web",
        "depends_on: start order and health gating (all start at once): web",
        "preflight checks (check.import, check.cmd, the port and import checks): api, web",
    ]
    # It reads back as a Procfile, with the same commands, dirs and ports.
    (tmp_path / "Procfile").write_text(text)
    back = load_procfile(tmp_path / "Procfile", {})
    assert list(back.services) == ["api", "web"]


def test_shell_venv_env_files_and_losses(tmp_path: Path) -> None:
    venv = tmp_path / "app" / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "gunicorn").write_text("#!/bin/sh\n")
    (venv / "bin" / "gunicorn").chmod(0o755)
    (tmp_path / "app.env").write_text("GREETING='a b'\n")  # no secret: inlined
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent(
            """\
            [services.api]
            cmd = "gunicorn app:app --bind 127.0.0.1:${port}"
            cwd = "app"
            port = 8001
            env_file = "app.env"
            restart = "always"
            stop_signal = "INT"

            [services.tick]
            cmd = "while true; do date; sleep 1; done"
            shell = true
            """
        )
    )
    text, lost = to_procfile(load_source(tmp_path / "stack.toml", {"PATH": "/usr/bin:/bin"}))
    assert text.splitlines()[1:] == [
        "api: cd app && GREETING='a b' PORT=8001 exec .venv/bin/gunicorn app:app --bind "
        "127.0.0.1:8001",
        "tick: while true; do date; sleep 1; done",
    ]
    assert any(x.startswith("restart policies") and x.endswith(": api") for x in lost)
    assert any(x.startswith("stop_signal") and x.endswith(": api") for x in lost)
    assert any(x.startswith("env_file other than .env") for x in lost)


def test_setup_steps_and_watch_are_named_among_the_losses(tmp_path: Path) -> None:
    """docs/interop.md says stderr names what a Procfile cannot say; a setup step and
    watch were dropped without a word."""
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "python3 api.py"\nsetup = "make deps"\nwatch = ["*.py"]\n'
    )
    _text, lost = to_procfile(load_source(tmp_path / "stack.toml", {}))
    assert "setup steps (run them first: devstack setup): api" in lost
    assert "watch: restart on edit: api" in lost


def test_dev_servers_are_named_among_the_losses(tmp_path: Path) -> None:
    # Field trial (digitros/nextjs-fastapi): `fastapi: ... uvicorn api.index:app --reload`
    # went into the Procfile and stderr did not say it is a development server.
    (tmp_path / "stack.toml").write_text(
        '[services.api]\ncmd = "python3 -m uvicorn api.index:app --reload"\nport = 8000\n'
        '[services.worker]\ncmd = "python3 worker.py"\n'
    )
    _text, lost = to_procfile(load_source(tmp_path / "stack.toml", {}))
    assert (
        "development servers, run as written (devstack export --check procfile: their "
        "production counterparts): api"
    ) in lost


def test_secrets_of_an_env_file_are_sourced_not_inlined(tmp_path: Path) -> None:
    # Field trial: worker.env's DATABASE_URL (a password) and API_TOKEN were inlined into
    # the Procfile, a file people commit, where the env file is kept out of git.
    (tmp_path / "worker.env").write_text(
        "DATABASE_URL=postgresql://app:s3cret@localhost:5433/shop\nAPI_TOKEN=tok123\n"
    )
    (tmp_path / "plain.env").write_text("LOG_LEVEL=debug\n")
    (tmp_path / "stack.toml").write_text(
        '[services.worker]\ncmd = "python3 worker.py"\nenv_file = ["plain.env", "worker.env"]\n'
        'cwd = "sub"\n'
    )
    (tmp_path / "sub").mkdir()
    text, lost = to_procfile(load_source(tmp_path / "stack.toml", {}))
    assert "s3cret" not in text and "tok123" not in text
    [line] = [x for x in text.splitlines() if x.startswith("worker:")]
    assert line == (
        "worker: set -a && . ./worker.env && set +a && cd sub && LOG_LEVEL=debug "
        "exec python3 worker.py"
    )
    assert (
        "env files with secrets, read by the line's shell (set -a; . FILE), not inlined: worker.env"
    ) in lost
