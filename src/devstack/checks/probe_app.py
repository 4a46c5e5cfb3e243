"""Import a web app the way its server would, and say what went wrong: stdlib only.

Run by ``devstack.checks.imports`` with the interpreter that will run the server
(so it must work on Python >= 3.8 and must not import devstack). Usage:

    python probe_app.py '{"module": "api", "attrs": ["app"], "factory": false,
                          "paths": ["/abs/dir", ...]}'

Prints one JSON object on the original stdout; anything the app prints goes to
stderr. The JSON says which stage failed ("worker", "import", "attr", "factory")
with the exception, the line of the user's own code that raised it, the candidates
a module does define, or, on success, what kind of app the object is (and, for a
function taking no arguments, what calling it returns: an app factory).
"worker" (gunicorn's -k) is loaded first, as gunicorn does; "settings": true
imports the module only (Django's settings); "celery": NAME finds the app with
celery's own ``find_app`` (stage "celery": a Celery app, or what it found instead).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import sys
import sysconfig
import traceback
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _library_dirs() -> tuple[str, ...]:
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.realpath(path))
    return tuple(dirs)


def _is_user_file(filename: str, libraries: tuple[str, ...]) -> bool:
    if not filename or filename.startswith("<"):
        return False
    real = os.path.realpath(filename)
    if os.path.dirname(real) == _HERE or "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real == d or real.startswith(d + os.sep) for d in libraries)


def _user_frame(exc: BaseException) -> dict[str, Any] | None:
    """file, line and code of the last frame in the user's own code (or None)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        code = (exc.text or "").strip()
        return {"file": exc.filename, "line": exc.lineno, "code": code}
    libraries = _library_dirs()
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if _is_user_file(f.filename, libraries)
    ]
    if not frames:
        return None
    last = frames[-1]
    return {"file": last.filename, "line": last.lineno, "code": (last.line or "").strip()}


def _error(exc: BaseException, module: str) -> dict[str, Any]:
    name: str | None = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    missing = (
        isinstance(exc, ModuleNotFoundError)
        and name is not None
        and (module == name or module.startswith(name + "."))
    )
    if isinstance(exc, SystemExit):
        message = f"the module called sys.exit({exc.code!r}) while being imported"
    else:
        message = str(exc)
    return {
        "type": type(exc).__name__,
        "message": message,
        "name": name,
        "module_missing": missing,
        "frame": None if missing else _user_frame(exc),
        "env": _env_needed(exc),
    }


_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
_NOT_SET = re.compile(
    r"\b([A-Z][A-Z0-9_]*[A-Z0-9])\b[`'\"]? (?:is not set|is unset|not set|is required|"
    r"must be set|is missing|missing)|(?:environment variable|env var)[s]? [`'\"]?([A-Z][A-Z0-9_]*)"
)


def _env_needed(exc: BaseException) -> list[dict[str, str]]:
    """The environment variables the exception says are missing: [{"name", "how"}].

    how: "environ" (os.environ[X]), "key" (a KeyError on an env-like name, from another
    mapping), "settings" (a pydantic-settings field without a value; "model" names the
    class), "message" (the app's own "X is not set").
    """
    try:
        if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
            key = exc.args[0]
            if _raised_by_environ(exc):
                return [{"name": key, "how": "environ"}]
            return [{"name": key, "how": "key"}] if _ENV_NAME.match(key) else []
        if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
            return _settings_fields(exc)
        found = _NOT_SET.search(str(exc))
        if found:
            return [{"name": found.group(1) or found.group(2), "how": "message"}]
    except Exception:  # the app's exception is not ours to fail on
        pass
    return []


