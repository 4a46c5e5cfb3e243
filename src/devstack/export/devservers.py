"""Dev servers: commands meant for a laptop (a reloader, a debug server, a bundler's dev
mode), and what runs the same app in production.

The one list of them for the exporters: ``export --check`` reports a dev server an
export would run as if it were production; an exporter that swaps in the production
counterpart reads ``PRODUCTION`` for it. Read from the command (and, for ``pnpm dev``,
the package.json script it runs); Python servers through ``project.servers``.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from devstack.checks.command import command_argv
from devstack.checks.nodesetup import invocation
from devstack.checks.protocols import simple_commands
from devstack.project.nodepackage import read_package
from devstack.project.servers import parse_server
from devstack.spec import ServiceSpec

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
_RUNNERS = frozenset({"npx", "pnpx", "bunx"})


@dataclass(frozen=True, slots=True)
class DevServer:
    name: str  # a key of PRODUCTION: "flask run", "next dev"
    command: str  # the words that said so
    script: str | None = None  # the package.json script it came through ("dev")

    @property
    def production(self) -> str:
        return PRODUCTION[self.name]


def dev_server(spec: ServiceSpec, argv: Sequence[str] | None = None) -> DevServer | None:
    """The dev server ``spec`` runs (``argv``: that command instead of the service's own)."""
    words = list(command_argv(spec) if argv is None else argv)
    if len(words) >= 3 and os.path.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return None
    for simple in simple_commands(words):
        found = _of(simple)
        if found is not None:
            return found
    # pnpm dev, npm run dev: the script's own command.
    run = invocation(dataclasses.replace(spec, argv=tuple(words), shell=False))
    if run is None:
        return None
    package = read_package(run.folder)
    script = package.scripts.get(run.script) if package is not None else None
    if script is None:
        return None
    try:
        script_words = shlex.split(script)
    except ValueError:
        return None
    for simple in simple_commands(script_words):
        found = _of(simple)
        if found is not None:
            return dataclasses.replace(found, script=run.script)
    return None


def _of(argv: list[str]) -> DevServer | None:
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
        label = "nuxt dev" if name == "nuxi" else f"{name} dev"
        return DevServer(label, f"{name} dev")
    if name == "vite" and not any(w in _VITE_OTHERS for w in rest):
        return DevServer("vite", "vite")
    if name == "react-scripts" and rest[:1] == ["start"]:
        return DevServer("react-scripts start", "react-scripts start")
    return None


def _python(server: str, argv: list[str]) -> DevServer | None:
    if server == "flask" and "run" in argv:
        return DevServer("flask run", "flask run")
    if server == "django" and "runserver" in argv:
        return DevServer("manage.py runserver", "manage.py runserver")
    if server == "fastapi" and "dev" in argv:
        return DevServer("fastapi dev", "fastapi dev")
    if server in _RELOAD_SERVERS and "--reload" in argv:
        return DevServer(f"{server} --reload", f"{server} --reload")
    return None
