"""Replicas (issue 16, point 4): ``replicas = N`` becomes N services ``NAME.1``..``NAME.N``,
each with its own port, ``${replica}``, ``${port}`` and url; ``${services.NAME.url}`` is
the first copy's; a dependency on NAME is one on every copy; port ranges may not overlap;
a count outside 1..64 is refused with the reason, file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import graph
from devstack.config import load_stack, speccache
from devstack.errors import ConfigError
from devstack.spec import StackSpec, expand_names, require_services
from devstack.states import Condition

STACK = """\
[services.worker]
cmd = "python3 -m http.server ${port} --bind 127.0.0.1 --directory d${replica}"
port = 5100
replicas = 3
env = { WHO = "${name}", N = "${replica}", FIRST = "${services.worker.url}" }
health.http = "/ping?copy=${replica}"

[services.web]
cmd = "python3 -m http.server ${port}"
port = 5200
depends_on = { worker = "healthy" }
env = { API = "${services.worker.url}", API_PORT = "${services.worker.port}" }
"""


def load(tmp_path: Path, text: str = STACK, **kwargs: object) -> StackSpec:
    (tmp_path / "stack.toml").write_text(text)
    return load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"}, **kwargs)  # type: ignore[arg-type]


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [f"{p.line}: {p.key_path}: {p.message}" for p in caught.value.problems]


def test_a_replicated_service_becomes_one_service_per_copy(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert list(stack.services) == ["worker.1", "worker.2", "worker.3", "web"]
    for k in (1, 2, 3):
        copy = stack.services[f"worker.{k}"]
        assert (copy.replica_of, copy.replica) == ("worker", k)
        assert copy.port == 5100 + k - 1
        assert copy.url == f"http://127.0.0.1:{5099 + k}"
        assert copy.argv[3] == str(5099 + k)  # ${port}: the copy's own
        assert copy.argv[-1] == f"d{k}"
        assert copy.env["PORT"] == str(5099 + k)
        assert copy.env["N"] == str(k)
        assert copy.env["WHO"] == f"worker.{k}"
        assert copy.env["FIRST"] == "http://127.0.0.1:5100"
        assert copy.health is not None
        assert copy.health.target == f"http://127.0.0.1:{5099 + k}/ping?copy={k}"
    web = stack.services["web"]
    assert (web.replica_of, web.replica) == (None, None)
    assert web.env["API"] == "http://127.0.0.1:5100"  # the first copy
    assert web.env["API_PORT"] == "5100"


def test_a_dependency_on_the_service_is_one_on_every_copy(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert dict(stack.services["web"].depends_on) == {
        f"worker.{k}": Condition.HEALTHY for k in (1, 2, 3)
    }
    deps = {n: list(s.depends_on) for n, s in stack.services.items()}
    assert graph.start_order(deps)[-1] == "web"
    assert graph.closure(deps, ["web"]) == {"web", "worker.1", "worker.2", "worker.3"}


def test_the_copies_survive_the_spec_cache(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert speccache.decode(StackSpec, speccache.encode(StackSpec, stack)) == stack


def test_names_on_the_command_line_stand_for_every_copy(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert require_services(stack, ["worker"]) == ["worker.1", "worker.2", "worker.3"]
    assert require_services(stack, ["worker.2", "web"]) == ["worker.2", "web"]
    assert expand_names(list(stack.services), ["worker", "worker.1"]) == [
        "worker.1",
        "worker.2",
        "worker.3",
    ]


def test_scale_overrides_the_written_count(tmp_path: Path) -> None:
    stack = load(tmp_path, replicas={"worker": 5})
    assert [s.port for s in stack.services.values()] == [5100, 5101, 5102, 5103, 5104, 5200]
    assert len(stack.services["web"].depends_on) == 5


def test_replicas_one_is_one_copy_named_1(tmp_path: Path) -> None:
    stack = load(tmp_path, STACK.replace("replicas = 3", "replicas = 1"))
    assert list(stack.services) == ["worker.1", "web"]


@pytest.mark.parametrize(
    ("count", "reason"),
    [
        (0, "replicas = 0: a service runs at least 1 copy"),
        (-2, "replicas = -2: a service runs at least 1 copy"),
        (65, "replicas = 65: at most 64 copies"),
    ],
)
def test_a_count_outside_1_to_64_is_refused_with_the_reason(
    tmp_path: Path, count: int, reason: str
) -> None:
    found = problems(tmp_path, STACK.replace("replicas = 3", f"replicas = {count}"))
    assert len(found) == 1
    assert found[0].startswith("4: services.worker.replicas: ")
    assert reason in found[0]


def test_a_count_that_is_not_a_whole_number_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace("replicas = 3", 'replicas = "3"'))
    assert found and found[0].startswith("4: services.worker.replicas")


def test_overlapping_port_ranges_are_an_error_naming_both(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace("port = 5200", "port = 5102"))
    assert found == [
        "10: services.web.port: port 5102 is also declared by services.worker "
        "(web 5102, worker 5100..5102; replicas take one port each)"
    ]
    # Just past the range: fine.
    load(tmp_path, STACK.replace("port = 5200", "port = 5103"))


def test_two_replicated_services_whose_ranges_overlap(tmp_path: Path) -> None:
    text = STACK.replace("port = 5200", "port = 5098\nreplicas = 4")
    assert problems(tmp_path, text) == [
        "10: services.web.port: port 5100 is also declared by services.worker "
        "(web 5098..5101, worker 5100..5102; replicas take one port each)"
    ]


def test_a_range_past_65535_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace("port = 5100", "port = 65534"))
    assert found == [
        "3: services.worker.replicas: 3 copies from port 65534 need ports up to 65536, past 65535"
    ]


def test_replica_outside_a_replicated_service_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace('API_PORT = "', 'X = "${replica}", API_PORT = "'))
    assert found == ["12: services.web.env.X: ${replica}: service 'web' has no replicas"]


def test_a_bad_reference_in_a_copy_is_reported_once(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace('"${name}"', '"${nmae}"'))
    assert len(found) == 1
    assert "services.worker.env.WHO" in found[0]


def test_a_written_name_with_a_dot_is_still_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, STACK.replace("[services.web]", '[services."web.1"]'))
    assert any("services.web.1" in p and "letters, digits" in p for p in found)


def test_a_dependency_on_copies_no_profile_enables_is_said_once_of_the_service(
    tmp_path: Path,
) -> None:
    from devstack.config import profiles

    stack = load(tmp_path, STACK.replace("replicas = 3", 'replicas = 3\nprofiles = ["w"]'))
    with pytest.raises(ConfigError) as caught:
        profiles.to_start(profiles.activate(stack, None, {}), [])
    assert [(p.line, p.key_path) for p in caught.value.problems] == [
        (12, "services.web.depends_on.worker")
    ]
    assert "devstack up web worker" in (caught.value.problems[0].hint or "")


def test_config_shows_each_copy_under_a_quoted_name(tmp_path: Path) -> None:
    from devstack.config import dump_resolved

    text = dump_resolved(load(tmp_path), {})
    assert '\n[services."worker.2"]  # copy 2 of worker\n' in text
    assert '\n[services."worker.2".env]  # set by the stack' in text
    assert "\n[services.web]\n" in text
