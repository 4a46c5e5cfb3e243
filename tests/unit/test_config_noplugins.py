"""pydantic's plugin discovery is skipped for devstack's models, without losing the
real loader for a name the stand-in does not have. A fresh interpreter each: the
stand-in is process-wide."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip()


def test_loading_the_config_models_skips_plugin_discovery() -> None:
    code = (
        "import sys, devstack.config.model;"
        "loader = sys.modules['pydantic.plugin._loader'];"
        "print('importlib.metadata' in sys.modules, loader.get_plugins())"
    )
    assert _python(code) == "False ()"


def test_any_other_name_comes_from_pydantics_own_loader() -> None:
    code = (
        "import sys, devstack.config.model;"
        "print(sys.modules['pydantic.plugin._loader'].PYDANTIC_ENTRY_POINT_GROUP,"
        " 'importlib.metadata' in sys.modules)"
    )
    assert _python(code) == "pydantic True"


def test_a_loader_already_imported_is_left_alone() -> None:
    code = (
        "import sys, pydantic.plugin._loader as real, devstack.config.model;"
        "print(sys.modules['pydantic.plugin._loader'] is real)"
    )
    assert _python(code) == "True"
