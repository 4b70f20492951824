"""compute_numbers: the reference example, summary statistics of a list of numbers.

Params: ``numbers`` (list of numbers, optional; default: the ``value`` column of the
packaged sample ``numbers.csv``).
Writes: ``numbers.stats_v1`` = ``{"count", "sum", "min", "max", "mean", "std"}``
(``std`` is the sample standard deviation, 0.0 for a single number).
"""

from __future__ import annotations

from orchestrator_curriculum import numbers_io, stats
from orchestrator_curriculum.base import CurriculumScriptlet


class ComputeNumbers(CurriculumScriptlet):
    """Summarise ``numbers`` into ``numbers.stats_v1``: the smallest complete scriptlet."""

    name = "compute_numbers"
    outputs = ("numbers.stats_v1",)
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            "numbers": {"type": "array", "items": {"type": "number"}, "minItems": 1,
                        "description": "the numbers (default: the packaged sample's value column)"},
        },
        "additionalProperties": False,
    }

    def run(self, ctx, params):
        numbers = params.get("numbers")
        if numbers is None:
            numbers = numbers_io.sample_raw()["values"]
        ctx.set("numbers.stats_v1", stats.number_stats([float(n) for n in numbers]))


if __name__ == "__main__":
    ComputeNumbers.main()
