"""The recipe as a graph: plan order, cycles, and which steps a run selects."""

from __future__ import annotations

import heapq
from typing import Iterable, Mapping, Sequence

from orchestrator_core.errors import UsageError, did_you_mean
from orchestrator_core.model import Recipe, Step


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, c, a]``, or ``None``; unknown names are ignored."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in graph:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(graph[root]))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in graph:
                    continue
                if state.get(child) == 1:
                    return path[path.index(child):] + [child]
                if not state.get(child):
                    state[child] = 1
                    path.append(child)
                    stack.append((child, iter(graph[child])))
                    break
            else:
                state[node] = 2
                path.pop()
                stack.pop()
    return None


def plan_order(recipe: Recipe) -> list[Step]:
    """Steps in an order that respects dependencies, otherwise the recipe's own order.

    A run's recipe is acyclic (the recipe loader checks). The checks that go on reading a
    recipe with problems (:func:`~orchestrator_core.recipe.prepare.with_plugin_problems`)
    may ask for the order of one that is not: a step in a dependency cycle, or depending on
    an unknown step, never becomes ready, so it is left out, with every step after it.
    """
    by_name = {s.name: s for s in recipe.steps}
    waiting = {s.name: len(s.depends_on) for s in recipe.steps}
    dependents: dict[str, list[str]] = {s.name: [] for s in recipe.steps}
    for step in recipe.steps:
        for dep in step.depends_on:
            try:
                dependents[dep].append(step.name)
            except KeyError:
                pass  # an unknown step (the loader reports it): ``step`` waits for it forever
    ready = [(s.index, s.name) for s in recipe.steps if not s.depends_on]
    heapq.heapify(ready)
    order: list[Step] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(by_name[name])
        for child in dependents[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (by_name[child].index, child))
    return order


def split_names(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` → ``["a", "b", "c"]``: ``--only a,b --only c`` and ``--only a b c`` agree."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def select_steps(
    order: list[Step],
    *,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    resume_from: str | None = None,
) -> list[Step]:
    """The steps a run executes, in plan order.

    ``resume_from`` keeps that step and every step after it in plan order; ``only``
    keeps just the named steps; ``skip`` drops the named steps (their dependents
    still run). Unknown names are a :class:`UsageError` with a suggestion.
    """
    names = [s.name for s in order]
    only, skip = split_names(only), split_names(skip)
    for flag, given in (("--only", only), ("--skip", skip), ("--resume-from", [resume_from] if resume_from else [])):
        for name in given:
            if name not in names:
                hint = did_you_mean(name, names) or (
                    f" (its steps: {', '.join(names)})" if len(names) <= 12 else " (`orch graph` lists its steps)")
                raise UsageError(f"{flag}: no step named {name!r} in the recipe{hint}")
    selected = order
    if resume_from:
        selected = order[names.index(resume_from):]
    if only:
        wanted = set(only)
        selected = [s for s in selected if s.name in wanted]
    if skip:
        dropped = set(skip)
        selected = [s for s in selected if s.name not in dropped]
    return selected
