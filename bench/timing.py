"""The one way the benchmarks time things: the median wall time over repeats.

A figure that compares two things (orch and its baseline) times them by turns,
repeat by repeat (:func:`median_times`): timed one after the other, the drifting
load of a shared machine lands on whichever runs second and moves the ratio.
"""

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


def median_times(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The median wall time of each of ``functions``, taking turns one call each per repeat."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}
