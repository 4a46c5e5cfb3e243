"""stop_mode: "main" by default, "group" when written, anything else a config error;
kept by the spec cache; shown by `devstack config` when not the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import dump_resolved, load_stack, speccache
from devstack.errors import ConfigError
from devstack.spec import StackSpec


def load(tmp_path: Path, extra: str = "") -> StackSpec:
    (tmp_path / "stack.toml").write_text(f'[services.worker]\ncmd = "celery worker"\n{extra}')
    return load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})


def test_main_by_default_and_not_shown(tmp_path: Path) -> None:
    spec = load(tmp_path)
    assert spec.services["worker"].stop_mode == "main"
    assert "stop_mode" not in dump_resolved(spec, {})


def test_group_when_written_shown_and_kept_by_the_cache(tmp_path: Path) -> None:
    spec = load(tmp_path, 'stop_mode = "group"\n')
    assert spec.services["worker"].stop_mode == "group"
    assert 'stop_mode = "group"' in dump_resolved(spec, {})
    assert speccache.decode(StackSpec, speccache.encode(StackSpec, spec)) == spec


def test_other_values_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, 'stop_mode = "process"\n')
    assert "stop_mode" in str(info.value)
