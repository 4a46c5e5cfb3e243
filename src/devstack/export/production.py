"""Dev servers, and the production counterpart each is exported as.

The one list of dev servers: :func:`dev_server` says whether a command runs one
(``export --check`` asks it), :func:`production` gives the command a container runs
instead and the build steps that command needs first. Target-agnostic: compose and
Kubernetes both take the command; Dockerfile generation takes the build steps.

| dev server | production |
|---|---|
| ``flask run`` | ``gunicorn --bind 0.0.0.0:PORT module:app`` (the app --app / FLASK_APP names) |
| ``manage.py runserver`` | ``gunicorn --bind 0.0.0.0:PORT project.wsgi`` |
| ``uvicorn/gunicorn/hypercorn --reload`` | the same command without the reload options |
| ``fastapi dev`` | ``fastapi run`` (same options) |
| ``next dev`` | ``next build`` in the image, then ``next start -p PORT -H 0.0.0.0`` |
| ``vite`` (dev/serve) | ``vite build`` in the image, ``vite preview --host 0.0.0.0 --port PORT`` |
| ``nuxt dev`` / ``nuxi dev`` | ``nuxt build`` in the image, ``node .output/server/index.mjs`` |
| ``nodemon X`` / ``node --watch X`` | ``node X`` |
| ``granian --reload`` | the same command without the reload options |
| ``astro dev``, ``react-scripts start`` | none exported: :data:`FIXES` says what to run |

``npm run dev`` / ``pnpm dev`` / ``yarn dev`` are read through package.json's
script. :func:`dev_server` reads a shell line command by command (``cd web && exec
pnpm dev``); :func:`production` replaces only a line of one command.

Why ``vite preview`` and not an nginx image: preview keeps ``server.proxy``
(``preview.proxy`` defaults to it), so a frontend's ``/api`` proxy keeps working
with no second config; Vite documents preview as not meant for production, so the
comment names the nginx alternative for a frontend without a proxy.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devstack.checks.scan import apps_in
from devstack.project.nodepackage import read_package
from devstack.project.servers import (
    bind_args,
    django_settings,
    parse_server,
    server_of,
    unwrapped,
)
from devstack.project.shellwords import simple_commands

_MANAGERS = frozenset({"npm", "pnpm", "yarn", "bun"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh"})
_NODE_DEV_PROGRAMS = frozenset(
    {"next", "vite", "nodemon", "nuxt", "nuxi", "astro", "react-scripts"}
)
_NODE_DEV = {"next": "next dev", "nuxt": "nuxt dev", "nuxi": "nuxt dev", "astro": "astro dev"}
_RELOAD_SERVERS = ("uvicorn", "gunicorn", "hypercorn", "granian")
# A dev server -> what serves the same app in production, as a fix to apply by hand
# (the export applies it itself when production() knows the command).
FIXES = {
    "flask run": "gunicorn --bind 0.0.0.0:PORT module:app (or another WSGI server)",
    "manage.py runserver": "gunicorn --bind 0.0.0.0:PORT project.wsgi",
    "fastapi dev": "fastapi run (or uvicorn without --reload)",
    "uvicorn --reload": "uvicorn without --reload (--workers N)",
    "gunicorn --reload": "gunicorn without --reload",
    "hypercorn --reload": "hypercorn without --reload",
    "granian --reload": "granian without --reload",
    "next dev": "next build, then next start",
    "vite": "vite build, then the dist/ folder served as static files (or vite preview)",
    "nuxt dev": "nuxt build, then node .output/server/index.mjs",
    "astro dev": "astro build, then the dist/ folder served as static files (or, with the "
    "node adapter, node ./dist/server/entry.mjs)",
    "react-scripts start": "react-scripts build, then the build/ folder served as static files",
    "nodemon": "node (no watcher)",
    "node --watch": "node without --watch",
}
# Options that only a reloading server takes, with whether they take a value.
_RELOAD_OPTIONS = {
    "--reload": False,
    "--reload-dir": True,
    "--reload-include": True,
    "--reload-exclude": True,
    "--reload-delay": True,
    "--reload-engine": True,
    "--reload-extra-file": True,
}
_NEXT_VALUE_OPTIONS = frozenset({"-p", "--port", "-H", "--hostname"})
_NEXT_DEV_ONLY = frozenset({"--turbo", "--turbopack", "--experimental-https"})
_VITE_VALUE_OPTIONS = frozenset({"--port", "--host", "--mode", "-m", "--base", "--config", "-c"})
_VITE_DEV_ONLY = frozenset({"--open", "--force", "--strictPort", "--cors"})


@dataclass(frozen=True, slots=True)
class Production:
    """A dev server's production counterpart, as a container runs it."""

    dev: str  # the dev server, as users say it ("flask run", "next dev")
    command: list[str]  # what the container runs
    runtime: Literal["python", "node"]
    build: list[str] = field(default_factory=list)  # shell lines run in the image after COPY
    needs: tuple[str, ...] = ()  # Python distributions the command needs ("gunicorn")
    note: str = ""  # the comment beside the command


