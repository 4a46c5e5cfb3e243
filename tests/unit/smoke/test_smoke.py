"""The pure parts of devstack verify: judging answers, the cause chain, the reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from devstack.smoke import cause, judge, report
from devstack.smoke.result import StepResult
from devstack.smoke.run import services_step, state_from_events
from devstack.spec import ServiceSpec, SmokeSpec, StackSpec
from devstack.states import Condition


def svc(name: str, port: int, env: dict[str, str] | None = None, **deps: Condition) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        cmd=name,
        argv=(name,),
        cwd=Path("/"),
        env={"PATH": "/bin", "PORT": str(port), **(env or {})},
        port=port,
        url=f"http://127.0.0.1:{port}",
        depends_on=deps,
    )


# The incident's stack: frontend on 3000 proxies to backend on 5000 through its env.
BACKEND = svc("backend", 5000)
FRONTEND = svc("frontend", 3000, {"BOTEXCEL_API_BASE": "http://127.0.0.1:5000"})
STACK = StackSpec(
    name="botexcel",
    root=Path("/x"),
    file=Path("/x/stack.toml"),
    services={"backend": BACKEND, "frontend": FRONTEND},
)
BLOCKED = {"state": "blocked", "reason": "failed its checks: main.py could not be imported"}
DETAILS = {"backend": ["ImportError: cannot import name 'log_to_ndjson'", "try: gunicorn api:app"]}


def rows(backend: dict[str, object], frontend: dict[str, object]) -> dict[str, dict[str, object]]:
    return {"backend": {"name": "backend", **backend}, "frontend": {"name": "frontend", **frontend}}


# --- judging -----------------------------------------------------------------------------


def test_status_defaults_to_2xx_and_lists_are_exact() -> None:
    any_2xx = SmokeSpec(name="a", method="GET", url="http://127.0.0.1:1/")
    assert judge.failures(any_2xx, 204, "", None) == []
    assert judge.failures(any_2xx, 302, "", None) == ["status 302, expected 2xx"]
    listed = SmokeSpec(name="b", method="GET", url="http://127.0.0.1:1/", expect_status=(401, 400))
    assert judge.failures(listed, 400, "", None) == []
    assert judge.failures(listed, 200, "", None) == ["status 200, expected 401,400"]


def test_body_contains_and_not_contains_name_each_string() -> None:
    spec = SmokeSpec(
        name="c",
        method="GET",
        url="http://127.0.0.1:1/",
        body_contains=('"ok": true', "healthy"),
        body_not_contains=("ECONNREFUSED", "Traceback"),
    )
    assert judge.failures(spec, 200, '{"ok": true, "status": "healthy"}', None) == []
    assert judge.failures(spec, 200, "healthy ECONNREFUSED", None) == [
        "body lacks '\"ok\": true'",
        "body contains 'ECONNREFUSED'",
    ]


def test_json_contains_checks_keys_and_values_as_json_not_as_text() -> None:
    spec = SmokeSpec(
        name="j",
        method="GET",
        url="http://127.0.0.1:1/",
        json_contains=json.dumps({"ok": True, "meta": {"n": 1}}),
    )
    # Compact JSON (Flask's default) passes: no dependence on spacing.
    assert judge.failures(spec, 200, '{"ok":true,"status":"healthy","meta":{"n":1.0}}', None) == []
    assert judge.failures(spec, 200, '{"ok": 1, "meta": {}}', None) == [
        "body JSON ok is 1, expected true",
        "body JSON has no meta.n",
    ]
    assert judge.failures(spec, 200, '{"ok": true, "meta": [1]}', None) == [
        "body JSON.meta is not an object"
    ]
    assert judge.failures(spec, 200, "<html>", None) == ["body is not JSON"]


def test_no_answer_is_one_failure_with_the_error() -> None:
    spec = SmokeSpec(name="d", method="GET", url="http://127.0.0.1:1/", body_contains=("x",))
    assert judge.failures(spec, None, "", "connection refused") == ["no answer: connection refused"]


def test_body_excerpt_is_one_short_line() -> None:
    assert judge.body_excerpt("a\n  b\tc") == "a b c"
    assert len(judge.body_excerpt("x" * 1000, limit=50)) == 50


# --- cause chain -------------------------------------------------------------------------


def test_refused_by_a_not_started_frontend_names_the_blocked_backend_and_details() -> None:
    snapshot = rows(BLOCKED, {"state": "not started", "reason": "depends on backend (healthy)"})
    chain = cause.explain(STACK, snapshot, "http://127.0.0.1:3000/api/x", None, "", DETAILS)
    assert chain == [
        "port 3000 is frontend's, which is not started: depends on backend (healthy)",
        "frontend relies on backend (env BOTEXCEL_API_BASE), which is blocked: "
        "failed its checks: main.py could not be imported",
        "ImportError: cannot import name 'log_to_ndjson'",
        "try: gunicorn api:app",
    ]


def test_healthy_frontend_answering_500_econnrefused_blames_the_backend() -> None:
    snapshot = rows(BLOCKED, {"state": "healthy", "reason": None})
    body = '{"error": "connect ECONNREFUSED 127.0.0.1:5000"}'
    chain = cause.explain(STACK, snapshot, "http://127.0.0.1:3000/api/x", 500, body, DETAILS)
    assert chain[0] == "port 3000 is frontend's, which is healthy"
    assert chain[1] == "its answer says ECONNREFUSED on port 5000: backend's port"
    assert chain[2].startswith("frontend relies on backend (env BOTEXCEL_API_BASE), which is")
    assert chain[3:] == DETAILS["backend"]


def test_the_port_in_an_econnrefused_message_is_read_for_ipv4_and_ipv6() -> None:
    snapshot = rows({"state": "stopped"}, {"state": "healthy"})
    for body in (
        "connect ECONNREFUSED 127.0.0.1:5000",
        "ECONNREFUSED [::1]:5000",
        "ECONNREFUSED ::1:5000",
    ):
        chain = cause.explain(STACK, snapshot, "http://127.0.0.1:3000/", 500, body)
        assert chain[1] == "its answer says ECONNREFUSED on port 5000: backend's port", body
        assert chain[2] == "frontend relies on backend (env BOTEXCEL_API_BASE), which is stopped"


def test_a_down_owner_is_named_with_its_reason() -> None:
    crashed = {"state": "failed", "reason": "exited 1: ImportError: no module named x (app.py:3)"}
    snapshot = rows(crashed, {"state": "healthy", "reason": None})
    chain = cause.explain(STACK, snapshot, "http://localhost:5000/api/health", None, "")
    assert chain == [
        "port 5000 is backend's, which is failed: exited 1: ImportError: no module named x "
        "(app.py:3)"
    ]


def test_5xx_with_everything_healthy_points_at_the_logs() -> None:
    snapshot = rows({"state": "healthy"}, {"state": "healthy"})
    chain = cause.explain(STACK, snapshot, "http://127.0.0.1:3000/", 502, "bad gateway")
    assert chain == [
        "port 3000 is frontend's, which is healthy",
        "what frontend relies on is healthy (backend)",
        "see: devstack logs frontend",
    ]


def test_4xx_and_unknown_ports_get_no_or_a_plain_cause() -> None:
    snapshot = rows(BLOCKED, {"state": "healthy"})
    assert cause.explain(STACK, snapshot, "http://127.0.0.1:3000/", 404, "") == []
    assert cause.explain(STACK, snapshot, "http://127.0.0.1:9999/", None, "") == [
        "no service of the stack declares port 9999"
    ]


def test_upstream_lists_depends_on_then_env_references_once() -> None:
    web = svc("web", 3000, {"API": "http://127.0.0.1:5000/v1", "OTHER": "x"}, api=Condition.HEALTHY)
    api = svc("api", 5000)
    db = svc("db", 5432)
    stack = StackSpec(
        name="s", root=Path("/"), file=None, services={"web": web, "api": api, "db": db}
    )
    assert cause.upstream(stack, web) == [("api", "depends_on, env API")]
    assert cause.upstream(stack, api) == []


def moved_stack() -> StackSpec:
    """The field trial's stack: next.config.ts rewrites /api to 127.0.0.1:5328, while
    stack.toml now runs the backend on 5329."""
    backend = svc("backend", 5329)
    frontend = svc("frontend", 3000, backend=Condition.STARTED)
    return StackSpec(
        name="s", root=Path("/x"), file=None, services={"frontend": frontend, "backend": backend}
    )


def test_a_refusal_the_supervisor_saw_names_the_service_that_moved() -> None:
    stack = moved_stack()
    healthy = {"frontend": {"state": "healthy"}, "backend": {"state": "healthy"}}
    seen = [
        "GET /api/python 500 in 25ms",
        "[refused] 127.0.0.1:5328: no service of this stack declares port 5328",
    ]
    chain = cause.explain(
        stack,
        healthy,
        "http://127.0.0.1:3000/api/python",
        500,
        "Internal Server Error",
        seen=seen,
        find_port=lambda svc, port: [f"next.config.ts:{port - 5320}"],
    )
    assert chain == [
        "port 3000 is frontend's, which is healthy",
        "frontend was refused on 127.0.0.1:5328 (its output, at the request): "
        "no service of this stack declares port 5328",
        "most likely backend moved: backend is on port 5329 now, "
        "while frontend still calls port 5328",
        "port 5328 is written in next.config.ts:8",
        "see: devstack logs frontend",
    ]


def test_the_refused_port_is_read_from_the_output_and_env_tells_where_it_is_written() -> None:
    backend = svc("backend", 5329)
    frontend = svc("frontend", 3000, {"API_URL": "http://localhost:5328/api"})
    stack = StackSpec(
        name="s", root=Path("/x"), file=None, services={"frontend": frontend, "backend": backend}
    )
    healthy = {"frontend": {"state": "healthy"}, "backend": {"state": "healthy"}}
    # Next's own line for a failed rewrite; the [refused] event may be an earlier one's.
    seen = [
        "Failed to proxy http://localhost:5328/api/x Error: connect ECONNREFUSED 127.0.0.1:5328"
    ]
    chain = cause.explain(stack, healthy, "http://127.0.0.1:3000/api/x", 500, "", seen=seen)
    assert chain[1].startswith("frontend was refused on 127.0.0.1:5328")
    assert chain[2].startswith("most likely backend moved: backend is on port 5329 now")
    assert chain[3] == "port 5328 is written in env API_URL"


def test_a_refused_declared_port_names_its_service_and_state() -> None:
    snapshot = rows({"state": "crashed", "reason": "exit 1: ImportError: x"}, {"state": "healthy"})
    seen = [
        "redis.exceptions.ConnectionError: Error 111 connecting to localhost:5000. "
        "Connection refused."
    ]
    chain = cause.explain(STACK, snapshot, "http://127.0.0.1:3000/", 500, "", seen=seen)
    assert chain[1] == (
        "frontend was refused on localhost:5000 (its output, at the request): "
        "backend's port, which is crashed: exit 1: ImportError: x"
    )


def test_no_guess_when_no_service_is_related_or_near() -> None:
    stack = moved_stack()
    far = StackSpec(
        name="s",
        root=Path("/x"),
        file=None,
        services={"frontend": svc("frontend", 3000), "db": svc("db", 5432)},
    )
    healthy = {"frontend": {"state": "healthy"}, "db": {"state": "healthy"}}
    seen = ["dial tcp 127.0.0.1:8080: connect: connection refused"]
    chain = cause.explain(far, healthy, "http://127.0.0.1:3000/", 502, "", seen=seen)
    assert chain == [
        "port 3000 is frontend's, which is healthy",
        "frontend was refused on 127.0.0.1:8080 (its output, at the request): "
        "no service of this stack declares port 8080",
        "see: devstack logs frontend",
    ]
    # A request straight to the old port: the service now one port up is named.
    assert cause.explain(stack, healthy, "http://127.0.0.1:5328/api", None, "") == [
        "no service of the stack declares port 5328",
        "most likely backend moved: backend is on port 5329 now",
    ]


# --- events of an ended stack ------------------------------------------------------------


def test_state_from_events_reads_the_last_state_event() -> None:
    events = [
        "[check] python found",
        "[check failed] main.py could not be imported",
        "  ImportError: x",
    ]
    assert state_from_events(events) == (
        "blocked",
        "failed its checks: main.py could not be imported",
    )
    assert state_from_events(["[start] pid 3", "[healthy] GET / -> 200", "[stopped]"]) == (
        "stopped",
        None,
    )
    assert state_from_events(["[not started] depends on api"]) == (
        "not started",
        "depends on api",
    )
    assert state_from_events(["[check] ok"]) is None


def test_services_step_fails_on_bad_states_only() -> None:
    good = services_step({"a": {"state": "healthy"}, "b": {"state": "exited"}})
    assert good.ok
    bad = services_step({"a": BLOCKED, "b": {"state": "running"}})
    assert bad.failures == ("a is blocked: failed its checks: main.py could not be imported",)


# --- reports -----------------------------------------------------------------------------

RESULTS = [
    StepResult(name="services", kind="services"),
    StepResult(
        name="backend health",
        kind="request",
        method="GET",
        url="http://127.0.0.1:5000/api/health",
        expect_status=(200,),
        status=200,
        time=0.0123,
    ),
    StepResult(
        name="proxy",
        kind="request",
        method="POST",
        url="http://127.0.0.1:3000/api/agent/context/create",
        expect_status=(201, 400, 401),
        error="connection refused",
        time=0.0021,
        failures=("no answer: connection refused",),
        cause=("port 3000 is frontend's, which is not started",),
    ),
]


def test_table_has_aligned_columns_marks_and_details() -> None:
    text = report.table(RESULTS)
    lines = text.splitlines()
    assert lines[0].split() == ["STEP", "REQUEST", "EXPECTED", "ACTUAL", "RESULT", "TIME"]
    column = lines[0].index("EXPECTED")
    assert lines[1].split() == ["services", "-", "healthy", "ok", "ok", "-"]
    assert lines[2].split() == [
        "backend", "health", "GET", "http://127.0.0.1:5000/api/health", "200", "200", "ok", "12ms"
    ]  # fmt: skip
    assert lines[3].split()[-4:] == ["201,400,401", "refused", "FAIL", "2ms"]
    # Every row's EXPECTED cell starts in the header's column.
    assert [line[column:].split()[0] for line in lines[1:4]] == ["healthy", "200", "201,400,401"]
    assert lines[4:] == [
        "  no answer: connection refused",
        "  cause: port 3000 is frontend's, which is not started",
        "2/3 steps passed",
    ]


def test_json_is_the_documented_shape() -> None:
    doc = report.to_json(RESULTS, stack="/x/stack.toml", started=True, kept=False)
    json.dumps(doc)
    assert set(doc) == {"v", "ok", "stack", "started", "kept", "error", "steps"}
    assert doc["v"] == 1 and doc["ok"] is False and doc["error"] is None
    step = doc["steps"][2]
    assert set(step) == {
        "name", "kind", "method", "url", "expected", "status", "error",
        "ok", "time", "failures", "cause", "body", "file", "line",
    }  # fmt: skip
    assert step["expected"] == [201, 400, 401] and step["status"] is None and step["ok"] is False
    assert doc["steps"][1]["time"] == 0.0123


def test_junit_parses_with_one_failure_per_failed_step() -> None:
    root = ET.fromstring(report.junit(RESULTS))
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == ["services", "backend health", "proxy"]
    failure = cases[2].find("failure")
    assert failure is not None and failure.get("message") == "no answer: connection refused"
    assert "cause: port 3000" in (failure.text or "")


def test_junit_of_a_stack_that_could_not_start_has_an_error_case() -> None:
    root = ET.fromstring(report.junit([], "devstack: the stack could not be started\nwhy"))
    assert root.get("errors") == "1"
    error = root.find("testcase/error")
    assert error is not None and error.get("message") == "devstack: the stack could not be started"
