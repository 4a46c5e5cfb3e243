"""devstack init / export / schema end to end: real commands, real processes, tmp dirs.

Round trips: three Procfiles in honcho's and foreman's documentation style (web +
worker + clock) -> ``devstack init`` -> ``devstack up`` starts them; the example
stack -> ``export procfile`` -> runs as a Procfile -> ``init`` -> runs again.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import free_port
from support.demo import copy_demo_stack
from support.stackrun import RunningStack, run_devstack

REPO = Path(__file__).parents[2]
WORKER = (
    "import os, time\nprint('worker up', os.environ.get('API_URL', '-'), flush=True)\n"
    "while True: time.sleep(1)\n"
)
CLOCK = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(1)\n"

PROCFILES = {
    # honcho's README: one line per process type, $PORT for the web one.
    "honcho": """\
        web: python3 -m http.server $PORT --bind 127.0.0.1
        worker: python3 worker.py
        clock: python3 clock.py
        """,
    # foreman's docs: a directory change and env assignments on the line.
    "foreman": """\
        # Procfile
        web: cd public && exec python3 -m http.server ${PORT} --bind 127.0.0.1
        worker: QUEUE=default API_URL=http://localhost:{port}/jobs exec python3 worker.py
        clock: python3 clock.py
        """,
    # Heroku style: a shell loop for the clock, .env for the base port.
    "heroku": """\
        web: python3 -m http.server --bind 127.0.0.1 $PORT
        worker: API_URL=http://127.0.0.1:{port} python3 worker.py
        clock: while true; do echo tick; sleep 1; done
        """,
}


def before(output: str, first: tuple[str, str], then: tuple[str, str]) -> bool:
    """``first`` (service, event) was printed before ``then``."""

    def at(name: str, event: str) -> int:
        found = re.search(rf"^{name}\s+\* \[{event}\]", output, re.MULTILINE)
        assert found, f"no [{event}] for {name}:\n{output}"
        return found.start()

    return at(*first) < at(*then)


def project(root: Path, style: str, port: int) -> None:
    (root / "Procfile").write_text(textwrap.dedent(PROCFILES[style]).replace("{port}", str(port)))
    (root / ".env").write_text(f"PORT={port}\n")
    (root / "worker.py").write_text(WORKER)
    (root / "clock.py").write_text(CLOCK)
    (root / "public").mkdir()


@pytest.mark.parametrize("style", sorted(PROCFILES))
def test_init_then_up(tmp_path: Path, style: str) -> None:
    port = free_port()
    project(tmp_path, style, port)
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert f"web: port {port}" in done.stdout
    text = (tmp_path / "stack.toml").read_text()
    assert "# Procfile line" in text and 'env_file = ".env"' in text
    if style != "honcho":
        assert 'depends_on = { web = "healthy" }' in text
    with RunningStack(tmp_path) as stack:
        stack.wait_for(rf"^web\s+\* \[healthy\] .*127\.0\.0\.1:{port}")
        found = stack.wait_for(r"^worker\s+\| worker up (\S+)")
        stack.wait_for(r"^clock\s+\| tick")
        if style != "honcho":  # the URL became ${services.web.url}, and web was healthy first
            assert found.group(1).startswith(f"http://127.0.0.1:{port}")
            assert before(stack.output(), ("web", "healthy"), ("worker", "start"))
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    project(tmp_path, "honcho", free_port())
    (tmp_path / "stack.toml").write_text("# mine\n")
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 2
    assert "already exists" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "stack.toml").read_text() == "# mine\n"
    assert run_devstack(tmp_path, "init", "--force").returncode == 0
    assert "# Procfile line 1" in (tmp_path / "stack.toml").read_text()


def test_init_elsewhere_and_missing_procfile(tmp_path: Path) -> None:
    project(tmp_path, "foreman", free_port())
    done = run_devstack(tmp_path, "init", "-f", "deploy/dev.toml")
    assert done.returncode == 0, done.stderr
    data = (tmp_path / "deploy" / "dev.toml").read_text()
    assert 'cwd = "../public"' in data and 'env_file = "../.env"' in data
    assert run_devstack(tmp_path, "config", "-f", "deploy/dev.toml").returncode == 0
    missing = run_devstack(tmp_path / "public", "init")
    assert missing.returncode == 2 and "no Procfile" in missing.stderr


@pytest.mark.parametrize("command", [("init",), ("up",), ("export", "compose")])
def test_a_bad_procfile_line_is_reported_with_its_number(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "Procfile").write_text(
        "web: python3 -m http.server\n\n# ok\nthis is not a process\n"
    )
    done = run_devstack(tmp_path, *command)
    assert done.returncode == 2
    assert re.search(r"Procfile:4: cannot read this line: 'this is not a process'", done.stderr)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "stack.toml").exists()


def example(root: Path) -> tuple[int, int]:
    """The repo's example stack in ``root``, on free ports."""
    api, web = free_port(), free_port()
    copy_demo_stack(root, {5000: api, 5100: web})
    return api, web