def dev_server(argv: Sequence[str], cwd: Path | None = None) -> str | None:
    """The dev server ``argv`` runs ("flask run", "next dev", "vite"...), else None.

    ``cwd``: the service's folder, where package.json says what ``npm run dev`` runs.
    A ``sh -c`` line (``shell = true``, a Procfile) is read command by command, a
    ``cd DIR`` moving the folder whose package.json is read (``cd web && exec pnpm dev``).
    """
    words = list(argv)
    if len(words) == 3 and os.path.basename(words[0]) in _SHELLS and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return None
    folder = cwd
    for simple in simple_commands(words):
        if os.path.basename(simple[0]) == "cd" and len(simple) == 2:
            folder = folder / simple[1] if folder is not None else None
            continue
        found = _dev(simple, folder)
        if found is not None:
            return found[0]
    return None


def production(
    argv: Sequence[str], *, port: int | None, cwd: Path, env: Mapping[str, str]
) -> Production | None:
    """The production counterpart of the dev server ``argv`` runs (None: not a dev
    server, or none known). ``port``: the service's declared port, which it keeps.

    A ``sh -c`` line of one command gets a counterpart too: as a plain command, or
    still through the shell when a word holds a ``$`` for the shell to expand.
    """
    words = _shell_words(argv)
    found = _production(words or list(argv), port, cwd, env)
    if found is None or words is None:
        return found
    if any("$" in word for word in found.command):
        line = "exec " + " ".join(_shell_quote(word) for word in found.command)
        return dataclasses.replace(found, command=[argv[0], "-c", line])
    return found


def _production(
    argv: list[str], port: int | None, cwd: Path, env: Mapping[str, str]
) -> Production | None:
    found = _dev(argv, cwd)
    if found is None:
        return None
    name, words = found
    if name == "flask run":
        return _flask(words, port, cwd, env)
    if name == "manage.py runserver":
        return _django(words, port, cwd, env)
    if name == "fastapi dev":
        command = [w if w != "dev" else "run" for w in words]
        note = "`fastapi dev` (reloads, binds 127.0.0.1) exported as `fastapi run`"
        return Production(name, command, "python", note=note)
    if name.endswith("--reload"):
        command = _without(words, _RELOAD_OPTIONS)
        note = f"`{name}` exported without reloading"
        parsed = parse_server(command, env)
        if parsed is not None and parsed.host is None and not _has_bind(command):
            # Its default, 127.0.0.1, is unreachable from outside the container.
            if parsed.server == "uvicorn":
                command += ["--host", "0.0.0.0"]
                if not any(w.startswith("--port") for w in command) and port:
                    command += ["--port", str(port)]
            else:
                command += bind_args(parsed.server, "0.0.0.0", port or parsed.bind()[1])
            note += ", listening on 0.0.0.0"
        return Production(name, command, "python", note=note)
    if name == "next dev":
        return _next(words, port)
    if name == "vite":
        return _vite(words, port)
    if name == "nuxt dev":
        return _nuxt(words)
    if name in ("nodemon", "node --watch"):
        script = [w for w in words[1:] if w not in ("--watch",) and not w.startswith("--watch=")]
        return Production(name, ["node", *script], "node", note=f"`{name}` exported as `node`")
    return None


def _dev(argv: list[str], cwd: Path | None) -> tuple[str, list[str]] | None:
    """(dev server name, the words that run it) of ``argv``, read through a package
    manager's script."""
    words = argv[unwrapped(argv) :]
    if not words:
        return None
    exe = os.path.basename(words[0])
    if exe in _MANAGERS or exe == "npx":
        script = _script(words, cwd)
        if script is None:
            return None
        words = script
        exe = os.path.basename(words[0]) if words else ""
    if exe in _NODE_DEV and [w for w in words[1:] if not w.startswith("-")][:1] == ["dev"]:
        return _NODE_DEV[exe], words
    if exe == "react-scripts" and words[1:2] == ["start"]:
        return "react-scripts start", words
    if exe == "vite" and (len(words) == 1 or words[1] in ("dev", "serve") or words[1][:1] == "-"):
        return "vite", words
    if exe == "nodemon":
        return "nodemon", words
    if exe == "node" and any(w == "--watch" or w.startswith("--watch=") for w in words[1:]):
        return "node --watch", words
    parsed = parse_server(argv)
    if parsed is None:
        return None
    if parsed.server == "flask":
        return "flask run", argv
    if parsed.server == "django" and "runserver" in argv:
        return "manage.py runserver", argv
    if parsed.server == "fastapi" and "dev" in argv:
        return "fastapi dev", argv
    if parsed.server in _RELOAD_SERVERS and "--reload" in argv:
        return f"{parsed.server} --reload", argv
    return None


