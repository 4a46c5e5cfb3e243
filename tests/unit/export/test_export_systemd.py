"""devstack export systemd: units that systemd-analyze verify accepts, values translated;
user units by default, system units with User=; no path of devstack's own install."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import free_port
from devstack.export.source import load_source
from devstack.export.systemd import install_steps, notes, to_systemd
from support.demo import copy_demo_stack

REPO = Path(__file__).parents[3]
ANALYZE = shutil.which("systemd-analyze")
# .ci/run installs systemd (for systemd-analyze) where it is missing: skip only outside CI.
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and not os.environ.get("CI"), reason="systemd-analyze is not installed"
)

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
    root: Path, toml: str | None = None, system_user: str | None = None, path: str | None = None
) -> dict[str, str]:
    if toml is not None:
        (root / "stack.toml").write_text(textwrap.dedent(toml))
    source = load_source(root / "stack.toml", {"PATH": path or os.environ["PATH"]})
    return to_systemd(source, system_user)


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
    assert "WantedBy=default.target" in target  # a user unit: started with the user's manager
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
    # devstack need not be installed where the units run: its check is advice only.
    assert not any(x.startswith("ExecStartPre=") for x in api)
    assert (
        f"`devstack check -f {(tmp_path / 'stack.toml').resolve()} api`"
        in units["shop-100-api.service"]
    )
    python = shutil.which("python3")
    assert f"ExecStart={python} -m http.server 7102 --bind 127.0.0.1" in api
    assert "KillMode=mixed" in api and "KillSignal=SIGINT" in api
    assert "TimeoutStopSec=3s" in api and "Restart=on-failure" in api
    assert "RestartSec=2s" in api and "StartLimitBurst=3" in api
    assert "SyslogIdentifier=api" in api  # journald: lines tagged with the service's name


def test_dependency_conditions(tmp_path: Path) -> None:
    units = units_of(tmp_path, STACK.replace('env_file = ".env"', ""))
    db = lines(units["shop-100-db.service"])
    # Waited on for "healthy": started only once its port answers.
    post = [x for x in db if x.startswith("ExecStartPost=")]
    assert len(post) == 1 and "/dev/tcp/" in post[0] and "127.0.0.1 7101" in post[0]
    # Waited on for "completed": a oneshot, so After= waits for its exit; it stays
    # active, so restarting a dependent does not run it again.
    migrate = lines(units["shop-100-migrate.service"])
    assert "Type=oneshot" in migrate and "Restart=on-failure" in migrate
    assert "RemainAfterExit=yes" in migrate
    assert "RemainAfterExit=yes" not in db
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


def verify(directory: Path, *, user: bool = True) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` without a running systemd: the units' directory first on
    the search path; --user needs a runtime directory (it refuses to start without one)."""
    assert ANALYZE is not None, "systemd-analyze is missing: .ci/run installs it (apt: systemd)"
    runtime = directory.parent / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        **os.environ,
        "SYSTEMD_UNIT_PATH": f"{directory}:",
        "SYSTEMD_LOG_COLOR": "0",
        "XDG_RUNTIME_DIR": str(runtime),
    }
    mode = ["--user"] if user else []
    files = sorted(str(p) for p in directory.iterdir())
    return subprocess.run(
        [ANALYZE, "verify", *mode, "--man=no", "--generators=no", *files],
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


PROBES = """\
[stack]
name = "probes"

[services.cache]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1"
port = 7121
health.tcp = "127.0.0.1:${port}"

[services.db]
cmd = ["python3", "-m", "http.server", "7122"]
health.cmd = "python3 -c 'print(1)'"
stop_mode = "group"

[services.search]
shell = true
cmd = "cd . && exec python3 -m http.server 7123"
health = { log = "Serving HTTP" }

[services.migrate]
cmd = "python3 -c 'print(1)'"
depends_on = { db = "healthy", cache = "healthy" }

[services.api]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1"
port = 7124
health.http = "/health"
health.expect_status = [200, 204]
depends_on = { migrate = "completed", cache = "healthy", search = "healthy" }

[services.web]
cmd = "python3 -m http.server ${port}"
port = 7125
depends_on = { api = "healthy" }
"""


def botexcel_stack(root: Path) -> None:
    """The repo's example (the botexcel stack.toml) after its setup steps: the backend's
    venv with its gunicorn (a stand-in script: verify only needs it executable)."""
    (root / "stack.toml").write_text((REPO / "stack.toml").read_text())
    backend = root / "examples" / "botexcel" / "backend"
    (backend / ".venv" / "bin").mkdir(parents=True)
    (backend / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    gunicorn = backend / ".venv" / "bin" / "gunicorn"
    gunicorn.write_text("#!/bin/sh\nexit 0\n")
    gunicorn.chmod(0o755)
    (root / "examples" / "botexcel" / "botexcel-landing").mkdir(parents=True)


def stack_units(tmp_path: Path, which: str, system_user: str | None) -> dict[str, str]:
    if which == "procfile":
        (tmp_path / "Procfile").write_text(
            "web: python3 -m http.server $PORT\nclock: date; sleep 1\n"
        )
        source = load_source(tmp_path / "Procfile", {"PATH": os.environ["PATH"]})
        units = to_systemd(source, system_user)
        assert 'ExecStart=/bin/sh -c "date; sleep 1"' in units[f"{tmp_path.name}-clock.service"]
        return units
    if which == "example":
        copy_demo_stack(tmp_path)
        return units_of(tmp_path, None, system_user)
    if which == "botexcel":
        botexcel_stack(tmp_path)
        return units_of(tmp_path, None, system_user)
    if which == "replicas":  # a template unit (worker@.service) and a unit per copy
        return units_of(tmp_path, REPLICAS, system_user)
    (tmp_path / ".env").write_text("A=1\n")
    return units_of(tmp_path, STACK if which == "translations" else PROBES, system_user)


@needs_analyze
@pytest.mark.parametrize("mode", ["user", "system"])
@pytest.mark.parametrize(
    "which", ["example", "botexcel", "translations", "probes", "procfile", "replicas"]
)
def test_systemd_analyze_verify(tmp_path: Path, which: str, mode: str) -> None:
    system_user = pwd.getpwuid(os.geteuid()).pw_name if mode == "system" else None
    units = stack_units(tmp_path, which, system_user)
    out = write(units, tmp_path / "units")
    done = verify(out, user=mode == "user")
    assert done.returncode == 0, done.stdout + done.stderr
    assert problems(done, out) == []


@needs_analyze
@pytest.mark.parametrize("mode", ["user", "system"])
def test_verify_catches_a_broken_unit(tmp_path: Path, mode: str) -> None:
    """The check above can fail: an unknown key and a missing program are reported."""
    copy_demo_stack(tmp_path)
    units = units_of(tmp_path)
    units["demo-api.service"] = units["demo-api.service"].replace(
        "KillMode=mixed", "KillMode=mixed\nBogusKey=1"
    )
    units["demo-web.service"] = units["demo-web.service"].replace(
        "ExecStart=", "ExecStart=/no/such/program "
    )
    out = write(units, tmp_path / "units")
    said = problems(verify(out, user=mode == "user"), out)
    assert any("BogusKey" in line for line in said), said
    assert any("/no/such/program" in line for line in said), said


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


def start_waiter(units: dict[str, str], unit: str, cwd: Path) -> subprocess.Popen[bytes]:
    """Run a unit's ExecStartPost= as systemd would (quoting undone, in its WorkingDirectory)."""
    (line,) = [x for x in lines(units[unit]) if x.startswith("ExecStartPost=")]
    argv = systemd_words(line.removeprefix("ExecStartPost="))
    assert argv[:2] == ["/bin/bash", "-c"]
    return subprocess.Popen(argv, cwd=cwd, start_new_session=True)


def still_waiting(waiter: subprocess.Popen[bytes]) -> bool:
    try:
        waiter.wait(timeout=0.8)
    except subprocess.TimeoutExpired:
        return True
    return False


def stop(*procs: subprocess.Popen[bytes] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, 9)  # the waiter's bash, timeout and sleep with it
        if proc is not None:
            proc.wait(timeout=5)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["http", "tcp"])
def test_exec_start_post_waits_for_the_probe(tmp_path: Path, kind: str) -> None:
    """The health wait systemd runs after a start (bash, no python): blocks while nothing
    listens; for http also while the answer is a 404; returns once the probe passes."""
    port = free_port()
    health = 'health.http = "/ready.txt"' if kind == "http" else 'health.tcp = "0.0.0.0:${port}"'
    units = units_of(
        tmp_path,
        f"""\
        [services.db]
        cmd = "python3 -m http.server {port} --bind 127.0.0.1"
        port = {port}
        {health}

        [services.app]
        cmd = "python3 app.py"
        depends_on = {{ db = "healthy" }}
        """,
    )
    waiter = start_waiter(units, f"{tmp_path.name}-db.service", tmp_path)
    server = None
    try:
        assert still_waiting(waiter)  # nothing listens yet
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if kind == "http":
            wait_until(lambda: listening(port))
            assert still_waiting(waiter)  # 404: not healthy
            (tmp_path / "ready.txt").write_text("ok\n")
        assert waiter.wait(timeout=15) == 0
    finally:
        stop(waiter, server)


def waited_on(tmp_path: Path, health: str) -> dict[str, str]:
    """Units of a stack whose app waits for db (with this probe) to be healthy."""
    return units_of(
        tmp_path,
        f"""\
        [services.db]
        cmd = "python3 -m http.server 7131 --bind 127.0.0.1"
        {health}

        [services.app]
        cmd = "python3 app.py"
        depends_on = {{ db = "healthy" }}
        """,
    )


def test_exec_start_post_runs_the_cmd_probe(tmp_path: Path) -> None:
    """A cmd probe is polled as written (its program resolved), in the service's directory."""
    units = waited_on(tmp_path, 'health.cmd = "test -f ready"')
    unit = units[f"{tmp_path.name}-db.service"]
    assert f"probe {shutil.which('test')} -f ready" in unit
    waiter = start_waiter(units, f"{tmp_path.name}-db.service", tmp_path)
    try:
        assert still_waiting(waiter)
        (tmp_path / "ready").write_text("")
        assert waiter.wait(timeout=15) == 0
    finally:
        stop(waiter)


def test_an_https_probe_waits_with_curl_and_says_so(tmp_path: Path) -> None:
    units = waited_on(tmp_path, 'health.http = "https://127.0.0.1:7151/ready?x=1"')
    db = lines(units[f"{tmp_path.name}-db.service"])
    assert "# (needs curl)" in db
    (post,) = [x for x in db if x.startswith("ExecStartPost=")]
    argv = systemd_words(post.removeprefix("ExecStartPost="))
    assert argv[-1] == "https://127.0.0.1:7151/ready?x=1" and "curl -sk" in argv[-3]


def test_no_path_of_devstacks_install_in_any_unit(tmp_path: Path) -> None:
    """Regression: units named devstack's own venv (ExecStartPre=.venv/bin/devstack check,
    ExecStartPost=.venv/bin/python -c PROBE), which is not where the units run. Even with
    devstack's venv first on PATH (activated), the services' programs come from elsewhere."""
    path = os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ["PATH"]])
    for system_user in (None, "alice"):
        units = units_of(tmp_path, PROBES, system_user, path=path)
        for name, text in units.items():
            assert sys.prefix not in text, name
            assert sys.executable not in text, name
            assert "ExecStartPre=" not in text, name
        api = lines(units["probes-api.service"])
        assert f"ExecStart={shutil.which('python3')} -m http.server 7124 --bind 127.0.0.1" in api


