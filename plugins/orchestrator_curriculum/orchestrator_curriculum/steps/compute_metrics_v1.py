"""compute_metrics_v1: the first version of the metrics summary.

Params: none.
Reads: ``numbers.raw_v1`` (the packaged sample when it is missing).
Writes:
  ``metrics.summary_v1`` = ``{"count", "mean", "min", "max", "std"}`` of the primary column.
  ``metrics.columns_v1`` = ``{column: {"count", "mean", "min", "max", "std"}}`` for every
  column read.
Both summarise the raw numbers, not the normalized ones, so they stay in the data's units.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io, stats
from orchestrator_curriculum.base import CurriculumScriptlet


class ComputeMetricsV1(CurriculumScriptlet):
    """Summarise the numbers, overall and per column; the shape later versions must keep."""

    name = "compute_metrics_v1"
    outputs = ("metrics.summary_v1", "metrics.columns_v1")
    inputs = ("numbers.raw_v1",)

    def run(self, ctx, params):
        raw = numbers_io.raw_numbers(ctx, self.name)
        if not raw["values"]:
            raise ScriptletError("No numbers to summarise", details={"count": 0})
        data = raw.get("data") or {raw.get("column") or "value": raw["values"]}
        ctx.set("metrics.summary_v1", stats.summary_v1(raw["values"]))
        ctx.set("metrics.columns_v1", {name: stats.summary_v1(column) for name, column in data.items() if column})


if __name__ == "__main__":
    ComputeMetricsV1.main()
