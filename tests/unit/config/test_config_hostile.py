"""Hostile stack.toml input is one config error (exit 2), never a traceback or a hang
(issue 19, point 7: 37 tracebacks in 303 fuzzed files).

Each case the fuzz run reported is written out below (``CASES``); the inputs the
mutational fuzzer (tests/support/configfuzz.py) found since are kept as files in
``configs/hostile/`` and all go through the same oracle the fuzzer uses: load, show
(as `devstack config`), encode and decode (as `up`'s spec cache); nothing but a
ConfigError of at most one screen may come out. The CLI runs of these cases are in
tests/integration/test_config_hostile_cli.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.config.envfile import MAX_ENV_FILE
from devstack.errors import ConfigError
from support.configfuzz import run_one

HOSTILE = Path(__file__).parent / "configs" / "hostile"
SVC = '[services.api]\ncmd = "python3 app.py"\n'


@dataclass(frozen=True)
class Case:
    toml: str
    key: str | None  # the key path the problem names (None: the file as a whole)
    reason: str  # a part of the message
    prepare: Callable[[Path], object] = field(default=lambda root: None)


def _fifo(root: Path) -> None:
    os.mkfifo(root / "env.fifo")


def _write(name: str, data: bytes) -> Callable[[Path], object]:
    return lambda root: (root / name).write_bytes(data)


CASES = {
    "nested arrays 1000 deep": Case(
        "x = " + "[" * 1000 + "]" * 1000 + "\n" + SVC, None, "nested too deeply to read"
    ),
    "nested arrays 100 deep in a smoke json body": Case(
        SVC + '[[smoke]]\nurl = "http://127.0.0.1:1/"\njson = ' + "[" * 100 + "]" * 100 + "\n",
        "smoke.[0].json",
        "nested more than 32 levels deep",
    ),
    "health.log regex nested 1000 deep": Case(
        SVC + 'health.log = "' + "(" * 1000 + "a" + ")" * 1000 + '"\n',
        "services.api.health.log",
        "the regular expression is nested or repeated too deeply",
    ),
    "NUL byte in cwd": Case(SVC + 'cwd = "a\\u0000b"\n', "services.api.cwd", "holds a NUL byte"),
    "NUL byte in env_file": Case(
        SVC + 'env_file = ".env\\u0000"\n', "services.api.env_file", "holds a NUL byte"
    ),
    "NUL byte in a cmd argument": Case(
        '[services.api]\ncmd = ["python3", "app.py\\u0000"]\n',
        "services.api.cmd.[1]",
        "holds a NUL byte",
    ),
    "NUL byte in a cmd string": Case(
        '[services.api]\ncmd = "python3 app\\u0000.py"\n', "services.api.cmd", "holds a NUL byte"
    ),
    "NUL byte in a key": Case(
        SVC + 'env = { "A\\u0000B" = "1" }\n', "services.api.env", "a key holds a NUL byte"
    ),
    "venv of a user that does not exist": Case(
        SVC + 'venv = "~nosuchuser/x"\n',
        "services.api.venv",
        "cannot expand '~nosuchuser': no such user",
    ),
    "cwd of a user that does not exist": Case(
        SVC + 'cwd = "~nosuchuser"\n',
        "services.api.cwd",
        "cannot expand '~nosuchuser': no such user",
    ),
    "env_file of a user that does not exist": Case(
        '[stack]\nenv_file = "~nosuchuser/.env"\n' + SVC,
        "stack.env_file",
        "cannot expand '~nosuchuser': no such user",
    ),
    "a 5,000-character cwd": Case(
        SVC + f'cwd = "{"a" * 5000}"\n',
        "services.api.cwd",
        "not a usable path (File name too long)",
    ),
    "env_file /dev/urandom": Case(
        SVC + 'env_file = "/dev/urandom"\n',
        "services.api.env_file",
        "not a regular file (a device)",
    ),
    "env_file a FIFO": Case(
        SVC + 'env_file = "env.fifo"\n',
        "services.api.env_file",
        "not a regular file (a FIFO)",
        _fifo,
    ),
    "stack env_file a FIFO": Case(
        '[stack]\nenv_file = "env.fifo"\n' + SVC,
        "stack.env_file",
        "not a regular file (a FIFO)",
        _fifo,
    ),
    "env_file a directory": Case(
        SVC + 'env_file = "."\n', "services.api.env_file", "not a regular file (a directory)"
    ),
    "env_file over 256 KiB": Case(
        SVC + 'env_file = "big.env"\n',
        "services.api.env_file",
        "larger than 256 KiB",
        _write("big.env", b"A=" + b"x" * MAX_ENV_FILE + b"\n"),
    ),
    "env_file with a NUL byte": Case(
        SVC + 'env_file = "bin.env"\n',
        "services.api.env_file",
        "holds a NUL byte (a binary file?)",
        _write("bin.env", b"A=1\x00\nB=2\n"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_config_error_naming_the_key(tmp_path: Path, name: str) -> None:
    """Reliability case 44 (docs/reliability.md): the inputs it names."""
    case = CASES[name]
    (tmp_path / "stack.toml").write_text(case.toml, encoding="utf-8")
    case.prepare(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    problems = caught.value.problems
    assert [str(p.file) for p in problems] == [str(tmp_path / "stack.toml")] * len(problems)
    assert [p.key_path for p in problems][:1] == [case.key], problems
    assert case.reason in problems[0].message, problems[0]
    lines = caught.value.render().splitlines()
    assert len(lines) <= 6 and max(map(len, lines)) <= 400, lines


def test_an_env_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(SVC + 'env_file = "big.env"\n')
    line = b"VAR_%06d=%s\n"
    lines = [line % (i, b"v" * 100) for i in range(MAX_ENV_FILE // len(line % (0, b"v" * 100)))]
    text = b"".join(lines)
    text += b"#" * (MAX_ENV_FILE - len(text) - 1) + b"\n"
    (tmp_path / "big.env").write_bytes(text)
    assert len(text) == MAX_ENV_FILE
    stack = load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    assert stack.services["api"].env["VAR_000000"] == "v" * 100


def test_a_nul_byte_in_smoke_request_data_is_data(tmp_path: Path) -> None:
    """A JSON body can carry "\\u0000": only OS strings (commands, paths, variables) cannot."""
    (tmp_path / "stack.toml").write_text(
        SVC + 'port = 5000\n[[smoke]]\nurl = "${services.api.url}/"\n'
        'json = { a = "x\\u0000y" }\nbody_contains = ["\\u0000"]\n'
    )
    [smoke] = load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"}).smoke
    assert smoke.body == '{"a": "x\\u0000y"}'
    assert smoke.body_contains == ("\0",)


FOUND = sorted(HOSTILE.glob("*.toml"))


@pytest.mark.parametrize("fixture", FOUND, ids=[f.stem for f in FOUND])
def test_inputs_the_fuzzer_found_end_as_config_errors(tmp_path: Path, fixture: Path) -> None:
    """Reliability case 44 (docs/reliability.md). Each kept input broke main's loader
    (its first line says how); the fuzzer's own oracle (tests/support/configfuzz.py)
    must pass it now, in its folder (a FIFO, a .env)."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / ".env").write_text("A=1\n")
    assert run_one(fixture.read_text(encoding="utf-8"), tmp_path) is None