def test_user_units_by_default_system_units_with_user(tmp_path: Path) -> None:
    """User units: no User= (they run as the user whose manager starts them), the target
    wanted by default.target; system units: User= on every service, multi-user.target."""
    user = units_of(tmp_path, PROBES)
    system = units_of(tmp_path, PROBES, "alice")
    for name in user:
        assert not any(x.startswith("User=") for x in lines(user[name])), name
        assert ("User=alice" in lines(system[name])) == name.endswith(".service"), name
        assert "(user unit)" in user[name] and "(system unit, runs as alice)" in system[name]
    assert "WantedBy=default.target" in lines(user["probes.target"])
    assert "WantedBy=multi-user.target" in lines(system["probes.target"])
    # The install steps: in the target's header, the same as the CLI prints.
    steps = install_steps("probes", "DIR", system=False)
    assert steps[0] == (
        "mkdir -p ~/.config/systemd/user && cp DIR/*.service DIR/*.target "
        "~/.config/systemd/user/ && systemctl --user daemon-reload "
        "&& systemctl --user start probes.target"
    )
    assert "loginctl enable-linger" in steps[1]
    assert not any("sudo" in x for x in steps)
    assert all(f"#   {x}" in user["probes.target"] for x in steps)
    system_steps = install_steps("probes", "DIR", system=True)
    assert system_steps[0].startswith("sudo cp DIR/*.service DIR/*.target /etc/systemd/system/")
    assert all(f"#   {x}" in system["probes.target"] for x in system_steps)


