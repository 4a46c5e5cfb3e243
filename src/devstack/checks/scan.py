"""Find web apps in a directory by reading its Python files with ``ast``; never imports them.

Used when a server's target fails: "Web apps found here: api:app (Flask, WSGI)".
Reads top-level statements only: ``app = Flask(__name__)``, ``FastAPI()``,
``Starlette()``, ``get_wsgi_application()``, factories (``def create_app(): ...
return Flask(...)``) and hand-written ``async def app(scope, receive, send)`` /
``def application(environ, start_response)`` callables.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Constructor name -> (framework, interface).
_CONSTRUCTORS = {
    "Flask": ("Flask", "wsgi"),
    "Bottle": ("Bottle", "wsgi"),
    "Pyramid": ("Pyramid", "wsgi"),
    "get_wsgi_application": ("Django", "wsgi"),
    "WSGIHandler": ("Django", "wsgi"),
    "FastAPI": ("FastAPI", "asgi"),
    "Starlette": ("Starlette", "asgi"),
    "Quart": ("Quart", "asgi"),
    "Litestar": ("Litestar", "asgi"),
    "get_asgi_application": ("Django", "asgi"),
    "ASGIHandler": ("Django", "asgi"),
}
_FACTORY_NAMES = ("create_app", "make_app", "app_factory", "get_app")
_CLI_MODULES = ("argparse", "click", "typer", "fire", "optparse")
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "build", "dist", "tests", "test"}
_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class WebApp:
    """An app object (or factory) defined at the top level of a module."""

    module: str  # "api", "pkg.web"
    attr: str  # "app", or "create_app()" for a factory
    framework: str  # "Flask", "FastAPI", ..., or "ASGI callable" / "WSGI callable"
    interface: str  # "wsgi" | "asgi"
    path: Path
    line: int

    @property
    def target(self) -> str:
        return f"{self.module}:{self.attr}"

    def describe(self) -> str:
        """ "api:app (Flask, WSGI)"."""
        if self.framework.endswith("callable"):
            return f"{self.target} ({self.framework})"
        return f"{self.target} ({self.framework}, {self.interface.upper()})"


def scan_web_apps(root: Path, *, max_depth: int = 3, max_files: int = 500) -> list[WebApp]:
    """Web apps of the Python files under ``root``: shallow modules first, then by name."""
    found: list[WebApp] = []
    for path in _python_files(root, max_depth, max_files):
        tree = _parse(path)
        name = _module_name(root, path)
        if tree is not None and name:
            found += apps_in(tree, name, path)
    found.sort(key=lambda a: (a.module.count("."), a.module, a.line))
    return found


def factory_apps(root: Path, apps: Sequence[WebApp]) -> list[WebApp]:
    """``app = create_app()`` in a module (wsgi.py, microblog.py, app/run.py...): the app one
    of the factories in ``apps`` makes, as a server would load it (``wsgi:app``); the
    shallow modules first."""
    factories = {a.attr.removesuffix("()"): a for a in apps if a.attr.endswith("()")}
    found: list[WebApp] = []
    for path in _python_files(root, 2, 500) if factories else []:
        module = _module_name(root, path)
        tree = _parse(path) if module else None
        for node in tree.body if tree is not None else []:
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
                continue
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            factory = factories.get(name) if isinstance(name, str) else None
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if factory is None or not targets or factory.path == path:
                continue
            framework = factory.framework.removesuffix(" factory")
            found.append(
                WebApp(module, targets[0], framework, factory.interface, path, node.lineno)
            )
    found.sort(key=lambda a: (a.module.count("."), a.module, a.line))
    return found


def required_params(app: WebApp) -> list[str]:
    """The parameters a factory ``app`` needs (no default): a server calls it without any."""
    tree = _parse(app.path) if app.attr.endswith("()") else None
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.FunctionDef) and node.lineno == app.line:
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            needed = positional[: len(positional) - len(args.defaults)]
            pairs = zip(args.kwonlyargs, args.kw_defaults, strict=True)
            keywords = [a for a, default in pairs if default is None]
            return [a.arg for a in [*needed, *keywords]]
    return []


def apps_in(tree: ast.Module, module: str, path: Path) -> list[WebApp]:
    """The web apps one parsed module defines at its top level."""
    apps: list[WebApp] = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            kind = _constructed(node.value)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if kind and names:
                apps.append(WebApp(module, names[0], *kind, path, node.lineno))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            app = _function_app(node, module, path)
            if app is not None:
                apps.append(app)
    return apps


def cli_kind(path: Path) -> str | None:
    """ "argparse" (or click, typer...) when ``path`` is a command-line program, not a web app.

    That is: it imports a CLI library, has an ``if __name__ == "__main__":`` block,
    and defines no app object.
    """
    tree = _parse(path)
    if tree is None or apps_in(tree, "", path):
        return None
    library = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module.split(".")[0]]
        else:
            continue
        library = library or next((n for n in names if n in _CLI_MODULES), None)
    if library and any(_is_main_block(node) for node in tree.body):
        return library
    return None


def _is_main_block(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _constructed(value: ast.expr) -> tuple[str, str] | None:
    """(framework, interface) when ``value`` is a call of a known app constructor."""
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return _CONSTRUCTORS.get(name) if isinstance(name, str) else None


def _function_app(
    node: ast.FunctionDef | ast.AsyncFunctionDef, module: str, path: Path
) -> WebApp | None:
    params = [a.arg for a in node.args.args]
    if isinstance(node, ast.AsyncFunctionDef) and params == ["scope", "receive", "send"]:
        return WebApp(module, node.name, "ASGI callable", "asgi", path, node.lineno)
    if isinstance(node, ast.FunctionDef) and params == ["environ", "start_response"]:
        return WebApp(module, node.name, "WSGI callable", "wsgi", path, node.lineno)
    if node.name in _FACTORY_NAMES:
        for inner in ast.walk(node):
            if isinstance(inner, ast.expr):
                kind = _constructed(inner)
                if kind:
                    return WebApp(
                        module, f"{node.name}()", f"{kind[0]} factory", kind[1], path, node.lineno
                    )
    return None


def _python_files(root: Path, max_depth: int, max_files: int) -> list[Path]:
    files: list[Path] = []
    base_depth = len(root.parts)
    for directory, dirs, names in os.walk(root):
        here = Path(directory)
        depth = len(here.parts) - base_depth
        # Virtualenvs (pyvenv.cfg), hidden and vendored directories hold no app of the user's.
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < max_depth
            and not d.startswith(".")
            and d not in _SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
            and d.isidentifier()
        )
        files += [here / n for n in sorted(names) if n.endswith(".py") and n[:-3].isidentifier()]
        if len(files) >= max_files:
            return files[:max_files]
    return files


def _parse(path: Path) -> ast.Module | None:
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(
    path: Path, roots: Sequence[Path], *, max_files: int = 200
) -> tuple[set[Path], set[str]]:
    """What importing ``path`` would load, read with ``ast``: the local files (itself
    included, followed through their own imports) and the other top-level modules.

    Local means found under ``roots`` (the server's sys.path dirs), as the server would.
    """
    files: set[Path] = set()
    outside: set[str] = set()
    todo = [path.resolve()]
    while todo and len(files) < max_files:
        current = todo.pop()
        if current in files:
            continue
        files.add(current)
        tree = _parse(current)
        if tree is None:
            continue
        for node in ast.walk(tree):
            for dotted, base in _imported(node, current):
                found = _local(dotted, [base] if base else roots)
                if found:
                    todo += found
                elif base is None:
                    outside.add(dotted.split(".")[0])
    return files, outside


def _imported(node: ast.AST, path: Path) -> list[tuple[str, Path | None]]:
    """(dotted name, directory for a relative import or None) of each module ``node`` loads."""
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = None
    if node.level:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
    prefix = f"{node.module}." if node.module else ""
    # `from pkg import name`: name may be a submodule; pkg itself is loaded either way.
    names = [(f"{prefix}{a.name}", base) for a in node.names if a.name != "*"]
    return ([(node.module, base)] if node.module else []) + names


def _local(dotted: str, roots: Sequence[Path]) -> list[Path]:
    """The files of ``dotted`` and its parent packages under the first root that has it."""
    parts = dotted.split(".")
    for root in roots:
        found: list[Path] = []
        here = root
        for part in parts:
            init, module = here / part / "__init__.py", here / f"{part}.py"
            if init.is_file():
                found.append(init.resolve())
                here = here / part
            elif module.is_file():
                found.append(module.resolve())
                break
            else:
                break
        if found:
            return found
    return []
