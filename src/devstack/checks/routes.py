"""The GET routes a Flask/FastAPI-style app declares, read with ``ast`` (never imported).

``init`` suggests an http probe only on a route it can see: ``@app.route("/api/python")``,
``@app.get("/health")``, ``app.add_url_rule("/", ...)`` on the app object itself.
Routes of blueprints and routers are left out (their prefix is set elsewhere), and so
are routes with parameters (``/users/<id>``, ``/items/{id}``): a probe needs a path
that answers as written.
"""

from __future__ import annotations

import ast
from pathlib import Path

_MAX_BYTES = 1_000_000
_HEALTHY = ("/health", "/healthz", "/api/health", "/ping", "/status", "/ready", "/livez")


def module_file(module: str, paths: tuple[Path, ...]) -> Path | None:
    """The file ``module`` ("pkg.web") is loaded from, looked for in ``paths`` in order."""
    rel = Path(*module.split("."))
    for base in paths:
        for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def get_routes(path: Path, app: str) -> list[str]:
    """The static GET routes declared on the object named ``app`` in ``path``, in file
    order; a factory (``create_app()``) counts the ``app`` it builds inside."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            return []
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    name = "app" if app.endswith("()") else app
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            calls = [d for d in node.decorator_list if isinstance(d, ast.Call)]
            found += [r for call in calls if (r := _route(call, name, "route", "get"))]
        elif isinstance(node, ast.Call):
            route = _route(node, name, "add_url_rule")
            if route:
                found.append(route)
    return list(dict.fromkeys(found))


def probe_route(routes: list[str]) -> str | None:
    """The route to suggest for ``health.http``: a health-like one, else ``/``, else the
    first; None when there is none."""
    for route in (*_HEALTHY, "/"):
        if route in routes:
            return route
    return routes[0] if routes else None


def _route(call: ast.Call, app: str, *methods: str) -> str | None:
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and func.attr in methods
        and isinstance(func.value, ast.Name)
        and func.value.id == app
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ):
        return None
    path = call.args[0].value
    if not path.startswith("/") or any(c in path for c in "<{"):
        return None
    for keyword in call.keywords:
        if keyword.arg == "methods" and not _allows_get(keyword.value):
            return None
    return path


def _allows_get(methods: ast.expr) -> bool:
    """``methods=["GET", "POST"]`` allows GET; a list devstack cannot read does not."""
    if not isinstance(methods, ast.List | ast.Tuple | ast.Set):
        return False
    return any(isinstance(m, ast.Constant) and m.value in ("GET", "get") for m in methods.elts)
