"""Profiles (issue 16, point 1): which services `up` starts, the active set from
--profile or DEVSTACK_PROFILES, an unknown profile and a dependency no active
profile enables; the key is validated and kept by the spec cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import load_stack, profiles, speccache
from devstack.errors import ConfigError, UsageError
from devstack.spec import StackSpec
from support.profilestack import profile_stack

STACK = profile_stack("sleep 1").replace('profiles = ["docs"]', 'profiles = ["docs", "all"]')


def load(tmp_path: Path, text: str = STACK) -> StackSpec:
    (tmp_path / "stack.toml").write_text(text)
    return load_stack(cwd=tmp_path, environ={"PATH": "/usr/bin:/bin"})


def start(stack: StackSpec, flags: list[str] | None, env: str | None = None) -> list[str]:
    environ = {} if env is None else {profiles.ENV: env}
    return profiles.to_start(profiles.activate(stack, flags, environ), [])


def test_the_key_reaches_the_spec_and_survives_the_cache(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert stack.services["docs"].profiles == ("docs", "all")
    assert stack.services["api"].profiles == ()
    assert profiles.known(stack) == ["worker", "docs", "all", "monitor"]
    active = profiles.activate(stack, ["worker"], {})
    assert speccache.decode(StackSpec, speccache.encode(StackSpec, active)) == active


def test_without_a_profile_only_the_services_without_profiles_start(tmp_path: Path) -> None:
    assert start(load(tmp_path), None) == ["api"]


def test_a_profile_adds_its_services(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert start(stack, ["worker"]) == ["api", "worker"]
    assert start(stack, ["all"]) == ["api", "docs"]
    assert start(stack, ["worker", "monitor"]) == ["api", "worker", "flower"]


def test_devstack_profiles_is_read_when_no_flag_is_given(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert start(stack, None, " worker , docs,") == ["api", "worker", "docs"]
    assert start(stack, ["docs"], "worker") == ["api", "docs"]  # the flag wins


def test_naming_a_service_chooses_it_whatever_the_profiles(tmp_path: Path) -> None:
    stack = profiles.activate(load(tmp_path), None, {})
    assert profiles.to_start(stack, ["flower"]) == ["flower"]  # the supervisor adds its deps


def test_an_unknown_profile_is_a_usage_error_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        profiles.activate(load(tmp_path), ["wrker"], {})
    assert "no profile named 'wrker'" in info.value.message
    assert info.value.hint == "profiles: worker, docs, all, monitor"
    with pytest.raises(UsageError) as env:
        profiles.activate(load(tmp_path), None, {profiles.ENV: "nope"})
    assert "DEVSTACK_PROFILES" in env.value.message


def test_a_dependency_no_active_profile_enables_names_the_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        start(load(tmp_path), ["monitor"])
    (problem,) = info.value.problems
    assert problem.key_path == "services.flower.depends_on.worker"
    assert problem.line == 16
    assert "only by profile worker" in problem.message
    assert problem.hint is not None and "--profile worker" in problem.hint


def test_the_service_reason_says_which_profile_leaves_it_out(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert profiles.disabled_reason(stack.services["docs"], ()) == "profile docs or all"
    assert profiles.disabled_reason(stack.services["docs"], ("all",)) is None
    assert profiles.disabled_reason(stack.services["api"], ()) is None


@pytest.mark.parametrize("value", ['"worker"', '["a b"]', '["-x"]', "[1]"])
def test_bad_profile_names_are_config_errors(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f'[services.api]\ncmd = "api"\nprofiles = {value}\n')
    assert "profiles" in info.value.render()
    if value == '["a b"]':
        assert "'a b' is not a profile name: letters, digits, - and _" in info.value.render()


def test_devstack_profiles_is_left_alone_by_a_stack_without_profiles(tmp_path: Path) -> None:
    plain = load(tmp_path, '[services.api]\ncmd = "api"\n')
    assert profiles.activate(plain, None, {profiles.ENV: "worker"}).profiles == ()
    with pytest.raises(UsageError) as info:  # on the command line it is a mistake
        profiles.activate(plain, ["worker"], {})
    assert info.value.hint == 'no service has profiles; add profiles = ["NAME"] to one'
