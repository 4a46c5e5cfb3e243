"""stack.local.toml, ``-f`` layers and ``include`` end to end (issue 16, points 2 and 3):
the real CLI and real HTTP processes that answer with their environment and working
directory, so the merged values are seen where they matter, in the process."""

from __future__ import annotations

import json
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

from conftest import free_port, program
from support.stackrun import RunningStack, run_devstack

PY = sys.executable
ENV_HTTP = program("env_http")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        data: dict[str, Any] = json.loads(reply.read())
    return data


def is_listening(port: int) -> bool:
    try:
        get(f"http://127.0.0.1:{port}/")
    except OSError:
        return False
    return True


def restart_needed(root: Path) -> list[str]:
    """The services ``ps`` says run with a config that changed since they started."""
    done = run_devstack(root, "ps", "--json")
    assert done.returncode == 0, done.stderr
    return [r["name"] for r in json.loads(done.stdout)["services"] if r["restart_needed"]]


def env_service(name: str, port: int, *variables: str, extra: str = "") -> str:
    cmd = " ".join([PY, ENV_HTTP, "PORT", *variables])
    return f'[services.{name}]\ncmd = "{cmd}"\nport = {port}\nhealth.http = "/"\n{extra}\n'


def test_stack_local_toml_changes_an_env_var_and_the_port_the_process_gets(
    tmp_path: Path,
) -> None:
    base, local = free_port(), free_port()
    write(
        tmp_path / "stack.toml",
        env_service("web", base, "GREETING", extra='env = { GREETING = "from stack.toml" }'),
    )
    write(
        tmp_path / "stack.local.toml",
        f'[services.web]\nport = {local}\nenv.GREETING = "from stack.local.toml"\n',
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web .*\[healthy\]", timeout=60)
        got = get(f"http://127.0.0.1:{local}/")
        assert got["env"] == {"PORT": str(local), "GREETING": "from stack.local.toml"}
        assert not is_listening(base)
        # stack.local.toml removed (or made) while the stack runs: a config change.
        assert restart_needed(tmp_path) == []
        (tmp_path / "stack.local.toml").unlink()
        assert restart_needed(tmp_path) == ["web"]
        run_devstack(tmp_path, "restart", "web", timeout=60)
        assert get(f"http://127.0.0.1:{base}/")["env"]["GREETING"] == "from stack.toml"
        write(tmp_path / "stack.local.toml", '[services.web]\nenv.GREETING = "back"\n')
        assert restart_needed(tmp_path) == ["web"]


def test_an_included_service_runs_in_its_own_folder_and_is_reachable_across_files(
    tmp_path: Path,
) -> None:
    api_port, web_port = free_port(), free_port()
    write(
        tmp_path / "stack.toml",
        'include = ["services/api/stack.toml"]\n\n'
        + env_service(
            "web",
            web_port,
            "API_URL",
            extra='env = { API_URL = "${services.api.url}" }\ndepends_on = { api = "healthy" }',
        ),
    )
    write(
        tmp_path / "services" / "api" / "stack.toml",
        env_service("api", api_port, "API_WORD", extra='cwd = "src"\nenv_file = ".env"'),
    )
    (tmp_path / "services" / "api" / "src").mkdir()
    (tmp_path / "services" / "api" / ".env").write_text("API_WORD=from-the-api-folder\n")
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web .*\[healthy\]", timeout=60)
        api = get(f"http://127.0.0.1:{api_port}/")
        assert api["cwd"] == str(tmp_path / "services" / "api" / "src")
        assert api["env"]["API_WORD"] == "from-the-api-folder"
        web = get(f"http://127.0.0.1:{web_port}/")
        assert web["env"]["API_URL"] == f"http://127.0.0.1:{api_port}"
        # The url the other file's service got is the one api answers on.
        assert get(web["env"]["API_URL"])["pid"] == api["pid"]
        # An edit of the included file is a config change of its service, as in stack.toml.
        assert not restart_needed(tmp_path)
        included = tmp_path / "services" / "api" / "stack.toml"
        included.write_text(included.read_text() + 'env.API_WORD = "edited"\n')
        assert restart_needed(tmp_path) == ["api"]
        # A stack.local.toml made under a stack started without one is seen too.
        write(tmp_path / "stack.local.toml", '[services.web]\nenv.API_URL = "elsewhere"\n')
        assert restart_needed(tmp_path) == ["web", "api"]


def test_explicit_files_are_layered_later_wins_and_stack_local_toml_is_left_out(
    tmp_path: Path,
) -> None:
    """As docker compose: with -f, only the files given (a detached supervisor too)."""
    port, ci_port = free_port(), free_port()
    write(tmp_path / "stack.toml", env_service("web", port, "MODE", extra='env.MODE = "base"'))
    write(tmp_path / "stack.local.toml", '[services.web]\nenv.MODE = "local"\n')
    write(tmp_path / "ci.toml", f'[services.web]\nport = {ci_port}\nenv.MODE = "ci"\n')
    config = run_devstack(tmp_path, "config", "-f", "stack.toml", "-f", "ci.toml")
    assert config.returncode == 0, config.stderr
    assert f"port = {ci_port}" in config.stdout and 'MODE = "ci"' in config.stdout
    try:
        up = run_devstack(tmp_path, "up", "-d", "-f", "stack.toml", "-f", "ci.toml", timeout=90)
        assert up.returncode == 0, up.stdout + up.stderr
        assert get(f"http://127.0.0.1:{ci_port}/")["env"] == {"PORT": str(ci_port), "MODE": "ci"}
    finally:
        down = run_devstack(tmp_path, "down", "-f", "stack.toml", timeout=60)
        assert down.returncode in (0, 3), down.stderr
    assert not is_listening(ci_port)


def test_config_origins_names_the_file_and_line_of_each_value(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.toml",
        """\
        include = ["api/stack.toml"]

        [services.web]
        cmd = "python3 -m http.server ${port}"
        port = 8000
        env = { API = "${services.api.url}", API_TOKEN = "s3cret" }
        """,
    )
    write(tmp_path / "api" / "stack.toml", '[services.api]\ncmd = "python3 app.py"\nport = 5000\n')
    write(tmp_path / "stack.local.toml", "[services.web]\nport = 8001\n")
    done = run_devstack(tmp_path, "config", "--origins")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        'services.web.cmd = "python3 -m http.server ${port}"  # stack.toml:4\n'
        "services.web.port = 8001                             # stack.local.toml:2\n"
        'services.web.env.API = "${services.api.url}"         # stack.toml:6\n'
        "services.web.env.API_TOKEN = <redacted>              # stack.toml:6\n"
        'services.api.cmd = "python3 app.py"                  # api/stack.toml:2\n'
        "services.api.port = 5000                             # api/stack.toml:3\n"
    )
    merged = run_devstack(tmp_path, "config")
    assert "port = 8001" in merged.stdout and 'API = "http://127.0.0.1:5000"' in merged.stdout


