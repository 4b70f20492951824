"""The one way the benchmarks time things: the median wall time over repeats."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(function: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
