"""compute_median: the median of the normalized numbers, one branch of the fan-in.

Params: none.
Reads: ``numbers.normalized_v1`` (when it is missing, the raw numbers scaled the same
way, so the value always describes the normalized series).
Writes: ``metrics.median_v1`` (float).
Parallelizable: it only reads the context, so it runs beside the other metrics.
"""

from __future__ import annotations

from orchestrator_curriculum import numbers_io, stats
from orchestrator_curriculum.base import CurriculumScriptlet


class ComputeMedian(CurriculumScriptlet):
    """One independent metric, so the recipe can compute it beside the others and fan in."""

    name = "compute_median"
    outputs = ("metrics.median_v1",)
    inputs = ("numbers.normalized_v1", "numbers.raw_v1")
    parallelizable = True

    def run(self, ctx, params):
        ctx.set("metrics.median_v1", stats.median(numbers_io.normalized_numbers(ctx, self.name)))


if __name__ == "__main__":
    ComputeMedian.main()