@pytest.mark.parametrize(
    "toml",
    [SVC + f"{'k' * 5000} = 1\n", SVC + f'[[smoke]]\nurl = "http://{"h" * 5000}/"\n'],
    ids=["key", "value"],
)
def test_a_5000_character_key_or_value_keeps_the_error_on_one_screen(
    tmp_path: Path, toml: str
) -> None:
    """Found by the fuzzer: a misspelt 5,000-character key, or a URL of 5,000 characters
    echoed in the message, made one error line of 5,000 characters."""
    (tmp_path / "stack.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    lines = caught.value.render().splitlines()
    assert len(lines) <= 3
    assert len(lines[1]) <= len(str(tmp_path)) + 400, lines
    assert "kkk...: unknown key" in lines[1] or lines[1].endswith("hhh..."), lines


def test_a_nul_byte_in_a_procfile_command_is_a_config_error(tmp_path: Path) -> None:
    """As in stack.toml: exec would refuse it at `up`."""
    (tmp_path / "Procfile").write_bytes(b"web: python3 -m http.server $PORT\nworker: run\x00 x\n")
    with pytest.raises(ConfigError) as caught:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    [problem] = caught.value.problems
    assert (problem.line, problem.key_path) == (2, "worker")
    assert problem.message == "the command holds a NUL byte"


def test_a_procfiles_dotenv_over_the_limit_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: python3 -m http.server $PORT\n")
    (tmp_path / ".env").write_bytes(b"A=" + b"x" * MAX_ENV_FILE + b"\n")
    with pytest.raises(ConfigError) as caught:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})
    [problem] = caught.value.problems
    assert problem.file == tmp_path / ".env"
    assert problem.message == "cannot read: larger than 256 KiB"


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_stack_file_that_is_not_a_regular_file_is_a_config_error(
    tmp_path: Path, kind: str
) -> None:
    """`-f` a FIFO blocked forever, `-f /dev/zero` read until memory ran out."""
    if kind == "fifo":
        os.mkfifo(tmp_path / "stack.toml")
        given, expected = tmp_path / "stack.toml", "not a regular file (a FIFO)"
    else:
        given, expected = Path("/dev/zero"), "not a regular file (a device)"
    with pytest.raises(ConfigError) as caught:
        load_stack(given, tmp_path, environ={})
    [problem] = caught.value.problems
    assert problem.message == f"cannot read: {expected}"


def test_a_procfile_that_is_a_fifo_is_a_config_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Procfile")
    with pytest.raises(ConfigError) as caught:
        load_stack(tmp_path / "Procfile", tmp_path, environ={})
    assert (
        caught.value.problems[0].message == "cannot read the Procfile: not a regular file (a FIFO)"
    )


def test_an_env_file_replaced_by_a_fifo_after_a_cached_load_is_a_miss_not_a_hang(
    tmp_path: Path,
) -> None:
    """`up` asks the spec cache first: it read each env file to compare, and blocked on a
    FIFO (secret managers mount one as .env) before the loader could say what is wrong."""
    from devstack.config import speccache

    file = tmp_path / "stack.toml"
    file.write_text(SVC + 'env_file = ".env"\n')
    (tmp_path / ".env").write_text("A=1\n")
    env = {"PATH": "/usr/bin:/bin"}
    cache = tmp_path / "cache.json"
    speccache.save(cache, file, env, load_stack(file, tmp_path, environ=env))
    assert speccache.load(cache, file, env) is not None
    (tmp_path / ".env").unlink()
    os.mkfifo(tmp_path / ".env")
    assert speccache.load(cache, file, env) is None
    with pytest.raises(ConfigError, match=r"not a regular file \(a FIFO\)"):
        load_stack(file, tmp_path, environ=env)