def test_example_round_trip_through_a_procfile(tmp_path: Path) -> None:
    api, web = example(tmp_path)
    done = run_devstack(tmp_path, "export", "procfile")
    assert done.returncode == 0, done.stderr
    assert "a Procfile cannot express" in done.stderr and "health probes" in done.stderr
    (tmp_path / "stack.toml").unlink()
    with RunningStack(tmp_path) as stack:  # the Procfile alone, as honcho would run it
        stack.wait_for(rf"^api\s+\| api listening on http://127.0.0.1:{api}")
        stack.wait_for(
            rf"^web\s+\| web listening on http://127.0.0.1:{web} \(api at http://127.0.0.1:{api}\)"
        )
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    with RunningStack(tmp_path) as stack:  # and back to a stack.toml
        stack.wait_for(rf"^web\s+\* \[healthy\] .*127\.0\.0\.1:{web}")
        assert before(stack.output(), ("api", "healthy"), ("web", "start"))
        stack.signal(signal.SIGINT)
        assert stack.wait() == 130


def test_export_commands_write_files(tmp_path: Path) -> None:
    example(tmp_path)
    schema = json.loads((REPO / "tests" / "data" / "compose-spec.json").read_text())
    done = run_devstack(tmp_path, "export", "compose")
    assert done.returncode == 0, done.stderr
    compose = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)
    # Its own output is replaced without asking; a hand-written file is not.
    assert run_devstack(tmp_path, "export", "compose").returncode == 0
    (tmp_path / "Procfile").write_text("web: mine\n")
    refused = run_devstack(tmp_path, "export", "procfile")
    assert refused.returncode == 2 and "not written by devstack export" in refused.stderr
    assert (tmp_path / "Procfile").read_text() == "web: mine\n"
    assert run_devstack(tmp_path, "export", "procfile", "--force").returncode == 0
    stdout = run_devstack(tmp_path, "export", "procfile", "-o", "-")
    assert stdout.stdout.startswith("# Written by `devstack export procfile`")
    units = run_devstack(tmp_path, "export", "systemd", "-o", "units")
    assert units.returncode == 0, units.stderr
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == [
        "demo-api.service",
        "demo-web.service",
        "demo.target",
    ]
    assert "systemctl --user start demo.target" in units.stderr


def test_export_systemd_user_units_by_default_system_units_on_request(tmp_path: Path) -> None:
    """No sudo for the default (user units); --system writes User=, never root unnamed."""
    example(tmp_path)
    units = run_devstack(tmp_path, "export", "systemd", "-o", "units")
    assert units.returncode == 0, units.stderr
    assert (
        "sudo" not in units.stderr
        and "User=" not in (tmp_path / "units/demo-api.service").read_text()
    )
    assert (
        f"cp {tmp_path}/units/*.service {tmp_path}/units/*.target ~/.config/systemd/user/"
        in units.stderr
    )
    assert "loginctl enable-linger" in units.stderr
    named = run_devstack(
        tmp_path, "export", "systemd", "-o", "sys", "--system", "--run-as", "alice"
    )
    assert named.returncode == 0, named.stderr
    assert "User=alice" in (tmp_path / "sys/demo-api.service").read_text().splitlines()
    assert f"sudo cp {tmp_path}/sys/*.service {tmp_path}/sys/*.target /etc/systemd/system/" in (
        named.stderr
    )
    # Unnamed: the invoking user (under sudo, the one who ran sudo); root refused.
    plain = run_devstack(
        tmp_path, "export", "systemd", "-o", "me", "--system", env={"SUDO_USER": ""}
    )
    if os.geteuid() == 0:
        assert plain.returncode == 2, plain.stderr
        assert "system units would run as root" in plain.stderr and "--run-as NAME" in plain.stderr
        assert not (tmp_path / "me").exists()
        by_sudo = run_devstack(
            tmp_path, "export", "systemd", "-o", "me", "--system", env={"SUDO_USER": "bob"}
        )
        assert by_sudo.returncode == 0, by_sudo.stderr
        assert "User=bob" in (tmp_path / "me/demo-api.service").read_text().splitlines()
    else:
        assert plain.returncode == 0, plain.stderr
        me = pwd.getpwuid(os.geteuid()).pw_name
        assert f"User={me}" in (tmp_path / "me/demo-api.service").read_text().splitlines()
    wrong = run_devstack(tmp_path, "export", "systemd", "-o", "x", "--run-as", "alice")
    assert wrong.returncode == 2 and "--run-as is for system units" in wrong.stderr


def test_schema_matches_the_committed_file() -> None:
    done = run_devstack(REPO, "schema")
    assert done.returncode == 0
    committed = json.loads((REPO / "stack.schema.json").read_text())
    assert json.loads(done.stdout) == committed, (
        "stack.schema.json is stale: devstack schema > stack.schema.json"
    )
