"""Once healthy, an http probe keeps out of the access logs (issue 13, point 9).

With ``health.interval`` not written, the http request is sent only every 60 s and a
TCP connect (which no server logs) checks the port at each 5 s tick in between; an
explicit interval keeps the request at every tick. Real servers, real ``devstack up``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, program
from devstack.config import load_stack
from devstack.logs.printer import Printer
from devstack.runtime.supervisor import Supervisor
from devstack.spec import HealthSpec
from devstack.states import ServiceState
from support.stackrun import RunningStack, write_stack

PY = sys.executable


@pytest.mark.slow
def test_quiet_default_sends_no_http_probe_for_seconds_after_healthy(tmp_path: Path) -> None:
    """The field trial: a request every 5 s filled both access logs. Over 9 s after
    healthy (the old cadence sent one or two), the quiet default sends none."""
    write_stack(
        tmp_path,
        f"""
        [services.api]
        cmd = "{PY} {program("echo_http")} ${{port}}"
        port = {free_port()}
        health.http = "/health"
        """,
    )
    with RunningStack(tmp_path) as stack:
        stack.wait_for(r"api\s+\* \[healthy\]")
        window = 9.0  # a count over a window, not a wait for something to start
        time.sleep(window)
        out = stack.output()
    after = out[out.index("[healthy]") :]
    assert re.findall(r"^api\s+\| GET /health$", after, re.M) == [], out


def test_quiet_probe_still_turns_unhealthy_when_the_app_answers_500(tmp_path: Path) -> None:
    """The request still goes out every http_every; once it fails, every tick probes in
    full, so `retries` failures make it unhealthy as before (cadence shortened here)."""
    (tmp_path / "stack.toml").write_text(
        f"""
[services.api]
cmd = "{PY} {program("http_server")} ${{port}} --path /health --flap-after 1.5"
port = {free_port()}
health.http = "/health"
"""
    )

    async def main() -> tuple[ServiceState, str | None, float]:
        stack = load_stack(None, tmp_path)
        api = stack.services["api"]
        assert api.health is not None and api.health.http_every == 60.0  # the quiet default
        quick: HealthSpec = dataclasses.replace(api.health, interval=0.2, http_every=1.0)
        stack = dataclasses.replace(stack, services={"api": dataclasses.replace(api, health=quick)})
        out = os.open(tmp_path / "out.txt", os.O_WRONLY | os.O_CREAT, 0o600)
        sup = Supervisor(stack, printer=Printer(["api"], out=out, color=False), checks=False)
        runner = asyncio.create_task(sup.run())
        try:
            deadline = time.monotonic() + 20
            while not sup.services or sup.services["api"].state is not ServiceState.HEALTHY:
                assert time.monotonic() < deadline, "never healthy"
                await asyncio.sleep(0.02)
            healthy_at = time.monotonic()
            service = sup.services["api"]
            while service.state is ServiceState.HEALTHY and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return service.state, service.reason, time.monotonic() - healthy_at
        finally:
            sup.request_shutdown()
            await asyncio.wait_for(runner, 20)
            os.close(out)

    state, reason, took = asyncio.run(main())
    assert state is ServiceState.UNHEALTHY, (state, reason)
    assert reason is not None and "-> 500" in reason
    # 500 from 1.5 s on; seen by the next request (every 1 s), then 2 more full ticks.
    assert took < 6.0, took