def test_config_errors_name_the_file_they_are_in(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n[services.web]\ncmd = "x"\n')
    write(tmp_path / "api" / "stack.toml", '[services.api]\ncmd = "y"\n')
    write(tmp_path / "stack.local.toml", "[services.web]\nport = 8001\nhelth.http = '/'\n")
    done = run_devstack(tmp_path, "check")
    assert done.returncode == 2
    assert f"{tmp_path / 'stack.local.toml'}:3 services.web.helth: unknown key; did you mean " in (
        done.stderr
    )
    (tmp_path / "stack.local.toml").unlink()
    write(tmp_path / "api" / "stack.toml", '[services.api]\ncmd = "y"\n[services.web]\ncmd = "z"\n')
    done = run_devstack(tmp_path, "up")
    assert done.returncode == 2
    assert (
        f"{tmp_path / 'api' / 'stack.toml'}:3 services.web: service 'web' is also defined in "
        "stack.toml:2"
    ) in done.stderr


def test_watch_restarts_with_the_values_of_an_edited_override_or_included_file(
    tmp_path: Path,
) -> None:
    """A watched edit of stack.local.toml or of an included file is taken like one of
    stack.toml: the restart reads every layer again (not a stale spec cache)."""
    web_port, api_port = free_port(), free_port()

    def watch(name: str) -> str:
        return f'watch = ["{name}"]\nwatch_debounce = "100ms"'

    write(
        tmp_path / "stack.toml",
        'include = ["api/stack.toml"]\n\n'
        + env_service("web", web_port, "MODE", extra=watch("stack.local.toml")),
    )
    local = write(tmp_path / "stack.local.toml", '[services.web]\nenv.MODE = "one"\n')
    api_file = write(
        tmp_path / "api" / "stack.toml",
        env_service("api", api_port, "LEVEL", extra=f'env.LEVEL = "a"\n{watch("stack.toml")}'),
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"^web .*\[healthy\]", timeout=60)
        stack.wait_for(r"^api .*\[healthy\]", timeout=60)
        assert get(f"http://127.0.0.1:{web_port}/")["env"]["MODE"] == "one"
        first_api = get(f"http://127.0.0.1:{api_port}/")

        local.write_text('[services.web]\nenv.MODE = "two"\n')
        stack.wait_for(r"^web .*\[watch\] restarted", timeout=30)
        assert "[watch] changed: stack.local.toml" in stack.output()
        assert get(f"http://127.0.0.1:{web_port}/")["env"]["MODE"] == "two"

        api_file.write_text(api_file.read_text().replace('LEVEL = "a"', 'LEVEL = "b"'))
        stack.wait_for(r"^api .*\[watch\] restarted", timeout=30)
        api = get(f"http://127.0.0.1:{api_port}/")
        assert api["env"]["LEVEL"] == "b" and api["pid"] != first_api["pid"]


def test_init_lists_stack_local_toml_in_gitignore_once(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: python3 -m http.server $PORT\n")
    (tmp_path / ".gitignore").write_text("node_modules/")  # no newline at the end
    done = run_devstack(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert "added stack.local.toml to .gitignore" in done.stdout
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n/stack.local.toml\n"
    again = run_devstack(tmp_path, "init", "--force")
    assert again.returncode == 0 and "gitignore" not in again.stdout
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n/stack.local.toml\n"


def test_init_to_another_file_name_leaves_gitignore_alone(tmp_path: Path) -> None:
    # Field trial of issue 16: `init -f ../trial.toml` made ../.gitignore and said
    # "added stack.local.toml to .gitignore (personal values merged over trial.toml)";
    # stack.local.toml is merged only over a stack.toml found without -f.
    app = tmp_path / "app"
    write(app / "Procfile", "web: python3 -m http.server $PORT\n")
    done = run_devstack(app, "init", "-f", "../trial.toml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "trial.toml").exists()
    assert "gitignore" not in done.stdout
    assert not (tmp_path / ".gitignore").exists() and not (app / ".gitignore").exists()


def test_an_included_services_setup_runs_in_its_folder_and_fingerprints_its_inputs(
    tmp_path: Path,
) -> None:
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n')
    api = tmp_path / "api"
    write(
        api / "stack.toml",
        """\
        [services.api]
        cmd = "sleep 30"
        setup = "echo ran >> setup.log"
        setup_inputs = ["requirements.txt"]
        """,
    )
    (api / "requirements.txt").write_text("flask\n")
    first = run_devstack(tmp_path, "setup")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (api / "setup.log").read_text() == "ran\n"  # in the included file's folder
    again = run_devstack(tmp_path, "setup")
    assert "[setup] skipped (inputs unchanged)" in again.stdout
    (api / "requirements.txt").write_text("flask\nhttpx\n")  # an input under api/ changed
    third = run_devstack(tmp_path, "setup")
    assert third.returncode == 0 and (api / "setup.log").read_text() == "ran\nran\n"


def test_verify_runs_an_included_files_smoke_checks_against_the_layered_stack(
    tmp_path: Path,
) -> None:
    port, ci_port = free_port(), free_port()
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n')
    write(
        tmp_path / "api" / "stack.toml",
        env_service("api", port) + '\n[[smoke]]\nurl = "${services.api.url}/ping"\n',
    )
    write(tmp_path / "ci.toml", f"[services.api]\nport = {ci_port}\n")
    done = run_devstack(tmp_path, "verify", "-f", "stack.toml", "-f", "ci.toml", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"GET http://127.0.0.1:{ci_port}/ping" in done.stdout
    assert not is_listening(ci_port)  # the stack verify started is down again


def test_a_failed_smoke_step_names_the_file_and_line_it_is_written_in(tmp_path: Path) -> None:
    # Issue 16, point 5: a [[smoke]] of an included file fails; before, nothing said
    # which of the stack's files holds the step.
    port = free_port()
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n')
    write(
        tmp_path / "api" / "stack.toml",
        env_service("api", port) + '\n[[smoke]]\nurl = "${services.api.url}/ping"\n'
        'body_contains = ["no such text"]\n',
    )
    done = run_devstack(tmp_path, "verify", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln.strip() for ln in done.stdout.splitlines()]
    written = env_service("api", port).count("\n") + 2
    assert f"[[smoke]] written at api/stack.toml:{written}" in lines, done.stdout
    as_json = run_devstack(tmp_path, "verify", "--json", timeout=120)
    step = json.loads(as_json.stdout)["steps"][1]
    assert (step["file"], step["line"]) == ("api/stack.toml", written)


def test_commands_in_an_included_folder_name_the_file_that_includes_it(tmp_path: Path) -> None:
    # Field trial of issue 16: in a monorepo's part, whose stack.toml the top one includes,
    # `ps` said "no stack is running ... start one with: devstack up" beside the running
    # stack, and `check` that the services of the other files do not exist.
    api = tmp_path / "api"
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n\n[services.db]\ncmd = "x"\n')
    write(api / "stack.toml", '[services.api]\ncmd = "x"\ndepends_on = ["db"]\n')
    note = (
        f"note: {api.resolve() / 'stack.toml'} is included by "
        f"{tmp_path.resolve() / 'stack.toml'}: run devstack in {tmp_path.resolve()}"
    )
    ps = run_devstack(api, "ps")
    assert ps.returncode == 3 and note in ps.stderr, ps.stderr
    check = run_devstack(api, "check")
    assert check.returncode == 2 and "unknown service 'db'" in check.stderr
    assert note in check.stderr, check.stderr
    logs = run_devstack(api, "logs", "api")
    assert logs.returncode == 2 and note in logs.stderr, logs.stderr
    assert f"hint: no service's log is kept here: no stack has run in {api.resolve()}" in (
        logs.stderr
    )  # was an empty list: "hint: logs kept: "
    top = run_devstack(tmp_path, "ps")
    assert top.returncode == 3 and "note:" not in top.stderr