def test_the_env_table_wins_over_the_env_files_as_under_devstack(tmp_path: Path) -> None:
    """Regression (field trial, a Flask + Celery + Redis Procfile app): .env's
    REDIS_URL=redis://localhost:6379/0 beat stack.toml's env in the unit, since systemd
    lets EnvironmentFile= override Environment= (systemd.exec(5)). Run as systemd would
    (Environment=, then the file over it), the service must see stack.toml's value."""
    (tmp_path / ".env").write_text("REDIS_URL=redis://localhost:6379/0\nSECRET=s3\nPORT=1\n")
    (tmp_path / "show.py").write_text(
        "import os\nprint(*map(os.environ.get, ['REDIS_URL', 'SECRET', 'PORT']))\n"
    )
    units = units_of(
        tmp_path,
        """\
        [stack]
        name = "kc"
        env_file = ".env"
        [services.web]
        cmd = "python3 show.py"
        port = 7141
        env = { REDIS_URL = "redis://127.0.0.1:6390/0" }
        """,
    )
    unit = lines(units["kc-web.service"])
    env: dict[str, str] = {"PATH": os.environ["PATH"]}
    for line in unit:
        if line.startswith("Environment="):
            key, _, value = systemd_words(line.removeprefix("Environment="))[0].partition("=")
            env[key] = value
    env.update({"REDIS_URL": "redis://localhost:6379/0", "SECRET": "s3", "PORT": "1"})  # the file
    (start,) = [x for x in unit if x.startswith("ExecStart=")]
    argv = systemd_words(start.removeprefix("ExecStart="))
    done = subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.split() == ["redis://127.0.0.1:6390/0", "s3", "7141"]
    assert "s3" not in "\n".join(unit)  # the file's secrets stay in the file


