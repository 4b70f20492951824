"""Which steps of a plan may start: those whose dependencies succeeded, earliest in the plan first.

The engine asks for the next ready step and says which steps succeeded: a step that
failed never makes its dependents ready, so they, and what depends on them, never start.
Dependencies outside the plan (``--only``, ``--resume-from``) count as met: the recorded
context has their keys. Positions in the plan also order the runner's metrics key
(:meth:`Readiness.in_plan_order`, :meth:`Readiness.settle`).
"""

from __future__ import annotations

import bisect
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
        self._late: list[tuple[int, str, Any]] = []  # metrics entries waiting for settle()
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
        the key has them: entries of steps outside the plan (earlier runs, on resume) first,
        then the plan's, in plan order. An entry that comes after every one there is added at
        once (a run finishing in plan order pays nothing more); one that goes before some (a
        step that finished after later ones of the plan) waits for :meth:`settle`, which puts
        all that waited in their places in one pass. A step's entry from an earlier run (a resumed
        run starts from its context) is replaced where it is, the earlier run's plan order.
        """
        position = self.position[name]
        if name in entries or not entries or self.position.get(next(reversed(entries)), -1) < position:
            entries[name] = entry  # after every entry there, or in place of the step's own from an earlier run
        else:
            self._late.append((position, name, entry))

    def settle(self, entries: dict[str, Any]) -> None:
        """Put the entries :meth:`in_plan_order` held back in their places in ``entries``.

        One rebuild of the dict however many there are (moving the later entries once for
        each would cost a fan-out's steps a pass over the others each); where each goes is
        found by bisection, ``entries`` being in the order this class keeps.
        """
        if not self._late:
            return
        late, self._late = sorted(self._late, key=lambda item: item[0]), []
        for _, name, _ in late:
            entries.pop(name, None)
        keys = list(entries)
        items = list(entries.items())
        placed: list[tuple[str, Any]] = []
        done = 0
        where = self.position.get
        for position, name, entry in late:
            cut = bisect.bisect_right(keys, position, lo=done, key=lambda key: where(key, -1))
            placed.extend(items[done:cut])
            placed.append((name, entry))
            done = cut
        placed.extend(items[done:])
        entries.clear()
        entries.update(placed)
