"""Loading a valid stack.toml: every value resolved, env layered, defaults applied."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.config import dump_resolved, json_schema, load_stack
from devstack.config.load import split_command
from devstack.errors import ConfigError
from devstack.spec import StackSpec
from devstack.states import Condition, RestartPolicy

BASE_ENV = {"PATH": "/usr/bin:/bin", "SHARED": "process", "HOME": "/home/me"}


def load(tmp_path: Path, text: str, **files: str) -> StackSpec:
    (tmp_path / "stack.toml").write_text(text)
    for name, content in files.items():
        target = tmp_path / name.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return load_stack(cwd=tmp_path, environ=BASE_ENV)


def test_full_example_resolves(tmp_path: Path) -> None:
    (tmp_path / "be").mkdir()
    spec = load(
        tmp_path,
        """
[stack]
name = "botexcel"

[services.backend]
cmd = "gunicorn api:app --bind 127.0.0.1:${port} --workers 2"
cwd = "be"
port = 5000
health.http = "/api/health"
health.interval = "250ms"
health.start_period = "1m30s"
health.expect_status = [200, 204]
restart = "always"
max_restarts = 2
backoff = "1s"
backoff_max = "10s"
backoff_reset = "1m"
stop_signal = "INT"
stop_timeout = "3s"
restart_on_unhealthy = true

[services.frontend]
cmd = ["pnpm", "dev", "--port", "${port}"]
port = 3000
depends_on = { backend = "healthy" }
env = { API = "${services.backend.url}" }
""",
    )
    assert spec.name == "botexcel"
    assert spec.root == tmp_path.resolve()
    assert list(spec.services) == ["backend", "frontend"]
    be = spec.services["backend"]
    assert be.argv == ("gunicorn", "api:app", "--bind", "127.0.0.1:5000", "--workers", "2")
    assert be.cwd == (tmp_path / "be").resolve()
    assert be.url == "http://127.0.0.1:5000"
    assert be.health is not None
    assert (be.health.kind, be.health.target) == ("http", "http://127.0.0.1:5000/api/health")
    assert be.health.interval == 0.25
    assert be.health.start_period == 90.0
    assert be.health.expect_status == (200, 204)
    assert be.restart.policy is RestartPolicy.ALWAYS
    assert (be.restart.max_restarts, be.restart.backoff) == (2, 1.0)
    assert (be.restart.backoff_max, be.restart.reset_after) == (10.0, 60.0)
    assert be.stop_signal is signal.SIGINT
    assert be.stop_timeout == 3.0
    assert be.restart_on_unhealthy
    fe = spec.services["frontend"]
    assert fe.argv == ("pnpm", "dev", "--port", "3000")
    assert fe.cmd == shlex.join(fe.argv)
    assert fe.depends_on == {"backend": Condition.HEALTHY}
    assert fe.env["API"] == "http://127.0.0.1:5000"
    assert fe.cwd == tmp_path.resolve()


def test_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, '[services.web]\ncmd = "python app.py"\n')
    web = spec.services["web"]
    assert spec.name == tmp_path.name
    assert web.port is None and web.url is None and web.health is None
    assert web.restart.policy is RestartPolicy.ON_FAILURE
    assert (web.restart.max_restarts, web.restart.backoff) == (5, 0.5)
    assert (web.restart.backoff_max, web.restart.reset_after) == (30.0, 10.0)
    assert web.stop_signal is signal.SIGTERM
    assert web.stop_timeout == 10.0
    assert not web.shell


def test_declared_port_implies_tcp_probe(tmp_path: Path) -> None:
    spec = load(tmp_path, '[services.web]\ncmd = "x"\nport = 8000\nhealth.interval = "2s"\n')
    health = spec.services["web"].health
    assert health is not None
    assert (health.kind, health.target, health.interval) == ("tcp", "127.0.0.1:8000", 2.0)


@pytest.mark.parametrize(
    ("host", "url", "tcp"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("::", "http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("localhost", "http://localhost:8000", "localhost:8000"),
        ("::1", "http://[::1]:8000", "[::1]:8000"),
    ],
)
def test_url_and_probe_from_host(tmp_path: Path, host: str, url: str, tcp: str) -> None:
    spec = load(tmp_path, f'[services.web]\ncmd = "x"\nport = 8000\nhost = "{host}"\n')
    web = spec.services["web"]
    assert web.host == host
    assert web.url == url
    assert web.health is not None and web.health.target == tcp


def test_explicit_url_is_interpolated(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        '[services.web]\ncmd = "x"\nport = 8000\nurl = "http://${host}:${port}/app/"\n'
        'health.http = "/ping"\n',
    )
    web = spec.services["web"]
    assert web.url == "http://127.0.0.1:8000/app"
    assert web.health is not None and web.health.target == "http://127.0.0.1:8000/app/ping"


@pytest.mark.parametrize(
    ("health", "kind", "target"),
    [
        ('health.http = "http://127.0.0.1:9/x"', "http", "http://127.0.0.1:9/x"),
        ("health.tcp = true", "tcp", "127.0.0.1:8000"),
        ("health.tcp = 9000", "tcp", "127.0.0.1:9000"),
        ('health.tcp = "db.local:5432"', "tcp", "db.local:5432"),
        ('health.tcp = "${port}"', "tcp", "127.0.0.1:8000"),
        ('health.cmd = "pg_isready -p ${port}"', "cmd", "pg_isready -p 8000"),
        ('health.log = "Ready in \\\\d+"', "log", r"Ready in \d+"),
    ],
)
def test_probe_kinds(tmp_path: Path, health: str, kind: str, target: str) -> None:
    spec = load(tmp_path, f'[services.web]\ncmd = "x"\nport = 8000\n{health}\n')
    probe = spec.services["web"].health
    assert probe is not None
    assert (probe.kind, probe.target) == (kind, target)


def test_shell_command(tmp_path: Path) -> None:
    spec = load(
        tmp_path, '[services.web]\ncmd = "echo $HOME && run ${port}"\nshell = true\nport = 1\n'
    )
    web = spec.services["web"]
    assert web.argv == ("/bin/sh", "-c", "echo $HOME && run 1")
    assert web.shell


def test_depends_on_list_means_started(tmp_path: Path) -> None:
    spec = load(tmp_path, '[services.a]\ncmd = "x"\n[services.b]\ncmd = "y"\ndepends_on = ["a"]\n')
    assert spec.services["b"].depends_on == {"a": Condition.STARTED}


def test_env_precedence(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """
[stack]
env_file = ".env"

