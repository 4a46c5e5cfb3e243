"""Typos and subfolders of a module that is not found (issue 15 points 3 and 5), read from
the files alone."""

from __future__ import annotations

from pathlib import Path

from devstack.checks.modulehints import module_dirs, typo_of


def touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_close_name_beside_the_importer_is_a_typo(tmp_path: Path) -> None:
    touch(tmp_path / "serialisers.py")
    touch(tmp_path / "models" / "__init__.py")
    touch(tmp_path / "static" / "app.css")  # a folder without __init__.py is no module
    found = typo_of("serializers", [tmp_path])
    assert found is not None and (found.found, found.path) == (
        "serialisers",
        tmp_path / "serialisers.py",
    )
    found = typo_of("model", [tmp_path])
    assert found is not None and found.found == "models"
    assert typo_of("statc", [tmp_path]) is None
    assert typo_of("redis", [tmp_path]) is None  # nothing close: no guess


def test_a_typo_of_a_submodule_of_the_apps_package(tmp_path: Path) -> None:
    touch(tmp_path / "shop" / "__init__.py")
    touch(tmp_path / "shop" / "models.py")
    found = typo_of("shop.modles", [tmp_path])
    assert found is not None and found.found == "shop.models"
    assert typo_of("other.modles", [tmp_path]) is None


def test_subfolders_holding_the_module_shallowest_first_without_venvs_or_vendored(
    tmp_path: Path,
) -> None:
    touch(tmp_path / "api.py")  # the cwd itself is not a subfolder
    touch(tmp_path / "server" / "api.py")
    touch(tmp_path / "deploy" / "app" / "api" / "__init__.py")
    touch(tmp_path / ".venv" / "pyvenv.cfg")
    touch(tmp_path / ".venv" / "lib" / "api.py")
    touch(tmp_path / "env" / "pyvenv.cfg")
    touch(tmp_path / "env" / "api.py")
    touch(tmp_path / "node_modules" / "x" / "api.py")
    touch(tmp_path / "a" / "b" / "c" / "d" / "api.py")  # deeper than looked
    assert module_dirs(tmp_path, "api") == [tmp_path / "server", tmp_path / "deploy" / "app"]


def test_a_cwd_fix_rewrites_a_venv_written_relative_to_the_old_cwd(tmp_path: Path) -> None:
    """Seen in a field trial (FastAPI + Vite): `cwd = "."` and `venv = "backend/.venv"`,
    main.py in backend/. The fix said only `set cwd = "backend"`; applied, the venv
    (relative to cwd) became backend/backend/.venv and the executable check failed."""
    from devstack.checks.modulehints import cwd_fix
    from devstack.spec import ServiceSpec, StackSpec

    touch(tmp_path / "backend" / "main.py", "app = object()\n")
    touch(tmp_path / "backend" / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")
    api = ServiceSpec(
        name="backend", cmd="uvicorn main:app", argv=("uvicorn", "main:app"), cwd=tmp_path,
        env={}, venv=tmp_path / "backend" / ".venv",
    )  # fmt: skip
    stack = StackSpec("s", tmp_path, None, {"backend": api})
    fix = cwd_fix(api, stack, tmp_path / "backend")
    assert fix == 'set cwd = "backend" and venv = ".venv" in [services.backend]'
