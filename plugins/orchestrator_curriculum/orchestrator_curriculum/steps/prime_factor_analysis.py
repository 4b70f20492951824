"""prime_factor_analysis: factorise the integer parts of the numbers (CPU-bound, process pool).

Params:
  ``extra_numbers`` (integer ≥ 0, default 0): also factorise this many consecutive
  integers from ``extra_start``, to scale the CPU work for benchmarks.
  ``extra_start`` (integer ≥ 2, default 1000000000).
Reads: ``numbers.raw_v1`` (the packaged sample when it is missing).
Writes: ``numbers.prime_factors_v1`` = ``{"column", "count", "factors", "primes",
"distinct_primes", "largest_prime_factor", "extra"}``: ``factors`` maps each distinct
integer part |int(v)| (as a string) to its prime factors; ``primes`` lists those that are
prime; ``distinct_primes`` is every prime factor seen; ``extra`` summarises the extra work
(``{"start", "count", "done", "primes", "factors"}``).
Fails: an integer part above 10**12 (trial division would take too long).
``requires_process = True``: with the process plugin installed it runs in the process pool.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io, primes
from orchestrator_curriculum.base import CurriculumScriptlet


class PrimeFactorAnalysis(CurriculumScriptlet):
    """Real CPU-bound work, so the curriculum can show what a process pool buys over threads."""

    name = "prime_factor_analysis"
    outputs = ("numbers.prime_factors_v1",)
    inputs = ("numbers.raw_v1",)
    requires_process = True
    params_schema = {
        "type": "object",
        "properties": {
            "extra_numbers": {"type": "integer", "minimum": 0, "default": 0,
                              "description": "extra integers to factorise, to scale the work"},
            "extra_start": {"type": "integer", "minimum": 2, "default": 1_000_000_000,
                            "description": "first of the extra integers"},
        },
        "additionalProperties": False,
    }

    def run(self, ctx, params):
        raw = numbers_io.raw_numbers(ctx, self.name)
        integers = sorted({abs(int(v)) for v in raw["values"]})
        too_big = [n for n in integers if n > primes.LIMIT]
        if too_big:
            raise ScriptletError("Number too large to factorise by trial division",
                                 details={"value": too_big[0], "limit": primes.LIMIT})
        factors = {str(n): primes.factorize(n) for n in integers}
        distinct = sorted({p for found in factors.values() for p in found})
        start = self.param(params, "extra_start")
        if start + self.param(params, "extra_numbers") > primes.LIMIT:
            raise ScriptletError("Extra numbers go beyond the factorisation limit",
                                 details={"extra_start": start, "limit": primes.LIMIT})
        extra = primes.factorize_range(start, self.param(params, "extra_numbers"), lambda: ctx.cancelled)
        ctx.set("numbers.prime_factors_v1", {
            "column": raw.get("column"),
            "count": len(raw["values"]),
            "factors": factors,
            "primes": [n for n in integers if len(factors[str(n)]) == 1],
            "distinct_primes": distinct,
            "largest_prime_factor": distinct[-1] if distinct else None,
            "extra": extra,
        })


if __name__ == "__main__":
    PrimeFactorAnalysis.main()
