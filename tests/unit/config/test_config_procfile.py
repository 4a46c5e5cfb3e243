"""A Procfile as a stack: shell commands, foreman port numbering, strict syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.config.procfile import parse_procfile
from devstack.errors import ConfigError
from devstack.spec import RestartSpec

PROCFILE = """\
# processes
web: gunicorn app:app --bind 0.0.0.0:$PORT
worker: python worker.py

clock: python clock.py
"""


def test_each_line_is_a_shell_service(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(PROCFILE)
    spec = load_stack(cwd=tmp_path, environ={"PATH": "/bin"})
    assert spec.from_procfile
    assert spec.file == (tmp_path / "Procfile").resolve()
    assert list(spec.services) == ["web", "worker", "clock"]
    web = spec.services["web"]
    assert web.shell
    assert web.argv == ("/bin/sh", "-c", "gunicorn app:app --bind 0.0.0.0:$PORT")
    assert web.cwd == tmp_path.resolve()
    assert web.health is None
    assert web.restart == RestartSpec()
    assert web.env["PATH"] == "/bin"
    assert web.env["PYTHONUNBUFFERED"] == "1"


def test_ports_numbered_like_foreman(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(PROCFILE)
    spec = load_stack(cwd=tmp_path, environ={})
    ports = [s.env["PORT"] for s in spec.services.values()]
    assert ports == ["5000", "5100", "5200"]
    assert [s.port for s in spec.services.values()] == [5000, 5100, 5200]


def test_port_base_from_dotenv_beats_environment(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(PROCFILE)
    (tmp_path / ".env").write_text("PORT=8000\nGREETING='hello world'\n")
    spec = load_stack(cwd=tmp_path, environ={"PORT": "7000"})
    assert [s.env["PORT"] for s in spec.services.values()] == ["8000", "8100", "8200"]
    assert spec.services["web"].env["GREETING"] == "hello world"
    assert spec.services["web"].env_files == ((tmp_path / ".env").resolve(),)


def test_port_base_from_environment(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(PROCFILE)
    spec = load_stack(tmp_path / "Procfile", environ={"PORT": "7000"})
    assert spec.services["clock"].env["PORT"] == "7200"


def test_bad_port_in_dotenv(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(PROCFILE)
    (tmp_path / ".env").write_text("PORT=abc\n")
    with pytest.raises(ConfigError, match="not a number"):
        load_stack(cwd=tmp_path, environ={})


def test_bad_line_has_its_number() -> None:
    with pytest.raises(ConfigError) as info:
        parse_procfile("web: a\n\n  # note\nnot a process line\n", Path("Procfile"))
    (problem,) = info.value.problems
    assert problem.line == 4
    assert "Procfile:4" in info.value.render()


def test_duplicate_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_procfile("web: a\nweb: b\n")
    assert info.value.problems[0].line == 2
    assert "repeats line 1" in info.value.render()


def test_empty_procfile(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no process"):
        load_stack(cwd=tmp_path, environ={})
