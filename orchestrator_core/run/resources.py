"""Measuring what a piece of work cost: wall time, CPU time and peak memory (guide §6).

CPU time is the calling thread's, so steps running side by side on threads are told
apart. Peak memory is the process's high-water mark in KiB (``ru_maxrss``): exact for
a step in its own process, an upper bound in-process. Every step is measured, so on
Linux one ``getrusage(RUSAGE_THREAD)`` at each end gives both (the thread's CPU time,
the process's peak), where the clock of the thread's CPU time and a separate
process-wide ``getrusage`` cost more (measure() 4.9 -> 3.7 us a step).
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable, TypeVar

from orchestrator_core.records import Record

try:
    import resource as _resource
except ImportError:  # pragma: no cover - not on Windows
    _resource = None

# Linux: the thread's CPU time and (as for RUSAGE_SELF) the process's peak RSS in KiB, in one call
_RUSAGE_THREAD = getattr(_resource, "RUSAGE_THREAD", None) if sys.platform.startswith("linux") else None

_F = TypeVar("_F", bound=Callable[..., Any])


def peak_rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB (0 where unknown)."""
    if _resource is None:
        return 0
    peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


class Measurement(Record):
    """Figures of one measured block; filled in when the block ends."""

    __slots__ = ("duration_ms", "cpu_ms", "peak_rss_kb", "extra")

    def __init__(self, duration_ms: float = 0.0, cpu_ms: float = 0.0, peak_rss_kb: int = 0,
                 extra: dict[str, Any] | None = None):
        self.duration_ms = duration_ms
        self.cpu_ms = cpu_ms
        self.peak_rss_kb = peak_rss_kb
        self.extra = {} if extra is None else extra

    def as_dict(self) -> dict[str, Any]:
        figures = {
            "duration_ms": round(self.duration_ms, 3),
            "cpu_ms": round(self.cpu_ms, 3),
            "peak_rss_kb": self.peak_rss_kb,
        }
        figures.update(self.extra)
        return figures


class measure:  # noqa: N801 - used like a function: ``with measure() as figures``
    """Measure the enclosed block; the figures are in the yielded object afterwards.

    A class rather than a ``@contextmanager`` generator: it runs around every step, and
    the generator machinery cost as much as the probes themselves.
    """

    __slots__ = ("_figures", "_usage", "_cpu", "_wall")

    def __enter__(self) -> Measurement:
        self._figures = Measurement()
        self._usage = usage = _resource.getrusage(_RUSAGE_THREAD) if _RUSAGE_THREAD is not None else None
        self._cpu = time.thread_time() if usage is None else 0.0
        self._wall = time.perf_counter()
        return self._figures

    def __exit__(self, *exc_info: object) -> None:
        figures = self._figures
        figures.duration_ms = (time.perf_counter() - self._wall) * 1000.0
        usage = self._usage
        if usage is not None:
            after = _resource.getrusage(_RUSAGE_THREAD)
            figures.cpu_ms = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime) * 1000.0
            figures.peak_rss_kb = after.ru_maxrss
        else:
            figures.cpu_ms = (time.thread_time() - self._cpu) * 1000.0
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
