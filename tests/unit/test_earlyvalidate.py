"""The child forked at the start of `up` that validates a config cache miss.

Each case runs in a process of its own: forking from a test runner's threaded worker
is unsafe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from support.stackrun import devstack_env

_SCRIPT = """
import os, sys, time
from pathlib import Path
from devstack import speccache
from devstack.earlyvalidate import EarlyValidator

mode, file = sys.argv[1], Path(sys.argv[2])
cache = file.parent / ".devstack" / "spec-cache.json"
early = EarlyValidator.fork()
pid = early._pid
if mode == "discard":
    early.discard()
    try:
        os.kill(pid, 0)
        print("alive")
    except ProcessLookupError:
        print("gone", cache.exists())
    sys.exit(0)
ran = []
ok = early.validate(file, cache, lambda: ran.append(os.getpid()))
spec = speccache.load(cache, file, os.environ)
print(ok, ran == [os.getpid()], None if spec is None else sorted(spec.services))
"""


def _run(mode: str, file: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode, str(file)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=file.parent,
    )
    assert (out.returncode, out.stderr) == (0, "")  # the child printed nothing
    return out.stdout.strip()


def _stack(tmp_path: Path, body: str) -> Path:
    file = tmp_path / "stack.toml"
    file.write_text(body)
    return file


GOOD = """
[services.api]
cmd = "python -m http.server ${port}"
port = 5000

[services.web]
cmd = "node x.js"
"""


def test_a_miss_is_validated_by_the_child_while_the_parent_runs_meanwhile(tmp_path: Path) -> None:
    file = _stack(tmp_path, GOOD)
    # The parent ran meanwhile itself; the child validated and wrote the cache; the
    # spec read back from it is the whole stack.
    assert _run("validate", file) == "True True ['api', 'web']"


def test_a_bad_config_is_left_to_the_parent_to_report(tmp_path: Path) -> None:
    file = _stack(tmp_path, '[services.a]\ncmd = "x"\nprot = 1\n')
    # The child failed silently (stderr is empty) and wrote no cache.
    assert _run("validate", file) == "False True None"


def test_a_discarded_child_is_killed_and_reaped_at_once(tmp_path: Path) -> None:
    file = _stack(tmp_path, GOOD)
    # Killed before it could validate anything, and reaped: not even a zombie is left.
    assert _run("discard", file) == "gone False"


def test_up_that_ends_on_a_usage_error_leaves_no_child_behind(tmp_path: Path) -> None:
    _stack(tmp_path, GOOD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--no-such-flag"],
        cwd=tmp_path,
        env=devstack_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    # Nothing of its session outlives it (the validating child included).
    left = [p for p in psutil.process_iter(["pid"]) if _sid(p) == proc.pid]
    assert left == []


def _sid(p: psutil.Process) -> int | None:
    try:
        return os.getsid(p.pid)
    except OSError:
        return None


_BEGIN = """
import os, sys
from pathlib import Path
from devstack import earlyvalidate as ev

file = Path(sys.argv[1])
ev.keep_validated(file, file.parent / ".devstack" / "spec-cache.json")
for args in ([], ["web", "--no-setup"], ["-d"], ["-f", "stack.toml"]):
    ev.begin(args)
    child = ev.EarlyValidator.take()
    spec = ev.take_cached(file)
    print(args, "child" if child else "no child", "cached" if spec else "not cached")
    if child:
        child.discard()
file.write_text(file.read_text() + "# edited\\n")
ev.begin([])
child = ev.EarlyValidator.take()
print("edited", "child" if child else "no child", ev.take_cached(file) is not None)
child.discard()
"""


def test_begin_uses_the_cache_for_a_plain_up_and_forks_the_child_otherwise(
    tmp_path: Path,
) -> None:
    file = _stack(tmp_path, GOOD)
    out = subprocess.run(
        [sys.executable, "-c", _BEGIN, str(file.resolve())],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.splitlines() == [
        "[] no child cached",
        "['web', '--no-setup'] no child cached",
        "['-d'] child not cached",  # options argparse alone reads: the CLI decides
        "['-f', 'stack.toml'] child not cached",
        "edited child False",  # a miss: the child validates
    ]
