"""The metrics of a run: the context keys under ``metrics.``, flattened to one value per row.

A workbook row or a comparison line holds one number, so nested values are
flattened: ``metrics.summary_v2 = {"mean": 5}`` becomes ``metrics.summary_v2.mean = 5``
and ``metrics.columns_v1.value.mean`` reaches two levels down. Lists stay whole
(one cell of JSON text in a workbook): their items are rarely compared one by one.
"""

from __future__ import annotations

from typing import Any, Mapping

METRICS_PREFIX = "metrics."


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` under ``prefix`` → ``{"prefix.a.b": 1}``; other values as they are."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def flatten_metrics(context: Mapping[str, Any], prefix: str = METRICS_PREFIX) -> dict[str, Any]:
    """Every key of ``context`` starting with ``prefix``, flattened and sorted by name."""
    flat: dict[str, Any] = {}
    for key in sorted(k for k in context if k.startswith(prefix)):
        flat.update(flatten(context[key], key))
    return flat


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
