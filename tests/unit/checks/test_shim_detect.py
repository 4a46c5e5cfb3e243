"""Telling a version-manager shim from a program, and a Python script from a shell one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from devstack.checks.command import shebang_python
from devstack.checks.shims import Shim, detect
from devstack.spec import ServiceSpec

# The shims as the managers write them (paths shortened).
SHIMS = {
    "pyenv": (
        '#!/usr/bin/env bash\nset -e\nprogram="${0##*/}"\nexport PYENV_ROOT="/r/.pyenv"\n'
        'exec "/r/.pyenv/libexec/pyenv" exec "$program" "$@"\n',
        "/r/.pyenv/libexec/pyenv",
    ),
    "asdf": (
        "#!/usr/bin/env bash\n# asdf-plugin: python 3.12.1\n"
        'exec /home/u/.asdf/bin/asdf exec "flask" "$@" # asdf_allow: \' asdf \'\n',
        "/home/u/.asdf/bin/asdf",
    ),
    "rbenv": (
        '#!/usr/bin/env bash\nset -e\nprogram="${0##*/}"\n'
        'exec "$RBENV_ROOT/libexec/rbenv" exec "$program" "$@"\n',
        None,  # "$RBENV_ROOT/...": asked through `rbenv` on PATH
    ),
    "mise": ('#!/usr/bin/env bash\nexec mise x -- flask "$@"\n', "mise"),
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("manager", list(SHIMS))
def test_shims_are_recognised_by_what_they_exec(tmp_path: Path, manager: str) -> None:
    text, launcher = SHIMS[manager]
    path = _write(tmp_path / "bin" / "flask", text)
    # The pyenv shim's own `export PYENV_ROOT=...` is kept, to ask its manager as it would.
    exports = (("PYENV_ROOT", "/r/.pyenv"),) if manager == "pyenv" else ()
    assert detect(path) == Shim(path, "flask", manager, launcher, exports)


def test_a_symlink_to_the_manager_is_a_shim(tmp_path: Path) -> None:
    mise = _write(tmp_path / "opt" / "mise", "\x7fELF not really\n")
    link = tmp_path / "shims" / "flask"
    link.parent.mkdir()
    link.symlink_to(mise)
    assert detect(link) == Shim(link, "flask", "mise", str(mise))


def test_a_script_in_a_shims_directory_is_a_shim_of_an_unknown_manager(tmp_path: Path) -> None:
    path = _write(tmp_path / "shims" / "flask", '#!/bin/sh\nexec frob run flask "$@"\n')
    assert detect(path) == Shim(path, "flask", None, None)


def test_programs_are_not_shims(tmp_path: Path) -> None:
    console = _write(tmp_path / "bin" / "flask", "#!/v/bin/python3\nfrom flask.cli import main\n")
    wrapper = _write(tmp_path / "bin" / "serve", '#!/bin/sh\nexec gunicorn app:app "$@"\n')
    assert detect(console) is None
    assert detect(wrapper) is None


def _spec(tmp_path: Path) -> ServiceSpec:
    bin_dir = tmp_path / "path"
    _write(bin_dir / "python3", "#!/bin/sh\n")
    return ServiceSpec("api", "flask", ("flask",), tmp_path, {"PATH": str(bin_dir)})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#!/v/bin/python3.12\n", "/v/bin/python3.12"),
        ("#!/usr/bin/env python3\n", "{path}/python3"),
        # pip's form when the interpreter's path is too long (or has spaces) for a shebang.
        ("#!/bin/sh\n'''exec' \"/a b/bin/python\" \"$0\" \"$@\"\n' '''\n", "/a b/bin/python"),
        ("#!/usr/bin/env bash\nexec pyenv exec flask\n", None),
        ("#!/bin/bash\nexec flask\n", None),
        ("\x7fELF", None),
    ],
)
def test_shebang_python(tmp_path: Path, text: str, expected: str | None) -> None:
    script = _write(tmp_path / "script", text)
    found = shebang_python(_spec(tmp_path), script)
    want = None if expected is None else Path(expected.format(path=tmp_path / "path"))
    assert found == want
