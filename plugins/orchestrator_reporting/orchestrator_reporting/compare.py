"""Two runs' metrics side by side (``orch report --compare A B``): what changed, and by how much.

Each flattened ``metrics.*`` key of either run is one row: its value in A and in B,
and the change: ``B − A`` and the relative change for numbers, ``added`` or
``removed`` for a key only one run has, ``changed``/``same`` for other values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from .metrics import flatten_metrics, is_number
from .numbers import format_number

_MISSING = object()


@dataclass
class MetricChange:
    """One metric key in runs A and B (``None`` where a run lacks it, see ``change``)."""

    key: str
    a: Any
    b: Any
    change: str  # "added", "removed", "same", "changed", or "up"/"down" for numbers
    delta: float | None = None
    percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_metrics(context_a: Mapping[str, Any], context_b: Mapping[str, Any]) -> list[MetricChange]:
    """The flattened metrics of two contexts, key by key, sorted by key."""
    before, after = flatten_metrics(context_a), flatten_metrics(context_b)
    rows = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a is _MISSING:
            rows.append(MetricChange(key, None, b, "added"))
        elif b is _MISSING:
            rows.append(MetricChange(key, a, None, "removed"))
        elif is_number(a) and is_number(b):
            delta = b - a
            percent = _percent(delta, a)
            change = "same" if delta == 0 else ("up" if delta > 0 else "down")
            rows.append(MetricChange(key, a, b, change, delta, percent))
        else:  # as JSON: true is not 1 (Python's == says it is)
            same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
            rows.append(MetricChange(key, a, b, "same" if same else "changed"))
    return rows


def _percent(delta: float, before: float) -> float | None:
    """The change relative to ``before``, in percent; None from zero, or beyond the float range."""
    if not before:
        return None
    try:
        return round(delta / abs(before) * 100, 3)
    except (OverflowError, ValueError):  # integers too far apart for a float ratio; NaN or inf
        return None


def change_text(row: MetricChange) -> str:
    """The change for a person: ``+1.5 (+60 %)``, ``added``, ``same``..."""
    if row.delta is None or row.change == "same":
        return row.change
    text = _signed(format_number(row.delta))
    if row.percent is not None:
        text += f" ({_signed(format_number(row.percent, 4))} %)"
    return text


def _signed(shown: str) -> str:
    return shown if shown.startswith("-") else "+" + shown


def value_text(value: Any) -> str:
    """A value for a person: numbers as the reports show them (:mod:`.numbers`), other values as JSON."""
    if is_number(value):
        return format_number(value)
    return value if isinstance(value, str) else json.dumps(value, default=str)
