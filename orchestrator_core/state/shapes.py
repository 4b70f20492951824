"""The shape of a JSON value, and where a recorded key changed shape between runs.

Guide §11: a key's shape is a contract with every step that reads it, so a new shape
must be a new key (``metrics.summary_v2`` beside ``metrics.summary_v1``). ``orch steps
check`` holds the state store to that rule. A shape is a short canonical text:

* ``null``, ``boolean``, ``number`` (ints and floats alike: 3 and 3.5 are one shape),
  ``string``;
* ``[S]`` for a list whose items all have shape ``S`` (``[S|T]`` when they differ,
  ``[]`` when empty, which matches any list, at any depth);
* ``{a:S,b:T}`` for an object whose keys are fields, its keys sorted (``{}``, empty,
  matches any object);
* ``{*:S}`` for an object whose keys are data rather than fields: numbers written as
  strings, or names mapped to values of one container shape (a list or an object), such as
  the columns of a table or the steps of a run. Its keys vary with the data; only ``S``
  is the contract.

The framework's own keys (``_runner.*``) are left out: their shape is the framework's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

FRAMEWORK_PREFIX = "_runner."

# A shape as a structure, for comparing: a scalar name, ("list", items), ("map", values)
# or ("object", ((key, shape), ...)); items and values are frozensets of shapes.
Shape = Any


def shape_of(value: Any) -> str:
    """The canonical text of ``value``'s shape."""
    return render(structure_of(value))


def structure_of(value: Any) -> Shape:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return ("list", frozenset(structure_of(item) for item in value))
    if isinstance(value, dict):
        fields = {str(key): structure_of(item) for key, item in value.items()}
        if _keys_are_data(fields):
            return ("map", frozenset(fields.values()))
        return ("object", tuple(sorted(fields.items())))
    return type(value).__name__  # not JSON; the context never records such a value


def _keys_are_data(fields: dict[str, Shape]) -> bool:
    """Numbers as keys, or every value of one container shape (a table's columns, a run's steps)."""
    if not fields:
        return False
    if all(_is_number(key) for key in fields):
        return True
    shapes = set(fields.values())
    return len(shapes) == 1 and isinstance(next(iter(shapes)), tuple)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render(shape: Shape) -> str:
    if isinstance(shape, str):
        return shape
    kind, parts = shape
    if kind == "list":
        return f"[{'|'.join(sorted(render(s) for s in parts))}]"
    if kind == "map":
        return "{*:" + "|".join(sorted(render(s) for s in parts)) + "}"
    return "{" + ",".join(f"{key}:{render(item)}" for key, item in parts) + "}"


def compatible(old: Shape, new: Shape) -> bool:
    """Equal shapes, where an empty list or object matches any list or object (at any depth)."""
    if old == new:
        return True
    if isinstance(old, str) or isinstance(new, str):
        return False
    (old_kind, old_parts), (new_kind, new_parts) = old, new
    if old_kind == "list" or new_kind == "list":
        return old_kind == new_kind and (not old_parts or not new_parts or _same_members(old_parts, new_parts))
    if not old_parts or not new_parts:  # {} matches any object
        return True
    if old_kind != new_kind:
        return False
    if old_kind == "map":  # which values a data-keyed object holds varies with its keys
        return _same_members(old_parts, new_parts) or old_parts <= new_parts or new_parts <= old_parts
    old_fields, new_fields = dict(old_parts), dict(new_parts)
    return old_fields.keys() == new_fields.keys() and all(compatible(old_fields[k], new_fields[k]) for k in old_fields)


def _same_members(old: frozenset, new: frozenset) -> bool:
    if len(old) == len(new) == 1:
        return compatible(next(iter(old)), next(iter(new)))
    return old == new


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
    last: dict[str, tuple[Shape, str]] = {}  # key -> (shape, run)
    changes = []
    for write in writes:
        if write["key"].startswith(FRAMEWORK_PREFIX):
            continue
        shape = structure_of(write["value"])
        previous = last.get(write["key"])
        if previous is not None and not compatible(previous[0], shape):
            changes.append(ShapeChange(write["key"], render(previous[0]), previous[1], render(shape), write["run"],
                                       write["step"]))
        if previous is None or not _less_known(shape, previous[0]):
            last[write["key"]] = (shape, write["run"])
    return changes


def _less_known(shape: Shape, before: Shape) -> bool:
    """A compatible shape that says less than ``before`` (an empty list where items were seen)."""
    return compatible(before, shape) and len(render(shape)) < len(render(before))