def _shell_words(argv: Sequence[str]) -> list[str] | None:
    """The words of ``sh -c "LINE"`` when LINE is one plain command (``exec`` allowed;
    no ``&&``, pipes, redirections or variable assignments in front), else None."""
    if len(argv) != 3 or os.path.basename(argv[0]) not in _SHELLS or argv[1] != "-c":
        return None
    if any(c in argv[2] for c in "|;&<>`()\n"):
        return None
    try:
        words = shlex.split(argv[2])
    except ValueError:
        return None
    if words[:1] == ["exec"]:
        words = words[1:]
    if not words or "=" in words[0]:
        return None
    return words


def _shell_quote(word: str) -> str:
    """``word`` for a shell line: as shlex quotes it, but in double quotes when it holds
    a ``$`` the shell is to expand."""
    if "$" not in word:
        return shlex.quote(word)
    return '"' + re.sub(r'(["\\`])', r"\\\1", word) + '"'


def _script(words: list[str], cwd: Path | None) -> list[str] | None:
    """``pnpm dev --port 3000`` -> the dev script's words with the extra arguments;
    ``npx next dev`` -> ``next dev``."""
    if os.path.basename(words[0]) == "npx":
        rest = [w for w in words[1:] if not w.startswith("-")][:1]
        return words[words.index(rest[0]) :] if rest else None
    rest = words[1:]
    if rest[:1] == ["exec"]:  # pnpm exec next dev, npm exec -- vite
        return [w for w in rest[1:] if w != "--"] or None
    if rest[:1] in (["run"], ["run-script"]):
        rest = rest[1:]
    if not rest or cwd is None:
        return None
    package = read_package(cwd)
    text = package.scripts.get(rest[0]) if package is not None else None
    if text is None:  # `pnpm next dev`, `yarn vite`: a package's program, run by name
        return rest if rest[0] in _NODE_DEV_PROGRAMS else None
    extra = rest[1:]
    if extra[:1] == ["--"]:
        extra = extra[1:]
    try:
        script = shlex.split(text)
    except ValueError:
        return None
    for separator in ("&&", ";"):  # `prisma generate && next dev`: the server is the last
        if separator in script:
            script = script[len(script) - script[::-1].index(separator) :]
    return [*script, *extra]


def _flask(words: list[str], port: int | None, cwd: Path, env: Mapping[str, str]) -> Production:
    parsed = parse_server(words, env)
    assert parsed is not None  # _dev found flask run
    listen = port or parsed.port or 5000
    module, attr = parsed.module, _flask_attr(parsed.module, parsed.attrs, parsed.paths, cwd)
    if module is None:  # flask's own lookup when nothing names the app
        module = next((m for m in ("wsgi", "app") if (cwd / f"{m}.py").is_file()), "app")
        attr = _flask_attr(module, ("app", "application", "create_app()"), (), cwd)
    command = ["gunicorn", "--bind", f"0.0.0.0:{listen}"]
    for path in parsed.paths:
        if path not in (".", ""):
            command += ["--pythonpath", path]
    command.append(f"{module}:{attr}")
    note = (
        f"dev server `flask run` exported as its production counterpart, gunicorn ({command[-1]})"
    )
    return Production("flask run", command, "python", needs=("gunicorn",), note=note)


def _flask_attr(module: str | None, attrs: Sequence[str], paths: Sequence[str], cwd: Path) -> str:
    """The attribute flask would load: the one given, else the first of its defaults
    the module defines (read with ast; never imported)."""
    if len(attrs) == 1 or module is None:
        return attrs[0] if attrs else "app"
    for folder in [cwd / p for p in paths] or [cwd]:
        path = folder / (module.replace(".", "/") + ".py")
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        defined = {app.attr for app in apps_in(tree, module, path)}
        for attr in attrs:
            if attr in defined or attr.removesuffix("()") in defined:
                return attr
    return attrs[0]


