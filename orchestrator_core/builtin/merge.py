"""The built-in merge strategies for a key written by two steps of one run.

Registered through ``orch_register_merge_strategies`` like a plugin's own, so the
core knows none of them by name. A recipe names one for every key (``merge:
fail_on_conflict``) or per key (``merge: {keys: {geo.stations_v1: append}}``).
"""

from __future__ import annotations

from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import ContextConflictError
from orchestrator_core.plugin.interfaces import MergeStrategy


class LastWriteWins(MergeStrategy):
    name = "last_write_wins"
    description = "the later step's value (in recipe order) replaces the earlier one"
    default = True  # for recipes that name no strategy

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        return incoming


class FailOnConflict(MergeStrategy):
    name = "fail_on_conflict"
    description = "two different values fail the run; equal values are kept"

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        if current != incoming:
            raise ContextConflictError(f"conflicting writes to {key!r}: {current!r} then {incoming!r}")
        return incoming


class Append(MergeStrategy):
    name = "append"
    description = ("lists: the earlier list, then the later list's items it does not already hold "
                   "(each read-modify-write of a shared list keeps its new items)")

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        if not isinstance(current, list) or not isinstance(incoming, list):
            raise ContextConflictError(f"merge strategy 'append' needs lists for {key!r}, got "
                                       f"{type(current).__name__} and {type(incoming).__name__}")
        return current + [item for item in incoming if item not in current]


class Update(MergeStrategy):
    name = "update"
    description = "mappings: the earlier mapping updated with the later one's entries"

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        if not isinstance(current, dict) or not isinstance(incoming, dict):
            raise ContextConflictError(f"merge strategy 'update' needs mappings for {key!r}, got "
                                       f"{type(current).__name__} and {type(incoming).__name__}")
        return {**current, **incoming}


@hookimpl
def orch_register_merge_strategies() -> list[type]:
    return [LastWriteWins, FailOnConflict, Append, Update]
