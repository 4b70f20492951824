"""How writes combine: plain writes (``set``) and accumulating ones (``append``, ``update``).

A step that contributes one item to a shared list should not have to read the
list, add its item and write the list back: two such steps running side by side
would each write a list without the other's item. ``append`` and ``update`` record
the contribution itself, and the run's context folds contributions in recipe order
(see ``Context.apply``), so every one of them is kept.
"""

from __future__ import annotations

from typing import Any

from orchestrator_core.errors import ContextError
from orchestrator_core.model import Write

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


class KeyWrites:
    """The writes steps of this run made to one key: the value before them, the entries, in recipe order.

    ``chain`` stays true while each entry's step is ordered after the one before it
    (or the key has its own strategy): a new entry that may follow the last one may
    then follow all of them, by transitivity, so one check is enough. ``before`` is an
    entry standing for the steps of an earlier run when ``base`` is what they wrote (a
    resumed run carried it over): the first plain write then merges with it, as it did in
    the full run, instead of replacing it.
    """

    __slots__ = ("base", "entries", "chain", "before")

    def __init__(self, base: Any, entries: list[tuple], before: tuple | None = None):
        self.base = base
        self.entries = entries
        self.chain = True
        self.before = before


def saved_state(state: KeyWrites | None) -> tuple | None:
    """What ``Context.apply`` restores when a delta fails to merge: the state, its list, length and flag."""
    return None if state is None else (state, state.entries, len(state.entries), state.chain)


def combined(key: str, writes: list[Write]) -> tuple[str, Any]:
    """One step's writes of ``key`` as one operation: ``(op, payload)``.

    A ``set`` followed by accumulating writes is a ``set`` of the result; accumulating
    writes alone stay accumulating (``append``: the list of items, ``update``: one mapping).
    """
    op, payload = "", MISSING
    for write in writes:
        if write.op == "set":
            op, payload = "set", write.value
            continue
        part = [write.value] if write.op == "append" else write.value
        if op == "set":
            payload = applied(key, payload, write.op, part, step=write.step)
        elif op in ("", write.op):
            op, payload = write.op, applied(key, payload, write.op, part, step=write.step)
        else:
            raise ContextError(f"step {write.step!r} both appended to and updated {key!r}; use one or the other")
    return op, payload


def applied(key: str, current: Any, op: str, payload: Any, *, step: str | None = None) -> Any:
    """``current`` with the accumulating write ``op`` applied (a new value; ``current`` is not changed)."""
    if op == "append":
        kind, empty = list, []
    elif op == "update":
        kind, empty = dict, {}
    else:
        raise ContextError(f"unknown write operation {op!r} for key {key!r}")
    if current is MISSING or current is None:
        current = empty
    if not isinstance(current, kind) or not isinstance(payload, kind):
        what = type(current if not isinstance(current, kind) else payload).__name__
        by = f" by step {step!r}" if step else ""
        raise ContextError(f"cannot {op} {key!r}{by}: it needs a {kind.__name__}, got {what}")
    return current + payload if kind is list else {**current, **payload}
