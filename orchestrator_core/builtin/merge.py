"""The built-in merge strategies for a key written by two steps of one run."""

from __future__ import annotations

from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import ContextConflictError, ContextError

STRATEGIES = ("last_write_wins", "fail_on_conflict")


@hookimpl(trylast=True)
def orch_merge_context(key: str, current: Any, incoming: Any, strategy: str) -> Any:
    if strategy == "last_write_wins":
        return incoming
    if strategy == "fail_on_conflict":
        if current != incoming:
            raise ContextConflictError(f"conflicting writes to {key!r}: {current!r} then {incoming!r}")
        return incoming
    raise ContextError(f"unknown merge strategy {strategy!r} (built in: {', '.join(STRATEGIES)})")
