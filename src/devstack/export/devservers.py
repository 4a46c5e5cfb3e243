"""Dev servers: commands meant for a laptop (a reloader, a debug server, a bundler's dev
mode), and what runs the same app in production.

``export --check`` asks :func:`dev_server` whether an export would run one as if it
were production. Read from the command (and, for ``pnpm dev``, the package.json script
it runs); Python servers through ``project.servers``. The images work (w-images) has
the same function, ``export.production.dev_server(argv, cwd)``, beside the counterparts
it exports: the signature is the same so that one of the two can go.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from devstack.checks.protocols import simple_commands
from devstack.project.nodepackage import read_package
from devstack.project.servers import parse_server

# A dev server, as reported -> what serves the same app in production.
PRODUCTION = {
    "flask run": "gunicorn APP --bind 0.0.0.0:PORT (or another WSGI server)",
    "manage.py runserver": "gunicorn PROJECT.wsgi --bind 0.0.0.0:PORT",
    "fastapi dev": "fastapi run (or uvicorn without --reload)",
    "uvicorn --reload": "uvicorn without --reload (--workers N)",
    "gunicorn --reload": "gunicorn without --reload",
    "hypercorn --reload": "hypercorn without --reload",
    "granian --reload": "granian without --reload",
    "next dev": "next build, then next start",
    "vite": "vite build, then the dist/ folder served as static files",
    "nuxt dev": "nuxt build, then node .output/server/index.mjs",
    "astro dev": "astro build, then the dist/ folder served (or the node adapter)",
    "react-scripts start": "react-scripts build, then the build/ folder served",
}
_RELOAD_SERVERS = ("uvicorn", "gunicorn", "hypercorn", "granian")
_NODE_DEV = {"next": "dev", "nuxt": "dev", "nuxi": "dev", "astro": "dev"}
_VITE_OTHERS = frozenset({"build", "preview", "optimize"})  # its subcommands that serve no dev
_MANAGERS = frozenset({"npm", "pnpm", "yarn", "bun"})
_RUNNERS = frozenset({"npx", "pnpx", "bunx"})


def dev_server(argv: Sequence[str], cwd: Path | None = None) -> str | None:
    """The dev server ``argv`` runs (a key of ``PRODUCTION``: "flask run", "next dev"),
    else None. ``cwd``: the service's folder, where package.json says what ``pnpm dev``
    runs. A ``sh -c`` line is read command by command (``cd web && exec pnpm dev``)."""
    words = list(argv)
    if len(words) >= 3 and os.path.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return None
    folder = cwd
    for simple in simple_commands(words):
        if os.path.basename(simple[0]) == "cd" and len(simple) == 2 and folder is not None:
            folder = folder / simple[1]
            continue
        found = _of(simple) or _script(simple, folder)
        if found is not None:
            return found
    return None


def _script(argv: list[str], folder: Path | None) -> str | None:
    """The dev server a package manager's script runs (``pnpm dev``, ``npm run dev``)."""
    if folder is None or os.path.basename(argv[0]) not in _MANAGERS:
        return None
    words = [w for w in argv[1:] if not w.startswith("-")]
    if words[:1] in (["run"], ["run-script"]):
        words = words[1:]
    package = read_package(folder)
    script = package.scripts.get(words[0]) if package is not None and words else None
    if script is None:
        return None
    try:
        script_words = shlex.split(script)
    except ValueError:
        return None
    for simple in simple_commands(script_words):
        found = _of(simple)
        if found is not None:
            return found
    return None


def _of(argv: list[str]) -> str | None:
    server = parse_server(argv)
    if server is not None:
        return _python(server.server, argv)
    words = argv
    if os.path.basename(words[0]) in _RUNNERS or words[:2] in (["pnpm", "exec"], ["yarn", "exec"]):
        words = [w for w in words[1:] if w != "exec"]
    if not words:
        return None
    name = os.path.basename(words[0])
    rest = [w for w in words[1:] if not w.startswith("-")]
    if name in _NODE_DEV and rest[:1] == [_NODE_DEV[name]]:
        return "nuxt dev" if name == "nuxi" else f"{name} dev"
    if name == "vite" and not any(w in _VITE_OTHERS for w in rest):
        return "vite"
    if name == "react-scripts" and rest[:1] == ["start"]:
        return "react-scripts start"
    return None


def _python(server: str, argv: list[str]) -> str | None:
    if server == "flask" and "run" in argv:
        return "flask run"
    if server == "django" and "runserver" in argv:
        return "manage.py runserver"
    if server == "fastapi" and "dev" in argv:
        return "fastapi dev"
    if server in _RELOAD_SERVERS and "--reload" in argv:
        return f"{server} --reload"
    return None
