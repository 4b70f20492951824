"""compute_mean: the arithmetic mean of the normalized numbers, one branch of the fan-in.

Params: none.
Reads: ``numbers.normalized_v1`` (when it is missing, the raw numbers scaled the same
way, so the value always describes the normalized series).
Writes: ``metrics.mean_v1`` (float).
Parallelizable (:class:`~orchestrator_curriculum.metric.NormalizedMetric`): it runs beside the other metrics.
"""

from __future__ import annotations

from orchestrator_curriculum import stats
from orchestrator_curriculum.metric import NormalizedMetric


class ComputeMean(NormalizedMetric):
    """One independent metric, so the recipe can compute it beside the others and fan in."""

    name = "compute_mean"
    outputs = ("metrics.mean_v1",)
    statistic = staticmethod(stats.mean)


if __name__ == "__main__":
    ComputeMean.main()
