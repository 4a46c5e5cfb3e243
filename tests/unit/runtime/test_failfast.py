"""The start-up pacing and the rules that end a hopeless wait early (runtime/failfast.py)."""

from __future__ import annotations

import pytest

from devstack.runtime.failfast import (
    FATAL_GRACE,
    IDLE_SHARE,
    LISTEN_GRACE,
    STATUS_REPEATS,
    STATUS_SPAN,
    FatalLines,
    ListenWatch,
    StatusStreak,
    is_settled_4xx,
    listen_verdict,
    next_delay,
    status_verdict,
)


def test_delay_doubles_from_start_interval_up_to_a_second() -> None:
    delays, delay = [], 0.02
    for _ in range(8):
        delay = next_delay(delay, failing_for=0.0, start_interval=0.02)
        delays.append(delay)
    assert delays == [0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0, 1.0]


def test_then_a_quarter_of_the_time_spent_failing_up_to_five_seconds() -> None:
    assert next_delay(1.0, failing_for=8.0, start_interval=0.02) == 2.0
    assert next_delay(2.0, failing_for=100.0, start_interval=0.02) == 5.0


def test_a_start_interval_above_the_cap_is_kept() -> None:
    assert next_delay(2.0, failing_for=0.0, start_interval=2.0) == 2.0


def requests_until(ready_at: float, horizon: float = 60.0) -> tuple[int, float]:
    """(requests sent until the first one at or after ``ready_at``, how late that one was)."""
    now, count, delay = 0.0, 0, 0.02
    while now < horizon:
        count += 1
        if now >= ready_at:
            return count, now - ready_at
        delay = next_delay(delay, failing_for=now, start_interval=0.02)
        now += delay
    return count, float("inf")


def test_a_minute_of_failing_answers_gets_a_few_dozen_requests() -> None:
    """Reliability case 46 (docs/reliability.md): an app that answers 503 for a minute."""
    assert requests_until(float("inf"))[0] <= 25


def test_an_app_ready_after_warming_up_is_seen_soon_after() -> None:
    """Reliability case 46 (docs/reliability.md): the price of backing off."""
    for ready_at in (0.5, 5.0, 15.0, 30.0):
        count, late = requests_until(ready_at)
        assert count <= 20 and late <= max(0.3, ready_at / 4), (ready_at, count, late)


@pytest.mark.parametrize(
    ("status", "settled"),
    [
        (401, True),
        (403, True),
        (404, True),
        (400, True),
        (429, False),
        (408, False),
        (503, False),
        (500, False),
        (None, False),
    ],
)
def test_only_client_errors_that_do_not_pass_by_themselves_count(
    status: int | None, settled: bool
) -> None:
    assert is_settled_4xx(status) is settled


def test_the_same_403_gives_up_after_enough_answers_and_time() -> None:
    streak = StatusStreak()
    now = 0.0
    for _ in range(STATUS_REPEATS - 1):
        assert streak.see(403, now) is None
        now += STATUS_SPAN
    assert streak.see(403, now) == 403


def test_many_quick_answers_are_not_enough_without_the_time_span() -> None:
    streak = StatusStreak()
    assert all(streak.see(404, i * 0.01) is None for i in range(50))


def test_a_different_answer_starts_the_streak_again() -> None:
    streak = StatusStreak()
    for i in range(STATUS_REPEATS - 1):
        streak.see(403, float(i))
    streak.see(503, 10.0)  # warming up: not a streak of its own
    assert streak.see(403, 11.0) is None
    assert streak.count == 1


def test_status_verdicts_name_the_status_and_a_fitting_fix() -> None:
    probe = "GET http://127.0.0.1:5000/health"
    assert status_verdict(probe, 403, 5).startswith(f"{probe} -> 403, 5 times in a row: ")
    assert "expect_status = [403]" in status_verdict(probe, 403, 5)
    assert "needs a login" in status_verdict(probe, 401, 5)
    assert "no such path" in status_verdict(probe, 404, 5)
    assert "ALLOWED_HOSTS" in status_verdict(probe, 400, 5)
    assert "expect_status = [418]" in status_verdict(probe, 418, 5)


def test_listening_elsewhere_must_last_the_grace_period() -> None:
    watch = ListenWatch()
    assert watch.see(["5173"], 0.0, cpu=1.0) is None
    assert watch.see(["5173"], LISTEN_GRACE - 0.1, cpu=1.0) is None
    assert watch.see(["5173"], LISTEN_GRACE, cpu=1.0) == ["5173"]


def test_listening_on_the_probed_address_again_resets_the_watch() -> None:
    watch = ListenWatch()
    watch.see(["5173"], 0.0, cpu=0.0)
    watch.see([], 1.0, cpu=0.0)
    assert watch.see(["5173"], LISTEN_GRACE, cpu=0.0) is None


def test_a_busy_tree_is_still_starting_its_other_server() -> None:
    """`concurrently "vite" "uvicorn main:app"`: vite listens at once while uvicorn
    imports a heavy app, busy on the CPU. Only once the tree idles is it settled."""
    watch = ListenWatch()
    now, cpu = 0.0, 0.0
    while now < 20:
        assert watch.see(["5173"], now, cpu=cpu) is None, now
        now, cpu = now + 1, cpu + 0.8  # importing: most of a CPU
    idle_since = now
    while now < idle_since + LISTEN_GRACE:
        assert watch.see(["5173"], now, cpu=cpu) is None, now
        now, cpu = now + 1, cpu + IDLE_SHARE / 2
    assert watch.see(["5173"], now, cpu=cpu) == ["5173"]


