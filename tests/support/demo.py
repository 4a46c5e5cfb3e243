"""The stdlib demo stack (examples/demo) laid out in a temporary root as a project would
have it: stack.toml at the top, the services in examples/demo (so cwd is a subdirectory)."""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"


def copy_demo_stack(root: Path, ports: dict[int, int] | None = None) -> Path:
    """Copy the demo into ``root``; ``ports`` rewrites ``port = N`` lines (old -> new)."""
    shutil.copytree(DEMO, root / "examples" / "demo", ignore=shutil.ignore_patterns("stack.toml"))
    text = (DEMO / "stack.toml").read_text()
    text = text.replace('cwd = "."', 'cwd = "examples/demo"')
    text = text.replace("#:schema ../../stack.schema.json", "#:schema ./stack.schema.json")
    for old, new in (ports or {}).items():
        text = text.replace(f"port = {old}\n", f"port = {new}\n")
    path = root / "stack.toml"
    path.write_text(text)
    return path