def _django(words: list[str], port: int | None, cwd: Path, env: Mapping[str, str]) -> Production:
    parsed = parse_server(words, env)
    assert parsed is not None
    listen = port or parsed.port or 8000
    found = server_of(words)
    manage = Path(words[found[1] - 1]) if found else Path("manage.py")
    settings = parsed.module or django_settings(cwd / manage)
    project = (settings or "project.settings").split(".")[0]
    command = ["gunicorn", "--bind", f"0.0.0.0:{listen}"]
    if parsed.module:  # --settings / DJANGO_SETTINGS_MODULE, as runserver had it
        command += ["--env", f"DJANGO_SETTINGS_MODULE={parsed.module}"]
    command.append(f"{project}.wsgi")
    note = (
        "dev server `manage.py runserver` exported as gunicorn "
        f"{project}.wsgi; static files: run collectstatic and serve them (runserver did)"
    )
    return Production("manage.py runserver", command, "python", needs=("gunicorn",), note=note)


def _next(words: list[str], port: int | None) -> Production:
    options = _options(words[2:], _NEXT_VALUE_OPTIONS, _NEXT_DEV_ONLY)
    listen = port or _int(options.get("-p") or options.get("--port")) or 3000
    bin_ = "node_modules/.bin/next"
    directory = options.get("", "")
    start = [bin_, "start", *([directory] if directory else [])]
    note = (
        "dev server `next dev` exported as its production counterpart: "
        "`next build` in the image, `next start` here"
    )
    return Production(
        "next dev",
        [*start, "-p", str(listen), "-H", "0.0.0.0"],
        "node",
        build=[shlex.join([bin_, "build", *([directory] if directory else [])])],
        note=note,
    )


def _nuxt(words: list[str]) -> Production:
    # Nitro's node server listens on PORT (the exports set it) on every address.
    bin_ = "node_modules/.bin/nuxt"
    rest = [w for w in words[2:] if not w.startswith("-")][:1]
    output = f"{rest[0]}/.output" if rest else ".output"
    note = (
        "dev server `nuxt dev` exported as its production counterpart: `nuxt build` in the "
        "image, its node server here (listening on PORT)"
    )
    return Production(
        "nuxt dev",
        ["node", f"{output}/server/index.mjs"],
        "node",
        build=[shlex.join([bin_, "build", *rest])],
        note=note,
    )


def _vite(words: list[str], port: int | None) -> Production:
    rest = words[2:] if words[1:2] in (["dev"], ["serve"]) else words[1:]
    options = _options(rest, _VITE_VALUE_OPTIONS, _VITE_DEV_ONLY)
    listen = port or _int(options.get("--port")) or 5173
    bin_ = "node_modules/.bin/vite"
    shared = [w for k in ("--mode", "--config", "--base") if k in options for w in (k, options[k])]
    root = [options[""]] if options.get("") else []
    note = (
        "dev server `vite` exported as `vite build` in the image and `vite preview` "
        "serving the build (it keeps server.proxy; Vite does not mean preview for "
        "production: for a frontend with no proxy, serve dist/ from an nginx image instead)"
    )
    return Production(
        "vite",
        [
            bin_,
            "preview",
            *root,
            *shared,
            "--host",
            "0.0.0.0",
            "--port",
            str(listen),
            "--strictPort",
        ],
        "node",
        build=[shlex.join([bin_, "build", *root, *shared])],
        note=note,
    )


def _options(
    words: Sequence[str], with_value: frozenset[str], dev_only: frozenset[str]
) -> dict[str, str]:
    """Option -> value of a Node CLI's words (flags: ""); the first positional under ""."""
    out: dict[str, str] = {}
    i = 0
    while i < len(words):
        name, eq, value = words[i].partition("=")
        if name in with_value and not eq and i + 1 < len(words):
            out[name] = words[i + 1]
            i += 2
            continue
        if name.startswith("-"):
            if name not in dev_only:
                out[name] = value
        elif "" not in out:
            out[""] = words[i]
        i += 1
    return out


def _without(words: Sequence[str], options: Mapping[str, bool]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        name, eq, _ = word.partition("=")
        if name in options:
            skip = options[name] and not eq
            continue
        out.append(word)
    return out


def _has_bind(words: Sequence[str]) -> bool:
    """Does the command say where to listen (an address, a socket, a file descriptor)?"""
    names = ("-b", "--bind", "--host", "--uds", "--fd")
    return any(w.partition("=")[0] in names or (w.startswith("-b") and w != "-b") for w in words)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
