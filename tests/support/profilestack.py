"""The stack.toml of the profile tests (unit and integration): api always, worker
(needs api) in profile worker, docs in docs, flower (needs worker) in monitor."""

from __future__ import annotations


def profile_stack(cmd: str) -> str:
    """The stack with every service running ``cmd`` (a string TOML can hold as is)."""
    return f"""\
[services.api]
cmd = "{cmd}"

[services.worker]
cmd = "{cmd}"
profiles = ["worker"]
depends_on = ["api"]

[services.docs]
cmd = "{cmd}"
profiles = ["docs"]

[services.flower]
cmd = "{cmd}"
profiles = ["monitor"]
depends_on = ["worker"]
"""
