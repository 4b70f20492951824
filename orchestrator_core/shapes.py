"""The shape of a JSON value, and where a recorded key changed shape between runs.

Guide §11: a key's shape is a contract with every step that reads it, so a new shape
must be a new key (``metrics.summary_v2`` beside ``metrics.summary_v1``). ``orch steps
check`` holds the state store to that rule. A shape is a short canonical text:

* ``null``, ``boolean``, ``number`` (ints and floats alike: 3 and 3.5 are one shape),
  ``string``;
* ``[S]`` for a list whose items all have shape ``S`` (``[S|T]`` when they differ,
  ``[]`` when empty, which matches any list);
* ``{a:S,b:T}`` for an object, its keys sorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

EMPTY_LIST = "[]"


def shape_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        items = sorted({shape_of(item) for item in value})
        return f"[{'|'.join(items)}]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{shape_of(item)}" for key, item in sorted(value.items())) + "}"
    return type(value).__name__  # not JSON; the context never records such a value


def same_shape(old: str, new: str) -> bool:
    """Equal shapes; an empty list is taken to match any list (its items are unknown)."""
    if old == new:
        return True
    return old.startswith("[") and new.startswith("[") and EMPTY_LIST in (old, new)


@dataclass(frozen=True)
class ShapeChange:
    key: str
    before: str
    before_run: str
    after: str
    after_run: str
    step: str | None  # the step whose write has the new shape

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "before": self.before, "before_run": self.before_run,
                "after": self.after, "after_run": self.after_run, "step": self.step}


def shape_changes(writes: Iterable[dict[str, Any]]) -> list[ShapeChange]:
    """Each time a key's shape differs from the shape it had before, oldest first.

    ``writes`` are the recorded writes oldest first, each with ``key``, ``value``,
    ``run`` and ``step``. Only the shape actually seen before counts, so a key that
    flips back and forth is reported at every flip.
    """
    last: dict[str, tuple[str, str]] = {}  # key -> (shape, run)
    changes = []
    for write in writes:
        shape = shape_of(write["value"])
        previous = last.get(write["key"])
        if previous is not None and not same_shape(previous[0], shape):
            changes.append(ShapeChange(write["key"], previous[0], previous[1], shape, write["run"], write["step"]))
        if previous is None or shape != EMPTY_LIST:
            last[write["key"]] = (shape, write["run"])
    return changes
