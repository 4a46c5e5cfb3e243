"""Layers and includes (issue 16, points 2 and 3): the merge of stack.toml, stack.local.toml,
the ``-f`` files and ``include = [...]``, and the origin (file, line) of every value."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from devstack.config import load_stack, speccache
from devstack.config.layers import read_layers
from devstack.config.limits import MAX_DEPTH, MAX_INCLUDE_DEPTH
from devstack.errors import ConfigError
from devstack.stackfile import MAX_STACK_FILE, find_layers


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


BASE = """\
    [stack]
    name = "shop"

    [services.api]
    cmd = "python3 app.py"
    port = 5000
    watch = ["*.py", "*.cfg"]
    env = { MODE = "dev", LEVEL = "info" }
    health.http = "/health"
    health.interval = "2s"
    """

LOCAL = """\
    [services.api]
    port = 5100
    watch = ["*.py"]
    env.MODE = "local"
    health.interval = "5s"

    [services.worker]
    cmd = "python3 worker.py"
    """


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [p.render() for p in exc.value.problems]


# -- the merge ---------------------------------------------------------------------------


def test_override_merges_tables_key_by_key_and_replaces_arrays_and_scalars(
    tmp_path: Path,
) -> None:
    base = write(tmp_path / "stack.toml", BASE)
    local = write(tmp_path / "stack.local.toml", LOCAL)
    layered = read_layers([base, local])
    api = layered.data["services"]["api"]
    assert api["port"] == 5100  # a scalar replaced
    assert api["watch"] == ["*.py"]  # an array replaced, not appended
    assert api["env"] == {"MODE": "local", "LEVEL": "info"}  # a table merged
    assert api["health"] == {"http": "/health", "interval": "5s"}
    assert api["cmd"] == "python3 app.py"  # untouched
    assert list(layered.data["services"]) == ["api", "worker"]  # only in the override: added
    assert layered.data["stack"] == {"name": "shop"}


def test_origins_name_the_file_and_line_each_value_came_from(tmp_path: Path) -> None:
    base = write(tmp_path / "stack.toml", BASE)
    local = write(tmp_path / "stack.local.toml", LOCAL)
    layered = read_layers([base, local])
    assert layered.where(("services", "api", "port")) == (local, 2)
    assert layered.where(("services", "api", "cmd")) == (base, 5)
    assert layered.where(("services", "api", "env", "MODE")) == (local, 4)
    assert layered.where(("services", "api", "env", "LEVEL")) == (base, 8)
    assert layered.where(("services", "api", "watch", "[0]")) == (local, 3)
    assert layered.where(("services", "worker", "cmd")) == (local, 8)
    # A key nobody wrote: the table that holds it, in the file that first defined it.
    assert layered.where(("services", "api", "cwd")) == (base, 4)
    assert layered.files == [base, local]
    shown = {".".join(p): (f.name, line) for p, _v, f, line in layered.values()}
    assert shown["services.api.port"] == ("stack.local.toml", 2)
    assert shown["services.api.health.http"] == ("stack.toml", 9)
    assert shown["stack.name"] == ("stack.toml", 2)


def test_stack_local_toml_is_found_beside_stack_toml_and_merged(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", BASE)
    assert load_stack(None, tmp_path).services["api"].port == 5000
    write(tmp_path / "stack.local.toml", LOCAL)
    stack = load_stack(None, tmp_path)
    assert stack.services["api"].port == 5100
    assert stack.services["api"].env["MODE"] == "local"
    assert list(stack.services) == ["api", "worker"]
    assert stack.files == (tmp_path / "stack.toml", tmp_path / "stack.local.toml")
    assert stack.layers == ()  # found, not given: a re-read finds them again


def test_explicit_files_are_layered_in_order_and_skip_stack_local_toml(tmp_path: Path) -> None:
    """As docker compose: the override file applies only when no -f is given."""
    base = write(tmp_path / "stack.toml", BASE)
    write(tmp_path / "stack.local.toml", LOCAL)
    ci = write(tmp_path / "ci.toml", "[services.api]\nport = 5200\n")
    last = write(tmp_path / "last.toml", "[services.api]\nport = 5300\n")
    assert find_layers([base], tmp_path) == (base,)
    assert load_stack(base).services["api"].port == 5000
    stack = load_stack([base, ci, last], tmp_path)
    assert stack.services["api"].port == 5300  # later wins
    assert "worker" not in stack.services
    assert stack.layers == (base, ci, last)
    assert stack.file == base and stack.root == tmp_path


def test_a_relative_path_resolves_against_the_folder_of_the_file_that_wrote_it(
    tmp_path: Path,
) -> None:
    base = write(tmp_path / "stack.toml", '[services.api]\ncmd = "python3 app.py"\n')
    (tmp_path / "ops" / "api").mkdir(parents=True)
    (tmp_path / "ops" / "dev.env").write_text("FROM_OPS=1\n")
    over = write(
        tmp_path / "ops" / "dev.toml", '[services.api]\ncwd = "api"\nenv_file = "dev.env"\n'
    )
    api = load_stack([base, over], tmp_path).services["api"]
    assert api.cwd == tmp_path / "ops" / "api"
    assert api.env["FROM_OPS"] == "1"


def test_state_dir_is_refused_outside_the_first_file(tmp_path: Path) -> None:
    """`ps` and `down` find the state folder from the first file alone."""
    write(tmp_path / "stack.toml", BASE)
    write(tmp_path / "stack.local.toml", '[stack]\nstate_dir = "elsewhere"\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'stack.local.toml'}:2 stack.state_dir: state_dir is read from "
        f"{tmp_path / 'stack.toml'} only\n    hint: move it there, or set DEVSTACK_STATE_DIR "
        f"(it was in {tmp_path / 'stack.local.toml'})"
    ]


# -- errors in a layer name that layer ------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (
            "\n[services.api]\nport = 5100\nhelth.http = '/'\n",
            ":4 services.api.helth: unknown key; did you mean 'health'?",
        ),
        ('[services.api]\nport = "5100"\n', ":2 services.api.port: expected an integer"),
        ('[services.api]\ncwd = "missing"\n', ":2 services.api.cwd: directory not found"),
        ("[services.api]\nport = \n", ":2: TOML syntax error"),
    ],
    ids=["unknown key", "bad value", "missing cwd", "syntax"],
)
def test_an_error_in_the_override_names_the_override_file_and_its_line(
    tmp_path: Path, local: str, expected: str
) -> None:
    write(tmp_path / "stack.toml", BASE)
    write(tmp_path / "stack.local.toml", local)
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert len(exc.value.problems) == 1
    assert problems(exc)[0].startswith(f"{tmp_path / 'stack.local.toml'}{expected}")


def test_a_misspelt_service_in_the_override_is_told_the_name_it_likely_means(
    tmp_path: Path,
) -> None:
    # Field trial of issue 16: `[services.apii] port = 3102` in stack.local.toml said only
    # "services.apii.cmd: required key is missing" (a new service, as the override reads it).
    write(tmp_path / "stack.toml", BASE)
    write(tmp_path / "stack.local.toml", "[services.apii]\nport = 5100\n")
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    (problem,) = exc.value.problems
    assert problem.file == tmp_path / "stack.local.toml" and problem.line == 1
    assert problem.message == "required key is missing"
    assert problem.hint == (
        "did you mean services.api? A service named only here is a new one, and needs cmd"
    )


def test_the_nesting_limit_applies_to_every_layer(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", BASE)
    deep = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)
    write(tmp_path / "stack.local.toml", f"[services.api]\nwatch = {deep}\n")
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'stack.local.toml'}:2 services.api.watch: "
        f"nested more than {MAX_DEPTH} levels deep"
    ]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_stack_local_toml_that_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    write(tmp_path / "stack.toml", BASE)
    if kind == "fifo":
        os.mkfifo(tmp_path / "stack.local.toml")
    else:
        os.symlink("/dev/zero", tmp_path / "stack.local.toml")
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    what = "a FIFO" if kind == "fifo" else "a device"
    assert problems(exc) == [
        f"{os.path.realpath(tmp_path / 'stack.local.toml')}: cannot read: "
        f"not a regular file ({what})"
    ]


# -- includes --------------------------------------------------------------------------


def monorepo(root: Path) -> None:
    write(
        root / "stack.toml",
        """\
        include = ["services/api/stack.toml", "web/stack.toml"]

        [services.db]
        cmd = "python3 db.py"
        port = 5432
        """,
    )
    write(
        root / "services" / "api" / "stack.toml",
        """\
        [services.api]
        cmd = "python3 app.py"
        port = 5000
        env_file = ".env"
        depends_on = ["db"]

        [[smoke]]
        url = "${services.api.url}/health"
        """,
    )
    (root / "services" / "api" / ".env").write_text("API_KEY_NAME=from-api-env\n")
    write(
        root / "web" / "stack.toml",
        """\
        [services.web]
        cmd = "node server.js"
        cwd = "app"
        env = { API = "${services.api.url}", DB = "${services.db.port}" }
        """,
    )
    (root / "web" / "app").mkdir()


def test_included_services_resolve_paths_against_their_own_folder(tmp_path: Path) -> None:
    monorepo(tmp_path)
    stack = load_stack(None, tmp_path)
    assert list(stack.services) == ["db", "api", "web"]
    api, web = stack.services["api"], stack.services["web"]
    assert api.cwd == tmp_path / "services" / "api"
    assert api.env_files == (tmp_path / "services" / "api" / ".env",)
    assert api.env["API_KEY_NAME"] == "from-api-env"
    assert web.cwd == tmp_path / "web" / "app"
    # ${services.NAME...} across files.
    assert web.env["API"] == "http://127.0.0.1:5000"
    assert web.env["DB"] == "5432"
    assert stack.smoke[0].url == "http://127.0.0.1:5000/health"
    assert stack.files == (
        tmp_path / "stack.toml",
        tmp_path / "services" / "api" / "stack.toml",
        tmp_path / "web" / "stack.toml",
    )
    assert stack.root == tmp_path and stack.name == tmp_path.name


def test_the_override_may_change_values_of_included_services(tmp_path: Path) -> None:
    monorepo(tmp_path)
    write(tmp_path / "stack.local.toml", "[services.api]\nport = 5050\nenv.EXTRA = '1'\n")
    stack = load_stack(None, tmp_path)
    assert stack.services["api"].port == 5050
    assert stack.services["api"].env["EXTRA"] == "1"
    assert stack.services["api"].cwd == tmp_path / "services" / "api"  # still its own folder
    assert stack.services["web"].env["API"] == "http://127.0.0.1:5050"


def test_the_same_service_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    monorepo(tmp_path)
    with (tmp_path / "web" / "stack.toml").open("a") as f:
        f.write('\n[services.api]\ncmd = "other"\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'web' / 'stack.toml'}:6 services.api: service 'api' is also defined "
        "in services/api/stack.toml:1\n    hint: give one of them another name "
        "(a personal change of a service goes in stack.local.toml)"
    ]


def test_an_include_cycle_is_an_error_naming_the_chain(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", 'include = ["a/stack.toml"]\n[services.x]\ncmd = "x"\n')
    write(tmp_path / "a" / "stack.toml", 'include = ["../b/stack.toml"]\n')
    write(tmp_path / "b" / "stack.toml", '\ninclude = ["../a/stack.toml"]\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'b' / 'stack.toml'}:2 include: include cycle: a/stack.toml -> "
        "b/stack.toml -> a/stack.toml\n    hint: remove one of these includes"
    ]


def test_a_missing_include_names_the_including_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.toml", 'include = [\n  "nope/stack.toml",\n]\n[services.x]\ncmd = "x"\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'stack.toml'}:1 include: included file not found: "
        f"{tmp_path / 'nope' / 'stack.toml'}\n"
        "    hint: fix the path (relative to this file) or create it"
    ]


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("fifo", "not a regular file (a FIFO)"),
        ("device", "not a regular file (a device)"),
        ("big", "larger than 1024 KiB"),
    ],
)
def test_an_include_of_a_fifo_dev_zero_or_a_huge_file_is_refused(
    tmp_path: Path, kind: str, why: str
) -> None:
    shown = tmp_path / "big.toml"
    if kind == "fifo":
        shown = tmp_path / "pipe"
        os.mkfifo(shown)
    elif kind == "device":
        shown = Path("/dev/zero")
    else:
        shown.write_text("# " + "x" * (MAX_STACK_FILE + 1) + "\n")
    write(tmp_path / "stack.toml", f'include = ["{shown}"]\n[services.x]\ncmd = "x"\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [f"{tmp_path / 'stack.toml'}:1 include: cannot include {shown}: {why}"]


def test_includes_nest_to_a_bound(tmp_path: Path) -> None:
    for level in range(MAX_INCLUDE_DEPTH + 2):
        write(tmp_path / f"l{level}.toml", f'include = ["l{level + 1}.toml"]\n')
    write(tmp_path / f"l{MAX_INCLUDE_DEPTH + 2}.toml", "")
    write(tmp_path / "stack.toml", 'include = ["l0.toml"]\n[services.x]\ncmd = "x"\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert [p.message for p in exc.value.problems] == [
        f"includes nested more than {MAX_INCLUDE_DEPTH} deep"
    ]
    # One level less loads.
    write(tmp_path / f"l{MAX_INCLUDE_DEPTH - 1}.toml", "")
    assert list(load_stack(None, tmp_path).services) == ["x"]


def test_a_file_included_twice_in_one_layer_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", 'include = ["a.toml", "b.toml"]\n')
    write(tmp_path / "a.toml", 'include = ["shared.toml"]\n[services.a]\ncmd = "a"\n')
    write(tmp_path / "b.toml", 'include = ["shared.toml"]\n[services.b]\ncmd = "b"\n')
    write(tmp_path / "shared.toml", '[services.db]\ncmd = "db"\n')
    assert list(load_stack(None, tmp_path).services) == ["a", "db", "b"]


def test_an_included_file_may_not_hold_a_stack_table(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", 'include = ["api/stack.toml"]\n')
    write(tmp_path / "api" / "stack.toml", '[stack]\nname = "api"\n[services.api]\ncmd = "x"\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert [(p.file, p.line, p.key_path) for p in exc.value.problems] == [
        (tmp_path / "api" / "stack.toml", 1, "stack")
    ]


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    monorepo(tmp_path)
    write(tmp_path / "web" / "stack.toml", '[services.web]\ncmd = "x"\ndepends_on = ["apii"]\n')
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc)[0].startswith(
        f"{tmp_path / 'web' / 'stack.toml'}:3 services.web.depends_on.apii: unknown service "
        "'apii'; did you mean 'api'?"
    )


# -- the spec cache keys on every layer ------------------------------------------------


def test_the_spec_cache_misses_on_an_edit_of_any_layer_or_include(tmp_path: Path) -> None:
    monorepo(tmp_path)
    cache, env = tmp_path / "cache.json", {"PATH": "/usr/bin:/bin"}
    layers = find_layers(None, tmp_path)
    speccache.save(cache, layers, env, load_stack(None, tmp_path, environ=env))
    assert speccache.load(cache, layers, env) is not None
    # An included file edited.
    api = tmp_path / "services" / "api" / "stack.toml"
    api.write_text(api.read_text().replace("5000", "5001"))
    assert speccache.load(cache, layers, env) is None
    speccache.save(cache, layers, env, load_stack(None, tmp_path, environ=env))
    assert speccache.load(cache, layers, env) is not None
    # stack.local.toml made: the layers differ.
    write(tmp_path / "stack.local.toml", "[services.api]\nport = 5002\n")
    layers = find_layers(None, tmp_path)
    assert speccache.load(cache, layers, env) is None
    speccache.save(cache, layers, env, load_stack(None, tmp_path, environ=env))
    hit = speccache.load(cache, layers, env)
    assert hit is not None and hit.services["api"].port == 5002
    (tmp_path / "stack.local.toml").write_text("[services.api]\nport = 5003\n")
    assert speccache.load(cache, layers, env) is None
    # ... and removed again.
    (tmp_path / "stack.local.toml").unlink()
    assert speccache.load(cache, find_layers(None, tmp_path), env) is None


def test_a_later_layer_may_include_what_an_earlier_one_did(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", 'include = ["api.toml"]\n')
    write(tmp_path / "api.toml", '[services.api]\ncmd = "a"\nenv = {}\n')
    write(tmp_path / "stack.local.toml", 'include = ["api.toml"]\n[services.db]\ncmd = "d"\n')
    layered = read_layers(find_layers(None, tmp_path))
    names = [f.name for f in layered.files]
    assert names == ["stack.toml", "api.toml", "stack.local.toml"]  # each file once
    assert [(".".join(p), v, f.name, line) for p, v, f, line in layered.values()] == [
        ("services.api.cmd", "a", "api.toml", 2),
        ("services.api.env", {}, "api.toml", 3),  # an empty table is shown too
        ("services.db.cmd", "d", "stack.local.toml", 3),
    ]


def test_a_port_clash_across_files_names_the_other_services_file_and_line(
    tmp_path: Path,
) -> None:
    # Issue 16, point 5: before, "port 5100 is also declared by services.api" named
    # worker's file only, though api's port is set in stack.local.toml.
    write(tmp_path / "stack.toml", 'include = ["jobs/stack.toml"]\n' + textwrap.dedent(BASE))
    write(tmp_path / "jobs" / "stack.toml", '[services.worker]\ncmd = "w"\nport = 5100\n')
    write(tmp_path / "stack.local.toml", "[services.api]\nport = 5100\n")
    with pytest.raises(ConfigError) as exc:
        load_stack(None, tmp_path)
    assert problems(exc) == [
        f"{tmp_path / 'jobs' / 'stack.toml'}:3 services.worker.port: port 5100 is also "
        "declared by services.api (stack.local.toml:2)\n"
        "    hint: give each service its own port"
    ]