def _raised_by_environ(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    return isinstance(tb.tb_frame.f_locals.get("self"), os._Environ)


def _settings_fields(exc: Any) -> list[dict[str, str]]:
    """A pydantic-settings class's missing fields, as the env names it reads them from."""
    model = _settings_class(exc)
    if model is None:
        return []
    config = getattr(model, "model_config", {})
    prefix = config.get("env_prefix") or ""
    fields = getattr(model, "model_fields", {})
    names = []
    for error in exc.errors():
        loc = list(error.get("loc") or ())
        if error.get("type") != "missing" or len(loc) != 1 or not isinstance(loc[0], str):
            continue
        field = loc[0]
        # A field is read as env_prefix + its name; an alias as it is written.
        env = prefix + field if field in fields else field
        if not config.get("case_sensitive"):
            env = env.upper()
        names.append({"name": env, "how": "settings", "model": model.__name__, "field": field})
    return names


def _settings_class(exc: Any) -> Any:
    """The BaseSettings subclass whose __init__ raised ``exc`` (None when it is no settings)."""
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            cls = value if inspect.isclass(value) else type(value)
            bases = [c.__module__ for c in getattr(cls, "__mro__", ())]
            if cls.__name__ == getattr(exc, "title", None) and any(
                b.startswith("pydantic_settings") for b in bases
            ):
                return cls
        tb = tb.tb_next
    return None


def _interface(obj: Any) -> tuple[str, str]:
    """(interface, framework): interface is "wsgi", "asgi", "unknown" or "not-callable"."""
    cls = type(obj)
    framework = cls.__name__
    if not callable(obj):
        return "not-callable", framework
    if cls.__name__ in ("WSGIHandler", "ASGIHandler"):
        return cls.__name__[:4].lower(), "Django"
    if hasattr(obj, "wsgi_app") and not inspect.iscoroutinefunction(cls.__call__):
        return "wsgi", framework
    if inspect.isclass(obj):
        return "unknown", "class " + obj.__name__
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        call: Any = obj
        framework = "function"
    else:
        call = getattr(obj, "__call__", None)  # noqa: B004 - the method itself is wanted
    if inspect.iscoroutinefunction(call):
        return "asgi", "ASGI callable" if framework == "function" else framework
    try:
        params = [
            p
            for p in inspect.signature(call).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return "unknown", framework
    if len(params) == 2:
        return "wsgi", "WSGI callable" if framework == "function" else framework
    return "unknown", framework


def _candidates(module: Any) -> list[dict[str, str]]:
    """Public names of the module, apps first: [{"name": ..., "kind": "Flask, WSGI"}]."""
    apps: list[dict[str, str]] = []
    others: list[dict[str, str]] = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        try:
            found = _candidate(module, name, value)
        except Exception:
            # A lazy proxy (werkzeug's request, current_app, g, session) raises on any
            # attribute access outside its context: it is no app, pass it by.
            continue
        if found is not None:
            is_app, entry = found
            (apps if is_app else others).append(entry)
    return apps + others[: max(0, 15 - len(apps))]


def _candidate(module: Any, name: str, value: Any) -> tuple[bool, dict[str, str]] | None:
    """(is it an app, its entry) for one global of the module; None to leave it out."""
    if inspect.ismodule(value):
        return None
    if getattr(value, "__module__", module.__name__) not in (module.__name__, None) and (
        inspect.isclass(value) or inspect.isfunction(value)
    ):
        return None  # imported, not defined here
    interface, framework = _interface(value)
    if interface in ("wsgi", "asgi"):
        return True, {"name": name, "kind": f"{framework}, {interface.upper()}"}
    if name in ("create_app", "make_app", "app_factory", "get_app"):
        return True, {"name": name + "()", "kind": "factory"}
    return False, {"name": name, "kind": type(value).__name__}


def _resolve(module: Any, attr: str) -> tuple[Any, bool]:
    """The object ``attr`` names ("app", "app.server", "create_app()", "create_app('dev')")."""
    expr = ast.parse(attr.strip(), mode="eval").body
    call = None
    if isinstance(expr, ast.Call):
        call = expr
        expr = expr.func
    names: list[str] = []
    while isinstance(expr, ast.Attribute):
        names.insert(0, expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        raise ValueError(f"not an attribute name: {attr!r}")
    names.insert(0, expr.id)
    obj = module
    for name in names:
        obj = getattr(obj, name)
    if call is None:
        return obj, False
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    return (obj, args, kwargs), True


def _worker(uri: str) -> dict[str, Any] | None:
    """gunicorn's ``-k URI`` loaded as gunicorn loads it (its aliases, e.g. "gevent"),
    before the app; the error if it does not load."""
    dotted = uri
    if uri.startswith("egg:"):
        return None  # an entry point of a distribution: left to gunicorn
    if "." not in uri:
        try:
            aliases = importlib.import_module("gunicorn.workers").SUPPORTED_WORKERS
        except BaseException:
            return None  # gunicorn itself missing: the executable check says so
        dotted = aliases.get(uri.lstrip("#"), "")
        if not dotted and not _gunicorn_entry_point(uri.lstrip("#")):
            known = ", ".join(sorted(aliases))
            message = f"this gunicorn has no worker class {uri!r} (it has: {known})"
            error = {"type": "LookupError", "message": message, "name": None, "frame": None}
            return {"ok": False, "stage": "worker", "worker": uri, "class": None, "error": error}
        if not dotted:
            return None  # an entry point gunicorn declares: left to gunicorn
    module_name, _, name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        getattr(module, name)
    except BaseException as exc:
        error = _error(exc, module_name)
        error["frame"] = None
        return {"ok": False, "stage": "worker", "worker": uri, "class": dotted, "error": error}
    return None


def _gunicorn_entry_point(name: str) -> bool:
    """Does gunicorn declare a worker entry point ``name`` (where gunicorn looks next)?"""
    try:
        from importlib.metadata import distribution

        points = distribution("gunicorn").entry_points
    except Exception:
        return True  # cannot tell: left to gunicorn
    return any(p.group == "gunicorn.workers" and p.name == name for p in points)


def _bare_factory(obj: Any) -> dict[str, Any] | None:
    """A plain function that takes no arguments, called as the servers that call factories
    would: what it returns, or what it raised (None: not such a function)."""
    if not inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
        return None
    try:
        inspect.signature(obj).bind()
    except (TypeError, ValueError):
        return None
    try:
        made = obj()
    except BaseException as exc:
        return {"error": _error(exc, obj.__module__)}
    interface, framework = _interface(made)
    code = obj.__code__
    where = {"file": code.co_filename, "line": code.co_firstlineno}
    return {"interface": interface, "framework": framework, **where}


def _celery(name: str, module_name: str) -> dict[str, Any]:
    """``celery -A NAME``, found as celery finds it: NAME as an attribute path, else
    module NAME's ``app``, its ``celery``, a NAME.celery submodule, any Celery instance."""
    try:
        celery_class = importlib.import_module("celery").Celery
        find_app = importlib.import_module("celery.app.utils").find_app
    except BaseException as exc:
        return {"ok": False, "stage": "import", "error": _error(exc, module_name)}
    version = str(getattr(sys.modules["celery"], "__version__", ""))
    try:
        app = find_app(name)
    except BaseException as exc:
        module = sys.modules.get(module_name)
        # Not found in a module that imported: "mod:nope" ends as a module not found by
        # the whole name; a module without app/celery as celery's own AttributeError.
        not_found = (isinstance(exc, ModuleNotFoundError) and exc.name == name) or (
            isinstance(exc, AttributeError) and _user_frame(exc) is None
        )
        if module is None or not not_found:
            error = _error(exc, module_name)
            return {"ok": False, "stage": "import", "error": error, "version": version}
        origin = getattr(module, "__file__", None)
        return {
            "ok": False,
            "stage": "celery",
            "origin": origin,
            "message": str(exc),
            "version": version,
        }
    origin = getattr(sys.modules.get(module_name), "__file__", None)
    answer = {"stage": "celery", "origin": origin, "version": version}
    if isinstance(app, celery_class):
        return {"ok": True, **answer}
    return {"ok": False, **answer, "found": type(app).__name__}


def probe(request: dict[str, Any]) -> dict[str, Any]:
    module_name = request["module"]
    for path in reversed(request.get("paths", [])):
        sys.path.insert(0, os.path.abspath(path))
    if request.get("celery"):
        return _celery(request["celery"], module_name)
    if request.get("worker"):
        failed = _worker(request["worker"])
        if failed is not None:
            return failed
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:
        return {"ok": False, "stage": "import", "error": _error(exc, module_name)}
    origin = getattr(module, "__file__", None)
    if request.get("settings"):
        return {"ok": True, "stage": "settings", "origin": origin}
    found = None
    for attr in request["attrs"]:
        try:
            found = (attr, *_resolve(module, attr))
            break
        except AttributeError:
            continue
        except (ValueError, SyntaxError) as exc:
            return {
                "ok": False,
                "stage": "attr",
                "origin": origin,
                "attr": attr,
                "error": {"type": type(exc).__name__, "message": str(exc)},
            }
    if found is None:
        return {"ok": False, "stage": "attr", "origin": origin, "candidates": _candidates(module)}
    attr, obj, is_call = found
    if is_call or request.get("factory"):
        func, args, kwargs = obj if is_call else (obj, [], {})
        try:
            obj = func(*args, **kwargs)
        except BaseException as exc:
            return {
                "ok": False,
                "stage": "factory",
                "origin": origin,
                "attr": attr,
                "error": _error(exc, module_name),
            }
    interface, framework = _interface(obj)
    answer = {
        "ok": True,
        "stage": "kind",
        "origin": origin,
        "attr": attr,
        "interface": interface,
        "framework": framework,
    }
    if interface not in ("wsgi", "asgi") and not (is_call or request.get("factory")):
        factory = _bare_factory(obj)
        if factory is not None:
            answer["factory"] = factory
    return answer


def main() -> None:
    # The app may print while it imports: keep the real stdout for the JSON answer only.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    request = json.loads(sys.argv[1])
    if sys.path and os.path.realpath(sys.path[0] or ".") == _HERE:
        del sys.path[0]
    sys.argv = [request.get("argv0", "server")]
    answer = probe(request)
    out.write(json.dumps(answer) + "\n")
    out.flush()
    # Skip atexit handlers and non-daemon threads the app may have started.
    os._exit(0)


if __name__ == "__main__":
    main()
