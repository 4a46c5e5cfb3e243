"""devstack export compose: valid against the Compose Specification schema, values translated."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import free_port, wait_until
from devstack.config.durations import parse_duration
from devstack.export.compose import to_compose
from devstack.export.source import load_source
from devstack.states import Condition, RestartPolicy
from support.demo import copy_demo_stack
from support.exportstacks import flask_celery_redis, next_flask

REPO = Path(__file__).parents[3]
SCHEMA = json.loads((REPO / "tests" / "data" / "compose-spec.json").read_text())


def compose_of(root: Path, toml: str | None = None, environ: dict[str, str] | None = None) -> Any:
    if toml is not None:
        (root / "stack.toml").write_text(textwrap.dedent(toml))
    source = load_source(root / "stack.toml", environ or {"PATH": "/usr/bin:/bin"})
    text = to_compose(source, root)
    data = yaml.safe_load(text)
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    return data


def test_the_schema_file_is_the_compose_spec() -> None:
    assert SCHEMA["title"] == "Compose Specification"
    assert "healthcheck" in SCHEMA["definitions"]
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_the_schema_rejects_what_compose_rejects() -> None:
    # So that "validates" below means something.
    bad = {"services": {"api": {"restart": 5, "depends_on": {"db": {"condition": "healthy"}}}}}
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(bad))
    assert len(errors) == 2


def test_example_stack(tmp_path: Path) -> None:
    copy_demo_stack(tmp_path)
    data = compose_of(tmp_path)
    assert data["name"] == "demo"
    api, web = data["services"]["api"], data["services"]["web"]
    assert api["command"] == ["python3", "api.py"]
    assert api["working_dir"] == "/app/examples/demo"
    assert api["build"] == {"context": ".", "dockerfile": "Dockerfile.api"}
    assert api["ports"] == ["127.0.0.1:5000:5000"]
    assert api["environment"]["PORT"] == "5000"
    assert web["environment"]["API_BASE"] == "http://api:5000"
    assert web["depends_on"] == {"api": {"condition": "service_healthy"}}
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"] and "http://127.0.0.1:5000/health" in test[3]
    assert api["healthcheck"]["interval"] == "5s"
    assert api["restart"] == "on-failure:5"
    assert api["stop_signal"] == "SIGTERM" and api["stop_grace_period"] == "10s"


def test_placeholder_and_probe_comments(tmp_path: Path) -> None:
    copy_demo_stack(tmp_path)
    text = to_compose(load_source(tmp_path / "stack.toml", {}), tmp_path)
    assert text.count("# generated: Dockerfile.") == 2 and "# PLACEHOLDER" not in text
    assert "as a python3 one-liner" in text and '"curl", "-fsS"' in text
    assert "WARNING" not in text


def test_from_a_procfile(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(
        "web: python3 -m http.server ${PORT}\nworker: python3 w.py\n"
    )
    (tmp_path / ".env").write_text("PORT=7000\n")
    source = load_source(tmp_path / "Procfile", {})
    data = yaml.safe_load(to_compose(source, tmp_path))
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    web, worker = data["services"]["web"], data["services"]["worker"]
    assert web["command"] == ["/bin/sh", "-c", "python3 -m http.server $${PORT}"]
    assert web["env_file"] == [".env"] and worker["environment"]["PORT"] == "7100"
    assert "healthcheck" not in web and "depends_on" not in worker


def test_loopback_bind_is_flagged(tmp_path: Path) -> None:
    toml = '[services.s]\ncmd = "python3 -m http.server ${port} --bind 127.0.0.1"\nport = 6010\n'
    (tmp_path / "stack.toml").write_text(toml)
    text = to_compose(load_source(tmp_path / "stack.toml", {}), tmp_path)
    assert "# WARNING: it names 127.0.0.1/localhost" in text


STACK = """\
[services.db]
cmd = "python3 -c 'import time; time.sleep(60)'"
port = 6001
health.cmd = "pg_isready -p ${port}"