def test_a_debugger_port_alone_says_nothing() -> None:
    watch = ListenWatch()
    assert watch.see(["9229"], 0.0, cpu=0.0) is None
    assert watch.see(["9229"], 100.0, cpu=0.0) is None
    watch.see(["9229", "5173"], 100.0, cpu=0.0)
    assert watch.see(["9229", "5173"], 100.0 + LISTEN_GRACE, cpu=0.0) == ["5173"]


def test_listen_verdicts() -> None:
    assert listen_verdict(["5173"], 3000, "127.0.0.1", declared=True).startswith(
        "listens on 5173, not 3000 as declared: pass the port to it"
    )
    assert "set port = 5173" in listen_verdict(["5173"], 3000, "127.0.0.1", declared=True)
    v6 = listen_verdict(["[::1]:3000"], 3000, "127.0.0.1", declared=True)
    assert v6.startswith("listens on [::1]:3000, not 127.0.0.1:3000 as declared: make it listen")
    assert "as probed" in listen_verdict(["8000"], 9000, "127.0.0.1", declared=False)


UVICORN_RELOAD_TRACEBACK = """\
INFO:     Will watch for changes in these directories: ['/app']
INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)
INFO:     Started reloader process [19832] using StatReload
Process SpawnProcess-1:
Traceback (most recent call last):
  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap
    self.run()
  File "/v/site-packages/uvicorn/_subprocess.py", line 80, in subprocess_started
    target(sockets=sockets)
  File "/v/site-packages/uvicorn/importer.py", line 19, in import_from_string
    module = importlib.import_module(module_str)
  File "/app/main.py", line 3, in <module>
    from converter import log_to_ndjson
ImportError: cannot import name 'log_to_ndjson' from 'converter' (/app/converter.py)
"""

DJANGO_TRACEBACK = """\
Watching for file changes with StatReloader
Exception in thread django-main-thread:
Traceback (most recent call last):
  File "/usr/lib/python3.11/threading.py", line 1045, in _bootstrap_inner
    self.run()
  File "/app/mysite/settings.py", line 12, in <module>
    import nosuch
ModuleNotFoundError: No module named 'nosuch'
"""


def feed_lines(text: str, fatal: FatalLines) -> None:
    for line in text.splitlines(keepends=True):  # as the pipe delivers it, line by line
        fatal.feed(line)


def test_uvicorn_could_not_import_module() -> None:
    fatal = FatalLines()
    fatal.feed('ERROR:    Error loading ASGI app. Could not import module "main".\n')
    assert fatal.verdict == 'uvicorn: Could not import module "main".'


def test_uvicorn_reload_traceback_gives_the_exception_and_the_users_line() -> None:
    fatal = FatalLines()
    feed_lines(UVICORN_RELOAD_TRACEBACK, fatal)
    assert fatal.verdict == (
        "uvicorn: ImportError: cannot import name 'log_to_ndjson' from 'converter' "
        "(/app/converter.py) (main.py:3); its reloader waits for a file change"
    )


def test_the_verdict_waits_for_the_end_of_the_traceback() -> None:
    fatal = FatalLines()
    feed_lines(UVICORN_RELOAD_TRACEBACK.rsplit("ImportError", 1)[0], fatal)
    assert fatal.verdict is None


def test_django_runserver_thread_death() -> None:
    fatal = FatalLines()
    feed_lines(DJANGO_TRACEBACK, fatal)
    assert fatal.verdict is not None
    assert fatal.verdict.startswith(
        "django runserver: ModuleNotFoundError: No module named 'nosuch' (settings.py:12)"
    )


def test_a_multiprocessing_traceback_that_is_not_uvicorns_is_not_fatal() -> None:
    fatal = FatalLines()
    feed_lines(
        "Process SpawnProcess-1:\nTraceback (most recent call last):\n"
        '  File "/app/jobs.py", line 3, in work\n    int("x")\n'
        "ValueError: invalid literal for int() with base 10: 'x'\n",
        fatal,
    )
    assert fatal.verdict is None


def test_ordinary_output_is_not_fatal() -> None:
    fatal = FatalLines()
    feed_lines(
        "INFO:     Started server process [1]\nINFO:     Waiting for application startup.\n"
        "KeyError: 'x' was logged by the app\n",
        fatal,
    )
    assert fatal.verdict is None


def test_a_fatal_line_counts_once_the_process_has_outlived_it() -> None:
    """Without a reloader the server exits right after the line: a crash, for the
    restart policy. Only a process still there after FATAL_GRACE is kept alive by one."""
    fatal = FatalLines()
    assert fatal.settled(0.0) is None
    fatal.feed('ERROR:    Error loading ASGI app. Could not import module "main".\n')
    assert fatal.settled(10.0) is None
    assert fatal.settled(10.0 + FATAL_GRACE / 2) is None
    assert fatal.settled(10.0 + FATAL_GRACE) == 'uvicorn: Could not import module "main".'
