"""pydantic without plugin discovery: its loader imports importlib.metadata (with
zipfile and email: ~20 ms) to read entry points, on the critical path of a first
`devstack up`, for models that use no plugin.

Import this before pydantic builds a model. It puts a stand-in for
``pydantic.plugin._loader`` that answers "no plugins", the documented effect of
``PYDANTIC_DISABLE_PLUGINS``. Any other name asked of it loads the real loader, so a
pydantic whose loader grew or renamed a function still works, only slower.
"""

from __future__ import annotations

import importlib
import sys
import types

_LOADER = "pydantic.plugin._loader"


def _get_plugins() -> tuple[()]:
    return ()


def _real(name: str) -> object:
    if name.startswith("__"):  # the import system asks for __path__ and the like
        raise AttributeError(name)
    sys.modules.pop(_LOADER, None)
    return getattr(importlib.import_module(_LOADER), name)


def install() -> None:
    """Put the stand-in in place, unless the real loader was imported already."""
    if _LOADER in sys.modules:
        return
    stand_in = types.ModuleType(_LOADER, __doc__)
    # PEP 562: a module's __getattr__ answers the names it does not have.
    vars(stand_in).update(get_plugins=_get_plugins, __getattr__=_real)
    sys.modules[_LOADER] = stand_in
