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
            percent = round(delta / abs(a) * 100, 3) if a else None
            change = "same" if delta == 0 else ("up" if delta > 0 else "down")
            rows.append(MetricChange(key, a, b, change, delta, percent))
        else:
            rows.append(MetricChange(key, a, b, "same" if a == b else "changed"))
    return rows


def change_text(row: MetricChange) -> str:
    """The change for a person: ``+1.5 (+60 %)``, ``added``, ``same``..."""
    if row.delta is None or row.change == "same":
        return row.change
    text = f"{row.delta:+.6g}"
    if row.percent is not None:
        text += f" ({row.percent:+.4g} %)"
    return text


def value_text(value: Any) -> str:
    """A value for a person: numbers to six significant digits, other values as JSON."""
    if is_number(value):
        return str(value) if isinstance(value, int) else f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
