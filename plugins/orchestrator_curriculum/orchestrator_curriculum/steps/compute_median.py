"""compute_median: the median of the normalized numbers, one branch of the fan-in.

Params: none.
Reads: ``numbers.normalized_v1`` (when it is missing, the raw numbers scaled the same
way, so the value always describes the normalized series).
Writes: ``metrics.median_v1`` (float).
Parallelizable (:class:`~orchestrator_curriculum.metric.NormalizedMetric`): it runs beside the other metrics.
"""

from __future__ import annotations

from orchestrator_curriculum import stats
from orchestrator_curriculum.metric import NormalizedMetric


class ComputeMedian(NormalizedMetric):
    """One independent metric, so the recipe can compute it beside the others and fan in."""

    name = "compute_median"
    outputs = ("metrics.median_v1",)
    statistic = staticmethod(stats.median)


if __name__ == "__main__":
    ComputeMedian.main()
