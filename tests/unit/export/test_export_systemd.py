"""devstack export systemd: units that systemd-analyze verify accepts, values translated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import free_port
from devstack.export.source import load_source
from devstack.export.systemd import devstack_command, to_systemd
from support.demo import copy_demo_stack

ANALYZE = shutil.which("systemd-analyze")

STACK = """\
[stack]
name = "shop 100%"
env_file = ".env"

[services.db]
cmd = ["python3", "-c", "import time; time.sleep(60)"]
port = 7101

[services.migrate]
cmd = "python3 -c 'print(1)'"
restart = "always"
depends_on = { db = "healthy" }

[services.api]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1"
port = 7102
stop_signal = "INT"
stop_timeout = "3s"
backoff = "2s"
max_restarts = 2
depends_on = { migrate = "completed", db = "healthy" }
env = { GREETING = "it's \\"50%\\" off\\\\", PRICE = "$5" }

[services.sh]
cmd = "echo $HOME; sleep 60"
shell = true
restart = "no"
depends_on = ["api"]
"""


def units_of(
    root: Path, toml: str | None = None, devstack: list[str] | None = None
) -> dict[str, str]:
    if toml is not None:
        (root / "stack.toml").write_text(textwrap.dedent(toml))
    source = load_source(root / "stack.toml", {"PATH": os.environ["PATH"]})
    return to_systemd(source, devstack or ["/usr/local/bin/devstack"])


def lines(unit: str) -> list[str]:
    return unit.splitlines()


def test_units_and_target(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\n")
    units = units_of(tmp_path, STACK)
    assert sorted(units) == [
        "shop-100-api.service",
        "shop-100-db.service",
        "shop-100-migrate.service",
        "shop-100-sh.service",
        "shop-100.target",
    ]
    target = lines(units["shop-100.target"])
    assert "Description=devstack stack shop 100%%" in target
    assert (
        "Wants=shop-100-db.service shop-100-migrate.service shop-100-api.service "
        "shop-100-sh.service" in target
    )
    api = lines(units["shop-100-api.service"])
    assert "After=shop-100-migrate.service shop-100-db.service" in api
    assert "Requires=shop-100-migrate.service shop-100-db.service" in api
    assert "PartOf=shop-100.target" in api and "WantedBy=shop-100.target" in api
    assert f"WorkingDirectory={tmp_path.resolve()}" in api
    assert f"EnvironmentFile={(tmp_path / '.env').resolve()}" in api
    assert 'Environment="GREETING=it\'s \\"50%%\\" off\\\\"' in api
    assert 'Environment="PRICE=$5"' in api and "Environment=PORT=7102" in api
    assert (
        f"ExecStartPre=/usr/local/bin/devstack check -f {(tmp_path / 'stack.toml').resolve()} api"
        in api
    )
    python = shutil.which("python3")
    assert f"ExecStart={python} -m http.server 7102 --bind 127.0.0.1" in api
    assert "KillMode=mixed" in api and "KillSignal=SIGINT" in api
    assert "TimeoutStopSec=3s" in api and "Restart=on-failure" in api
    assert "RestartSec=2s" in api and "StartLimitBurst=3" in api


def test_dependency_conditions(tmp_path: Path) -> None:
    units = units_of(tmp_path, STACK.replace('env_file = ".env"', ""))
    db = lines(units["shop-100-db.service"])
    # Waited on for "healthy": started only once its port answers.
    post = [x for x in db if x.startswith("ExecStartPost=")]
    assert len(post) == 1 and "create_connection" in post[0] and "7101" in post[0]
    # Waited on for "completed": a oneshot, so After= waits for its exit.
    migrate = lines(units["shop-100-migrate.service"])
    assert "Type=oneshot" in migrate and "Restart=on-failure" in migrate
    sh = lines(units["shop-100-sh.service"])
    assert "Type=exec" in sh and "Restart=no" in sh
    assert not any(x.startswith("ExecStartPost=") for x in sh)
    assert 'ExecStart=/bin/sh -c "echo $$HOME; sleep 60"' in sh


REPLICAS = """\
[services.api]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1"
port = 7200
replicas = 2

