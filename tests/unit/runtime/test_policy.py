"""Restart policy and backoff maths: pure, no sleeping (reliability cases 13, 14, 15 of
docs/reliability.md)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devstack.runtime.policy import backoff_delay, decide_restart
from devstack.spec import RestartSpec
from devstack.states import RestartPolicy

SPEC = RestartSpec(
    policy=RestartPolicy.ON_FAILURE, max_restarts=5, backoff=0.5, backoff_max=4.0, reset_after=10.0
)


def run_crashes(spec: RestartSpec, uptimes: list[float], exit_ok: bool = False) -> list[object]:
    consecutive = 0
    out: list[object] = []
    for uptime in uptimes:
        d = decide_restart(spec, exit_ok=exit_ok, uptime=uptime, consecutive=consecutive)
        out.append(d.delay if d.restart else ("failed" if d.failed else "exited"))
        consecutive = d.consecutive
        if not d.restart:
            break
    return out


def test_first_restart_is_immediate_then_doubles_to_the_cap_then_fails() -> None:
    assert run_crashes(SPEC, [0.1] * 10) == [0.0, 0.5, 1.0, 2.0, 4.0, "failed"]


def test_a_stable_period_resets_the_count() -> None:
    # Four quick crashes, then one after 30 s up: immediate again (moby #22283).
    assert run_crashes(SPEC, [0.1, 0.1, 0.1, 0.1, 30.0]) == [0.0, 0.5, 1.0, 2.0, 0.0]


def test_exit_zero_under_on_failure_is_exited_not_failed() -> None:
    d = decide_restart(SPEC, exit_ok=True, uptime=0.1, consecutive=0)
    assert (d.restart, d.failed, d.reason) == (False, False, "exited 0")


def test_exit_zero_under_always_restarts_with_backoff() -> None:
    spec = RestartSpec(policy=RestartPolicy.ALWAYS, max_restarts=3, backoff=0.25, backoff_max=1.0)
    assert run_crashes(spec, [0.1] * 5, exit_ok=True) == [0.0, 0.25, 0.5, "failed"]


def test_crash_with_restart_no_is_failed_at_once() -> None:
    spec = RestartSpec(policy=RestartPolicy.NO)
    d = decide_restart(spec, exit_ok=False, uptime=0.1, consecutive=0)
    assert (d.restart, d.failed) == (False, True)


def test_max_restarts_zero_never_restarts() -> None:
    spec = RestartSpec(max_restarts=0)
    assert run_crashes(spec, [0.1]) == ["failed"]


@given(st.integers(min_value=0, max_value=200))
def test_delay_is_never_negative_nor_above_the_cap(n: int) -> None:
    assert 0.0 <= backoff_delay(n, SPEC) <= SPEC.backoff_max


@given(st.integers(min_value=1, max_value=50))
def test_delays_never_decrease_along_a_run(n: int) -> None:
    assert backoff_delay(n, SPEC) >= backoff_delay(n - 1, SPEC)
