"""Crash causes read from real-looking last lines."""

from __future__ import annotations

from devstack.runtime.crashcause import crash_cause

IMPORT_TRACE = """\
Traceback (most recent call last):
  File "/u/.venv/lib/python3.11/site-packages/uvicorn/importer.py", line 19, in import_from_string
    module = importlib.import_module(module_str)
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
  File "/home/u/backend/main.py", line 5, in <module>
    from converter import convert_input, log_to_ndjson
ImportError: cannot import name 'log_to_ndjson' from 'converter' (/home/u/backend/converter.py)
""".splitlines()


def test_import_error_names_the_users_file_and_line() -> None:
    assert crash_cause(IMPORT_TRACE, "exit 1") == (
        "ImportError: cannot import name 'log_to_ndjson' from 'converter' "
        "(/home/u/backend/converter.py) (main.py:5)"
    )


def test_module_not_found() -> None:
    lines = [
        '  File "/app/api.py", line 1, in <module>',
        "ModuleNotFoundError: No module named 'flask'",
    ]
    assert crash_cause(lines, "exit 1") == "ModuleNotFoundError: No module named 'flask' (api.py:1)"


def test_syntax_error_points_at_the_file() -> None:
    lines = [
        '  File "/app/api.py", line 12',
        "    def x(:",
        "        ^",
        "SyntaxError: invalid syntax",
    ]
    assert crash_cause(lines, "exit 1") == "SyntaxError: invalid syntax (api.py:12)"


def test_address_in_use() -> None:
    lines = [
        "[ERROR] Connection in use: ('127.0.0.1', 5000)",
        "OSError: [Errno 98] Address already in use",
    ]
    assert crash_cause(lines, "exit 1") == "OSError: [Errno 98] Address already in use"
    node = ["Error: listen EADDRINUSE: address already in use 127.0.0.1:3000"]
    assert crash_cause(node, "exit 1") == (
        "port already in use: Error: listen EADDRINUSE: address already in use 127.0.0.1:3000"
    )


def test_gunicorn_and_uvicorn_app_errors() -> None:
    assert (
        crash_cause(["Failed to find attribute 'application' in 'api'."], "exit 4")
        == "gunicorn: no application in api"
    )
    assert (
        crash_cause(
            ['ERROR:    Error loading ASGI app. Attribute "app" not found in module "main".'],
            "exit 1",
        )
        == 'uvicorn: error loading ASGI app: Attribute "app" not found in module "main".'
    )


def test_command_not_found_and_nothing_telling() -> None:
    assert crash_cause(["sh: 1: gunicorn: not found"], "exit 127") == "gunicorn: command not found"
    assert crash_cause(["bye"], "exit 127") == "command not found (exit 127)"
    assert crash_cause(["all good", "bye"], "exit 3") is None


def test_the_key_line_of_a_program_that_gives_up() -> None:
    """The last FATAL / ERROR / Error / panic line, from its keyword on, spaces squeezed."""
    postgres = [
        "2026-12-01 10:00:00.123 UTC [42] LOG:  starting PostgreSQL 16.2",
        '2026-12-01 10:00:00.124 UTC [42] FATAL:  lock file "postmaster.pid" already exists',
        "2026-12-01 10:00:00.124 UTC [42] HINT:  Is another postmaster (PID 41) running?",
    ]
    assert crash_cause(postgres, "exit 1") == 'FATAL: lock file "postmaster.pid" already exists'
    gunicorn = ["[2026-12-01 10:00:00 +0000] [7] [ERROR] Worker failed to boot."]
    assert crash_cause(gunicorn, "exit 3") == "ERROR: Worker failed to boot."
    node = ["Error: connect ECONNREFUSED 127.0.0.1:5432", "    at TCPConnectWrap (node:net:1)"]
    assert crash_cause(node, "exit 1") == "Error: connect ECONNREFUSED 127.0.0.1:5432"
    assert crash_cause(["panic: runtime error: index out of range"], "exit 2") == (
        "panic: runtime error: index out of range"
    )
    assert crash_cause(["0 errors", "an error occurred, retrying", "done"], "exit 1") is None


def test_any_exception_line_that_ends_a_traceback() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/srv/app/db.py", line 3, in <module>',
        "    connect()",
        "psycopg2.OperationalError: connection to server failed",
    ]
    assert crash_cause(lines, "exit 1") == (
        "psycopg2.OperationalError: connection to server failed (db.py:3)"
    )


def test_a_lower_case_socket_exception_ends_a_traceback_too() -> None:
    # Field trial of issue 16: a compose monorepo's consumer connecting to the compose
    # name `rabbitmq-server` crashed with `[crashed] exit 1` and no cause.
    lines = [
        "Traceback (most recent call last):",
        '  File "/m/python-factory-service/main.py", line 5, in <module>',
        "    connection = pika.BlockingConnection(pika.ConnectionParameters(host='rabbitmq'))",
        "                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/m/.venv/lib/python3.11/site-packages/pika/adapters/utils/selector_ioloop_'
        'connection.py", line 23, in _resolve',
        "    result: Any = socket.getaddrinfo(host=self._host,",
        "                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo',
        "    for res in _socket.getaddrinfo(host, port, family, type, proto, flags):",
        "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "socket.gaierror: [Errno -2] Name or service not known",
    ]
    assert crash_cause(lines, "exit 1") == (
        "socket.gaierror: [Errno -2] Name or service not known (main.py:5)"
    )


def test_redis_config_error_names_the_directive_and_the_reason() -> None:
    """redis-server 7.0.15's own lines for a bad argument (seen in a field trial): the
    banner says FATAL without a colon, and the cause is on the lines after it. Before,
    nothing was found, and dependents were told only `which failed: exit 1`."""
    lines = [
        "",
        "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***",
        "Reading the configuration file, at line 5",
        ">>> 'maxmemory-policy \"allkeys-lruu\"'",
        "argument(s) must be one of the following: volatile-lru, volatile-lfu, "
        "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
    ]
    assert crash_cause(lines, "exit 1") == (
        "FATAL CONFIG FILE ERROR: 'maxmemory-policy \"allkeys-lruu\"': argument(s) must be "
        "one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, "
        "allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    )
    unknown = [
        "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***",
        "Reading the configuration file, at line 2",
        ">>> 'bogus-directive \"x\"'",
        "Bad directive or wrong number of arguments",
    ]
    assert crash_cause(unknown, "exit 1") == (
        "FATAL CONFIG FILE ERROR: 'bogus-directive \"x\"': "
        "Bad directive or wrong number of arguments"
    )


def test_npms_own_error_is_named_by_its_code_and_first_line() -> None:
    """npm 11.19's `npm ci` without a lockfile (seen in a field trial): no line has a
    keyword with a colon, and the last one is where its log went, which was the cause
    a failed `npm ci` setup step was told by."""
    lines = [
        "npm error code EUSAGE",
        "npm error",
        "npm error The `npm ci` command can only install with an existing package-lock.json or",
        "npm error npm-shrinkwrap.json with lockfileVersion >= 1. Run an install with npm@5 or",
        "npm error later to generate a package-lock.json file, then try again.",
        "npm error",
        "npm error Clean install a project",
        'npm error Run "npm help ci" for more info',
        "npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log",
    ]
    assert crash_cause(lines, "exit 1") == (
        "npm error EUSAGE: The `npm ci` command can only install with an existing "
        "package-lock.json or"
    )
    # A script's own failure (its exit code as npm's `code`) is not npm's error.
    script = ["npm error code 1", "npm error path /app", "npm error command failed"]
    assert crash_cause(script, "exit 1") is None
