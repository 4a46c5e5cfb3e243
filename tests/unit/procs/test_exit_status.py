"""ExitStatus and ProcessRecord: pure logic, no processes."""

from __future__ import annotations

import json
import signal

import pytest

from devstack.procs.process import ExitStatus, ProcessRecord, StopResult


def test_zero_is_ok() -> None:
    status = ExitStatus.from_returncode(0)
    assert status == ExitStatus(code=0, signal=None)
    assert status.ok
    assert status.describe() == "exit 0"


def test_nonzero_exit_code() -> None:
    status = ExitStatus.from_returncode(1)
    assert not status.ok
    assert status.code == 1 and status.signal is None
    assert status.describe() == "exit 1"


@pytest.mark.parametrize(
    ("rc", "text"),
    [(-signal.SIGKILL, "killed by SIGKILL"), (-signal.SIGTERM, "killed by SIGTERM")],
)
def test_negative_returncode_is_a_signal(rc: int, text: str) -> None:
    status = ExitStatus.from_returncode(rc)
    assert status.code is None
    assert status.signal == -rc
    assert not status.ok
    assert status.describe() == text


def test_unknown_signal_number_is_still_described() -> None:
    assert ExitStatus.from_returncode(-99).describe() == "killed by signal 99"


def test_exit_255_is_an_exit_code_not_a_signal() -> None:
    assert ExitStatus.from_returncode(255).describe() == "exit 255"


def test_process_record_round_trips_through_json() -> None:
    rec = ProcessRecord(pid=10, pgid=10, sid=10, create_time=1732790000.123456, token="ab12")
    assert ProcessRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


@pytest.mark.parametrize(
    "bad",
    [
        {"pid": 1, "pgid": 1, "sid": 1, "create_time": 1.0},
        {"pid": "1", "pgid": 1, "sid": 1, "create_time": 1.0, "token": "t"},
        {"pid": True, "pgid": 1, "sid": 1, "create_time": 1.0, "token": "t"},
        {"pid": 1, "pgid": 1, "sid": 1, "create_time": "x", "token": "t"},
        {"pid": 1, "pgid": 1, "sid": 1, "create_time": 1.0, "token": 5},
    ],
)
def test_process_record_rejects_bad_json(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ProcessRecord.from_json(bad)


def test_stop_result_has_no_survivors_by_default() -> None:
    assert StopResult(killed=False, signalled=1, duration=0.1).survivors == ()
