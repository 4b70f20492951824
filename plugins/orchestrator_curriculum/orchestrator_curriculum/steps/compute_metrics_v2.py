"""compute_metrics_v2: the metrics summary, version 2, next to version 1 (guide §11).

Additive versioning: v2 does not change ``metrics.summary_v1``. It writes v1 exactly
as ``compute_metrics_v1`` does (same fields, same values), so every consumer of v1
keeps working, and puts the richer shape under a new key.

Params: none.
Reads: ``numbers.raw_v1`` (the packaged sample when it is missing).
Writes:
  ``metrics.summary_v1`` = ``{"count", "mean", "min", "max", "std"}`` (unchanged shape).
  ``metrics.summary_v2`` = every field of v1 with the same values, plus ``median``,
  ``variance`` (sample), ``range`` (max − min), ``q1`` and ``q3`` (inclusive quartiles).
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io, stats
from orchestrator_curriculum.base import CurriculumScriptlet


class ComputeMetricsV2(CurriculumScriptlet):
    """Extend the summary with spread and position figures without breaking v1 readers."""

    name = "compute_metrics_v2"
    outputs = ("metrics.summary_v1", "metrics.summary_v2")
    inputs = ("numbers.raw_v1",)

    def run(self, ctx, params):
        values = numbers_io.raw_numbers(ctx, self.name)["values"]
        if not values:
            raise ScriptletError("No numbers to summarise", details={"count": 0})
        ctx.set("metrics.summary_v1", stats.summary_v1(values))
        ctx.set("metrics.summary_v2", stats.summary_v2(values))


if __name__ == "__main__":
    ComputeMetricsV2.main()
