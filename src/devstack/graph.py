"""The dependency graph of a stack: cycles, start and stop order, closures. Pure.

``deps`` maps every service name to the names it depends on, in declaration
order (a dict keeps it). Every function raises ValueError when a dependency names
a service that is not a key of ``deps``; the config layer turns that into a
ConfigError with the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Deps = Mapping[str, Iterable[str]]


def _normalise(deps: Deps) -> dict[str, list[str]]:
    graph = {name: list(targets) for name, targets in deps.items()}
    for name, targets in graph.items():
        for target in targets:
            if target not in graph:
                raise ValueError(f"{name} depends on unknown service {target!r}")
    return graph


def find_cycle(deps: Deps) -> list[str] | None:
    """The first cycle found, closed (``["a", "b", "a"]``), or None.

    Depth-first in declaration order, so the same file always reports the same cycle.
    """
    graph = _normalise(deps)
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        # Iterative DFS: a stack of (node, iterator over its dependencies).
        path: list[str] = [root]
        on_path = {root}
        iters = [iter(graph[root])]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                iters.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            iters.append(iter(graph[nxt]))
    return None


def _check_acyclic(graph: Mapping[str, list[str]]) -> None:
    cycle = find_cycle(graph)
    if cycle is not None:
        raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")


def levels(deps: Deps) -> list[list[str]]:
    """Services grouped by depth: level 0 depends on nothing, level n on levels < n.

    Within a level, declaration order. Services in one level may start together.
    """
    graph = _normalise(deps)
    _check_acyclic(graph)
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        # Acyclic, so recursion terminates; stacks are small (tens of services).
        if name not in depth:
            depth[name] = 1 + max((depth_of(d) for d in graph[name]), default=-1)
        return depth[name]

    result: list[list[str]] = []
    for name in graph:
        d = depth_of(name)
        while len(result) <= d:
            result.append([])
    for name in graph:
        result[depth[name]].append(name)
    return result


def start_order(deps: Deps) -> list[str]:
    """Every service after all its dependencies; ties broken by declaration order."""
    graph = _normalise(deps)
    _check_acyclic(graph)
    order: list[str] = []
    placed: set[str] = set()
    # Repeatedly take the first declared service whose dependencies are placed:
    # quadratic, but stable and obviously right for tens of services.
    while len(order) < len(graph):
        for name, targets in graph.items():
            if name not in placed and all(t in placed for t in targets):
                order.append(name)
                placed.add(name)
                break
    return order


def stop_order(deps: Deps) -> list[str]:
    """The reverse of :func:`start_order`: dependents stop before what they use."""
    return list(reversed(start_order(deps)))


def dependents(deps: Deps, name: str) -> set[str]:
    """Every service that depends on ``name``, directly or transitively (not ``name``)."""
    graph = _normalise(deps)
    if name not in graph:
        raise ValueError(f"unknown service {name!r}")
    reverse: dict[str, list[str]] = {n: [] for n in graph}
    for node, targets in graph.items():
        for target in targets:
            reverse[target].append(node)
    found: set[str] = set()
    todo = [name]
    while todo:
        for user in reverse[todo.pop()]:
            if user not in found:
                found.add(user)
                todo.append(user)
    found.discard(name)
    return found


def closure(deps: Deps, names: Iterable[str]) -> set[str]:
    """``names`` plus everything they depend on, transitively (for ``devstack up SVC``)."""
    graph = _normalise(deps)
    found: set[str] = set()
    todo = list(names)
    for name in todo:
        if name not in graph:
            raise ValueError(f"unknown service {name!r}")
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        todo.extend(graph[name])
    return found
