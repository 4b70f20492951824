"""compute_std: the sample standard deviation of the normalized numbers, one branch of the fan-in.

Params: none.
Reads: ``numbers.normalized_v1`` (when it is missing, the raw numbers scaled the same
way, so the value always describes the normalized series).
Writes: ``metrics.std_v1`` (float; 0.0 for a single number).
Parallelizable (:class:`~orchestrator_curriculum.metric.NormalizedMetric`): it runs beside the other metrics.
"""

from __future__ import annotations

from orchestrator_curriculum import stats
from orchestrator_curriculum.metric import NormalizedMetric


class ComputeStd(NormalizedMetric):
    """One independent metric, so the recipe can compute it beside the others and fan in."""

    name = "compute_std"
    outputs = ("metrics.std_v1",)
    statistic = staticmethod(stats.std)


if __name__ == "__main__":
    ComputeStd.main()
