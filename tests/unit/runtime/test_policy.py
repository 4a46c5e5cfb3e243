"""Restart policy and backoff maths: pure, no sleeping (reliability cases 13, 14, 15 of
docs/reliability.md)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devstack.runtime.policy import (
    QuickFailure,
    backoff_delay,
    cannot_run,
    decide_restart,
    futile_restart,
)
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


# Futile restarts: the same immediate failure twice (issue: `nosuchcmd` retried 5 times).
NOT_FOUND = QuickFailure.of("exit 127", 127, ["sh: 1: nosuchcmd: not found"], 0.01)
FATAL = QuickFailure.of("exit 2", 2, ["starting", "FATAL: bad config file"], 0.2)


def test_second_identical_not_found_is_failed_with_the_cause() -> None:
    assert futile_restart(SPEC, None, NOT_FOUND) is None  # the first one is retried
    assert futile_restart(SPEC, NOT_FOUND, NOT_FOUND) == (
        "exit 127 twice within 1s: sh: 1: nosuchcmd: not found: restarting cannot help;"
        " fix the command"
    )


def test_second_identical_fatal_line_gives_up_under_on_failure_only() -> None:
    assert futile_restart(SPEC, FATAL, FATAL) == (
        "exit 2 twice within 1s: FATAL: bad config file: restarting cannot help;"
        " fix what it reports"
    )
    always = RestartSpec(policy=RestartPolicy.ALWAYS)
    assert futile_restart(always, FATAL, FATAL) is None  # not certain: `always` keeps trying
    assert futile_restart(always, NOT_FOUND, NOT_FOUND) is not None  # certain: gives up


def test_restarts_go_on_when_the_failures_differ_or_are_not_immediate() -> None:
    late = QuickFailure.of("exit 2", 2, ["FATAL: bad config file"], 2.5)
    other = QuickFailure.of("exit 2", 2, ["FATAL: another line"], 0.2)
    code = QuickFailure.of("exit 3", 3, ["FATAL: bad config file"], 0.2)
    silent = QuickFailure.of("exit 1", 1, [], 0.1)
    assert futile_restart(SPEC, late, late) is None  # ran a while: a crash, back off
    assert futile_restart(SPEC, FATAL, late) is None
    assert futile_restart(SPEC, FATAL, other) is None
    assert futile_restart(SPEC, FATAL, code) is None
    assert futile_restart(SPEC, silent, silent) is None  # nothing to compare


def test_transient_lines_are_left_to_the_backoff() -> None:
    busy = QuickFailure.of("exit 1", 1, ["OSError: [Errno 98] Address already in use"], 0.1)
    refused = QuickFailure.of("exit 1", 1, ["could not connect: Connection refused"], 0.1)
    assert futile_restart(SPEC, busy, busy) is None
    assert futile_restart(SPEC, refused, refused) is None


def test_not_found_needs_the_shells_line_to_be_certain() -> None:
    bare = QuickFailure.of("exit 127", 127, ["something else"], 0.1)
    denied = QuickFailure.of("exit 126", 126, ["sh: 1: ./run.sh: Permission denied"], 0.1)
    assert cannot_run(NOT_FOUND) and cannot_run(denied) and not cannot_run(bare)
    always = RestartSpec(policy=RestartPolicy.ALWAYS)
    assert futile_restart(always, bare, bare) is None
    assert futile_restart(RestartSpec(policy=RestartPolicy.NO), NOT_FOUND, NOT_FOUND) is None
