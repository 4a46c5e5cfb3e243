"""devstack init's reading of Procfile commands: port, host, probe, import check, dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.config.procfile import parse_procfile
from devstack.export.fromprocfile import Inferred, infer_services, render_toml


def infer(procfile: str, root: Path = Path("/app"), base: int = 5000) -> dict[str, Inferred]:
    return {s.name: s for s in infer_services(parse_procfile(procfile), root, base)}


@pytest.mark.parametrize(
    ("command", "port", "host", "cmd"),
    [
        (
            "gunicorn app:app --bind 0.0.0.0:$PORT",
            5000,
            "0.0.0.0",
            "gunicorn app:app --bind 0.0.0.0:${port}",
        ),
        ("gunicorn -b 127.0.0.1:8000 app:app", 8000, None, "gunicorn -b 127.0.0.1:8000 app:app"),
        ("gunicorn app:app", 5000, "0.0.0.0", "gunicorn app:app"),  # gunicorn: 0.0.0.0:$PORT
        # Field trial (MutualReverse/Flask-Celery-Sample-App): a bind with no port listens
        # on gunicorn's 8000 and ignores $PORT; init said 5000 and the probe never answered.
        (
            "gunicorn --reload --bind=0.0.0.0 app:app",
            8000,
            "0.0.0.0",
            "gunicorn --reload --bind=0.0.0.0 app:app",
        ),
        (
            "uvicorn main:app --host 0.0.0.0 --port ${PORT}",
            5000,
            "0.0.0.0",
            "uvicorn main:app --host 0.0.0.0 --port ${port}",
        ),
        ("uvicorn main:app --port 8001", 8001, None, "uvicorn main:app --port 8001"),
        ("flask --app api run --port 5050", 5050, None, "flask --app api run --port 5050"),
        ("python -m flask run -p $PORT", 5000, None, "python -m flask run -p ${port}"),
        ("next dev -p 3000", 3000, None, "next dev -p 3000"),
        ("npx next dev --port $PORT", 5000, None, "npx next dev --port ${port}"),
        ("next dev", 5000, None, "next dev"),  # next reads $PORT
        ("vite --port 5173", 5173, None, "vite --port 5173"),
        ("vite", 5173, None, "vite"),
        ("python3 app.py --port=$PORT", 5000, None, "python3 app.py --port=${port}"),
        ("python3 worker.py", None, None, "python3 worker.py"),
    ],
)
def test_port_and_host(command: str, port: int | None, host: str | None, cmd: str) -> None:
    svc = infer(f"web: {command}\n")["web"]
    assert (svc.port, svc.host, svc.cmd, svc.shell) == (port, host, cmd, False)


def test_ports_numbered_like_honcho() -> None:
    found = infer("web: a --port $PORT\nworker: b\nclock: c --port $PORT\n", base=8000)
    assert [s.port for s in found.values()] == [8000, None, 8200]


def test_import_check_is_the_preflights() -> None:
    found = infer(
        "a: gunicorn app:app --bind :$PORT\nb: uvicorn pkg.main:api --port 1\n"
        "c: gunicorn wsgi\nd: flask --app src/api.py run -p 2\ne: uvicorn --port 3\n"
    )
    assert [s.app for s in found.values()] == [
        "app:app",
        "pkg.main:api",
        "wsgi:application",
        "api:app",
        None,
    ]


def test_port_assigned_on_the_line() -> None:
    # What `devstack export procfile` writes: PORT=N before the command.
    found = infer(
        "api: cd demo && PORT=6000 exec python3 api.py\nweb: PORT=7000 next dev -p 7001\n"
    )
    assert (found["api"].port, found["api"].env, found["api"].cmd) == (6000, {}, "python3 api.py")
    assert found["web"].port == 7001  # the command's own port wins


def test_cd_exec_and_env_prefix() -> None:
    svc = infer("web: cd frontend && exec FOO=1 BAR='a b' python3 -m http.server $PORT\n")["web"]
    assert svc.cwd == "frontend"
    assert svc.env == {"FOO": "1", "BAR": "a b"}
    assert svc.cmd == "python3 -m http.server ${port}"


def test_shell_lines_stay_whole() -> None:
    found = infer(
        "a: sh -c 'while true; do date; sleep 1; done'\nb: cd x && make run | tee log\n"
        "c: echo ${HOME} $$ $PORT\nd: bundle exec rake resque:work QUEUE=*\n"
        "e: FOO=$BAR python3 x.py\n"
    )
    assert [s.shell for s in found.values()] == [False, True, True, True, True]
    # Quoted shell syntax is one argument: sh runs it without a shell around it.
    assert found["a"].cmd == "sh -c 'while true; do date; sleep 1; done'"
    assert found["b"].cmd == "cd x && make run | tee log" and found["b"].cwd is None
    assert found["c"].cmd == "echo $${HOME} $$$ $PORT"
    assert found["c"].port == 5200  # $PORT: the shell reads what devstack exports


def test_other_variables_become_env_references() -> None:
    svc = infer("web: python3 app.py --db $DATABASE_URL --x ${X}\n")["web"]
    assert svc.cmd == "python3 app.py --db ${env:DATABASE_URL:-} --x ${env:X:-}"


def test_depends_on_suggested_from_env_and_command() -> None:
    found = infer(
        "api: uvicorn main:app --port 5000\n"
        "web: API_URL=http://localhost:5000/v1 npx next dev -p 3000\n"
        "worker: python3 worker.py --api http://127.0.0.1:5000\n"
        "clock: python3 clock.py --url http://127.0.0.1:9999\n"
    )
    assert found["web"].depends_on == {"api": "API_URL points at api's port 5000"}
    assert found["web"].env == {"API_URL": "${services.api.url}/v1"}
    assert found["worker"].depends_on == {"api": "the command points at api's port 5000"}
    assert found["clock"].depends_on == {}
    assert found["api"].depends_on == {}


def test_rendered_file_loads(tmp_path: Path) -> None:
    procfile = (
        "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"
        'api: API_KEY="x y" python3 -m http.server $PORT\n'
        "worker: API=http://localhost:5100 python3 worker.py\n"
        "clock: echo $HOME; sleep 5\n"
    )
    (tmp_path / ".env").write_text("A=1\n")
    text = render_toml(infer(procfile, tmp_path).values(), "Procfile", ".env")
    (tmp_path / "stack.toml").write_text(text)
    data = tomllib.loads(text)
    assert data["stack"] == {"env_file": ".env"}
    assert data["services"]["web"]["health"] == {"http": "/"}  # Heroku's web: HTTP on $PORT
    assert data["services"]["api"]["health"] == {"tcp": True}
    assert "# preflight: imports app:app as gunicorn will" in text
    assert "# Procfile line 4: clock: echo $HOME; sleep 5" in text
    stack = load_stack(tmp_path / "stack.toml", environ={"HOME": "/root", "PATH": "/bin"})
    assert stack.services["web"].port == 5000 and stack.services["api"].port == 5100
    assert stack.services["worker"].depends_on == {"api": "healthy"}
    assert stack.services["worker"].env["API"] == "http://127.0.0.1:5100"
    assert stack.services["clock"].shell
