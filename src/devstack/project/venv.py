"""A service's virtualenv: finding it in its directory, and activating it in an env.

Stdlib only: config loading, the checks and the runtime (after a setup step made
the venv) all use it, so they agree on which gunicorn a service runs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from devstack.spec import ServiceSpec

BIN_DIR = "Scripts" if os.name == "nt" else "bin"


def find_venv(cwd: Path) -> Path | None:
    """A virtualenv in ``cwd`` (.venv, then venv), or None."""
    for name in (".venv", "venv"):
        if (cwd / name / "pyvenv.cfg").is_file():
            return cwd / name
    return None


def activate(env: dict[str, str], venv: Path) -> None:
    """As ``source .venv/bin/activate`` would: its bin first on PATH, VIRTUAL_ENV set."""
    bin_dir = str(venv / BIN_DIR)
    path = env.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bin_dir]:
        env["PATH"] = os.pathsep.join(p for p in (bin_dir, path) if p)
    env["VIRTUAL_ENV"] = str(venv)


def venv_of(spec: ServiceSpec) -> Path | None:
    """The service's virtualenv: ``venv = ...``, else a .venv/venv in its cwd now."""
    return spec.venv if spec.venv is not None else find_venv(spec.cwd)


def with_found_venv(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with the venv a setup step made since it was read activated (as config
    loading would have)."""
    venv = venv_of(spec)
    if spec.venv is not None or venv is None:
        return spec
    env = dict(spec.env)
    activate(env, venv)
    return dataclasses.replace(spec, venv=venv, env=env)