[services.web]
cmd = "x"
port = 8000
env_file = ["web.env"]
env = { FROM_TABLE = "table", BOTH = "table", PORT = "1", REF = "${env:FROM_SVC_FILE}" }
""",
        **{
            ".env": "SHARED=stackfile\nFROM_STACK_FILE=1\nBOTH=stackfile\n",
            "web.env": "FROM_SVC_FILE=svcfile\nBOTH=svcfile\nSHARED=svcfile\n",
        },
    )
    env = spec.services["web"].env
    assert env["PATH"] == "/usr/bin:/bin"  # inherited
    assert env["FROM_STACK_FILE"] == "1"
    assert env["SHARED"] == "svcfile"  # service file beats stack file beats process env
    assert env["BOTH"] == "table"  # the env table beats files
    assert env["PORT"] == "8000"  # the declared port beats everything
    assert env["REF"] == "svcfile"  # ${env:} sees the env files
    assert env["PYTHONUNBUFFERED"] == "1"
    assert spec.services["web"].env_files == (
        (tmp_path / ".env").resolve(),
        (tmp_path / "web.env").resolve(),
    )


def test_user_pythonunbuffered_is_kept(tmp_path: Path) -> None:
    spec = load(tmp_path, '[services.web]\ncmd = "x"\nenv = { PYTHONUNBUFFERED = "0" }\n')
    assert spec.services["web"].env["PYTHONUNBUFFERED"] == "0"


def test_same_port_on_different_hosts_is_allowed(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        '[services.a]\ncmd = "x"\nport = 80\nhost = "127.0.0.2"\n'
        '[services.b]\ncmd = "y"\nport = 80\nhost = "127.0.0.3"\n',
    )
    assert set(spec.services) == {"a", "b"}


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            '[services.a]\ncmd = "x ${prot}"\ncwd = "nope"\n[services.b]\ncmd = "y"\n'
            'depends_on = ["c"]\n',
        )
    keys = [p.key_path for p in info.value.problems]
    assert keys == ["services.a.cmd", "services.a.cwd", "services.b.depends_on.c"]


def test_find_prefers_stack_toml_over_procfile(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: python app.py\n")
    spec = load(tmp_path, '[services.api]\ncmd = "x"\n')
    assert list(spec.services) == ["api"]
    assert not spec.from_procfile


def test_explicit_path_and_directory(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text('[services.api]\ncmd = "x"\n')
    spec = load_stack(Path("other.toml"), cwd=tmp_path, environ={})
    assert spec.file == (tmp_path / "other.toml").resolve()
    with pytest.raises(ConfigError, match="no such file"):
        load_stack(tmp_path / "missing.toml", environ={})


def test_nothing_to_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_stack(cwd=tmp_path, environ={})
    assert "no stack.toml or Procfile" in info.value.render()
    assert "devstack init" in info.value.render()


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_bytes(b'[services.a]\ncmd = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_stack(cwd=tmp_path, environ={})


def test_dump_resolved_shows_stack_env_only_and_redacts(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        '[services.web]\ncmd = "x"\nport = 8000\nenv = { API_TOKEN = "s3cret", MODE = "dev" }\n',
    )
    text = dump_resolved(spec, environ=BASE_ENV)
    assert "[services.web]" in text
    assert 'MODE = "dev"' in text
    assert 'PORT = "8000"' in text
    assert "s3cret" not in text and "API_TOKEN" in text
    assert "/usr/bin:/bin" not in text  # inherited PATH not shown
    assert 'tcp = "127.0.0.1:8000"' in text


def test_dump_resolved_shows_setup_and_watch_keys(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        '[services.web]\ncmd = "x"\nsetup = "pnpm install"\nsetup_inputs = ["package.json"]\n'
        'setup_timeout = "10m"\nwatch = ["*.py"]\nwatch_ignore = ["gen"]\n'
        'watch_debounce = "50ms"\nrestart_dependents_on_change = true\n',
    )
    assert spec.services["web"].setup_timeout == 600.0
    text = dump_resolved(spec, environ=BASE_ENV)
    for line in (
        'setup = "pnpm install"',
        'setup_inputs = ["package.json"]',
        'setup_timeout = "600s"',
        'watch = ["*.py"]',
        'watch_ignore = ["gen"]',
        'watch_debounce = "50ms"',
        "restart_dependents_on_change = true",
    ):
        assert line in text.splitlines(), line


def test_json_schema_describes_every_field() -> None:
    schema = json_schema()
    json.dumps(schema)
    service = schema["$defs"]["ServiceModel"]
    assert service["additionalProperties"] is False
    for name, prop in service["properties"].items():
        assert prop.get("description"), name
    assert service["properties"]["stop_timeout"]["type"] == "string"
    assert service["properties"]["stop_timeout"]["default"] == "10s"


@pytest.mark.parametrize("env", ['{ "A=B" = "x" }', '{ "" = "x" }', '{ A = "nul\\u0000" }'])
def test_env_names_and_values_exec_would_refuse(tmp_path: Path, env: str) -> None:
    with pytest.raises(ConfigError, match="NUL"):
        load(tmp_path, f'[services.web]\ncmd = "x"\nenv = {env}\n')


def test_inline_table_key_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            '[services.web]\ncmd = """\nnot = a key\n"""\n'
            'health = { http = "/x", intervl = "1s" }\n',
        )
    (problem,) = info.value.problems
    assert problem.key_path == "services.web.health.intervl"
    assert problem.line == 5


def test_one_expected_status_may_be_written_without_brackets(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """
        [services.api]
        cmd = "python3 -m http.server ${port}"
        port = 5000
        health.http = "/"
        health.expect_status = 204
        """,
    )
    health = stack.services["api"].health
    assert health is not None and health.expect_status == (204,)


# --- split_command: shlex.split, with a fast path for plain commands --------------------


def _shlex_or_error(cmd: str) -> list[str] | str:
    try:
        return shlex.split(cmd)
    except ValueError as exc:
        return f"ValueError: {exc}"


def _split_or_error(cmd: str) -> list[str] | str:
    try:
        return split_command(cmd)
    except ValueError as exc:
        return f"ValueError: {exc}"


@given(st.text(alphabet=st.sampled_from(" \t\r\n\x0b\x0c\xa0abc$:=-'\"\\#é"), max_size=30))
def test_split_command_is_shlex_split(cmd: str) -> None:
    assert _split_or_error(cmd) == _shlex_or_error(cmd)


def test_split_command_plain_commands() -> None:
    assert split_command(" gunicorn api:app\t--bind 127.0.0.1:5000\n") == [
        "gunicorn",
        "api:app",
        "--bind",
        "127.0.0.1:5000",
    ]
    assert split_command("a\x0bb") == ["a\x0bb"]  # shlex's blanks are space, tab, CR, LF only
    assert split_command('echo "a b"') == ["echo", "a b"]
