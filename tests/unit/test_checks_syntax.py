"""`python script.py` services: a script that does not compile fails the syntax check."""

from __future__ import annotations

from pathlib import Path

from devstack.checks.syntax import check_syntax, script_of
from devstack.spec import ServiceSpec


def spec(cmd: str, cwd: Path) -> ServiceSpec:
    return ServiceSpec(name="web", cmd=cmd, argv=tuple(cmd.split()), cwd=cwd, env={})


def test_script_is_found_past_interpreter_options(tmp_path: Path) -> None:
    assert script_of(spec("python3 -u server.py --port 5", tmp_path)) == tmp_path / "server.py"
    assert script_of(spec("/usr/bin/python3.11 app.py", tmp_path)) == tmp_path / "app.py"
    assert script_of(spec("python -m http.server", tmp_path)) is None
    assert script_of(spec("gunicorn api:app", tmp_path)) is None


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text("import os\n\ndef broken(:\n    pass\n")
    result = check_syntax(spec("python3 server.py", tmp_path))
    assert result is not None and result.failed
    assert result.summary == "server.py does not compile"
    assert "server.py:3" in result.details[0]


def test_a_good_script_passes(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text("print('hi')\n")
    result = check_syntax(spec("python3 server.py", tmp_path))
    assert result is not None and result.status == "ok"
