"""Where a resumed run starts a merged key: rebuilt from the writes of the steps it does not run again.

A key several steps merge into (``ctx.append``, ``ctx.update``, a merge strategy) is
stored as each step's contribution (its ``op`` and operand: the item appended, the
mapping merged in, the value set) followed by a ``merge`` row with the value the
context kept. When a ``--resume-from`` or ``--only`` run runs one of those steps again,
the key cannot start with the recorded value (it holds that step's contribution, which
the step adds a second time) nor with the last write of another step (it lacks the
contributions after it). So its value is rebuilt: the contributions of the steps kept
are folded again, as the run folded them, by a scratch
:class:`~orchestrator_core.run.context.Context` (recipe order, the recipe's merge
strategies).

The resumed run starts with those contributions, attributed to the steps and runs that
made them, then a ``merge`` write of the rebuilt value: so a run resumed from it can
take the key apart again. Writes that are not step contributions (the recipe's
``context:``, ``--set``, a carried value) fold as the run folded them: they replace the
value, or accumulate into it, between the runs' steps.

A key cannot be rebuilt when a row's ``op`` is unknown (recorded before schema version
6, or carried over from such a value), when a contributing step is no longer in the
recipe, when something outside the run wrote it between the run's steps, or when the
merge fails now (its strategy is no longer installed): :func:`starting_writes` then
says ``None`` and the caller keeps the recorded value with a warning.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Mapping

from orchestrator_core.errors import ContextError
from orchestrator_core.model import Write
from orchestrator_core.run.fingerprint import same_json
from orchestrator_core.run.write_ops import MISSING, applied

Merge = Callable[[str, Any, Any], Any]

__all__ = ["carried_writes", "contributions", "starting_writes"]


def contributions(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The rows of a merged key that made its value (``merge`` rows left out); ``None`` when an ``op`` is unknown."""
    if any(row["op"] is None for row in rows):
        return None
    return [row for row in rows if row["op"] != "merge"]


def starting_writes(key: str, rows: list[dict[str, Any]], run_id: str, excluded: Collection[str],
                    positions: Mapping[str, int], merge: Merge) -> list[Write] | None:
    """The writes a resumed run's context starts ``key`` with, rebuilt from ``rows`` (the key's rows in
    run ``run_id``, in order) without the contributions of the steps ``excluded``.

    ``[]``: only those steps wrote it, so the key starts absent. ``None``: it cannot be rebuilt.
    ``positions`` are the recipe positions of its steps; ``merge`` merges two plain writes
    (``MergePolicy.merge``).
    """
    made = contributions(rows)
    if made is None:
        return None
    kept = [row for row in made if row["step"] is None or row["step"] not in excluded]
    try:
        value = _folded(key, kept, run_id, positions, merge)
    except (ContextError, _CannotReplay):
        return None
    return _as_writes(key, kept, run_id, value)


def carried_writes(key: str, rows: list[dict[str, Any]], run_id: str, value: Any) -> list[Write] | None:
    """The writes a resumed run's context starts ``key`` with when no step it runs again wrote it: its
    contributions in run ``run_id``, then the ``value`` that run kept; ``None`` when an ``op`` is unknown.

    Carried so, the key can be taken apart again by a run resumed from the resumed run.
    """
    made = contributions(rows)
    return None if made is None else _as_writes(key, made, run_id, value)


def _as_writes(key: str, rows: list[dict[str, Any]], run_id: str, value: Any) -> list[Write]:
    """``rows`` as carried writes (each keeps the step and run that made it), then a ``merge`` write of
    ``value`` unless the last row's value is it already; ``[]`` when ``value`` is ``MISSING``."""
    if value is MISSING or not rows:
        return []
    writes = [Write(key, row["value"], row["who"], row["step"], row["source_run"] or run_id, row["ts"] or "",
                    row["op"]) for row in rows]
    last = rows[-1]
    if last["op"] != "set" or not same_json(last["value"], value):  # 1 is not true
        writes.append(Write(key, value, "merge", None, run_id, last["ts"] or "", "merge"))
    return writes


class _CannotReplay(Exception):
    """The rows do not say how the run folded them."""


def _folded(key: str, rows: list[dict[str, Any]], run_id: str, positions: Mapping[str, int], merge: Merge) -> Any:
    """The value ``rows`` give, folded as their runs folded them (``MISSING``: none).

    Consecutive contributions of one run (carried ones keep the run that made them) are
    folded by one scratch context, from the value before them, as that run's context
    folded its steps' deltas: onto what the steps of an earlier run wrote, a plain write
    merges; onto a write that is not a step's (the recipe's ``context:``, ``--set``), it
    replaces. Such a write applies to the value between the runs' contributions.
    """
    from orchestrator_core.run.context import Context  # the run's own folding (imports the runner's modules)

    value, scratch, segment = MISSING, None, None
    at = 0
    while at < len(rows):
        row = rows[at]
        origin = row["source_run"] or run_id
        if row["step"] is None:
            if scratch is not None and segment == origin:
                raise _CannotReplay(f"{key!r} was written from outside the run between its steps")
            value, scratch, segment = _value_of(scratch, key, value), None, None
            value = row["value"] if row["op"] == "set" else applied(
                key, value, row["op"], [row["value"]] if row["op"] == "append" else row["value"])
            at += 1
            continue
        if scratch is None or segment != origin:
            value, earlier = _value_of(scratch, key, value), segment
            scratch, segment = Context(run_id=origin), origin
            if value is not MISSING:  # what an earlier run's steps made (merged onto), or a plain value (replaced)
                scratch.record(Write(key, value, "merge", None, earlier, op="merge") if earlier is not None
                               else Write(key, value, "initial", None, origin))
        delta = []  # the step's writes of the key: consecutive rows of one step and run
        while at < len(rows) and rows[at]["step"] == row["step"] and (rows[at]["source_run"] or run_id) == origin:
            delta.append(Write(key, rows[at]["value"], rows[at]["who"], row["step"], origin, "", rows[at]["op"]))
            at += 1
        if row["step"] not in positions:
            raise _CannotReplay(f"step {row['step']!r} is no longer in the recipe")
        scratch.apply(delta, position=positions[row["step"]], merge=merge)
    return _value_of(scratch, key, value)


def _value_of(scratch: Any, key: str, value: Any) -> Any:
    return value if scratch is None else scratch.get(key, MISSING)
