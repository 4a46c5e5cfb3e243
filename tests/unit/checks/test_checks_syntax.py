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


def test_an_edit_is_compiled_again_and_an_unchanged_script_is_not(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text("print('hi')\n")
    assert check_syntax(spec("python3 server.py", tmp_path)).status == "ok"  # type: ignore[union-attr]
    script.write_text("def broken(:\n")  # the verdict follows the content, not a cache
    assert check_syntax(spec("python3 server.py", tmp_path)).failed  # type: ignore[union-attr]
    script.write_text("print('hi')\n")
    assert check_syntax(spec("python3 server.py", tmp_path)).status == "ok"  # type: ignore[union-attr]


def test_one_script_shared_by_many_services_compiles_once(tmp_path: Path) -> None:
    import builtins

    (tmp_path / "server.py").write_text("print('hi')\n")
    compiles = []
    real = builtins.compile

    def counting(*args: object, **kwargs: object) -> object:
        compiles.append(args[1])
        return real(*args, **kwargs)  # type: ignore[call-overload]

    builtins.compile = counting  # type: ignore[assignment]
    try:
        for _ in range(5):
            check_syntax(spec("python3 server.py", tmp_path))
    finally:
        builtins.compile = real
    assert compiles.count(str(tmp_path / "server.py")) == 1
