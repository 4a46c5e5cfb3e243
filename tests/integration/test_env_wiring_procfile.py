"""Issue 13 point 3: a browser callback URL in a Procfile stack's ``.env`` must not block it.

The user's stack, with tiny real programs in place of the real ones: a Procfile with
``web: gunicorn "app:create_app()"``, a Celery ``worker`` and ``beat``, ``redis`` and a
``release`` one-shot, and a ``.env`` holding ``OKTA_REDIRECT_URI`` (a callback for a
disabled feature, on a port nothing declares) and ``REDIS_URL``. Every service is Python.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path

from conftest import free_port
from devstack.procs import portowners as ports
from support.stackrun import RunningStack, devstack_env, run_devstack

# Each fake program does what the real one would need of this test: stay up (and listen,
# for gunicorn and redis-server, on 127.0.0.1 only) until stopped.
_SERVE = """
import http.server, socketserver
server = socketserver.TCPServer(("127.0.0.1", PORT), http.server.BaseHTTPRequestHandler)
print(f"listening on {PORT}", flush=True)
server.serve_forever()
"""
_PROGRAMS = {
    # gunicorn binds $PORT when the command gives no --bind (as the real one does).
    "gunicorn": "import os\nPORT = int(os.environ['PORT'])\n" + _SERVE,
    "redis-server": "import sys\nPORT = int(sys.argv[sys.argv.index('--port') + 1])\n" + _SERVE,
    "celery": "import sys, time\nprint('celery', ' '.join(sys.argv[1:]), 'ready', flush=True)\n"
    "while True:\n    time.sleep(1)\n",
}


def user_stack(root: Path) -> tuple[int, int, int]:
    """The user's project in ``root``: (web's port, redis's port, the callback's port)."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, body in _PROGRAMS.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    web, redis = free_port(), free_port()
    # The Procfile numbers ports from PORT: worker web+100, beat +200, redis +300,
    # release +400. The callback's port is free and declared by none; it is the one
    # closest to redis's, as 5000 was in the user's stack.
    callback = web + 301
    assert ports.is_port_free(callback, "127.0.0.1")
    # celery -A app.celery: the preflight loads it as celery does (a Celery instance).
    (root / "app.py").write_text(
        "from celery import Celery\n\ncelery = Celery('app')\n\n\n"
        "def create_app():\n"
        "    def app(environ, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [b'ok']\n"
        "    return app\n"
    )
    (root / "release.py").write_text("print('migrations applied')\n")
    (root / "Procfile").write_text(
        textwrap.dedent(f"""\
            web: gunicorn "app:create_app()"
            worker: celery -A app.celery worker --loglevel=info
            beat: celery -A app.celery beat
            redis: redis-server --port {redis}
            release: python release.py
            """)
    )
    (root / ".env").write_text(
        f"PORT={web}\n"
        "FLASK_APP=app:create_app\n"
        f"REDIS_URL=redis://localhost:{redis}/0\n"
        "# Okta login is switched off in development\n"
        f"OKTA_REDIRECT_URI=http://localhost:{callback}/auth/okta/callback\n"
    )
    return web, redis, callback


def env_with_bin(root: Path) -> dict[str, str]:
    return devstack_env(PATH=f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}")


def test_check_warns_once_names_web_with_the_path_and_the_env_line(tmp_path: Path) -> None:
    _, _, callback = user_stack(tmp_path)
    result = run_devstack(tmp_path, "check", env=env_with_bin(tmp_path))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert " fail " not in out
    warnings = [line for line in out.splitlines() if "OKTA_REDIRECT_URI" in line]
    # Once, not once per service reading the shared .env; with the file and line.
    assert len([w for w in warnings if "points at port" in w]) == 1, out
    assert f"OKTA_REDIRECT_URI=http://localhost:{callback}/auth/okta/callback (.env:5)" in out
    # The http URL means web (the Procfile's http process), never redis; the fix keeps
    # the path and is for the .env line, not for a stack.toml this stack does not have.
    assert "most likely means web" in out
    web_port = int(re.search(r"PORT=(\d+)", (tmp_path / ".env").read_text()).group(1))  # type: ignore[union-attr]
    assert (
        f"fix: in .env:5: OKTA_REDIRECT_URI=http://localhost:{web_port}/auth/okta/callback" in out
    )
    assert "redis (port" not in out and "stack.toml" not in out
    # localhost -> ::1 is a Node client's trap; these are all Python.
    assert "::1" not in out and "Node" not in out


def test_up_starts_all_five_with_one_warning(tmp_path: Path) -> None:
    user_stack(tmp_path)
    with RunningStack(tmp_path, env=env_with_bin(tmp_path)) as stack:
        for name in ("web", "worker", "beat", "redis", "release"):
            stack.wait_for(rf"^{name}\s+\* \[start\]", timeout=30)
        stack.wait_for(r"^release\s+\* \[exited\] exit 0", timeout=30)
        stack.wait_for(r"^web\s+.*listening on", timeout=30)
        out = stack.output()
    assert "[blocked]" not in out and "[check failed]" not in out, out
    assert len(re.findall(r"\[check warning\] OKTA_REDIRECT_URI", out)) == 1, out
    assert "::1" not in out, out
