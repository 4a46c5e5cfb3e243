"""Every malformed stack.toml / Procfile in configs/bad/ gives one clear ConfigError.

Each ``NAME.toml`` (or ``NAME.Procfile``) has a sibling ``NAME.expect``: optional
``line: N`` and ``key: PATH`` lines, then substrings the rendered error must hold.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.config import load_stack
from devstack.errors import ConfigError

BAD = Path(__file__).parent / "configs" / "bad"
CASES = sorted(p for p in BAD.iterdir() if p.suffix in (".toml", ".Procfile"))


def _expectations(case: Path) -> tuple[int | None, str | None, list[str]]:
    line: int | None = None
    key: str | None = None
    substrings: list[str] = []
    for text in case.with_suffix(".expect").read_text().splitlines():
        if text.startswith("line: "):
            line = int(text.removeprefix("line: "))
        elif text.startswith("key: "):
            key = text.removeprefix("key: ")
        elif text:
            substrings.append(text)
    return line, key, substrings


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_config_is_reported(case: Path, tmp_path: Path) -> None:
    target = tmp_path / ("Procfile" if case.suffix == ".Procfile" else "stack.toml")
    shutil.copy(case, target)
    line, key, substrings = _expectations(case)

    with pytest.raises(ConfigError) as info:
        load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})

    error = info.value
    rendered = error.render()
    assert str(target) in rendered
    assert len(rendered.splitlines()) <= 24
    assert "Traceback" not in rendered
    assert all(p.file == target for p in error.problems)
    # The problem the case is about: the one at ``key`` (a file may hold several).
    matching = [p for p in error.problems if key is None or p.key_path == key]
    assert matching, f"no problem at {key}:\n{rendered}"
    if line is not None:
        assert matching[0].line == line, rendered
        assert f"{target}:{line}" in rendered
    for text in substrings:
        assert text in rendered, f"{text!r} not in:\n{rendered}"
