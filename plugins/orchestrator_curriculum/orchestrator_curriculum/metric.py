"""The shape shared by the fan-in's independent metrics (compute_mean, compute_median, compute_std)."""

from __future__ import annotations

from typing import Callable, ClassVar, Sequence

from orchestrator_curriculum import numbers_io
from orchestrator_curriculum.base import CurriculumScriptlet


class NormalizedMetric(CurriculumScriptlet):
    """One statistic of the normalized numbers, written to the one key in ``outputs``.

    It only reads the context, so it is parallelizable: the recipe computes the
    metrics side by side and fans them in.
    """

    inputs = ("numbers.normalized_v1", "numbers.raw_v1")
    parallelizable = True
    statistic: ClassVar[Callable[[Sequence[float]], float]]

    def run(self, ctx, params):
        (key,) = self.outputs
        ctx.set(key, self.statistic(numbers_io.normalized_numbers(ctx, self.name)))
