"""The statistics every curriculum scriptlet agrees on, in one place.

Several keys describe the same numbers from different steps (``numbers.stats_v1``
from ``compute_numbers`` and from ``normalize_numbers``; ``metrics.summary_v1``
from both metrics versions), so the formulas live here once and every step gets
the same values for the same input. Standard deviations are sample standard
deviations (n − 1), as :func:`statistics.stdev`, and 0.0 for fewer than two values.

``statistics`` is imported inside the functions: this module is imported at every
``orch`` start (the plugin registers its scriptlets), and ``statistics`` costs ~3 ms.
"""

from __future__ import annotations

from typing import Sequence

Numbers = Sequence[float]


def mean(values: Numbers) -> float:
    import statistics

    return float(statistics.fmean(values))


def median(values: Numbers) -> float:
    import statistics

    return float(statistics.median(values))


def std(values: Numbers) -> float:
    """Sample standard deviation; 0.0 when there are fewer than two values."""
    import statistics

    return float(statistics.stdev(values)) if len(values) > 1 else 0.0


def variance(values: Numbers) -> float:
    """Sample variance; 0.0 when there are fewer than two values."""
    import statistics

    return float(statistics.variance(values)) if len(values) > 1 else 0.0


def quartiles(values: Numbers) -> tuple[float, float, float]:
    """Q1, median and Q3 by the inclusive method (a single value is its own quartiles)."""
    import statistics

    if len(values) < 2:
        only = float(values[0])
        return only, only, only
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return float(q1), float(q2), float(q3)


def number_stats(values: Numbers) -> dict[str, float | int]:
    """The shape of ``numbers.stats_v1``: count, sum, min, max, mean, std."""
    return {
        "count": len(values),
        "sum": float(sum(values)),
        "min": float(min(values)),
        "max": float(max(values)),
        "mean": mean(values),
        "std": std(values),
    }


def summary_v1(values: Numbers) -> dict[str, float | int]:
    """The shape of ``metrics.summary_v1`` (and of each column in ``metrics.columns_v1``)."""
    return {
        "count": len(values),
        "mean": mean(values),
        "min": float(min(values)),
        "max": float(max(values)),
        "std": std(values),
    }


def summary_v2(values: Numbers) -> dict[str, float | int]:
    """``metrics.summary_v2``: every field of v1, same values, plus median, variance, range, q1, q3."""
    q1, _, q3 = quartiles(values)
    summary: dict[str, float | int] = dict(summary_v1(values))
    summary.update({
        "median": median(values),
        "variance": variance(values),
        "range": float(max(values)) - float(min(values)),
        "q1": q1,
        "q3": q3,
    })
    return summary


def min_max_scale(values: Numbers) -> list[float]:
    """Each value mapped to [0, 1] by (v − min) / (max − min); all 0.0 when every value is equal."""
    low, high = min(values), max(values)
    if high == low:
        return [0.0 for _ in values]
    span = high - low
    return [(v - low) / span for v in values]
