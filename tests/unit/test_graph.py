"""The dependency graph: cycles named, stable orders, closures and dependents."""

from __future__ import annotations

import pytest

from devstack.graph import closure, dependents, find_cycle, levels, start_order, stop_order

DIAMOND = {
    "db": [],
    "cache": [],
    "api": ["db", "cache"],
    "worker": ["db"],
    "web": ["api", "worker"],
}


def test_no_cycle() -> None:
    assert find_cycle(DIAMOND) is None


def test_two_cycle_is_named_closed() -> None:
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


def test_self_cycle() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_longer_cycle_behind_acyclic_part() -> None:
    deps = {"x": [], "a": ["x", "b"], "b": ["c"], "c": ["a"]}
    assert find_cycle(deps) == ["a", "b", "c", "a"]


def test_diamond_start_order_respects_dependencies_and_declaration() -> None:
    order = start_order(DIAMOND)
    assert order == ["db", "cache", "api", "worker", "web"]
    for name, deps in DIAMOND.items():
        for dep in deps:
            assert order.index(dep) < order.index(name)


def test_start_order_is_stable_by_declaration() -> None:
    assert start_order({"b": [], "a": [], "c": []}) == ["b", "a", "c"]
    assert start_order({"web": ["db"], "db": []}) == ["db", "web"]


def test_stop_order_is_reverse() -> None:
    assert stop_order(DIAMOND) == list(reversed(start_order(DIAMOND)))


def test_levels() -> None:
    assert levels(DIAMOND) == [["db", "cache"], ["api", "worker"], ["web"]]


def test_closure() -> None:
    assert closure(DIAMOND, ["api"]) == {"api", "db", "cache"}
    assert closure(DIAMOND, ["web"]) == set(DIAMOND)
    assert closure(DIAMOND, []) == set()


def test_dependents_transitive() -> None:
    assert dependents(DIAMOND, "db") == {"api", "worker", "web"}
    assert dependents(DIAMOND, "web") == set()


def test_orders_refuse_cycles() -> None:
    with pytest.raises(ValueError, match="a -> b -> a"):
        start_order({"a": ["b"], "b": ["a"]})


@pytest.mark.parametrize(
    "call",
    [
        lambda: find_cycle({"a": ["nope"]}),
        lambda: start_order({"a": ["nope"]}),
        lambda: closure({"a": []}, ["nope"]),
        lambda: dependents({"a": []}, "nope"),
    ],
)
def test_unknown_names_raise_value_error(call: object) -> None:
    with pytest.raises(ValueError, match="nope"):
        call()  # type: ignore[operator]
