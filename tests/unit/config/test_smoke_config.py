"""[[smoke]] entries resolve into SmokeSpec: interpolated, defaults filled, checked."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.errors import ConfigError
from devstack.spec import SmokeSpec


def load(tmp_path: Path, toml: str) -> tuple[SmokeSpec, ...]:
    (tmp_path / "stack.toml").write_text(textwrap.dedent(toml))
    return load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin", "TOKEN": "t0k"}).smoke


SERVICES = """
[services.backend]
cmd = "python api.py"
port = 5000

[services.frontend]
cmd = "python web.py"
port = 3000
"""


def test_values_are_interpolated_and_defaults_filled(tmp_path: Path) -> None:
    smoke = load(
        tmp_path,
        SERVICES
        + """
        [[smoke]]
        url = "${services.backend.url}/api/health"

        [[smoke]]
        name = "create"
        method = "POST"
        url = "http://localhost:${services.frontend.port}/api/create"
        headers = { Authorization = "Bearer ${env:TOKEN}" }
        json = { file_id = "${services.backend.name}", n = [1, 2.5, true] }
        expect_status = 201
        body_not_contains = ["ECONNREFUSED"]
        timeout = "2s"
        json_contains = { ok = true, echo = { id = "${services.backend.name}" } }
        log_service = "backend"
        log_contains = "POST /api/create"

        [[smoke]]
        method = "PUT"
        url = "${services.frontend.url}/raw"
        body = "to ${services.backend.url}"
        expect_status = [200, 204]
        """,
    )
    first, second, third = smoke
    assert first == SmokeSpec(
        name="GET http://127.0.0.1:5000/api/health",
        method="GET",
        url="http://127.0.0.1:5000/api/health",
    )
    assert first.timeout == 10.0 and first.expect_status == ()
    assert second.url == "http://localhost:3000/api/create"
    assert second.headers == {"Authorization": "Bearer t0k"}
    assert second.is_json
    assert json.loads(second.body or "") == {"file_id": "backend", "n": [1, 2.5, True]}
    assert second.expect_status == (201,)
    assert second.timeout == 2.0
    assert json.loads(second.json_contains or "") == {"ok": True, "echo": {"id": "backend"}}
    assert first.json_contains is None
    assert (second.log_service, second.log_contains) == ("backend", "POST /api/create")
    assert third.body == "to http://127.0.0.1:5000" and not third.is_json
    assert third.expect_status == (200, 204)


def test_no_smoke_entries_is_an_empty_tuple(tmp_path: Path) -> None:
    assert load(tmp_path, SERVICES) == ()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('url = "http://10.0.0.5/x"', "not on this machine"),
        ('url = "ftp://127.0.0.1/x"', "not an http:// or https:// URL"),
        ('url = "${url}/x"', "needs a service here"),
        ('url = "${services.backend.url}/x"\nexpect_status = 99', "greater than or equal to 100"),
        ('url = "${services.backend.url}/x"\nlog_contains = "x"', "go together"),
        ('url = "${services.backend.url}/x"\ntimeout = "0s"', "more than 0"),
        ('url = "${services.backend.url}/x"\nmethod = "get"', "GET"),
    ],
)
def test_bad_entries_are_config_errors(tmp_path: Path, entry: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SERVICES + "\n[[smoke]]\n" + entry + "\n")
    rendered = info.value.render()
    assert says in rendered, rendered
    assert "smoke[0]" in rendered


def test_body_contains_is_interpolated_as_url_and_body_are(tmp_path: Path) -> None:
    """Field trial: `body_contains = ["${services.backend.url}"]` was compared as written
    (`${...}` and all), so the check failed on a body that held the URL."""
    [entry] = load(
        tmp_path,
        SERVICES
        + """
        [[smoke]]
        url = "${services.frontend.url}/config"
        body_contains = ["${services.backend.url}", "token=${env:TOKEN}", "$$5"]
        body_not_contains = ["${services.frontend.url}/error"]
        """,
    )
    assert entry.body_contains == ("http://127.0.0.1:5000", "token=t0k", "$5")
    assert entry.body_not_contains == ("http://127.0.0.1:3000/error",)


def test_a_bad_reference_in_body_contains_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            SERVICES + '\n[[smoke]]\nurl = "${services.backend.url}/"\n'
            'body_contains = ["${services.nope.url}"]\n',
        )
    [problem] = caught.value.problems
    assert problem.key_path == "smoke[0].body_contains"
    assert "nope" in problem.message
