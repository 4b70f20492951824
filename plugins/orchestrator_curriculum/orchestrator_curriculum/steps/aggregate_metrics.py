"""aggregate_metrics: the fan-in, one record of the metrics computed side by side.

Params: none.
Reads: ``metrics.mean_v1``, ``metrics.median_v1``, ``metrics.std_v1`` (all required).
Writes: ``metrics.aggregate_v1`` = ``{"mean", "median", "std"}``, each equal to its key.
Fails: ``Missing metrics: ...`` with details ``{"missing": [keys]}`` when one is not in
the context; it never computes a metric itself, so a broken fan-in is seen, not hidden.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum.base import CurriculumScriptlet

PARTS = {"mean": "metrics.mean_v1", "median": "metrics.median_v1", "std": "metrics.std_v1"}


class AggregateMetrics(CurriculumScriptlet):
    """Join the independent metrics into one key that reports and dashboards read."""

    name = "aggregate_metrics"
    outputs = ("metrics.aggregate_v1",)
    inputs = tuple(PARTS.values())

    def validate(self, ctx, params):
        super().validate(ctx, params)
        missing = [key for key in PARTS.values() if not _is_number(ctx.get(key))]
        if missing:
            raise ScriptletError(f"Missing metrics: {', '.join(missing)}",
                                 details={"missing": missing, "hint": "run compute_mean, compute_median "
                                                                      "and compute_std first"})

    def run(self, ctx, params):
        ctx.set("metrics.aggregate_v1", {field: ctx.get(key) for field, key in PARTS.items()})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


if __name__ == "__main__":
    AggregateMetrics.main()
