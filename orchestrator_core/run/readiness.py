"""Which steps of a plan may start: those whose dependencies succeeded, earliest in the plan first.

The engine asks for the next ready step and says which steps succeeded: a step that
failed never makes its dependents ready, so they, and what depends on them, never start.
Dependencies outside the plan (``--only``, ``--resume-from``) count as met: the recorded
context has their keys. Positions in the plan also order the runner's metrics key
(:meth:`Readiness.in_plan_order`).
"""

from __future__ import annotations

import heapq
from typing import Any, Sequence


class Readiness:
    """The ready steps of one run, by their position in the plan."""

    def __init__(self, plan: Sequence[Any]):
        self.position = {step.name: i for i, step in enumerate(plan)}
        self.dependents: dict[str, list[str]] = {name: [] for name in self.position}
        self.unmet: dict[str, int] = {}
        for step in plan:
            deps = [d for d in step.depends_on if d in self.position]
            self.unmet[step.name] = len(deps)
            for dep in deps:
                self.dependents[dep].append(step.name)
        self._heap = [i for i, step in enumerate(plan) if not self.unmet[step.name]]
        heapq.heapify(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def pop(self) -> int:
        """The position of the earliest ready step, taken out (give it back with :meth:`put_back`)."""
        return heapq.heappop(self._heap)

    def put_back(self, position: int) -> None:
        heapq.heappush(self._heap, position)

    def succeeded(self, name: str) -> None:
        """``name`` ended ok: the steps that waited only for it are ready."""
        for child in self.dependents[name]:
            self.unmet[child] -= 1
            if not self.unmet[child]:
                heapq.heappush(self._heap, self.position[child])

    def in_plan_order(self, entries: dict[str, Any], name: str, entry: Any) -> None:
        """Add ``name``'s ``entry`` to ``entries`` (step name -> entry), keeping its steps in plan order.

        Readers of the runner's metrics key (reports, ``resource_audit``) list the steps as
        the key has them, so a step that finished before an earlier one of the plan goes in
        before it. Only the entries after its place move, so a run finishing in plan order
        pays nothing.
        """
        position = self.position[name]
        if not entries or self.position.get(next(reversed(entries)), -1) < position:
            entries[name] = entry  # the usual case: it comes after every step already there
            return
        later = []
        for key in reversed(entries):
            if self.position.get(key, -1) < position:  # steps of earlier runs (resume) stay in front
                break
            later.append(key)
        moved = [(key, entries.pop(key)) for key in reversed(later)]
        entries[name] = entry
        entries.update(moved)
