"""Measuring what a piece of work cost: wall time, CPU time and peak memory (guide §6).

CPU time is the calling thread's (``time.thread_time``), so steps running side by
side on threads are told apart. Peak memory is the process's high-water mark in
KiB (``ru_maxrss``): exact for a step in its own process, an upper bound in-process.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

try:
    import resource as _resource
except ImportError:  # pragma: no cover - not on Windows
    _resource = None

_F = TypeVar("_F", bound=Callable[..., Any])


def peak_rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB (0 where unknown)."""
    if _resource is None:
        return 0
    peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


@dataclass
class Measurement:
    """Figures of one measured block; filled in when the block ends."""

    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    peak_rss_kb: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        figures = {
            "duration_ms": round(self.duration_ms, 3),
            "cpu_ms": round(self.cpu_ms, 3),
            "peak_rss_kb": self.peak_rss_kb,
        }
        figures.update(self.extra)
        return figures


@contextmanager
def measure() -> Iterator[Measurement]:
    """Measure the enclosed block; the figures are in the yielded object afterwards."""
    figures = Measurement()
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield figures
    finally:
        figures.duration_ms = (time.perf_counter() - wall) * 1000.0
        figures.cpu_ms = (time.thread_time() - cpu) * 1000.0
        figures.peak_rss_kb = peak_rss_kb()


def track_resources(function: _F) -> _F:
    """Decorator: log the duration, CPU time and peak memory of each call at DEBUG level.

    The figures of the last call are kept on the function as ``last_resources``
    (and on the instance, for methods) so a scriptlet can put them in its outputs.
    """
    from orchestrator_core.log import get_logger

    logger = get_logger(function.__module__)

    @functools.wraps(function)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        figures = Measurement()
        try:
            with measure() as figures:
                return function(*args, **kwargs)
        finally:
            tracked.last_resources = figures.as_dict()  # type: ignore[attr-defined]
            if args and hasattr(args[0], "__dict__"):
                try:
                    args[0].last_resources = tracked.last_resources  # type: ignore[attr-defined]
                except AttributeError:
                    pass
            logger.debug(
                "%s: %.1f ms wall, %.1f ms CPU, peak RSS %d KiB",
                function.__qualname__, figures.duration_ms, figures.cpu_ms, figures.peak_rss_kb,
            )

    tracked.last_resources = None  # type: ignore[attr-defined]
    return tracked  # type: ignore[return-value]
