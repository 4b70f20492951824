"""validate_numbers: refuse to go on with too few numbers (the guide's structured error, §9).

Params: ``min_count`` (integer ≥ 0, default 5).
Reads: ``numbers.raw_v1`` (the packaged sample when it is missing).
Writes: ``numbers.validated_v1`` = ``{"count", "min_count", "column", "source"}``.
Fails: ``Too few numbers (min=<min_count>)`` with details ``{"count": N}``.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io
from orchestrator_curriculum.base import CurriculumScriptlet


class ValidateNumbers(CurriculumScriptlet):
    """Check there are enough numbers, so later steps never summarise an empty or tiny series."""

    name = "validate_numbers"
    outputs = ("numbers.validated_v1",)
    inputs = ("numbers.raw_v1",)
    params_schema = {
        "type": "object",
        "properties": {
            "min_count": {"type": "integer", "minimum": 0, "default": 5,
                          "description": "fewest numbers accepted"},
        },
        "additionalProperties": False,
    }

    def run(self, ctx, params):
        raw = numbers_io.raw_numbers(ctx, self.name)
        min_count = self.param(params, "min_count")
        count = len(raw["values"])
        if count < min_count:
            raise ScriptletError(f"Too few numbers (min={min_count})", details={"count": count})
        ctx.set("numbers.validated_v1", {"count": count, "min_count": min_count,
                                         "column": raw.get("column"), "source": raw.get("source")})


if __name__ == "__main__":
    ValidateNumbers.main()