def test_log_probe_and_setup_are_left_to_the_user(tmp_path: Path) -> None:
    """A log probe has no systemd form, a setup step is not run by a unit, a program not
    found is written bare: each said in the unit and in the notes the CLI prints."""
    toml = PROBES.replace(
        'cmd = "python3 -m http.server ${port}"\n',
        'cmd = "no-such-server-for-devstack"\nsetup = "make deps"\n',
    )
    units = units_of(tmp_path, toml)
    search = units["probes-search.service"]
    assert "ExecStartPost=" not in search and "health.log has no systemd form" in search
    assert (
        "# Setup, not run here (run it once before the first start): make deps"
        in (units["probes-web.service"])
    )
    source = load_source(tmp_path / "stack.toml", {"PATH": os.environ["PATH"]})
    said = notes(source)
    assert any(x.startswith("web: setup not run by the unit") for x in said), said
    assert any(x.startswith("web: `no-such-server-for-devstack` not found") for x in said), said
    assert any(x.startswith("search: its log probe has no systemd form") for x in said), said


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


def test_system_units_note_a_user_that_cannot_enter_the_project(tmp_path: Path) -> None:
    """--run-as a user the project's directories shut out: the unit would fail with
    status=200/CHDIR at every start; said at export, with the directory and its mode."""
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this machine")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "stack.toml").write_text('[services.api]\ncmd = "python3 -m http.server 7161"\n')
    source = load_source(private / "stack.toml", {"PATH": os.environ["PATH"]})
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert [x for x in notes(source, me) if "cannot enter" in x] == []
    (said,) = [x for x in notes(source, "nobody") if "cannot enter" in x]
    assert said.startswith("api: nobody cannot enter /") and "(mode 0700)" in said
    assert notes(source, "no-such-user-for-devstack")[0].startswith(
        "user no-such-user-for-devstack does not exist here"
    )


def test_a_dev_server_in_a_unit_is_said_on_stderr_and_in_the_unit(tmp_path: Path) -> None:
    # Field trial (digitros/nextjs-fastapi): `export systemd` wrote `npm run next-dev` and
    # `uvicorn --reload` into units and said nothing; only `export --check systemd` did.
    (tmp_path / "package.json").write_text('{"scripts": {"next-dev": "next dev"}}')
    next_dev = '[services.next]\ncmd = "npm run next-dev -- --port ${port}"\nport = 3000\n'
    api = 'cmd = "python3 -m uvicorn api.index:app --reload --port ${port}"\nport = 8000\n'
    (tmp_path / "stack.toml").write_text(f"{next_dev}[services.api]\n{api}")
    source = load_source(tmp_path / "stack.toml", {"PATH": os.environ["PATH"]})
    said = [x for x in notes(source) if "development server" in x]
    assert said == [
        "next: `next dev` is a development server, run as written; for production: "
        "next build, then next start",
        "api: `uvicorn --reload` is a development server, run as written; for production: "
        "uvicorn without --reload (--workers N)",
    ]
    units = to_systemd(source)
    [api] = [text for name, text in units.items() if name.endswith("-api.service")]
    assert "# `uvicorn --reload` is a development server, run as written" in api