[services.migrate]
cmd = ["python3", "migrate.py", "--db", "${services.db.host}:${services.db.port}"]
restart = "no"
depends_on = { db = "healthy" }

[services.api]
cmd = "gunicorn app:app --bind ${host}:${port}"
port = 6002
restart = "always"
stop_signal = "INT"
stop_timeout = "1m30s"
health = { http = "/health", expect_status = [200, 204], interval = "2s" }
depends_on = { migrate = "completed", db = "healthy" }

[services.api.env]
DB = "postgres://${services.db.host}:${services.db.port}/app"
HOME_DIR = "${env:HOME:-/root}"
COST = "$$5"
LITERAL = "$${env:HOME}"
TOKEN = "${env:TOKEN}"

[services.worker]
cmd = "echo $HOME && exec python3 worker.py --api ${services.api.url}"
shell = true
health.log = "ready"
depends_on = ["api"]

[services.front]
cmd = "npx next dev -p ${port}"
port = 6003
depends_on = { worker = "healthy" }
"""


def test_translations(tmp_path: Path) -> None:
    data = compose_of(tmp_path, STACK, {"TOKEN": "s3cret", "PATH": "/bin"})
    svc = data["services"]
    # Addresses become compose names; the service's own host is 0.0.0.0.
    assert svc["migrate"]["command"] == ["python3", "migrate.py", "--db", "db:6001"]
    assert svc["api"]["command"] == ["gunicorn", "app:app", "--bind", "0.0.0.0:6002"]
    env = svc["api"]["environment"]
    assert env["DB"] == "postgres://db:6001/app"
    # ${env:VAR} stays a variable, for compose to fill in; a literal $ is doubled.
    assert env["HOME_DIR"] == "${HOME:-/root}"
    assert env["TOKEN"] == "${TOKEN}"
    assert env["COST"] == "$$5"
    assert env["LITERAL"] == "$${env:HOME}"  # written $${env:HOME}: a literal, left alone
    assert svc["worker"]["command"] == [
        "/bin/sh",
        "-c",
        "echo $$HOME && exec python3 worker.py --api http://api:6002",
    ]
    # Conditions, and "healthy" on a service compose cannot probe becomes "started".
    assert svc["api"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    assert svc["worker"]["depends_on"] == {"api": {"condition": "service_started"}}
    assert svc["front"]["depends_on"] == {"worker": {"condition": "service_started"}}
    assert "healthcheck" not in svc["worker"]
    # Probes.
    assert svc["db"]["healthcheck"]["test"] == ["CMD", "pg_isready", "-p", "6001"]
    api_test = svc["api"]["healthcheck"]["test"]
    assert "{200, 204}" in api_test[3] and svc["api"]["healthcheck"]["interval"] == "2s"
    assert svc["front"]["healthcheck"]["test"][:3] == ["CMD", "node", "-e"]
    # Restart policies and stopping.
    assert svc["migrate"]["restart"] == "no"
    assert svc["api"]["restart"] == "always"
    assert svc["api"]["stop_signal"] == "SIGINT"
    assert svc["api"]["stop_grace_period"] == "90s"


@pytest.mark.parametrize("probe", ["health.tcp = true", 'health.http = "/"'])
def test_probe_programs_run(tmp_path: Path, probe: str) -> None:
    """The python one-liner compose would run: 1 while nothing listens, 0 once served."""
    port = free_port()
    data = compose_of(tmp_path, f'[services.s]\ncmd = "python3 s.py"\nport = {port}\n{probe}\n')
    test = data["services"]["s"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    program = [sys.executable, "-c", test[3].replace("$$", "$")]
    assert subprocess.run(program, timeout=10).returncode == 1
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: subprocess.run(program, timeout=10).returncode == 0, timeout=10)
    finally:
        server.kill()
        server.wait(timeout=5)


# Values YAML 1.1 (PyYAML) or 1.2 would read as something else if written plain.
MISREAD = ["yes", "on", "no", "Off", "y", "1.0", "5000", "0o7", "1:20", ":", "a: b", "#c", "~"]


def test_values_yaml_would_misread_round_trip(tmp_path: Path) -> None:
    env = "\n        ".join(f'V{i} = "{v}"' for i, v in enumerate(MISREAD))
    data = compose_of(
        tmp_path,
        f"""\
        [services.on]
        cmd = ["echo", "yes", "on", "1.0", ":", "${{env:VAR}}", "8080:50"]
        depends_on = ["yes"]

        [services.on.env]
        {env}
        VAR = "${{env:VAR}}"
        ON = "off"
        NEL = "a\\u0085b"

        [services.yes]
        cmd = "python3 -c pass"
        """,
        {"VAR": "set", "PATH": "/usr/bin:/bin"},
    )
    on = data["services"]["on"]
    assert set(data["services"]) == {"on", "yes"}
    assert on["command"] == ["echo", "yes", "on", "1.0", ":", "${VAR}", "8080:50"]
    assert on["depends_on"] == {"yes": {"condition": "service_started"}}
    assert on["environment"] == {
        **{f"V{i}": v for i, v in enumerate(MISREAD)},
        "VAR": "${VAR}",
        "ON": "off",
        "NEL": "a\x85b",
        "PYTHONUNBUFFERED": "1",
    }


def _stacks(root: Path) -> dict[str, Path]:
    """Stacks with every condition, probe kind and restart policy, and rewritten wiring."""
    copy_demo_stack(root / "demo")
    (root / "translations").mkdir()
    (root / "translations" / "stack.toml").write_text(STACK)
    return {
        "demo": root / "demo" / "stack.toml",
        "translations": root / "translations" / "stack.toml",
        "flask-celery-redis": flask_celery_redis(root / "shop"),
        "next-flask": next_flask(root / "nextflask"),
    }


@pytest.mark.parametrize("stack", ["demo", "translations", "flask-celery-redis", "next-flask"])
def test_compose_keeps_what_stack_toml_states(tmp_path: Path, stack: str) -> None:
    """Issue 18 point 4: walk the stack and the compose output side by side."""
    file = _stacks(tmp_path)[stack]
    source = load_source(file, {"TOKEN": "t", "PATH": "/usr/bin:/bin"})
    data = compose_of(file.parent, environ={"TOKEN": "t", "PATH": "/usr/bin:/bin"})
    out = data["services"]
    assert list(out) == list(source.stack.services)
    for name, spec in source.stack.services.items():
        svc = out[name]
        probed = spec.health is not None and spec.health.kind != "log"
        assert ("healthcheck" in svc) == probed, name
        if probed:
            assert spec.health is not None
            check = svc["healthcheck"]
            assert parse_duration(check["interval"]) == spec.health.interval
            assert parse_duration(check["timeout"]) == spec.health.timeout
            assert parse_duration(check["start_period"]) == spec.health.start_period
            assert check["retries"] == spec.health.retries
        expected = {}
        for dep, cond in spec.depends_on.items():
            dep_probed = "healthcheck" in out[dep]
            expected[dep] = {
                Condition.STARTED: "service_started",
                Condition.COMPLETED: "service_completed_successfully",
                Condition.HEALTHY: "service_healthy" if dep_probed else "service_started",
            }[cond]
        got = {dep: c["condition"] for dep, c in svc.get("depends_on", {}).items()}
        assert got == expected, name
        policy = spec.restart.policy
        if policy is RestartPolicy.NO or spec.restart.max_restarts == 0:
            assert svc["restart"] == "no", name
        elif policy is RestartPolicy.ALWAYS:
            assert svc["restart"] == "always", name
        else:
            assert svc["restart"] == f"on-failure:{spec.restart.max_restarts}", name
        assert svc["stop_signal"] == spec.stop_signal.name
        assert parse_duration(svc["stop_grace_period"]) == spec.stop_timeout