[services.queue]
cmd = ["python3", "-c", "import time; time.sleep(60)"]
replicas = 2
depends_on = { api = "healthy" }
"""


def verify(directory: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{directory}:", "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [ANALYZE, "verify", *sorted(str(p) for p in directory.iterdir())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(units: dict[str, str], directory: Path) -> Path:
    directory.mkdir()
    for name, text in units.items():
        (directory / name).write_text(text)
    return directory


def problems(done: subprocess.CompletedProcess[str], directory: Path) -> list[str]:
    """What systemd-analyze said about our units (it exits 0 on mere warnings)."""
    return [
        x
        for x in (done.stdout + done.stderr).splitlines()
        if str(directory) in x or ".service" in x or ".target" in x
    ]


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("which", ["example", "translations", "procfile", "replicas"])
def test_systemd_analyze_verify(tmp_path: Path, which: str) -> None:
    toml = None if which == "example" else STACK
    if which == "procfile":
        (tmp_path / "Procfile").write_text(
            "web: python3 -m http.server $PORT\nclock: date; sleep 1\n"
        )
        source = load_source(tmp_path / "Procfile", {"PATH": os.environ["PATH"]})
        units = to_systemd(source, devstack_command())
        assert 'ExecStart=/bin/sh -c "date; sleep 1"' in units[f"{tmp_path.name}-clock.service"]
    elif which == "example":
        copy_demo_stack(tmp_path)
    elif which == "replicas":  # a template unit (worker@.service) and a unit per copy
        toml = REPLICAS
    else:
        (tmp_path / ".env").write_text("A=1\n")
    if which != "procfile":
        units = units_of(tmp_path, toml, devstack_command())  # this devstack: it must exist
    out = write(units, tmp_path / "units")
    done = verify(out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert problems(done, out) == []


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: an unknown key and a missing program are reported."""
    copy_demo_stack(tmp_path)
    units = units_of(tmp_path)
    units["demo-api.service"] = units["demo-api.service"].replace(
        "KillMode=mixed", "KillMode=mixed\nBogusKey=1"
    )
    out = write(units, tmp_path / "units")
    assert any("BogusKey" in line for line in problems(verify(out), out))


def systemd_words(line: str) -> list[str]:
    """Split an Exec line's value as systemd does for what we write: plain words, or
    double-quoted ones with C escapes; then $$ -> $ and %% -> %."""
    words, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            i += 1
            word = []
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                    word.append({"n": "\n", "t": "\t"}.get(line[i], line[i]))
                else:
                    word.append(line[i])
                i += 1
            i += 1
            words.append("".join(word))
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            words.append(line[i:end])
            i = end
    return [w.replace("$$", "$").replace("%%", "%") for w in words]


def test_exec_start_post_waits_for_the_port(tmp_path: Path) -> None:
    """The health wait systemd runs after a start: blocks while nothing listens, returns
    once the port answers (run from the unit text, quoting undone as systemd does)."""
    port = free_port()
    units = units_of(
        tmp_path,
        f"""\
        [services.db]
        cmd = "python3 -m http.server {port} --bind 127.0.0.1"
        port = {port}
        health.http = "/"

        [services.app]
        cmd = "python3 app.py"
        depends_on = {{ db = "healthy" }}
        """,
    )
    (line,) = [x for x in lines(units[f"{tmp_path.name}-db.service"]) if "ExecStartPost=" in x]
    argv = systemd_words(line.removeprefix("ExecStartPost="))
    assert argv[1] == "-c" and f"http://127.0.0.1:{port}/" in argv[2]
    waiter = subprocess.Popen([sys.executable, "-c", argv[2]])
    server = None
    try:
        time.sleep(0.5)  # it must still be waiting: nothing listens yet
        assert waiter.poll() is None
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert waiter.wait(timeout=15) == 0
    finally:
        for proc in (waiter, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def test_stop_mode_picks_the_kill_mode(tmp_path: Path) -> None:
    """stop_mode "main" is systemd's KillMode=mixed; "group" signals the whole cgroup."""
    units = units_of(
        tmp_path,
        """
        [stack]
        name = "modes"
        [services.api]
        cmd = "python3 -m http.server 7110 --bind 127.0.0.1"
        [services.worker]
        cmd = "python3 -m http.server 7111 --bind 127.0.0.1"
        stop_mode = "group"
        """,
    )
    assert "KillMode=mixed" in lines(units["modes-api.service"])
    assert "KillMode=control-group" in lines(units["modes-worker.service"])
