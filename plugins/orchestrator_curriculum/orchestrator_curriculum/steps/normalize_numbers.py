"""normalize_numbers: min-max scale the numbers, and keep the full result as a file.

Params: none.
Reads: ``numbers.raw_v1`` (the packaged sample when it is missing).
Writes:
  ``numbers.normalized_v1`` (list of floats): the primary column scaled to [0, 1] by
  (v − min) / (max − min), in row order (all 0.0 when every value is equal).
  ``numbers.stats_v1`` = ``{"count", "sum", "min", "max", "mean", "std"}`` of the primary
  column before scaling, the figures the scaling used (same shape as ``compute_numbers``).
Artifact: ``Data/normalized.json`` = ``{"method": "min_max", "source", "column",
"columns": {name: {"min", "max", "values"}}}`` for every column read; the JSON line
carries its path as ``artifact``. ``cleanup_intermediate`` removes it.
"""

from __future__ import annotations

import json

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io, stats
from orchestrator_curriculum.base import CurriculumScriptlet

ARTIFACT = "normalized.json"


class NormalizeNumbers(CurriculumScriptlet):
    """Put the numbers on a common [0, 1] scale so later metrics compare columns and runs."""

    name = "normalize_numbers"
    outputs = ("numbers.normalized_v1", "numbers.stats_v1")
    inputs = ("numbers.raw_v1",)

    def run(self, ctx, params):
        raw = numbers_io.raw_numbers(ctx, self.name)
        values = raw["values"]
        if not values:
            raise ScriptletError("No numbers to normalize", details={"count": 0})
        data = raw.get("data") or {raw.get("column") or "value": values}
        document = {
            "method": "min_max",
            "source": raw.get("source"),
            "column": raw.get("column"),
            "columns": {
                name: {"min": min(column), "max": max(column), "values": stats.min_max_scale(column)}
                for name, column in data.items() if column
            },
        }
        path = ctx.artifact_path(ARTIFACT)
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        ctx.set("numbers.normalized_v1", stats.min_max_scale(values))
        ctx.set("numbers.stats_v1", stats.number_stats(values))
        return {"artifact": ctx.relative(path)}


if __name__ == "__main__":
    NormalizeNumbers.main()
